"""Taking SQLite's write lock without losing a write to another process that holds it."""

import sqlite3
import time
from collections.abc import Callable
from typing import TypeVar

from tuiapp.errors import StoreError

T = TypeVar("T")
ATTEMPTS = 5  # tries, each waiting up to busy_timeout for the lock, with a growing pause


def busy(exc: sqlite3.OperationalError) -> bool:
    return "locked" in str(exc) or "busy" in str(exc)


def retry_locked(action: Callable[[], T]) -> T:
    """``action()``, tried again (a bounded number of times) while the database is locked."""
    for attempt in range(ATTEMPTS):
        try:
            return action()
        except sqlite3.OperationalError as exc:
            if not busy(exc) or attempt == ATTEMPTS - 1:
                raise
            time.sleep(0.05 * 2**attempt)
    raise AssertionError("unreachable")


def begin_immediate(conn: sqlite3.Connection) -> None:
    """Take the write lock now, waiting for other writers. A deferred BEGIN that upgrades to a
    write lock later can fail at once with "database is locked" (SQLite skips the busy handler
    when waiting could deadlock); BEGIN IMMEDIATE waits."""
    retry_locked(lambda: conn.execute("BEGIN IMMEDIATE"))


STORE_PROBLEMS = ("readonly", "read-only", "full", "locked", "busy", "unable to open", "disk I/O")


def store_problem(exc: BaseException) -> bool:
    """Whether ``exc`` is about the file or its folder (not a mistake in the SQL)."""
    return isinstance(exc, OSError) or any(p in str(exc) for p in STORE_PROBLEMS)


def cannot_write(exc: BaseException) -> bool:
    """Whether ``exc`` says the file or its folder refuses writes (it may still be read)."""
    text = str(exc)
    return "readonly" in text or "read-only" in text or isinstance(exc, PermissionError)


def store_error(exc: BaseException, path: str) -> StoreError:
    """One sentence for a database or data dir that cannot be used, naming the path."""
    text = str(exc)
    if cannot_write(exc):
        why = "it is read-only (check its permissions, or whether it is immutable)"
    elif "full" in text or getattr(exc, "errno", None) == 28:
        why = "the disk is full"
    elif "locked" in text or "busy" in text:
        why = "another tuiapp process held it too long; try again"
    elif "unable to open" in text:
        why = "its folder cannot be opened or written"
    elif isinstance(exc, OSError) and exc.strerror:
        why = exc.strerror.lower()  # "not a directory", without the errno and path again
    else:
        why = text
    what = f"the tuiapp database {path}" if path.endswith(".db") else path
    return StoreError(
        f"Cannot write {what}: {why}. Nothing was changed; set "
        "TUIAPP_HOME to a writable folder to use another data dir."
    )
