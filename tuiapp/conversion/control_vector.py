"""Trained steering vectors -> llama.cpp's control-vector GGUF (see
``tuiapp.chat.engine.control_vector`` for the format): for a method's own exporter."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from tuiapp.chat.engine.control_vector import ARCHITECTURE, HINT_KEY, LAYERS_KEY
from tuiapp.conversion.errors import AdapterMismatch, ConversionError
from tuiapp.conversion.gguf_base import read_base
from tuiapp.conversion.lora_gguf import BASE_SHA_KEY, write_gguf


@dataclass
class ControlVectorResult:
    path: str
    architecture: str
    layers: int
    n_embd: int
    size: int
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def write_control_vector(
    out_path: str | Path,
    base_gguf: str | Path,
    directions: dict[int, Any],
    *,
    base_sha256: str | None = None,
) -> ControlVectorResult:
    """Write ``directions`` (layer N >= 1 -> a vector of n_embd, added to layer N's output) as a
    control-vector GGUF for ``base_gguf``, atomically; shapes and layers checked first."""
    import numpy as np

    start = time.perf_counter()
    base = read_base(base_gguf)
    hidden = base.shapes.get("token_embd.weight", (0, 0))[1]
    for layer, vector in directions.items():
        width = int(np.asarray(vector).size)
        if not 1 <= layer < base.n_blocks or width != hidden:
            raise AdapterMismatch(
                f"Direction for layer {layer} ({width} wide) does not fit "
                f"{Path(base.path).name}: layers 1..{base.n_blocks - 1}, {hidden} wide."
            )
    if not directions:
        raise ConversionError("No directions to write.")
    out = Path(out_path)

    def fill(writer: Any) -> None:
        writer.add_string(HINT_KEY, base.architecture)
        writer.add_uint32(LAYERS_KEY, len(directions))
        if base_sha256:
            writer.add_string(BASE_SHA_KEY, base_sha256)
        for layer in sorted(directions):
            vector = np.ascontiguousarray(np.asarray(directions[layer], dtype=np.float32))
            writer.add_tensor(f"direction.{layer}", vector.reshape(-1))

    write_gguf(out, ARCHITECTURE, fill)
    return ControlVectorResult(
        str(out),
        base.architecture,
        len(directions),
        hidden,
        out.stat().st_size,
        time.perf_counter() - start,
    )
