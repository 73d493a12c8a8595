"""Records of the prompt library, shared by the store, few-shot assembly, evaluation and the UI."""

from dataclasses import asdict, dataclass, field
from typing import Any, Literal, get_args

from tuiapp.errors import one_of

Split = Literal["train", "heldout"]  # an example's fixed side of the train/held-out split
EvalMode = Literal["zero", "few", "adapter"]  # zero-shot, k-shot, or with an adapter on
SPLITS: tuple[Split, ...] = get_args(Split)
EVAL_MODES: tuple[EvalMode, ...] = get_args(EvalMode)


def as_split(value: str) -> Split:
    return one_of(value, SPLITS, "split")


def as_eval_mode(value: str) -> EvalMode:
    return one_of(value, EVAL_MODES, "mode")


@dataclass
class Template:
    """One version of a prompt template. ``body`` is sandboxed Jinja over named variables."""

    name: str
    body: str
    version: int = 1
    description: str = ""
    tags: list[str] = field(default_factory=list)
    system: str = ""
    output_field: str = "output"  # the name of what the model produces (for examples/eval)
    params: dict[str, Any] = field(default_factory=dict)  # default SamplingParams fields
    stop: list[str] = field(default_factory=list)
    created: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Example:
    """One labelled row: named input fields -> output (and an optional class label)."""

    inputs: dict[str, str]
    output: str
    label: str | None = None
    split: Split = "train"
    id: int | None = None
    set_name: str | None = None
    position: int = 0
    origin: dict[str, int] | None = None  # taught from a chat: {"conversation", "message"}

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def text(self) -> str:
        """Inputs and output flattened: what BM25 and embedding selection compare against."""
        return "\n".join([*self.inputs.values(), self.output])


@dataclass
class ExampleSet:
    name: str
    description: str = ""
    template: str | None = None
    input_fields: list[str] = field(default_factory=list)
    labels: list[str] | None = None  # allowed labels, for label tasks
    source: str = "user"  # builtin | user
    created: str = ""
    updated: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class EvalRun:
    """One evaluation: how a template + mode scored on a split. Adapter runs fit the same row."""

    template: str
    template_version: int
    set_name: str
    mode: EvalMode
    split: Split = "heldout"
    shots: int = 0
    selector: str | None = None
    adapter: str | None = None
    model: str = ""
    model_sha256: str = ""
    params: dict[str, Any] = field(default_factory=dict)
    status: str = "running"  # running | done | partial | failed
    error: str | None = None
    n_rows: int = 0
    n_scored: int = 0
    exact: float | None = None
    normalized: float | None = None
    chrf: float | None = None  # mean chrF (0..1) of the predictions
    label_accuracy: float | None = None
    prompt_tokens_per_query: float | None = None
    seconds_per_query: float | None = None
    started: str = ""
    finished: str | None = None
    id: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
