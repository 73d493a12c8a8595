"""IA3: learned per-channel scaling of keys, values and MLP activations; tiny, merge-only."""

from collections.abc import Callable
from typing import Any

from tuiapp.plugins.hookspecs import hookimpl
from tuiapp.plugins.methods import Method, ModelContext, Option

ATTENTION = ["k_proj", "v_proj", "qkv_proj"]
FEEDFORWARD = ["down_proj"]


def build_config(options: dict[str, Any], model: ModelContext) -> Any:
    from peft import IA3Config, TaskType

    with_mlp = options["targets"] == "attention+mlp"
    return IA3Config(
        task_type=TaskType.CAUSAL_LM,
        target_modules=ATTENTION + (FEEDFORWARD if with_mlp else []),
        feedforward_modules=FEEDFORWARD if with_mlp else [],
    )


IA3 = Method(
    name="ia3",
    description="Rescales keys, values and MLP activations (a few thousand parameters); "
    "merge-only export (Q8_0 by default).",
    build_config=build_config,
    options=(
        Option(
            "targets",
            "choice",
            "attention+mlp",
            "Rescale attention only, or the MLP too.",
            choices=("attention", "attention+mlp"),
        ),
    ),
    exporters=("merged",),
    training_defaults={"learning_rate": 5e-3},
)


@hookimpl
def register_methods(register: Callable[[Method], None]) -> None:
    register(IA3)
