"""QLoRA: LoRA over a 4-bit (bitsandbytes NF4) copy of the base; needs a CUDA GPU."""

from collections.abc import Callable
from typing import Any

from tuiapp.plugins.hookspecs import hookimpl
from tuiapp.plugins.methods import Capabilities, Method, ModelContext, Option
from tuiapp_methods.common import LORA_OPTIONS, lora_config


def build_config(options: dict[str, Any], model: ModelContext) -> Any:
    lora = {k: v for k, v in options.items() if k in {o.name for o in LORA_OPTIONS}}
    return lora_config(lora, model)


def load_kwargs(options: dict[str, Any]) -> dict[str, Any]:
    import torch
    from transformers import BitsAndBytesConfig

    return {
        "quantization_config": BitsAndBytesConfig(
            load_in_4bit=True,
            bnb_4bit_quant_type=options["quant_type"],
            bnb_4bit_use_double_quant=options["double_quant"],
            bnb_4bit_compute_dtype=torch.bfloat16,
        )
    }


def prepare_model(model: Any, options: dict[str, Any]) -> Any:
    """``options``: QLoRA's own and the training options (``gradient_checkpointing``)."""
    from peft import prepare_model_for_kbit_training

    return prepare_model_for_kbit_training(
        model, use_gradient_checkpointing=options["gradient_checkpointing"]
    )


QLORA = Method(
    name="qlora",
    description="LoRA on a 4-bit quantized base (bitsandbytes): big models in little GPU "
    "memory. CUDA only.",
    build_config=build_config,
    options=LORA_OPTIONS
    + (
        Option(
            "quant_type",
            "choice",
            "nf4",
            "4-bit data type of the frozen base.",
            choices=("nf4", "fp4"),
        ),
        Option(
            "double_quant",
            "bool",
            True,
            "Quantize the quantization constants too (~0.4 bit/parameter saved).",
        ),
    ),
    capabilities=Capabilities(needs_cuda=True, needs_packages=("bitsandbytes",)),
    exporters=("gguf-lora", "merged"),
    # the shared training option; on by default here, where memory is the point
    training_defaults={"learning_rate": 2e-4, "gradient_checkpointing": True},
    load_kwargs=load_kwargs,
    prepare_model=prepare_model,
)


@hookimpl
def register_methods(register: Callable[[Method], None]) -> None:
    register(QLORA)
