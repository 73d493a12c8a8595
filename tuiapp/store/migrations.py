"""Append-only schema migrations.

Each step is one small function registered in order with ``@migration``. A step is never edited
once it has shipped: change the schema by appending a new step. Applied steps are recorded by
name in ``_migrations``, so a database from any earlier release is brought forward in order.
"""

from collections.abc import Callable
from datetime import UTC, datetime

import sqlite_utils

Step = Callable[[sqlite_utils.Database], None]
MIGRATIONS: list[tuple[str, Step]] = []


def migration(fn: Step) -> Step:
    MIGRATIONS.append((fn.__name__, fn))
    return fn


def migrate(db: sqlite_utils.Database, upto: int | None = None) -> list[str]:
    """Apply pending steps (the first ``upto`` only, for tests) and return their names."""
    db["_migrations"].create({"name": str, "applied": str}, pk="name", if_not_exists=True)
    done = {row["name"] for row in db["_migrations"].rows}
    applied = []
    for name, step in MIGRATIONS[:upto]:
        if name in done:
            continue
        # One explicit transaction per step (DDL included): a failed step changes nothing.
        db.execute("BEGIN")
        try:
            step(db)
            db["_migrations"].insert({"name": name, "applied": datetime.now(UTC).isoformat()})
        except BaseException:
            db.conn.rollback()
            raise
        db.conn.commit()
        applied.append(name)
    return applied


@migration
def m001_conversations(db: sqlite_utils.Database) -> None:
    db["conversations"].create(
        {"id": int, "title": str, "model": str, "created": str, "updated": str},
        pk="id",
    )
    db["messages"].create(
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
    db["messages"].create_index(["conversation_id"])
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
    db["models"].create(
        {
            "name": str,
            "path": str,
            "source": str,  # embedded | added | discovered
            "added": str,
        },
        pk="name",
    )
    # Header metadata and sha256, cached per file identity (path, size, mtime).
    db["model_files"].create(
        {
            "path": str,
            "size": int,
            "mtime_ns": int,
            "sha256": str,
            "meta": str,  # JSON of GGUFInfo
        },
        pk="path",
    )
