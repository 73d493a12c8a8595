"""The engine: one llama.cpp model owned by one thread; every request goes through it.

``llama_cpp.Llama`` is not thread-safe, so a single owner thread runs jobs from a queue. Callers
get a ``Stream`` (text pieces, iterable from any thread, cancellable from any thread) or a
``concurrent.futures.Future``. llama_cpp is imported in the owner thread only, so building an
``Engine`` is cheap and the TUI paints before the heavy library loads.

Stop works during a long prompt prefill too: while the prompt is evaluated, a llama.cpp abort
callback polls the request's cancel flag (it is removed once tokens flow, because llama.cpp calls
it once per graph node and a Python call per node would cost generation speed).
"""

import queue
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from tuiapp.chat.engine.adapters import AdapterMix, AdapterSlots
from tuiapp.chat.engine.sampling import SamplingParams
from tuiapp.errors import EngineError, TuiappError

_END = object()


@dataclass
class Completion:
    """What one request produced, with its measurements."""

    text: str
    prompt_tokens: int
    completion_tokens: int
    first_token_ms: float | None
    duration_ms: float
    finish_reason: str  # stop | length | cancelled

    @property
    def stopped(self) -> bool:
        return self.finish_reason == "cancelled"

    @property
    def tokens_per_s(self) -> float:
        gen_ms = self.duration_ms - (self.first_token_ms or 0.0)
        if self.completion_tokens <= 1 or gen_ms <= 0:
            return 0.0
        return (self.completion_tokens - 1) / (gen_ms / 1000)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self) | {"tokens_per_s": round(self.tokens_per_s, 2)}


class Stream:
    """Text pieces of one reply. Iterate it in any thread; ``cancel()`` from any thread."""

    def __init__(self) -> None:
        self._queue: queue.Queue[Any] = queue.Queue()
        self._cancel = threading.Event()
        self.result: Completion | None = None

    def __iter__(self) -> Iterator[str]:
        while True:
            item = self._queue.get()
            if item is _END:
                return
            if isinstance(item, BaseException):
                raise item
            yield item

    def cancel(self) -> None:
        self._cancel.set()

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    def text(self) -> str:
        """Drain the stream and return the whole reply."""
        return "".join(self)


@dataclass
class LoadedModel:
    path: str
    n_ctx: int
    n_threads: int
    load_s: float


class Engine:
    def __init__(self, n_ctx: int = 4096, n_threads: int | None = None) -> None:
        self.n_ctx = n_ctx
        self.n_threads = n_threads
        self.model: LoadedModel | None = None
        self._llm: Any = None
        self._jobs: queue.Queue[Callable[[], None] | None] = queue.Queue()
        self._abort_flag: threading.Event | None = None
        self._abort_cb: Any = None
        self.adapters = AdapterSlots()  # touched on the owner thread only
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="tuiapp-engine", daemon=True)
        self._thread.start()

    # -- the owner thread -----------------------------------------------------------------
    def _run(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                break
            job()
        self._llm = None

    def _submit(self, fn: Callable[[], Any]) -> Future[Any]:
        future: Future[Any] = Future()
        if self._closed:
            future.set_exception(EngineError("The engine is shut down."))
            return future

        def job() -> None:
            if not future.set_running_or_notify_cancel():
                return
            try:
                future.set_result(fn())
            except BaseException as exc:  # delivered to the caller, never kills the thread
                future.set_exception(_as_user_error(exc))

        self._jobs.put(job)
        return future

    def close(self) -> None:
        """Finish the queued jobs, then stop; later requests fail with EngineError."""
        self._closed = True
        self._jobs.put(None)
        self._thread.join(timeout=10)

    # -- loading ---------------------------------------------------------------------------
    def load(self, path: str | Path, sha256: str | None = None) -> Future[LoadedModel]:
        """Load (or replace) the model. Resolves to ``LoadedModel``; fails with EngineError.

        ``sha256`` (of the GGUF file) lets adapters made for another base be refused.
        """
        return self._submit(lambda: self._load(str(path), sha256))

    def _load(self, path: str, sha256: str | None = None) -> LoadedModel:
        from tuiapp.chat.engine.loader import load_llama, physical_cores

        self._llm = None  # free the old model first: two in memory may not fit
        self.model = None
        self.adapters.clear(path, sha256)
        threads = self.n_threads or physical_cores()
        start = time.perf_counter()
        try:
            self._llm = load_llama(path, n_ctx=self.n_ctx, n_threads=threads)
        except (ValueError, RuntimeError) as exc:
            from tuiapp.chat.engine.loader import last_errors

            detail = last_errors() or str(exc)
            raise EngineError(f"The model failed to load ({Path(path).name}): {detail}") from exc
        self._install_abort_callback()
        self.model = LoadedModel(path, self.n_ctx, threads, time.perf_counter() - start)
        return self.model

    def _install_abort_callback(self) -> None:
        import llama_cpp

        def should_abort(_data: Any) -> bool:
            flag = self._abort_flag
            return bool(flag and flag.is_set())

        self._abort_cb = llama_cpp.ggml_abort_callback(should_abort)  # keep a reference

    def _set_abort(self, flag: threading.Event | None) -> None:
        import llama_cpp

        self._abort_flag = flag
        callback = self._abort_cb if flag is not None else type(self._abort_cb)()  # NULL
        llama_cpp.llama_set_abort_callback(self._llm.ctx, callback, None)

    def _require(self) -> Any:
        if self._llm is None:
            raise EngineError("No model is loaded yet.")
        return self._llm

    # -- requests --------------------------------------------------------------------------
    def tokenize(self, text: str, add_bos: bool = True) -> Future[list[int]]:
        return self._submit(
            lambda: self._require().tokenize(text.encode(), add_bos=add_bos, special=True)
        )

    def call(self, fn: Callable[[Any], Any], adapters: AdapterMix | None = None) -> Future[Any]:
        """Run ``fn(llama)`` on the owner thread (scoring, embeddings); resolves to its result.

        ``fn`` gets the loaded ``llama_cpp.Llama``; it must leave the model's KV cache usable
        (scoring code rolls ``n_tokens`` back to what it evaluated on top of). ``adapters``
        as in ``complete``: None keeps the current mix.
        """

        def job() -> Any:
            llm = self._require()
            if adapters is not None:
                self.adapters.apply(llm, adapters)
            return fn(llm)

        return self._submit(job)

    def prompt_speed(self, text: str) -> Future[float]:
        """Prompt-processing speed in tokens per second, measured by evaluating ``text`` on an
        empty KV cache (as a query that shares no prefix with the one before pays it)."""

        def measure(llm: Any) -> float:
            tokens = llm.tokenize(text.encode(), add_bos=True, special=True)[: self.n_ctx - 1]
            llm.reset()
            start = time.perf_counter()
            llm.eval(tokens)
            seconds = time.perf_counter() - start
            llm.reset()  # the next request evaluates its prompt from the start
            return len(tokens) / seconds if seconds > 0 else 0.0

        return self.call(measure)

    def prompt_tokens(self, llm: Any, text: str) -> list[int]:
        """``text`` tokenized as a request evaluates it, behind the active soft prompt's
        placeholders (decoded first if the cache lost them). Inside ``call`` only."""
        ids = llm.tokenize(text.encode(), add_bos=True, special=True)
        prefix = self.adapters.prefix
        return prefix.tokens(llm, ids) if prefix else ids

    def count_tokens(self, text: str) -> int:
        return len(self.tokenize(text).result())

    def set_adapters(self, mix: AdapterMix) -> Future[bool]:
        """Make ``mix`` (adapter GGUF path -> scale; empty = base model) the active adapters.

        Each file is loaded once per model and kept; switching resets the KV cache. Resolves to
        True when the mix changed. ``complete(adapters=...)`` does the same per request.
        """
        return self._submit(lambda: self.adapters.apply(self._require(), mix))

    def unload_adapter(self, path: str) -> Future[None]:
        return self._submit(lambda: self.adapters.unload(self._require(), str(path)))

    def complete(
        self,
        prompt: str,
        params: SamplingParams | None = None,
        stop: list[str] | None = None,
        adapters: AdapterMix | None = None,
    ) -> Stream:
        """Stream a completion of ``prompt`` (already formatted). See ``Stream``.

        ``adapters`` (path -> scale) selects the adapter mix for this request; None keeps the
        current one, ``{}`` means the base model.
        """
        stream = Stream()
        params = params or SamplingParams()
        if self._closed:
            stream._queue.put(EngineError("The engine is shut down."))
            stream._queue.put(_END)
            return stream

        def job() -> None:
            try:
                if adapters is not None:
                    self.adapters.apply(self._require(), adapters)
                stream.result = self._generate(stream, prompt, params, stop or [])
            except BaseException as exc:
                stream._queue.put(_as_user_error(exc))
            finally:
                stream._queue.put(_END)

        self._jobs.put(job)
        return stream

    def _generate(
        self, stream: Stream, prompt: str, params: SamplingParams, stop: list[str]
    ) -> Completion:
        llm = self._require()
        start = time.perf_counter()
        ids = llm.tokenize(prompt.encode(), add_bos=True, special=True)
        n_prompt = len(ids)
        prefix = self.adapters.prefix  # a soft prompt's virtual tokens lead every prompt
        n_virtual = prefix.n_tokens if prefix else 0
        if n_virtual + n_prompt + 1 > self.n_ctx:
            virtual = f" after the soft prompt's {n_virtual}" if n_virtual else ""
            raise EngineError(
                f"The prompt is {n_prompt} tokens{virtual}; the context holds {self.n_ctx}. "
                "Shorten it."
            )
        max_tokens = min(params.max_tokens, self.n_ctx - n_prompt - n_virtual)
        pieces: list[str] = []
        first_ms: float | None = None
        finish = "stop"
        if stream.cancelled:
            return Completion("", n_prompt, 0, None, 0.0, "cancelled")
        self._set_abort(stream._cancel)
        try:
            chunks = llm.create_completion(
                prefix.tokens(llm, ids) if prefix else prompt,
                max_tokens=max_tokens,
                temperature=params.temperature,
                top_p=params.top_p,
                top_k=params.top_k,
                min_p=params.min_p,
                repeat_penalty=params.repeat_penalty,
                seed=params.seed,
                stop=stop,
                stream=True,
            )
            for chunk in chunks:
                if first_ms is None:
                    first_ms = (time.perf_counter() - start) * 1000
                    self._set_abort(None)
                choice = chunk["choices"][0]
                if choice["text"]:
                    pieces.append(choice["text"])
                    stream._queue.put(choice["text"])
                if choice.get("finish_reason"):
                    finish = choice["finish_reason"]
                if stream.cancelled:
                    finish = "cancelled"
                    chunks.close()
                    break
        except RuntimeError as exc:  # llama_decode aborted by the cancel flag during prefill
            if not stream.cancelled:
                raise
            finish = "cancelled"
            llm.n_tokens = min(llm.n_tokens, n_virtual + n_prompt)
            del exc
        finally:
            self._set_abort(None)
        if stream.cancelled:
            finish = "cancelled"
        n_done = max(0, llm.n_tokens - n_virtual - n_prompt) if pieces else 0
        return Completion(
            text="".join(pieces),
            prompt_tokens=n_prompt,
            completion_tokens=n_done,
            first_token_ms=first_ms,
            duration_ms=(time.perf_counter() - start) * 1000,
            finish_reason=finish,
        )


def _as_user_error(exc: BaseException) -> BaseException:
    """Turn library failures into one readable EngineError; keep our own errors as they are."""
    if isinstance(exc, TuiappError | KeyboardInterrupt):
        return exc
    if isinstance(exc, MemoryError):
        return EngineError("Out of memory: try a smaller model or a smaller context size.")
    text = str(exc) or type(exc).__name__
    if "Failed to load model" in text or "failed to load" in text.lower():
        return EngineError(f"The model failed to load: {text}")
    return EngineError(f"Generation failed: {text}")
