"""LoRA: low-rank updates beside the frozen weights; converts to a GGUF LoRA adapter."""

from collections.abc import Callable
from typing import Any

from tuiapp.plugins.hookspecs import hookimpl
from tuiapp.plugins.methods import Method, ModelContext
from tuiapp_methods.common import LORA_OPTIONS, lora_config


def build_config(options: dict[str, Any], model: ModelContext) -> Any:
    return lora_config(options, model)


LORA = Method(
    name="lora",
    description="Low-rank adapters on attention/MLP layers; exports as a GGUF LoRA adapter.",
    build_config=build_config,
    options=LORA_OPTIONS,
    exporters=("gguf-lora", "merged"),
    training_defaults={"learning_rate": 3e-4},
)


@hookimpl
def register_methods(register: Callable[[Method], None]) -> None:
    register(LORA)
