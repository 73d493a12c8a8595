"""Control vectors (trained steering vectors) on a loaded llama.cpp model.

llama.cpp adds a control vector to each layer's output, after the feed-forward residual add
(``build_cvec``), for layers 1 to n-1: the buffer handed to ``llama_set_adapter_cvec`` starts at
layer 1. The file is llama.cpp's own control-vector GGUF, which its ``--control-vector`` loads
too: ``general.architecture = controlvector``, ``controlvector.model_hint`` (the base's
architecture), ``controlvector.layer_count``, and one F32 tensor ``direction.N`` of n_embd per
layer N >= 1. tuiapp adds ``tuiapp.base.sha256``. A mix may hold several, each at its own strength
(the scale); they are summed, as llama.cpp's tools do. Owner thread only.
"""

from __future__ import annotations

import ctypes
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tuiapp.errors import EngineError

if TYPE_CHECKING:
    import numpy as np

ARCHITECTURE = "controlvector"
HINT_KEY = "controlvector.model_hint"
LAYERS_KEY = "controlvector.layer_count"


@dataclass
class ControlVector:
    path: str
    directions: dict[int, np.ndarray] = field(default_factory=dict)  # layer (>= 1) -> n_embd
    model_hint: str = ""
    base_sha256: str | None = None

    @property
    def width(self) -> int:
        return int(next(iter(self.directions.values())).shape[0])


def is_control_vector(reader: Any) -> bool:
    from tuiapp.chat.models.gguf_info import string_field

    return string_field(reader, "general.architecture") == ARCHITECTURE


def read_control_vector(path: str | Path) -> ControlVector:
    """Read a control-vector GGUF; EngineError naming the file when it is not a usable one."""
    import numpy as np

    from tuiapp.chat.models.gguf_info import open_gguf, string_field

    name = Path(path).name
    try:
        reader = open_gguf(path)
    except Exception as exc:
        raise EngineError(f"The control vector {name} is not a readable GGUF ({exc}).") from exc
    if not is_control_vector(reader):
        raise EngineError(f"{name} is not a control vector.")
    vector = ControlVector(str(path))
    for tensor in reader.tensors:
        layer = tensor.name.removeprefix("direction.")
        if not tensor.name.startswith("direction.") or not layer.isdigit() or int(layer) < 1:
            raise EngineError(f"The control vector {name} has an unexpected tensor {tensor.name}.")
        vector.directions[int(layer)] = np.asarray(tensor.data, dtype=np.float32).reshape(-1)
    if not vector.directions or len({v.shape for v in vector.directions.values()}) != 1:
        raise EngineError(f"The control vector {name} holds no usable directions.")

    vector.model_hint = string_field(reader, HINT_KEY) or ""
    vector.base_sha256 = string_field(reader, "tuiapp.base.sha256")
    return vector


def check_fits(vector: ControlVector, llm: Any) -> None:
    import llama_cpp

    n_layer = llama_cpp.llama_model_n_layer(llm.model)
    if vector.width != llm.n_embd() or max(vector.directions) >= n_layer:
        raise EngineError(
            f"The control vector {Path(vector.path).name} ({vector.width} wide, up to layer "
            f"{max(vector.directions)}) was made for another model: this one is "
            f"{llm.n_embd()} wide with {n_layer} layers."
        )


def apply_vectors(llm: Any, mix: list[tuple[ControlVector, float]]) -> None:
    """Set the sum of ``mix`` (vector, strength) on the context; an empty mix clears it."""
    import llama_cpp
    import numpy as np

    if not mix:
        if llama_cpp.llama_set_adapter_cvec(llm.ctx, None, 0, llm.n_embd(), 0, 0):
            raise EngineError("llama.cpp could not clear the control vector.")
        return
    n_embd = llm.n_embd()
    n_layer = llama_cpp.llama_model_n_layer(llm.model)
    buffer = np.zeros((n_layer - 1, n_embd), dtype=np.float32)  # row i: layer i + 1
    for vector, strength in mix:
        for layer, direction in vector.directions.items():
            buffer[layer - 1] += np.float32(strength) * direction
    data = buffer.ctypes.data_as(ctypes.POINTER(ctypes.c_float))
    if llama_cpp.llama_set_adapter_cvec(llm.ctx, data, buffer.size, n_embd, 1, n_layer - 1):
        raise EngineError("llama.cpp could not set the control vector.")
