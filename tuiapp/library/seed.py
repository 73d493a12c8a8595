"""Built-in templates and example sets, seeded from the shipped ``prompts/`` files.

Layout: ``templates/<name>.yaml`` (one template each) and ``sets/<name>.yaml`` (name, description,
template, input_fields, labels) with ``sets/<name>.jsonl`` (its rows). Each built-in's content hash
is stored in ``builtin_hash``. On every start (cheap: one hash per file when nothing changed):
- a built-in not in the library is added;
- a changed built-in replaces the library's copy only while that copy is still exactly what
  was shipped (its content hash equals ``builtin_hash``); one the user edited is kept as it is;
- a name the user owns, or a built-in the user deleted (tombstone), is left alone.
"""

import logging
from dataclasses import dataclass, field
from importlib.abc import Traversable
from importlib.resources import files
from pathlib import Path
from typing import Any

import sqlite_utils
import yaml

from tuiapp.errors import BadInput
from tuiapp.library.examples import ExampleStore, set_hash, validate_set
from tuiapp.library.io import read_examples
from tuiapp.library.records import ExampleSet
from tuiapp.library.templates import (
    DELETED,
    EDITABLE,
    TemplateStore,
    content_hash,
    from_yaml,
    transaction,
)
from tuiapp.store import db_lock, open_db, read_only

log = logging.getLogger(__name__)
BUILTIN = "builtin"


@dataclass
class SeedReport:
    added_templates: list[str] = field(default_factory=list)
    updated_templates: list[str] = field(default_factory=list)
    added_sets: list[str] = field(default_factory=list)
    updated_sets: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # "template 'x': why", kept as the user has it
    errors: list[str] = field(default_factory=list)  # broken shipped files (a packaging bug)

    @property
    def changed(self) -> bool:
        return bool(
            self.added_templates or self.updated_templates or self.added_sets or self.updated_sets
        )

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def default_root() -> Traversable:
    return files("tuiapp") / "prompts"


def _files(folder: Traversable, suffix: str) -> list[Traversable]:
    if not folder.is_dir():
        return []
    return sorted((f for f in folder.iterdir() if f.name.endswith(suffix)), key=lambda f: f.name)


def _heads(db: sqlite_utils.Database, table: str) -> dict[str, tuple[str, str | None]]:
    rows = db.execute(f"SELECT name, source, builtin_hash FROM {table}").fetchall()
    return {name: (source, h) for name, source, h in rows}


def _why_skip(kind: str, name: str, source: str) -> str | None:
    if source == DELETED:
        return f"{kind} '{name}': deleted by the user"
    if source != BUILTIN:
        return f"{kind} '{name}': a user {kind} has this name"
    return None


def _seed_templates(db: sqlite_utils.Database, root: Traversable, report: SeedReport) -> None:
    store, heads = TemplateStore(db), _heads(db, "templates")
    for path in _files(root / "templates", ".yaml"):
        stem = path.name.removesuffix(".yaml")
        try:
            t = from_yaml(path.read_text(encoding="utf-8"), f"prompts/templates/{path.name}", stem)
        except (BadInput, OSError, UnicodeDecodeError) as exc:
            report.errors.append(str(exc))
            continue
        h = content_hash(t)
        if t.name not in heads:
            store.create(t, source=BUILTIN, builtin_hash=h)
            report.added_templates.append(t.name)
            continue
        source, shipped = heads[t.name]
        if shipped == h and source != DELETED:
            continue  # the usual case: nothing changed
        if why := _why_skip("template", t.name, source):
            report.skipped.append(why)
        elif content_hash(store.get(t.name)) in (shipped, h):
            store.update(t.name, builtin_hash=h, **{k: getattr(t, k) for k in EDITABLE})
            report.updated_templates.append(t.name)
        else:
            report.skipped.append(f"template '{t.name}': edited by the user, kept")


def _load_set(root: Traversable, path: Traversable) -> tuple[ExampleSet, list[Any]]:
    stem, where = path.name.removesuffix(".yaml"), f"prompts/sets/{path.name}"
    try:
        meta = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise BadInput(f"{where}: invalid YAML ({exc}).") from None
    if not isinstance(meta, dict):
        raise BadInput(f"{where}: expected a mapping (name, description, input_fields, ...).")
    s = validate_set(
        ExampleSet(
            name=str(meta.get("name") or stem),
            description=meta.get("description") or "",
            template=meta.get("template"),
            input_fields=meta.get("input_fields") or [],
            labels=meta.get("labels"),
            source=BUILTIN,
        )
    )
    rows_file = root / "sets" / f"{stem}.jsonl"
    if not rows_file.is_file():
        raise BadInput(f"{where}: its rows file prompts/sets/{stem}.jsonl is missing.")
    return read_examples(rows_file.read_bytes(), "jsonl", s, f"prompts/sets/{stem}.jsonl")


def _seed_sets(db: sqlite_utils.Database, root: Traversable, report: SeedReport) -> None:
    store, heads = ExampleStore(db), _heads(db, "example_sets")
    for path in _files(root / "sets", ".yaml"):
        try:
            s, rows = _load_set(root, path)
        except (BadInput, OSError, UnicodeDecodeError) as exc:
            report.errors.append(str(exc))
            continue
        h = set_hash(s, rows)
        if s.name not in heads:
            with transaction(db):
                store.create_set(s, builtin_hash=h)
                store.add_many(s.name, rows)
            report.added_sets.append(s.name)
            continue
        source, shipped = heads[s.name]
        if shipped == h and source != DELETED:
            continue
        if why := _why_skip("example set", s.name, source):
            report.skipped.append(why)
            continue
        with transaction(db):
            current = store.get_set(s.name)
            if set_hash(current, store.examples(s.name)) not in (shipped, h):
                report.skipped.append(f"example set '{s.name}': edited by the user, kept")
                continue
            db.execute("DELETE FROM examples WHERE set_name = ?", [s.name])
            store.update_set(
                s.name,
                builtin_hash=h,
                description=s.description,
                template=s.template,
                input_fields=s.input_fields,
                labels=s.labels,
            )
            store.add_many(s.name, rows)
        report.updated_sets.append(s.name)


def seed(db: sqlite_utils.Database, root: Traversable | Path | None = None) -> SeedReport:
    """Add new built-ins and upgrade unedited ones; never touch what the user changed."""
    root = default_root() if root is None else root
    report = SeedReport()
    with db_lock(db):
        _seed_templates(db, root, report)
        _seed_sets(db, root, report)
    for error in report.errors:
        log.warning("built-in prompt file skipped: %s", error)
    return report


def open_library(db: sqlite_utils.Database | None = None) -> sqlite_utils.Database:
    """The database with the built-ins seeded (once per ``Database`` object)."""
    db = open_db() if db is None else db
    if not getattr(db, "_tuiapp_seeded", False):
        if not read_only(db):  # a read-only data dir shows what it holds
            seed(db)
        db._tuiapp_seeded = True  # type: ignore[attr-defined]
    return db
