"""Prompt tuning: learned virtual tokens in front of every prompt; the base is untouched."""

from collections.abc import Callable
from typing import Any

from tuiapp.plugins.hookspecs import hookimpl
from tuiapp.plugins.methods import Method, ModelContext, Option


def build_config(options: dict[str, Any], model: ModelContext) -> Any:
    from peft import PromptTuningConfig, PromptTuningInit, TaskType

    text = options["init_text"].strip()
    return PromptTuningConfig(
        task_type=TaskType.CAUSAL_LM,
        num_virtual_tokens=options["num_virtual_tokens"],
        # Starting from real token embeddings trains far faster than from noise.
        prompt_tuning_init=PromptTuningInit.TEXT if text else PromptTuningInit.SAMPLE_VOCAB,
        prompt_tuning_init_text=text or None,
        tokenizer_name_or_path=model.hf_dir if text else None,
    )


PROMPT_TUNING = Method(
    name="prompt_tuning",
    description="Learns a few virtual prompt tokens; the smallest adapter, a soft prompt in "
    "llama.cpp.",
    build_config=build_config,
    options=(
        Option(
            "num_virtual_tokens", "int", 20, "How many virtual tokens to learn.", min=1, max=512
        ),
        Option(
            "init_text",
            "str",
            "",
            "Start the virtual tokens from this text's embeddings "
            "(empty: random vocabulary tokens).",
        ),
    ),
    # the virtual tokens go into llama.cpp as input embeddings (a soft prompt GGUF)
    exporters=("soft-prompt",),
    training_defaults={"learning_rate": 3e-2},
)


@hookimpl
def register_methods(register: Callable[[Method], None]) -> None:
    register(PROMPT_TUNING)
