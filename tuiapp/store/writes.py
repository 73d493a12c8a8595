"""Taking SQLite's write lock without losing a write to another process that holds it."""

import sqlite3
import time
from collections.abc import Callable
from typing import TypeVar

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
