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
from tuiapp.store.writes import begin_immediate, retry_locked, store_error, store_problem

_LOCKS: dict[int, threading.RLock] = {}


def open_db(path: Path | None = None) -> sqlite_utils.Database:
    """The database, in WAL mode and migrated; StoreError when its folder or file is unusable."""
    try:
        where = path or db_path()
    except OSError as exc:  # the data dir itself cannot be made
        raise store_error(exc, str(exc.filename or "the data dir")) from None
    try:
        # The TUI reads and writes from worker threads: every user of a connection holds
        # db_lock(db).
        conn = sqlite3.connect(str(where), check_same_thread=False)
        db = sqlite_utils.Database(conn)
        db.execute("PRAGMA busy_timeout=5000")
        retry_locked(lambda: db.execute("PRAGMA journal_mode=WAL"))  # a first open may race
        db.execute("PRAGMA foreign_keys=ON")
        migrate(db)
    except (sqlite3.OperationalError, OSError) as exc:
        if not store_problem(exc):
            raise
        raise store_error(exc, str(where)) from None
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
        try:
            begin_immediate(db.conn)
        except sqlite3.OperationalError as exc:
            raise store_error(exc, _db_file(db)) from None
        try:
            yield
        except BaseException as exc:
            if db.conn.in_transaction:
                db.conn.rollback()
            if isinstance(exc, sqlite3.OperationalError) and store_problem(exc):
                raise store_error(exc, _db_file(db)) from None  # full disk, read-only file
            raise
        try:
            db.conn.execute("COMMIT")
        except sqlite3.OperationalError as exc:
            if db.conn.in_transaction:
                db.conn.rollback()
            raise store_error(exc, _db_file(db)) from None


def _db_file(db: sqlite_utils.Database) -> str:
    row = db.execute("PRAGMA database_list").fetchone()
    return str(row[2]) if row and row[2] else "(in memory)"


def insert_row(db: sqlite_utils.Database, table: str, row: dict[str, Any]) -> int:
    """Insert ``row`` into ``table`` (an integer primary key) inside a transaction; its id."""
    with transaction(db):
        pk = db.table(table).insert(row).last_pk
    if not isinstance(pk, int):
        raise TypeError(f"{table} has no integer primary key")
    return pk
