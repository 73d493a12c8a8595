"""Progress events: one JSON object per line on the child's stdout (and in ``events.jsonl``).

Every event has ``event`` (its type), ``run_id`` and ``time`` (Unix seconds). Types:

* ``phase``      — ``message``: what is happening before training starts (loading, caching).
* ``started``    — ``method``, ``device``, ``dtype``, ``max_steps``, ``n_train``, ``n_val``,
  ``truncated`` (rows cut to ``max_seq_len``), ``resumed_from`` (a step, or null).
* ``step``       — ``step``, ``max_steps``, ``loss``, ``learning_rate``, ``tokens`` (non-padding
  tokens trained on so far), ``tokens_per_second`` (since this process started training),
  ``eta_seconds``, ``epoch``.
* ``eval``       — ``step``, ``eval_loss``.
* ``checkpoint`` — ``step``, ``path``.
* ``finished``   — ``adapter`` (name), ``path``, ``metrics``. Terminal.
* ``cancelled``  — ``step``, ``checkpoint`` (path or null), ``message``. Terminal.
* ``failed``     — ``error`` (one line for a person), ``hint``, ``log`` (the child's log).
  Terminal.
"""

import json
import sys
import time
from pathlib import Path
from typing import Any, TextIO

TERMINAL = ("finished", "cancelled", "failed")


def make(kind: str, run_id: int, **fields: Any) -> dict[str, Any]:
    return {"event": kind, "run_id": run_id, "time": round(time.time(), 3), **fields}


class Emitter:
    """Writes events to stdout and to ``events.jsonl``.

    If the parent goes away (the TUI was closed), stdout breaks; the run carries on, still
    writing the file, and still registers its adapter at the end.
    """

    def __init__(
        self, run_id: int, log_path: Path | None, stream: TextIO | None = None, enabled: bool = True
    ) -> None:
        self.run_id = run_id
        self.stream: TextIO | None = stream if stream is not None else sys.stdout
        self.log_path = log_path
        self.enabled = enabled  # False on non-zero ranks of a multi-process launch
        self.last: dict[str, Any] | None = None

    def __call__(self, kind: str, **fields: Any) -> dict[str, Any]:
        event = make(kind, self.run_id, **fields)
        self.last = event
        if not self.enabled:
            return event
        line = json.dumps(event, default=str)
        if self.log_path is not None:
            with self.log_path.open("a") as f:
                f.write(line + "\n")
        if self.stream is not None:
            try:
                self.stream.write(line + "\n")
                self.stream.flush()
            except (BrokenPipeError, OSError, ValueError):
                self.stream = None
        return event


def describe(event: dict[str, Any]) -> str:
    """One line for a person (the CLI's progress output)."""
    kind = event["event"]
    if kind == "phase":
        return str(event.get("message", ""))
    if kind == "started":
        resumed = (
            f", resumed from step {event['resumed_from']}" if event.get("resumed_from") else ""
        )
        return (
            f"Training run {event['run_id']}: {event['method']} on {event['device']} "
            f"({event['dtype']}), {event['n_train']} rows ({event['n_val']} validation, "
            f"{event['truncated']} truncated), {event['max_steps']} steps{resumed}"
        )
    if kind == "step":
        eta = event.get("eta_seconds")
        eta_text = f"  ETA {_duration(eta)}" if eta is not None else ""
        return (
            f"step {event['step']}/{event['max_steps']}  loss {event['loss']:.4f}  "
            f"lr {event['learning_rate']:.2e}  {event['tokens_per_second']:.0f} tok/s"
            f"{eta_text}"
        )
    if kind == "eval":
        return f"eval at step {event['step']}: loss {event['eval_loss']:.4f}"
    if kind == "checkpoint":
        return f"checkpoint at step {event['step']}"
    if kind == "finished":
        return f"Adapter '{event['adapter']}' registered: {event['path']}"
    if kind == "cancelled":
        return str(event.get("message", "Cancelled."))
    if kind == "failed":
        hint = f" ({event['hint']})" if event.get("hint") else ""
        return f"{event['error']}{hint}"
    return json.dumps(event)


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"
