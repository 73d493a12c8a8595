"""Long work from the CLI: Ctrl-C handling, and following a training or conversion child.

``ctrl_c(first, again)`` is the one way a command takes Ctrl-C: the first press calls ``first``
(ask the work to stop cleanly), a second press calls ``again`` (stop at once). ``follow_training``
and ``follow_export`` print a child's events until it ends and turn its end into an exit status.
"""

import json
import signal
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import click

from tuiapp.cli.output import print_json
from tuiapp.errors import TuiappError

if TYPE_CHECKING:
    from tuiapp.conversion.jobs import ExportJob
    from tuiapp.training.attach import AttachedRun
    from tuiapp.training.jobs import TrainingJob


class TrainingFailed(TuiappError):
    exit_code = 1


class TrainingCancelled(TuiappError):
    exit_code = 130


@contextmanager
def ctrl_c(
    first: Callable[[], None], again: Callable[[], None] | None = None, message: str = ""
) -> Iterator[None]:
    """While inside: Ctrl-C calls ``first`` (and says ``message`` on stderr), a second press
    calls ``again`` (default: ``first`` again). The previous handler is restored after."""
    presses = 0

    def on_sigint(_signum: int, _frame: Any) -> None:
        nonlocal presses
        presses += 1
        if presses > 1 and again is not None:
            again()
            return
        if presses == 1 and message:
            click.echo(message, err=True)
        first()

    previous = signal.signal(signal.SIGINT, on_sigint)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


@contextmanager
def sigterm_as_ctrl_c() -> Iterator[list[bool]]:
    """While inside, SIGTERM raises KeyboardInterrupt as Ctrl-C does (so what a reply wrote
    is kept); the yielded list holds True once SIGTERM came (exit 143 after cleaning up)."""
    came = [False]

    def on_term(_signum: int, _frame: Any) -> None:
        came[0] = True
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, on_term)
    try:
        yield came
    finally:
        signal.signal(signal.SIGTERM, previous)


def follow_training(job: "TrainingJob | AttachedRun", as_json: bool) -> None:
    """Print a training run's events until it ends. Ctrl-C cancels a run this command started
    (twice: stops at once) and stops following one started elsewhere, which goes on."""
    from tuiapp.training.attach import AttachedRun
    from tuiapp.training.events import describe

    if not isinstance(job, AttachedRun):
        stopping = (
            "Cancelling: finishing the current step and writing a checkpoint "
            "(Ctrl-C again to stop at once)."
        )
        handling = ctrl_c(job.cancel, job.kill, stopping)
    else:
        leaving = (
            f"Stopped following run {job.run_id}; it goes on "
            f"(`tuiapp runs cancel {job.run_id}` stops it)."
        )
        handling = ctrl_c(job.detach, message=leaving)
    with handling:
        for event in job.events():
            if as_json:
                click.echo(json.dumps(event, default=str))
            elif event["event"] not in ("failed", "cancelled"):
                click.echo(describe(event))
            sys.stdout.flush()
    end = job.result or {}
    if end.get("event") == "failed":
        raise TrainingFailed(f"Training run {job.run_id} failed: {describe(end)}")
    if end.get("event") == "cancelled":
        raise TrainingCancelled(describe(end))


def follow_export(job: "ExportJob", as_json: bool) -> dict[str, Any]:
    """Show a conversion's progress until it ends; the stored export. Ctrl-C cancels it
    (nothing half-written is kept): ConversionFailed, as for any failure."""
    from tuiapp.conversion.jobs import ConversionFailed

    last_stage = None
    with ctrl_c(job.cancel, message="Cancelling the conversion…"):
        for event in job.events():
            if as_json:
                if event["event"] != "progress":
                    print_json(event)
            elif event["event"] == "progress" and event["stage"] != last_stage:
                last_stage = event["stage"]
                click.echo(f"[{event['fraction']:>4.0%}] {event['stage']}", err=True)
    if job.export is None:
        raise ConversionFailed(job.error or "The conversion failed.")
    return job.export
