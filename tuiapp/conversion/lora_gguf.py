"""PEFT LoRA adapter -> GGUF LoRA adapter (llama.cpp's ``general.type = adapter`` format).

llama.cpp adds ``scale · alpha / r · B·A`` to each base weight it finds a ``<name>.lora_a`` /
``<name>.lora_b`` pair for, ``r`` being that pair's rank. So:

- names go through gguf-py's HF -> GGUF name map (``...self_attn.q_proj`` -> ``blk.0.attn_q``);
- Llama q/k rows are permuted in the base GGUF, so ``lora_b``'s rows are permuted the same way;
- one ``adapter.lora.alpha`` serves every pair: it is PEFT's alpha (alpha·sqrt(r) with rsLoRA,
  which scales by alpha/sqrt(r)), and any module whose own scale differs (rank_pattern /
  alpha_pattern) gets the difference baked into its ``lora_b``;
- an embedding LoRA is written with ``lora_a`` transposed: llama.cpp gathers rows of it by token.

Everything is checked against the base GGUF before a byte is written, and the file appears
under its final name only when complete.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tuiapp.conversion.errors import AdapterMismatch, ConversionError, NotConvertible
from tuiapp.conversion.gguf_base import BaseGGUF, gguf_arch_for_model_type, read_base
from tuiapp.conversion.peft_files import (
    MERGE_HINT,
    PeftAdapter,
    read_peft_adapter,
    require_adapter_export,
    require_known_tensors,
)

if TYPE_CHECKING:
    import numpy as np

OUTTYPES = ("f32", "f16")
BASE_SHA_KEY = "tuiapp.base.sha256"  # extra key: the base this adapter was converted for


@dataclass
class LoraPair:
    name: str  # the base tensor, "blk.0.attn_q.weight"
    module: str  # the HF module, "model.layers.0.self_attn.q_proj"
    lora_a: np.ndarray  # as written: (r, in), or (vocab, r) for the token embedding
    lora_b: np.ndarray  # as written: (out, r), rows permuted, scale baked in where needed


@dataclass
class ConversionResult:
    path: str
    architecture: str
    method: str
    alpha: float
    ranks: list[int]
    pairs: int
    outtype: str
    size: int
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def convert_lora(
    adapter_dir: str | Path,
    base_gguf: str | Path,
    out_path: str | Path,
    outtype: str = "f32",
    architecture: str | None = None,
    base_sha256: str | None = None,
    name: str | None = None,
) -> ConversionResult:
    """Write the GGUF LoRA adapter for the PEFT adapter in ``adapter_dir``.

    ``architecture`` (the model type or GGUF architecture the adapter was trained on, if known)
    is checked against the base. Raises ``NotConvertible`` for methods with no adapter form,
    ``AdapterMismatch`` when the adapter does not fit the base, ``ConversionError`` otherwise.
    """
    if outtype not in OUTTYPES:
        raise ConversionError(f"Unknown adapter type '{outtype}': use one of {', '.join(OUTTYPES)}")
    start = time.perf_counter()
    adapter = read_peft_adapter(adapter_dir)
    require_adapter_export(adapter)
    base = read_base(base_gguf)
    check_architecture(adapter, base, architecture)
    pairs, alpha = plan_pairs(adapter, base)
    out = Path(out_path)
    write_adapter_gguf(
        out, base.architecture, pairs, alpha, outtype, base_sha256, name or Path(adapter_dir).name
    )
    return ConversionResult(
        path=str(out),
        architecture=base.architecture,
        method=adapter.method,
        alpha=alpha,
        ranks=sorted({int(p.lora_b.shape[1]) for p in pairs}),
        pairs=len(pairs),
        outtype=outtype,
        size=out.stat().st_size,
        seconds=time.perf_counter() - start,
    )


def write_lora_gguf(
    out_path: str | Path,
    base_gguf: str | Path,
    updates: dict[str, tuple[Any, Any]],
    *,
    base_sha256: str | None = None,
    name: str = "adapter",
) -> ConversionResult:
    """Write a GGUF LoRA adapter from low-rank updates of HF modules: for a plugin's own
    exporter, whose method is not PEFT's.

    ``updates`` maps an HF module name (``model.layers.0.self_attn.q_proj``) to ``(A, B)`` with
    A (r, in) and B (out, r) float arrays such that the module's weight grows by ``B @ A``
    (any scale already in B). Names, shapes and llama.cpp's row order are handled here as for
    a PEFT adapter; a module the base has no tensor for is refused before anything is written.
    """
    import numpy as np

    start = time.perf_counter()
    base = read_base(base_gguf)
    pairs: list[LoraPair] = []
    for module, (a, b) in sorted(updates.items()):
        a, b = np.asarray(a, dtype=np.float32), np.asarray(b, dtype=np.float32)
        if a.ndim != 2 or b.ndim != 2 or a.shape[0] != b.shape[1]:
            raise ConversionError(
                f"The update for {module} must be A (r, in) and B (out, r); got "
                f"{a.shape} and {b.shape}."
            )
        tensor = target_tensor(module, base)
        check_shape(tensor, module, (b.shape[0], a.shape[1]), base)
        # llama.cpp adds alpha / r · B·A; alpha is written as 1, so B goes in multiplied by r
        rank = a.shape[0]
        b = base.permute_rows(tensor, b) * np.float32(rank)
        pairs.append(LoraPair(tensor, module, np.ascontiguousarray(a), np.ascontiguousarray(b)))
    if not pairs:
        raise ConversionError("No updates to write.")
    out = Path(out_path)
    write_adapter_gguf(out, base.architecture, pairs, 1.0, "f32", base_sha256, name)
    return ConversionResult(
        path=str(out),
        architecture=base.architecture,
        method="lora",
        alpha=1.0,
        ranks=sorted({int(p.lora_b.shape[1]) for p in pairs}),
        pairs=len(pairs),
        outtype="f32",
        size=out.stat().st_size,
        seconds=time.perf_counter() - start,
    )


def check_architecture(adapter: PeftAdapter, base: BaseGGUF, expected: str | None) -> None:
    trained_on = expected or adapter.architecture_hint()
    if trained_on and gguf_arch_for_model_type(trained_on) != base.architecture:
        raise AdapterMismatch(
            f"The adapter was trained on a '{trained_on}' model, but {Path(base.path).name} is "
            f"a '{base.architecture}' model."
        )


def written_alpha(adapter: PeftAdapter) -> float:
    """The one alpha written for all pairs: with it, a module using the config's own r and
    alpha needs nothing baked in."""
    alpha = float(adapter.config.get("lora_alpha", 8))
    if adapter.config.get("use_rslora"):
        return alpha * math.sqrt(float(adapter.config.get("r", 8)))
    return alpha


def plan_pairs(adapter: PeftAdapter, base: BaseGGUF) -> tuple[list[LoraPair], float]:
    """The tensors to write, in GGUF layout, each validated against the base; and the alpha."""
    import numpy as np

    require_known_tensors(adapter)
    alpha = written_alpha(adapter)
    pairs: list[LoraPair] = []
    for module, weights in sorted(adapter.modules.items()):
        if weights.lora_a is None or weights.lora_b is None:
            raise ConversionError(f"The adapter's {module} has only one of lora_A / lora_B.")
        name = target_tensor(module, base)
        a, b = weights.lora_a, weights.lora_b
        if a.shape[0] != b.shape[1]:
            raise ConversionError(
                f"The adapter's {module}: lora_A has rank {a.shape[0]}, lora_B rank {b.shape[1]}."
            )
        # the update PEFT adds is B·A (out x in); for an embedding it is (B·A)ᵀ (vocab x hidden)
        update_shape = (a.shape[1], b.shape[0]) if weights.embedding else (b.shape[0], a.shape[1])
        check_shape(name, module, update_shape, base)
        # llama.cpp scales by alpha / r; bake whatever else PEFT's scale for this module needs
        rank = a.shape[0]
        factor = adapter.scale(module) * rank / alpha if alpha else adapter.scale(module)
        b = base.permute_rows(name, b) if not weights.embedding else b
        if abs(factor - 1.0) > 1e-9:
            b = b * np.float32(factor)
        if weights.embedding:
            a = a.T  # llama.cpp gathers rows of lora_a by token id
        pairs.append(LoraPair(name, module, np.ascontiguousarray(a), np.ascontiguousarray(b)))
    if not pairs:
        raise ConversionError(f"{adapter.path}: the adapter holds no LoRA weights.")
    return pairs, alpha


def target_tensor(module: str, base: BaseGGUF) -> str:
    """The base tensor that ``module``'s update applies to; refuses what cannot be an adapter."""
    name = base.tensor_name(module)
    if name is None:
        raise AdapterMismatch(
            f"The adapter's module '{module}' has no counterpart in a '{base.architecture}' GGUF."
        )
    if name not in base.shapes:
        if name == "output.weight" and base.tied:
            raise NotConvertible(
                f"The adapter trains the output layer ({module}), but {Path(base.path).name} "
                "ties it to the token embeddings: llama.cpp has no separate tensor to attach "
                f"it to. {MERGE_HINT}"
            )
        raise AdapterMismatch(
            f"The base model has no tensor '{name}' for the adapter's "
            f"module '{module}' (it has {base.n_blocks} blocks)."
        )
    if name == "token_embd.weight" and base.tied:
        # llama.cpp's output layer then *is* the token_embd tensor, so it would apply the
        # embedding update to the output matmul as well (and abort on the transposed lora_a)
        raise NotConvertible(
            f"The adapter trains the token embeddings ({module}), but {Path(base.path).name} "
            "uses them as its output layer too, where llama.cpp would apply the update as well. "
            f"{MERGE_HINT}"
        )
    return name


def check_shape(name: str, module: str, update: tuple[int, ...], base: BaseGGUF) -> None:
    expected = base.shapes[name]
    if tuple(update) != tuple(expected):
        raise AdapterMismatch(
            f"Tensor '{name}' is {'x'.join(map(str, expected))} in the base model, but the "
            f"adapter's update for '{module}' is {'x'.join(map(str, update))}: it was trained "
            "on another model."
        )


def write_adapter_gguf(
    out: Path,
    arch: str,
    pairs: list[LoraPair],
    alpha: float,
    outtype: str,
    base_sha256: str | None,
    name: str,
) -> None:
    """Write the adapter to a temp file beside ``out`` and rename it into place."""
    import gguf
    import numpy as np

    dtype = np.float16 if outtype == "f16" else np.float32

    def fill(writer: Any) -> None:
        writer.add_type(gguf.GGUFType.ADAPTER)
        writer.add_string(gguf.Keys.Adapter.TYPE, "lora")
        writer.add_float32(gguf.Keys.Adapter.LORA_ALPHA, float(alpha))
        writer.add_name(name)
        writer.add_file_type(
            gguf.LlamaFileType.MOSTLY_F16 if outtype == "f16" else gguf.LlamaFileType.ALL_F32
        )
        if base_sha256:
            writer.add_string(BASE_SHA_KEY, base_sha256)
        for pair in pairs:
            writer.add_tensor(f"{pair.name}.lora_a", pair.lora_a.astype(dtype))
            writer.add_tensor(f"{pair.name}.lora_b", pair.lora_b.astype(dtype))

    write_gguf(out, arch, fill)


def write_gguf(out: Path, arch: str, fill: Any) -> None:
    """Write a GGUF whose keys and tensors ``fill(writer)`` adds: to a temp file beside ``out``,
    renamed into place when complete (ConversionError naming ``out`` on a write failure)."""
    import gguf

    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.partial")
    try:
        writer = gguf.GGUFWriter(str(tmp), arch)
        fill(writer)
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_tensors_to_file()
        writer.close()
        os.replace(tmp, out)
    except OSError as exc:
        raise ConversionError(f"Could not write {out}: {exc.strerror or exc}") from None
    finally:
        tmp.unlink(missing_ok=True)
