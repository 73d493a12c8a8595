"""How sure a score is, and whether two runs on the same rows really differ.

- A rate (exact, normalized, label accuracy) gets a 95% Wilson interval.
- A graded mean (chrF) gets a 95% percentile bootstrap interval over its rows.
- Two runs on the same rows are compared row by row: the difference of their means with a
  paired-bootstrap 95% interval, and a p-value from the exact McNemar test (0/1 scores: a
  two-sided binomial test on the rows where exactly one run is right) or from the paired
  bootstrap (graded scores).

scipy does the statistics (``binomtest``, ``bootstrap``); it is imported on first use. The
bootstrap is seeded: the same rows always give the same interval.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

LEVEL = 0.95
RESAMPLES = 2000
SEED = 0


def wilson(successes: int, n: int) -> tuple[float, float] | None:
    """The 95% Wilson score interval of ``successes`` out of ``n`` (None for n = 0)."""
    if n <= 0:
        return None
    from scipy.stats import binomtest

    ci = binomtest(successes, n).proportion_ci(LEVEL, method="wilson")
    return float(ci.low), float(ci.high)


def _bootstrap(values: Any, seed: int) -> tuple[float, float, Any]:
    """(low, high, the resampled means) of a 95% percentile bootstrap of the mean."""
    import numpy as np
    from scipy.stats import bootstrap

    data = np.asarray(values, dtype=float)
    if np.ptp(data) == 0:  # every row the same: no spread to resample
        return float(data[0]), float(data[0]), np.full(RESAMPLES, data[0])
    result = bootstrap(
        (data,),
        np.mean,
        n_resamples=RESAMPLES,
        confidence_level=LEVEL,
        method="percentile",
        rng=np.random.default_rng(seed),
    )
    ci = result.confidence_interval
    return float(ci.low), float(ci.high), result.bootstrap_distribution


def bootstrap_mean(values: Sequence[float], seed: int = SEED) -> tuple[float, float] | None:
    """A 95% percentile bootstrap interval of the mean of ``values`` (None when empty)."""
    if not values:
        return None
    low, high, _ = _bootstrap(values, seed)
    return low, high


def mcnemar_exact(a: Sequence[bool], b: Sequence[bool]) -> float:
    """Two-sided exact McNemar p-value for paired 0/1 outcomes (1.0 with no discordant row)."""
    only_a = sum(1 for x, y in zip(a, b, strict=True) if x and not y)
    only_b = sum(1 for x, y in zip(a, b, strict=True) if y and not x)
    if only_a + only_b == 0:
        return 1.0
    from scipy.stats import binomtest

    return float(binomtest(only_a, only_a + only_b, 0.5).pvalue)


@dataclass
class PairedDiff:
    """``b`` minus ``a`` on the same rows."""

    metric: str
    n: int
    diff: float
    low: float
    high: float
    p_value: float

    @property
    def detected(self) -> bool:
        """The interval excludes no difference (and the test agrees)."""
        return (self.low > 0 or self.high < 0) and self.p_value < 1 - LEVEL

    def to_dict(self) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "n": self.n,
            "diff": round(self.diff, 4),
            "ci": [round(self.low, 4), round(self.high, 4)],
            "p_value": round(self.p_value, 6),
            "detected": self.detected,
        }


def paired_diff(
    metric: str, a: Sequence[float], b: Sequence[float], binary: bool, seed: int = SEED
) -> PairedDiff:
    """The difference of ``b``'s and ``a``'s means on paired rows, its interval and p-value."""
    import numpy as np

    if len(a) != len(b) or not a:
        raise ValueError("paired_diff needs two equally long, non-empty lists of row scores")
    deltas = np.asarray(b, dtype=float) - np.asarray(a, dtype=float)
    low, high, means = _bootstrap(deltas, seed)
    if binary:
        p = mcnemar_exact([bool(x) for x in a], [bool(x) for x in b])
    elif not deltas.any():
        p = 1.0
    else:  # two-sided: how often the resampled mean lands on the other side of zero
        side = (means <= 0).mean() if deltas.mean() > 0 else (means >= 0).mean()
        p = float(min(1.0, 2 * side))
    return PairedDiff(metric, len(a), float(deltas.mean()), float(low), float(high), p)


METRIC_NAMES = {
    "label_correct": "label accuracy",
    "exact": "exact match",
    "normalized": "normalized match",
    "chrf": "chrF",
}


def verdict(name_a: str, name_b: str, d: PairedDiff) -> str:
    """One sentence a person can act on."""
    what = METRIC_NAMES.get(d.metric, d.metric)
    interval = f"[{d.low:+.2f}, {d.high:+.2f}]"
    if d.detected:
        winner, loser = (name_b, name_a) if d.diff > 0 else (name_a, name_b)
        # a bootstrap p of 0 means no resample crossed zero: below 1 in RESAMPLES
        p = f"p = {d.p_value:.2g}" if d.p_value > 0 else f"p < {1 / RESAMPLES:.1g}"
        return (
            f"{winner} beats {loser} by {abs(d.diff):.2f} {interval} on {what} "
            f"({d.n} paired rows, {p})."
        )
    if d.low == d.high == 0:
        return f"{name_a} and {name_b} score the same on every one of the {d.n} rows ({what})."
    half = (d.high - d.low) / 2
    return (
        f"No detectable difference between {name_a} and {name_b} on {what} with {d.n} rows: "
        f"{d.diff:+.2f} {interval}; differences under about {half:.2f} cannot be told apart "
        "here."
    )
