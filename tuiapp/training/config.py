"""What one training run is: the options every method shares, and the ``run.json`` the parent
writes for the child process. Plain data: importing this module imports no ML library."""

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from tuiapp.errors import BadInput
from tuiapp.plugins.methods import Method, Option, validate_options

TRAINING_OPTIONS: tuple[Option, ...] = (
    Option(
        "max_steps",
        "int",
        0,
        "Optimizer steps to run; 0: run `epochs` over the data.",
        min=0,
        max=10_000_000,
    ),
    Option(
        "epochs",
        "float",
        3.0,
        "Passes over the training rows (when max_steps is 0).",
        min=0.01,
        max=1000,
    ),
    Option(
        "learning_rate",
        "float",
        3e-4,
        "Peak learning rate (each method sets its own default).",
        min=1e-8,
        max=1.0,
    ),
    Option("batch_size", "int", 4, "Rows per step on each device.", min=1, max=4096),
    Option(
        "grad_accum",
        "int",
        1,
        "Steps whose gradients are summed before an update "
        "(effective batch = batch_size x grad_accum).",
        min=1,
        max=4096,
    ),
    Option(
        "max_seq_len",
        "int",
        512,
        "Tokens per row; longer rows are cut (and counted).",
        min=8,
        max=1_048_576,
    ),
    Option(
        "warmup_ratio",
        "float",
        0.03,
        "Fraction of the steps spent warming the learning rate up.",
        min=0.0,
        max=0.5,
    ),
    Option(
        "lr_scheduler",
        "choice",
        "linear",
        "How the learning rate decays after warm-up.",
        choices=("linear", "cosine", "constant_with_warmup"),
    ),
    Option(
        "weight_decay",
        "float",
        0.0,
        "AdamW weight decay on the adapter's weights.",
        min=0.0,
        max=1.0,
    ),
    Option(
        "eval_every",
        "int",
        0,
        "Evaluate on the validation rows every N steps (0: only at the end).",
        min=0,
        max=10_000_000,
    ),
    Option(
        "save_every",
        "int",
        50,
        "Write a checkpoint every N steps (cancel always writes one).",
        min=1,
        max=10_000_000,
    ),
    Option(
        "val_fraction",
        "float",
        0.1,
        "Share of rows held out for validation when the data has no stored held-out split.",
        min=0.0,
        max=0.5,
    ),
    Option(
        "gradient_checkpointing",
        "bool",
        False,
        "Recompute activations in the backward pass: less memory, slower.",
    ),
    Option(
        "seed", "int", 0, "Seed for shuffling, dropout and initialisation.", min=0, max=2**31 - 1
    ),
    Option("threads", "int", 0, "CPU threads for torch (0: torch's default).", min=0, max=1024),
)
TRAINING_NAMES = {o.name for o in TRAINING_OPTIONS}


def training_schema(method: Method) -> tuple[Option, ...]:
    """The shared training options with the method's own defaults (learning rate...) applied."""
    from dataclasses import replace

    return tuple(
        replace(o, default=method.training_defaults[o.name])
        if o.name in method.training_defaults
        else o
        for o in TRAINING_OPTIONS
    )


def split_options(method: Method, given: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """``--opt`` values (method and training options share one namespace) -> both validated."""
    known = {o.name for o in method.options}
    unknown = sorted(set(given) - known - TRAINING_NAMES)
    if unknown:
        raise BadInput(
            f"Unknown option{'s' * (len(unknown) > 1)}: {', '.join(unknown)}. "
            f"'{method.name}' takes {', '.join(sorted(known)) or 'none'}; training "
            f"takes {', '.join(o.name for o in TRAINING_OPTIONS)}."
        )
    own = {k: v for k, v in given.items() if k not in TRAINING_NAMES}
    shared = {k: v for k, v in given.items() if k in TRAINING_NAMES}
    return (
        validate_options(method.options, own, f"'{method.name}'"),
        validate_options(training_schema(method), shared, "training"),
    )


@dataclass
class BaseModel:
    """The base the adapter is trained on: a GGUF file (dequantized, cached) or an HF dir."""

    kind: Literal["gguf", "hf"]
    path: str
    name: str  # registry name, or the directory's name
    sha256: str  # GGUF sha256, or the HF directory's fingerprint
    architecture: str  # GGUF architecture name ("gemma3"), or the HF model_type


@dataclass
class RunConfig:
    """Everything the child process needs, written as ``run.json`` in the run directory."""

    run_id: int
    run_dir: str
    method: str
    method_options: dict[str, Any]
    training: dict[str, Any]
    base: BaseModel
    data_path: str  # JSON lines of {prompt, completion, split}
    dataset_hash: str
    out_name: str  # the adapter name to register
    source: str = ""
    resume: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def checkpoints_dir(self) -> Path:
        return Path(self.run_dir) / "checkpoints"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def save(self, path: Path | None = None) -> Path:
        path = path or Path(self.run_dir) / "run.json"
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.to_dict(), indent=2, sort_keys=True))
        tmp.replace(path)
        return path

    @classmethod
    def load(cls, path: Path | str) -> "RunConfig":
        data = json.loads(Path(path).read_text())
        data["base"] = BaseModel(**data["base"])
        return cls(**data)
