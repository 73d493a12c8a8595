"""Chatting: one code path for the TUI and the CLI.

``ChatService`` ties the history store, the model registry and the engine together: it formats
a conversation for the loaded model, streams the reply and commits every message when complete
(a reply stopped by the user is kept with its ``stopped`` mark).
"""

from collections.abc import Iterator
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path

from tuiapp.engine.engine import Completion, Engine, LoadedModel, Stream
from tuiapp.engine.formats import PromptFormat, Turn, format_for
from tuiapp.engine.sampling import SamplingParams
from tuiapp.errors import EngineError
from tuiapp.models import GGUFInfo, ModelRegistry, read_gguf_info
from tuiapp.store.history import History, Message

TITLE_CHARS = 48


@dataclass
class ActiveModel:
    name: str
    path: Path
    info: GGUFInfo
    format: PromptFormat


class Reply:
    """A streaming reply. Iterate for text pieces; the message is stored when it ends."""

    def __init__(self, service: "ChatService", conversation_id: int, stream: Stream,
                 params: SamplingParams, raw: bool) -> None:
        self.service = service
        self.conversation_id = conversation_id
        self.stream = stream
        self.params = params
        self.raw = raw
        self.message: Message | None = None

    def __iter__(self) -> Iterator[str]:
        started = self.raw  # a chat reply starts after the label's space: drop leading blanks
        try:
            for piece in self.stream:
                if not started:
                    piece = piece.lstrip()
                    if not piece:
                        continue
                    started = True
                yield piece
        finally:
            self._commit()

    def cancel(self) -> None:
        self.stream.cancel()

    @property
    def completion(self) -> Completion | None:
        return self.stream.result

    def _commit(self) -> None:
        done = self.stream.result
        if done is None or self.message is not None:
            return  # failed before producing anything: nothing half-written
        if not done.text and done.stopped:
            return
        active = self.service.active
        self.message = self.service.history.add_message(
            self.conversation_id,
            Message(
                role="assistant",
                content=done.text.strip() if not self.raw else done.text,
                model=active.name if active else None,
                params=self.params.to_dict() | {"raw": self.raw,
                                                "format": "raw" if self.raw or not active
                                                else active.format.name},
                prompt_tokens=done.prompt_tokens,
                completion_tokens=done.completion_tokens,
                first_token_ms=done.first_token_ms,
                duration_ms=done.duration_ms,
                stopped=done.stopped,
            ),
        )


class ChatService:
    def __init__(self, history: History, registry: ModelRegistry, engine: Engine) -> None:
        self.history = history
        self.registry = registry
        self.engine = engine
        self.active: ActiveModel | None = None

    # -- model ---------------------------------------------------------------------------
    def resolve_model(self, spec: str | None) -> ActiveModel:
        """Check a model before loading it: a bad path fails here, with one clear message."""
        path = self.registry.resolve(spec)
        info = self.registry.info(path)
        read_gguf_info(path)  # validates header and size even when the metadata is cached
        name = self.registry.name_for(path)
        return ActiveModel(name, path, info,
                           format_for(info.chat_template, info.bos_token, info.eos_token))

    def load_model(self, spec: str | None = None) -> Future[LoadedModel]:
        model = self.resolve_model(spec)
        future = self.engine.load(model.path, model.info.sha256)

        def on_loaded(f: Future[LoadedModel]) -> None:
            if f.exception() is None:
                self.active = model

        future.add_done_callback(on_loaded)
        return future

    # -- prompts -------------------------------------------------------------------------
    def build_prompt(self, conversation_id: int, params: SamplingParams) -> str:
        """Format the conversation, dropping the oldest turns if it would not fit the context."""
        model = self._require_model()
        turns = [Turn(m.role, m.content) for m in self.history.messages(conversation_id)]
        system = [t for t in turns if t.role == "system"]
        rest = [t for t in turns if t.role != "system"]
        budget = self.engine.n_ctx - min(params.max_tokens, self.engine.n_ctx // 2)
        while True:
            prompt = model.format.render(system + rest)
            if len(rest) <= 1 or self.engine.count_tokens(prompt) <= budget:
                return prompt
            rest = rest[1:]

    def _require_model(self) -> ActiveModel:
        if self.active is None:
            raise EngineError("No model is loaded yet: wait for it to finish loading.")
        return self.active

    # -- sending ---------------------------------------------------------------------------
    def send(self, conversation_id: int, text: str, params: SamplingParams | None = None,
             raw: bool = False) -> Reply:
        """Store the user's message, then stream the model's reply to it."""
        params = params or SamplingParams()
        params.validate()
        model = self._require_model()
        conv = self.history.get_conversation(conversation_id)
        self.history.add_message(conversation_id, Message("user", text, model=model.name))
        if conv.title == "New chat" and text.strip():
            self.history.rename(conversation_id, _title_from(text))
        return self._reply(conversation_id, params, raw, text)

    def regenerate(self, conversation_id: int, params: SamplingParams | None = None,
                   raw: bool = False) -> Reply:
        """Replace the last assistant reply with a new one."""
        params = params or SamplingParams()
        msgs = self.history.messages(conversation_id)
        if msgs and msgs[-1].role == "assistant":
            self.history.delete_message(msgs[-1].id)  # type: ignore[arg-type]
            msgs = msgs[:-1]
        if not msgs or msgs[-1].role != "user":
            raise EngineError("Nothing to regenerate: the conversation has no user message.")
        return self._reply(conversation_id, params, raw, msgs[-1].content)

    def _reply(self, conversation_id: int, params: SamplingParams, raw: bool,
               last_user_text: str) -> Reply:
        model = self._require_model()
        if raw:
            stream = self.engine.complete(last_user_text, params)
        else:
            prompt = self.build_prompt(conversation_id, params)
            stream = self.engine.complete(prompt, params, stop=model.format.stop)
        return Reply(self, conversation_id, stream, params, raw)


def _title_from(text: str) -> str:
    line = " ".join(text.split())
    return line if len(line) <= TITLE_CHARS else line[: TITLE_CHARS - 1].rstrip() + "…"
