"""Prompt tuning: learned virtual tokens in front of every prompt; the base is untouched."""

from collections.abc import Callable
from typing import Any

from tuiapp.plugins.hookspecs import hookimpl
from tuiapp.plugins.methods import Capabilities, Method, ModelContext, Option


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
    description="Learns a few virtual prompt tokens; smallest adapter, no GGUF export or merge.",
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
    # llama.cpp has no soft-prompt input: this adapter runs only under PEFT.
    capabilities=Capabilities(gguf_adapter_export=False, mergeable=False),
    training_defaults={"learning_rate": 3e-2},
)


@hookimpl
def register_methods(register: Callable[[Method], None]) -> None:
    register(PROMPT_TUNING)
