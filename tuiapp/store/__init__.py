"""The one SQLite file: opened in WAL mode and migrated on open."""

from pathlib import Path

import sqlite3

import sqlite_utils

from tuiapp.paths import db_path
from tuiapp.store.migrations import migrate


def open_db(path: Path | None = None) -> sqlite_utils.Database:
    # The TUI writes from worker threads; callers serialise access (see History's lock).
    conn = sqlite3.connect(str(path or db_path()), check_same_thread=False)
    db = sqlite_utils.Database(conn)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA foreign_keys=ON")
    db.execute("PRAGMA busy_timeout=5000")
    migrate(db)
    return db
