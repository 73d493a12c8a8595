"""Conversion: a trained PEFT adapter becomes something llama.cpp runs, and is checked.

- ``convert_lora``: PEFT LoRA -> GGUF LoRA adapter, hot-swappable in the engine.
- ``merge_export``: any LoRA / DoRA / IA3 adapter merged into the base, requantized.
- ``convert_soft_prompt``: PEFT prompt tuning -> soft prompt GGUF, hot-swappable too.
- ``write_lora_gguf`` / ``write_soft_prompt`` / ``write_control_vector``: the file writers, for a
  plugin's own exporter.
- ``check_parity``: PEFT (or a method's own ``load``) vs llama.cpp next-token distributions.
- ``run_export``: an exporter plugin, then the parity check: what the conversion child runs.

Importing this package is cheap: numpy, gguf, torch, transformers, peft and llama_cpp are imported
inside the functions that need them. Conversion is meant to run in a child process.
"""

from tuiapp.conversion.control_vector import ControlVectorResult, write_control_vector
from tuiapp.conversion.errors import AdapterMismatch, ConversionError, NotConvertible
from tuiapp.conversion.lora_gguf import ConversionResult, convert_lora, write_lora_gguf
from tuiapp.conversion.merge import QUANT_TYPES, MergeResult, merge_export
from tuiapp.conversion.parity import ParityReport, check_parity
from tuiapp.conversion.peft_files import adapter_refusal, merge_refusal, read_peft_adapter
from tuiapp.conversion.pipeline import Export, run_export
from tuiapp.conversion.soft_prompt import SoftPromptResult, convert_soft_prompt, write_soft_prompt

__all__ = [
    "QUANT_TYPES",
    "AdapterMismatch",
    "ControlVectorResult",
    "ConversionError",
    "ConversionResult",
    "Export",
    "MergeResult",
    "NotConvertible",
    "ParityReport",
    "adapter_refusal",
    "check_parity",
    "convert_lora",
    "SoftPromptResult",
    "convert_soft_prompt",
    "run_export",
    "write_control_vector",
    "write_lora_gguf",
    "write_soft_prompt",
    "merge_export",
    "merge_refusal",
    "read_peft_adapter",
]
