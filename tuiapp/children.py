"""Child processes for heavy work (training, conversion): one way to start them.

The child gets the same data dir however the parent found it, unbuffered output (JSON-lines
events are read as they come), no network for Hugging Face, and its own session, so a Ctrl-C
meant for the TUI or the CLI does not reach it: the parent cancels it with SIGTERM instead.
``ChildJob`` is what every such child looks like to its parent: JSON-lines events on stdout,
the stderr log for when it dies without a word, cancel and kill.
"""

import io
import json
import os
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO

from tuiapp.paths import data_dir


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` runs (a zombie, exited but not reaped, does not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie (exited, not yet reaped by its parent) is not running
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return True


def child_env() -> dict[str, str]:
    return os.environ | {
        "TUIAPP_HOME": str(data_dir()),
        "PYTHONUNBUFFERED": "1",
        "TOKENIZERS_PARALLELISM": "false",
        "HF_HUB_OFFLINE": "1",  # everything is local: never wait on a network
        "HF_HUB_DISABLE_PROGRESS_BARS": "1",
        # The child shares the cores with the chat's llama.cpp threads (and anything else):
        # OpenMP threads that spin while waiting collapse throughput when cores are
        # oversubscribed (measured 5-8x slower per training step on 2 busy cores); passive
        # waiting does not.
        "OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY", "PASSIVE"),
    }


def spawn(cmd: list[str], log: Path) -> "subprocess.Popen[str]":
    """Start ``cmd`` with its stdout piped (text, line-buffered) and stderr appended to ``log``."""
    with log.open("a") as err:
        return subprocess.Popen(
            cmd,
            stdout=subprocess.PIPE,
            stderr=err,
            text=True,
            env=child_env(),
            start_new_session=True,
            bufsize=1,
        )


class _ParentProof(io.TextIOBase):
    """A child's stdout that outlives its parent: once the pipe breaks (the CLI or the TUI
    went away), writes go nowhere instead of raising in whatever library printed."""

    def __init__(self, stream: TextIO) -> None:
        self.stream: TextIO | None = stream

    def write(self, text: str) -> int:
        if self.stream is not None:
            try:
                self.stream.write(text)
            except (BrokenPipeError, OSError, ValueError):
                self.stream = None
        return len(text)

    def flush(self) -> None:
        if self.stream is not None:
            try:
                self.stream.flush()
            except (BrokenPipeError, OSError, ValueError):
                self.stream = None

    def isatty(self) -> bool:
        return False

    @property
    def encoding(self) -> str:  # type: ignore[override]  # TextIOBase declares it read-only
        return "utf-8"

    def fileno(self) -> int:
        if self.stream is None:
            raise OSError("the parent's pipe is gone")
        return self.stream.fileno()


def outlive_parent() -> None:
    """Called first in a child process: its stdout (the pipe to the parent) survives a parent
    that dies; the run carries on and its events still go to its run directory's files.
    stderr is a log file already."""
    sys.stdout = _ParentProof(sys.stdout)


PROGRESS_BAR = re.compile(r"\d+%\|")  # tqdm's "Loading: 100%|████| 236/236": says nothing


def telling_line(log: str) -> str | None:
    """The line of a child's log that says why it died: the last exception line
    (``ValueError: ...``), else the last line that is not a warning's source echo."""
    lines = [line.strip() for line in log.strip().splitlines() if line.strip()]
    for line in reversed(lines):
        head = line.split(":", 1)[0]
        if head.endswith(("Error", "Exception", "Interrupt")) and " " not in head:
            return line
    for line in reversed(lines):
        echo = line.startswith(("warnings.warn(", "File ")) or "Warning:" in line
        if not echo and not PROGRESS_BAR.search(line):
            return line
    return None


def parse_event(line: str) -> dict[str, Any] | None:
    """The event on ``line``, or None for anything else a library printed to stdout."""
    line = line.strip()
    if not line.startswith("{"):
        return None
    try:
        data = json.loads(line)
    except json.JSONDecodeError:
        return None
    return data if isinstance(data, dict) and "event" in data else None


class ChildJob:
    """A running child that reports events as JSON lines. ``read()`` is used by one thread;
    ``cancel()`` and ``kill()`` may come from any."""

    what = "child process"  # how lost_message names it: "the training process", ...
    owned = True  # this process started it: closing the follower cancels it

    def __init__(self, process: "subprocess.Popen[str]", log: Path) -> None:
        self.process = process
        self.log = log
        self.cancelled = threading.Event()

    def read(self) -> Iterator[dict[str, Any]]:
        """Each event the child writes, in order; returns once it has exited."""
        assert self.process.stdout is not None
        for line in self.process.stdout:
            event = parse_event(line)
            if event is not None:
                yield event
        self.process.wait()

    def lost_message(self) -> str:
        """Why the child ended without a last event: its exit status and its log's last line."""
        code = self.process.wait()
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        status = f"killed by {signal.Signals(-code).name}" if code < 0 else f"exit status {code}"
        why = f"the {self.what} ended unexpectedly ({status})"
        line = telling_line(text)
        return f"{why}: {line}" if line else why

    def cancel(self) -> None:
        """Ask the child to stop (SIGTERM: it ends its current step and says so)."""
        self.cancelled.set()
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        """Stop at once (SIGKILL): the child gets no chance to clean up or report."""
        if self.process.poll() is None:
            self.process.kill()

    @property
    def running(self) -> bool:
        return self.process.poll() is None
