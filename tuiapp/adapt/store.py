"""The ``adapt_jobs`` table: one row per one-click job, its report kept as each stage ends."""

import json
from datetime import UTC, datetime
from typing import Any

import sqlite_utils

from tuiapp.adapt.records import AdaptRequest, Stage, Status
from tuiapp.store import db_lock, insert_row, transaction

TABLE = "adapt_jobs"


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class AdaptJobStore:
    def __init__(self, db: sqlite_utils.Database) -> None:
        self.db = db

    def create(self, request: AdaptRequest, report: dict[str, Any]) -> int:
        """A new running job at its first stage; its id."""
        row = {
            "set_name": request.set_name,
            "method": request.method,
            "options": json.dumps(request.options, sort_keys=True),
            "status": "running",
            "stage": "train",
            "report": json.dumps(report, default=str),
            "started": now(),
        }
        return insert_row(self.db, TABLE, row)

    def update(self, job_id: int, **changes: Any) -> None:
        """Store changed columns; a ``report`` dict is stored as JSON."""
        if "report" in changes:
            changes["report"] = json.dumps(changes["report"], default=str)
        with transaction(self.db):
            self.db.table(TABLE).update(job_id, changes)

    def end(
        self, job_id: int, status: Status, stage: Stage, error: str | None, report: dict[str, Any]
    ) -> None:
        self.update(job_id, status=status, stage=stage, error=error, report=report, finished=now())

    def list_jobs(self, limit: int | None = 20) -> list[dict[str, Any]]:
        """Recent jobs, newest first, options and reports decoded."""
        with db_lock(self.db):
            rows = list(self.db.table(TABLE).rows_where(order_by="id desc", limit=limit))
        return [
            row
            | {
                "options": json.loads(row["options"] or "{}"),
                "report": json.loads(row["report"] or "{}"),
            }
            for row in rows
        ]
