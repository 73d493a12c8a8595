"""The headless CLI as a script would use it: real subprocesses, real model, real SQLite file."""

import json

import pytest

from tests.helpers.cli import assert_one_line_error, tuiapp
from tuiapp.chat.history import History
from tuiapp.store import open_db


@pytest.mark.parametrize(
    "make, problem",
    [
        (lambda p: None, "no such file"),
        (lambda p: p.write_bytes(b"definitely not a model" * 100), "not a GGUF"),
        (lambda p: p.write_bytes(b"GGUF\x03\x00\x00\x00" + b"\x00" * 10), "truncated"),
    ],
)
def test_bad_model_path_is_one_line_exit_2_and_writes_nothing(tmp_path, make, problem):
    path = tmp_path / "model.gguf"
    make(path)
    result = tuiapp("chat", "-m", str(path), "hello")
    assert_one_line_error(result, str(path), problem)
    assert History(open_db()).list_conversations() == []


def test_unknown_conversation_is_refused_before_anything_is_written(home_with_model):
    result = tuiapp("chat", "-c", "42", "hello")
    assert_one_line_error(result, "No conversation with id 42")
    assert History(open_db()).list_conversations() == []


def test_bad_sampling_option_is_refused():
    result = tuiapp("chat", "--temperature", "-1", "hello")
    assert_one_line_error(result, "temperature")


@pytest.mark.slow
def test_chat_streams_stores_and_continues(home_with_model):
    first = tuiapp(
        "chat",
        "--json",
        "--max-tokens",
        "12",
        "--temperature",
        "0",
        "--seed",
        "1",
        "What is the capital of France?",
    )
    assert first.returncode == 0, first.stderr
    data = json.loads(first.stdout)
    assert data["model"] == "gemma-3-270m"
    assert data["reply"].strip() and data["completion_tokens"] >= 1
    assert data["prompt_tokens"] > 5 and data["first_token_ms"] > 0

    again = tuiapp(
        "chat",
        "-c",
        str(data["conversation_id"]),
        "--max-tokens",
        "8",
        "--temperature",
        "0",
        "And of Italy?",
    )
    assert again.returncode == 0, again.stderr
    assert again.stdout.strip()  # streamed text, not JSON

    msgs = History(open_db()).messages(data["conversation_id"])
    assert [m.role for m in msgs] == ["user", "assistant", "user", "assistant"]
    assert msgs[1].content == data["reply"].strip()
    assert msgs[1].params["temperature"] == 0 and msgs[1].params["format"] == "transcript"

    # Same seed and prompt, greedy: the reply is reproducible.
    repeat = tuiapp(
        "chat",
        "--json",
        "--max-tokens",
        "12",
        "--temperature",
        "0",
        "--seed",
        "1",
        "What is the capital of France?",
    )
    assert json.loads(repeat.stdout)["reply"] == data["reply"]

    found = json.loads(tuiapp("history", "search", "Italy", "--json").stdout)
    assert {hit["conversation_id"] for hit in found} == {data["conversation_id"]}
    listed = json.loads(tuiapp("history", "list", "--json").stdout)
    assert len(listed) == 2 and listed[1]["title"] == "What is the capital of France?"
    md = tuiapp("history", "export", str(data["conversation_id"]), "--format", "md").stdout
    assert "And of Italy?" in md and md.startswith("# What is the capital")
    jsonl = tuiapp("history", "export", str(data["conversation_id"]), "--format", "jsonl")
    assert len(jsonl.stdout.strip().splitlines()) == 5


@pytest.mark.slow
def test_raw_mode_sends_text_as_is(home_with_model):
    result = tuiapp(
        "chat",
        "--raw",
        "--json",
        "--max-tokens",
        "6",
        "--temperature",
        "0",
        "The first three letters of the alphabet are A, B,",
    )
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert "C" in data["reply"]
    stored = History(open_db()).messages(data["conversation_id"])[-1]
    assert stored.params["raw"] is True and stored.params["format"] == "raw"


@pytest.mark.slow
def test_models_list_info_and_add(home_with_model, tmp_path):
    listed = json.loads(tuiapp("models", "list", "--json").stdout)
    assert listed[0]["name"] == "gemma-3-270m" and listed[0]["source"] == "embedded"
    info = json.loads(tuiapp("models", "info", "default", "--json").stdout)
    assert info["architecture"] == "gemma3" and info["quantization"] == "Q4_K_M"
    assert info["has_chat_template"] is False and len(info["sha256"]) == 64
    missing = tuiapp("models", "add", str(tmp_path / "nope.gguf"))
    assert_one_line_error(missing, "nope.gguf", "no such file")
    unknown = tuiapp("models", "info", "no-such-model")
    assert_one_line_error(unknown, "Unknown model 'no-such-model'")
