"""The parent side of training: start the child, read its events, cancel, resume.

Typical use (CLI, or a Textual thread worker)::

    job = start_training(TrainRequest("lora", DataSource.file("data.jsonl")))
    for event in job.events():      # blocks; one dict per event, the last one terminal
        ...                         # from a worker thread: app.call_from_thread(update, event)
    job.cancel()                    # from any thread: the child checkpoints and stops

Nothing in this module imports torch, transformers or peft.
"""

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import sqlite_utils

from tuiapp.children import ChildJob, parse_event, pid_alive, spawn
from tuiapp.errors import BadInput
from tuiapp.store import open_db
from tuiapp.training.config import RunConfig
from tuiapp.training.events import TERMINAL, make
from tuiapp.training.plan import TrainRequest, plan_training
from tuiapp.training.store import AdapterStore


def start_training(request: TrainRequest, db: sqlite_utils.Database | None = None) -> "TrainingJob":
    """Plan the run and start its child process."""
    return TrainingJob.spawn(plan_training(request, db), db)


def resume_training(run_id: int, db: sqlite_utils.Database | None = None) -> "TrainingJob":
    """Continue a cancelled or failed run from its last checkpoint (or from the start)."""
    store = AdapterStore(db if db is not None else open_db())
    run = store.get_run(run_id)
    if run.status == "done":
        raise BadInput(f"Run {run_id} already finished: adapter '{run.adapter}'.")
    if run.status == "running" and run.pid and pid_alive(run.pid):
        raise BadInput(f"Run {run_id} is still running (process {run.pid}).")
    config = RunConfig.load(Path(run.run_dir) / "run.json")
    config.resume = True
    return TrainingJob.spawn(config, store.db)


def run_events(run_id: int, db: sqlite_utils.Database | None = None) -> list[dict[str, Any]]:
    """Every event a run wrote so far (to show a run started elsewhere, or a finished one)."""
    run = AdapterStore(db if db is not None else open_db()).get_run(run_id)
    path = Path(run.run_dir) / "events.jsonl"
    if not run.run_dir or not path.is_file():
        return []
    return [e for e in map(parse_event, path.read_text().splitlines()) if e is not None]


class TrainingJob(ChildJob):
    """A running training child; ``events()`` ends with exactly one terminal event.
    ``cancel()`` makes it checkpoint and stop after the current step; ``kill()`` stops it at
    once, without a checkpoint."""

    what = "training process"

    def __init__(
        self, config: RunConfig, process: subprocess.Popen[str], db: sqlite_utils.Database | None
    ) -> None:
        super().__init__(process, Path(config.run_dir) / "train.log")
        self.config = config
        self.run_id = config.run_id
        self.store = AdapterStore(db if db is not None else open_db())
        self.result: dict[str, Any] | None = None  # the terminal event, once seen

    @classmethod
    def spawn(cls, config: RunConfig, db: sqlite_utils.Database | None = None) -> "TrainingJob":
        run_dir = Path(config.run_dir)
        cmd = [sys.executable, "-m", "tuiapp.training", "--config", str(run_dir / "run.json")]
        if config.resume:
            cmd.append("--resume")
        process = spawn(cmd, run_dir / "train.log")
        job = cls(config, process, db)
        job.store.update_run(
            config.run_id, status="running", pid=process.pid, error=None, finished=None
        )
        return job

    def events(self) -> Iterator[dict[str, Any]]:
        """Events as the child writes them; ends with exactly one terminal event."""
        for event in self.read():
            if event["event"] in TERMINAL:
                self.result = event
            yield event
        if self.result is None:  # killed, or crashed before it could say so
            self.result = self._lost()
            yield self.result

    def _lost(self) -> dict[str, Any]:
        run = self.store.get_run(self.run_id)  # marks a run still "running" as failed
        if self.cancelled.is_set():  # kill() after cancel(): stopped without a new checkpoint
            if run.status in ("running", "failed"):
                self.store.end_run(self.run_id, "cancelled", "Stopped at once by the user.")
            return make(
                "cancelled",
                self.run_id,
                step=run.step,
                checkpoint=None,
                message=f"Stopped at step {run.step} without a new checkpoint; "
                f"`tuiapp runs resume {self.run_id}` continues from the last one.",
            )
        error = self.store.fail_lost(self.run_id, self.lost_message()).error
        return make("failed", self.run_id, error=error, hint=f"see {self.log}", log=str(self.log))

    def wait(self, timeout: float | None = None) -> int:
        return self.process.wait(timeout)
