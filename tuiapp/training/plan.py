"""Planning a training run: every check that needs no ML library, then the run record.

Everything that can be wrong with a request (unknown method, bad option, bad data line,
unsupported architecture, missing package, taken adapter name) fails here, in milliseconds,
before a process is started. Nothing in this module imports torch, transformers or peft.
"""

import importlib.util
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any, Literal

import sqlite_utils

from tuiapp.errors import BadInput
from tuiapp.plugins.manager import load_methods
from tuiapp.store import open_db
from tuiapp.training import data as datasets
from tuiapp.training.base import check_architecture, resolve_base
from tuiapp.training.config import RunConfig, split_options
from tuiapp.training.store import AdapterStore, Run, check_adapter_name, runs_dir

TRAIN_STACK = ("torch", "transformers", "peft", "accelerate")


@dataclass
class DataSource:
    """Where the training rows come from: exactly one of the three kinds."""

    kind: Literal["file", "conversations", "examples"]
    path: str | None = None
    conversation_ids: list[int] = field(default_factory=list)
    set_name: str | None = None
    shots: int = 0  # examples only: few-shot rows in each prompt, as at inference
    selector: str = "fixed"
    train_rows: int | None = None  # examples only: train on this many (a nested subset)

    @classmethod
    def file(cls, path: str | Path) -> "DataSource":
        return cls("file", path=str(path))

    @classmethod
    def conversations(cls, ids: list[int]) -> "DataSource":
        return cls("conversations", conversation_ids=list(ids))

    @classmethod
    def examples(
        cls,
        set_name: str,
        shots: int = 0,
        selector: str = "fixed",
        train_rows: int | None = None,
    ) -> "DataSource":
        return cls(
            "examples", set_name=set_name, shots=shots, selector=selector, train_rows=train_rows
        )

    def describe(self) -> str:
        if self.kind == "file":
            return f"file:{self.path}"
        if self.kind == "conversations":
            return "conversations:" + ",".join(map(str, self.conversation_ids))
        shots = f" ({self.shots}-shot)" if self.shots else ""
        subset = f" ({self.train_rows} train rows)" if self.train_rows else ""
        return f"examples:{self.set_name}{shots}{subset}"

    def stem(self) -> str:
        if self.kind == "file":
            return Path(self.path or "data").stem
        if self.kind == "conversations":
            return "chats"
        return self.set_name or "examples"


@dataclass
class TrainRequest:
    method: str
    source: DataSource
    model: str | None = None  # "default", a registry name, a GGUF path or an HF directory
    options: dict[str, Any] = field(default_factory=dict)  # method and training options
    out_name: str | None = None


def plan_training(request: TrainRequest, db: sqlite_utils.Database | None = None) -> RunConfig:
    """Check everything, render the data, create the run record and its directory."""
    db = db if db is not None else open_db()
    check_train_stack()
    method = load_methods().get(request.method)
    method_options, train_options = split_options(method, request.options)
    # the GPU first: installing a package would not help a machine without one
    if method.capabilities.needs_cuda and _torch_is_cpu_build():
        raise BadInput(
            f"Method '{method.name}' needs a CUDA GPU, and the installed torch is a "
            "CPU build; on this machine use lora (or dora, ia3, prompt_tuning)."
        )
    missing = [p for p in method.capabilities.needs_packages if importlib.util.find_spec(p) is None]
    if missing:
        raise BadInput(
            f"Method '{method.name}' needs {', '.join(missing)}: pip install {' '.join(missing)}"
        )
    base, fmt = resolve_base(request.model, db)
    check_architecture(base, method)
    rows = datasets.split_rows(_rows(request.source, db, fmt), train_options["val_fraction"])
    if not any(r.split == "train" for r in rows):
        raise BadInput("The data has no training rows (every row is in the held-out split).")

    store = AdapterStore(db)
    if request.out_name:
        out_name = check_adapter_name(request.out_name)
        if why := store.name_taken(out_name):
            raise BadInput(f"{why}; pick another --out.")
    else:
        out_name = store.unique_adapter_name(f"{request.source.stem()}-{method.name}")
    run = store.create_run(
        Run(
            method=method.name,
            model=base.name,
            base_path=base.path,
            base_sha256=base.sha256,
            architecture=base.architecture,
            source=request.source.describe(),
            out_name=out_name,
            options=method_options,
            training=train_options,
            dataset_hash=datasets.dataset_hash(rows),
            n_train=sum(r.split == "train" for r in rows),
            n_val=sum(r.split == "heldout" for r in rows),
            status="prepared",
            max_steps=train_options["max_steps"] or None,
        )
    )
    assert run.id is not None
    run_dir = runs_dir() / str(run.id)
    run_dir.mkdir(parents=True, exist_ok=True)
    datasets.write_rows(rows, run_dir / "data.jsonl")
    config = RunConfig(
        run_id=run.id,
        run_dir=str(run_dir),
        method=method.name,
        method_options=method_options,
        training=train_options,
        base=base,
        data_path=str(run_dir / "data.jsonl"),
        dataset_hash=run.dataset_hash,
        out_name=out_name,
        source=run.source,
    )
    config.save()
    store.update_run(run.id, run_dir=str(run_dir))
    return config


def check_train_stack() -> None:
    missing = [m for m in TRAIN_STACK if importlib.util.find_spec(m) is None]
    if missing:
        raise BadInput(
            f"Training needs {', '.join(missing)}: pip install 'tuiapp[train]' "
            "(for a CPU-only machine install torch's CPU build first)."
        )


def _rows(source: DataSource, db: sqlite_utils.Database, fmt: Any) -> list[datasets.Row]:
    if source.kind == "file":
        return datasets.read_jsonl(Path(source.path or ""), fmt)[1]
    if source.kind == "conversations":
        if not source.conversation_ids:
            raise BadInput("Pick at least one conversation.")
        return datasets.from_conversations(db, source.conversation_ids, fmt)
    if source.kind == "examples":
        from tuiapp.library.seed import open_library

        return datasets.from_examples(
            open_library(db),
            source.set_name or "",
            fmt,
            source.shots,
            source.selector,
            train_rows=source.train_rows,
        )
    raise BadInput(f"Unknown data source {source.kind!r}: use file, conversations or examples.")


def _torch_is_cpu_build() -> bool:
    try:
        return "+cpu" in version("torch")
    except PackageNotFoundError:
        return False
