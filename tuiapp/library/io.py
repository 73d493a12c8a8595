"""Import and export of example sets: JSONL, CSV and YAML (template files: see ``templates``).

Imports are all-or-nothing: the whole file is parsed and checked first, every bad line is
collected as ``line N: problem``, and only a clean file is written, in one transaction.
Example rows are ``{"inputs": {...}, "output": ..., "label": ..., "split": ...}``; flat rows,
whose non-reserved keys are the inputs, are accepted too. YAML rows are read with the base
loader, so every value stays text (``yes`` is not turned into ``True``).
"""

import csv
import gc
import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlite_utils
import yaml

from tuiapp.errors import BadInput
from tuiapp.library.examples import ExampleStore, example_problem, validate_set
from tuiapp.library.records import Example, ExampleSet
from tuiapp.library.templates import dump_yaml, transaction

FORMATS = ("jsonl", "csv", "yaml")
EXTENSIONS = {".jsonl": "jsonl", ".ndjson": "jsonl", ".csv": "csv", ".yaml": "yaml", ".yml": "yaml"}
RESERVED = ("inputs", "output", "label", "split")
MAX_SHOWN = 20
NULLS = ("", "~", "null", "Null", "NULL")
BaseLoader = getattr(yaml, "CBaseLoader", yaml.BaseLoader)


@dataclass
class ImportResult:
    set_name: str
    added: int
    created: bool
    counts: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "set": self.set_name,
            "added": self.added,
            "created": self.created,
            "counts": self.counts,
        }


class Problems:
    """Bad lines of one file: all counted, the first ``MAX_SHOWN`` kept for the message."""

    def __init__(self) -> None:
        self.count = 0
        self.shown: list[str] = []

    def add(self, line: int, problem: str) -> None:
        self.count += 1
        if len(self.shown) < MAX_SHOWN:
            self.shown.append(f"line {line}: {problem}")

    def raise_if_any(self, where: str) -> None:
        if not self.count:
            return
        more = f"; … and {self.count - len(self.shown):,} more" if self.count > MAX_SHOWN else ""
        raise BadInput(
            f"{where}: nothing imported, {self.count:,} bad line"
            f"{'s' if self.count > 1 else ''}: " + "; ".join(self.shown) + more
        )


def detect_format(path: Path | str, fmt: str | None = None) -> str:
    if fmt:
        if fmt not in FORMATS:
            raise BadInput(f"Unknown format {fmt!r} (use {', '.join(FORMATS)}).")
        return fmt
    found = EXTENSIONS.get(Path(path).suffix.lower())
    if found is None:
        raise BadInput(
            f"{path}: cannot tell the format from the extension; "
            f"pass --format ({', '.join(FORMATS)})."
        )
    return found


def _decode(data: bytes, problems: Problems) -> str | None:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        problems.add(data[: exc.start].count(b"\n") + 1, "not UTF-8 text")
        return None


def _jsonl_rows(data: bytes, problems: Problems) -> list[tuple[int, Any]]:
    rows = []
    for n, raw in enumerate(data.split(b"\n"), start=1):
        if not raw.strip():
            continue
        try:
            rows.append((n, json.loads(raw.decode("utf-8-sig" if n == 1 else "utf-8"))))
        except UnicodeDecodeError:
            problems.add(n, "not UTF-8 text")
        except json.JSONDecodeError as exc:
            problems.add(n, f"invalid JSON ({exc.msg} at column {exc.colno})")
    return rows


def _csv_rows(data: bytes, problems: Problems) -> list[tuple[int, Any]]:
    text = _decode(data, problems)
    if text is None:
        return []
    reader, rows, header = csv.reader(io.StringIO(text, newline="")), [], None
    while True:
        start = reader.line_num + 1
        try:
            cells = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            problems.add(start, f"bad CSV ({exc})")
            if reader.line_num < start:  # no progress: stop rather than spin
                break
            continue
        if not any(c.strip() for c in cells):
            continue
        if header is None:
            header = [c.strip() for c in cells]
            if "output" not in header or len(set(header)) != len(header) or "" in header:
                problems.add(start, "the header needs an 'output' column and distinct names")
                return []
            continue
        if len(cells) != len(header):
            problems.add(start, f"expected {len(header)} columns, got {len(cells)}")
            continue
        row = dict(zip(header, cells, strict=True))
        inputs = {k: v for k, v in row.items() if k not in ("output", "label", "split")}
        rows.append(
            (
                start,
                {
                    "inputs": inputs,
                    "output": row["output"],
                    "label": row.get("label") or None,
                    "split": row.get("split") or None,
                },
            )
        )
    return rows


def _plain(node: yaml.Node, memo: dict[int, Any]) -> Any:
    """A composed node as plain str/list/dict. Shared (aliased) nodes map to one shared object,
    so an alias bomb is not expanded; a key that is not a scalar becomes '?'."""
    if isinstance(node, yaml.ScalarNode):
        return node.value
    if id(node) not in memo:
        if isinstance(node, yaml.SequenceNode):
            items: list[Any] = []
            memo[id(node)] = items
            items.extend(_plain(n, memo) for n in node.value)
        else:
            mapping: dict[str, Any] = {}
            memo[id(node)] = mapping
            for k, v in node.value:
                mapping[k.value if isinstance(k, yaml.ScalarNode) else "?"] = _plain(v, memo)
    return memo[id(node)]


def _yaml_rows(data: bytes, problems: Problems) -> tuple[list[tuple[int, Any]], dict[str, Any]]:
    text = _decode(data, problems)
    if text is None:
        return [], {}
    loader, memo = BaseLoader(text), dict[int, Any]()
    # Composing builds millions of small objects for a big file; the cyclic GC would rescan
    # them over and over (quadratic), and none of them can form a cycle we must collect.
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        root = loader.get_single_node()
        if root is None:
            return [], {}
        meta: dict[str, Any] = {}
        items: yaml.Node | None = root
        if isinstance(root, yaml.MappingNode):
            meta = {k: v for k, v in _plain(root, {}).items() if k != "examples"}
            items = next((v for k, v in root.value if k.value == "examples"), None)
        if not isinstance(items, yaml.SequenceNode):
            problems.add(
                root.start_mark.line + 1,
                "expected a list of rows or a mapping with an 'examples' list",
            )
            return [], {}
        return [(n.start_mark.line + 1, _plain(n, memo)) for n in items.value], meta
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problems.add(mark.line + 1 if mark else 1, f"invalid YAML ({getattr(exc, 'problem', exc)})")
        return [], {}
    finally:
        loader.dispose()
        if was_enabled:
            gc.enable()


def _text(value: Any) -> Any:
    """Scalars become text; mappings and lists are left for the check to refuse."""
    if value is None or isinstance(value, dict | list):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _to_example(raw: Any, yaml_nulls: bool) -> Example | str:
    if not isinstance(raw, dict):
        return "expected an object with inputs and 'output'"
    if "inputs" in raw:
        inputs = raw["inputs"]
        if extra := sorted(str(k) for k in raw if k not in RESERVED):
            return f"unknown keys {', '.join(extra)} (inputs go under 'inputs')"
        if not isinstance(inputs, dict):
            return "'inputs' must be a mapping of field -> text"
    else:
        inputs = {k: v for k, v in raw.items() if k not in RESERVED}
    output, label, split = raw.get("output"), raw.get("label"), raw.get("split")
    if yaml_nulls:
        label, split = (None if v in NULLS else v for v in (label, split))
    if output is None:
        return "missing output"
    if not all(isinstance(k, str) for k in inputs):
        return "field names must be text"
    return Example(
        inputs={k: _text(v) if v is not None else "" for k, v in inputs.items()},
        output=_text(output),
        label=_text(label),
        split=_text(split) or "train",
    )


def read_examples(
    data: bytes, fmt: str, target: ExampleSet | None, where: str, name: str = "imported"
) -> tuple[ExampleSet, list[Example]]:
    """Parse and check every row of a file for ``target`` (or for a new set named ``name``,
    whose fields come from the first good row). Raise one error listing the bad lines."""
    problems, meta = Problems(), dict[str, Any]()
    if fmt == "jsonl":
        rows = _jsonl_rows(data, problems)
    elif fmt == "csv":
        rows = _csv_rows(data, problems)
    else:
        rows, meta = _yaml_rows(data, problems)
    parsed = [(n, _to_example(raw, fmt == "yaml")) for n, raw in rows]
    new = target is None
    if target is None or not target.input_fields:
        first = next((ex for _, ex in parsed if isinstance(ex, Example)), None)
        text = {k: v for k, v in meta.items() if isinstance(v, str)}  # never str() a structure
        base = target or ExampleSet(
            name=name,
            description=text.get("description", ""),
            template=text.get("template"),
            labels=meta["labels"] if isinstance(meta.get("labels"), list) else None,
        )
        fields = meta.get("input_fields") or (list(first.inputs) if first else [])
        try:
            target = validate_set(ExampleSet(**{**base.to_dict(), "input_fields": fields}))
        except BadInput as exc:
            raise BadInput(f"{where}: {exc}") from None
    examples = []
    for n, ex in parsed:
        problem = ex if isinstance(ex, str) else example_problem(ex, target)
        if problem:
            problems.add(n, problem)
        elif isinstance(ex, Example):
            examples.append(ex)
    problems.raise_if_any(where)
    if not examples:
        raise BadInput(f"{where}: no examples in the file.")
    if new and target.labels is None and any(ex.label for ex in examples):
        target.labels = sorted({ex.label for ex in examples if ex.label})
    return target, examples


def import_examples(
    db: sqlite_utils.Database, set_name: str, path: Path | str, fmt: str | None = None
) -> ImportResult:
    """Append a file's rows to a set (created when missing), all or nothing."""
    path = Path(path)
    fmt = detect_format(path, fmt)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise BadInput(f"{path}: cannot read ({exc.strerror or exc}).") from None
    store = ExampleStore(db)
    existing = store.get_set(set_name) if store.exists(set_name) else None
    # Parse and check without the lock (a big file takes a moment); write in one transaction.
    target, examples = read_examples(data, fmt, existing, str(path), name=set_name)
    with transaction(db):
        if existing is None:
            store.create_set(target)
        store.add_many(set_name, examples)
        return ImportResult(set_name, len(examples), existing is None, store.counts(set_name))


def dump_examples(s: ExampleSet, rows: list[Example], fmt: str) -> str:
    """A set's rows in one of ``FORMATS``, readable again by ``read_examples``."""
    records = [
        {
            "inputs": r.inputs,
            "output": r.output,
            **({"label": r.label} if r.label is not None else {}),
            "split": r.split,
        }
        for r in rows
    ]
    if fmt == "jsonl":
        return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)
    if fmt == "yaml":
        return dump_yaml(records)
    out = io.StringIO(newline="")
    with_label = s.labels is not None or any(r.label is not None for r in rows)
    header = [*s.input_fields, "output", *(["label"] if with_label else []), "split"]
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    for r in rows:
        writer.writerow(
            [
                *(r.inputs[f] for f in s.input_fields),
                r.output,
                *([r.label or ""] if with_label else []),
                r.split,
            ]
        )
    return out.getvalue()


def export_examples(db: sqlite_utils.Database, set_name: str, fmt: str) -> str:
    store = ExampleStore(db)
    return dump_examples(store.get_set(set_name), store.examples(set_name), fmt)
