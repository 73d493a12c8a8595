"""A third-party fine-tuning method plugin, written the way a user's package would be."""

from typing import Any

from tuiapp.plugins.hookspecs import hookimpl
from tuiapp.plugins.methods import Method, ModelContext, Option
from tuiapp_example_plugin.own_method import EXAMPLE_LORA, LOW_RANK


def build_tiny_lora(options: dict[str, Any], model: ModelContext) -> Any:
    from peft import LoraConfig, TaskType

    return LoraConfig(
        task_type=TaskType.CAUSAL_LM,
        r=options["rank"],
        lora_alpha=options["rank"],
        target_modules=["q_proj", "v_proj"],
        lora_dropout=0.0,
    )


def refuse_to_load(options: dict[str, Any]) -> dict[str, Any]:
    raise RuntimeError("this method's base-model hook always fails")


@hookimpl
def register_exporters(register):  # type: ignore[no-untyped-def]
    register(EXAMPLE_LORA)


@hookimpl
def register_methods(register):  # type: ignore[no-untyped-def]
    register(LOW_RANK)
    register(
        Method(
            name="tiny_lora",
            description="Rank-2 LoRA on the query and value projections (example plugin).",
            build_config=build_tiny_lora,
            options=(Option("rank", "int", 2, "LoRA rank.", min=1, max=64),),
            exporters=("gguf-lora",),
            training_defaults={"learning_rate": 2e-3},
        )
    )
    register(
        Method(
            name="fails_to_load",
            description="Always fails before training (example plugin, for tests).",
            build_config=build_tiny_lora,
            options=(Option("rank", "int", 2, "LoRA rank.", min=1, max=64),),
            load_kwargs=refuse_to_load,
            exporters=("gguf-lora",),
        )
    )
