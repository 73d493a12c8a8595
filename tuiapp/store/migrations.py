"""Append-only schema migrations.

Each step is one small function registered in order with ``@migration``. A step is never edited
once it has shipped: change the schema by appending a new step. Applied steps are recorded by
name in ``_migrations``, so a database from any earlier release is brought forward in order.
"""

from collections.abc import Callable
from datetime import UTC, datetime

import sqlite_utils

from tuiapp.store.writes import begin_immediate, retry_locked

Step = Callable[[sqlite_utils.Database], None]
MIGRATIONS: list[tuple[str, Step]] = []


def migration(fn: Step) -> Step:
    MIGRATIONS.append((fn.__name__, fn))
    return fn


def pending(db: sqlite_utils.Database) -> list[str]:
    """The names of the steps not yet applied to ``db`` (reads only)."""
    if not db.table("_migrations").exists():
        return [name for name, _ in MIGRATIONS]
    done = {row["name"] for row in db.table("_migrations").rows}
    return [name for name, _ in MIGRATIONS if name not in done]


def migrate(db: sqlite_utils.Database, upto: int | None = None) -> list[str]:
    """Apply pending steps (the first ``upto`` only, for tests) and return their names."""
    retry_locked(
        lambda: db.table("_migrations").create(
            {"name": str, "applied": str}, pk="name", if_not_exists=True
        )
    )
    done = {row["name"] for row in db.table("_migrations").rows}
    applied = []
    for name, step in MIGRATIONS[:upto]:
        if name in done:
            continue
        # One IMMEDIATE transaction per step (DDL included): a failed step changes nothing, and
        # a second process opening the same new file waits, then finds the step done.
        begin_immediate(db.conn)
        if db.table("_migrations").count_where("name = ?", [name]):
            db.conn.rollback()
            continue
        try:
            step(db)
            db.table("_migrations").insert({"name": name, "applied": datetime.now(UTC).isoformat()})
        except BaseException:
            db.conn.rollback()
            raise
        db.conn.commit()
        applied.append(name)
    return applied


@migration
def m001_conversations(db: sqlite_utils.Database) -> None:
    db.table("conversations").create(
        {"id": int, "title": str, "model": str, "created": str, "updated": str},
        pk="id",
    )
    db.table("messages").create(
        {
            "id": int,
            "conversation_id": int,
            "role": str,  # system | user | assistant
            "content": str,
            "model": str,
            "params": str,  # JSON of the sampling options used
            "prompt_tokens": int,
            "completion_tokens": int,
            "first_token_ms": float,
            "duration_ms": float,
            "stopped": int,  # 1 when the user stopped the reply mid-stream
            "created": str,
        },
        pk="id",
        foreign_keys=[("conversation_id", "conversations", "id")],
    )
    db.table("messages").create_index(["conversation_id"])
    # Full-text index kept in step by triggers. Plain statements, not sqlite-utils' enable_fts,
    # whose executescript would commit this step's transaction half-way.
    db.execute(
        "CREATE VIRTUAL TABLE messages_fts USING fts5(content, content=messages, content_rowid=id)"
    )
    db.execute(
        """CREATE TRIGGER messages_ai AFTER INSERT ON messages BEGIN
             INSERT INTO messages_fts(rowid, content) VALUES (new.id, new.content); END"""
    )
    db.execute(
        """CREATE TRIGGER messages_ad AFTER DELETE ON messages BEGIN
             INSERT INTO messages_fts(messages_fts, rowid, content)
             VALUES ('delete', old.id, old.content); END"""
    )
    db.execute(
        """CREATE TRIGGER messages_au AFTER UPDATE ON messages BEGIN
             INSERT INTO messages_fts(messages_fts, rowid, content)
             VALUES ('delete', old.id, old.content);
             INSERT INTO messages_fts(rowid, content) VALUES (new.id, new.content); END"""
    )


@migration
def m002_models(db: sqlite_utils.Database) -> None:
    db.table("models").create(
        {
            "name": str,
            "path": str,
            "source": str,  # embedded | added | discovered
            "added": str,
        },
        pk="name",
    )
    # Header metadata and sha256, cached per file identity (path, size, mtime).
    db.table("model_files").create(
        {
            "path": str,
            "size": int,
            "mtime_ns": int,
            "sha256": str,
            "meta": str,  # JSON of GGUFInfo
        },
        pk="path",
    )


@migration
def m003_templates(db: sqlite_utils.Database) -> None:
    # A template is its name plus an append-only list of versions; edits and restores add one.
    db.table("templates").create(
        {
            "name": str,
            "current_version": int,
            "source": str,  # builtin | user
            "builtin_hash": str,  # hash of the shipped file's version, to re-seed safely
            "created": str,
            "updated": str,
        },
        pk="name",
    )
    db.table("template_versions").create(
        {
            "id": int,
            "template": str,
            "version": int,
            "description": str,
            "tags": str,  # JSON list
            "body": str,  # Jinja (sandboxed)
            "system": str,
            "output_field": str,
            "params": str,  # JSON of default SamplingParams fields
            "stop": str,  # JSON list
            "created": str,
        },
        pk="id",
        foreign_keys=[("template", "templates", "name")],
    )
    db.table("template_versions").create_index(["template", "version"], unique=True)


@migration
def m004_example_sets(db: sqlite_utils.Database) -> None:
    db.table("example_sets").create(
        {
            "name": str,
            "description": str,
            "template": str,  # optional: the template whose variables the inputs fill
            "input_fields": str,  # JSON list of field names
            "labels": str,  # JSON list of allowed labels, for label tasks (else null)
            "source": str,  # builtin | user
            "builtin_hash": str,
            "created": str,
            "updated": str,
        },
        pk="name",
    )
    db.table("examples").create(
        {
            "id": int,
            "set_name": str,
            "position": int,  # stable order for the fixed selector
            "inputs": str,  # JSON object: field -> text
            "output": str,
            "label": str,
            "split": str,  # train | heldout, stored, never re-drawn
            "text": str,  # inputs and output flattened, indexed for BM25 selection
            "created": str,
        },
        pk="id",
        foreign_keys=[("set_name", "example_sets", "name")],
    )
    db.table("examples").create_index(["set_name", "split", "position"])
    db.execute(
        "CREATE VIRTUAL TABLE examples_fts USING fts5(text, content=examples, content_rowid=id)"
    )
    db.execute(
        """CREATE TRIGGER examples_ai AFTER INSERT ON examples BEGIN
             INSERT INTO examples_fts(rowid, text) VALUES (new.id, new.text); END"""
    )
    db.execute(
        """CREATE TRIGGER examples_ad AFTER DELETE ON examples BEGIN
             INSERT INTO examples_fts(examples_fts, rowid, text)
             VALUES ('delete', old.id, old.text);
           END"""
    )
    db.execute(
        """CREATE TRIGGER examples_au AFTER UPDATE ON examples BEGIN
             INSERT INTO examples_fts(examples_fts, rowid, text)
             VALUES ('delete', old.id, old.text);
             INSERT INTO examples_fts(rowid, text) VALUES (new.id, new.text); END"""
    )


@migration
def m005_embeddings(db: sqlite_utils.Database) -> None:
    # Embeddings from llama.cpp, cached per model file and per exact text.
    db.table("embeddings").create(
        {"model_sha256": str, "text_sha256": str, "dim": int, "vector": bytes},
        pk=("model_sha256", "text_sha256"),
    )


@migration
def m006_eval_runs(db: sqlite_utils.Database) -> None:
    db.table("eval_runs").create(
        {
            "id": int,
            "template": str,
            "template_version": int,
            "set_name": str,
            "split": str,
            "mode": str,  # zero | few | adapter
            "shots": int,
            "selector": str,
            "adapter": str,  # adapter name (and scale) for mode=adapter, else null
            "model": str,
            "model_sha256": str,
            "params": str,  # JSON: sampling and any other settings
            "status": str,  # running | done | partial | failed
            "error": str,
            "n_rows": int,
            "n_scored": int,
            "exact": float,
            "normalized": float,
            "label_accuracy": float,
            "prompt_tokens_per_query": float,
            "seconds_per_query": float,
            "started": str,
            "finished": str,
        },
        pk="id",
    )
    db.table("eval_rows").create(
        {
            "run_id": int,
            "example_id": int,
            "prediction": str,
            "expected": str,
            "exact": int,
            "normalized": int,
            "label_predicted": str,
            "label_correct": int,
            "prompt_tokens": int,
            "seconds": float,
        },
        pk=("run_id", "example_id"),
        foreign_keys=[("run_id", "eval_runs", "id")],
    )


@migration
def m007_training_runs_and_adapters(db: sqlite_utils.Database) -> None:
    # One row per training run, whatever its end; an adapter row only for a finished run,
    # written in the same transaction that marks the run done.
    db.table("runs").create(
        {
            "id": int,
            "method": str,
            "options": str,  # JSON: validated method options
            "training": str,  # JSON: validated training options
            "model": str,  # registry name or HF directory of the base
            "base_path": str,
            "base_sha256": str,  # GGUF sha256 (or a hash of the HF directory's weights)
            "architecture": str,
            "source": str,  # examples:SET | conversations:1,2 | file:PATH
            "dataset_hash": str,
            "n_train": int,
            "n_val": int,
            "out_name": str,  # the adapter name it will register
            "run_dir": str,
            "status": str,  # running | done | failed | cancelled
            "error": str,
            "metrics": str,  # JSON: final loss, eval loss, tokens/s, truncated rows...
            "step": int,  # last step reached (resume starts from its checkpoint)
            "max_steps": int,
            "pid": int,
            "adapter": str,  # adapter name once registered
            "started": str,
            "finished": str,
        },
        pk="id",
    )
    db.table("adapters").create(
        {
            "name": str,
            "run_id": int,
            "method": str,
            "options": str,  # JSON
            "base_model": str,
            "base_sha256": str,  # applies only to this base (ARCHITECTURE.md principle 3)
            "architecture": str,
            "dataset_hash": str,
            "metrics": str,  # JSON
            "path": str,  # PEFT-format directory
            "gguf_adapter_export": int,  # 1: can become a GGUF LoRA adapter; 0: merge only
            "mergeable": int,
            "created": str,
        },
        pk="name",
        foreign_keys=[("run_id", "runs", "id")],
    )
    db.table("adapters").create_index(["base_sha256"])


@migration
def m008_adapter_exports_and_conversation_adapters(db: sqlite_utils.Database) -> None:
    # exports: JSON {"adapter": Export, "merged-Q4_K_M": Export, ...} with parity reports.
    db.table("adapters").add_column("exports", str, not_null_default="{}")
    # adapters: JSON [{"name": ..., "scale": ...}], the mix applied to every reply.
    db.table("conversations").add_column("adapters", str, not_null_default="[]")
    # One row per one-click `adapt` (train -> convert -> parity -> evaluate -> attach).
    db.table("adapt_jobs").create(
        {
            "id": int,
            "set_name": str,
            "template": str,
            "method": str,
            "options": str,  # JSON
            "status": str,  # running | done | failed | cancelled
            "stage": str,  # the stage reached
            "error": str,
            "run_id": int,
            "adapter": str,
            "conversation_id": int,
            "report": str,  # JSON: every stage's figures
            "started": str,
            "finished": str,
        },
        pk="id",
    )


@migration
def m009_eval_chrf(db: sqlite_utils.Database) -> None:
    # chrF (character n-gram F-score): graded similarity for rewriting and summaries.
    db.table("eval_runs").add_column("chrf", float)
    db.table("eval_rows").add_column("chrf", float)


@migration
def m010_feedback_and_example_origin(db: sqlite_utils.Database) -> None:
    # A person's verdict on an assistant reply: good / bad, and the answer it should have been
    # (the reply itself stays as it was). Gone with its message.
    db.execute(
        """CREATE TABLE feedback (
             message_id INTEGER PRIMARY KEY REFERENCES messages(id) ON DELETE CASCADE,
             conversation_id INTEGER NOT NULL,
             rating TEXT CHECK (rating IN ('good', 'bad')),
             correction TEXT,
             created TEXT NOT NULL,
             updated TEXT NOT NULL)"""
    )
    db.execute("CREATE INDEX feedback_conversation ON feedback(conversation_id)")
    # Where a row came from when it was taught from a chat: JSON {"conversation", "message"}.
    db.table("examples").add_column("origin", str)
