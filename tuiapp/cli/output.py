"""Small output helpers shared by the CLI commands."""

import json
import shlex
import sys
from pathlib import Path
from typing import Any

import click

from tuiapp.errors import BadInput, whole_numbers

json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
opt_option = click.option(
    "--opt",
    "opts",
    multiple=True,
    metavar="KEY=VALUE",
    help="A method or training option; repeat it (see `tuiapp methods show NAME`).",
)


def print_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, ensure_ascii=False, default=str))


def printable(text: str) -> str:
    """``text`` with control characters (escape sequences, bells, newlines) shown as
    ``\\x1b``, so stored text cannot drive the terminal a table is printed to."""
    return "".join(c if c.isprintable() else f"\\x{ord(c):02x}" for c in text)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list) and len(value) == 2 and all(isinstance(x, float) for x in value):
        return f"{value[0]:.2f}–{value[1]:.2f}"  # an interval
    return printable(str(value))


def print_table(rows: list[dict[str, Any]], columns: list[str]) -> None:
    """A plain aligned table; empty tables print a short note instead."""
    if not rows:
        click.echo("(none)")
        return
    cells = [[_cell(row.get(c)) for c in columns] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
    click.echo("  ".join(c.upper().ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip())
    for r in cells:
        click.echo("  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip())


def emit_export(text: str, output: Path | None, as_json: bool, record: dict[str, Any]) -> None:
    """Write an export to ``output`` (or stdout); with --json print ``record`` and the path."""
    if output:
        output.write_text(text, encoding="utf-8")
    if as_json:
        print_json(record | {"path": output and str(output)})
    elif output:
        click.echo(f"Wrote {output}", err=True)
    else:
        click.echo(text, nl=False)


def parse_ids(text: str, option: str = "--conversations") -> list[int]:
    """``3,7`` or ``3 7`` -> [3, 7]; BadInput naming ``option`` otherwise."""
    try:
        return whole_numbers(text, option)
    except BadInput:
        raise BadInput(f"{option} expects ids like 3,7 (got {shlex.quote(text)})") from None


def read_text_input(prompt: str | None, what: str = "PROMPT") -> str:
    """``prompt``, or stdin when it is None, as valid UTF-8 text; one BadInput otherwise
    (argv with invalid bytes arrives with surrogate escapes, which SQLite cannot store)."""
    if prompt is None:
        data: bytes = sys.stdin.buffer.read()
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise BadInput(
                f"The input on stdin is not valid UTF-8 (byte 0x{data[exc.start]:02x} at "
                f"offset {exc.start}); convert it first, e.g. `iconv -f latin1 -t utf-8`."
            ) from None
    try:
        prompt.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise BadInput(f"{what} is not valid UTF-8 (at character {exc.start}).") from None
    return prompt
