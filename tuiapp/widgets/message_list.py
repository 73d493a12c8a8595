"""The scrolling list of a conversation's messages, and the worker that streams a reply into it.

The reply is iterated in a thread worker. Text is handed to the UI at most ``FLUSH_HZ`` times a
second with ``post_message`` (which never blocks), so a slow repaint cannot slow generation.
"""

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

from textual import work
from textual.containers import VerticalScroll
from textual.message import Message
from textual.widgets import Static
from textual.worker import get_current_worker

from tuiapp.chat.engine.engine import Completion
from tuiapp.chat.history import Message as StoredMessage
from tuiapp.chat.reply import Reply
from tuiapp.errors import TuiappError
from tuiapp.widgets.message_view import MessageView

FLUSH_HZ = 15  # at most this many UI updates a second while a reply streams
EMPTY_HINT = "Say something to the model.  enter sends · ctrl+j new line · f1 help"


def message_meta(message: StoredMessage) -> str:
    """The header details of a stored reply: model and speed."""
    parts = [message.model] if message.model and message.role == "assistant" else []
    if message.completion_tokens and message.duration_ms:
        gen_ms = message.duration_ms - (message.first_token_ms or 0.0)
        if message.completion_tokens > 1 and gen_ms > 0:
            parts.append(f"{(message.completion_tokens - 1) / (gen_ms / 1000):.1f} tok/s")
        parts.append(f"{message.completion_tokens} tokens")
    return " · ".join(parts)


class MessageList(VerticalScroll):
    DEFAULT_CSS = """
    MessageList { height: 1fr; padding: 1 1 0 1; }
    MessageList > #empty { color: $text-muted; padding: 1 2; }
    """

    @dataclass
    class ReplyStarted(Message):
        """The model started answering (the user's message is stored)."""

    @dataclass
    class ReplyProgress(Message):
        """Tokens so far and the live speed of the reply being streamed."""

        tokens: int
        tokens_per_s: float

    @dataclass
    class ReplyFinished(Message):
        """The reply shown in ``view`` ended (complete or stopped) and was stored."""

        view: MessageView
        completion: Completion | None
        message: StoredMessage | None

    @dataclass
    class ReplyFailed(Message):
        """Starting or streaming the reply in ``view`` failed; ``error`` is for the user."""

        view: MessageView
        error: str

    @dataclass
    class Delta(Message):
        """Streamed text for this list's pending view (handled here, never bubbles)."""

        bubble: ClassVar[bool] = False
        view: MessageView
        text: str

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._pending: MessageView | None = None
        self._reply: Reply | None = None
        self._stop_requested = False

    def on_mount(self) -> None:
        self.anchor()  # stay scrolled to the bottom while text streams in

    def on_unmount(self) -> None:
        self.stop()

    # -- contents ---------------------------------------------------------------------------
    async def show(self, messages: list[StoredMessage]) -> None:
        """Replace the contents with a stored conversation."""
        self.stop()
        self._pending = None
        await self.remove_children()
        views = [
            MessageView(m.role, m.content, message_id=m.id, meta=message_meta(m), stopped=m.stopped)
            for m in messages
        ]
        await self.mount_all(views or [Static(EMPTY_HINT, id="empty", markup=False)])
        self.scroll_end(animate=False)

    async def add(self, role: str, content: str) -> MessageView:
        for hint in self.query("#empty"):
            await hint.remove()
        view = MessageView(role, content)
        await self.mount(view)
        self.scroll_end(animate=False)
        return view

    @property
    def views(self) -> list[MessageView]:
        return list(self.query(MessageView))

    def last_reply(self) -> MessageView | None:
        replies = [v for v in self.views if v.role == "assistant"]
        return replies[-1] if replies else None

    # -- streaming --------------------------------------------------------------------------
    @property
    def streaming(self) -> bool:
        return self._pending is not None

    async def stream(self, start: Callable[[], Reply], model_name: str = "") -> None:
        """Show an empty reply and fill it from ``start()``, which runs in the worker thread."""
        self._pending = await self.add("assistant", "")
        self._pending.meta = model_name
        self._stop_requested = False
        self._reply = None
        self._run(start, self._pending)

    def stop(self) -> bool:
        """Ask the reply being streamed to stop; it is kept, marked stopped."""
        if self._pending is None:
            return False
        self._stop_requested = True
        if self._reply is not None:
            self._reply.cancel()
        return True

    @work(thread=True, exclusive=True, group="reply")
    def _run(self, start: Callable[[], Reply], view: MessageView) -> None:
        worker = get_current_worker()
        try:
            reply = start()
        except TuiappError as error:
            self.post_message(self.ReplyFailed(view, str(error)))
            return
        except Exception as error:  # never let a worker take the app down
            self.post_message(self.ReplyFailed(view, f"Could not start the reply: {error}"))
            return
        if self._pending is view:
            self._reply = reply
        if self._stop_requested or self._pending is not view:
            reply.cancel()
        self.post_message(self.ReplyStarted())
        buffer: list[str] = []
        tokens, first, last_flush = 0, 0.0, 0.0
        try:
            for piece in reply:
                now = time.monotonic()
                tokens += 1
                first = first or now
                buffer.append(piece)
                if worker.is_cancelled:
                    reply.cancel()
                if now - last_flush >= 1 / FLUSH_HZ:
                    last_flush = now
                    rate = (tokens - 1) / (now - first) if now > first else 0.0
                    self.post_message(self.Delta(view, "".join(buffer)))
                    self.post_message(self.ReplyProgress(tokens, rate))
                    buffer.clear()
        except TuiappError as error:
            self.post_message(self.ReplyFailed(view, str(error)))
        except Exception as error:
            self.post_message(self.ReplyFailed(view, f"Generation failed: {error}"))
        if buffer:
            self.post_message(self.Delta(view, "".join(buffer)))
        self.post_message(self.ReplyFinished(view, reply.completion, reply.message))

    def _release(self, view: MessageView) -> None:
        # Events of a reply the user switched away from must not end the current one.
        if self._pending is view:
            self._pending, self._reply = None, None

    async def on_message_list_delta(self, event: Delta) -> None:
        if event.view.is_attached:
            await event.view.append(event.text)

    async def on_message_list_reply_finished(self, event: ReplyFinished) -> None:
        self._release(event.view)
        if not event.view.is_attached:
            return
        if event.message is None:  # stopped before any text, or failed: nothing was stored
            await event.view.remove()
            return
        await event.view.finish(
            event.message.content,
            message_id=event.message.id,
            meta=message_meta(event.message),
            stopped=event.message.stopped,
        )

    async def on_message_list_reply_failed(self, event: ReplyFailed) -> None:
        if self._pending is event.view and self._reply is None:  # failed before streaming
            self._release(event.view)
            await event.view.remove()
