"""What the learning curve takes and gives: the request, its points, the curve, one event."""

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from tuiapp.errors import whole_numbers

PointKind = Literal["few", "adapter"]
PointStatus = Literal["pending", "done", "reused", "skipped", "failed", "cancelled"]


def parse_sizes(text: str, what: str) -> list[int] | None:
    """``0,1,2`` (or ``0 1 2``) -> [0, 1, 2]; blank -> None (the defaults)."""
    return whole_numbers(text, what) or None


@dataclass
class CurveRequest:
    set_name: str
    ks: list[int] | None = None  # shots per few-shot point; None: 0, 1, 2, 4, … that fit
    ns: list[int] | None = None  # train rows per adapter point; None: 8, 16, … all; []: none
    method: str = "lora"
    options: dict[str, Any] = field(default_factory=dict)  # method and training options
    selector: str = "fixed"  # how few-shot points choose their examples
    limit: int | None = None  # held-out rows scored per point (None: all)
    model: str | None = None  # the base (None: the default model) when no service is given
    threads: int | None = None
    n_ctx: int = 4096
    parity: bool = True


@dataclass
class CurvePoint:
    kind: PointKind
    size: int  # k shots, or n train rows
    status: PointStatus = "pending"
    run_id: int | None = None  # its evaluation run
    adapter: str | None = None
    train_seconds: float | None = None
    score: float | None = None  # on the curve's metric
    ci: list[float] | None = None  # 95% interval of the score
    tokens_per_query: float | None = None
    s_per_query: float | None = None
    error: str | None = None

    @property
    def label(self) -> str:
        if self.kind == "adapter":
            return f"adapter n={self.size}"
        return f"{self.size}-shot" if self.size else "zero-shot"

    @property
    def scored(self) -> bool:
        return self.status in ("done", "reused") and self.score is not None

    def describe(self) -> str:
        if self.scored and self.score is not None and self.ci:
            low, high = self.ci
            return f"{self.score:.3f} [{low:.3f}, {high:.3f}] ({self.status})"
        return self.status + (f": {self.error}" if self.error else "")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self) | {"label": self.label}


@dataclass
class Curve:
    set_name: str
    template: str  # name@vN
    points: list[CurvePoint] = field(default_factory=list)
    metric: str = ""  # label_correct, exact or chrf (``compare.headline_metric``)
    rows: int = 0  # held-out rows every point scored
    pp_tokens_per_s: float | None = None  # measured prompt processing, for the payback
    advice: str = ""
    status: Literal["running", "done", "cancelled"] = "running"
    verdict: dict[str, Any] | None = None  # best adapter vs best few-shot (stats.PairedDiff)

    def best(self, kind: PointKind, min_size: int = 0) -> CurvePoint | None:
        """The highest-scoring point of a kind (of at least ``min_size``); ties go to the
        cheaper point (fewer tokens, or fewer train rows)."""
        scored = [p for p in self.points if p.kind == kind and p.scored and p.size >= min_size]
        if not scored:
            return None
        return max(scored, key=lambda p: (p.score or 0.0, -(p.tokens_per_query or 0), -p.size))

    def table(self) -> list[dict[str, Any]]:
        """One row per point, as the CLI and the TUI show them."""
        return [
            {
                "point": p.label,
                "score": None if p.score is None else round(p.score, 3),
                "ci": p.ci,
                "tokens_per_query": p.tokens_per_query,
                "s_per_query": p.s_per_query,
                "train_s": p.train_seconds,
                "run": p.run_id,
                "status": p.status + (f" ({p.error})" if p.error else ""),
            }
            for p in self.points
        ]

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["points"] = [p.to_dict() for p in self.points]
        return data


@dataclass
class CurveEvent:
    fraction: float  # of the whole curve, 0..1
    message: str  # one line for a person
    curve: Curve | None = None  # after each point: the curve so far
