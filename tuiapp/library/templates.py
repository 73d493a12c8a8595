"""Versioned prompt templates: every edit or restore appends a version; old ones stay readable.

A deleted built-in leaves a tombstone row (``source = 'deleted'``, no versions) so that seeding
on the next start does not bring back what the user removed.
"""

import builtins
import hashlib
import json
import re
from dataclasses import fields, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlite_utils
import yaml

from tuiapp.chat.engine.sampling import SamplingParams
from tuiapp.errors import BadInput, NotFound
from tuiapp.library.records import Template
from tuiapp.library.render import parse, render
from tuiapp.store import db_lock, transaction  # noqa: F401  (re-exported)

FILE_KEYS = ("name", "description", "tags", "system", "body", "output_field", "params", "stop")
EDITABLE = FILE_KEYS[1:]
NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,99}")
DELETED = "deleted"


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def check_name(kind: str, name: str) -> str:
    if not isinstance(name, str) or not NAME_RE.fullmatch(name):
        raise BadInput(
            f"Bad {kind} name {name!r}: use letters, digits, '_', '.' or '-' (at most 100)."
        )
    return name


def label_of(t: Template) -> str:
    return f"Template '{t.name}' v{t.version}"


def content_hash(t: Template) -> str:
    """Hash of what a template says (not its name, version or date): detects edits on re-seed."""
    data = {k: getattr(t, k) for k in EDITABLE}
    text = json.dumps(data, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


def validate(t: Template) -> Template:
    """Check every field; return the template with lists and dicts normalised."""
    label = f"Template '{t.name}'"
    check_name("template", t.name)
    for key in ("body", "description", "system", "output_field"):
        if not isinstance(getattr(t, key), str):
            raise BadInput(f"{label}: '{key}' must be text.")
    if not t.body.strip():
        raise BadInput(f"{label}: the body is empty.")
    if not t.output_field.strip():
        raise BadInput(f"{label}: 'output_field' is empty.")
    stop = [t.stop] if isinstance(t.stop, str) else t.stop
    for key, value in (("tags", t.tags), ("stop", stop)):
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            raise BadInput(f"{label}: '{key}' must be a list of non-empty strings.")
    if not isinstance(t.params, dict):
        raise BadInput(f"{label}: 'params' must be a mapping of sampling options.")
    known = {f.name for f in fields(SamplingParams)}
    if unknown := sorted(set(t.params) - known):
        raise BadInput(
            f"{label}: unknown sampling params: {', '.join(unknown)} "
            f"(known: {', '.join(sorted(known))})."
        )
    try:
        SamplingParams.from_dict(t.params)
    except TypeError as exc:
        raise BadInput(f"{label}: bad sampling params: {exc}") from None
    parse(t.body, label)
    return replace(t, stop=list(stop), tags=list(t.tags), params=dict(t.params))


JSON_FIELDS = {"tags": "[]", "params": "{}", "stop": "[]"}  # stored as JSON text, with defaults


def _from_row(row: dict[str, Any]) -> Template:
    data: dict[str, Any] = {k: row[k] or "" for k in ("body", "description", "system", "created")}
    data |= {k: json.loads(row[k] or empty) for k, empty in JSON_FIELDS.items()}
    return Template(
        name=row["template"],
        version=row["version"],
        output_field=row["output_field"] or "output",
        **data,
    )


def _to_row(t: Template) -> dict[str, Any]:
    row = {
        k: getattr(t, k)
        for k in ("version", "body", "description", "system", "output_field", "created")
    }
    row |= {k: json.dumps(getattr(t, k), ensure_ascii=False) for k in JSON_FIELDS}
    return {"template": t.name, **row}


# -- template files (YAML, one template each) ----------------------------------------------
class _Dumper(yaml.SafeDumper):
    pass


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    # Multi-line text (bodies) as literal blocks; other text with a newline ("\n") double-quoted.
    style = ("|" if "\n" in value.strip() else '"') if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def dump_yaml(data: Any) -> str:
    return yaml.dump(data, Dumper=_Dumper, allow_unicode=True, sort_keys=False, width=100)


def to_yaml(t: Template) -> str:
    return dump_yaml({k: getattr(t, k) for k in FILE_KEYS})


def from_yaml(text: str, where: str, default_name: str | None = None) -> Template:
    """Read one template (keys ``FILE_KEYS``); ``where`` names the file in errors."""
    try:
        data = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f" on line {mark.line + 1}" if mark else ""
        raise BadInput(f"{where}: invalid YAML{line} ({getattr(exc, 'problem', exc)}).") from None
    if not isinstance(data, dict):
        raise BadInput(f"{where}: expected a mapping with at least 'name' and 'body'.")
    if unknown := sorted(str(k) for k in data if k not in (*FILE_KEYS, "version", "created")):
        raise BadInput(
            f"{where}: unknown keys {', '.join(unknown)} (known: {', '.join(FILE_KEYS)})."
        )
    name = data.get("name") or default_name
    if not isinstance(name, str | int) or "body" not in data:
        raise BadInput(f"{where}: a template needs 'name' and 'body'.")
    t = Template(
        name=str(name),
        body=data["body"],
        description=data.get("description") or "",
        tags=data.get("tags") or [],
        system=data.get("system") or "",
        output_field=data.get("output_field") or "output",
        params=data.get("params") or {},
        stop=data.get("stop") or [],
    )
    try:
        return validate(t)
    except BadInput as exc:
        raise BadInput(f"{where}: {exc}") from None


def load_file(path: Path | str) -> Template:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise BadInput(f"{path}: cannot read ({getattr(exc, 'strerror', None) or exc}).") from None
    return from_yaml(text, str(path), default_name=path.stem)


class TemplateStore:
    """All reads and writes of templates. Thread-safe: one lock around the connection."""

    def __init__(self, db: sqlite_utils.Database):
        self.db = db
        self.lock = db_lock(db)

    def _head(self, name: str) -> dict[str, Any] | None:
        rows = self.db.query(
            "SELECT * FROM templates WHERE name = ? AND source != ?", [name, DELETED]
        )
        return next(iter(rows), None)

    def exists(self, name: str) -> bool:
        with self.lock:
            return self._head(name) is not None

    def sources(self) -> dict[str, str]:
        with self.lock:
            rows = self.db.execute(
                "SELECT name, source FROM templates WHERE source != ?", [DELETED]
            ).fetchall()
        return dict(rows)

    # -- reads ------------------------------------------------------------------------------
    def get(self, name: str, version: int | None = None) -> Template:
        with self.lock:
            head = self._head(name)
            if head is None:
                raise NotFound(f"No template named '{name}'.")
            wanted = head["current_version"] if version is None else version
            rows = list(
                self.db.query(
                    "SELECT * FROM template_versions WHERE template = ? AND version = ?",
                    [name, wanted],
                )
            )
        if not rows:
            raise NotFound(
                f"Template '{name}' has no version {wanted} (latest is {head['current_version']})."
            )
        return _from_row(rows[0])

    def list(self) -> list[Template]:
        """The current version of every template, by name."""
        with self.lock:
            rows = self.db.query(
                """SELECT v.* FROM templates t JOIN template_versions v
                   ON v.template = t.name AND v.version = t.current_version
                   ORDER BY t.name"""
            )
            return [_from_row(r) for r in rows]

    def versions(self, name: str) -> builtins.list[Template]:
        """Every version of a template, oldest first."""
        with self.lock:
            if self._head(name) is None:
                raise NotFound(f"No template named '{name}'.")
            rows = self.db.query(
                "SELECT * FROM template_versions WHERE template = ? ORDER BY version", [name]
            )
            return [_from_row(r) for r in rows]

    def render(self, name: str, variables: dict[str, Any], version: int | None = None) -> str:
        t = self.get(name, version)
        return render(t.body, variables, label=label_of(t))

    # -- writes (each one transaction) ------------------------------------------------------
    def create(
        self, t: Template, source: str = "user", builtin_hash: str | None = None
    ) -> Template:
        """Add a new template as version 1. The name must not be taken."""
        t = validate(replace(t, version=1, created=now()))
        with transaction(self.db):
            if self._head(t.name) is not None:
                raise BadInput(f"A template named '{t.name}' already exists.")
            # A tombstone of a deleted built-in gives way to a template the user creates.
            self.db.execute("DELETE FROM templates WHERE name = ?", [t.name])
            self.db.table("templates").insert(
                {
                    "name": t.name,
                    "current_version": 1,
                    "source": source,
                    "builtin_hash": builtin_hash,
                    "created": t.created,
                    "updated": t.created,
                }
            )
            self.db.table("template_versions").insert(_to_row(t))
        return t

    def update(self, name: str, /, *, builtin_hash: str | None = None, **changes: Any) -> Template:
        """Append a version with ``changes`` applied; no change gives no new version."""
        if unknown := sorted(set(changes) - set(EDITABLE)):
            raise BadInput(f"Cannot change {', '.join(unknown)} of a template.")
        with transaction(self.db):
            current = self.get(name)
            new = validate(replace(current, **changes, version=current.version + 1, created=now()))
            head: dict[str, Any] = {} if builtin_hash is None else {"builtin_hash": builtin_hash}
            if content_hash(new) == content_hash(current):
                new = current
            else:
                self.db.table("template_versions").insert(_to_row(new))
                head |= {"current_version": new.version, "updated": new.created}
            if head:
                self.db.table("templates").update(name, head)
        return new

    def restore(self, name: str, version: int) -> Template:
        """Make an old version current again, by appending a copy of it."""
        old = self.get(name, version)
        return self.update(name, **{k: getattr(old, k) for k in EDITABLE})

    def delete(self, name: str) -> None:
        with transaction(self.db):
            head = self._head(name)
            if head is None:
                raise NotFound(f"No template named '{name}'.")
            self.db.execute("DELETE FROM template_versions WHERE template = ?", [name])
            if head["source"] == "builtin":
                self.db.table("templates").update(
                    name, {"source": DELETED, "current_version": 0, "updated": now()}
                )
            else:
                self.db.execute("DELETE FROM templates WHERE name = ?", [name])
