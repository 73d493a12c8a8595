"""The model registry: which GGUF files exist, what they are, and which one "default" means."""

from tuiapp.chat.models.gguf_info import GGUFInfo, Progress, read_gguf_info, sha256_file
from tuiapp.chat.models.registry import EMBEDDED_FILE, ModelEntry, ModelRegistry, hf_cache_dir

__all__ = [
    "EMBEDDED_FILE",
    "GGUFInfo",
    "ModelEntry",
    "ModelRegistry",
    "Progress",
    "hf_cache_dir",
    "read_gguf_info",
    "sha256_file",
]
