"""``tuiapp examples``: few-shot example sets (list, show, import, edit, add, split, export,
delete)."""

from pathlib import Path
from typing import Any

import click

from tuiapp.cli.output import emit_export, json_option, print_json, print_table
from tuiapp.cli.root import cli
from tuiapp.errors import BadInput
from tuiapp.formatting import counts_text
from tuiapp.library.examples import SPLITS, ExampleStore
from tuiapp.library.io import FORMATS, detect_format, export_examples, import_examples
from tuiapp.library.seed import open_library
from tuiapp.library.splits import DEFAULT_HELDOUT

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
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the drawn split.")
@json_option
def import_(set_name: str, file: Path, fmt: str | None, seed: int, as_json: bool) -> None:
    """Import rows into a set (created when missing). All or nothing.

    Rows may be {"input": ..., "output": ...} (any field names), {"inputs": {...}, "output":
    ...}, Alpaca (instruction / input / output), prompt / completion, OpenAI "messages" or
    ShareGPT "conversations" (the last assistant turn is the output), in JSONL, CSV or TSV
    with a header row, or YAML. Rows without a split get a seeded, label-stratified quarter
    held out; a set without a template gets a generated one.
    """
    result = import_examples(open_library(), set_name, file, fmt, seed=seed)
    if as_json:
        print_json(result.to_dict())
        return
    click.echo(result.describe())


@examples.command()
@click.argument("set_name")
@click.option("--template", default=None, help="Template its rows are rendered with.")
@click.option("--description", default=None, help="One line about the set.")
@click.option(
    "--labels",
    default=None,
    help="Allowed labels, comma-separated; '' for a set without labels.",
)
@json_option
def edit(
    set_name: str,
    template: str | None,
    description: str | None,
    labels: str | None,
    as_json: bool,
) -> None:
    """Change a set's template, description or labels (the rows must still fit)."""
    from tuiapp.library.templates import TemplateStore

    db = open_library()
    changes: dict[str, Any] = {}
    if template is not None:
        TemplateStore(db).get(template)  # a missing template is named before anything changes
        changes["template"] = template
    if description is not None:
        changes["description"] = description
    if labels is not None:
        changes["labels"] = [x.strip() for x in labels.split(",") if x.strip()] or None
    if not changes:
        raise BadInput("Nothing to change: pass --template, --description or --labels.")
    updated = ExampleStore(db).update_set(set_name, **changes)
    if as_json:
        print_json(updated.to_dict())
    else:
        click.echo(f"Example set '{set_name}' updated: {', '.join(changes)}.")


@examples.command()
@click.argument("set_name")
@click.option(
    "-i",
    "--input",
    "inputs",
    multiple=True,
    help="FIELD=TEXT for each input field, or just TEXT for a set with one field.",
)
@click.option("-o", "--output", required=True, help="The expected output.")
@click.option("--label", default=None, help="The row's label (label sets).")
@click.option("--split", type=click.Choice(SPLITS), default="train", show_default=True)
@json_option
def add(
    set_name: str,
    inputs: tuple[str, ...],
    output: str,
    label: str | None,
    split: str,
    as_json: bool,
) -> None:
    """Add one row to a set."""
    from tuiapp.library.records import Example, as_split

    store = ExampleStore(open_library())
    fields = store.get_set(set_name).input_fields
    values: dict[str, str] = {}
    for item in inputs:
        name, sep, value = item.partition("=")
        if sep and name in fields:
            values[name] = value
        elif len(fields) == 1 and len(inputs) == 1:
            values[fields[0]] = item
        else:
            raise BadInput(
                f"--input {item!r}: use FIELD=TEXT with a field of '{set_name}' "
                f"({', '.join(fields)})."
            )
    missing = [f for f in fields if f not in values]
    if missing:
        raise BadInput(f"Missing --input for {', '.join(missing)} (FIELD=TEXT).")
    row = store.add(
        set_name, Example(inputs=values, output=output, label=label, split=as_split(split))
    )
    if as_json:
        print_json(row.to_dict())
    else:
        click.echo(f"Added row {row.id} to '{set_name}' ({row.split}).")


@examples.command()
@click.argument("set_name")
@click.option(
    "--heldout",
    type=float,
    default=DEFAULT_HELDOUT,
    show_default=True,
    help="Share of each label's rows to hold out.",
)
@click.option("--seed", type=int, default=0, show_default=True)
@json_option
def split(set_name: str, heldout: float, seed: int, as_json: bool) -> None:
    """Draw the train / held-out split of every row again (seeded, by label)."""
    store = ExampleStore(open_library())
    counts = store.redraw_splits(set_name, heldout, seed)
    if as_json:
        print_json({"set": set_name, "counts": counts})
    else:
        shown = counts_text(counts)
        click.echo(f"Example set '{set_name}' split again: {shown}.")


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
