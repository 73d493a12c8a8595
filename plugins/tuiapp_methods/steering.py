"""Trained steering vectors: one learned vector per decoder layer, added to the layer's output.

The same place llama.cpp adds a control vector (``build_cvec``: each layer's output after the
feed-forward residual add, layers 1 to n-1), so the trained vectors export as llama.cpp's own
control-vector GGUF, a few kB, switched per conversation at a strength. Trained with the same
completion loss as every method, the base frozen, the vectors starting at zero.
"""

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tuiapp.plugins.exporters import Exporter, ExportRequest
from tuiapp.plugins.hookspecs import hookimpl
from tuiapp.plugins.methods import Method, ModelContext

WEIGHTS = "steering.safetensors"
CONFIG = "steering.json"
MODULE = "tuiapp_steering"  # the submodule holding the vectors (so they are in the state dict)


def _layers(model: Any) -> Any:
    return model.get_decoder().layers


def attach(model: Any, options: dict[str, Any], context: ModelContext) -> Any:
    import torch
    from torch import nn

    for param in model.parameters():
        param.requires_grad_(False)
    layers = _layers(model)
    holder = nn.Module()
    # row i steers layer i + 1: llama.cpp has no control vector for layer 0
    vectors = nn.Parameter(torch.zeros(len(layers) - 1, model.config.hidden_size))
    holder.register_parameter("vectors", vectors)
    model.add_module(MODULE, holder)

    def steer(index: int) -> Callable[..., Any]:
        def hook(_module: Any, _args: Any, output: Any) -> Any:
            if isinstance(output, tuple):
                return (output[0] + vectors[index].to(output[0].dtype), *output[1:])
            return output + vectors[index].to(output.dtype)

        return hook

    for index, layer in enumerate(layers[1:]):
        layer.register_forward_hook(steer(index))
    return model


def save(model: Any, directory: Path) -> None:
    from safetensors.torch import save_file

    vectors = getattr(model, MODULE).vectors.detach().float().contiguous()
    save_file({"vectors": vectors}, str(directory / WEIGHTS))
    (directory / CONFIG).write_text(json.dumps({"layers": int(vectors.shape[0]) + 1}))


def load(model: Any, directory: Path) -> Any:
    from safetensors.torch import load_file

    model = attach(model, {}, ModelContext("", "", ""))
    vectors = load_file(str(directory / WEIGHTS))["vectors"]
    holder = getattr(model, MODULE)
    if vectors.shape != holder.vectors.shape:
        raise ValueError(
            f"{directory}: {tuple(vectors.shape)} steering vectors, the model takes "
            f"{tuple(holder.vectors.shape)}"
        )
    holder.vectors.data.copy_(vectors)
    return model


def export(request: ExportRequest) -> dict[str, Any]:
    from safetensors.numpy import load_file

    from tuiapp.conversion import write_control_vector

    vectors = load_file(str(request.adapter_dir / WEIGHTS))["vectors"]
    request.progress("Writing the control vector", 0.5)
    return write_control_vector(
        request.out_path,
        request.base_gguf,
        {layer + 1: vectors[layer] for layer in range(vectors.shape[0])},
        base_sha256=request.base_sha256,
    ).to_dict()


def refusal(adapter_dir: Path, method: str) -> str | None:
    if not (adapter_dir / WEIGHTS).is_file():
        return f"{adapter_dir} holds no {WEIGHTS}: it is not a steering adapter."
    return None


STEERING = Method(
    name="steering",
    description="Trained steering vectors: one vector per layer added to its output; a few kB, "
    "hot-swaps as a llama.cpp control vector with a strength.",
    attach=attach,
    save=save,
    load=load,
    exporters=("control-vector",),
    training_defaults={"learning_rate": 1e-2},
)
CONTROL_VECTOR = Exporter(
    name="control-vector",
    description="The steering vectors as llama.cpp's control-vector GGUF (also loads with "
    "llama.cpp's own --control-vector).",
    produces="control_vector",
    export=export,
    refusal=refusal,
)


@hookimpl
def register_exporters(register: Callable[[Exporter], None]) -> None:
    register(CONTROL_VECTOR)


@hookimpl
def register_methods(register: Callable[[Method], None]) -> None:
    register(STEERING)
