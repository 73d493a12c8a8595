"""What the LoRA-family methods share: target-module presets and their options."""

from typing import Any

from tuiapp.plugins.methods import ModelContext, Option

# Module names per preset. Llama, Mistral, Qwen and Gemma use the first names; Phi-3 fuses
# q/k/v into qkv_proj and gate/up into gate_up_proj. PEFT ignores names a model lacks as long
# as one matches.
ATTENTION = ["q_proj", "k_proj", "v_proj", "o_proj", "qkv_proj"]
MLP = ["gate_proj", "up_proj", "down_proj", "gate_up_proj"]
PRESETS = ("attention", "attention+mlp", "all-linear")


def target_modules(preset: str) -> list[str] | str:
    if preset == "attention":
        return ATTENTION
    if preset == "attention+mlp":
        return ATTENTION + MLP
    return "all-linear"  # PEFT: every linear layer except the output head


LORA_OPTIONS = (
    Option(
        "r",
        "int",
        8,
        "Rank of the update matrices: capacity (and size) of the adapter.",
        min=1,
        max=512,
    ),
    Option(
        "alpha",
        "float",
        16.0,
        "Scale numerator: the update is scaled by alpha/r (alpha/sqrt(r) with rslora).",
        min=0.001,
        max=4096,
    ),
    Option(
        "dropout",
        "float",
        0.05,
        "Dropout on the adapter's input during training.",
        min=0.0,
        max=0.9,
    ),
    Option("targets", "choice", "attention+mlp", "Which layers get an adapter.", choices=PRESETS),
    Option(
        "rslora",
        "bool",
        False,
        "Rank-stabilised LoRA: scale by alpha/sqrt(r), so higher ranks keep learning.",
    ),
)


def lora_config(options: dict[str, Any], model: ModelContext, **extra: Any) -> Any:
    from peft import LoraConfig, TaskType

    return LoraConfig(
        task_type=TaskType.CAUSAL_LM,
        r=options["r"],
        lora_alpha=options["alpha"],
        lora_dropout=options["dropout"],
        target_modules=target_modules(options["targets"]),
        use_rslora=options["rslora"],
        **extra,
    )
