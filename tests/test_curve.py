"""The learning curve: sizes, nested subsets, the advice and payback, the charts, and a tiny
curve end to end on the embedded model (cancelled in training, then continued by the CLI)."""

import json
from pathlib import Path

import pytest

from tests.helpers.cli import tuiapp
from tuiapp.adapt import chart
from tuiapp.adapt.advice import advise, payback_queries, rescore
from tuiapp.adapt.curve import CurveJob, CurveRequest, default_ks, default_ns, training_options
from tuiapp.adapt.curve_records import Curve, CurvePoint
from tuiapp.errors import BadInput
from tuiapp.evaluation.evaluate import EvalStore, RowResult
from tuiapp.evaluation.stats import wilson
from tuiapp.library.records import EvalRun, Example
from tuiapp.library.splits import nested_subset
from tuiapp.store import open_db
from tuiapp.training.store import AdapterStore


def test_default_sizes_double_up_to_what_fits_and_end_with_all_rows():
    assert default_ks(20, lambda k: k <= 8) == [0, 1, 2, 4, 8]
    assert default_ks(3, lambda k: True) == [0, 1, 2]
    assert default_ns(135) == [8, 16, 32, 64, 128, 135]
    assert default_ns(8) == [8] and default_ns(5) == [5]


def test_small_sets_get_enough_steps_and_given_steps_are_kept():
    assert training_options({}, 8)["max_steps"] == 30
    assert training_options({}, 200)["max_steps"] == 150  # 3 epochs of 200 rows, 4 per step
    assert training_options({"epochs": 1, "batch_size": 8}, 400)["max_steps"] == 50
    assert training_options({"max_steps": 3}, 400) == {"max_steps": 3}


def test_nested_subsets_are_stratified_and_grow_by_adding_rows():
    rows = [Example({"t": f"r{i}"}, "o", label="pos" if i < 30 else "neg", id=i) for i in range(40)]
    small, large = nested_subset(rows, 4), nested_subset(rows, 12)
    assert {ex.label for ex in small} == {"pos", "neg"}  # 10 neg rows of 40: still drawn from
    assert sum(ex.label == "neg" for ex in small) == 2
    assert {ex.id for ex in small} < {ex.id for ex in large}
    assert nested_subset(rows, 4) == small  # deterministic
    assert nested_subset(rows, 99) == rows


def test_payback_is_training_time_over_the_prompt_time_saved_per_query():
    # 80 tokens saved at 400 tokens/s = 0.2 s per query; 60 s of training: 300 queries
    assert payback_queries(60.0, 80.0, 400.0) == 300
    assert payback_queries(61.0, 80.0, 400.0) == 305  # rounded up
    assert payback_queries(60.0, 0.0, 400.0) is None  # saves nothing


def _run(store: EvalStore, mode: str, outcomes: list[bool], tokens: int, shots: int = 0) -> int:
    run = store.create(EvalRun("t", 1, "s", mode, shots=shots, n_rows=len(outcomes)))
    for i, ok in enumerate(outcomes):
        store.add_row(run, RowResult(i + 1, "x", "y", ok, ok, float(ok), "a", ok, tokens, 0.1))
    run.n_scored, run.status = len(outcomes), "done"
    run.prompt_tokens_per_query, run.seconds_per_query = float(tokens), 0.1
    store.save(run)
    assert run.id is not None
    return run.id


def test_advice_names_the_best_points_the_verdict_and_the_payback():
    db = open_db()
    store = EvalStore(db)
    zero = _run(store, "zero", [True] * 10 + [False] * 30, 20)
    four = _run(store, "few", [True] * 20 + [False] * 20, 100, shots=4)
    adapter = _run(store, "adapter", [True] * 38 + [False] * 2, 20)
    curve = Curve(
        "s",
        "t@v1",
        [
            CurvePoint("few", 0, "done", zero),
            CurvePoint("few", 4, "reused", four),
            CurvePoint("few", 8, "skipped", error="over the context budget"),
            CurvePoint("adapter", 16, "done", adapter, "a16", train_seconds=60.0),
        ],
        pp_tokens_per_s=400.0,
    )
    rescore(curve, db)
    assert curve.metric == "label_correct" and curve.rows == 40
    assert curve.points[1].score == 0.5
    assert curve.points[1].ci == [round(x, 4) for x in wilson(20, 40)]
    assert curve.points[2].score is None and not curve.points[2].scored
    text = advise(curve, db)
    assert text.startswith("Prompting peaks at 0.50 [0.35, 0.65] label accuracy (k = 4, 100 prompt")
    assert "an adapter from 16 rows reaches 0.95 [0.83, 0.99] with 20 prompt tokens" in text
    assert "Adapter n=16 beats 4-shot by 0.45 [+0.30, +0.60] on label accuracy" in text
    assert "pays back its training time after 300 queries (80 prompt tokens saved" in text
    assert curve.verdict is not None and curve.verdict["detected"]


def test_charts_are_written_as_png_and_svg_and_drawn_as_text(tmp_path: Path):
    points = [
        CurvePoint("few", 0, "done", 1, score=0.4, ci=[0.3, 0.5]),
        CurvePoint("few", 4, "done", 2, score=0.6, ci=[0.5, 0.7]),
        CurvePoint("adapter", 8, "done", 3, score=0.8, ci=[0.7, 0.9]),
    ]
    curve = Curve("sentiment", "t@v1", points, metric="label_correct", rows=40)
    png = chart.save(curve, tmp_path / "out" / "c.png")
    svg = chart.save(curve, tmp_path / "c.svg")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "<svg" in svg.read_text()[:2000] and "label accuracy" in svg.read_text()
    text = chart.terminal_chart(curve)
    assert "sentiment: label accuracy on 40 held-out rows" in text and "adapter" in text
    with pytest.raises(BadInput, match=r"\.png or \.svg"):
        chart.save(curve, tmp_path / "c.jpg")


@pytest.mark.slow
def test_a_tiny_curve_cancelled_in_training_continues_where_it_stopped(home_with_model: Path):
    from tuiapp.library.seed import open_library

    request = CurveRequest(
        "sentiment", ks=[0, 1], ns=[8], options={"max_steps": 3}, limit=10, threads=2
    )
    job = CurveJob(open_library(), request)

    def cancel_in_training(event) -> None:
        if "step 1/" in event.message:
            job.cancel()

    try:
        first = job.run(cancel_in_training)
    finally:
        assert job.service is not None
        job.service.engine.close()
    assert first.status == "cancelled"
    assert [p.status for p in first.points] == ["done", "done", "cancelled"]
    few_runs = [p.run_id for p in first.points[:2]]
    name = first.points[2].adapter
    assert name and AdapterStore(open_db()).pending_run(name) is not None

    charts = home_with_model / "charts"
    args = ["eval", "curve", "sentiment", "--ks", "0,1", "--ns", "8", "--limit", "10"]
    args += ["--opt", "max_steps=3", "--threads", "2", "--json"]
    args += ["--save", str(charts / "c.png"), "--save", str(charts / "c.svg")]
    result = tuiapp(*args)
    assert result.returncode == 0, result.stderr[-2000:]
    lines = result.stdout.splitlines()
    data = json.loads("\n".join(line for line in lines if not line.startswith('{"event"')))
    statuses = [p["status"] for p in data["points"]]
    assert statuses == ["reused", "reused", "done"], data["points"]
    assert [p["run_id"] for p in data["points"][:2]] == few_runs  # not scored again
    runs = [r for r in AdapterStore(open_db()).list_runs() if r.out_name == name]
    assert len(runs) == 1 and runs[0].status == "done"  # the cancelled run was resumed
    adapter = data["points"][2]
    assert 0.0 <= adapter["score"] <= 1.0 and len(adapter["ci"]) == 2
    assert adapter["train_seconds"] > 0 and data["metric"] == "label_correct"
    assert "an adapter from 8 rows reaches" in data["advice"]
    assert data["pp_tokens_per_s"] > 0
    assert sorted(data["charts"]) == sorted([str(charts / "c.png"), str(charts / "c.svg")])
    assert (charts / "c.png").stat().st_size > 1000

    refused = tuiapp("eval", "curve", "sentiment", "--ks", "0,x")
    assert refused.returncode == 2 and "--ks takes whole numbers" in refused.stderr
    assert "Traceback" not in refused.stderr
