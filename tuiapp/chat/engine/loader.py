"""Loading a GGUF into llama-cpp-python safely. Imported only inside the engine's thread.

On CPUs that report AMX, llama.cpp's extra buffer types route quantized matmuls through the AMX
kernels, which segfault on Q4_K models. ``Llama()`` has no argument for ``use_extra_bufts``, so
we wrap ``llama_model_default_params`` (looked up at call time by ``Llama.__init__``) for the
duration of the constructor. This protects users whose own llama.cpp build enabled AMX.
"""

import contextlib
import ctypes
import logging
import os
import threading
from collections import deque
from collections.abc import Iterator
from typing import Any

_patch_lock = threading.Lock()
log = logging.getLogger("tuiapp.llama")
# llama.cpp's recent log lines, for error messages. Nothing is printed: stray writes to the
# terminal would tear the TUI's screen.
recent_log: deque[str] = deque(maxlen=40)
_log_callback: Any = None


def quiet_llama_logs() -> None:
    """Route llama.cpp's own logging into ``recent_log`` and Python logging (debug)."""
    global _log_callback
    import llama_cpp

    if _log_callback is not None:
        return

    @llama_cpp.llama_log_callback
    def callback(level: int, text: bytes, _data: ctypes.c_void_p) -> None:
        line = text.decode("utf-8", errors="replace")
        recent_log.append(line)
        log.debug(line.rstrip())

    _log_callback = callback  # keep a reference: llama.cpp holds only the pointer
    llama_cpp.llama_log_set(callback, ctypes.c_void_p(0))


def last_errors() -> str:
    """The last few llama.cpp log lines that look like errors, joined for a message."""
    lines = [ln.strip() for ln in recent_log if "error" in ln.lower() or "failed" in ln.lower()]
    return "; ".join(lines[-3:])


@contextlib.contextmanager
def _no_extra_buffer_types() -> Iterator[None]:
    import llama_cpp.llama_cpp as lib

    original = lib.llama_model_default_params

    def safe_defaults() -> Any:
        params = original()
        if hasattr(params, "use_extra_bufts"):
            params.use_extra_bufts = False
        return params

    with _patch_lock:
        lib.llama_model_default_params = safe_defaults
        try:
            yield
        finally:
            lib.llama_model_default_params = original


def physical_cores() -> int:
    import psutil

    return psutil.cpu_count(logical=False) or os.cpu_count() or 1


def load_llama(path: str, n_ctx: int = 4096, n_threads: int | None = None, **kwargs: Any) -> Any:
    """A ``llama_cpp.Llama`` for ``path`` with AMX-safe params and explicit thread counts."""
    from llama_cpp import Llama

    quiet_llama_logs()
    threads = n_threads or physical_cores()
    recent_log.clear()
    with _no_extra_buffer_types():
        return Llama(
            model_path=path,
            n_ctx=n_ctx,
            n_threads=threads,
            n_threads_batch=threads,
            verbose=False,
            **kwargs,
        )
