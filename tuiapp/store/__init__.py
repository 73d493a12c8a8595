"""The one SQLite file: opened in WAL mode and migrated on open."""

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlite_utils

from tuiapp.paths import db_path
from tuiapp.store.migrations import migrate
from tuiapp.store.writes import begin_immediate, retry_locked

_LOCKS: dict[int, threading.RLock] = {}


def open_db(path: Path | None = None) -> sqlite_utils.Database:
    # The TUI reads and writes from worker threads: every user of a connection holds db_lock(db).
    conn = sqlite3.connect(str(path or db_path()), check_same_thread=False)
    db = sqlite_utils.Database(conn)
    retry_locked(lambda: db.execute("PRAGMA journal_mode=WAL"))  # a first open may race
    db.execute("PRAGMA foreign_keys=ON")
    db.execute("PRAGMA busy_timeout=5000")
    migrate(db)
    return db


def db_lock(db: sqlite_utils.Database) -> threading.RLock:
    """The one lock that serialises use of ``db``'s connection across threads."""
    return _LOCKS.setdefault(id(db.conn), threading.RLock())


@contextmanager
def transaction(db: sqlite_utils.Database) -> Iterator[None]:
    """Hold the connection's lock and make everything inside one write transaction, begun
    IMMEDIATE (a savepoint when nested). ``with db.conn:`` is not enough: sqlite-utils commits
    each write made outside an explicitly opened transaction on its own."""
    with db_lock(db):
        if db.conn.in_transaction:
            with db.atomic():
                yield
            return
        begin_immediate(db.conn)
        try:
            yield
        except BaseException:
            if db.conn.in_transaction:
                db.conn.rollback()
            raise
        try:
            db.conn.execute("COMMIT")
        except BaseException:
            if db.conn.in_transaction:
                db.conn.rollback()
            raise


def insert_row(db: sqlite_utils.Database, table: str, row: dict[str, Any]) -> int:
    """Insert ``row`` into ``table`` (an integer primary key) inside a transaction; its id."""
    with transaction(db):
        pk = db.table(table).insert(row).last_pk
    if not isinstance(pk, int):
        raise TypeError(f"{table} has no integer primary key")
    return pk
