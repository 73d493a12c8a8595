"""GGUF adapters on a loaded llama.cpp model: load each once, switch or mix per request.

Three kinds of file take part in a mix: GGUF LoRA adapters, soft prompts (``soft_prompt.py``; at
most one per mix, at scale 1) and control vectors (``control_vector.py``; summed at their
strengths). Runs on the engine's owner thread only. ``Llama(lora_path=...)``
would bind one adapter at construction (and disable mmap); the low-level calls load any number
onto the loaded model and set the active mix on the context without reloading anything. After a
switch the KV cache holds states computed with other weights, so the prefix cache is dropped
(``Llama.reset()``).
"""

import ctypes
from pathlib import Path
from typing import Any

from tuiapp.chat.engine.control_vector import (
    ControlVector,
    apply_vectors,
    check_fits,
    is_control_vector,
    read_control_vector,
)
from tuiapp.chat.engine.soft_prompt import SoftPrompt, is_soft_prompt, read_soft_prompt
from tuiapp.errors import EngineError

AdapterMix = dict[str, float]  # adapter GGUF path -> scale


BASE_SHA256_KEY = "tuiapp.base.sha256"  # written by tuiapp.conversion into every adapter


class AdapterSlots:
    """The adapters loaded on one model, and the mix currently set on its context."""

    def __init__(self) -> None:
        self.loaded: dict[str, Any] = {}  # path -> llama_adapter_lora pointer
        self.prompts: dict[str, SoftPrompt] = {}  # path -> soft prompt read from it
        self.vectors: dict[str, ControlVector] = {}  # path -> control vector read from it
        self.active: AdapterMix = {}
        self.prefix: SoftPrompt | None = None  # the active mix's soft prompt
        self.base_path: str | None = None
        self.base_sha256: str | None = None
        self._base_tied: bool | None = None

    def clear(self, base_path: str | None = None, base_sha256: str | None = None) -> None:
        """Forget everything (the model is being replaced; llama.cpp frees its adapters)."""
        self.loaded.clear()
        self.prompts.clear()
        self.vectors.clear()
        self.active, self.prefix = {}, None
        self.base_path, self.base_sha256, self._base_tied = base_path, base_sha256, None

    def check(self, path: str) -> str:
        """Refuse, before llama.cpp sees it, an adapter made for another base, and an
        embedding LoRA on a tied-embedding base (llama.cpp would abort the whole process).
        The file's kind: ``lora``, ``soft_prompt`` or ``control_vector``."""
        from tuiapp.chat.models.gguf_info import open_gguf

        try:
            reader = open_gguf(path)
        except Exception as exc:
            raise EngineError(
                f"The adapter {Path(path).name} does not fit this model: "
                f"not a readable GGUF ({exc})"
            ) from exc
        field = reader.fields.get(BASE_SHA256_KEY)
        made_for = bytes(field.parts[-1]).decode() if field is not None else None
        if made_for and self.base_sha256 and made_for != self.base_sha256:
            raise EngineError(
                f"The adapter {Path(path).name} was trained for another base model "
                f"(sha256 {made_for[:12]}…); the loaded model is {self.base_sha256[:12]}…."
            )
        if is_soft_prompt(reader):
            return "soft_prompt"
        if is_control_vector(reader):
            return "control_vector"
        names = {t.name for t in reader.tensors}
        if "token_embd.weight.lora_a" in names and self._tied():
            raise EngineError(
                f"The adapter {Path(path).name} changes the embeddings of a model whose output "
                "layer shares them; llama.cpp cannot apply that. Use a merged export instead."
            )
        return "lora"

    def _tied(self) -> bool:
        if self._base_tied is None and self.base_path:
            from tuiapp.chat.models.gguf_info import open_gguf

            names = {t.name for t in open_gguf(self.base_path).tensors}
            self._base_tied = "output.weight" not in names
        return bool(self._base_tied)

    def load(self, llm: Any, path: str) -> None:
        import llama_cpp

        if path in self.loaded or path in self.prompts or path in self.vectors:
            return
        if not Path(path).is_file():
            raise EngineError(f"{path}: no such adapter file")
        kind = self.check(path)
        if kind == "control_vector":
            vector = read_control_vector(path)
            check_fits(vector, llm)
            self.vectors[path] = vector
            return
        if kind == "soft_prompt":
            prompt = read_soft_prompt(path)
            if prompt.vectors.shape[1] != llm.n_embd():
                raise EngineError(
                    f"The soft prompt {Path(path).name} is {prompt.vectors.shape[1]} wide; this "
                    f"model embeds tokens in {llm.n_embd()}: it was made for another model."
                )
            self.prompts[path] = prompt
            return
        pointer = llama_cpp.llama_adapter_lora_init(llm.model, path.encode())
        if not pointer:
            from tuiapp.chat.engine.loader import last_errors

            detail = last_errors() or "llama.cpp refused it"
            raise EngineError(f"The adapter {Path(path).name} does not fit this model: {detail}")
        self.loaded[path] = pointer

    def unload(self, llm: Any, path: str) -> None:
        import llama_cpp

        if path in self.active:
            self.apply(llm, {p: s for p, s in self.active.items() if p != path})
        self.prompts.pop(path, None)
        self.vectors.pop(path, None)
        pointer = self.loaded.pop(path, None)
        if pointer is not None:
            llama_cpp.llama_adapter_lora_free(pointer)

    def apply(self, llm: Any, mix: AdapterMix) -> bool:
        """Set ``mix`` on the context (loading files as needed). True when anything changed."""
        import llama_cpp

        mix = {str(p): float(s) for p, s in mix.items() if s != 0}
        if mix == self.active:
            return False
        for path in mix:
            self.load(llm, path)
        prompts = [p for p in mix if p in self.prompts]
        if len(prompts) > 1:
            raise EngineError(
                "Only one soft prompt can lead a prompt; pick one of "
                + ", ".join(Path(p).name for p in prompts)
                + "."
            )
        if prompts and mix[prompts[0]] != 1.0:
            raise EngineError(
                f"A soft prompt has no scale ({Path(prompts[0]).name} was given "
                f"{mix[prompts[0]]:g}); use it at 1."
            )
        loras = {p: s for p, s in mix.items() if p in self.loaded}
        n = len(loras)
        pointers = (llama_cpp.llama_adapter_lora_p_ctypes * max(n, 1))(
            *[self.loaded[p] for p in loras]
        )
        scales = (ctypes.c_float * max(n, 1))(*loras.values())
        if llama_cpp.llama_set_adapters_lora(
            llm.ctx, pointers if n else None, n, scales if n else None
        ):
            raise EngineError("llama.cpp could not set the adapters on the context.")
        vectors = [(self.vectors[p], s) for p, s in mix.items() if p in self.vectors]
        if vectors or any(p in self.vectors for p in self.active):
            apply_vectors(llm, vectors)
        self.active = mix
        self.prefix = self.prompts[prompts[0]] if prompts else None
        llm.reset()  # cached KV states were computed with the old weights
        return True
