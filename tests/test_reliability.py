"""Nothing lost under load and bad input, run as a person's machine would: real CLI processes
writing one SQLite file at once, and inputs that must be refused in one line, leaving nothing."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers.cli import assert_one_line_error, tuiapp
from tuiapp.store import open_db

WRITERS, WRITES = 4, 10


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
