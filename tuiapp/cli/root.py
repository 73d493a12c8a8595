"""The root ``tuiapp`` command group. Command modules add themselves to it; ``main`` imports them.

A ``TuiappError`` raised by any command becomes one line on stderr and a non-zero exit code; no
traceback reaches the user. So does a folder that cannot be made or written (a read-only data
dir), named with the problem.
"""

from typing import Any

import click

from tuiapp.errors import TuiappError
from tuiapp.store.writes import store_error


class Group(click.Group):
    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except TuiappError as exc:
            click.echo(f"Error: {exc}", err=True)
            ctx.exit(exc.exit_code)
        except (PermissionError, IsADirectoryError, NotADirectoryError) as exc:
            # a data dir folder that cannot be made or written (read-only, under a file)
            click.echo(f"Error: {store_error(exc, str(exc.filename or 'the data dir'))}", err=True)
            ctx.exit(1)


@click.group(cls=Group, invoke_without_command=True)
@click.option("-m", "--model", "model", default=None, help="Registry name, GGUF path or 'default'.")
@click.option("--threads", type=int, default=None, help="CPU threads (default: physical cores).")
@click.version_option(package_name="tuiapp")
@click.pass_context
def cli(ctx: click.Context, model: str | None, threads: int | None) -> None:
    """tuiapp: a local LLM workbench in the terminal. With no command, starts the TUI."""
    if ctx.invoked_subcommand is None:
        from tuiapp.app import run_app

        run_app(model_spec=model, n_threads=threads)
