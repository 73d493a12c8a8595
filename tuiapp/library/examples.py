"""Few-shot example sets and their rows: named input fields -> output (+ label), split stored.

Every row's ``inputs`` keys are exactly its set's ``input_fields`` (kept in that order), and the
``text`` column is ``Example.text()``, which the FTS5 index behind BM25 selection reads.
"""

import hashlib
import json
from dataclasses import replace
from typing import Any

import sqlite_utils

from tuiapp.errors import BadInput, NotFound
from tuiapp.library.records import SPLITS, Example, ExampleSet, as_split
from tuiapp.library.splits import draw_splits
from tuiapp.library.templates import DELETED, check_name, now, transaction
from tuiapp.store import db_lock

SET_EDITABLE = ("description", "template", "input_fields", "labels")
EXAMPLE_EDITABLE = ("inputs", "output", "label", "split")


def _names(values: list[str]) -> str:
    return ", ".join(values) or "(none)"


def validate_set(s: ExampleSet) -> ExampleSet:
    label = f"Example set '{s.name}'"
    check_name("example set", s.name)
    fields = s.input_fields
    if not isinstance(fields, list) or not all(
        isinstance(f, str) and f.isidentifier() for f in fields
    ):
        raise BadInput(f"{label}: input fields must be names made of letters, digits and '_'.")
    if len(set(fields)) != len(fields):
        raise BadInput(f"{label}: input fields repeat a name.")
    if s.labels is not None and (
        not isinstance(s.labels, list)
        or not all(isinstance(x, str) and x for x in s.labels)
        or len(set(s.labels)) != len(s.labels)
    ):
        raise BadInput(f"{label}: labels must be a list of distinct non-empty strings.")
    if s.template is not None and not isinstance(s.template, str):
        raise BadInput(f"{label}: 'template' must be a template name.")
    labels = None if s.labels is None else list(s.labels)
    return replace(s, input_fields=list(fields), labels=labels)


def example_problem(ex: Example, s: ExampleSet) -> str | None:
    """What is wrong with ``ex`` as a row of ``s`` (one short phrase), or None."""
    if not isinstance(ex.inputs, dict):
        return "inputs must be a mapping of field -> text"
    for key, value in ex.inputs.items():
        if not isinstance(value, str):
            return f"field '{key}' must be text"
    if s.input_fields and set(ex.inputs) != set(s.input_fields):
        missing = [f for f in s.input_fields if f not in ex.inputs]
        unknown = [f for f in ex.inputs if f not in s.input_fields]
        parts = [
            f"missing {_names(missing)}" if missing else "",
            f"unknown {_names(unknown)}" if unknown else "",
        ]
        return (
            f"wrong fields ({'; '.join(p for p in parts if p)}); "
            f"the set expects {_names(s.input_fields)}"
        )
    if not isinstance(ex.output, str):
        return "output must be text"
    if not ex.output.strip():
        return "missing output"
    if ex.split not in SPLITS:
        return f"unknown split {ex.split!r} (use {' or '.join(SPLITS)})"
    if ex.label is not None:
        if not isinstance(ex.label, str):
            return "label must be text"
        if s.labels is not None and ex.label not in s.labels:
            return f"label {ex.label!r} is not one of the set's labels ({_names(s.labels)})"
    return None


def set_hash(s: ExampleSet, rows: list[Example]) -> str:
    """Hash of a set's content (metadata + rows in order): detects edits on re-seed."""
    data = {
        "meta": [s.description, s.template, s.input_fields, s.labels],
        "rows": [[r.inputs, r.output, r.label, r.split] for r in rows],
    }
    return hashlib.sha256(json.dumps(data, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def _set_from_row(row: dict[str, Any]) -> ExampleSet:
    labels = row["labels"]
    return ExampleSet(
        name=row["name"],
        description=row["description"] or "",
        template=row["template"],
        input_fields=json.loads(row["input_fields"] or "[]"),
        labels=None if labels is None else json.loads(labels),
        source=row["source"],
        created=row["created"] or "",
        updated=row["updated"] or "",
    )


def _example_from_row(row: dict[str, Any]) -> Example:
    return Example(
        inputs=json.loads(row["inputs"]),
        output=row["output"],
        label=row["label"],
        split=row["split"],
        id=row["id"],
        set_name=row["set_name"],
        position=row["position"],
        origin=json.loads(row["origin"]) if row.get("origin") else None,
    )


class ExampleStore:
    """All reads and writes of example sets and rows. Thread-safe: one lock per connection."""

    def __init__(self, db: sqlite_utils.Database):
        self.db = db
        self.lock = db_lock(db)

    # -- sets -------------------------------------------------------------------------------
    def _set_row(self, name: str) -> dict[str, Any] | None:
        rows = self.db.query(
            "SELECT * FROM example_sets WHERE name = ? AND source != ?", [name, DELETED]
        )
        return next(iter(rows), None)

    def exists(self, name: str) -> bool:
        with self.lock:
            return self._set_row(name) is not None

    def get_set(self, name: str) -> ExampleSet:
        with self.lock:
            row = self._set_row(name)
        if row is None:
            raise NotFound(f"No example set named '{name}'.")
        return _set_from_row(row)

    def list_sets(self) -> list[ExampleSet]:
        with self.lock:
            rows = self.db.query(
                "SELECT * FROM example_sets WHERE source != ? ORDER BY name", [DELETED]
            )
            return [_set_from_row(r) for r in rows]

    def counts(self, name: str) -> dict[str, int]:
        """Rows per split of one set: {'train': n, 'heldout': m}."""
        self.get_set(name)
        return self.all_counts(name).get(name, dict.fromkeys(SPLITS, 0))

    def all_counts(self, name: str | None = None) -> dict[str, dict[str, int]]:
        """Rows per split of every set (or of one), by set name, in one query."""
        where, args = (" WHERE set_name = ?", [name]) if name else ("", [])
        with self.lock:
            rows = self.db.execute(
                f"SELECT set_name, split, count(*) FROM examples{where} GROUP BY set_name, split",
                args,
            ).fetchall()
        table: dict[str, dict[str, int]] = {}
        for set_name, split, n in rows:
            table.setdefault(set_name, dict.fromkeys(SPLITS, 0))[split] = n
        return table

    def create_set(self, s: ExampleSet, builtin_hash: str | None = None) -> ExampleSet:
        stamp = now()
        s = validate_set(replace(s, created=stamp, updated=stamp))
        with transaction(self.db):
            if self._set_row(s.name) is not None:
                raise BadInput(f"An example set named '{s.name}' already exists.")
            self.db.execute("DELETE FROM example_sets WHERE name = ?", [s.name])  # tombstone
            self.db.table("example_sets").insert(
                {
                    "name": s.name,
                    "description": s.description,
                    "template": s.template,
                    "input_fields": json.dumps(s.input_fields, ensure_ascii=False),
                    "labels": None
                    if s.labels is None
                    else json.dumps(s.labels, ensure_ascii=False),
                    "source": s.source,
                    "builtin_hash": builtin_hash,
                    "created": stamp,
                    "updated": stamp,
                }
            )
        return s

    def update_set(
        self, name: str, /, *, builtin_hash: str | None = None, **changes: Any
    ) -> ExampleSet:
        if unknown := sorted(set(changes) - set(SET_EDITABLE)):
            raise BadInput(f"Cannot change {', '.join(unknown)} of an example set.")
        with transaction(self.db):
            old = self.get_set(name)
            new = validate_set(replace(old, **changes, updated=now()))
            rows = self.examples(name)
            if rows and new.input_fields != old.input_fields:
                raise BadInput(
                    f"Example set '{name}' has rows: its input fields cannot "
                    "change (export, edit the file, import into a new set)."
                )
            bad = [r for r in rows if example_problem(r, new) is not None]
            if bad:
                raise BadInput(
                    f"Example set '{name}': {len(bad)} rows would not fit: "
                    f"{example_problem(bad[0], new)}."
                )
            self.db.table("example_sets").update(
                name,
                {
                    "description": new.description,
                    "template": new.template,
                    "input_fields": json.dumps(new.input_fields, ensure_ascii=False),
                    "labels": None if new.labels is None else json.dumps(new.labels),
                    "updated": new.updated,
                    **({"builtin_hash": builtin_hash} if builtin_hash is not None else {}),
                },
            )
        return new

    def delete_set(self, name: str) -> None:
        """Delete a set and its rows (a built-in leaves a tombstone so seeding skips it)."""
        with transaction(self.db):
            s = self.get_set(name)
            self.db.execute("DELETE FROM examples WHERE set_name = ?", [name])
            if s.source == "builtin":
                self.db.table("example_sets").update(name, {"source": DELETED, "updated": now()})
            else:
                self.db.execute("DELETE FROM example_sets WHERE name = ?", [name])

    # -- rows -------------------------------------------------------------------------------
    def _write(self, ex: Example) -> Example:
        origin = json.dumps(ex.origin) if ex.origin else None
        data = (json.dumps(ex.inputs, ensure_ascii=False), ex.output, ex.label, ex.split, ex.text())
        if ex.id is None:
            cur = self.db.conn.execute(
                "INSERT INTO examples (set_name, position, inputs, output, label, split, text, "
                "origin, created) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (ex.set_name, ex.position, *data, origin, now()),
            )
            return replace(ex, id=cur.lastrowid)
        self.db.conn.execute(
            "UPDATE examples SET inputs = ?, output = ?, label = ?, split = ?, text = ?, "
            "origin = ? WHERE id = ?",
            (*data, origin, ex.id),
        )
        return ex

    def add(self, set_name: str, ex: Example) -> Example:
        return self.add_many(set_name, [ex])[0]

    def add_many(self, set_name: str, examples: list[Example]) -> list[Example]:
        """Append rows after the last position, all or none. A set with no fields takes the
        first row's."""
        with transaction(self.db):
            s = self.get_set(set_name)
            if not s.input_fields and examples and isinstance(examples[0].inputs, dict):
                s = self.update_set(set_name, input_fields=list(examples[0].inputs))
            for i, ex in enumerate(examples):
                if problem := example_problem(ex, s):
                    where = f" (row {i + 1})" if len(examples) > 1 else ""
                    raise BadInput(f"Example for set '{set_name}'{where}: {problem}.")
            (last,) = self.db.execute(
                "SELECT coalesce(max(position), -1) FROM examples WHERE set_name = ?", [set_name]
            ).fetchone()
            return [
                self._write(
                    replace(
                        ex,
                        id=None,
                        set_name=set_name,
                        position=last + 1 + i,
                        inputs={f: ex.inputs[f] for f in s.input_fields},
                    )
                )
                for i, ex in enumerate(examples)
            ]

    def get(self, example_id: int) -> Example:
        with self.lock:
            rows = list(self.db.query("SELECT * FROM examples WHERE id = ?", [example_id]))
        if not rows:
            raise NotFound(f"No example with id {example_id}.")
        return _example_from_row(rows[0])

    def update(self, example_id: int, /, **changes: Any) -> Example:
        if unknown := sorted(set(changes) - set(EXAMPLE_EDITABLE)):
            raise BadInput(f"Cannot change {', '.join(unknown)} of an example.")
        with transaction(self.db):
            old = self.get(example_id)
            s = self.get_set(old.set_name or "")
            if isinstance(changes.get("inputs"), dict):  # a partial edit keeps the other fields
                changes["inputs"] = old.inputs | changes["inputs"]
            new = replace(old, **changes)
            if problem := example_problem(new, s):
                raise BadInput(f"Example {example_id}: {problem}.")
            return self._write(replace(new, inputs={f: new.inputs[f] for f in s.input_fields}))

    def delete(self, example_id: int) -> None:
        with transaction(self.db):
            self.get(example_id)
            self.db.execute("DELETE FROM examples WHERE id = ?", [example_id])

    def redraw_splits(self, set_name: str, fraction: float, seed: int = 0) -> dict[str, int]:
        """Draw every row's split again (``splits.draw_splits``); the new counts."""
        with transaction(self.db):
            rows = self.examples(set_name)
            for row, split in zip(rows, draw_splits(rows, fraction, seed), strict=True):
                if row.split != split:
                    self.db.execute("UPDATE examples SET split = ? WHERE id = ?", [split, row.id])
            return self.counts(set_name)

    def examples(
        self,
        set_name: str,
        split: str | None = None,
        contains: str | None = None,
        limit: int | None = None,
    ) -> list[Example]:
        """Rows in position order; ``contains`` filters on inputs+output, ignoring case."""
        if split is not None and split not in SPLITS:
            raise BadInput(f"Unknown split {split!r} (use {' or '.join(SPLITS)}).")
        sql = "SELECT * FROM examples WHERE set_name = ?"
        args: list[object] = [set_name]
        if split:
            sql, args = sql + " AND split = ?", [*args, split]
        if contains:
            sql, args = sql + " AND instr(lower(text), lower(?)) > 0", [*args, contains]
        sql += " ORDER BY position"
        if limit is not None:
            sql, args = sql + " LIMIT ?", [*args, limit]
        with self.lock:
            self.get_set(set_name)
            return [_example_from_row(r) for r in self.db.query(sql, args)]

    def from_conversation(
        self,
        set_name: str,
        user_text: str,
        reply_text: str,
        field: str | None = None,
        label: str | None = None,
        split: str = "train",
    ) -> Example:
        """Save a chat exchange as a row: ``field`` (default: the first input field) gets the
        user's text, other fields stay empty. A missing set is created with that one field."""
        with transaction(self.db):
            if not self.exists(set_name):
                self.create_set(
                    ExampleSet(
                        name=set_name,
                        input_fields=[field or "input"],
                        description="Saved from chat",
                    )
                )
            s = self.get_set(set_name)
            field = field or (s.input_fields[0] if s.input_fields else "input")
            if s.input_fields and field not in s.input_fields:
                raise BadInput(
                    f"Example set '{set_name}' has no field '{field}' "
                    f"(fields: {_names(s.input_fields)})."
                )
            inputs = dict.fromkeys(s.input_fields, "") | {field: user_text}
            return self.add(
                set_name,
                Example(inputs=inputs, output=reply_text, label=label, split=as_split(split)),
            )


def default_set_for(db: sqlite_utils.Database, template: str) -> str:
    """The one example set attached to ``template``; with none or several, a BadInput that says
    to name one with ``--examples`` (and lists those attached)."""
    attached = [s.name for s in ExampleStore(db).list_sets() if s.template == template]
    if len(attached) == 1:
        return attached[0]
    hint = f" (attached: {', '.join(attached)})" if attached else ""
    raise BadInput(f"Name the example set with --examples{hint}.")
