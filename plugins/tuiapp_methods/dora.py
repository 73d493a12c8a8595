"""DoRA: LoRA with a learned magnitude per output; merge-only (no GGUF adapter form)."""

from collections.abc import Callable
from typing import Any

from tuiapp.plugins.hookspecs import hookimpl
from tuiapp.plugins.methods import Method, ModelContext
from tuiapp_methods.common import LORA_OPTIONS, lora_config


def build_config(options: dict[str, Any], model: ModelContext) -> Any:
    return lora_config(options, model, use_dora=True)


DORA = Method(
    name="dora",
    description="Weight-decomposed LoRA (magnitude + direction); closer to full fine-tuning, "
    "merge-only export (Q8_0 by default).",
    build_config=build_config,
    options=LORA_OPTIONS,
    # llama.cpp adapters are plain A/B pairs: the magnitude vector only survives a merge.
    exporters=("merged",),
    training_defaults={"learning_rate": 3e-4},
)


@hookimpl
def register_methods(register: Callable[[Method], None]) -> None:
    register(DORA)
