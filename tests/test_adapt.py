"""One click on the CPU: `tuiapp adapt` trains a LoRA on a built-in set, converts it, checks
parity, evaluates it against zero- and k-shot prompting and attaches it to a new conversation."""

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers.cli import assert_one_line_error, run_adapt, tuiapp
from tuiapp.chat.history import History
from tuiapp.evaluation.evaluate import EvalStore
from tuiapp.library.examples import ExampleStore
from tuiapp.library.templates import TemplateStore
from tuiapp.store import open_db
from tuiapp.training.store import AdapterStore

pytestmark = pytest.mark.slow
QUICK = [
    "--opt",
    "max_steps=6",
    "--opt",
    "learning_rate=2e-3",
    "--opt",
    "r=8",
    "--limit",
    "6",
    "--threads",
    "2",
]


def test_adapt_runs_every_stage_and_attaches_the_adapter(home_with_model: Path) -> None:
    report, progress = run_adapt("sentiment", *QUICK, "--out", "quick")
    stages = list(dict.fromkeys(p["stage"] for p in progress))
    assert stages == ["train", "convert", "evaluate", "attach", "done"]
    fractions = [p["fraction"] for p in progress]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0  # one bar, never backwards

    assert report["status"] == "done" and report["train"]["adapter"] == "quick"
    assert report["train"]["steps"] == 6
    parity = report["convert"]["parity"]
    assert parity["passed"], report["convert"]["warning"]
    assert report["convert"]["warning"] is None
    assert [row["mode"] for row in report["eval"]["table"]] == ["zero", "few", "adapter"]
    assert [row["rows"] for row in report["eval"]["table"]] == ["6/6"] * 3
    judged = report["eval"]["verdicts"]  # zero vs few, zero vs adapter, few vs adapter
    assert [(v["a"], v["b"]) for v in judged] == [
        (a, b)
        for i, a in enumerate(report["eval"]["run_ids"])
        for b in report["eval"]["run_ids"][i + 1 :]
    ]
    assert all(v["n"] == 6 and v["verdict"] for v in judged)

    db = open_db()
    adapter = AdapterStore(db).get_adapter("quick")
    assert adapter.gguf and adapter.exports["adapter"]["parity"] == parity
    # Zero-shot and adapter rows use the very same prompts: any difference is the adapter's.
    zero_id, _, adapter_id = report["eval"]["run_ids"]
    store = EvalStore(db)
    assert store.get(adapter_id).adapter == "quick"
    zero_rows, adapter_rows = store.rows(zero_id), store.rows(adapter_id)
    assert [r["prompt_tokens"] for r in zero_rows] == [r["prompt_tokens"] for r in adapter_rows]
    assert [r["prediction"] for r in zero_rows] != [r["prediction"] for r in adapter_rows]

    conv = History(db).get_conversation(report["conversation_id"])
    assert conv.adapters == [{"name": "quick", "scale": 1.0}]
    reply = tuiapp(
        "chat",
        "-c",
        str(conv.id),
        "Great product, works as promised.",
        "--max-tokens",
        "8",
        "--threads",
        "2",
        "--json",
    )
    assert reply.returncode == 0, reply.stderr
    stored = History(db).messages(conv.id)[-1]
    assert stored.params["adapters"] == [{"name": "quick", "scale": 1.0}]

    (job,) = json.loads(tuiapp("adapt-jobs", "--json").stdout)
    assert job["status"] == "done" and job["conversation_id"] == conv.id
    assert job["report"]["eval"]["run_ids"] == report["eval"]["run_ids"]


def test_adapt_from_a_plain_file_with_no_template_and_no_split(
    home_with_model: Path, tmp_path: Path
) -> None:
    """A person's own rows, {"input", "output"} JSONL: imported, split, templated, adapted."""
    built_in = Path(__file__).resolve().parents[1] / "prompts" / "sets" / "sentiment.jsonl"
    rows = [json.loads(line) for line in built_in.read_text().splitlines()]
    mine = tmp_path / "my reviews.jsonl"
    mine.write_text(
        "".join(
            json.dumps({"input": r["inputs"]["review"], "output": r["output"]}) + "\n" for r in rows
        )
    )
    report, _ = run_adapt(str(mine), *QUICK, "--out", "mine")
    assert report["status"] == "done" and report["set"] == "my-reviews"
    assert report["convert"]["parity"]["passed"], report["convert"]["warning"]
    assert [row["mode"] for row in report["eval"]["table"]] == ["zero", "few", "adapter"]
    db = open_db()
    examples = ExampleStore(db)
    s = examples.get_set("my-reviews")
    assert s.template == "my-reviews" and s.input_fields == ["input"]
    assert examples.counts("my-reviews") == {"train": len(rows) - 45, "heldout": 45}
    template = TemplateStore(db).get("my-reviews")
    assert template.body == "Input: {{ input }}\nOutput:" and "generated" in template.tags
    conv = History(db).get_conversation(report["conversation_id"])
    assert conv.adapters == [{"name": "mine", "scale": 1.0}]


def test_cancel_during_training_registers_nothing(home_with_model: Path) -> None:
    child = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tuiapp",
            "adapt",
            "sentiment",
            *QUICK,
            "--opt",
            "max_steps=400",
            "--json",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=os.environ.copy(),
    )
    assert child.stdout is not None
    for line in child.stdout:
        if '"stage": "train"' in line and '"step"' in line:  # training is under way
            child.send_signal(signal.SIGINT)
            break
    _, err = child.communicate(timeout=300)
    assert child.returncode == 130, err[-2000:]
    assert "Cancelled while training" in err and "Traceback" not in err
    db = open_db()
    assert AdapterStore(db).list_adapters() == []
    (run,) = AdapterStore(db).list_runs()
    assert run.status == "cancelled"
    (job,) = json.loads(tuiapp("adapt-jobs", "--json").stdout)
    assert job["status"] == "cancelled" and job["stage"] == "train"


def test_adapt_refuses_what_cannot_be_attached(home_with_model: Path) -> None:
    assert_one_line_error(
        tuiapp("adapt", "sentiment", "--method", "dora"), "cannot be hot-swapped in llama.cpp"
    )
    assert_one_line_error(tuiapp("adapt", "no-such-set"), "no-such-set")
    assert_one_line_error(tuiapp("adapt", "sentiment", "--shots", "0"), "--shots")
