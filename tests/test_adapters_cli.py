"""`tuiapp adapters ...`, `chat --adapter` and `eval --mode adapter` as a script uses them:
real subprocesses, the real model, a real (random) LoRA converted by the real converter."""

import json
from pathlib import Path

import pytest

from tests.helpers.adapter_records import register_adapter
from tests.helpers.cli import assert_one_line_error, tuiapp
from tuiapp.chat.history import History
from tuiapp.library.seed import open_library
from tuiapp.store import open_db

pytestmark = pytest.mark.slow
MODEL = "gemma-3-270m-q4_k_m.gguf"
GREEDY = ["--temperature", "0", "--seed", "0", "--max-tokens", "12", "--threads", "2"]


def out(result) -> dict:
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_convert_chat_evaluate_export_and_delete(home_with_model: Path, tmp_path: Path) -> None:
    db = open_library()  # seeds the built-in sets the adapter says it was trained on
    register_adapter(db, home_with_model / "models" / MODEL, "demo", convert=False, std=0.05)
    (listed,) = out(tuiapp("adapters", "list", "--json"))
    assert listed["name"] == "demo" and listed["gguf"] is None

    # Chatting with it before it is converted says what to do.
    assert_one_line_error(
        tuiapp("chat", "-a", "demo", "hi", *GREEDY), "tuiapp adapters convert demo"
    )

    converted = out(tuiapp("adapters", "convert", "demo", "--no-parity", "--json"))
    assert converted["event"] == "finished"
    assert converted["warning"] == "The parity check was skipped: this export is unchecked."
    gguf = Path(converted["export"]["path"])
    assert gguf.is_file() and gguf.parent == home_with_model / "adapters" / "demo" / "exports"
    shown = out(tuiapp("adapters", "show", "demo", "--json"))
    assert shown["gguf"] == str(gguf) and shown["source"] == "examples:sentiment"
    assert "parity not checked" in tuiapp("adapters", "show", "demo").stdout

    # The same question with and without the adapter: the adapter changes the answer, and the
    # conversation keeps its mix for the next message.
    question = "The capital of France is"
    base = out(tuiapp("chat", question, *GREEDY, "--json"))
    adapted = out(tuiapp("chat", question, "-a", "demo:1.5", *GREEDY, "--json"))
    assert adapted["reply"] != base["reply"]
    again = out(tuiapp("chat", question, "-c", str(adapted["conversation_id"]), *GREEDY, "--json"))
    history = History(open_db())
    conv = history.get_conversation(adapted["conversation_id"])
    assert conv.adapters == [{"name": "demo", "scale": 1.5}]
    replies = [m for m in history.messages(conv.id) if m.role == "assistant"]
    assert [m.params.get("adapters") for m in replies] == [[{"name": "demo", "scale": 1.5}]] * 2
    assert again["reply"]
    assert "adapters" not in history.messages(base["conversation_id"])[1].params

    # Evaluation: the adapter row joins the zero-shot row in the comparison.
    common = ["sentiment", "--examples", "sentiment", "--limit", "3", "--threads", "2", "--json"]
    zero = out(tuiapp("eval", *common))
    with_adapter = out(tuiapp("eval", *common, "--mode", "adapter", "--adapter", "demo"))
    assert with_adapter["mode"] == "adapter" and with_adapter["adapter"] == "demo"
    assert with_adapter["n_scored"] == 3 and with_adapter["shots"] == 0
    compared = out(tuiapp("eval", "compare", str(zero["id"]), str(with_adapter["id"]), "--json"))
    table = compared["runs"]
    assert [row["mode"] for row in table] == ["zero", "adapter"]
    assert table[1]["selector"] == "demo"
    (judged,) = compared["verdicts"]
    assert (judged["a"], judged["b"], judged["n"]) == (zero["id"], with_adapter["id"], 3)

    # Ollama: a movable directory with the base, the adapter and a Modelfile.
    target = tmp_path / "ollama"
    written = out(tuiapp("adapters", "export-ollama", "demo", str(target), "--json"))
    modelfile = (target / "Modelfile").read_text()
    assert f"FROM ./{MODEL}\n" in modelfile and "ADAPTER ./demo-f32.gguf\n" in modelfile
    assert (target / MODEL).stat().st_size == (home_with_model / "models" / MODEL).stat().st_size
    assert 'TEMPLATE """{{ if .System }}' in modelfile
    assert "Review: {{ .Content }}\nSentiment:{{ else if" in modelfile
    assert 'SYSTEM """Decide whether each review is positive or negative.' in modelfile
    assert "PARAMETER temperature 0.0" in modelfile and "PARAMETER num_predict 4" in modelfile
    assert modelfile.count("MESSAGE user ") == 3 == len(written["examples"])
    assert (
        modelfile.count('MESSAGE assistant """positive"""')
        + modelfile.count('MESSAGE assistant """negative"""')
        == 3
    )
    assert_one_line_error(tuiapp("adapters", "export-ollama", "demo", str(target)), "not empty")

    deleted = out(tuiapp("adapters", "delete", "demo", "--json"))
    assert Path(deleted["trash"], "exports", gguf.name).is_file()  # nothing destroyed
    assert out(tuiapp("adapters", "list", "--json")) == []
    assert History(open_db()).get_conversation(conv.id).adapters == []


def test_bad_adapter_requests_are_one_line_errors(home_with_model: Path) -> None:
    db = open_library()
    register_adapter(db, home_with_model / "models" / MODEL, "elsewhere", base_sha256="0" * 64)
    assert_one_line_error(
        tuiapp("chat", "hi", "-a", "elsewhere", *GREEDY), "trained on another base model"
    )
    assert_one_line_error(tuiapp("chat", "hi", "-a", "nope", *GREEDY), "No adapter named 'nope'")
    assert_one_line_error(tuiapp("chat", "hi", "-a", "elsewhere:lots", *GREEDY), "NAME:SCALE")
    assert_one_line_error(tuiapp("adapters", "convert", "nope"), "No adapter named 'nope'")
    assert_one_line_error(tuiapp("eval", "sentiment", "--mode", "adapter"), "--adapter NAME")
    assert_one_line_error(
        tuiapp("eval", "sentiment", "--mode", "adapter", "--adapter", "elsewhere", "--limit", "1"),
        "another base model",
    )
    assert History(open_db()).list_conversations() == []  # nothing was written
