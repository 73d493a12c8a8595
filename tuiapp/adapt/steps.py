"""What the one-click adapt (``job``) and the learning curve (``curve``) share: the checks of
the example set and the method before any work, and the two child-process stages every trained
adapter goes through (train it, then convert it to a GGUF adapter with its parity check).

Each step reports through ``emit(fraction of the step or None, message, raw event)`` and holds
its child job in a ``Current``, so ``Current.cancel()`` from any thread reaches the stage in
progress: training checkpoints and stops, conversion stops; nothing half-made is registered.
"""

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import sqlite_utils

from tuiapp.adapt.records import AdaptCancelled, AdaptFailed
from tuiapp.errors import BadInput

if TYPE_CHECKING:
    from tuiapp.library.records import Template
    from tuiapp.plugins.hookspecs import Method

Emit = Callable[[float | None, str, dict[str, Any]], None]


def split_counts(db: sqlite_utils.Database, set_name: str) -> dict[str, int]:
    """Rows per split of a set that has train rows (NotFound, BadInput otherwise)."""
    from tuiapp.library.examples import ExampleStore

    counts = ExampleStore(db).counts(set_name)  # NotFound for a missing set, before any change
    if not counts.get("train"):
        raise BadInput(
            f"Example set '{set_name}' has no train rows: "
            f"`tuiapp examples split {set_name} --heldout 0.3` draws some."
        )
    return counts


def set_template(db: sqlite_utils.Database, set_name: str) -> "Template":
    """The set's template; a set without one gets a generated plain one first."""
    from tuiapp.library.examples import ExampleStore
    from tuiapp.library.shapes import attach_default_template
    from tuiapp.library.templates import TemplateStore

    attach_default_template(db, set_name)
    return TemplateStore(db).get(ExampleStore(db).get_set(set_name).template or "")


def adapter_method(name: str, instead: str) -> "Method":
    """Method ``name``, refused unless an exporter of it makes a file the chat hot-swaps (a
    GGUF LoRA adapter or a soft prompt); ``instead`` says what works for the caller."""
    from tuiapp.plugins.manager import load_methods

    registry = load_methods()
    method = registry.get(name)
    if registry.reach(name).hot_swap is None:
        raise BadInput(f"'{name}' adapters cannot be hot-swapped in llama.cpp; {instead}.")
    return method


class Current:
    """The child job of the step in progress, and whether the whole job was cancelled."""

    def __init__(self) -> None:
        self.cancelled = threading.Event()
        self.job: Any = None

    def cancel(self) -> None:
        self.cancelled.set()
        job = self.job
        if job is not None:
            job.cancel()

    def hold(self, job: Any) -> None:
        self.job = job
        if self.cancelled.is_set():  # cancelled while the child was starting
            job.cancel()

    def release(self) -> None:
        self.job = None


@dataclass
class Trained:
    adapter: str
    run_id: int
    seconds: float
    steps: int
    rows: int
    metrics: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "adapter": self.adapter,
            "seconds": self.seconds,
            "steps": self.steps,
            "rows": self.rows,
            "metrics": self.metrics,
        }


def train(
    db: sqlite_utils.Database,
    request: Any,  # tuiapp.training.TrainRequest
    current: Current,
    emit: Emit,
    started: Callable[[int], None] = lambda _run_id: None,
    resume_run: int | None = None,
) -> Trained:
    """Train (or, with ``resume_run``, continue that run) to a registered adapter."""
    from tuiapp.training.events import describe
    from tuiapp.training.jobs import resume_training, start_training

    t0 = time.perf_counter()
    job = resume_training(resume_run, db) if resume_run else start_training(request, db)
    current.hold(job)
    started(job.run_id)
    end: dict[str, Any] = {}
    try:
        for event in job.events():
            kind = event["event"]
            if kind == "step":
                emit(event["step"] / max(1, event.get("max_steps") or 1), describe(event), event)
            elif kind in ("phase", "started", "eval", "checkpoint"):
                emit(None, describe(event), event)
            else:
                end = event
    finally:
        current.release()
    if end.get("event") == "cancelled":
        raise AdaptCancelled(f"Cancelled while training: {describe(end)}")
    if end.get("event") != "finished":
        raise AdaptFailed(describe(end) if end else "training ended without a word")
    run = job.store.get_run(job.run_id)
    return Trained(
        adapter=str(end["adapter"]),
        run_id=job.run_id,
        seconds=round(time.perf_counter() - t0, 1),
        steps=run.step,
        rows=run.n_train,
        metrics=end.get("metrics", {}),
    )


def convert(
    db: sqlite_utils.Database,
    name: str,
    current: Current,
    emit: Emit,
    parity: bool = True,
    threads: int | None = None,
) -> dict[str, Any]:
    """Convert adapter ``name`` to a GGUF adapter: seconds, path, parity and any warning."""
    from tuiapp.conversion.jobs import parity_warning, start_export

    if current.cancelled.is_set():
        raise AdaptCancelled("Cancelled before conversion.")
    t0 = time.perf_counter()
    job = start_export(db, name, "adapter", parity=parity, threads=threads)
    current.hold(job)
    try:
        for event in job.events():
            if event["event"] == "progress":
                emit(event["fraction"], event["stage"], event)
    finally:
        current.release()
    if job.export is None:
        if current.cancelled.is_set():
            raise AdaptCancelled("Cancelled while converting.")
        raise AdaptFailed(job.error or "the conversion failed")
    warning = parity_warning(job.export)
    if warning:
        emit(1.0, warning, {"warning": warning})
    return {
        "seconds": round(time.perf_counter() - t0, 1),
        "path": job.export["path"],
        "parity": job.export["parity"],
        "warning": warning,
    }
