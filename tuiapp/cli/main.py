"""The ``tuiapp`` console script: the root group with every command module registered."""

import sys

import click

# Each module adds its commands to the root group when imported; the order is help's order.
from tuiapp.cli import (  # noqa: F401
    adapt,
    adapters,
    chat,
    curve,
    eval,
    examples,
    history,
    methods,
    models,
    prompts,
    runs,
    train,
)
from tuiapp.cli.root import cli

eval.eval_.add_command(curve.curve)  # `tuiapp eval curve` (its own module: eval's is full)


def main() -> None:
    try:
        cli(prog_name="tuiapp")
    except KeyboardInterrupt:
        click.echo("Interrupted.", err=True)
        sys.exit(130)
