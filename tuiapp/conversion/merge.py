"""Merge export: the adapter folded into the base's weights, as a full, requantized GGUF.

No HF -> GGUF converter is involved. The base GGUF is copied tensor by tensor into an
intermediate GGUF with every metadata key kept (chat template, tokenizer, EOS...): tensors the
adapter does not touch keep their original bytes, touched ones are dequantized, updated in GGUF
orientation and written as F32. llama.cpp's ``llama_model_quantize`` then makes the final file;
it copies tensors already in the type it picks and quantizes the rest, so untouched weights come
through bit-exact when the target matches the base's quantization.

Updates, in GGUF orientation (rows = outputs, Llama q/k rows permuted like the base):
LoRA ``W + s·B·A``; DoRA ``m / ‖W + s·B·A‖_row · (W + s·B·A)``; IA3 ``W ⊙ l`` (rows or columns);
``modules_to_save`` the saved weight. On a tied base an update to the embeddings or to the output
layer unties them: PEFT changes only the one module it wraps.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tuiapp.conversion.errors import AdapterMismatch, ConversionError, NotConvertible
from tuiapp.conversion.gguf_base import BaseGGUF, read_base
from tuiapp.conversion.lora_gguf import check_architecture
from tuiapp.conversion.peft_files import (
    ModuleWeights,
    PeftAdapter,
    merge_refusal,
    require_known_tensors,
)
from tuiapp.conversion.peft_files import read_peft_adapter as read_adapter

if TYPE_CHECKING:
    import numpy as np

Progress = Callable[[str, float], None]
Update = Callable[["np.ndarray"], "np.ndarray"]
QUANT_TYPES = ("Q4_K_M", "Q5_K_M", "Q6_K", "Q8_0", "F16", "F32")
EMBD, OUTPUT = "token_embd.weight", "output.weight"


@dataclass
class MergeResult:
    path: str
    quant: str
    method: str
    merged_tensors: int
    size: int
    seconds: float
    quantize_seconds: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def merge_export(
    adapter_dir: str | Path,
    base_gguf: str | Path,
    out_path: str | Path,
    quant: str = "Q4_K_M",
    *,
    architecture: str | None = None,
    n_threads: int | None = None,
    progress: Progress | None = None,
) -> MergeResult:
    """Write ``base_gguf`` with the adapter merged in, quantized to ``quant``, at ``out_path``."""
    quant = quant.upper()
    if quant not in QUANT_TYPES:
        raise ConversionError(
            f"Unknown quantization '{quant}': use one of {', '.join(QUANT_TYPES)}"
        )
    report = progress or (lambda _stage, _fraction: None)
    start = time.perf_counter()
    report("Reading the adapter", 0.0)
    adapter = read_adapter(adapter_dir)
    reason = merge_refusal(adapter)
    if reason:
        raise NotConvertible(f"Cannot merge this {adapter.method} adapter: {reason}")
    base = read_base(base_gguf)
    check_architecture(adapter, base, architecture)
    updates = plan_updates(adapter, base)
    out = Path(out_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = out.with_name(f".{out.name}.{os.getpid()}.merged.partial")
    final_tmp = out.with_name(f".{out.name}.{os.getpid()}.partial")
    try:
        write_merged(base, updates, staging, report)
        report(f"Quantizing to {quant}", 0.7)
        q_start = time.perf_counter()
        quantize(staging, final_tmp, quant, n_threads)
        q_seconds = time.perf_counter() - q_start
        os.replace(final_tmp, out)
    except OSError as exc:
        raise ConversionError(f"Could not write {out}: {exc.strerror or exc}") from None
    finally:
        staging.unlink(missing_ok=True)
        final_tmp.unlink(missing_ok=True)
    report("Merged", 1.0)
    return MergeResult(
        str(out),
        quant,
        adapter.method,
        len(updates),
        out.stat().st_size,
        time.perf_counter() - start,
        q_seconds,
    )


# -- what changes ---------------------------------------------------------------------------
def plan_updates(adapter: PeftAdapter, base: BaseGGUF) -> dict[str, tuple[str, Update]]:
    """GGUF tensor name -> (the base tensor it starts from, the update to apply)."""
    require_known_tensors(adapter)
    updates: dict[str, tuple[str, Update]] = {}
    for module, weights in sorted(adapter.modules.items()):
        name = base.tensor_name(module)
        if name is None or (name not in base.shapes and not (name == OUTPUT and base.tied)):
            raise AdapterMismatch(
                f"The base model has no tensor for the adapter's module '{module}' (it is a "
                f"'{base.architecture}' model with {base.n_blocks} blocks)."
            )
        source = EMBD if name == OUTPUT and base.tied else name
        updates[name] = (source, module_update(adapter, base, name, weights))
    if EMBD in updates and base.tied and OUTPUT not in updates:
        updates[OUTPUT] = (EMBD, lambda w: w)  # keep the output layer as it was: untie
    return updates


def module_update(adapter: PeftAdapter, base: BaseGGUF, name: str, w: ModuleWeights) -> Update:
    import numpy as np

    shape = base.shapes[EMBD if name == OUTPUT and base.tied else name]
    if w.full is not None:
        full = base.permute_rows(name, w.full)
        if base.architecture in ("gemma2", "gemma3") and name.endswith("norm.weight"):
            full = full + 1.0  # llama.cpp stores Gemma norms as 1 + weight
        _check(name, w.module, full.shape, shape)
        return lambda _w: full.astype(np.float32)
    if w.ia3 is not None:
        rows = w.ia3.shape[-1] == 1  # (out, 1) scales outputs, (1, in) inputs
        fits = w.ia3.shape[0] == shape[0] if rows else w.ia3.shape[-1] == shape[-1]
        if w.ia3.ndim != 2 or not fits:
            _check(name, w.module, w.ia3.shape, shape)
        scale = base.permute_rows(name, w.ia3) if rows else w.ia3
        return lambda weight: weight * scale
    if w.lora_a is None or w.lora_b is None:
        raise ConversionError(f"The adapter's {w.module} has only part of its weights.")
    s = np.float32(adapter.scale(w.module))
    if w.embedding:
        if w.magnitude is not None:
            raise NotConvertible("DoRA on embeddings cannot be merged here.")
        delta = (s * (w.lora_b @ w.lora_a)).T
    else:
        delta = s * (base.permute_rows(name, w.lora_b) @ w.lora_a)
    _check(name, w.module, delta.shape, shape)
    if w.magnitude is None:
        return lambda weight: weight + delta
    magnitude = base.permute_rows(name, w.magnitude)

    def dora(weight: np.ndarray) -> np.ndarray:
        combined = weight + delta
        norm = np.linalg.norm(combined, axis=1, keepdims=True)
        return np.asarray(combined * (magnitude[:, None] / norm))

    return dora


def _check(name: str, module: str, got: tuple[int, ...], expected: tuple[int, ...]) -> None:
    if tuple(got) != tuple(expected):
        raise AdapterMismatch(
            f"Tensor '{name}' is {'x'.join(map(str, expected))} in the base model, but the "
            f"adapter's '{module}' is {'x'.join(map(str, got))}: it was trained on another model."
        )


# -- writing --------------------------------------------------------------------------------
def write_merged(
    base: BaseGGUF, updates: dict[str, tuple[str, Update]], path: Path, report: Progress
) -> None:
    """The intermediate GGUF: metadata and untouched tensors copied, updated ones in F32."""
    import numpy as np
    from gguf.quants import dequantize

    from tuiapp.chat.models.gguf_info import open_gguf
    from tuiapp.conversion.gguf_copy import copy_metadata, fast_writer

    reader = open_gguf(base.path)
    tensors = {t.name: t for t in reader.tensors}
    order = list(tensors)
    if OUTPUT in updates and OUTPUT not in tensors:  # untied: the new output layer
        order.insert(order.index(EMBD) + 1, OUTPUT)
    writer = fast_writer(str(path), base.architecture)
    copy_metadata(reader, writer)
    for name in order:
        if name in updates:
            shape = base.shapes[updates[name][0]]
            writer.add_tensor_info(name, shape, np.dtype(np.float32), int(np.prod(shape)) * 4)
        else:
            t = tensors[name]
            writer.add_tensor_info(
                name, t.data.shape, t.data.dtype, int(t.data.nbytes), raw_dtype=t.tensor_type
            )
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_ti_data_to_file()
    for i, name in enumerate(order):
        if name in updates:
            source, update = updates[name]
            t = tensors[source]
            weight = dequantize(t.data, t.tensor_type).astype(np.float32, copy=False)
            data = np.ascontiguousarray(update(weight), dtype=np.float32)
            report(f"Merging {name}", 0.05 + 0.65 * i / len(order))
        else:
            data = tensors[name].data
        writer.write_tensor_data(data)
    writer.close()
    del reader, tensors


def quantize(source: Path, out: Path, quant: str, n_threads: int | None) -> None:
    """Run llama.cpp's quantizer (it also copies tensors that already have the chosen type)."""
    import ctypes

    import llama_cpp

    from tuiapp.chat.engine.loader import last_errors, physical_cores, quiet_llama_logs

    ftypes = {
        "Q4_K_M": llama_cpp.LLAMA_FTYPE_MOSTLY_Q4_K_M,
        "Q5_K_M": llama_cpp.LLAMA_FTYPE_MOSTLY_Q5_K_M,
        "Q6_K": llama_cpp.LLAMA_FTYPE_MOSTLY_Q6_K,
        "Q8_0": llama_cpp.LLAMA_FTYPE_MOSTLY_Q8_0,
        "F16": llama_cpp.LLAMA_FTYPE_MOSTLY_F16,
        "F32": llama_cpp.LLAMA_FTYPE_ALL_F32,
    }
    quiet_llama_logs()
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = ftypes[quant]
    params.nthread = n_threads or physical_cores()
    params.allow_requantize = True  # untouched tensors arrive quantized
    if (
        llama_cpp.llama_model_quantize(
            str(source).encode(), str(out).encode(), ctypes.byref(params)
        )
        != 0
    ):
        raise ConversionError(
            f"llama.cpp could not quantize the merged model to {quant}: "
            f"{last_errors() or 'see the log'}"
        )
