"""Following a training run that another process started: the CLI or TUI that started it went
away (the child outlives its parent), or it runs from another terminal.

``attach_training(run_id)`` gives an ``AttachedRun``, which looks to a follower like the
``TrainingJob`` that started the run: ``events()`` replays what the run wrote to its
``events.jsonl`` so far, then follows the file until a terminal event (or until the process is
gone without one, which ends as ``failed``); ``cancel()`` asks the run to checkpoint and stop,
as ``tuiapp runs cancel`` does; ``kill()`` stops it at once. ``detach()`` stops following and
leaves the run alone (``owned`` is False: a follower that closes detaches, never cancels).
"""

import os
import signal
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import sqlite_utils

from tuiapp.children import parse_event, pid_alive
from tuiapp.errors import BadInput
from tuiapp.store import open_db
from tuiapp.training.events import TERMINAL, make
from tuiapp.training.store import AdapterStore

POLL_SECONDS = 0.25


class AttachedRun:
    owned = False  # started elsewhere: leaving detaches

    def __init__(self, run_id: int, pid: int, events_path: Path, store: AdapterStore) -> None:
        self.run_id = run_id
        self.pid = pid
        self.events_path = events_path
        self.store = store
        self.cancelled = threading.Event()
        self.detached = threading.Event()
        self.result: dict[str, Any] | None = None  # the terminal event, once seen

    def events(self) -> Iterator[dict[str, Any]]:
        """Every event so far, then each new one; ends with one terminal event (or early,
        with none, after ``detach()``)."""
        offset, pending = 0, ""
        while not self.detached.is_set():
            alive = pid_alive(self.pid)  # before reading: a last write is never missed
            chunk, offset = _read_from(self.events_path, offset)
            pending += chunk
            *lines, pending = pending.split("\n")
            for line in lines:
                event = parse_event(line)
                if event is None:
                    continue
                yield event
                if event["event"] in TERMINAL:
                    self.result = event
                    return
            if not alive:
                self.result = self._lost()
                yield self.result
                return
            self.detached.wait(POLL_SECONDS)

    def _lost(self) -> dict[str, Any]:
        run = self.store.get_run(self.run_id)  # marks a run still "running" as failed
        error = run.error or f"The training process {self.pid} ended without a last event."
        return make("failed", self.run_id, error=error, hint="see the run's train.log", log="")

    def cancel(self) -> None:
        self.cancelled.set()
        self._signal(signal.SIGTERM)

    def kill(self) -> None:
        self._signal(signal.SIGKILL)

    def detach(self) -> None:
        self.detached.set()

    def _signal(self, signum: int) -> None:
        try:
            os.kill(self.pid, signum)
        except ProcessLookupError:
            pass

    @property
    def running(self) -> bool:
        return pid_alive(self.pid)


def attach_training(run_id: int, db: sqlite_utils.Database | None = None) -> AttachedRun:
    """Follow run ``run_id``, which must still be running (refused otherwise, naming
    ``runs show`` for a run that ended and ``runs resume`` for one that stopped)."""
    store = AdapterStore(db if db is not None else open_db())
    run = store.get_run(run_id)  # a "running" run whose process is gone reads as failed
    if run.status != "running" or not run.pid:
        follow_up = (
            f"`tuiapp runs show {run_id}` shows how it ended"
            if run.status == "done"
            else f"`tuiapp runs resume {run_id}` continues it"
        )
        raise BadInput(f"Run {run_id} is not running (status: {run.status}); {follow_up}.")
    return AttachedRun(run_id, run.pid, Path(run.run_dir) / "events.jsonl", store)


def running_elsewhere(runs: list[Any]) -> int | None:
    """The newest run of ``runs`` (reconciled ``Run`` records) still running, if any."""
    live = [r.id for r in runs if r.status == "running" and r.pid and pid_alive(r.pid)]
    return max(live) if live else None


def _read_from(path: Path, offset: int) -> tuple[str, int]:
    try:
        with path.open("rb") as f:
            f.seek(offset)
            data = f.read()
    except FileNotFoundError:  # the child has not written its first event yet
        return "", offset
    return data.decode("utf-8", errors="replace"), offset + len(data)
