import json

import pytest
import sqlite_utils

from tuiapp.chat.history import History, Message
from tuiapp.errors import NotFound
from tuiapp.store import open_db
from tuiapp.store.migrations import MIGRATIONS, migrate


def test_blank_database_gets_every_migration_and_wal(tuiapp_home):
    db = open_db()
    assert [r["name"] for r in db["_migrations"].rows] == [name for name, _ in MIGRATIONS]
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert {"conversations", "messages", "messages_fts", "models"} <= set(db.table_names())
    assert (tuiapp_home / "tuiapp.db").exists()


@pytest.mark.parametrize("upto", range(1, len(MIGRATIONS)))
def test_upgrade_from_each_previous_schema_keeps_data(tmp_path, upto):
    path = tmp_path / "old.db"
    old = sqlite_utils.Database(path)
    migrate(old, upto=upto)
    old["conversations"].insert(
        {"id": 7, "title": "kept", "model": "m", "created": "t", "updated": "t"}
    )
    old.conn.close()
    db = open_db(path)
    assert len(list(db["_migrations"].rows)) == len(MIGRATIONS)
    assert db["conversations"].get(7)["title"] == "kept"
    assert migrate(db) == []  # idempotent


def test_failed_migration_step_leaves_schema_unchanged(tmp_path, monkeypatch):
    def broken(db):
        db["half"].create({"x": int})
        raise RuntimeError("boom")

    monkeypatch.setattr("tuiapp.store.migrations.MIGRATIONS", MIGRATIONS + [("m999", broken)])
    db = sqlite_utils.Database(tmp_path / "x.db")
    with pytest.raises(RuntimeError):
        migrate(db)
    assert "half" not in db.table_names()
    assert "m999" not in {r["name"] for r in db["_migrations"].rows}


def test_messages_are_stored_with_stats_and_stopped_mark():
    h = History(open_db())
    conv = h.new_conversation("first", model="gemma")
    h.add_message(conv.id, Message("user", "Tell me about otters"))
    reply = h.add_message(
        conv.id,
        Message("assistant", "Otters are", params={"seed": 1}, completion_tokens=3, stopped=True),
    )
    msgs = h.messages(conv.id)
    assert [m.role for m in msgs] == ["user", "assistant"]
    assert msgs[1].stopped is True and msgs[1].params == {"seed": 1}
    assert reply.completion_tokens == 3
    assert h.list_conversations()[0].updated == reply.created


def test_search_finds_words_across_conversations_and_survives_reopen(tuiapp_home):
    h = History(open_db())
    a = h.new_conversation("a")
    b = h.new_conversation("b")
    h.add_message(a.id, Message("user", "How do capybaras swim?"))
    h.add_message(b.id, Message("assistant", "Capybaras are semi-aquatic rodents."))
    h.add_message(b.id, Message("user", "unrelated"))
    hits = History(open_db()).search("capybara")  # prefix match, fresh connection
    assert {hit.conversation_id for hit in hits} == {a.id, b.id}
    assert all("[" in hit.snippet for hit in hits)
    assert History(open_db()).search('bad "syntax AND (') == []


def test_rename_delete_and_missing_ids():
    h = History(open_db())
    conv = h.new_conversation()
    h.add_message(conv.id, Message("user", "hello there"))
    assert h.rename(conv.id, "  Greeting ").title == "Greeting"
    h.delete(conv.id)
    assert h.list_conversations() == []
    assert h.search("hello") == []
    with pytest.raises(NotFound, match="No conversation with id"):
        h.get_conversation(conv.id)


def test_export_markdown_and_jsonl():
    h = History(open_db())
    conv = h.new_conversation("Export me")
    h.add_message(conv.id, Message("user", "ping"))
    h.add_message(conv.id, Message("assistant", "pong", stopped=True))
    md = h.export(conv.id, "md")
    assert md.startswith("# Export me") and "## assistant (stopped)" in md and "pong" in md
    lines = [json.loads(line) for line in h.export(conv.id, "jsonl").splitlines()]
    assert lines[0]["conversation"]["title"] == "Export me"
    assert [line["content"] for line in lines[1:]] == ["ping", "pong"]
