"""Chatting: one code path for the TUI, the CLI, evaluation and one-click adapt.

``ChatService`` ties the history store, the model registry and the engine together: it formats
a conversation for the loaded model, streams the reply and commits every message when complete
(a reply stopped by the user is kept with its ``stopped`` mark). Every reply, a template's
included, runs with its conversation's adapter mix and records it. ``ChatService.open`` is the
one way to build a service; the model loads in the engine's thread.
"""

from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlite_utils

from tuiapp.chat.engine.engine import Engine, LoadedModel
from tuiapp.chat.engine.formats import PromptFormat, Turn, format_for
from tuiapp.chat.engine.sampling import SamplingParams
from tuiapp.chat.engine.soft_prompt import virtual_tokens
from tuiapp.chat.history import Conversation, History, Message
from tuiapp.chat.models import GGUFInfo, ModelRegistry, read_gguf_info
from tuiapp.chat.reply import Reply
from tuiapp.chat.templates import FilledTemplate, template_prompt
from tuiapp.chat.turns import TurnLock
from tuiapp.errors import BadInput, EngineError
from tuiapp.library.fewshot import Prompt
from tuiapp.training.store import AdapterStore, usable_gguf

TITLE_CHARS = 48
SCALE_RANGE = (-4.0, 4.0)


def parse_adapter_spec(spec: str) -> tuple[str, float]:
    """``NAME`` or ``NAME:SCALE`` (scale 1.0 by default)."""
    name, sep, scale = spec.strip().rpartition(":")
    if not sep:
        name, scale = spec.strip(), "1"
    try:
        value = float(scale)
    except ValueError:
        raise BadInput(f"--adapter needs NAME or NAME:SCALE, got {spec!r}.") from None
    if not name:
        raise BadInput(f"--adapter needs NAME or NAME:SCALE, got {spec!r}.")
    return name, value


@dataclass
class ActiveModel:
    name: str
    path: Path
    info: GGUFInfo
    format: PromptFormat


class ChatService:
    def __init__(self, history: History, registry: ModelRegistry, engine: Engine) -> None:
        self.history = history
        self.registry = registry
        self.engine = engine
        self.active: ActiveModel | None = None
        self.live: set[Reply] = set()  # replies being written, until each is stored
        self.params = SamplingParams()  # the settings a new reply uses (the TUI's ctrl+t)
        self.loading = False  # a model load is in progress (set by whoever started it)

    @classmethod
    def open(
        cls, db: sqlite_utils.Database, *, n_threads: int | None = None, n_ctx: int = 4096
    ) -> "ChatService":
        """The chat service on ``db``: its history, its model registry, an engine with no model
        yet (cheap: llama_cpp is imported when the first model loads)."""
        return cls(History(db), ModelRegistry(db), Engine(n_ctx=n_ctx, n_threads=n_threads))

    @property
    def ready(self) -> bool:
        """A model is loaded and no other load is under way."""
        return self.active is not None and not self.loading

    # -- model ---------------------------------------------------------------------------
    def resolve_model(self, spec: str | None) -> ActiveModel:
        """Check a model before loading it: a bad path fails here, with one clear message."""
        path = self.registry.resolve(spec)
        info = self.registry.info(path)
        read_gguf_info(path)  # validates header and size even when the metadata is cached
        name = self.registry.name_for(path)
        return ActiveModel(
            name, path, info, format_for(info.chat_template, info.bos_token, info.eos_token)
        )

    def load(self, spec: str | None = None) -> ActiveModel:
        """Load a model and wait for it: the CLI's and one-click adapt's way."""
        model = self.resolve_model(spec)
        self._start_load(model).result()
        # result() can return before the done-callback has run: set it here, not there only
        self.active = model
        return model

    def load_model(self, spec: str | None = None) -> Future[LoadedModel]:
        return self._start_load(self.resolve_model(spec))

    def _start_load(self, model: ActiveModel) -> Future[LoadedModel]:
        future = self.engine.load(model.path, model.info.sha256)

        def on_loaded(f: Future[LoadedModel]) -> None:
            if f.exception() is None:
                self.active = model

        future.add_done_callback(on_loaded)
        return future

    # -- adapters --------------------------------------------------------------------------
    @property
    def adapter_store(self) -> AdapterStore:
        return AdapterStore(self.history.db)

    def _checked(self, specs: list[tuple[str, float]]) -> list[tuple[str, float, str]]:
        """(name, scale, GGUF path) of each adapter, checked against the loaded model."""
        model = self.require_model()
        checked: list[tuple[str, float, str]] = []
        low, high = SCALE_RANGE
        for name, scale in specs:
            if not low <= scale <= high:
                raise BadInput(
                    f"Adapter scale {scale} for '{name}' is out of range [{low:g}, {high:g}]."
                )
            if any(seen == name for seen, _, _ in checked):
                raise BadInput(f"Adapter '{name}' is listed twice.")
            adapter = self.adapter_store.get_adapter(name)
            path = usable_gguf(adapter, model.info.sha256 or "", model.name)
            if scale != 0:
                checked.append((name, scale, path))
        return checked

    def stand_in(
        self, model: str | None, specs: list[tuple[str, float]]
    ) -> tuple[str | None, list[tuple[str, float]]]:
        """(model, adapters) to run: one merge-only adapter asked for alone, with no model
        named, runs as its merged model instead of on the base."""
        if model is None and len(specs) == 1:
            merged = self.adapter_store.get_adapter(specs[0][0]).stand_in
            if merged is not None:
                return merged, []
        return model, specs

    def check_adapters(self, specs: list[tuple[str, float]]) -> list[dict[str, Any]]:
        """Check each (name, scale) can run on the loaded model, loading its file into the
        engine (a corrupt file fails here, before anything is stored); the mix as stored."""
        checked = self._checked(specs)
        engine = self.engine

        def load(path: str) -> Callable[[Any], None]:
            return lambda llm: engine.adapters.load(llm, path)

        for _name, _scale, path in checked:
            engine.call(load(path)).result()
        return [{"name": name, "scale": scale} for name, scale, _ in checked]

    def set_adapters(self, conversation_id: int, specs: list[tuple[str, float]]) -> Conversation:
        """Use these adapters (name, scale) for every later reply in the conversation."""
        return self.history.set_adapters(conversation_id, self.check_adapters(specs))

    def adapter_mix(self, conversation_id: int) -> dict[str, float]:
        """The conversation's adapters as the engine takes them: GGUF path -> scale."""
        conv = self.history.get_conversation(conversation_id)
        specs = [(a["name"], float(a["scale"])) for a in conv.adapters]
        return {path: scale for _, scale, path in self._checked(specs)}

    # -- prompts -------------------------------------------------------------------------
    def build_prompt(self, conversation_id: int, params: SamplingParams) -> str:
        """Format the conversation, dropping the oldest turns if it would not fit the context."""
        model = self.require_model()
        turns = [Turn(m.role, m.content) for m in self.history.messages(conversation_id)]
        system = [t for t in turns if t.role == "system"]
        rest = [t for t in turns if t.role != "system"]
        budget = self.engine.n_ctx - min(params.max_tokens, self.engine.n_ctx // 2)
        budget -= virtual_tokens(self.adapter_mix(conversation_id))  # a soft prompt's positions
        while True:
            prompt = model.format.render(system + rest)
            if len(rest) <= 1 or self.engine.count_tokens(prompt) <= budget:
                return prompt
            rest = rest[1:]

    def require_model(self) -> ActiveModel:
        """The loaded model; EngineError while none is."""
        if self.active is None:
            raise EngineError("No model is loaded yet: wait for it to finish loading.")
        return self.active

    # -- sending ---------------------------------------------------------------------------
    def send(
        self,
        conversation_id: int,
        text: str,
        params: SamplingParams | None = None,
        raw: bool = False,
    ) -> Reply:
        """Store the user's message, then stream the model's reply to it."""
        params = params or SamplingParams()
        params.validate()
        model = self.require_model()
        conv = self.history.get_conversation(conversation_id)
        self.check_message(text)  # refused before anything is stored
        turn = TurnLock(conversation_id).acquire()  # one reply at a time, across processes
        try:
            self.history.add_message(conversation_id, Message("user", text, model=model.name))
            if conv.title == "New chat" and text.strip():
                self.history.rename(conversation_id, _title_from(text))
            reply = self._reply(conversation_id, params, raw, text)
        except BaseException:
            turn.release()
            raise
        reply.turn = turn  # released once the reply is stored
        return reply

    def check_message(self, text: str) -> None:
        """EngineError when ``text`` alone cannot fit the context (so nothing is stored)."""
        n_text = self.engine.count_tokens(text)
        if n_text + 1 > self.engine.n_ctx:
            raise EngineError(
                f"The message is {n_text} tokens; the context holds {self.engine.n_ctx}. "
                "Shorten it, or start with a larger context (--ctx)."
            )

    def regenerate(
        self, conversation_id: int, params: SamplingParams | None = None, raw: bool = False
    ) -> Reply:
        """Replace the last assistant reply with a new one."""
        params = params or SamplingParams()
        msgs = self.history.messages(conversation_id)
        if msgs and msgs[-1].role == "assistant" and msgs[-1].id is not None:
            self.history.delete_message(msgs[-1].id)
            msgs = msgs[:-1]
        if not msgs or msgs[-1].role != "user":
            raise EngineError("Nothing to regenerate: the conversation has no user message.")
        return self._reply(conversation_id, params, raw, msgs[-1].content)

    def _reply(
        self, conversation_id: int, params: SamplingParams, raw: bool, last_user_text: str
    ) -> Reply:
        model = self.require_model()
        if raw:
            return self._stream(conversation_id, last_user_text, params, None, raw=True)
        prompt = self.build_prompt(conversation_id, params)
        return self._stream(conversation_id, prompt, params, model.format.stop, raw=False)

    def _stream(
        self,
        conversation_id: int,
        prompt: str,
        params: SamplingParams,
        stop: list[str] | None,
        raw: bool,
    ) -> Reply:
        """Generate with the conversation's adapters; the reply records the mix it used."""
        # Always an explicit mix ({} = the base model): the engine keeps the last one otherwise.
        mix = self.adapter_mix(conversation_id)
        adapters = self.history.get_conversation(conversation_id).adapters
        stream = self.engine.complete(prompt, params, stop=stop, adapters=mix)
        reply = Reply(self, conversation_id, stream, params, raw, adapters)
        self.live.add(reply)
        return reply

    def stop_replies(self, wait: float = 0.0) -> None:
        """Stop every reply still being written (each keeps its text, marked stopped) and wait
        up to ``wait`` seconds for each to be stored: quitting mid-reply loses nothing."""
        for reply in list(self.live):
            reply.cancel()
            reply.finished.wait(wait)

    # -- templates -------------------------------------------------------------------------
    def new_template_conversation(self, filled: FilledTemplate) -> int:
        """A conversation for a template's run, titled after the template and its query."""
        model = self.active.name if self.active else None
        return self.history.new_conversation(filled.title(), model=model).id

    def template_prompt(self, filled: FilledTemplate, max_tokens: int, seed: int = 0) -> Prompt:
        """The exact prompt a run of ``filled`` sends now (a raw rendering with no model)."""
        active = self.active if self.ready else None
        return template_prompt(self.history.db, self.engine, active, filled, max_tokens, seed=seed)

    def send_template(
        self, conversation_id: int, filled: FilledTemplate, params: SamplingParams, seed: int = 0
    ) -> tuple[Reply, Prompt]:
        """Store the template's rendered body as the user's turn, then stream the whole
        few-shot prompt as one completion, with the conversation's adapters."""
        params.validate()
        model = self.require_model()
        self.history.get_conversation(conversation_id)  # a bad id fails before any work
        prompt = template_prompt(
            self.history.db, self.engine, model, filled, params.max_tokens, seed=seed
        )
        self.history.add_message(
            conversation_id,
            Message("user", filled.query(), model=model.name, params=filled.message_params(prompt)),
        )
        return self._stream(conversation_id, prompt.text, params, prompt.stop, raw=False), prompt


def _title_from(text: str) -> str:
    line = " ".join(text.split())
    return line if len(line) <= TITLE_CHARS else line[: TITLE_CHARS - 1].rstrip() + "…"
