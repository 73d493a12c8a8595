"""The built-in exporters: GGUF LoRA adapter, merged model, soft prompt.

Each wraps one public function of ``tuiapp.conversion`` (imported inside ``export``, which runs in
the conversion child), and answers ``refusal`` from the adapter's files without torch.
"""

from collections.abc import Callable
from pathlib import Path
from typing import Any

from tuiapp.plugins.exporters import Exporter, ExportRequest
from tuiapp.plugins.hookspecs import hookimpl
from tuiapp.plugins.methods import Option

# Merging requantizes the whole model. Measured on Gemma 3 270M (ARCHITECTURE.md, "Facts"):
# Q4_K_M's rounding costs 19-26% of a small LoRA's own effect and rounded a 3-step IA3 away
# (delta correlation 0.08); Q8_0 costs 1.5%. So Q8_0 is the default; Q4_K_M stays on offer.
QUANTS = ("Q8_0", "Q6_K", "Q5_K_M", "Q4_K_M", "F16", "F32")


def _peft_refusal(kind: str) -> Callable[[Path, str], str | None]:
    def refusal(adapter_dir: Path, method: str) -> str | None:
        from tuiapp.conversion import adapter_refusal, merge_refusal, read_peft_adapter
        from tuiapp.errors import TuiappError

        try:
            peft = read_peft_adapter(adapter_dir)
        except TuiappError as exc:
            return str(exc)
        return adapter_refusal(peft) if kind == "lora" else merge_refusal(peft)

    return refusal


def export_lora(request: ExportRequest) -> dict[str, Any]:
    from tuiapp.conversion import convert_lora

    request.progress("Converting the adapter to GGUF", 0.0)
    return convert_lora(
        request.adapter_dir,
        request.base_gguf,
        request.out_path,
        request.options["outtype"],
        architecture=request.architecture,
        base_sha256=request.base_sha256,
    ).to_dict()


def export_merged(request: ExportRequest) -> dict[str, Any]:
    from tuiapp.conversion import merge_export

    return merge_export(
        request.adapter_dir,
        request.base_gguf,
        request.out_path,
        request.options["quant"],
        architecture=request.architecture,
        n_threads=request.n_threads,
        progress=request.progress,
    ).to_dict()


def export_soft_prompt(request: ExportRequest) -> dict[str, Any]:
    from tuiapp.conversion.soft_prompt import convert_soft_prompt

    request.progress("Writing the soft prompt", 0.0)
    return convert_soft_prompt(
        request.adapter_dir,
        request.base_gguf,
        request.out_path,
        architecture=request.architecture,
        base_sha256=request.base_sha256,
    ).to_dict()


def soft_prompt_refusal(adapter_dir: Path, method: str) -> str | None:
    from tuiapp.conversion import read_peft_adapter
    from tuiapp.conversion.soft_prompt import soft_prompt_refusal as refusal
    from tuiapp.errors import TuiappError

    try:
        return refusal(read_peft_adapter(adapter_dir).method)
    except TuiappError as exc:
        return str(exc)


GGUF_LORA = Exporter(
    name="gguf-lora",
    description="A GGUF LoRA adapter: hot-swapped per conversation on the base model.",
    produces="lora",
    export=export_lora,
    options=(
        Option(
            "outtype",
            "choice",
            "f32",
            "Precision of the adapter's tensors.",
            choices=("f32", "f16"),
        ),
    ),
    refusal=_peft_refusal("lora"),
)
MERGED = Exporter(
    name="merged",
    description="The base with the adapter merged in, requantized: a model of its own.",
    produces="model",
    export=export_merged,
    options=(
        Option("quant", "choice", "Q8_0", "Quantization of the merged model.", choices=QUANTS),
    ),
    refusal=_peft_refusal("model"),
)
SOFT_PROMPT = Exporter(
    name="soft-prompt",
    description="The learned virtual tokens as a soft prompt GGUF, fed as input embeddings "
    "ahead of every prompt; hot-swapped per conversation.",
    produces="soft_prompt",
    export=export_soft_prompt,
    refusal=soft_prompt_refusal,
)


@hookimpl
def register_exporters(register: Callable[[Exporter], None]) -> None:
    register(GGUF_LORA)
    register(MERGED)
    register(SOFT_PROMPT)
