"""Evaluation: scoring helpers, the run store, and runs on the real embedded model."""

import json
import os
import subprocess
import sys
import threading
from types import SimpleNamespace

import pytest

from tuiapp.chat.engine.formats import TranscriptFormat
from tuiapp.errors import BadInput
from tuiapp.evaluation.compare import compare
from tuiapp.evaluation.evaluate import EvalOptions, EvalStore, RowResult, run_eval
from tuiapp.evaluation.scoring import chrf, exact_match, normalize_text, normalized_match
from tuiapp.library.examples import ExampleStore
from tuiapp.library.records import EvalRun, Example, ExampleSet, Template
from tuiapp.library.seed import open_library
from tuiapp.library.templates import TemplateStore
from tuiapp.store import open_db


def test_normalized_match_ignores_case_punctuation_and_spacing():
    assert normalize_text("  Hello,   World!! ") == "hello world"
    assert normalized_match("Positive.", "positive") and not exact_match("Positive.", "positive")
    assert exact_match(" positive\n", "positive")
    assert normalized_match("name: Ann | city: Rome", "Name: ann  city rome")
    assert not normalized_match("positive", "negative")


def test_chrf_grades_similar_wordings():
    reference = "Could you please send me the report by Friday?"
    assert chrf(reference, reference) == 1.0
    assert chrf("Could  you please send me\nthe report by Friday?", reference) == 1.0  # spacing
    close = chrf("Could you send the report by Friday, please?", reference)
    far = chrf("The weather is nice today.", reference)
    assert 0.5 < close < 1.0 and 0.0 <= far < 0.2 and close > far
    assert chrf("", reference) == 0.0 and chrf("", "") == 1.0 and chrf("ab", "xy") == 0.0
    # Recall weighs more than precision (beta = 2): a truncated answer loses more than a padded one.
    assert chrf("Could you please send me", reference) < chrf(reference + " Thanks!", reference)


def test_run_store_round_trip_and_compare_rows():
    store = EvalStore(open_db())
    run = store.create(
        EvalRun(
            "sentiment",
            3,
            "sentiment",
            "few",
            shots=4,
            selector="bm25",
            model="m",
            model_sha256="abc",
            params={"seed": 0},
            n_rows=2,
        )
    )
    run.n_scored, run.exact, run.normalized, run.label_accuracy = 1, 1.0, 1.0, 1.0
    run.chrf = 1.0
    run.prompt_tokens_per_query, run.seconds_per_query = 120.25, 0.456
    store.add_row(
        run, RowResult(7, "positive", "positive", True, True, 1.0, "positive", True, 120, 0.456)
    )
    adapter = store.create(
        EvalRun("sentiment", 3, "sentiment", "adapter", adapter="lora-a", status="done")
    )
    assert store.get(run.id).params == {"seed": 0} and store.get(run.id).n_scored == 1
    assert [r.id for r in store.recent()] == [adapter.id, run.id]
    assert store.rows(run.id)[0]["label_correct"] == 1 and store.rows(run.id)[0]["chrf"] == 1.0
    rows = compare([store.get(run.id), store.get(adapter.id)])
    assert rows[0] | {"id": None} == {
        "id": None,
        "template": "sentiment@v3",
        "set": "sentiment/heldout",
        "mode": "few",
        "shots": 4,
        "selector": "bm25",
        "exact": 1.0,
        "exact_ci": [0.207, 1.0],  # Wilson for 1 of 1 (from the run's counts: no store given)
        "normalized": 1.0,
        "chrf": 1.0,
        "chrf_ci": None,  # a bootstrap needs the rows
        "label_acc": 1.0,
        "label_ci": [0.207, 1.0],
        "tokens_per_query": 120.2,
        "s_per_query": 0.46,
        "rows": "1/2",
        "status": "running",
    }
    assert rows[1]["mode"] == "adapter" and rows[1]["selector"] == "lora-a"


def test_bad_options_fail_before_anything_is_stored():
    db = open_db()
    t = Template("t", "Q: {{ q }}\nA:")
    s = ExampleSet("s", input_fields=["q"])
    rows = [Example({"q": "x"}, "y", split="train")]
    model = SimpleNamespace(
        name="m", path="/none", info=SimpleNamespace(sha256="x"), format=TranscriptFormat()
    )
    engine = SimpleNamespace(n_ctx=512)
    for opts, message in [
        (EvalOptions(mode="adapter"), "Adapter mode needs --adapter NAME"),
        (EvalOptions(mode="adapter", adapter="ghost:0.5"), "No adapter named 'ghost'"),
        (EvalOptions(mode="nope"), "Unknown mode"),
        (EvalOptions(mode="few", shots=0), "at least 1"),
        (EvalOptions(mode="few", selector="nope"), "Unknown selector"),
        (EvalOptions(), "has no 'heldout' rows"),
    ]:
        with pytest.raises(BadInput, match=message):
            run_eval(db, engine, model, t, s, rows, opts)
    assert EvalStore(db).recent() == []


# -- on the real model ----------------------------------------------------------------------
@pytest.fixture
def library(embedded_model_path):
    db = open_library()
    model = SimpleNamespace(
        name="gemma-3-270m",
        path=embedded_model_path,
        info=SimpleNamespace(sha256="f" * 64),
        format=TranscriptFormat(),
    )
    return db, model


def sentiment(db):
    store = ExampleStore(db)
    return (
        TemplateStore(db).get("sentiment"),
        store.get_set("sentiment"),
        store.examples("sentiment"),
    )


@pytest.mark.slow
def test_few_shot_eval_end_to_end(engine, library):
    db, model = library
    template, example_set, rows = sentiment(db)
    seen = []
    run = run_eval(
        db,
        engine,
        model,
        template,
        example_set,
        rows,
        EvalOptions(mode="few", shots=3, selector="bm25", limit=6),
        progress=lambda done, total, eta: seen.append((done, total, eta)),
    )
    assert run.status == "done" and run.n_scored == run.n_rows == 6
    assert [d for d, _, _ in seen] == [0, 1, 2, 3, 4, 5, 6] and seen[-1][2] == 0
    assert seen[0] == (0, 6, None)  # the bar shows before the first row is scored
    assert run.label_accuracy is not None and run.label_accuracy >= 4 / 6
    assert run.exact is not None and 0 < run.prompt_tokens_per_query < 400
    assert run.model_sha256 == "f" * 64 and run.template_version == template.version
    stored = EvalStore(db).get(run.id)
    assert stored.params["sampling"]["temperature"] == 0 and stored.params["rendering"] == "raw"
    rows_out = EvalStore(db).rows(run.id)
    heldout_ids = {ex.id for ex in rows if ex.split == "heldout"}
    assert len(rows_out) == 6 and {r["example_id"] for r in rows_out} <= heldout_ids
    assert all(r["label_predicted"] in ("positive", "negative") for r in rows_out)


@pytest.mark.slow
def test_cancel_keeps_scored_rows_and_marks_the_run_partial(engine, library):
    db, model = library
    template, example_set, rows = sentiment(db)
    cancel = threading.Event()

    def progress(done, total, eta):
        if done == 2:
            cancel.set()

    run = run_eval(
        db,
        engine,
        model,
        template,
        example_set,
        rows,
        EvalOptions(mode="zero", limit=20),
        progress=progress,
        cancel=cancel,
    )
    assert run.status == "partial" and run.n_scored == 2 and run.n_rows == 20
    assert EvalStore(db).get(run.id).status == "partial" and run.finished
    assert len(EvalStore(db).rows(run.id)) == 2


@pytest.mark.slow
def test_embedding_selector_eval_on_a_small_pool(engine, library):
    db, model = library
    template, example_set, rows = sentiment(db)
    small = [ex for ex in rows if ex.split == "train"][:16] + [
        ex for ex in rows if ex.split == "heldout"
    ][:2]
    run = run_eval(
        db,
        engine,
        model,
        template,
        example_set,
        small,
        EvalOptions(mode="few", shots=2, selector="mmr", limit=2),
    )
    assert run.status == "done" and run.params["mmr_lambda"] == 0.5
    assert db["embeddings"].count == 18


def tuiapp(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tuiapp", *args],
        capture_output=True,
        text=True,
        env=os.environ.copy(),
        timeout=300,
    )


def test_cli_refuses_bad_names_in_one_line():
    for args, fragment in [
        (["eval", "sentiment", "--mode", "few", "--selector", "nope"], "Unknown selector 'nope'"),
        (["eval", "no-such-template"], "No template named"),
        (["eval", "compare", "999"], "No evaluation run with id 999"),
    ]:
        result = tuiapp(*args)
        assert result.returncode == 2, result
        assert "Traceback" not in result.stderr and fragment in result.stderr


@pytest.mark.slow
def test_cli_eval_runs_and_compare(home_with_model):
    zero = tuiapp("eval", "sentiment", "--limit", "3", "--threads", "2", "--json")
    assert zero.returncode == 0, zero.stderr
    few = tuiapp(
        "eval",
        "run",
        "sentiment",
        "--examples",
        "sentiment",
        "--mode",
        "few",
        "--shots",
        "2",
        "--selector",
        "random",
        "--limit",
        "3",
        "--threads",
        "2",
    )
    assert few.returncode == 0, few.stderr
    assert few.stdout.startswith("Run 2 (done): 3/3 rows") and "label accuracy" in few.stdout
    assert json.loads(zero.stdout)["mode"] == "zero"
    listed = json.loads(tuiapp("eval", "runs", "--json").stdout)
    assert [r["id"] for r in listed] == [2, 1]
    assert len(listed[0]["model_sha256"]) == 64
    table = tuiapp("eval", "compare").stdout.splitlines()
    assert table[0].split()[:6] == ["ID", "TEMPLATE", "SET", "MODE", "SHOTS", "SELECTOR"]
    assert "zero" in table[1] and "random" in table[2]
    compared = json.loads(tuiapp("eval", "compare", "2", "1", "--json").stdout)
    assert [r["id"] for r in compared["runs"]] == [2, 1]
    low, high = compared["runs"][0]["label_ci"]  # Wilson on 3 rows: wide, and around the score
    assert 0 <= low <= compared["runs"][0]["label_acc"] <= high <= 1 and high - low > 0.3
    (judged,) = compared["verdicts"]
    assert judged["metric"] == "label_correct" and judged["n"] == 3
    assert any(
        words in judged["verdict"]
        for words in ("No detectable difference", "beats", "score the same on every one of the 3")
    )
    diff = json.loads(tuiapp("eval", "diff", "1", "2", "--json").stdout)
    for row in diff["rows"]:
        assert row["a_score"] != row["b_score"]
    shown = json.loads(tuiapp("eval", "show", "2", "--json").stdout)
    assert len(shown["rows"]) == 3


@pytest.mark.slow
def test_cli_chat_with_template_and_shots(home_with_model):
    result = tuiapp(
        "chat",
        "--template",
        "sentiment",
        "--var",
        "review=Absolutely love it, works great!",
        "--shots",
        "2",
        "--selector",
        "bm25",
        "--threads",
        "2",
        "--json",
    )
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["template"] == "sentiment" and len(data["examples"]) == 2
    assert data["prompt"].endswith("Review: Absolutely love it, works great!\nSentiment:")
    assert data["reply"].strip() in ("positive", "negative")
    bad = tuiapp("chat", "--template", "sentiment", "--var", "text=hi")
    assert bad.returncode == 2 and "missing variables: review" in bad.stderr
    assert "unknown variables: text" in bad.stderr


@pytest.mark.slow
def test_cli_ctrl_c_stops_the_run_and_keeps_its_rows(home_with_model):
    import signal
    import time

    proc = subprocess.Popen(
        [sys.executable, "-m", "tuiapp", "eval", "sentiment", "--limit", "60", "--threads", "2"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=os.environ.copy(),
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:  # poll until two rows are committed
            db = open_db()
            if db["eval_rows"].exists() and db["eval_rows"].count >= 2:
                break
            time.sleep(0.2)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 130, err
    assert "marked partial" in err and "Traceback" not in err
    run = EvalStore(open_db()).recent()[0]
    assert run.status == "partial" and 2 <= run.n_scored < run.n_rows
    assert out.startswith(f"Run {run.id} (partial): {run.n_scored}/{run.n_rows} rows")
    assert len(EvalStore(open_db()).rows(run.id)) == run.n_scored
