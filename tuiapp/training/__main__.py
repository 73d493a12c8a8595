"""The training child process: ``python -m tuiapp.training --config RUN_DIR/run.json``.

Writes JSON-lines events on stdout (see ``tuiapp.training.events``). SIGTERM or SIGINT cancels:
the current step finishes, a checkpoint is written and a ``cancelled`` event ends the run
(``--resume`` continues from that checkpoint). Any failure ends as one ``failed`` event.

Multi-GPU (data parallel, or FSDP through an accelerate config) needs no code of ours::

    accelerate launch -m tuiapp.training --config RUN_DIR/run.json

with a run directory prepared by ``tuiapp train ... --prepare-only``.
Exit status: 0 finished, 1 failed, 130 cancelled.
"""

import argparse
import os
import signal
import sys
import traceback
from pathlib import Path
from typing import Any

from tuiapp.children import outlive_parent
from tuiapp.errors import TuiappError
from tuiapp.training.cancel import CancelFlag, Cancelled
from tuiapp.training.config import RunConfig
from tuiapp.training.events import Emitter
from tuiapp.training.store import RunStatus

OOM_HINT = (
    "lower batch_size or max_seq_len (raise grad_accum to keep the effective batch), "
    "turn on gradient_checkpointing, or use qlora on a GPU"
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tuiapp.training",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--config", required=True, type=Path, help="the run's run.json")
    parser.add_argument("--resume", action="store_true", help="continue from the last checkpoint")
    args = parser.parse_args(argv)
    outlive_parent()
    config = RunConfig.load(args.config)
    config.resume = config.resume or args.resume
    main_rank = int(os.environ.get("RANK", "0")) == 0
    emit = Emitter(config.run_id, Path(config.run_dir) / "events.jsonl", enabled=main_rank)

    cancel = CancelFlag()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: cancel.request())
    try:
        from tuiapp.training import runner

        return 0 if runner.train(config, emit, cancel) == "done" else 130
    except Cancelled:
        _end(config, main_rank, "cancelled", "Cancelled before training started.")
        emit("cancelled", step=0, checkpoint=None, message="Cancelled before training started.")
        return 130
    except BaseException as exc:  # everything becomes one readable event
        error, hint = describe_failure(exc)
        traceback.print_exc(file=sys.stderr)  # the details go to the run's log
        _end(config, main_rank, "failed", error)
        emit("failed", error=error, hint=hint, log=str(Path(config.run_dir) / "train.log"))
        return 1


def describe_failure(exc: BaseException) -> tuple[str, str | None]:
    """(one line for a person, a hint or None)."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if isinstance(exc, TuiappError):
        return text, None
    if _is_oom(exc):
        return f"Out of memory: {text}", OOM_HINT
    if isinstance(exc, KeyboardInterrupt):
        return "Interrupted.", None
    return f"{type(exc).__name__}: {text}", "see the run's train.log for the traceback"


def _is_oom(exc: BaseException) -> bool:
    if isinstance(exc, MemoryError):
        return True
    torch: Any = sys.modules.get("torch")
    if torch is not None and isinstance(exc, getattr(torch, "OutOfMemoryError", ())):
        return True
    return "out of memory" in str(exc).lower()


def _end(config: RunConfig, main_rank: bool, status: RunStatus, error: str) -> None:
    if not main_rank:
        return
    try:
        from tuiapp.store import open_db
        from tuiapp.training.store import AdapterStore

        AdapterStore(open_db()).end_run(config.run_id, status, error)
    except Exception:  # the event still tells the parent; do not mask the first error
        traceback.print_exc(file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
