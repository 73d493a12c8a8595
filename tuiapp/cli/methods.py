"""``tuiapp methods``: the fine-tuning methods that plugins registered, and the broken ones."""

from typing import Any

import click

from tuiapp.cli.output import json_option, print_json, print_table
from tuiapp.cli.root import cli


@cli.group()
def methods() -> None:
    """Fine-tuning methods (plugins in the `tuiapp` entry-point group)."""


@methods.command("list")
@json_option
def list_(as_json: bool) -> None:
    """List methods; plugins that failed to load are listed with their error."""
    from tuiapp.plugins.manager import load_methods

    registry = load_methods()
    if as_json:
        print_json(
            {
                "methods": [m.to_dict() for m in registry.list()],
                "broken": [b.to_dict() for b in registry.broken],
            }
        )
        return
    print_table(
        [_summary(m) for m in registry.list()], ["name", "export", "needs", "plugin", "description"]
    )
    for broken in registry.broken:
        click.echo(
            f"BROKEN {broken.name} ({broken.module}, {broken.distribution}): {broken.error}",
            err=True,
        )


@methods.command()
@json_option
def exporters(as_json: bool) -> None:
    """List exporters: how trained adapters become files llama.cpp runs, with their options."""
    from tuiapp.plugins.manager import load_methods

    registry = load_methods()
    if as_json:
        print_json([e.to_dict() for e in registry.exporters()])
        return
    rows = [
        {
            "name": e.name,
            "produces": e.produces + (" (hot-swap)" if e.hot_swap else ""),
            "options": ", ".join(f"{o.name}={o.default}" for o in e.options) or "-",
            "plugin": e.plugin,
            "description": e.description,
        }
        for e in registry.exporters()
    ]
    print_table(rows, ["name", "produces", "options", "plugin", "description"])


@methods.command()
@click.argument("name")
@json_option
def show(name: str, as_json: bool) -> None:
    """A method's capabilities and options (method options, then training options)."""
    from tuiapp.plugins.manager import load_methods
    from tuiapp.training.config import training_schema

    method = load_methods().get(name)
    training = training_schema(method)
    if as_json:
        print_json(method.to_dict() | {"training_options": [o.to_dict() for o in training]})
        return
    click.echo(f"{method.name}: {method.description}")
    summary = _summary(method)
    click.echo(
        f"export: {summary['export']}   needs: {summary['needs']}   "
        f"architectures: {', '.join(method.capabilities.architectures or ['any'])}   "
        f"plugin: {method.plugin}"
    )
    for title, options in (("Method options", method.options), ("Training options", training)):
        click.echo(f"\n{title} (--opt KEY=VALUE):")
        print_table([_option_row(o) for o in options], ["name", "type", "default", "range", "help"])


def _summary(method: Any) -> dict[str, Any]:
    from tuiapp.plugins.manager import load_methods

    caps = method.capabilities
    reach = load_methods().reach(method.name)
    forms = [f"{e.name} (hot-swap)" for e in [reach.hot_swap] if e is not None]
    forms += [f"{e.name} (model)" for e in [reach.merge] if e is not None]
    export = ", ".join(forms) or "-"
    needs = ", ".join((["cuda"] if caps.needs_cuda else []) + list(caps.needs_packages)) or "-"
    return {
        "name": method.name,
        "export": export,
        "needs": needs,
        "plugin": method.plugin,
        "description": method.description,
    }


def _option_row(option: Any) -> dict[str, Any]:
    if option.choices:
        span = "|".join(option.choices)
    elif option.min is not None or option.max is not None:
        span = f"{_num(option.min)}..{_num(option.max)}"
    else:
        span = ""
    return {
        "name": option.name,
        "type": option.type,
        "default": _num(option.default),
        "range": span,
        "help": option.help,
    }


def _num(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)
