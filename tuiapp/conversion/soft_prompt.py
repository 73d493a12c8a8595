"""PEFT prompt tuning -> soft prompt GGUF (see ``tuiapp.chat.engine.soft_prompt`` for the format).

PEFT saves the learned virtual tokens as ``prompt_embeddings`` (num_virtual_tokens x hidden) in
the space of ``inputs_embeds``, which is what llama.cpp's ``embd`` batch input takes as well, so
they are written unchanged; the parity check measures that this holds for the architecture.
P-tuning saves its encoder's output under the same name and converts the same way.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from tuiapp.chat.engine.soft_prompt import ADAPTER_TYPE, N_TOKENS_KEY, TENSOR
from tuiapp.conversion.errors import AdapterMismatch, ConversionError, NotConvertible
from tuiapp.conversion.gguf_base import read_base
from tuiapp.conversion.lora_gguf import BASE_SHA_KEY, check_architecture, write_gguf
from tuiapp.conversion.peft_files import read_peft_adapter

SOFT_PROMPT_METHODS = ("prompt_tuning", "p_tuning")
WEIGHTS_KEY = "prompt_embeddings"


@dataclass
class SoftPromptResult:
    path: str
    architecture: str
    method: str
    n_tokens: int
    n_embd: int
    size: int
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def soft_prompt_refusal(method: str) -> str | None:
    """Why an adapter of PEFT method ``method`` has no soft prompt form (None when it has)."""
    if method in SOFT_PROMPT_METHODS:
        return None
    return (
        f"A soft prompt holds virtual token embeddings; a {method} adapter changes weights "
        "instead (convert it as a GGUF adapter or merge it)."
    )


def convert_soft_prompt(
    adapter_dir: str | Path,
    base_gguf: str | Path,
    out_path: str | Path,
    architecture: str | None = None,
    base_sha256: str | None = None,
    name: str | None = None,
) -> SoftPromptResult:
    """Write the soft prompt GGUF for the PEFT prompt-tuning adapter in ``adapter_dir``."""
    start = time.perf_counter()
    adapter = read_peft_adapter(adapter_dir)
    why = soft_prompt_refusal(adapter.method)
    if why:
        raise NotConvertible(f"Cannot write a soft prompt: {why}")
    base = read_base(base_gguf)
    check_architecture(adapter, base, architecture)
    from tuiapp.conversion.peft_files import WEIGHTS_FILE, read_safetensors

    weights = read_safetensors(Path(adapter_dir) / WEIGHTS_FILE)
    vectors = weights.get(WEIGHTS_KEY)
    if vectors is None or vectors.ndim != 2:
        raise ConversionError(f"{adapter_dir}: no {WEIGHTS_KEY} matrix in the adapter's weights.")
    hidden = base.shapes.get("token_embd.weight", (0, 0))[1]
    if vectors.shape[1] != hidden:
        raise AdapterMismatch(
            f"The soft prompt's vectors are {vectors.shape[1]} wide, but "
            f"{Path(base.path).name} embeds tokens in {hidden}: it was trained on another model."
        )
    out = Path(out_path)
    write_soft_prompt(out, base.architecture, vectors, base_sha256, name or Path(adapter_dir).name)
    return SoftPromptResult(
        path=str(out),
        architecture=base.architecture,
        method=adapter.method,
        n_tokens=int(vectors.shape[0]),
        n_embd=int(vectors.shape[1]),
        size=out.stat().st_size,
        seconds=time.perf_counter() - start,
    )


def write_soft_prompt(
    out: Path, arch: str, vectors: Any, base_sha256: str | None, name: str
) -> None:
    """Write ``vectors`` (P x n_embd) as a soft prompt GGUF, atomically (temp file, rename)."""
    import gguf
    import numpy as np

    def fill(writer: Any) -> None:
        writer.add_type(gguf.GGUFType.ADAPTER)
        writer.add_string(gguf.Keys.Adapter.TYPE, ADAPTER_TYPE)
        writer.add_name(name)
        writer.add_uint32(N_TOKENS_KEY, int(vectors.shape[0]))
        if base_sha256:
            writer.add_string(BASE_SHA_KEY, base_sha256)
        writer.add_tensor(TENSOR, np.ascontiguousarray(vectors, dtype=np.float32))

    write_gguf(out, arch, fill)
