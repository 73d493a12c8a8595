"""A PEFT adapter directory, read without torch: its config, its weights per module, its method.

PEFT saves ``adapter_config.json`` and ``adapter_model.safetensors`` whose keys name the wrapped
module (``base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight``). Reading the
safetensors file directly (a JSON header, then raw little-endian arrays) keeps conversion free of
torch and handles bf16 weights, which numpy has no type for.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tuiapp.conversion.errors import ConversionError, NotConvertible

if TYPE_CHECKING:
    import numpy as np

CONFIG_FILE = "adapter_config.json"
WEIGHTS_FILE = "adapter_model.safetensors"
PREFIX = "base_model.model."
MERGE_HINT = "Use the merge export instead (`tuiapp adapters merge NAME`)."
_SUFFIXES = {
    ".lora_A.weight": "lora_a",
    ".lora_B.weight": "lora_b",
    ".lora_embedding_A": "embed_a",
    ".lora_embedding_B": "embed_b",
    ".lora_magnitude_vector": "magnitude",
    ".lora_magnitude_vector.weight": "magnitude",
    ".ia3_l": "ia3",
}


@dataclass
class ModuleWeights:
    """What the adapter holds for one module of the base model (``model.layers.0.mlp.up_proj``).

    Arrays are float32 in PEFT's orientation: ``lora_a`` (r, in), ``lora_b`` (out, r); for an
    embedding ``lora_a`` is (r, vocab) and ``lora_b`` (hidden, r)."""

    module: str
    lora_a: np.ndarray | None = None
    lora_b: np.ndarray | None = None
    embedding: bool = False
    magnitude: np.ndarray | None = None  # DoRA: one magnitude per output row
    ia3: np.ndarray | None = None  # IA3: (out, 1) scales outputs, (1, in) scales inputs
    full: np.ndarray | None = None  # modules_to_save: the module's whole new weight

    @property
    def rank(self) -> int:
        return 0 if self.lora_a is None else int(self.lora_a.shape[0])


@dataclass
class PeftAdapter:
    path: Path
    config: dict[str, Any]
    modules: dict[str, ModuleWeights] = field(default_factory=dict)
    unknown: list[str] = field(default_factory=list)  # keys of no known kind (prompt tuning...)

    @property
    def method(self) -> str:
        """``lora``, ``dora``, ``ia3``, ``prompt_tuning``... in the words the app uses."""
        peft_type = str(self.config.get("peft_type", "")).lower()
        if peft_type == "lora" and self.config.get("use_dora"):
            return "dora"
        return peft_type or "unknown"

    def scale(self, module: str) -> float:
        """PEFT's ``scaling`` for ``module``: alpha/r, or alpha/sqrt(r) with rsLoRA; alpha (and
        r, read from the weights) may come from ``alpha_pattern`` / ``rank_pattern``."""
        rank = self.modules[module].rank
        alpha = float(self.config.get("lora_alpha", 8))
        pattern = self.config.get("alpha_pattern") or {}
        key = pattern_key(list(pattern), module)
        if key is not None:
            alpha = float(pattern[key])
        if not rank:
            return 0.0
        return alpha / math.sqrt(rank) if self.config.get("use_rslora") else alpha / rank

    def architecture_hint(self) -> str | None:
        """The transformers model type the adapter was trained on, when PEFT recorded it (its
        model class, or the config.json of a local base directory such as the training cache)."""
        library = str((self.config.get("auto_mapping") or {}).get("parent_library", ""))
        match = re.fullmatch(r"transformers\.models\.(\w+)\.modeling_\w+", library)
        if match:
            return match.group(1)
        base_dir = self.config.get("base_model_name_or_path")
        config_file = Path(base_dir) / "config.json" if base_dir else None
        if config_file is not None and config_file.is_file():
            try:
                return str(json.loads(config_file.read_text()).get("model_type") or "") or None
            except (OSError, ValueError):
                return None
        return None


def pattern_key(keys: list[str], module: str) -> str | None:
    """The rank/alpha pattern that applies to ``module`` (PEFT's own matching rule)."""
    for key in keys:
        if re.match(rf"(.*\.)?({key})$", module):
            return key
    return None


def read_peft_adapter(path: str | Path) -> PeftAdapter:
    """Read an adapter directory; ``ConversionError`` when it is not a readable PEFT adapter."""
    path = Path(path).expanduser()
    config_file = path / CONFIG_FILE
    if not config_file.is_file():
        raise ConversionError(f"{path}: not a PEFT adapter directory (no {CONFIG_FILE})")
    try:
        config = json.loads(config_file.read_text())
    except (OSError, ValueError) as exc:
        raise ConversionError(f"{config_file}: unreadable ({exc})") from None
    adapter = PeftAdapter(path, config)
    for key, array in _read_weights(path).items():
        _place(adapter, key, array)
    return adapter


def _place(adapter: PeftAdapter, key: str, array: np.ndarray) -> None:
    name = key.removeprefix(PREFIX).replace(".default.", ".").removesuffix(".default")
    for suffix, kind in _SUFFIXES.items():
        if name.endswith(suffix):
            module = name[: -len(suffix)]
            weights = adapter.modules.setdefault(module, ModuleWeights(module))
            if kind in ("embed_a", "embed_b"):
                weights.embedding = True
                kind = "lora_a" if kind == "embed_a" else "lora_b"
            setattr(weights, kind, array)
            return
    if name.endswith(".base_layer.weight"):
        return  # PEFT saves the base embedding beside an embedding LoRA; the GGUF has it
    if name.endswith(".weight"):  # modules_to_save: a full copy of the module's weight
        module = name.removesuffix(".weight").replace(".modules_to_save", "")
        adapter.modules.setdefault(module, ModuleWeights(module)).full = array
        return
    adapter.unknown.append(key)


def adapter_refusal(adapter: PeftAdapter) -> str | None:
    """Why ``adapter`` cannot become a GGUF LoRA adapter (None when it can)."""
    config, method = adapter.config, adapter.method
    if method == "dora":
        return (
            "DoRA rescales every output row by a learned magnitude; a GGUF adapter holds "
            "only the A/B pairs that llama.cpp adds to the base weights."
        )
    if method == "ia3":
        return (
            "IA3 multiplies activations by learned vectors; llama.cpp adapters can only add "
            "B·A to a weight."
        )
    if method in ("prompt_tuning", "p_tuning", "prefix_tuning"):
        return (
            "Prompt tuning learns virtual token embeddings, not weights: a GGUF LoRA adapter "
            "or a merged GGUF cannot carry them; its soft prompt export does "
            "(`tuiapp adapters convert NAME`)."
        )
    if method != "lora":
        return f"The '{method}' method has no GGUF adapter form; only plain LoRA has."
    if config.get("modules_to_save"):
        saved = ", ".join(config["modules_to_save"])
        return (
            f"It saves whole copies of {saved} (modules_to_save); a GGUF adapter can only "
            "add low-rank updates."
        )
    return _unsupported_lora_options(config)


def merge_refusal(adapter: PeftAdapter) -> str | None:
    """Why ``adapter`` cannot be merged into the base weights (None when it can)."""
    method = adapter.method
    if method in ("prompt_tuning", "p_tuning", "prefix_tuning"):
        return adapter_refusal(adapter)
    if method not in ("lora", "dora", "ia3"):
        return f"Merging '{method}' adapters is not supported (lora, dora and ia3 are)."
    return _unsupported_lora_options(adapter.config) if method != "ia3" else None


def _unsupported_lora_options(config: dict[str, Any]) -> str | None:
    if config.get("lora_bias"):
        return "LoRA with a trained bias (lora_bias) is not supported."
    if config.get("target_parameters"):
        return "LoRA on raw parameters (target_parameters, MoE experts) is not supported."
    if config.get("layer_replication"):
        return "LoRA with layer_replication changes the model's depth; it cannot be exported."
    if config.get("trainable_token_indices"):
        return "Trainable token embeddings (trainable_token_indices) are not supported."
    if config.get("alora_invocation_tokens"):
        return "Activated LoRA (aLoRA) is not supported."
    return None


def require_known_tensors(adapter: PeftAdapter) -> None:
    if adapter.unknown:
        raise ConversionError(
            f"{adapter.path}: unexpected tensors in the adapter: {', '.join(adapter.unknown[:5])}"
        )


def require_adapter_export(adapter: PeftAdapter) -> None:
    reason = adapter_refusal(adapter)
    if reason is None:
        return
    hint = "" if "soft prompt" in reason else f" {MERGE_HINT}"
    raise NotConvertible(
        f"Cannot write a GGUF adapter for this {adapter.method} adapter: {reason}{hint}"
    )


# -- safetensors ---------------------------------------------------------------------------
_DTYPES = {"F32": "<f4", "F16": "<f2", "F64": "<f8", "BF16": "<u2"}


def _read_weights(path: Path) -> dict[str, np.ndarray]:
    file = path / WEIGHTS_FILE
    if file.is_file():
        return read_safetensors(file)
    legacy = path / "adapter_model.bin"
    if legacy.is_file():  # old PEFT versions: a torch pickle
        import torch

        state = torch.load(legacy, map_location="cpu", weights_only=True)
        return {k: v.float().numpy() for k, v in state.items()}
    raise ConversionError(f"{path}: the adapter has no weights ({WEIGHTS_FILE})")


def read_safetensors(file: Path) -> dict[str, np.ndarray]:
    """Every tensor of a safetensors file as float32 (bf16 and f16 are widened)."""
    import numpy as np

    raw = file.read_bytes()
    try:
        size = int.from_bytes(raw[:8], "little")
        header = json.loads(raw[8 : 8 + size])
    except ValueError as exc:
        raise ConversionError(f"{file}: not a safetensors file ({exc})") from None
    start = 8 + size
    out: dict[str, np.ndarray] = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        dtype = _DTYPES.get(info["dtype"])
        if dtype is None:
            raise ConversionError(f"{file}: tensor '{name}' has unsupported type {info['dtype']}")
        begin, end = info["data_offsets"]
        if start + end > len(raw):
            raise ConversionError(f"{file}: truncated (tensor '{name}' runs past the end)")
        array = np.frombuffer(
            raw, dtype=dtype, count=(end - begin) // np.dtype(dtype).itemsize, offset=start + begin
        )
        if info["dtype"] == "BF16":  # bf16 is the top half of a float32
            array = (array.astype(np.uint32) << 16).view(np.float32)
        out[name] = array.astype(np.float32).reshape(info["shape"])
    return out
