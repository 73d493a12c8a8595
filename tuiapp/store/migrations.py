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
        with db.conn:  # one transaction per step: a failed step leaves the schema as it was
            step(db)
            db["_migrations"].insert({"name": name, "applied": datetime.now(UTC).isoformat()})
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
    db["messages"].enable_fts(["content"], fts_version="FTS5", create_triggers=True)


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
