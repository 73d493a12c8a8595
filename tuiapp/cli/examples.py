"""``tuiapp examples``: few-shot example sets (list, show, import, export, delete)."""

from pathlib import Path

import click

from tuiapp.cli.output import emit_export, json_option, print_json, print_table
from tuiapp.cli.root import cli
from tuiapp.library.examples import SPLITS, ExampleStore
from tuiapp.library.io import FORMATS, detect_format, export_examples, import_examples
from tuiapp.library.seed import open_library

format_option = click.option(
    "--format",
    "fmt",
    type=click.Choice(FORMATS),
    default=None,
    help="File format (default: from the file's extension).",
)


def _short(text: str, width: int = 48) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


@cli.group()
def examples() -> None:
    """Few-shot example sets: rows of input fields -> output (+ label), split train/heldout."""


@examples.command("list")
@json_option
def list_(as_json: bool) -> None:
    """List example sets with their row counts per split."""
    store = ExampleStore(open_library())
    counts = store.all_counts()
    sets = store.list_sets()
    empty = dict.fromkeys(SPLITS, 0)
    if as_json:
        print_json([s.to_dict() | {"counts": counts.get(s.name, empty)} for s in sets])
        return
    rows = [
        {
            "name": s.name,
            "fields": ", ".join(s.input_fields),
            "labels": ", ".join(s.labels or []),
            "template": s.template,
            "source": s.source,
            **counts.get(s.name, empty),
        }
        for s in sets
    ]
    print_table(rows, ["name", "fields", "labels", "template", *SPLITS, "source"])


@examples.command()
@click.argument("set_name")
@click.option("--split", type=click.Choice(SPLITS), default=None)
@click.option("--contains", default=None, help="Only rows whose text contains this.")
@click.option("-n", "--limit", type=int, default=None)
@json_option
def show(
    set_name: str, split: str | None, contains: str | None, limit: int | None, as_json: bool
) -> None:
    """Show a set's rows in order."""
    store = ExampleStore(open_library())
    s = store.get_set(set_name)
    rows = store.examples(set_name, split=split, contains=contains, limit=limit)
    if as_json:
        print_json(
            s.to_dict()
            | {"counts": store.counts(set_name), "examples": [r.to_dict() for r in rows]}
        )
        return
    table = [
        {
            "id": r.id,
            "split": r.split,
            "label": r.label,
            "inputs": _short(" | ".join(r.inputs.values())),
            "output": _short(r.output, 32),
        }
        for r in rows
    ]
    print_table(table, ["id", "split", "label", "inputs", "output"])


@examples.command("import")
@click.argument("set_name")
@click.argument("file", type=click.Path(path_type=Path))
@format_option
@json_option
def import_(set_name: str, file: Path, fmt: str | None, as_json: bool) -> None:
    """Import rows into a set (created when missing). All or nothing."""
    result = import_examples(open_library(), set_name, file, fmt)
    if as_json:
        print_json(result.to_dict())
        return
    counts = ", ".join(f"{k} {v}" for k, v in result.counts.items())
    new = " (new set)" if result.created else ""
    click.echo(f"Imported {result.added} rows into '{set_name}'{new}: {counts}.")


@examples.command()
@click.argument("set_name")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=None)
@format_option
@json_option
def export(set_name: str, output: Path | None, fmt: str | None, as_json: bool) -> None:
    """Write a set's rows as JSONL (default), CSV or YAML (stdout, or -o FILE)."""
    fmt = detect_format(output, fmt) if output and not fmt else fmt or "jsonl"
    text = export_examples(open_library(), set_name, fmt)
    emit_export(
        text,
        output,
        as_json,
        {"set": set_name, "format": fmt, **({} if output else {"content": text})},
    )


@examples.command()
@click.argument("set_name")
@json_option
def delete(set_name: str, as_json: bool) -> None:
    """Delete a set and all its rows."""
    ExampleStore(open_library()).delete_set(set_name)
    if as_json:
        print_json({"deleted": set_name})
    else:
        click.echo(f"Deleted example set '{set_name}'.")
