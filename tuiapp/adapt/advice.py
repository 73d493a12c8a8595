"""Reading a learning curve: every point's score with its interval, and one sentence of advice.

``rescore`` scores every finished point on one metric (``compare.headline_metric`` over all
of them: label accuracy for label sets, else exact match, else chrF) with its 95% interval.
``advise`` compares the best adapter with the best prompting (``stats.paired_diff`` on the
rows both scored) and, when the adapter is not worse, says after how many queries its training
time is paid back by the prompt tokens it saves::

    N = training seconds / (saved prompt tokens per query / prompt tokens per second)

The prompt speed is measured on the same llama.cpp runtime (``Engine.prompt_speed``, an empty
KV cache). N assumes each query processes its whole prompt: a chat that resends one fixed
few-shot prefix and keeps it cached pays less for few-shot, so N is the adapter's best case.
"""

import math

import sqlite_utils

from tuiapp.adapt.curve_records import Curve, CurvePoint
from tuiapp.evaluation.compare import headline_metric, paired, score
from tuiapp.evaluation.evaluate import EvalStore
from tuiapp.evaluation.stats import METRIC_NAMES, verdict


def rescore(curve: Curve, db: sqlite_utils.Database) -> None:
    """Score every finished point on the curve's one metric."""
    store = EvalStore(db)
    finished = [p for p in curve.points if p.status in ("done", "reused") and p.run_id]
    rows = {p.run_id: store.rows(p.run_id) for p in finished if p.run_id is not None}
    if not rows:
        return
    curve.metric = headline_metric(list(rows.values()))
    curve.rows = max(len(r) for r in rows.values())
    for point in finished:
        assert point.run_id is not None
        run = store.get(point.run_id)
        value, interval = score(rows[point.run_id], curve.metric)
        point.score = round(value, 4)
        point.ci = [round(interval[0], 4), round(interval[1], 4)] if interval else None
        point.tokens_per_query = round(run.prompt_tokens_per_query or 0.0, 1)
        point.s_per_query = round(run.seconds_per_query or 0.0, 3)


def _with_ci(point: CurvePoint) -> str:
    if point.ci is None:
        return f"{point.score:.2f}"
    return f"{point.score:.2f} [{point.ci[0]:.2f}, {point.ci[1]:.2f}]"


def payback_queries(train_seconds: float, saved_tokens: float, tokens_per_s: float) -> int | None:
    """Queries after which ``train_seconds`` are paid back by ``saved_tokens`` of prompt per
    query at ``tokens_per_s``; None when nothing is saved."""
    if saved_tokens <= 0 or tokens_per_s <= 0:
        return None
    return math.ceil(train_seconds / (saved_tokens / tokens_per_s))


def _took(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.1f} min"


def advise(curve: Curve, db: sqlite_utils.Database) -> str:
    """A few sentences of numbers: the best prompting and the best adapter, the verdict
    between them and the payback. Also sets ``curve.verdict``."""
    few, adapter = curve.best("few"), curve.best("adapter")
    metric = METRIC_NAMES.get(curve.metric, curve.metric)
    if few is None and adapter is None:
        return "No point of the curve is scored yet."
    parts = []
    if few is not None:
        how = f"k = {few.size}" if few.size else "zero-shot"
        parts.append(
            f"prompting peaks at {_with_ci(few)} {metric} ({how}, "
            f"{few.tokens_per_query:.0f} prompt tokens per query)"
        )
    if adapter is None:
        parts.append("no adapter point is scored yet")
    else:
        trained = (
            f" after {_took(adapter.train_seconds)} of training" if adapter.train_seconds else ""
        )
        parts.append(
            f"an adapter from {adapter.size} rows reaches {_with_ci(adapter)} with "
            f"{adapter.tokens_per_query:.0f} prompt tokens per query{trained}"
        )
    sentences = ["; ".join(parts)]
    if few is not None and adapter is not None and few.run_id and adapter.run_id:
        store = EvalStore(db)
        diff = paired(store, store.get(few.run_id), store.get(adapter.run_id))
        if diff is not None:
            curve.verdict = diff.to_dict() | {"verdict": verdict(few.label, adapter.label, diff)}
            sentences.append(curve.verdict["verdict"].rstrip("."))
            saved = (few.tokens_per_query or 0.0) - (adapter.tokens_per_query or 0.0)
            n = payback_queries(adapter.train_seconds or 0.0, saved, curve.pp_tokens_per_s or 0)
            worse = diff.detected and diff.diff < 0
            if n is not None and adapter.train_seconds and not worse:
                lead = "The adapter" if diff.detected else "If that difference is acceptable, it"
                sentences.append(
                    f"{lead} pays back its training time after {n:,} queries ({saved:.0f} "
                    f"prompt tokens saved per query at {curve.pp_tokens_per_s:.0f} tokens/s)"
                )
    return " ".join(s[0].upper() + s[1:] + "." for s in sentences)
