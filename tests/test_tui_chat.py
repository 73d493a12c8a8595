"""Chatting with the real embedded model through the TUI (greedy, max_tokens=24: ~1 s a reply).

The helpers (``model_app``, ``wait_ready``, ``send``, ...) are in ``tests/helpers/tui.py``.
"""

import threading
from pathlib import Path

import pytest
from textual.pilot import Pilot

from tests.helpers.tui import SIZE, model_app, record_notes, reply_done, send, until, wait_ready
from tuiapp.app import NO_MODEL, TuiApp
from tuiapp.chat.engine.sampling import SamplingParams
from tuiapp.chat.models import ModelRegistry, Progress
from tuiapp.screens.chat import ChatScreen
from tuiapp.screens.models import ModelPickerScreen
from tuiapp.widgets.chat_input import ChatInput
from tuiapp.widgets.sidebar import ConversationItem

pytestmark = pytest.mark.slow


def record_status(app: TuiApp) -> list[str]:
    """Every text the reply side of the status bar shows from now on."""
    shown: list[str] = []
    status = app.chat.status
    original = status.set_reply

    def set_reply(text: str) -> None:
        shown.append(text)
        original(text)

    status.set_reply = set_reply  # type: ignore[method-assign]
    return shown


async def test_reply_streams_with_live_speed_and_is_stored(
    home_with_model: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    gate = threading.Event()  # holds the model load until the test has tried to send
    prepare = ModelRegistry.ensure_default

    def held(registry: ModelRegistry, progress: Progress | None = None) -> Path:
        gate.wait(10)
        return prepare(registry, progress)

    monkeypatch.setattr(ModelRegistry, "ensure_default", held)
    app = model_app()
    notes = record_notes(app)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: "Preparing the embedded model" in app.model_status)
        await pilot.press(*"hi", "enter")
        assert notes == [("warning", "The model is still loading: try again in a moment.")]
        assert app.chat.query_one(ChatInput).text == "hi"  # the refused message is kept
        gate.set()
        await wait_ready(pilot)
        assert app.chat.status.model_text == "gemma-3-270m · Q4_K_M · ready"

        chat = app.chat
        chat.query_one(ChatInput).clear()
        shown = record_status(app)
        await send(pilot, "Paris is")
        assert any("tok/s" in text for text in shown[:-1]), shown  # updated while streaming

        stored = app.service.history.messages(chat.conversation_id)  # type: ignore[arg-type]
        assert [m.role for m in stored] == ["user", "assistant"]
        reply = stored[1]
        assert reply.content and not reply.stopped and reply.completion_tokens
        view = chat.messages.last_reply()
        assert view is not None and view.content == reply.content
        assert view.message_id == reply.id
        final = chat.status.reply_text
        assert "tok/s" in final and f"{reply.completion_tokens} tokens" in final

        await pilot.press("ctrl+y")
        assert app.clipboard == reply.content

        await pilot.press("ctrl+r")
        await until(pilot, lambda: reply_done(app), 30, "the new reply")
        again = app.service.history.messages(chat.conversation_id)  # type: ignore[arg-type]
        assert [m.role for m in again] == ["user", "assistant"]
        assert again[1].created != reply.created  # a new reply replaced the old one
        assert [v.role for v in chat.messages.views] == ["user", "assistant"]
    assert not [n for n in notes if n[0] == "error"]


def rambling_app() -> TuiApp:
    # With this seed the base model rambles to the token limit instead of ending its turn.
    return model_app(
        params=SamplingParams(
            temperature=1.0, top_k=0, top_p=1.0, min_p=0.0, max_tokens=400, seed=0
        )
    )


async def start_long_reply(pilot: Pilot, chat: ChatScreen) -> None:
    await pilot.press(*"Tell me a long story.", "enter")
    await until(
        pilot,
        lambda: (v := chat.messages.last_reply()) is not None and v.content,
        10,
        "the first streamed text",
    )


async def test_stop_keeps_the_partial_reply_marked_stopped(home_with_model: Path) -> None:
    app = rambling_app()
    async with app.run_test(size=SIZE) as pilot:
        await wait_ready(pilot)
        chat = app.chat
        await start_long_reply(pilot, chat)
        await pilot.press("escape")
        stopped = lambda: chat.status.reply_text.endswith("stopped")  # noqa: E731
        await until(pilot, lambda: not chat.messages.streaming and stopped(), 10, "the stop")
        reply = app.service.history.messages(chat.conversation_id)[-1]  # type: ignore[arg-type]
        assert reply.role == "assistant" and reply.stopped and reply.content
        assert reply.completion_tokens is not None and reply.completion_tokens < 400
        view = chat.messages.last_reply()
        assert view is not None and view.stopped and view.content == reply.content


async def test_search_finds_history_after_a_restart(home_with_model: Path) -> None:
    app = model_app()
    async with app.run_test(size=SIZE) as pilot:
        await wait_ready(pilot)
        await send(pilot, "zebras")
        conversation_id = app.chat.conversation_id

    again = TuiApp(autoload=False)  # the same TUIAPP_HOME; no model needed to search
    async with again.run_test(size=SIZE) as pilot:
        await pilot.press("ctrl+f", *"zebr")
        items = lambda: list(again.chat.sidebar.query(ConversationItem))  # noqa: E731
        await until(pilot, lambda: any(i.message_id for i in items()), 5, "a search hit")
        hit = items()[0]
        assert hit.conversation_id == conversation_id
        await pilot.press("enter", "enter")  # to the hit list, then open the first hit
        await until(pilot, lambda: again.chat.conversation_id == conversation_id, 5)
        assert "zebras" in again.chat.messages.views[0].content


async def test_model_picker_lists_the_registry_and_switches(home_with_model: Path) -> None:
    app = model_app(autoload=False)
    async with app.run_test(size=SIZE) as pilot:
        assert app.chat.status.model_text == NO_MODEL
        await pilot.press("ctrl+o")
        await until(pilot, lambda: isinstance(app.screen, ModelPickerScreen))
        picker = app.screen
        assert isinstance(picker, ModelPickerScreen)
        await until(
            pilot,
            lambda: "gemma3" in picker.row_text("gemma-3-270m"),
            10,
            "the GGUF header to be read",
        )
        row = picker.row_text("gemma-3-270m")
        assert row[2] == "embedded" and "Q4_K_M" in row and "none" in row  # no chat template
        await pilot.press("enter")  # load it, in the background
        await until(pilot, lambda: not isinstance(app.screen, ModelPickerScreen))
        await wait_ready(pilot)
        assert app.chat.status.model_text == "gemma-3-270m · Q4_K_M · ready"


async def test_quitting_mid_reply_keeps_the_partial_reply(home_with_model: Path) -> None:
    from tuiapp.chat.history import History
    from tuiapp.store import open_db

    app = rambling_app()
    async with app.run_test(size=SIZE) as pilot:
        await wait_ready(pilot)
        chat = app.chat
        await start_long_reply(pilot, chat)
        conversation = chat.conversation_id
        await pilot.press("ctrl+q")
    assert conversation is not None
    reply = History(open_db()).messages(conversation)[-1]
    assert reply.role == "assistant" and reply.stopped and reply.content
