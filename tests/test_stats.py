"""The statistics of the comparisons, against values worked out by hand."""

import math

import pytest

from tuiapp.evaluation.compare import changed_rows, compare, headline_metric, verdicts
from tuiapp.evaluation.evaluate import EvalStore, RowResult
from tuiapp.evaluation.stats import bootstrap_mean, mcnemar_exact, paired_diff, verdict, wilson
from tuiapp.library.records import EvalRun
from tuiapp.store import open_db


def wilson_by_hand(k: int, n: int, z: float = 1.959964) -> tuple[float, float]:
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return centre - half, centre + half


@pytest.mark.parametrize(("k", "n"), [(40, 45), (0, 45), (45, 45), (1, 3), (27, 54)])
def test_wilson_matches_the_formula(k, n):
    low, high = wilson(k, n)
    want = wilson_by_hand(k, n)
    assert low == pytest.approx(max(0.0, want[0]), abs=1e-6)
    assert high == pytest.approx(min(1.0, want[1]), abs=1e-6)
    assert wilson(0, 0) is None


def test_exact_mcnemar_is_the_binomial_tail_on_discordant_rows():
    # 9 rows only b gets right, 1 only a: p = 2 * P(X <= 1), X ~ Bin(10, 1/2) = 2 * 11 / 1024
    a = [True] * 5 + [False] * 9 + [True]
    b = [True] * 5 + [True] * 9 + [False]
    assert mcnemar_exact(a, b) == pytest.approx(22 / 1024)
    assert mcnemar_exact([True, False], [True, False]) == 1.0  # no discordant row
    assert mcnemar_exact([True] * 3, [False] * 3) == pytest.approx(0.25)  # 2 * (1/2)^3


def test_paired_difference_interval_and_verdicts():
    a = [1] * 20 + [0] * 25
    b = [1] * 40 + [0] * 5
    d = paired_diff("exact", a, b, binary=True)
    assert d.diff == pytest.approx(20 / 45) and d.low > 0.2 and d.high < 0.65
    assert d.p_value == pytest.approx(2 * 0.5**20) and d.detected
    text = verdict("4-shot fixed #2", "adapter me #3", d)
    assert text.startswith("adapter me #3 beats 4-shot fixed #2 by 0.44 [+0.")
    same = paired_diff("exact", a, a, binary=True)
    assert not same.detected and "score the same on every one of the 45 rows" in verdict(
        "x", "y", same
    )
    close = paired_diff("chrf", [0.5, 0.6, 0.7, 0.4] * 5, [0.52, 0.58, 0.71, 0.41] * 5, False)
    assert not close.detected and verdict("x", "y", close).startswith("No detectable difference")
    low, high = bootstrap_mean([0.1, 0.5, 0.9, 0.3] * 10)
    assert low < 0.45 < high and bootstrap_mean([0.1, 0.5, 0.9, 0.3] * 10) == (low, high)
    with pytest.raises(ValueError):
        paired_diff("exact", [1], [1, 0], binary=True)


def _run(store: EvalStore, mode: str, outcomes: list[bool], shots: int = 0) -> EvalRun:
    run = store.create(EvalRun("t", 1, "s", mode, shots=shots, selector="fixed", n_rows=10))
    for i, ok in enumerate(outcomes):
        row = RowResult(i + 1, "yes" if ok else "no", "yes", ok, ok, float(ok), None, None, 5, 0.1)
        run.n_scored += 1
        store.add_row(run, row)
    run.exact = sum(outcomes) / len(outcomes)
    store.save(run)
    return store.get(run.id or 0)


def test_compare_verdicts_and_diff_on_stored_rows():
    store = EvalStore(open_db())
    zero = _run(store, "zero", [False] * 8 + [True] * 2)
    few = _run(store, "few", [True] * 9 + [False], shots=4)
    table = compare([zero, few], store)
    assert table[1]["exact_ci"] == [round(x, 3) for x in wilson(9, 10)]
    assert table[1]["chrf_ci"] is not None and table[0]["label_ci"] is None
    (judged,) = verdicts([zero, few], store)
    assert judged["metric"] == "exact" and judged["n"] == 10
    p = mcnemar_exact([False] * 8 + [True] * 2, [True] * 9 + [False])
    assert judged["p_value"] == pytest.approx(p, abs=1e-6)
    assert "4-shot fixed" in judged["verdict"]
    changed = changed_rows(store, zero, few)
    assert [row["example_id"] for row in changed] == [1, 2, 3, 4, 5, 6, 7, 8, 10]
    assert headline_metric([[{"exact": 0, "chrf": 0.4}], [{"exact": 0, "chrf": 0.5}]]) == "chrf"
    tenth = [{"exact": i == 0, "chrf": 0.5} for i in range(10)]
    assert headline_metric([[{"exact": 0, "chrf": 0.4}] * 10, tenth]) == "exact"
    labels = [{"exact": 0, "chrf": 0.1, "label_correct": 1}]
    assert headline_metric([labels, labels]) == "label_correct"
