"""``tuiapp history``: list, search and export conversations."""

from pathlib import Path

import click

from tuiapp.chat.history import History
from tuiapp.cli.output import json_option, print_json, print_table
from tuiapp.cli.root import cli
from tuiapp.store import open_db


@cli.group()
def history() -> None:
    """Every conversation, kept and searchable."""


@history.command("list")
@click.option("-n", "--limit", type=int, default=None, help="Show at most N conversations.")
@json_option
def list_(limit: int | None, as_json: bool) -> None:
    """List conversations, most recent first."""
    convs = History(open_db()).list_conversations(limit)
    if as_json:
        print_json([c.to_dict() for c in convs])
    else:
        print_table([c.to_dict() for c in convs], ["id", "title", "model", "updated"])


@history.command()
@click.argument("query")
@click.option("-n", "--limit", type=int, default=50)
@json_option
def search(query: str, limit: int, as_json: bool) -> None:
    """Full-text search across all messages."""
    hits = History(open_db()).search(query, limit)
    if as_json:
        print_json([h.to_dict() for h in hits])
    else:
        rows = [h.to_dict() | {"conversation": h.conversation_id} for h in hits]
        print_table(rows, ["conversation", "conversation_title", "role", "snippet"])


@history.command()
@click.argument("conversation_id", type=int)
@click.option("--format", "fmt", type=click.Choice(["md", "jsonl"]), default="md")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=None)
def export(conversation_id: int, fmt: str, output: Path | None) -> None:
    """Export one conversation as Markdown or JSON lines."""
    text = History(open_db()).export(conversation_id, fmt)
    if output:
        output.write_text(text, encoding="utf-8")
        click.echo(f"Wrote {output}", err=True)
    else:
        click.echo(text, nl=False)
