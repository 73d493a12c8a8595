"""Exporters as records: how a trained adapter becomes a file llama.cpp runs.

A method names its exporters (``Method.exporters``); an exporter says what it ``produces``, which
is one of the three forms the chat engine can run:

- ``lora``: a GGUF LoRA adapter, hot-swapped per conversation (``llama_adapter_lora``);
- ``soft_prompt``: a soft prompt GGUF, fed as input embeddings ahead of the prompt, hot-swapped
  the same way (``tuiapp.chat.engine.soft_prompt``);
- ``control_vector``: llama.cpp's control-vector GGUF, added to each layer's output at a
  strength, hot-swapped the same way (``tuiapp.chat.engine.control_vector``);
- ``model``: a full GGUF with the adapter merged in, chatted with as a model of its own.

Everything else (which surface offers "convert" or "merge", what a refusal points to, how the
parity check runs the file) is derived from ``produces``. Nothing here imports torch or
llama_cpp: ``export`` runs only in the conversion child process.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tuiapp.plugins.methods import NAME, Option, PluginError

PRODUCES = ("lora", "soft_prompt", "control_vector", "model")
HOT_SWAP = ("lora", "soft_prompt", "control_vector")  # files switched per conversation
Progress = Callable[[str, float], None]


@dataclass(frozen=True)
class ExportRequest:
    """What an exporter's ``export`` gets (in the conversion child)."""

    adapter_dir: Path  # the trained adapter, as the method's ``save`` wrote it
    base_gguf: Path  # the GGUF the adapter was trained on (its sha256 checked)
    out_path: Path  # where the file must appear (write a temp file, then rename it)
    options: dict[str, Any]  # the exporter's own options, validated
    method: str  # the method that trained the adapter
    architecture: str | None = None  # the GGUF architecture the adapter was trained on
    base_sha256: str | None = None  # write it into the file: the engine refuses other bases
    n_threads: int | None = None
    progress: Progress = field(default=lambda _stage, _fraction: None)


@dataclass(frozen=True)
class Exporter:
    """One way a trained adapter reaches llama.cpp.

    ``export(request)`` writes ``request.out_path`` and returns a JSON-able dict of figures
    (size, seconds, ...) that the adapter record keeps; it raises ``tuiapp.errors.BadInput``
    (or a subclass, e.g. ``tuiapp.conversion.NotConvertible``) for an adapter it cannot
    take. ``refusal(adapter_dir, method)`` answers cheaply, before any work, why it cannot take
    that adapter (None when it can); it must not import torch.
    """

    name: str
    description: str
    produces: str  # lora | soft_prompt | control_vector | model
    export: Callable[[ExportRequest], dict[str, Any]]
    options: tuple[Option, ...] = ()
    refusal: Callable[[Path, str], str | None] | None = None
    plugin: str = ""  # filled in by the registry

    @property
    def hot_swap(self) -> bool:
        return self.produces in HOT_SWAP

    def file_name(self, adapter: str, options: dict[str, Any]) -> str:
        """``NAME-f32.gguf``, ``NAME-Q8_0.gguf``, ``NAME-soft-prompt.gguf``: the options in
        the name, so two exports with different options never overwrite each other."""
        parts = [str(v) for v in options.values()] or [self.name]
        return f"{adapter}-{'-'.join(parts)}.gguf"

    def export_key(self, options: dict[str, Any]) -> str:
        """Where the adapter record keeps this export: ``adapter`` for the hot-swap file (one
        per adapter), ``merged-<options>`` for a full model."""
        if self.hot_swap:
            return "adapter"
        return "merged-" + ("-".join(str(v) for v in options.values()) or self.name)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "produces": self.produces,
            "hot_swap": self.hot_swap,
            "plugin": self.plugin,
            "options": [o.to_dict() for o in self.options],
        }


def check_exporter(exporter: object) -> Exporter:
    """Raise PluginError for an exporter that contradicts itself."""
    if not isinstance(exporter, Exporter):
        raise PluginError(
            f"register() expects a tuiapp.plugins.exporters.Exporter, got {exporter!r}"
        )
    if not NAME.match(exporter.name):
        raise PluginError(
            f"exporter name {exporter.name!r} must be lower-case letters, digits, '-' or '_'"
        )
    if exporter.produces not in PRODUCES:
        raise PluginError(
            f"exporter '{exporter.name}': produces must be one of {', '.join(PRODUCES)}"
        )
    if not callable(exporter.export):
        raise PluginError(f"exporter '{exporter.name}': export must be callable")
    for opt in exporter.options:
        opt.check_schema()
    return exporter


@dataclass(frozen=True)
class Reach:
    """How a method's adapters reach llama.cpp: derived from its exporters alone."""

    method: str
    hot_swap: Exporter | None  # the first exporter producing a hot-swappable file
    merge: Exporter | None  # the first exporter producing a full model
    installed: bool = True  # False: no plugin registers the method now

    def hint(self, adapter: str) -> str:
        """What to do with an adapter of this method that has no usable file yet."""
        if not self.installed:
            return (
                f"its method '{self.method}' is not installed (see `tuiapp methods list`), "
                "so it cannot be exported"
            )
        if self.hot_swap is not None:
            return f"convert it first: `tuiapp adapters convert {adapter}`"
        if self.merge is not None:
            return (
                f"{self.method} adapters cannot be hot-swapped; make a merged model "
                f"(`tuiapp adapters merge {adapter}`) and chat with that model"
            )
        return f"no exporter of method '{self.method}' makes a file llama.cpp runs"
