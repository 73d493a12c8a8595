"""Nothing lost under load and bad input, run as a person's machine would: real CLI processes
writing one SQLite file at once, and inputs that must be refused in one line, leaving nothing."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.helpers.cli import assert_one_line_error, tuiapp
from tuiapp.store import open_db

WRITERS, WRITES = 4, 10
MODEL = "gemma-3-270m-q4_k_m.gguf"  # the embedded model, as home_with_model places it


LONG_REPLY = ["--max-tokens", "400", "--temperature", "1.0", "--top-k", "0", "--top-p", "1.0"]
LONG_REPLY += ["--min-p", "0.0", "--seed", "0"]  # with these the model rambles to the limit


def _streaming_chat() -> subprocess.Popen[bytes]:
    """``tuiapp chat`` with a long reply, returned once the reply is streaming."""
    chat = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tuiapp",
            "chat",
            "--threads",
            "2",
            *LONG_REPLY,
            "Tell me a long story.",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=os.environ.copy(),
    )
    assert chat.stdout is not None
    chat.stdout.read(8)
    return chat


def _writer(script: str, tag: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        ["bash", "-c", script, "writer", tag, sys.executable],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=os.environ.copy(),
    )


def test_concurrent_cli_writers_lose_no_row(tuiapp_home: Path) -> None:
    assert tuiapp("examples", "list").returncode == 0  # the library is seeded once, first
    before = open_db().table("examples").count
    script = (
        f'for i in $(seq 1 {WRITES}); do "$2" -m tuiapp examples add sentiment -i "race $1 $i" '
        "-o positive --label positive || echo FAILED $1 $i >&2; done"
    )
    writers = [_writer(script, tag) for tag in "ABCD"[:WRITERS]]
    errors = [w.communicate(timeout=600)[1] for w in writers]
    assert not [e for e in errors if "FAILED" in e or "Traceback" in e], errors
    rows = (
        open_db()
        .execute(
            "select count(*) from examples where output = 'positive' and inputs like '%race %'"
        )
        .fetchone()[0]
    )
    assert rows == WRITERS * WRITES
    assert open_db().table("examples").count == before + WRITERS * WRITES
    assert open_db().execute("PRAGMA integrity_check").fetchone()[0] == "ok"


@pytest.mark.slow
def test_concurrent_cli_chats_store_every_turn(home_with_model: Path) -> None:
    script = (
        'for i in 1 2 3; do "$2" -m tuiapp chat --threads 1 --max-tokens 2 "race $1 $i" '
        "|| echo FAILED $1 $i >&2; done"
    )
    chats = [_writer(script, tag) for tag in "ABC"]
    errors = [c.communicate(timeout=600)[1] for c in chats]
    assert not [e for e in errors if "FAILED" in e or "Traceback" in e], errors
    db = open_db()
    roles = db.execute(
        "select c.id, group_concat(m.role, ',') from conversations c "
        "join messages m on m.conversation_id = c.id group by c.id order by c.id"
    ).fetchall()
    assert len(roles) == 9 and {r[1] for r in roles} == {"user,assistant"}, roles


@pytest.mark.slow
def test_concurrent_replies_to_one_conversation_take_turns(home_with_model: Path) -> None:
    first = tuiapp("chat", "--threads", "1", "--max-tokens", "2", "start")
    assert first.returncode == 0, first.stderr
    script = (
        'for i in 1 2; do "$2" -m tuiapp chat -c 1 --threads 1 --max-tokens 2 "turn $1 $i" '
        "|| echo FAILED $1 $i >&2; done"
    )
    chats = [_writer(script, tag) for tag in "ABC"]
    errors = [c.communicate(timeout=600)[1] for c in chats]
    assert not [e for e in errors if "FAILED" in e or "Traceback" in e], errors
    roles = [r[0] for r in open_db().execute("select role from messages order by id")]
    assert roles == ["user", "assistant"] * 7, roles  # never two user turns in a row


def test_nan_and_infinite_options_are_refused_before_a_run(tuiapp_home: Path) -> None:
    for value in ("nan", "inf", "-inf"):
        result = tuiapp(
            "train", "--method", "lora", "--examples", "sentiment", "--opt", f"dropout={value}"
        )
        assert_one_line_error(result, "dropout", "finite")
    assert open_db().table("runs").count == 0


@pytest.mark.slow
def test_bad_chat_input_is_refused_and_stores_nothing(home_with_model: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "tuiapp", "chat"],
        input=b"bad \xff\xfe\n",
        capture_output=True,
        env=os.environ.copy(),
        timeout=120,
    )
    stderr = result.stderr.decode()
    assert result.returncode == 2 and "Traceback" not in stderr
    assert "not valid UTF-8 (byte 0xff at offset 4)" in stderr
    long = tuiapp("chat", "--ctx", "32", "word " * 200)
    assert long.returncode != 0 and "Traceback" not in long.stderr
    assert "the context holds 32" in long.stderr
    db = open_db()
    assert db.table("conversations").count == 0 and db.table("messages").count == 0


@pytest.mark.slow
def test_sigterm_mid_reply_keeps_the_partial_reply(home_with_model: Path) -> None:
    chat = _streaming_chat()
    chat.terminate()
    _, err = chat.communicate(timeout=60)
    assert chat.returncode == 143 and b"Traceback" not in err, err
    rows = open_db().execute("select role, stopped, content from messages order by id").fetchall()
    assert [r[0] for r in rows] == ["user", "assistant"]
    assert rows[1][1] == 1 and rows[1][2]


@pytest.mark.slow
def _train(*opts: str) -> subprocess.Popen[str]:
    """``tuiapp train --json`` of LoRA on the built-in sentiment set, with ``--opt`` ``opts``."""
    command = [sys.executable, "-m", "tuiapp", "train", "--method", "lora"]
    command += ["--examples", "sentiment", "--json"]
    for opt in opts:
        command += ["--opt", opt]
    return subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=os.environ.copy(),
    )


def _first_step(cli: subprocess.Popen[str]) -> dict[str, object]:
    assert cli.stdout is not None
    for line in cli.stdout:
        if '"event": "step"' in line:
            return dict(json.loads(line))
    raise AssertionError(f"no step event: {cli.stderr.read() if cli.stderr else ''}")


def test_training_outlives_a_killed_cli_and_is_followed(home_with_model: Path) -> None:
    from tuiapp.training.store import AdapterStore

    cli = _train("max_steps=6")
    run_id = _first_step(cli)["run_id"]
    cli.kill()  # kill -9 of the parent after the first step
    cli.wait(timeout=30)
    followed = tuiapp("runs", "follow", str(run_id), "--json", timeout=600)
    assert followed.returncode == 0, followed.stderr
    events = [json.loads(line) for line in followed.stdout.splitlines()]
    steps = [e["step"] for e in events if e["event"] == "step"]
    assert steps == sorted(steps) and steps[-1] == 6 and 1 in steps  # replayed, then followed
    assert events[-1]["event"] == "finished" and events[-1]["run_id"] == run_id
    run = AdapterStore(open_db()).get_run(int(str(run_id)))
    assert run.status == "done" and run.step == 6, run
    assert run.adapter and AdapterStore(open_db()).adapter_exists(run.adapter)
    again = tuiapp("runs", "follow", str(run_id))
    assert_one_line_error(again, "not running")
    assert f"runs show {run_id}" in again.stderr


def test_kill_9_of_training_while_saving_resumes_from_the_last_whole_checkpoint(
    home_with_model: Path,
) -> None:
    from tuiapp.training.store import AdapterStore

    cli = _train("max_steps=4", "save_every=1")
    run_id = int(str(_first_step(cli)["run_id"]))
    store = AdapterStore(open_db())
    pid = store.get_run(run_id).pid
    assert pid
    saving = Path(store.get_run(run_id).run_dir) / "checkpoints" / "checkpoint-2"
    deadline = time.monotonic() + 300
    while not saving.exists() and time.monotonic() < deadline:
        time.sleep(0.01)
    os.kill(pid, 9)  # the child, as it starts writing checkpoint 2
    cli.wait(timeout=60)
    run = store.get_run(run_id)  # reconciled: the process is gone
    assert run.status == "failed" and run.step in (1, 2), run
    assert f"step {run.step}" in (run.error or "")
    listed = tuiapp("runs", "list", "--json")
    assert [r["step"] for r in json.loads(listed.stdout) if r["id"] == run_id] == [run.step]
    resumed = tuiapp("runs", "resume", str(run_id), "--json", timeout=600)
    assert resumed.returncode == 0, resumed.stderr
    events = [json.loads(line) for line in resumed.stdout.splitlines()]
    assert [e["step"] for e in events if e["event"] == "step"][0] == run.step + 1
    assert events[-1]["event"] == "finished"
    assert store.get_run(run_id).status == "done" and store.get_run(run_id).step == 4
    assert open_db().execute("PRAGMA integrity_check").fetchone() == ("ok",)


def test_resume_skips_a_checkpoint_killed_while_saving(tmp_path: Path) -> None:
    from tuiapp.training.checkpoints import last_complete

    def checkpoint(step: int, state: bool = True, optimizer: bytes = b"weights") -> None:
        path = tmp_path / f"checkpoint-{step}"
        path.mkdir()
        (path / "optimizer.pt").write_bytes(optimizer)
        (path / "adapter_model.safetensors").write_bytes(b"x" * 16)
        if state:
            (path / "trainer_state.json").write_text(json.dumps({"global_step": step}))

    assert last_complete(tmp_path / "none") is None
    checkpoint(1)
    checkpoint(2, state=False, optimizer=b"")  # what kill -9 while saving leaves
    checkpoint(3, optimizer=b"")
    assert last_complete(tmp_path) == tmp_path / "checkpoint-1"
    checkpoint(10)
    assert last_complete(tmp_path) == tmp_path / "checkpoint-10"  # by number, not by name


def test_an_unusable_data_dir_is_one_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    env = os.environ | {"TUIAPP_HOME": str(blocker / "home")}
    for args in (["history", "list"], ["examples", "list"], []):  # [] starts the TUI
        result = subprocess.run(
            [sys.executable, "-m", "tuiapp", *args],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
        )
        assert result.returncode == 1, (args, result)
        said = " ".join((result.stderr + result.stdout).split())  # the TUI's exit wraps lines
        assert "Traceback" not in said
        assert f"Cannot write {blocker / 'home'}: not a directory" in said


def test_a_full_disk_is_one_clear_error_and_loses_nothing(tuiapp_home: Path) -> None:
    from tuiapp.chat.history import History, Message
    from tuiapp.errors import StoreError

    db = open_db()
    history = History(db)
    conv = history.new_conversation("kept")
    assert conv.id is not None
    history.add_message(conv.id, Message("user", "short"))
    pages = db.execute("PRAGMA page_count").fetchone()[0]
    db.execute(f"PRAGMA max_page_count = {pages}")  # SQLite's own "database or disk is full"
    with pytest.raises(StoreError, match="the disk is full"):
        history.add_message(conv.id, Message("assistant", "x" * 200_000))
    db.execute("PRAGMA max_page_count = 1073741823")
    assert [m.content for m in history.messages(conv.id)] == ["short"]
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


@pytest.mark.slow
def test_a_corrupt_adapter_file_is_refused_before_anything_is_stored(
    home_with_model: Path,
) -> None:
    from tests.helpers.adapter_records import register_adapter

    adapter = register_adapter(open_db(), home_with_model / "models" / MODEL, "broken")
    assert adapter.gguf is not None
    Path(adapter.gguf).write_text("junk\n")
    result = tuiapp("chat", "-a", "broken", "--threads", "2", "hi")
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert "broken" in result.stderr and "not a readable GGUF" in result.stderr
    db = open_db()
    assert db.table("conversations").count == 0 and db.table("messages").count == 0


def test_stored_control_bytes_cannot_drive_the_terminal(tuiapp_home: Path) -> None:
    from tuiapp.chat.history import History

    History(open_db()).new_conversation("evil \x1b[2J\x1b]0;pwned\x07 title")
    listed = tuiapp("history", "list")
    assert listed.returncode == 0 and "\x1b" not in listed.stdout and "\x07" not in listed.stdout
    assert "evil \\x1b[2J\\x1b]0;pwned\\x07 title" in listed.stdout


def test_a_dead_child_is_explained_by_its_error_not_a_warning_echo() -> None:
    from tuiapp.children import telling_line

    log = (
        'Traceback (most recent call last):\n  File "x.py", line 1\n'
        "RuntimeError: CUDA out of memory\n"
        "/site/transformers.py:9: FutureWarning: deprecated\n  warnings.warn(\n"
    )
    assert telling_line(log) == "RuntimeError: CUDA out of memory"
    assert telling_line("/a.py:1: UserWarning: w\n  warnings.warn(\nKilled\n") == "Killed"
    assert telling_line("") is None
    bar = "Converting GGUF tensors...: 100%|██████████| 236/236 [00:07<00:00, 31.70it/s]"
    assert telling_line(f"Killed\n{bar}\n") == "Killed" and telling_line(bar) is None


@pytest.mark.slow
def test_kill_9_mid_reply_keeps_what_was_written(home_with_model: Path) -> None:
    chat = _streaming_chat()
    time.sleep(2.5)  # past the first save of the partial reply
    chat.kill()
    chat.wait(timeout=30)
    rows = open_db().execute("select role, stopped, content from messages order by id").fetchall()
    assert [r[0] for r in rows] == ["user", "assistant"], rows
    assert rows[1][1] == 1 and len(rows[1][2]) >= 8
    later = tuiapp("chat", "-c", "1", "--threads", "2", "--max-tokens", "2", "again")
    assert later.returncode == 0, later.stderr  # the dead process's turn lock is gone


def _as_non_root(command: list[str]) -> list[str]:
    """``command`` run so that file permissions apply: root ignores them, so as root it runs
    in a user namespace where the files' owner is an ordinary user."""
    if os.geteuid() != 0:
        return command
    probe = subprocess.run(["unshare", "--user", "--map-user=1000", "true"], capture_output=True)
    if probe.returncode != 0:
        pytest.skip(f"root without user namespaces cannot make a read-only dir: {probe.stderr!r}")
    return ["unshare", "--user", "--map-user=1000", "--map-group=1000", *command]


def test_a_read_only_data_dir_still_reads_and_refuses_writes_in_one_line(
    tuiapp_home: Path,
) -> None:
    added = tuiapp("examples", "add", "sentiment", "-i", "kept before", "-o", "positive")
    assert added.returncode == 0, added.stderr
    db = tuiapp_home / "tuiapp.db"
    before = db.read_bytes()
    for path in [tuiapp_home, *tuiapp_home.rglob("*")]:
        path.chmod(path.stat().st_mode & ~0o222)
    try:

        def run(*args: str) -> subprocess.CompletedProcess[str]:
            command = _as_non_root([sys.executable, "-m", "tuiapp", *args])
            return subprocess.run(command, capture_output=True, text=True, timeout=120)

        listed = run("examples", "show", "sentiment", "--json")
        assert listed.returncode == 0, listed.stderr
        assert "kept before" in listed.stdout
        for reading in (["history", "list"], ["prompts", "list"], ["runs", "list"]):
            assert run(*reading).returncode == 0, reading
        refused = run("examples", "add", "sentiment", "-i", "lost?", "-o", "negative")
        assert refused.returncode == 1 and "Traceback" not in refused.stderr
        assert refused.stderr.strip().splitlines() == [refused.stderr.strip()]
        assert f"Cannot write the tuiapp database {db}: it is read-only" in refused.stderr
    finally:
        for path in [tuiapp_home, *tuiapp_home.rglob("*")]:
            path.chmod(path.stat().st_mode | 0o200)
    assert db.read_bytes() == before
    assert "lost?" not in tuiapp("examples", "show", "sentiment", "--json").stdout
