"""Which base model a run trains on, checked before any heavy work starts.

The base is the GGUF the user chats with (resolved through the model registry: "default", a
registry name or a path), or a local Hugging Face model directory. This module only reads
headers and small JSON files; loading weights happens in the child (``tuiapp.training.cache``).
"""

import hashlib
import json
from pathlib import Path
from typing import Any

import sqlite_utils

from tuiapp.chat.engine.formats import (
    ChatTemplateFormat,
    PromptFormat,
    TranscriptFormat,
    format_for,
)
from tuiapp.errors import BadInput
from tuiapp.plugins.methods import Method
from tuiapp.training.config import BaseModel

# GGUF architectures that transformers dequantizes into a trainable causal LM (transformers
# 5.x, ``GGUF_SUPPORTED_ARCHITECTURES`` minus encoders and state-space models). The child checks
# again against the installed transformers.
SUPPORTED_GGUF_ARCHITECTURES = (
    "llama",
    "mistral",
    "qwen2",
    "qwen2moe",
    "qwen3",
    "qwen3moe",
    "gemma2",
    "gemma3",
    "phi3",
    "falcon",
    "stablelm",
    "gpt2",
    "starcoder2",
    "bloom",
    "nemotron",
)


def resolve_base(spec: str | None, db: sqlite_utils.Database) -> tuple[BaseModel, PromptFormat]:
    """The base model named by ``spec`` and the prompt format the chat uses with it."""
    if spec and (path := Path(spec).expanduser()).is_dir():
        return _hf_base(path)
    from tuiapp.chat.models import ModelRegistry

    registry = ModelRegistry(db)
    path = registry.resolve(spec)
    info = registry.info(path)
    if info.kind != "model":
        raise BadInput(f"{path}: is a GGUF {info.kind}, not a model to train on")
    base = BaseModel(
        "gguf", str(path), registry.name_for(path), info.sha256 or "", info.architecture
    )
    return base, format_for(info.chat_template, info.bos_token, info.eos_token)


def check_architecture(base: BaseModel, method: Method) -> None:
    """Refuse an architecture we cannot train, or one the method does not support."""
    if base.kind == "gguf" and base.architecture not in SUPPORTED_GGUF_ARCHITECTURES:
        raise BadInput(
            f"Cannot train on '{base.name}': its architecture '{base.architecture}' cannot be "
            f"loaded for training from GGUF (supported: {', '.join(SUPPORTED_GGUF_ARCHITECTURES)})."
        )
    allowed = method.capabilities.architectures
    if allowed is not None and base.architecture not in allowed:
        raise BadInput(
            f"Method '{method.name}' supports {', '.join(allowed)}, not '{base.architecture}'."
        )


def _hf_base(path: Path) -> tuple[BaseModel, PromptFormat]:
    config_file = path / "config.json"
    if not config_file.is_file():
        raise BadInput(f"{path}: not a Hugging Face model directory (no config.json)")
    config = _read_json(config_file)
    model_type = str(config.get("model_type") or "")
    if not model_type:
        raise BadInput(f"{config_file}: has no model_type")
    if not any(path.glob("*.safetensors")) and not any(path.glob("*.bin")):
        raise BadInput(f"{path}: has no weights (*.safetensors or *.bin)")
    architecture = model_type.removesuffix("_text")
    base = BaseModel("hf", str(path.resolve()), path.name, hf_fingerprint(path), architecture)
    return base, _hf_format(path)


def _hf_format(path: Path) -> PromptFormat:
    tok = (
        _read_json(path / "tokenizer_config.json")
        if (path / "tokenizer_config.json").is_file()
        else {}
    )
    template = tok.get("chat_template")
    if not template and (path / "chat_template.jinja").is_file():
        template = (path / "chat_template.jinja").read_text()
    if isinstance(template, str) and template:
        return ChatTemplateFormat(
            template, _token(tok.get("bos_token")), _token(tok.get("eos_token"))
        )
    return TranscriptFormat()


def _token(value: Any) -> str:
    if isinstance(value, dict):
        return str(value.get("content") or "")
    return str(value or "")


def hf_fingerprint(path: Path) -> str:
    """A cheap stand-in for a sha256 of an HF model: config + each weight file's name, size,
    head and tail (hashing tens of GB per run would take minutes)."""
    digest = hashlib.sha256((path / "config.json").read_bytes())
    for weights in sorted([*path.glob("*.safetensors"), *path.glob("*.bin")]):
        size = weights.stat().st_size
        digest.update(f"{weights.name}:{size}".encode())
        with weights.open("rb") as f:
            digest.update(f.read(1 << 20))
            f.seek(max(0, size - (1 << 20)))
            digest.update(f.read(1 << 20))
    return digest.hexdigest()


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise BadInput(f"{path}: unreadable ({exc})") from None
    return data if isinstance(data, dict) else {}
