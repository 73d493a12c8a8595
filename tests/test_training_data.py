"""Training data: sources rendered as inference renders them, line-numbered errors, token
windows, and the checks done before any process starts. Fast: no torch, no model weights."""

import json
from pathlib import Path

import pytest

from tuiapp.chat.engine.formats import ChatTemplateFormat, TranscriptFormat, Turn
from tuiapp.chat.history import History, Message
from tuiapp.errors import BadInput, NotFound
from tuiapp.store import open_db
from tuiapp.training import DataSource, TrainRequest, plan_training
from tuiapp.training import data as datasets
from tuiapp.training.base import check_architecture
from tuiapp.training.batches import IGNORE, encode, encode_all
from tuiapp.training.config import BaseModel
from tuiapp.training.data import Row

CHATML = (
    "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def write(path: Path, *lines: object) -> Path:
    path.write_text("\n".join(x if isinstance(x, str) else json.dumps(x) for x in lines) + "\n")
    return path


def test_alpaca_rows_are_rendered_with_the_chat_format(tmp_path):
    path = write(
        tmp_path / "a.jsonl",
        {"instruction": "Add the numbers.", "input": "2 and 3", "output": "5"},
        {"instruction": "Say hi.", "output": "Hi!", "split": "validation"},
    )
    kind, rows = datasets.read_jsonl(path, TranscriptFormat())
    assert kind == "alpaca"
    expected = TranscriptFormat().render([Turn("user", "Add the numbers.\n\n2 and 3")])
    assert rows[0] == Row(expected, " 5", "train")
    assert rows[0].prompt.endswith("User: Add the numbers.\n\n2 and 3\nAssistant:")
    assert rows[1].split == "heldout"


def test_messages_give_one_row_per_assistant_reply(tmp_path):
    conv = {
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "Hello."},
            {"role": "user", "content": "Bye"},
            {"role": "assistant", "content": "Bye."},
        ]
    }
    _, rows = datasets.read_jsonl(write(tmp_path / "m.jsonl", conv), TranscriptFormat())
    assert [r.completion for r in rows] == [" Hello.", " Bye."]
    assert rows[1].prompt == "Be brief.\n\nUser: Hi\nAssistant: Hello.\nUser: Bye\nAssistant:"
    # with a chat template the reply follows the generation prompt's newline directly
    _, rows = datasets.read_jsonl(tmp_path / "m.jsonl", ChatTemplateFormat(CHATML))
    assert rows[0].prompt.endswith("<|im_start|>assistant\n") and rows[0].completion == "Hello."


def test_prompt_completion_rows_are_taken_verbatim(tmp_path):
    path = write(tmp_path / "p.jsonl", {"prompt": "Q: 2+2\nA:", "completion": " 4"})
    assert datasets.read_jsonl(path, TranscriptFormat()) == (
        "prompt-completion",
        [Row("Q: 2+2\nA:", " 4", "train")],
    )


def test_bad_lines_are_reported_by_number_in_one_message(tmp_path):
    path = write(
        tmp_path / "bad.jsonl",
        {"instruction": "ok", "output": "fine"},
        "{not json",
        "",
        {"prompt": "other form", "completion": "x"},
        ["a", "list"],
        {"instruction": "no output here", "output": ""},
        {"instruction": "x", "output": "y", "split": "dev"},
    )
    with pytest.raises(BadInput) as error:
        datasets.read_jsonl(path, TranscriptFormat())
    message = str(error.value)
    assert "\n" not in message and message.startswith(f"{path}: 5 bad lines: ")
    for fragment in [
        "line 2: not JSON",
        "line 4: expected instruction/input/output fields",
        "line 5: expected a JSON object",
        "line 6: 'output' is empty",
        "line 7: unknown split 'dev'",
    ]:
        assert fragment in message


def test_unrecognised_and_empty_files(tmp_path):
    with pytest.raises(BadInput, match="line 1: expected instruction/input/output or messages"):
        datasets.read_jsonl(write(tmp_path / "x.jsonl", {"text": "hello"}), TranscriptFormat())
    with pytest.raises(BadInput, match="no training rows"):
        datasets.read_jsonl(write(tmp_path / "e.jsonl", ""), TranscriptFormat())
    with pytest.raises(BadInput, match="no such file"):
        datasets.read_jsonl(tmp_path / "missing.jsonl", TranscriptFormat())


def test_conversations_render_like_the_chat_and_skip_stopped_replies():
    history = History(open_db())
    conv = history.new_conversation("c")
    for role, text, stopped in [
        ("user", "Capital of France?", False),
        ("assistant", "Paris.", False),
        ("user", "And of Spain?", False),
        ("assistant", "Mad", True),
    ]:
        history.add_message(conv.id, Message(role, text, stopped=stopped))
    rows = datasets.from_conversations(open_db(), [conv.id], TranscriptFormat())
    assert rows == [
        Row(TranscriptFormat().render([Turn("user", "Capital of France?")]), " Paris.", "train")
    ]
    with pytest.raises(NotFound, match="No conversation with id 99"):
        datasets.from_conversations(open_db(), [99], TranscriptFormat())


def test_example_sets_render_exactly_as_few_shot_inference_does():
    from tuiapp.library.examples import ExampleStore
    from tuiapp.library.fewshot import Assembler
    from tuiapp.library.seed import open_library
    from tuiapp.library.templates import TemplateStore

    db = open_library(open_db())
    rows = datasets.from_examples(db, "sentiment", TranscriptFormat())
    examples = ExampleStore(db).examples("sentiment")
    assembler = Assembler(TemplateStore(db).get("sentiment"), len, TranscriptFormat())
    assert len(rows) == len(examples)
    for row, ex in zip(rows, examples, strict=True):
        assert row.prompt == assembler.build(ex, []).text  # zero-shot, as the adapter eval
        assert row.completion == " " + ex.output.strip()
        assert row.split == ex.split
    two_shot = datasets.from_examples(db, "sentiment", TranscriptFormat(), shots=2)
    assert two_shot[0].prompt.count("Sentiment:") == 3
    with pytest.raises(NotFound):
        datasets.from_examples(db, "no-such-set", TranscriptFormat())


def test_validation_split_is_stable_and_kept_when_stored():
    rows = [Row(f"p{i}", f" c{i}") for i in range(40)]
    split = datasets.split_rows(rows, 0.2)
    assert split == datasets.split_rows(rows, 0.2)
    assert 0 < sum(r.split == "heldout" for r in split) < 40
    stored = [*rows[:39], Row("p", " c", "heldout")]
    assert datasets.split_rows(stored, 0.2) == stored
    assert datasets.dataset_hash(rows) == datasets.dataset_hash(list(rows))
    assert datasets.dataset_hash(rows) != datasets.dataset_hash(rows[:-1])


class CharTokenizer:
    """One token per character; 1 = BOS, 2 = EOS."""

    bos_token_id, eos_token_id = 1, 2

    def __call__(self, text, add_special_tokens=True):
        ids = [ord(c) for c in text]
        return {"input_ids": ([1] if add_special_tokens else []) + ids}


def test_labels_cover_the_completion_and_eos_only():
    item, cut = encode(Row("ab", "cd"), CharTokenizer(), 64)
    assert not cut
    assert item["input_ids"] == [1, 97, 98, 99, 100, 2]
    assert item["labels"] == [IGNORE, IGNORE, IGNORE, 99, 100, 2]


def test_over_long_rows_keep_bos_the_prompt_end_and_are_counted():
    tok = CharTokenizer()
    item, cut = encode(Row("x" * 30 + "QUESTION", "answer"), tok, 16)
    assert cut and len(item["input_ids"]) == 16
    assert item["input_ids"][0] == 1  # BOS survives
    text = "".join(chr(i) for i in item["input_ids"][1:] if i > 2)
    assert text.endswith("QUESTIONanswer")
    rows, stats = encode_all([Row("a", "b"), Row("y" * 40, "z" * 40), Row("a", "")], tok, 16)
    assert (stats.rows, stats.truncated) == (3, 1)
    assert sum(label != IGNORE for label in rows[1]["labels"]) == 8  # half the window


def test_unsupported_architecture_is_refused_before_any_work():
    from tuiapp.plugins.manager import load_methods

    lora = load_methods().get("lora")
    check_architecture(BaseModel("gguf", "m.gguf", "m", "0" * 64, "gemma3"), lora)
    with pytest.raises(BadInput, match="architecture 'bert' cannot be loaded for training"):
        check_architecture(BaseModel("gguf", "m.gguf", "m", "0" * 64, "bert"), lora)


def test_planning_checks_everything_before_a_process_starts(home_with_model, tmp_path):
    data = write(
        tmp_path / "d.jsonl", *[{"instruction": f"q{i}", "output": f"a{i}"} for i in range(12)]
    )
    with pytest.raises(BadInput, match="needs bitsandbytes|needs a CUDA GPU"):
        plan_training(TrainRequest("qlora", DataSource.file(data)))
    with pytest.raises(BadInput, match="Unknown option: rank"):
        plan_training(TrainRequest("lora", DataSource.file(data), options={"rank": "4"}))
    with pytest.raises(BadInput, match="not a Hugging Face model directory"):
        plan_training(TrainRequest("lora", DataSource.file(data), model=str(tmp_path)))
    from tuiapp.training.store import AdapterStore

    assert AdapterStore(open_db()).list_runs() == []  # nothing recorded for refused requests

    config = plan_training(
        TrainRequest(
            "lora", DataSource.file(data), out_name="mine", options={"max_steps": "3", "r": "4"}
        )
    )
    run = AdapterStore(open_db()).get_run(config.run_id)
    assert run.status == "prepared" and run.out_name == "mine" and run.options["r"] == 4
    assert config.base.architecture == "gemma3" and len(config.base.sha256) == 64
    assert run.n_train + run.n_val == 12 and run.n_val >= 1
    assert Path(config.run_dir, "run.json").is_file()
    assert Path(config.data_path).read_text().count("\n") == 12
