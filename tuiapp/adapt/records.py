"""What one-click adapt takes, reports and raises: the request, one progress event, the errors."""

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from tuiapp.errors import TuiappError

Stage = Literal["train", "convert", "evaluate", "attach", "done"]
Status = Literal["running", "done", "failed", "cancelled"]

# Each stage's share of the one progress bar (from, to).
STAGES: dict[Stage, tuple[float, float]] = {
    "train": (0.0, 0.70),
    "convert": (0.70, 0.82),
    "evaluate": (0.82, 0.98),
    "attach": (0.98, 1.0),
    "done": (1.0, 1.0),
}


class AdaptFailed(TuiappError):
    exit_code = 1


class AdaptCancelled(TuiappError):
    exit_code = 130


@dataclass
class AdaptRequest:
    set_name: str
    method: str = "lora"
    options: dict[str, Any] = field(default_factory=dict)  # method and training options
    model: str | None = None  # the base: the chat model when None
    shots: int | None = None  # the k-shot baseline; None: the best k of a quick sweep
    selector: str = "fixed"
    limit: int | None = None  # held-out rows scored per mode (None: all)
    out_name: str | None = None
    parity: bool = True
    threads: int | None = None
    conversation_id: int | None = None  # attach to this conversation (None: a new one)


@dataclass
class AdaptEvent:
    stage: Stage
    fraction: float  # of the whole job, 0..1
    message: str  # one line for a person
    detail: dict[str, Any] = field(default_factory=dict)  # the raw event of the stage

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
