"""Soft prompts on a loaded llama.cpp model: learned vectors fed as input embeddings.

A prompt-tuning adapter is a few "virtual tokens": vectors in the model's input-embedding space
that sit in front of every prompt. llama.cpp takes them through a ``llama_batch`` carrying
``embd`` instead of token ids, decoded at positions 0..P-1, so they live in the KV cache as a
prefix that later prompts reuse (they cost nothing per query after the first).

The file is a small GGUF of our own (ARCHITECTURE.md, "Soft prompt GGUF"): ``general.type =
adapter``, ``adapter.type = soft_prompt``, the base's sha256 under ``tuiapp.base.sha256``, and one
F32 tensor ``soft_prompt.embd`` of shape (P, n_embd) holding exactly what the model's
first layer receives (for Gemma that is the token embedding already scaled by sqrt(n_embd);
transformers' ``inputs_embeds`` is the same space, so PEFT's vectors are written unchanged).

llama-cpp-python tracks the evaluated tokens in ``Llama.input_ids`` and reuses the longest
matching prefix. While a soft prompt is active its P positions hold ``PLACEHOLDER`` there, and
every prompt handed to llama-cpp-python starts with P placeholders (``SoftPrompt.tokens``): they
always match, so the virtual tokens are never re-evaluated, and a prompt that misses them (the
cache was reset or overwritten) has them decoded again first (``prime``). Owner thread only.
"""

from __future__ import annotations

import ctypes
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tuiapp.errors import EngineError

if TYPE_CHECKING:
    import numpy as np

ADAPTER_TYPE = "soft_prompt"  # the value of ``adapter.type`` (llama.cpp's LoRA loader refuses it)
TENSOR = "soft_prompt.embd"
N_TOKENS_KEY = "tuiapp.soft_prompt.n_tokens"
PLACEHOLDER = 0  # a valid token id, so llama-cpp-python can print and sample around it


@dataclass
class SoftPrompt:
    path: str
    vectors: np.ndarray  # (P, n_embd) float32, C-contiguous
    base_sha256: str | None = None
    architecture: str = ""

    @property
    def n_tokens(self) -> int:
        return int(self.vectors.shape[0])

    def primed(self, llm: Any) -> bool:
        """True when the KV cache starts with these virtual tokens."""
        n = self.n_tokens
        return llm.n_tokens >= n and bool((llm.input_ids[:n] == PLACEHOLDER).all())

    def prime(self, llm: Any) -> None:
        """Make sure the KV cache starts with the virtual tokens (decoding them if not)."""
        import llama_cpp

        if self.primed(llm):
            return
        n_embd = int(self.vectors.shape[1])  # checked against the model when the file loaded
        llm.reset()
        llm._ctx.kv_cache_seq_rm(-1, 0, -1)
        step = max(1, int(llm.n_batch))
        for start in range(0, self.n_tokens, step):
            chunk = self.vectors[start : start + step]
            batch = llama_cpp.llama_batch_init(len(chunk), n_embd, 1)
            try:
                ctypes.memmove(batch.embd, chunk.ctypes.data, chunk.nbytes)
                for i in range(len(chunk)):
                    batch.pos[i] = start + i
                    batch.n_seq_id[i] = 1
                    batch.seq_id[i][0] = 0
                    batch.logits[i] = False
                batch.n_tokens = len(chunk)
                if llama_cpp.llama_decode(llm.ctx, batch) != 0:
                    raise EngineError("llama.cpp could not evaluate the soft prompt.")
            finally:
                llama_cpp.llama_batch_free(batch)
        llm.input_ids[: self.n_tokens] = PLACEHOLDER
        llm.n_tokens = self.n_tokens
        llm._requires_eval = True  # no logits yet: the prompt after it must be decoded

    def tokens(self, llm: Any, ids: list[int]) -> list[int]:
        """``ids`` (a tokenized prompt) behind the placeholders, with the cache primed."""
        self.prime(llm)
        return [PLACEHOLDER] * self.n_tokens + list(ids)


def is_soft_prompt(reader: Any) -> bool:
    """True for a GGUF (an open reader) written as a soft prompt."""
    from tuiapp.chat.models.gguf_info import string_field

    return string_field(reader, "adapter.type") == ADAPTER_TYPE


def virtual_tokens(mix: dict[str, float]) -> int:
    """Context positions the soft prompts of an adapter mix (path -> scale) take: read from
    the files' headers, so any thread may ask."""
    from tuiapp.chat.models.gguf_info import open_gguf

    total = 0
    for path in mix:
        reader = open_gguf(path)
        field = reader.fields.get(N_TOKENS_KEY)
        if is_soft_prompt(reader) and field is not None:
            total += int(field.contents())
    return total


def read_soft_prompt(path: str | Path) -> SoftPrompt:
    """Read a soft prompt GGUF; EngineError naming the file when it is not a readable one."""
    import numpy as np

    from tuiapp.chat.models.gguf_info import open_gguf, string_field

    name = Path(path).name
    try:
        reader = open_gguf(path)
    except Exception as exc:
        raise EngineError(f"The soft prompt {name} is not a readable GGUF ({exc}).") from exc
    if not is_soft_prompt(reader):
        raise EngineError(f"{name} is not a soft prompt (adapter.type is not {ADAPTER_TYPE}).")
    tensor = next((t for t in reader.tensors if t.name == TENSOR), None)
    if tensor is None:
        raise EngineError(f"The soft prompt {name} has no {TENSOR} tensor.")
    width, count = (int(d) for d in tensor.shape)  # ggml order: (n_embd, P)
    vectors = np.ascontiguousarray(np.asarray(tensor.data, dtype=np.float32).reshape(count, width))
    if count < 1 or not np.isfinite(vectors).all():
        raise EngineError(f"The soft prompt {name} holds no usable vectors.")

    return SoftPrompt(
        str(path),
        vectors,
        string_field(reader, "tuiapp.base.sha256"),
        string_field(reader, "general.architecture") or "",
    )
