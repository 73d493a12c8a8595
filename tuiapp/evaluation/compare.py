"""Runs side by side, each score with its 95% interval, and one verdict per pair of runs.

``compare`` builds the table every front end shows (``tuiapp eval compare``, the adapt
report, the evaluation screen). ``verdicts`` pairs runs made on the same rows and says, with
``stats.paired_diff``, whether one is better and by how much. ``changed_rows`` lists the rows
whose outcome differs between two runs (``tuiapp eval diff``).
"""

from typing import Any

import sqlite_utils

from tuiapp.errors import BadInput, TuiappError
from tuiapp.evaluation.evaluate import EvalStore
from tuiapp.evaluation.stats import PairedDiff, bootstrap_mean, paired_diff, verdict, wilson
from tuiapp.library.records import EvalRun

COMPARE_COLUMNS = (
    "id template set mode shots selector exact exact_ci normalized chrf chrf_ci label_acc"
    " label_ci tokens_per_query s_per_query rows status"
).split()
MAX_ALL_PAIRS = 4  # up to this many runs every pair gets a verdict; beyond, each vs the first


def run_name(run: EvalRun) -> str:
    """``zero-shot #3``, ``4-shot fixed #4``, ``adapter mine #5``."""
    if run.mode == "adapter":
        what = f"adapter {run.adapter}"
    elif run.mode == "few":
        what = f"{run.shots}-shot {run.selector or 'fixed'}"
    else:
        what = "zero-shot"
    return f"{what} #{run.id}"


def _ci(interval: tuple[float, float] | None) -> list[float] | None:
    return None if interval is None else [round(interval[0], 3), round(interval[1], 3)]


def _rate_ci(rows: list[dict[str, Any]] | None, key: str, mean: float | None, n: int) -> Any:
    if rows is not None:
        return _ci(score(rows, key)[1])
    return None if mean is None else _ci(wilson(round(mean * n), n))


def compare(runs: list[EvalRun], store: EvalStore | None = None) -> list[dict[str, Any]]:
    """One table row per run (scores as fractions, rounded). With ``store`` the intervals
    come from the stored rows (chrF's needs them); without, rates use the run's counts."""

    def r(x: float | None, nd: int = 3) -> float | None:
        return None if x is None else round(x, nd)

    table = []
    for run in runs:
        rows = store.rows(run.id) if store is not None and run.id is not None else None
        chrf = [float(x["chrf"]) for x in rows if x.get("chrf") is not None] if rows else []
        table.append(
            {
                "id": run.id,
                "template": f"{run.template}@v{run.template_version}",
                "set": f"{run.set_name}/{run.split}",
                "mode": run.mode,
                "shots": run.shots,
                "selector": run.adapter if run.mode == "adapter" else (run.selector or "-"),
                "exact": r(run.exact),
                "exact_ci": _rate_ci(rows, "exact", run.exact, run.n_scored),
                "normalized": r(run.normalized),
                "chrf": r(run.chrf),
                "chrf_ci": _ci(bootstrap_mean(chrf)) if chrf else None,
                "label_acc": r(run.label_accuracy),
                "label_ci": _rate_ci(rows, "label_correct", run.label_accuracy, run.n_scored),
                "tokens_per_query": r(run.prompt_tokens_per_query, 1),
                "s_per_query": r(run.seconds_per_query, 2),
                "rows": f"{run.n_scored}/{run.n_rows}",
                "status": run.status,
            }
        )
    return table


def _paired_rows(
    store: EvalStore, a: EvalRun, b: EvalRun
) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    if a.id is None or b.id is None:
        return []
    by_example = {row["example_id"]: row for row in store.rows(a.id)}
    return [
        (by_example[row["example_id"]], row)
        for row in store.rows(b.id)
        if row["example_id"] in by_example
    ]


def headline_metric(runs_rows: list[list[dict[str, Any]]]) -> str:
    """What runs are judged on: label accuracy for label sets, exact match when any run gets
    a tenth of its rows exactly right, else chrF (rewriting, summaries)."""
    every = [row for rows in runs_rows for row in rows]
    if every and all(row.get("label_correct") is not None for row in every):
        return "label_correct"
    rates = [sum(bool(r["exact"]) for r in rows) / len(rows) for rows in runs_rows if rows]
    best = max(rates, default=0.0)
    return "exact" if best >= 0.1 else "chrf"


def score(rows: list[dict[str, Any]], metric: str) -> tuple[float, tuple[float, float] | None]:
    """A run's mean on ``metric`` over the rows that have it, and its 95% interval (Wilson for
    0/1, bootstrap for chrF); (0.0, None) for no such row."""
    values = [float(row[metric]) for row in rows if row.get(metric) is not None]
    if not values:
        return 0.0, None
    if metric == "chrf":
        return sum(values) / len(values), bootstrap_mean(values)
    hits = round(sum(values))
    return hits / len(values), wilson(hits, len(values))


def _sides(
    pairs: list[tuple[dict[str, Any], dict[str, Any]]],
) -> list[list[dict[str, Any]]]:
    return [[x for x, _ in pairs], [y for _, y in pairs]]


def paired(store: EvalStore, a: EvalRun, b: EvalRun) -> PairedDiff | None:
    """``b`` against ``a`` on the rows both scored (None when they share none)."""
    pairs = _paired_rows(store, a, b)
    if not pairs:
        return None
    metric = headline_metric(_sides(pairs))
    xs = [float(x[metric] or 0) for x, _ in pairs]
    ys = [float(y[metric] or 0) for _, y in pairs]
    return paired_diff(metric, xs, ys, binary=metric != "chrf")


def verdicts(runs: list[EvalRun], store: EvalStore) -> list[dict[str, Any]]:
    """One verdict per pair of runs on the same set and split (every pair of up to
    ``MAX_ALL_PAIRS`` runs, else each run against the first)."""
    if len(runs) <= MAX_ALL_PAIRS:
        pairs = [(a, b) for i, a in enumerate(runs) for b in runs[i + 1 :]]
    else:
        pairs = [(runs[0], b) for b in runs[1:]]
    out = []
    for a, b in pairs:
        if (a.set_name, a.split) != (b.set_name, b.split):
            continue
        diff = paired(store, a, b)
        if diff is None:
            continue
        text = verdict(run_name(a), run_name(b), diff)
        out.append({"a": a.id, "b": b.id, **diff.to_dict(), "verdict": text})
    return out


def changed_rows(store: EvalStore, a: EvalRun, b: EvalRun) -> list[dict[str, Any]]:
    """The rows whose outcome differs between the runs, on the metric they are judged on."""
    pairs = _paired_rows(store, a, b)
    if not pairs:
        return []
    metric = headline_metric(_sides(pairs))
    out = []
    for x, y in pairs:
        if metric == "chrf":
            changed = abs(float(x["chrf"] or 0) - float(y["chrf"] or 0)) >= 0.1
        else:
            changed = bool(x[metric]) != bool(y[metric])
        if changed:
            out.append(
                {
                    "example_id": x["example_id"],
                    "expected": x["expected"],
                    "a": x["prediction"],
                    "b": y["prediction"],
                    "a_score": x[metric],
                    "b_score": y[metric],
                    "metric": metric,
                }
            )
    return out


def run_diff(db: sqlite_utils.Database, run_a: int, run_b: int) -> dict[str, Any]:
    """Everything ``eval diff`` and the diff view show: both runs' names, the verdict with
    its figures, and the changed rows with each row's input (BadInput when they share no row)."""
    from tuiapp.library.examples import ExampleStore

    store = EvalStore(db)
    a, b = store.get(run_a), store.get(run_b)
    judged = paired(store, a, b)
    if judged is None:
        raise BadInput(f"Runs {run_a} and {run_b} share no scored row: compare runs on one set.")
    rows = changed_rows(store, a, b)
    examples = ExampleStore(db)
    for row in rows:
        try:
            row["input"] = " | ".join(examples.get(row["example_id"]).inputs.values())
        except TuiappError:  # the example was deleted since: the run keeps its outputs
            row["input"] = "(deleted)"
    return {
        "a_name": run_name(a),
        "b_name": run_name(b),
        "verdict": verdict(run_name(a), run_name(b), judged),
        **judged.to_dict(),
        "rows": rows,
    }
