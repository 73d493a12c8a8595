"""Conversations and their messages: every message is committed as soon as it is complete."""

import json
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

import sqlite_utils

from tuiapp.errors import NotFound
from tuiapp.store import db_lock, insert_row, transaction


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


@dataclass
class Message:
    role: str
    content: str
    id: int | None = None
    conversation_id: int | None = None
    model: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    first_token_ms: float | None = None
    duration_ms: float | None = None
    stopped: bool = False
    created: str = ""

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> "Message":
        row = dict(row)
        row["params"] = json.loads(row.get("params") or "{}")
        row["stopped"] = bool(row.get("stopped"))
        return cls(**row)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Conversation:
    id: int
    title: str
    model: str | None
    created: str
    updated: str
    adapters: list[dict[str, Any]] = field(default_factory=list)  # [{"name", "scale"}]

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> "Conversation":
        return cls(**(row | {"adapters": json.loads(row.get("adapters") or "[]")}))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class SearchHit:
    conversation_id: int
    conversation_title: str
    message_id: int
    role: str
    snippet: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class History:
    """All reads and writes of conversations. Thread-safe: one lock around the connection."""

    def __init__(self, db: sqlite_utils.Database):
        self.db = db
        self.lock = db_lock(db)

    # -- conversations -------------------------------------------------------------------
    def new_conversation(self, title: str = "New chat", model: str | None = None) -> Conversation:
        stamp = now()
        row = {"title": title, "model": model, "created": stamp, "updated": stamp}
        return self.get_conversation(insert_row(self.db, "conversations", row))

    def get_conversation(self, conversation_id: int) -> Conversation:
        with self.lock:
            rows = list(self.db.table("conversations").rows_where("id = ?", [conversation_id]))
        if not rows:
            raise NotFound(f"No conversation with id {conversation_id}.")
        return Conversation.from_row(rows[0])

    def list_conversations(self, limit: int | None = None) -> list[Conversation]:
        with self.lock:
            rows = self.db.table("conversations").rows_where(
                order_by="updated desc, id desc", limit=limit
            )
            return [Conversation.from_row(row) for row in rows]

    def rename(self, conversation_id: int, title: str) -> Conversation:
        self.get_conversation(conversation_id)
        with transaction(self.db):
            title = title.strip() or "Untitled"
            self.db.table("conversations").update(conversation_id, {"title": title})
        return self.get_conversation(conversation_id)

    def set_adapters(self, conversation_id: int, adapters: list[dict[str, Any]]) -> Conversation:
        """The adapter mix (``[{"name", "scale"}]``) used for this conversation's replies."""
        self.get_conversation(conversation_id)
        with transaction(self.db):
            self.db.table("conversations").update(
                conversation_id, {"adapters": json.dumps(adapters)}
            )
        return self.get_conversation(conversation_id)

    def delete(self, conversation_id: int) -> None:
        self.get_conversation(conversation_id)
        with transaction(self.db):
            self.db.table("messages").delete_where("conversation_id = ?", [conversation_id])
            self.db.table("conversations").delete(conversation_id)

    # -- messages ------------------------------------------------------------------------
    def add_message(self, conversation_id: int, message: Message) -> Message:
        """Commit one complete message (a stopped reply included) and touch its conversation."""
        self.get_conversation(conversation_id)
        row = message.to_dict()
        row.pop("id")
        row["conversation_id"] = conversation_id
        row["params"] = json.dumps(message.params, sort_keys=True)
        row["stopped"] = int(message.stopped)
        row["created"] = message.created or now()
        with transaction(self.db):
            pk = insert_row(self.db, "messages", row)
            self.db.table("conversations").update(conversation_id, {"updated": row["created"]})
        return self.get_message(pk)

    def update_message(self, message_id: int, **fields: Any) -> Message:
        """Change fields of a stored message (a streaming reply growing, then ending)."""
        if "params" in fields:
            fields["params"] = json.dumps(fields["params"], sort_keys=True)
        if "stopped" in fields:
            fields["stopped"] = int(fields["stopped"])
        with transaction(self.db):
            self.db.table("messages").update(message_id, fields)
        return self.get_message(message_id)

    def get_message(self, message_id: int) -> Message:
        with self.lock:
            rows = list(self.db.table("messages").rows_where("id = ?", [message_id]))
        if not rows:
            raise NotFound(f"No message with id {message_id}.")
        return Message.from_row(rows[0])

    def messages(self, conversation_id: int) -> list[Message]:
        with self.lock:
            rows = self.db.table("messages").rows_where(
                "conversation_id = ?", [conversation_id], order_by="id"
            )
            return [Message.from_row(row) for row in rows]

    def last_exchange(self, conversation_id: int) -> tuple[str, str] | None:
        """The last user message and the non-empty reply right after it, or None."""
        messages = self.messages(conversation_id)
        for before, after in zip(reversed(messages[:-1]), reversed(messages[1:]), strict=True):
            if before.role == "user" and after.role == "assistant" and after.content.strip():
                return before.content, after.content
        return None

    def delete_message(self, message_id: int) -> None:
        with transaction(self.db):
            self.db.table("messages").delete(message_id)

    def search(self, query: str, limit: int = 50) -> list[SearchHit]:
        """Full-text search over every message, best match first."""
        terms = [t for t in query.replace('"', " ").split() if t]
        if not terms:
            return []
        # Quote each term so user input is never parsed as FTS5 syntax; prefix-match the last.
        match = " ".join(f'"{t}"' for t in terms[:-1]) + f' "{terms[-1]}"*'
        sql = """
            select m.id, m.conversation_id, m.role, c.title,
                   snippet(messages_fts, 0, '[', ']', '…', 12) as snippet
            from messages_fts
            join messages m on m.rowid = messages_fts.rowid
            join conversations c on c.id = m.conversation_id
            where messages_fts match ? order by rank limit ?
        """
        with self.lock:
            rows = self.db.execute(sql, [match.strip(), limit]).fetchall()
        return [
            SearchHit(
                conversation_id=cid,
                conversation_title=title,
                message_id=mid,
                role=role,
                snippet=snip,
            )
            for mid, cid, role, title, snip in rows
        ]

    # -- export --------------------------------------------------------------------------
    def export(self, conversation_id: int, fmt: str = "md") -> str:
        conv = self.get_conversation(conversation_id)
        msgs = self.messages(conversation_id)
        if fmt == "jsonl":
            lines = [json.dumps({"conversation": conv.to_dict()})]
            lines += [json.dumps(m.to_dict()) for m in msgs]
            return "\n".join(lines) + "\n"
        if fmt != "md":
            raise NotFound(f"Unknown export format {fmt!r}: use md or jsonl.")
        out = [f"# {conv.title}", "", f"_model: {conv.model or 'unknown'} · {conv.created}_", ""]
        for m in msgs:
            mark = " (stopped)" if m.stopped else ""
            out += [f"## {m.role}{mark}", "", m.content, ""]
        return "\n".join(out)
