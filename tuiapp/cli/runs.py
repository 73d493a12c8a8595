"""``tuiapp runs``: training runs, whatever their end; resume or cancel one."""

import os
import signal
from typing import TYPE_CHECKING

import click

from tuiapp.cli.output import json_option, print_json, print_table
from tuiapp.cli.root import cli
from tuiapp.errors import BadInput
from tuiapp.formatting import loss_text

if TYPE_CHECKING:
    from tuiapp.training.store import AdapterStore


def _store() -> "AdapterStore":
    from tuiapp.store import open_db
    from tuiapp.training.store import AdapterStore

    return AdapterStore(open_db())


@cli.group()
def runs() -> None:
    """Training runs (`tuiapp train` starts one)."""


@runs.command("list")
@click.option("-n", "--limit", type=int, default=None, help="Show the N most recent runs.")
@json_option
def list_(limit: int | None, as_json: bool) -> None:
    """List runs, newest first."""
    found = _store().list_runs(limit)
    if as_json:
        print_json([r.to_dict() for r in found])
        return
    rows = [
        {
            "id": r.id,
            "status": r.status,
            "method": r.method,
            "model": r.model,
            "source": r.source,
            "steps": f"{r.step}/{r.max_steps or '?'}",
            "loss": loss_text(r.metrics),
            "adapter": r.adapter or "",
            "started": r.started,
        }
        for r in found
    ]
    print_table(
        rows, ["id", "status", "method", "model", "source", "steps", "loss", "adapter", "started"]
    )


@runs.command()
@click.argument("run_id", type=int)
@json_option
def show(run_id: int, as_json: bool) -> None:
    """One run: options, data, base, metrics, error."""
    run = _store().get_run(run_id)
    if as_json:
        print_json(run.to_dict())
        return
    for key, value in run.to_dict().items():
        if isinstance(value, dict):
            value = ", ".join(f"{k}={v}" for k, v in value.items()) or "-"
        click.echo(f"{key:>14}: {'' if value is None else value}")


@runs.command()
@click.argument("run_id", type=int)
@json_option
def resume(run_id: int, as_json: bool) -> None:
    """Continue a cancelled or failed run from its last checkpoint."""
    from tuiapp.cli.jobs import follow_training
    from tuiapp.training import resume_training

    follow_training(resume_training(run_id), as_json)


@runs.command()
@click.argument("run_id", type=int)
@json_option
def follow(run_id: int, as_json: bool) -> None:
    """Follow a run started elsewhere (another terminal, a CLI or TUI that went away): its
    progress so far, then each step until it ends. Ctrl-C stops following; the run goes on."""
    from tuiapp.cli.jobs import follow_training
    from tuiapp.training.attach import attach_training

    follow_training(attach_training(run_id), as_json)


@runs.command()
@click.argument("run_id", type=int)
def cancel(run_id: int) -> None:
    """Ask a running training (started anywhere: CLI or TUI) to checkpoint and stop."""
    run = _store().get_run(run_id)
    if run.status != "running" or not run.pid:
        raise BadInput(f"Run {run_id} is not running (status: {run.status}).")
    try:
        os.kill(run.pid, signal.SIGTERM)
    except ProcessLookupError:
        raise BadInput(f"Run {run_id}'s process {run.pid} is gone.") from None
    click.echo(f"Asked run {run_id} to stop; it writes a checkpoint after the current step.")
