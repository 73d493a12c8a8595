"""Conversion: a trained PEFT adapter becomes something llama.cpp runs, and is checked.

- ``convert_lora``: PEFT LoRA -> GGUF LoRA adapter, hot-swappable in the engine.
- ``merge_export``: any LoRA / DoRA / IA3 adapter merged into the base, requantized.
- ``check_parity``: PEFT vs llama.cpp next-token distributions on held prompts.

Importing this package is cheap: numpy, gguf, torch, transformers, peft and llama_cpp are imported
inside the functions that need them. Conversion is meant to run in a child process.
"""

from tuiapp.conversion.errors import AdapterMismatch, ConversionError, NotConvertible
from tuiapp.conversion.lora_gguf import ConversionResult, convert_lora
from tuiapp.conversion.merge import QUANT_TYPES, MergeResult, merge_export
from tuiapp.conversion.parity import ParityReport, check_parity
from tuiapp.conversion.peft_files import adapter_refusal, merge_refusal, read_peft_adapter
from tuiapp.conversion.pipeline import Export, export_adapter, export_merged

__all__ = [
    "QUANT_TYPES",
    "AdapterMismatch",
    "ConversionError",
    "ConversionResult",
    "Export",
    "MergeResult",
    "NotConvertible",
    "ParityReport",
    "adapter_refusal",
    "check_parity",
    "convert_lora",
    "export_adapter",
    "export_merged",
    "merge_export",
    "merge_refusal",
    "read_peft_adapter",
]
