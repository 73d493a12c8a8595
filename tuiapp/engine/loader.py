"""Loading a GGUF into llama-cpp-python safely. Imported only inside the engine's thread.

On CPUs that report AMX, llama.cpp's extra buffer types route quantized matmuls through the AMX
kernels, which segfault on Q4_K models. ``Llama()`` has no argument for ``use_extra_bufts``, so
we wrap ``llama_model_default_params`` (looked up at call time by ``Llama.__init__``) for the
duration of the constructor. This protects users whose own llama.cpp build enabled AMX.
"""

import contextlib
import os
import threading
from collections.abc import Iterator
from typing import Any

_patch_lock = threading.Lock()


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

    threads = n_threads or physical_cores()
    with _no_extra_buffer_types():
        return Llama(
            model_path=path,
            n_ctx=n_ctx,
            n_threads=threads,
            n_threads_batch=threads,
            verbose=False,
            **kwargs,
        )
