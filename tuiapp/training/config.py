"""What one training run is: the options every method shares, and the ``run.json`` the parent
writes for the child process. Plain data: importing this module imports no ML library."""

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from tuiapp.errors import BadInput
from tuiapp.plugins.methods import Method, Option, validate_options
from tuiapp.plugins.training_options import TRAINING_NAMES, TRAINING_OPTIONS


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
