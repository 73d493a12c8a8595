"""The one SQLite file: opened in WAL mode and migrated on open."""

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

import sqlite_utils

from tuiapp.paths import db_path
from tuiapp.store.migrations import migrate, pending
from tuiapp.store.writes import (
    begin_immediate,
    cannot_write,
    retry_locked,
    store_error,
    store_problem,
)

_LOCKS: dict[int, threading.RLock] = {}
_READ_ONLY: set[int] = set()  # id() of connections opened read-only


def open_db(path: Path | None = None) -> sqlite_utils.Database:
    """The database, in WAL mode and migrated; StoreError when its folder or file is unusable.

    A database that can be read but not written (a read-only file or folder, an immutable
    file) opens read-only when it needs no migration: reading works, and every write is refused
    with one StoreError naming the path (``read_only(db)`` tells which it is)."""
    try:
        where = path or db_path()
    except OSError as exc:  # the data dir itself cannot be made
        raise store_error(exc, str(exc.filename or "the data dir")) from None
    try:
        return _open(where)
    except (sqlite3.OperationalError, OSError) as exc:
        if not store_problem(exc):
            raise
        readable = _open_read_only(where) if cannot_write(exc) and where.is_file() else None
        if readable is not None:
            return readable
        raise store_error(exc, str(where)) from None


def _open(where: Path) -> sqlite_utils.Database:
    # The TUI reads and writes from worker threads: every user of a connection holds db_lock(db).
    conn = sqlite3.connect(str(where), check_same_thread=False)
    try:
        db = sqlite_utils.Database(conn)
        db.execute("PRAGMA busy_timeout=5000")
        retry_locked(lambda: db.execute("PRAGMA journal_mode=WAL"))  # a first open may race
        db.execute("PRAGMA foreign_keys=ON")
        migrate(db)
    except BaseException:
        conn.close()
        raise
    return db


def _open_read_only(where: Path) -> sqlite_utils.Database | None:
    """``where`` opened for reading only, or None when it cannot be read or needs a migration.
    ``mode=ro`` needs the WAL index file, which a read-only folder may lack: then
    ``immutable=1``, which reads the file as it is (nothing can write it anyway)."""
    for flags in ("mode=ro", "immutable=1"):
        uri = f"file:{quote(str(where.resolve()))}?{flags}"
        conn = sqlite3.connect(uri, uri=True, check_same_thread=False)
        db = sqlite_utils.Database(conn)
        try:
            db.execute("PRAGMA busy_timeout=5000")
            behind = pending(db)
        except sqlite3.Error:
            conn.close()
            continue
        if behind:  # an older database: it cannot be read until it is upgraded
            conn.close()
            return None
        _READ_ONLY.add(id(conn))
        return db
    return None


def read_only(db: sqlite_utils.Database) -> bool:
    """Whether ``db`` was opened read-only because its file or folder cannot be written."""
    return id(db.conn) in _READ_ONLY


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
