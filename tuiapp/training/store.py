"""Training runs and the adapters they produce, as stored in SQLite.

A run row exists from the moment a training starts; its status ends as ``done``, ``failed`` or
``cancelled``. An adapter row is written only for a finished run, in the same transaction that
marks the run done (``finish_run``): a failed or cancelled run never leaves a half-registered
adapter.
"""

import json
import os
import shutil
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import sqlite_utils

from tuiapp.children import pid_alive
from tuiapp.errors import BadInput, NotFound
from tuiapp.paths import data_dir
from tuiapp.plugins.exporters import Reach
from tuiapp.store import db_lock, insert_row, transaction
from tuiapp.training.checkpoints import steps_on_disk

_JSON = ("options", "training", "metrics", "exports")
ADAPTER_NAME_CHARS = "abcdefghijklmnopqrstuvwxyz0123456789-_."


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def adapters_dir() -> Path:
    path = data_dir() / "adapters"
    path.mkdir(parents=True, exist_ok=True)
    return path


def runs_dir() -> Path:
    path = data_dir() / "runs"
    path.mkdir(parents=True, exist_ok=True)
    return path


RunStatus = Literal["prepared", "running", "done", "failed", "cancelled"]


@dataclass
class Run:
    method: str
    model: str
    base_path: str
    base_sha256: str
    architecture: str
    source: str
    out_name: str
    options: dict[str, Any] = field(default_factory=dict)
    training: dict[str, Any] = field(default_factory=dict)
    dataset_hash: str = ""
    n_train: int = 0
    n_val: int = 0
    run_dir: str = ""
    status: RunStatus = "running"
    error: str | None = None
    metrics: dict[str, Any] = field(default_factory=dict)
    step: int = 0
    max_steps: int | None = None
    pid: int | None = None
    adapter: str | None = None
    started: str = ""
    finished: str | None = None
    id: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Adapter:
    name: str
    run_id: int
    method: str
    base_model: str
    base_sha256: str
    architecture: str
    path: str
    options: dict[str, Any] = field(default_factory=dict)
    dataset_hash: str = ""
    metrics: dict[str, Any] = field(default_factory=dict)
    created: str = ""
    # Conversions of this adapter: "adapter" (GGUF LoRA adapter) and "merged-<QUANT>" (full
    # GGUF), each ``Export.to_dict()`` plus ``created``: path, conversion figures, parity report.
    exports: dict[str, Any] = field(default_factory=dict)

    @property
    def gguf(self) -> str | None:
        """The GGUF adapter file the engine loads, once converted (and still on disk)."""
        export = self.exports.get("adapter")
        return export["path"] if export and Path(export["path"]).is_file() else None

    @property
    def exports_dir(self) -> Path:
        return Path(self.path) / "exports"

    @property
    def merged(self) -> list[str]:
        """The merged full GGUFs made from this adapter that are still on disk."""
        return [
            e["path"]
            for key, e in sorted(self.exports.items())
            if key.startswith("merged-") and Path(e["path"]).is_file()
        ]

    @property
    def reach(self) -> Reach:
        """How adapters of this method reach llama.cpp, from its exporters (as installed now)."""
        from tuiapp.plugins.manager import load_methods

        return load_methods().reach(self.method)

    @property
    def stand_in(self) -> str | None:
        """The merged model that runs this adapter when it has no hot-swap file: the first
        whose parity passed, else the first on disk; None otherwise."""
        if self.gguf is not None or not self.merged:
            return None
        passed = [
            e["path"]
            for key, e in sorted(self.exports.items())
            if key.startswith("merged-")
            and (e.get("parity") or {}).get("passed")
            and Path(e["path"]).is_file()
        ]
        return (passed or self.merged)[0]

    @property
    def export_state(self) -> str:
        """How the adapter reaches llama.cpp: gguf (a converted hot-swap file: GGUF LoRA or
        soft prompt), merged (a merged model only), convert or merge (not done yet), peft
        (no exporter can)."""
        if self.gguf:
            return "gguf"
        if self.merged:
            return "merged"
        reach = self.reach
        if reach.hot_swap is not None:
            return "convert"
        return "merge" if reach.merge is not None else "peft"

    @property
    def parity_state(self) -> str:
        """The parity check of every export (GGUF adapter and merged models): ``passed``,
        ``FAILED`` or ``unchecked`` when they agree, else each named (``adapter passed,
        merged-Q8_0 FAILED``); "" before any conversion."""
        states = {key: _parity_word(e.get("parity")) for key, e in sorted(self.exports.items())}
        if len(set(states.values())) <= 1:
            return next(iter(states.values()), "")
        return ", ".join(f"{key} {state}" for key, state in states.items())

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _parity_word(parity: dict[str, Any] | None) -> str:
    if parity is None:
        return "unchecked"
    return "passed" if parity.get("passed") else "FAILED"


def parse_source(source: str) -> tuple[str, str, int]:
    """A run's ``source`` as (kind, what, shots): ``examples:sentiment (2-shot)`` ->
    ("examples", "sentiment", 2); ``file:/x.jsonl`` -> ("file", "/x.jsonl", 0). A subset's
    `` (N train rows)`` is dropped."""
    kind, _, rest = source.partition(":")
    shots = 0
    if kind == "examples" and rest.endswith(" train rows)"):
        rest = rest.rpartition(" (")[0]
    if kind == "examples" and rest.endswith("-shot)") and " (" in rest:
        rest, _, count = rest.rpartition(" (")
        shots = int(count.removesuffix("-shot)"))
    return kind, rest, shots


def usable_gguf(adapter: Adapter, base_sha256: str | None = None, model_name: str = "") -> str:
    """The GGUF adapter file llama.cpp loads for ``adapter`` (on the base whose GGUF has
    ``base_sha256``, when given); BadInput saying what to do otherwise."""
    name = adapter.name
    if base_sha256 is not None and adapter.base_sha256 != base_sha256:
        raise BadInput(
            f"Adapter '{name}' was trained on another base model ({adapter.base_model}, "
            f"sha256 {adapter.base_sha256[:12]}…); the loaded model is {model_name or '?'} "
            f"(sha256 {(base_sha256 or '?')[:12]}…)."
        )
    if adapter.gguf is None and adapter.stand_in is not None:
        raise BadInput(
            f"Adapter '{name}' runs as a merged model, which cannot be mixed or put on "
            f"another model: use it alone (`-a {name}` and no -m), or load "
            f"{adapter.stand_in} as the model."
        )
    if adapter.gguf is None:
        hint = adapter.reach.hint(name)
        raise BadInput(f"Adapter '{name}' has no file llama.cpp can switch to: {hint}.")
    return adapter.gguf


def check_adapter_name(name: str) -> str:
    name = name.strip()
    if not name or name[0] in "-." or any(c not in ADAPTER_NAME_CHARS for c in name.lower()):
        raise BadInput(f"'{name}' cannot be an adapter name: use letters, digits, '-', '_', '.'")
    return name


class AdapterStore:
    """Reads and writes of ``runs`` and ``adapters``. Thread-safe: one lock per connection."""

    def __init__(self, db: sqlite_utils.Database) -> None:
        self.db = db
        self.lock = db_lock(db)

    # -- runs ------------------------------------------------------------------------------
    def create_run(self, run: Run) -> Run:
        row = _encode(run.to_dict())
        row.pop("id")
        row["started"] = run.started or now()
        return self.get_run(insert_row(self.db, "runs", row))

    def get_run(self, run_id: int) -> Run:
        with self.lock:
            rows = list(self.db.table("runs").rows_where("id = ?", [run_id]))
        if not rows:
            raise NotFound(f"No training run with id {run_id}. See `tuiapp runs list`.")
        return self._reconcile(Run(**_decode(rows[0])))

    def list_runs(self, limit: int | None = None) -> list[Run]:
        with self.lock:
            rows = list(self.db.table("runs").rows_where(order_by="id desc", limit=limit))
        return [self._reconcile(Run(**_decode(r))) for r in rows]

    def _reconcile(self, run: Run) -> Run:
        """A run still marked running whose process is gone (killed, machine rebooted) failed;
        its step is then what is on disk: the last complete checkpoint, where resume starts."""
        if run.status == "running" and run.pid and not pid_alive(run.pid) and run.id is not None:
            return self.fail_lost(run.id, "The training process ended without a word (killed?)")
        return run

    def fail_lost(self, run_id: int, why: str) -> Run:
        """Mark a run whose process died failed, at the step of its last complete checkpoint
        (where ``runs resume`` starts again), saying ``why`` and from where it resumes."""
        run_dir = self.db.table("runs").get(run_id)["run_dir"]
        step = steps_on_disk(Path(run_dir) / "checkpoints") if run_dir else None
        where = f"step {step}" if step else "the start (no complete checkpoint)"
        resume = f"`tuiapp runs resume {run_id}` continues from {where}"
        return self.end_run(run_id, "failed", f"{why}; {resume}.", step=step or 0)

    def update_run(self, run_id: int, **changes: Any) -> Run:
        with transaction(self.db):
            self.db.table("runs").update(run_id, _encode(changes))
        return self.get_run(run_id)

    def end_run(
        self, run_id: int, status: RunStatus, error: str | None = None, **changes: Any
    ) -> Run:
        """Mark a run failed or cancelled (nothing else is registered)."""
        return self.update_run(run_id, status=status, error=error, finished=now(), **changes)

    def finish_run(self, run_id: int, staged: Path, adapter: Adapter, **changes: Any) -> Adapter:
        """Move the staged adapter directory into place and register it with the run, at once.

        The rename happens first (atomic on one file system); if the database write then
        fails, the directory is removed again, so either both exist or neither does.
        """
        final = Path(adapter.path)
        if final.exists():
            raise BadInput(f"An adapter directory already exists at {final}.")
        os.replace(staged, final)
        row = _encode(adapter.to_dict())
        row["created"] = adapter.created or now()
        try:
            with transaction(self.db):
                self.db.table("adapters").insert(row)
                self.db.table("runs").update(
                    run_id,
                    _encode(
                        {
                            "status": "done",
                            "error": None,
                            "adapter": adapter.name,
                            "finished": now(),
                            **changes,
                        }
                    ),
                )
        except BaseException:
            shutil.rmtree(final, ignore_errors=True)
            raise
        return self.get_adapter(adapter.name)

    # -- adapters --------------------------------------------------------------------------
    def get_adapter(self, name: str) -> Adapter:
        with self.lock:
            rows = list(self.db.table("adapters").rows_where("name = ?", [name]))
        if not rows:
            raise NotFound(f"No adapter named '{name}'. See `tuiapp adapters list`.")
        return _adapter(rows[0])

    def record_export(self, name: str, key: str, export: dict[str, Any]) -> Adapter:
        """Keep a finished conversion (``Export.to_dict()``) on the adapter's record."""
        with transaction(self.db):
            adapter = self.get_adapter(name)
            exports = adapter.exports | {key: export | {"created": now()}}
            self.db.table("adapters").update(name, {"exports": json.dumps(exports, sort_keys=True)})
        return self.get_adapter(name)

    def delete_adapter(self, name: str) -> Path:
        """Unregister an adapter and move its folder to the trash (nothing is destroyed).

        Conversations that used it lose it from their mix; evaluation runs keep its name.
        Returns where the files went.
        """
        adapter = self.get_adapter(name)
        trash = data_dir() / "trash" / "adapters"
        trash.mkdir(parents=True, exist_ok=True)
        target = trash / f"{name}-{datetime.now(UTC).strftime('%Y%m%dT%H%M%S%f')}"
        with transaction(self.db):
            conversations = self.db.table("conversations")
            for row in conversations.rows_where("adapters like ?", [f'%"{name}"%']):
                mix = [a for a in json.loads(row["adapters"]) if a.get("name") != name]
                self.db.table("conversations").update(row["id"], {"adapters": json.dumps(mix)})
            self.db.table("adapters").delete(name)
            if Path(adapter.path).exists():
                os.replace(adapter.path, target)  # inside the transaction: fails -> rollback
        return target

    def adapter_exists(self, name: str) -> bool:
        with self.lock:
            return self.db.table("adapters").count_where("name = ?", [name]) > 0

    def list_adapters(self, base_sha256: str | None = None) -> list[Adapter]:
        where, args = ("base_sha256 = ?", [base_sha256]) if base_sha256 else (None, [])
        with self.lock:
            rows = list(self.db.table("adapters").rows_where(where, args, order_by="created desc"))
        return [_adapter(r) for r in rows]

    def name_taken(self, name: str) -> str | None:
        """Why ``name`` cannot be a new adapter's name, or None when it is free."""
        if self.adapter_exists(name) or (adapters_dir() / name).exists():
            return f"An adapter named '{name}' already exists"
        with self.lock:
            rows = list(
                self.db.table("runs").rows_where(
                    "out_name = ? AND status != 'done'", [name], select="id, status"
                )
            )
        if rows:
            return f"Run {rows[0]['id']} ({rows[0]['status']}) will register '{name}'"
        return None

    def pending_run(self, out_name: str) -> Run | None:
        """The newest unfinished run (cancelled, failed, running) that will register
        ``out_name``, or None."""
        with self.lock:
            rows = list(
                self.db.table("runs").rows_where(
                    "out_name = ? AND status != 'done'", [out_name], order_by="id desc", limit=1
                )
            )
        return self._reconcile(Run(**_decode(rows[0]))) if rows else None

    def unique_adapter_name(self, stem: str) -> str:
        """``stem``, or ``stem-2``, ``stem-3``... whichever is free (DB, disk, pending runs)."""
        stem = "".join(c if c.lower() in ADAPTER_NAME_CHARS else "-" for c in stem).strip("-.")
        stem = stem or "adapter"
        name, n = stem, 2
        while self.name_taken(name):
            name, n = f"{stem}-{n}", n + 1
        return name


def _encode(data: dict[str, Any]) -> dict[str, Any]:
    return {k: json.dumps(v, sort_keys=True) if k in _JSON else v for k, v in data.items()}


def _decode(row: dict[str, Any]) -> dict[str, Any]:
    return {k: json.loads(v or "{}") if k in _JSON else v for k, v in row.items()}


def _adapter(row: dict[str, Any]) -> Adapter:
    data = _decode(row)
    # columns of records made before exporters: what can be done is the method's exporters' call
    data.pop("gguf_adapter_export", None)
    data.pop("mergeable", None)
    return Adapter(**data)
