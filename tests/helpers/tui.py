"""Test helpers for the TUI driven with Pilot.

``until`` polls a predicate every 50 ms instead of sleeping a fixed time; ``record_notes`` keeps
every notification; ``seed_conversation`` stores a conversation without a model. ``model_app``,
``wait_ready`` and ``send`` chat with the real embedded model (greedy, max_tokens=24).
"""

import time
from collections.abc import Callable

from textual.pilot import Pilot

from tuiapp.app import TuiApp
from tuiapp.chat.engine.sampling import SamplingParams
from tuiapp.chat.history import History, Message
from tuiapp.store import open_db
from tuiapp.widgets.chat_input import ChatInput

SIZE = (120, 35)
FAST = SamplingParams(temperature=0.0, max_tokens=24, seed=0)


async def until(
    pilot: Pilot, predicate: Callable[[], object], timeout: float = 30.0, what: str = ""
) -> None:
    """Let the app run until ``predicate()`` is true; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what or predicate}")
        await pilot.pause(0.05)


def record_notes(app: TuiApp) -> list[tuple[str, str]]:
    """(severity, message) of every notification the app shows from now on."""
    notes: list[tuple[str, str]] = []
    original = app.notify

    def notify(
        message: str,
        *,
        title: str = "",
        severity: str = "information",
        timeout: float | None = None,
        markup: bool = True,
    ) -> None:
        notes.append((severity, str(message)))
        original(
            message,
            title=title,
            severity=severity,
            timeout=timeout,  # type: ignore[arg-type]
            markup=markup,
        )

    app.notify = notify  # type: ignore[method-assign]
    return notes


def seed_conversation(title: str = "Hello world in Python") -> int:
    history = History(open_db())
    conv = history.new_conversation(title, model="gemma-3-270m")
    history.add_message(conv.id, Message("user", "Write hello world in Python."))
    history.add_message(
        conv.id,
        Message(
            "assistant",
            'Here it is:\n\n```python\nprint("Hello, world!")\n```\n',
            model="gemma-3-270m",
            completion_tokens=12,
            first_token_ms=200.0,
            duration_ms=566.7,
            created="2025-01-01T00:00:00.000+00:00",
        ),
    )
    history.db.conn.close()
    return conv.id


def model_app(**kwargs: object) -> TuiApp:
    kwargs.setdefault("params", FAST)
    return TuiApp(n_threads=2, **kwargs)  # type: ignore[arg-type]


async def wait_ready(pilot: Pilot) -> None:
    app = pilot.app
    assert isinstance(app, TuiApp)
    await until(pilot, lambda: not app.model_loading, 60, "the model to load")
    assert app.service.active is not None, app.model_status


def reply_done(app: TuiApp) -> bool:
    """The last reply is stored, shown as stored, and its final speed is in the status bar."""
    view = app.chat.messages.last_reply()
    done = not app.chat.messages.streaming and view is not None and view.message_id is not None
    return done and "first token" in app.chat.status.reply_text


async def send(pilot: Pilot, text: str) -> None:
    """Type a message, press enter and wait until the whole reply is stored."""
    app = pilot.app
    assert isinstance(app, TuiApp)
    app.chat.query_one(ChatInput).focus()
    await pilot.press(*text, "enter")
    await until(pilot, lambda: reply_done(app), 30, "the reply")
