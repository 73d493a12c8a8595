"""Teaching from the chat: ratings and corrections kept beside replies, a personal set built
from them with its origin, the chat's exact rendering, and the one-click loop headless."""

import json
from pathlib import Path

import pytest

from tests.helpers.cli import assert_one_line_error, run_adapt, tuiapp
from tuiapp.chat.engine.formats import TranscriptFormat, Turn
from tuiapp.chat.feedback import FeedbackStore
from tuiapp.chat.history import History, Message
from tuiapp.errors import BadInput, NotFound
from tuiapp.library.examples import ExampleStore
from tuiapp.library.seed import open_library
from tuiapp.library.teach import chat_rows, teach
from tuiapp.library.templates import TemplateStore
from tuiapp.store import open_db


def chat(db, *turns: str) -> tuple[int, list[int]]:
    """A conversation of alternating user / assistant turns; (id, message ids)."""
    history = History(db)
    conv = history.new_conversation("t")
    ids = []
    for i, text in enumerate(turns):
        role = "user" if i % 2 == 0 else "assistant"
        message = history.add_message(conv.id, Message(role, text))
        assert message.id is not None
        ids.append(message.id)
    return conv.id, ids


def test_feedback_is_kept_beside_the_reply_and_checked(tmp_path):
    db = open_db()
    conv, (ask, reply) = chat(db, "Capital of France?", "Lyon")
    store = FeedbackStore(db)
    store.rate(reply, "bad")
    fb = store.correct(reply, "  Paris ")
    assert (fb.rating, fb.correction, fb.conversation_id) == ("bad", "Paris", conv)
    assert History(db).get_message(reply).content == "Lyon"  # the reply itself is untouched
    with pytest.raises(BadInput, match="is the user's"):
        store.rate(ask, "good")
    with pytest.raises(BadInput, match="needs text"):
        store.correct(reply, "   ")
    with pytest.raises(NotFound):
        store.rate(99999, "good")
    History(db).delete_message(reply)  # regenerating a reply drops its feedback with it
    assert store.get(reply) is None


def test_taught_rows_render_exactly_what_the_chat_sent_and_update_in_place():
    db = open_db()
    conv, ids = chat(
        db,
        "Hi",
        "Hello! How can I help?",
        "What is 2+2?",
        "5",
        "And 3+3?",
        "six, I think",
    )
    feedback = FeedbackStore(db)
    feedback.rate(ids[1], "good")
    feedback.rate(ids[3], "bad")
    feedback.correct(ids[3], "4")
    feedback.rate(ids[5], "bad")  # bad and not corrected: never taught
    result = teach(db)
    assert (result.set_name, result.added, result.template) == ("personal", 2, "personal")
    rows = ExampleStore(db).examples("personal")
    assert [r.output for r in rows] == ["Hello! How can I help?", "4"]
    assert rows[1].origin == {"conversation": conv, "message": ids[3]}
    # The row's prompt is the chat's own: the transcript up to the reply, as it was said.
    before = [Turn("user", "Hi"), Turn("assistant", "Hello! How can I help?")]
    chat_prompt = TranscriptFormat().render([*before, Turn("user", "What is 2+2?")])
    assert TemplateStore(db).render("personal", rows[1].inputs) == chat_prompt
    # Teaching again changes only what changed: no duplicates, a new correction updates.
    feedback.correct(ids[3], "2+2 is 4.")
    feedback.rate(ids[1], None)
    again = teach(db)
    assert (again.added, again.updated, again.removed) == (0, 1, 1)
    (row,) = ExampleStore(db).examples("personal")
    assert row.output == "2+2 is 4." and row.split == rows[1].split
    # Whole conversations: every reply but the bad, uncorrected one.
    whole = chat_rows(db, [conv], rated_only=False)
    assert [r.output for r in whole] == ["Hello! How can I help?", "2+2 is 4."]


def test_nothing_to_teach_and_a_set_of_other_rows_are_refused():
    db = open_db()
    with pytest.raises(BadInput, match="Nothing to teach yet"):
        teach(db)
    conv, ids = chat(db, "q", "a")
    FeedbackStore(db).rate(ids[1], "good")
    with pytest.raises(BadInput, match="holds other rows"):
        teach(open_library(), set_name="sentiment")  # a built-in set of other fields
    assert conv


def test_cli_rate_correct_show_and_teach():
    db = open_db()
    conv, ids = chat(db, "Capital of Italy?", "Milan")
    assert tuiapp("history", "rate", str(ids[1]), "bad").returncode == 0
    assert tuiapp("history", "correct", str(ids[1]), "Rome").returncode == 0
    shown = tuiapp("history", "show", str(conv)).stdout
    assert f"#{ids[1]} assistant [bad] [corrected]: Milan" in shown
    assert "should have been: Rome" in shown
    taught = json.loads(tuiapp("history", "teach", "--json").stdout)
    assert taught["added"] == 1 and taught["set"] == "personal"
    assert_one_line_error(tuiapp("history", "rate", str(ids[0]), "good"), "is the user's")
    assert_one_line_error(tuiapp("history", "correct", str(ids[1])), "--clear")
    assert_one_line_error(tuiapp("history", "teach", "-c", "x"), "--conversations expects ids")
    assert_one_line_error(tuiapp("adapt"), "Give one of SET, FILE, --rated")


@pytest.mark.slow
def test_adapt_rated_trains_attaches_and_says_why_it_did_not_compare(home_with_model: Path):
    db = open_db()
    feedback = FeedbackStore(db)
    for i in range(6):
        _, ids = chat(db, f"Say hello to person {i}.", "Bye.")
        feedback.correct(ids[1], f"Hello, person {i}!")
    report, _ = run_adapt(
        "--rated",
        *("--opt", "max_steps=6", "--opt", "learning_rate=2e-3", "--opt", "r=8"),
        *("--threads", "2", "--out", "me"),
    )
    assert report["status"] == "done" and report["set"] == "personal"
    assert report["convert"]["parity"]["passed"], report["convert"]
    assert "Comparison skipped" in report["eval"]["skipped"] and report["eval"]["table"] == []
    conv = History(open_db()).get_conversation(report["conversation_id"])
    assert conv.adapters == [{"name": "me", "scale": 1.0}]
