"""The base GGUF as the conversion sees it: architecture, tensor names and shapes, and the two
ways llama.cpp's layout differs from transformers' (tensor names, Llama q/k row order).

Shapes are numpy order, ``(rows, cols)`` = ``(out, in)`` for a linear weight and
``(vocab, hidden)`` for the token embedding: the reverse of ggml's ``ne``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tuiapp.conversion.errors import AdapterMismatch, NotConvertible

if TYPE_CHECKING:
    import numpy as np

# llama.cpp stores Llama q/k projections with rows permuted for its RoPE layout (its HF converter
# permutes them; transformers' GGUF loader undoes it). Qwen2/3 and Gemma3 are stored as they are.
PERMUTED_QK_ARCHS = ("llama",)
# transformers model types whose GGUFs carry another architecture name
GGUF_ARCH_OF_MODEL_TYPE = {
    "mistral": "llama",
    "gemma3_text": "gemma3",
    "qwen2_moe": "qwen2moe",
    "qwen3_moe": "qwen3moe",
}
# the text model's module prefix inside multimodal wrappers -> the plain causal LM's
_PREFIX_ALIASES = (
    ("model.language_model.", "model."),
    ("language_model.model.", "model."),
    ("language_model.", ""),
)


@dataclass
class BaseGGUF:
    path: str
    architecture: str
    n_blocks: int
    n_head: int
    n_head_kv: int
    shapes: dict[str, tuple[int, ...]] = field(default_factory=dict)
    _names: Any = None  # gguf.TensorNameMap, built on first use
    _names_blocks: int = 0

    @property
    def tied(self) -> bool:
        """True when the output layer reuses the token embeddings (no ``output.weight``)."""
        return "output.weight" not in self.shapes

    def tensor_name(self, module: str) -> str | None:
        """The GGUF weight name of an HF module (``model.layers.0.self_attn.q_proj`` ->
        ``blk.0.attn_q.weight``), or None when the architecture has no such tensor."""
        # a module from a deeper model still gets its GGUF name, so the error can name it
        blocks = max([self.n_blocks] + [int(i) + 1 for i in re.findall(r"\.(\d+)\.", module)])
        if self._names is None or blocks > self._names_blocks:
            self._names = _name_map(self.architecture, blocks)
            self._names_blocks = blocks
        candidates = [module] + [
            module.replace(old, new, 1) for old, new in _PREFIX_ALIASES if module.startswith(old)
        ]
        for candidate in candidates:
            name = self._names.get_name(candidate)
            if name is not None:
                return f"{name}.weight"
        return None

    def permute_rows(self, name: str, rows: np.ndarray) -> np.ndarray:
        """Reorder the output rows of ``rows`` (any array whose first axis is a weight's output
        dimension) the way llama.cpp stores ``name``; unchanged for other tensors/architectures."""
        if self.architecture not in PERMUTED_QK_ARCHS or rows.shape[0] <= 1:
            return rows
        if name.endswith(".attn_q.weight"):
            return permute_qk(rows, self.n_head)
        if name.endswith(".attn_k.weight"):
            return permute_qk(rows, self.n_head_kv)
        return rows


def permute_qk(rows: np.ndarray, n_head: int) -> np.ndarray:
    """Per head, interleave the two rotary halves: llama.cpp's order for Llama q/k rows."""
    n = rows.shape[0]
    if n % (2 * n_head):
        raise AdapterMismatch(f"{n} rows cannot be split into {n_head} rotary heads")
    return (
        rows.reshape(n_head, 2, n // n_head // 2, *rows.shape[1:])
        .swapaxes(1, 2)
        .reshape(rows.shape)
    )


def gguf_arch_for_model_type(model_type: str) -> str:
    return GGUF_ARCH_OF_MODEL_TYPE.get(model_type, model_type)


def read_base(path: str | Path) -> BaseGGUF:
    """Read the header of a base GGUF (``ModelFileError`` for unusable files)."""
    from tuiapp.chat.models.gguf_info import open_gguf, read_gguf_info

    info = read_gguf_info(path)  # clear messages for missing, truncated or foreign files
    if info.kind != "model":
        raise AdapterMismatch(f"{path}: is a GGUF {info.kind}, not a base model")
    reader = open_gguf(path)
    arch = info.architecture
    n_head = _number(reader, f"{arch}.attention.head_count")
    return BaseGGUF(
        path=str(path),
        architecture=arch,
        n_blocks=_number(reader, f"{arch}.block_count"),
        n_head=n_head,
        n_head_kv=_number(reader, f"{arch}.attention.head_count_kv") or n_head,
        shapes={t.name: tuple(int(d) for d in reversed(t.shape)) for t in reader.tensors},
    )


def _number(reader: Any, key: str) -> int:
    field = reader.fields.get(key)
    if field is None:
        return 0
    value = field.contents()
    return int(max(value) if isinstance(value, list) else value)  # per-layer arrays: the max


def _name_map(arch: str, n_blocks: int) -> Any:
    import gguf

    by_name = {name: member for member, name in gguf.MODEL_ARCH_NAMES.items()}
    if arch not in by_name:
        raise NotConvertible(
            f"The installed gguf package does not know the '{arch}' "
            "architecture, so its tensor names cannot be mapped."
        )
    return gguf.get_tensor_name_map(by_name[arch], n_blocks)
