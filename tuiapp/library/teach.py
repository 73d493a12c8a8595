"""Teaching from the chat: a personal example set made of a person's own replies.

Each assistant reply that teaches becomes one row of the ``conversation`` shape
(``shapes.py``): its input is the conversation before it, written exactly as the chat sent it
to a model without a chat template (the default system text, then ``User:`` / ``Assistant:``
lines), and its output is the answer to learn: the correction when there is one, else the
reply itself. Which replies teach:

- rated good, or corrected (whatever the rating): always;
- rated bad and not corrected: never;
- not rated: only when whole conversations are taught (``rated_only=False``).

Later turns keep the reply as it was said (that is what the conversation went on from). A
row's split is drawn from its message id (a quarter held out), so re-teaching never moves a
row, and each row records its origin, so teaching again updates the rows it made before
instead of adding them twice, and drops those whose reply no longer teaches.
"""

import hashlib
from dataclasses import dataclass, field
from typing import Any

import sqlite_utils

from tuiapp.chat.engine.formats import DEFAULT_SYSTEM
from tuiapp.chat.feedback import FeedbackStore
from tuiapp.chat.history import History
from tuiapp.errors import BadInput
from tuiapp.formatting import counts_text
from tuiapp.library.examples import ExampleStore
from tuiapp.library.records import Example, ExampleSet, Split
from tuiapp.library.shapes import CONVERSATION, attach_default_template, transcript
from tuiapp.library.splits import DEFAULT_HELDOUT
from tuiapp.store import transaction

PERSONAL = "personal"  # the default set taught rows go to


@dataclass
class TeachResult:
    set_name: str
    added: int
    updated: int
    removed: int
    counts: dict[str, int] = field(default_factory=dict)
    template: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "set": self.set_name,
            "added": self.added,
            "updated": self.updated,
            "removed": self.removed,
            "counts": self.counts,
            "template": self.template,
        }

    def describe(self) -> str:
        counts = counts_text(self.counts)
        return (
            f"Example set '{self.set_name}': {self.added} rows added, {self.updated} updated, "
            f"{self.removed} removed; it now has {counts} (template '{self.template}')."
        )


def _split_for(message_id: int) -> Split:
    digest = hashlib.sha256(f"chat\0{message_id}".encode()).digest()
    return "heldout" if int.from_bytes(digest[:4]) / 2**32 < DEFAULT_HELDOUT else "train"


def chat_rows(
    db: sqlite_utils.Database, conversation_ids: list[int] | None, rated_only: bool = True
) -> list[Example]:
    """The rows the replies of those conversations teach (all rated ones for None)."""
    history = History(db)
    feedback = FeedbackStore(db).in_conversations(conversation_ids)
    ids = (
        conversation_ids
        if conversation_ids is not None
        else sorted({fb.conversation_id for fb in feedback.values()})
    )
    rows = []
    for conversation_id in ids:
        turns: list[tuple[str, str]] = []
        for message in history.messages(conversation_id):  # NotFound for a bad id
            if message.role not in ("system", "user", "assistant"):
                continue
            fb = feedback.get(message.id) if message.id is not None else None
            teaches = fb.teaches if fb is not None else not rated_only
            asked = any(role == "user" for role, _ in turns)
            if message.role == "assistant" and teaches and asked and message.id is not None:
                answer = fb.correction if fb and fb.correction else message.content
                rows.append(
                    Example(
                        inputs={CONVERSATION: transcript(turns, DEFAULT_SYSTEM)},
                        output=answer,
                        split=_split_for(message.id),
                        origin={"conversation": conversation_id, "message": message.id},
                    )
                )
            turns.append((message.role, message.content))
    return rows


def teach(
    db: sqlite_utils.Database,
    set_name: str = PERSONAL,
    conversation_ids: list[int] | None = None,
    rated_only: bool = True,
) -> TeachResult:
    """Create or bring up to date ``set_name`` from the chat (see the module docstring)."""
    rows = chat_rows(db, conversation_ids, rated_only)
    store = ExampleStore(db)
    with transaction(db):
        if not store.exists(set_name):
            if not rows:
                raise BadInput(
                    "Nothing to teach yet: rate replies good (`tuiapp history rate ID good`) "
                    "or correct them (`tuiapp history correct ID TEXT`)."
                )
            store.create_set(
                ExampleSet(
                    name=set_name,
                    input_fields=[CONVERSATION],
                    description="Taught from the chat: rated and corrected replies.",
                )
            )
        s = store.get_set(set_name)
        if s.input_fields != [CONVERSATION]:
            raise BadInput(
                f"Example set '{set_name}' holds other rows (fields {', '.join(s.input_fields)}): "
                f"teach into a new set, e.g. --set {PERSONAL}-chat."
            )
        taught = {
            ex.origin["message"]: ex for ex in store.examples(set_name) if ex.origin is not None
        }
        considered = set(conversation_ids) if conversation_ids is not None else None
        wanted = {ex.origin["message"]: ex for ex in rows if ex.origin is not None}
        added = updated = removed = 0
        for message_id, ex in wanted.items():
            old = taught.get(message_id)
            if old is None:
                store.add(set_name, ex)
                added += 1
            elif (old.inputs, old.output) != (ex.inputs, ex.output):
                assert old.id is not None
                store.update(old.id, inputs=ex.inputs, output=ex.output)
                updated += 1
        for message_id, old in taught.items():
            in_scope = considered is None or (old.origin or {}).get("conversation") in considered
            if message_id not in wanted and in_scope and old.id is not None:
                store.delete(old.id)
                removed += 1
        attach_default_template(db, set_name)
        return TeachResult(
            set_name,
            added,
            updated,
            removed,
            store.counts(set_name),
            store.get_set(set_name).template,
        )
