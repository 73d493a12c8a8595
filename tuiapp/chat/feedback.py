"""What a person says about an assistant reply: good or bad, and the answer it should have been.

One row per message in the ``feedback`` table (it goes when its message goes). The reply is
never changed: a correction is kept beside it, and teaching (``library/teach.py``) uses the
correction as the answer to learn, the reply itself when it was rated good, and leaves out a
reply rated bad with no correction.
"""

from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import sqlite_utils

from tuiapp.chat.history import History
from tuiapp.errors import BadInput, one_of
from tuiapp.store import db_lock, transaction

Rating = Literal["good", "bad"]
RATINGS: tuple[Rating, ...] = ("good", "bad")


@dataclass
class Feedback:
    message_id: int
    conversation_id: int
    rating: Rating | None = None
    correction: str | None = None
    created: str = ""
    updated: str = ""

    @property
    def teaches(self) -> bool:
        """Whether this reply becomes a row to learn from (good, or corrected)."""
        return self.correction is not None or self.rating == "good"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def as_rating(value: str) -> Rating:
    return one_of(value, RATINGS, "rating")


class FeedbackStore:
    def __init__(self, db: sqlite_utils.Database) -> None:
        self.db = db
        self.history = History(db)

    def get(self, message_id: int) -> Feedback | None:
        with db_lock(self.db):
            rows = list(self.db.query("SELECT * FROM feedback WHERE message_id = ?", [message_id]))
        return Feedback(**rows[0]) if rows else None

    def _set(self, message_id: int, **changes: Any) -> Feedback:
        message = self.history.get_message(message_id)  # NotFound for a bad id
        if message.role != "assistant":
            raise BadInput(
                f"Message {message_id} is the {message.role}'s: rate or correct an assistant "
                "reply (`tuiapp history show` lists them with their ids)."
            )
        stamp = datetime.now(UTC).isoformat(timespec="seconds")
        with transaction(self.db):
            old = self.get(message_id)
            row = (old.to_dict() if old else {}) | {
                "message_id": message_id,
                "conversation_id": message.conversation_id,
                "created": old.created if old else stamp,
                "updated": stamp,
                **changes,
            }
            if row.get("rating") is None and row.get("correction") is None:
                # Nothing said any more: no row, so "no feedback" has one meaning.
                self.db.execute("DELETE FROM feedback WHERE message_id = ?", [message_id])
                return Feedback(message_id, row["conversation_id"])
            self.db.table("feedback").upsert(row, pk="message_id")
        found = self.get(message_id)
        assert found is not None
        return found

    def rate(self, message_id: int, rating: Rating | None) -> Feedback:
        """Rate a reply good or bad (None clears the rating)."""
        return self._set(message_id, rating=rating)

    def correct(self, message_id: int, text: str | None) -> Feedback:
        """Keep ``text`` as the answer the reply should have been (None removes it)."""
        if text is not None and not text.strip():
            raise BadInput("A correction needs text: the answer the reply should have been.")
        return self._set(message_id, correction=text.strip() if text else None)

    def in_conversations(self, conversation_ids: list[int] | None) -> dict[int, Feedback]:
        """Feedback by message id, in those conversations (all of them for None)."""
        sql, args = "SELECT * FROM feedback", list[Any]()
        if conversation_ids is not None:
            sql += f" WHERE conversation_id IN ({', '.join('?' * len(conversation_ids))})"
            args = list(conversation_ids)
        with db_lock(self.db):
            return {r["message_id"]: Feedback(**r) for r in self.db.query(sql, args)}
