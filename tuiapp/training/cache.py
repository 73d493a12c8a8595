"""The trainable copy of a GGUF base: dequantized once, cached per GGUF sha256.

transformers 5.x loads a GGUF with ``from_pretrained(dir, gguf_file=...)`` and dequantizes it
to float32. Most of that time is gguf-py's reader walking the vocabulary one numpy memmap view
at a time, three times over (config, tokenizer, tensors): ~150 s for Gemma 3 270M on two cores.
Reading through plain ndarray views and opening each file once brings that to ~40 s; the
result is saved with ``save_pretrained`` under ``data_dir()/base-cache/<sha256>`` so every later
run loads it in a second or two. Only the training child imports this module.
"""

import json
import os
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tuiapp.errors import TuiappError
from tuiapp.paths import data_dir
from tuiapp.training.config import BaseModel

MARKER = "tuiapp-base.json"  # written last: a cache dir without it is incomplete


class BaseModelError(TuiappError):
    """The base model could not be loaded for training."""


def cache_root() -> Path:
    path = data_dir() / "base-cache"
    path.mkdir(parents=True, exist_ok=True)
    return path


def ensure_cached(base: BaseModel, phase: Callable[[str], object]) -> Path:
    """The HF-format directory to load ``base`` from, building the GGUF cache if needed."""
    if base.kind == "hf":
        return Path(base.path)
    final = cache_root() / base.sha256
    if (final / MARKER).is_file():
        return final
    phase(
        f"Unpacking {base.name} for training: dequantizing the GGUF once "
        "(about a minute for a small model); later runs start in seconds"
    )
    staging = cache_root() / f".{base.sha256}.{os.getpid()}.partial"
    try:
        model, tokenizer = _load_gguf(Path(base.path))
        model.save_pretrained(staging)
        tokenizer.save_pretrained(staging)
        (staging / MARKER).write_text(
            json.dumps(
                {
                    "source": base.path,
                    "sha256": base.sha256,
                    "architecture": base.architecture,
                },
                indent=2,
            )
        )
        del model
        try:
            os.replace(staging, final)
        except OSError:  # another run (or rank) finished first, or a stale incomplete dir
            if not (final / MARKER).is_file():
                shutil.rmtree(final, ignore_errors=True)
                os.replace(staging, final)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return final


def _load_gguf(path: Path) -> tuple[Any, Any]:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    kwargs: dict[str, Any] = {"dtype": torch.float32}
    try:  # keep every weight unpacked even where a GGUF matmul kernel exists (GPU)
        from transformers import GgufConfig

        kwargs["quantization_config"] = GgufConfig(dequantize=True)
    except ImportError:
        pass
    try:
        with fast_gguf_reader():
            tokenizer = AutoTokenizer.from_pretrained(path.parent, gguf_file=path.name)
            model = AutoModelForCausalLM.from_pretrained(path.parent, gguf_file=path.name, **kwargs)
    except (ValueError, KeyError, NotImplementedError) as exc:
        raise BaseModelError(f"transformers cannot load {path.name} for training: {exc}") from exc
    return model, tokenizer


@contextmanager
def fast_gguf_reader() -> Iterator[None]:
    """Make ``gguf.GGUFReader`` (as transformers imports it) fast and opened once per file."""
    import gguf
    import numpy as np

    original = gguf.GGUFReader

    class PlainViewReader(original):  # type: ignore[misc, valid-type]
        def _get(self, offset: int, dtype: Any, count: int = 1, override_order: Any = None) -> Any:
            # Same as gguf-py's, on an ndarray view of the memmap: slicing a np.memmap builds a
            # memmap subclass per slice, which is what makes the reader slow.
            plain = self.__dict__.get("_plain")
            if plain is None:
                plain = self.__dict__["_plain"] = self.data.view(np.ndarray)
            dt = np.dtype(dtype)
            count = int(count)
            arr = plain[offset : offset + dt.itemsize * count].view(dtype=dt)[:count]
            order = self.byte_order if override_order is None else override_order
            return arr.view(arr.dtype.newbyteorder(order))

    readers: dict[tuple[str, str], Any] = {}

    def open_reader(path: Any, mode: str = "r") -> Any:
        key = (os.fspath(path), mode)
        if key not in readers:
            readers[key] = PlainViewReader(path, mode)
        return readers[key]

    module: Any = gguf  # patched in place: transformers looks the class up on the module
    module.GGUFReader = open_reader
    try:
        yield
    finally:
        module.GGUFReader = original


def load_base(hf_dir: Path, dtype: Any, extra: dict[str, Any] | None = None) -> tuple[Any, Any]:
    """(model, tokenizer) from an HF-format directory (the cache or the user's)."""
    from transformers import AutoModelForCausalLM

    tokenizer = load_tokenizer(hf_dir)
    model = AutoModelForCausalLM.from_pretrained(hf_dir, dtype=dtype, **(extra or {}))
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    return model, tokenizer


def load_tokenizer(hf_dir: Path) -> Any:
    """The tokenizer; for our own cache, straight from tokenizer.json.

    ``AutoTokenizer`` parses the 33 MB tokenizer.json of a 262k vocabulary in Python (~5 s);
    the Rust loader behind ``PreTrainedTokenizerFast`` takes ~1 s and, for a file that
    ``save_pretrained`` wrote, gives the same ids (checked against llama.cpp in the tests).
    """
    from transformers import AutoTokenizer, PreTrainedTokenizerFast

    if not (hf_dir / MARKER).is_file() or not (hf_dir / "tokenizer.json").is_file():
        return AutoTokenizer.from_pretrained(hf_dir)
    config = json.loads((hf_dir / "tokenizer_config.json").read_text())
    special = {
        k: v
        for k, v in config.items()
        if k in ("bos_token", "eos_token", "pad_token", "unk_token", "mask_token") and v
    }
    return PreTrainedTokenizerFast(tokenizer_file=str(hf_dir / "tokenizer.json"), **special)
