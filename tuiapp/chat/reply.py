"""A streaming reply of the chat: its text pieces as they come, and the message it becomes.

The reply writes itself to the conversation every ``SAVE_EVERY_S`` while it streams (marked
stopped, so a kill -9 mid-reply keeps what was written) and once more when it ends, with its
final text and figures. ``ChatService`` makes replies (``send``, ``regenerate``); the reply needs
of it only what ``ReplyHost`` names.
"""

import threading
import time
from collections.abc import Iterator
from typing import Any, Protocol

from tuiapp.chat.engine.engine import Completion, Stream
from tuiapp.chat.engine.sampling import SamplingParams
from tuiapp.chat.history import History, Message
from tuiapp.chat.turns import TurnLock
from tuiapp.errors import TuiappError

SAVE_EVERY_S = 1.0  # a streaming reply is written this often (kept if the process dies)


class ReplyHost(Protocol):
    """What a reply reads from the service that made it."""

    history: History
    live: set[Any]  # the replies still streaming; a reply leaves it when it ends

    @property
    def active(self) -> Any: ...  # the loaded model (name, format), or None


class Reply:
    """A streaming reply. Iterate for text pieces; the message is stored when it ends."""

    def __init__(
        self,
        service: "ReplyHost",
        conversation_id: int,
        stream: Stream,
        params: SamplingParams,
        raw: bool,
        adapters: list[dict[str, Any]] | None = None,
    ) -> None:
        self.service = service
        self.adapters = adapters or []
        self.conversation_id = conversation_id
        self.stream = stream
        self.params = params
        self.raw = raw
        self.message: Message | None = None
        self.finished = threading.Event()  # set once the reply is stored (or nothing was)
        self.turn: TurnLock | None = None  # the conversation's turn, held until stored
        self._text = ""  # what streamed so far
        self._saved_at = 0.0  # when the partial reply was last written

    def __iter__(self) -> Iterator[str]:
        started = self.raw  # a chat reply starts after the label's space: drop leading blanks
        self._saved_at = time.monotonic()
        try:
            for piece in self.stream:
                if not started:
                    piece = piece.lstrip()
                    if not piece:
                        continue
                    started = True
                self._text += piece
                yield piece
                if time.monotonic() - self._saved_at >= SAVE_EVERY_S:
                    self._save_partial()
        finally:
            try:
                self._commit()
            finally:
                if self.turn is not None:
                    self.turn.release()
                self.service.live.discard(self)
                self.finished.set()

    def cancel(self) -> None:
        self.stream.cancel()

    @property
    def completion(self) -> Completion | None:
        return self.stream.result

    def _params(self) -> dict[str, Any]:
        active = self.service.active
        params = self.params.to_dict() | {
            "raw": self.raw,
            "format": "raw" if self.raw or not active else active.format.name,
        }
        if self.adapters:
            params["adapters"] = self.adapters
        return params

    def _save_partial(self) -> None:
        """Write what streamed so far, marked stopped, so a kill -9 mid-reply keeps it; the
        reply's end rewrites the same row with its final text and figures."""
        self._saved_at = time.monotonic()
        text = self._text if self.raw else self._text.strip()
        if not text:
            return
        history = self.service.history
        try:
            if self.message is None:
                active = self.service.active
                self.message = history.add_message(
                    self.conversation_id,
                    Message(
                        role="assistant",
                        content=text,
                        model=active.name if active else None,
                        params=self._params(),
                        stopped=True,
                    ),
                )
            else:
                assert self.message.id is not None
                history.update_message(self.message.id, content=text)
        except TuiappError:
            pass  # the end of the reply tries again and reports what went wrong

    def _commit(self) -> None:
        done = self.stream.result
        if done is None:
            return  # failed: nothing more to write (a partial row stays, marked stopped)
        if not done.text and done.stopped:
            return
        final = Message(
            role="assistant",
            content=done.text.strip() if not self.raw else done.text,
            model=self.service.active.name if self.service.active else None,
            params=self._params(),
            prompt_tokens=done.prompt_tokens,
            completion_tokens=done.completion_tokens,
            first_token_ms=done.first_token_ms,
            duration_ms=done.duration_ms,
            stopped=done.stopped,
        )
        history = self.service.history
        if self.message is None:
            self.message = history.add_message(self.conversation_id, final)
        else:
            assert self.message.id is not None
            fields = final.to_dict()
            for key in ("id", "conversation_id", "created", "role"):
                fields.pop(key)
            self.message = history.update_message(self.message.id, **fields)
