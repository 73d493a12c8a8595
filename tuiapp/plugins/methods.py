"""Fine-tuning methods as records: what a method is called, what it can do, which options it takes.

A plugin (see ``tuiapp.plugins.hookspecs``) registers :class:`Method` objects. Everything here
is plain data plus a few callables; nothing imports torch or peft, so listing methods and validating
options is instant (the TUI renders a form from ``Method.options``; the CLI parses ``--opt k=v``
against it). The callables run only in the training process.
"""

import math
import re
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from tuiapp.errors import BadInput

OPTION_TYPES = ("int", "float", "bool", "choice", "str")
NAME = re.compile(r"^[a-z][a-z0-9_-]{0,39}$")
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


class PluginError(BadInput):
    """A plugin registered something invalid (duplicate name, bad schema)."""


@dataclass(frozen=True)
class Option:
    """One option of a method or of training: a TUI form field, ``--opt k=v`` on the CLI."""

    name: str
    type: str  # int | float | bool | choice | str
    default: Any
    help: str
    min: float | None = None
    max: float | None = None
    choices: tuple[str, ...] = ()

    def check_schema(self) -> None:
        """Raise PluginError when the option contradicts itself."""
        if not NAME.match(self.name) or "-" in self.name:
            raise PluginError(f"option name {self.name!r} must be lower_snake_case")
        if self.type not in OPTION_TYPES:
            kinds = ", ".join(OPTION_TYPES)
            raise PluginError(f"option {self.name!r}: type must be one of {kinds}")
        if self.type == "choice" and not self.choices:
            raise PluginError(f"option {self.name!r}: a choice needs choices")
        try:
            self.validate(self.default)
        except BadInput as exc:
            raise PluginError(f"option {self.name!r}: its default is invalid ({exc})") from None

    def parse(self, text: str) -> Any:
        """The typed value of ``text`` as typed on a command line or in a form field."""
        text = text.strip()
        try:
            if self.type == "int":
                return self.validate(int(text))
            if self.type == "float":
                return self.validate(float(text))
        except ValueError:
            raise BadInput(
                f"option {self.name}: {text!r} is not a{'n' * (self.type == 'int')} {self.type}"
            ) from None
        if self.type == "bool":
            if text.lower() in _TRUE | _FALSE:
                return text.lower() in _TRUE
            raise BadInput(f"option {self.name}: {text!r} is not true or false")
        return self.validate(text)

    def validate(self, value: Any) -> Any:
        """``value`` checked against type and bounds (ints are accepted for floats)."""
        kind: dict[str, Any] = {
            "int": int,
            "float": (int, float),
            "bool": bool,
            "choice": str,
            "str": str,
        }
        if isinstance(value, bool) and self.type in ("int", "float"):
            raise BadInput(f"option {self.name}: expected a {self.type}, got {value!r}")
        if not isinstance(value, kind[self.type]):
            raise BadInput(f"option {self.name}: expected a {self.type}, got {value!r}")
        if self.type == "float":
            value = float(value)
            if not math.isfinite(value):
                raise BadInput(f"option {self.name}: expected a finite number, got {value!r}")
        if self.type == "choice" and value not in self.choices:
            raise BadInput(f"option {self.name}: {value!r} is not one of {', '.join(self.choices)}")
        if self.min is not None and value < self.min:
            raise BadInput(f"option {self.name}: {value} is below the minimum {self.min:g}")
        if self.max is not None and value > self.max:
            raise BadInput(f"option {self.name}: {value} is above the maximum {self.max:g}")
        return value

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["choices"] = list(self.choices)
        return data


@dataclass(frozen=True)
class Capabilities:
    """What a method needs to train. What its output can become is its exporters' business."""

    needs_cuda: bool = False  # refuses to start without a CUDA GPU (QLoRA's 4-bit base)
    architectures: tuple[str, ...] | None = None  # GGUF architecture names; None: any
    needs_packages: tuple[str, ...] = ()  # importable modules required (checked before start)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["architectures"] = list(self.architectures) if self.architectures else None
        data["needs_packages"] = list(self.needs_packages)
        return data


@dataclass(frozen=True)
class ModelContext:
    """What ``build_config`` may know about the base model (no weights)."""

    architecture: str  # GGUF architecture name, or the HF model_type for an HF directory
    model_type: str  # HF config model_type ("gemma3_text")
    hf_dir: str  # the HF-format directory the base is loaded from (tokenizer included)


@dataclass(frozen=True)
class Method:
    """A fine-tuning method.

    What it trains, one of two ways:

    - a PEFT method gives ``build_config(options, model)``, returning the PEFT config
      (``peft.LoraConfig`` ...); tuiapp wraps the base with ``peft.get_peft_model``, saves with
      ``save_pretrained`` and reloads with ``PeftModel.from_pretrained``;
    - any other method gives ``attach(model, options, context)``, which adds its own trainable
      modules to the loaded base (freezing the rest) and returns the model to train,
      ``save(model, directory)``, which writes what was trained, and ``load(model, directory)``,
      which attaches the saved modules to a fresh base for the parity check and returns it.
      ``save`` writes only what the method trained; ``load`` must give a model whose forward
      takes ``input_ids`` and returns ``.logits`` for those positions.

    ``exporters`` names, in order of preference, the exporters (``tuiapp.plugins.exporters``)
    that turn the saved adapter into what llama.cpp runs; the first hot-swappable one is what
    ``tuiapp adapters convert`` uses, the first producing a model what ``adapters merge`` uses.
    ``load_kwargs(options)`` returns extra ``from_pretrained`` keyword arguments for the base
    (QLoRA's 4-bit quantization config). ``prepare_model(model, options)`` adjusts the loaded base
    before the method attaches to it; it gets the method's options and the training options
    together (no name is shared). ``training_defaults`` overrides defaults of the training options
    (``learning_rate`` ...). The callables run only in the training and conversion processes:
    import heavy libraries inside them.
    """

    name: str
    description: str
    build_config: Callable[[dict[str, Any], ModelContext], Any] | None = None
    options: tuple[Option, ...] = ()
    capabilities: Capabilities = field(default_factory=Capabilities)
    training_defaults: dict[str, Any] = field(default_factory=dict)
    load_kwargs: Callable[[dict[str, Any]], dict[str, Any]] | None = None
    prepare_model: Callable[[Any, dict[str, Any]], Any] | None = None
    exporters: tuple[str, ...] = ()
    attach: Callable[[Any, dict[str, Any], ModelContext], Any] | None = None
    save: Callable[[Any, Path], None] | None = None
    load: Callable[[Any, Path], Any] | None = None
    plugin: str = ""  # filled in by the registry: the entry point that registered it

    def option(self, name: str) -> Option:
        for opt in self.options:
            if opt.name == name:
                return opt
        raise BadInput(
            f"Method '{self.name}' has no option '{name}' "
            f"(options: {', '.join(o.name for o in self.options) or 'none'})."
        )

    def defaults(self) -> dict[str, Any]:
        return {opt.name: opt.default for opt in self.options}

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "plugin": self.plugin,
            "options": [o.to_dict() for o in self.options],
            "capabilities": self.capabilities.to_dict(),
            "training_defaults": dict(self.training_defaults),
            "exporters": list(self.exporters),
            "peft": self.build_config is not None,
        }


def validate_options(
    schema: Iterable[Option], given: dict[str, Any], what: str = "method"
) -> dict[str, Any]:
    """Defaults overlaid with ``given`` (text is parsed), each checked; unknown names refused."""
    options = {opt.name: opt for opt in schema}
    unknown = sorted(set(given) - set(options))
    if unknown:
        raise BadInput(
            f"Unknown {what} option{'s' * (len(unknown) > 1)}: {', '.join(unknown)} "
            f"(known: {', '.join(options) or 'none'})."
        )
    values = {name: opt.default for name, opt in options.items()}
    for name, value in given.items():
        opt = options[name]
        values[name] = (
            opt.parse(value)
            if isinstance(value, str) and opt.type != "str"
            else opt.validate(value)
        )
    return values


def parse_assignments(pairs: Iterable[str]) -> dict[str, str]:
    """``["r=16", "rslora=true"]`` -> ``{"r": "16", "rslora": "true"}`` (values still text)."""
    out: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        key = key.strip().replace("-", "_")
        if not sep or not key:
            raise BadInput(f"--opt expects key=value, got {pair!r}")
        out[key] = value
    return out
