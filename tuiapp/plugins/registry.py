"""The registry of methods and exporters: what every plugin registered, checked as it arrives.

Refuses loudly (like peft's tuner registry): duplicate or malformed names, options that
contradict themselves, a method option that shadows a training option, training defaults that
are not valid training options, and, once every plugin has registered, a method naming an
exporter nobody registered.
"""

from __future__ import annotations

import builtins
from dataclasses import asdict, dataclass, replace
from typing import Any

from tuiapp.errors import BadInput, NotFound
from tuiapp.plugins.exporters import Exporter, Reach, check_exporter
from tuiapp.plugins.methods import NAME, Method, PluginError
from tuiapp.plugins.training_options import TRAINING_NAMES, TRAINING_OPTIONS


@dataclass
class BrokenPlugin:
    """A plugin that could not be loaded or failed while registering."""

    name: str  # entry point name
    module: str  # what the entry point points at
    distribution: str
    error: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class MethodRegistry:
    """Methods and exporters by name."""

    def __init__(self) -> None:
        self._methods: dict[str, Method] = {}
        self._exporters: dict[str, Exporter] = {}
        self.broken: list[BrokenPlugin] = []

    # -- methods ---------------------------------------------------------------------------
    def register(self, method: Method, plugin: str = "") -> None:
        self.register_all([method], plugin)

    def register_all(self, methods: builtins.list[Method], plugin: str = "") -> None:
        """Add ``methods`` (one plugin's) all together, or none of them if any is invalid."""
        names: set[str] = set()
        for method in methods:
            self._check(method)
            if method.name in names:
                raise PluginError(f"method '{method.name}' is registered twice by {plugin or '?'}")
            names.add(method.name)
        for method in methods:
            self._methods[method.name] = replace(method, plugin=plugin) if plugin else method

    def _check(self, method: Method) -> None:
        if not isinstance(method, Method):
            raise PluginError(f"register() expects a tuiapp.plugins.methods.Method, got {method!r}")
        if not NAME.match(method.name):
            raise PluginError(
                f"method name {method.name!r} must be lower-case letters, digits, '-' or '_'"
            )
        if method.name in self._methods:
            other = self._methods[method.name].plugin
            raise PluginError(f"method '{method.name}' is already registered by {other or '?'}")
        own = method.attach is not None
        if own == (method.build_config is not None):
            raise PluginError(
                f"method '{method.name}': give either build_config (a PEFT method) or attach "
                "(its own modules), not both or neither"
            )
        hooks = {"attach": method.attach, "save": method.save, "load": method.load}
        if own and not all(callable(f) for f in hooks.values()):
            missing = ", ".join(k for k, f in hooks.items() if not callable(f))
            raise PluginError(f"method '{method.name}': attach needs save and load too ({missing})")
        if not own and not callable(method.build_config):
            raise PluginError(f"method '{method.name}': build_config must be callable")
        for opt in method.options:
            opt.check_schema()
        names = [o.name for o in method.options]
        if len(names) != len(set(names)):
            raise PluginError(f"method '{method.name}': duplicate option names")
        shadowed = sorted(set(names) & TRAINING_NAMES)
        if shadowed:
            raise PluginError(
                f"method '{method.name}': option {', '.join(shadowed)} is already a training "
                "option; set its default with training_defaults instead"
            )
        self._check_training_defaults(method)
        if not method.exporters:
            raise PluginError(f"method '{method.name}' names no exporter")

    @staticmethod
    def _check_training_defaults(method: Method) -> None:
        schema = {o.name: o for o in TRAINING_OPTIONS}
        for key, value in method.training_defaults.items():
            if key not in schema:
                raise PluginError(
                    f"method '{method.name}': training_defaults names '{key}', which is not a "
                    f"training option ({', '.join(schema)})"
                )
            try:
                schema[key].validate(value)
            except BadInput as exc:
                raise PluginError(f"method '{method.name}': training_defaults: {exc}") from None

    def get(self, name: str) -> Method:
        try:
            return self._methods[name]
        except KeyError:
            known = ", ".join(self._methods) or "none"
            hint = "; some plugins are broken, see `tuiapp methods list`" if self.broken else ""
            raise NotFound(f"Unknown method '{name}' (available: {known}){hint}.") from None

    def names(self) -> builtins.list[str]:
        return list(self._methods)

    def list(self) -> builtins.list[Method]:
        return list(self._methods.values())

    def __contains__(self, name: object) -> bool:
        return name in self._methods

    # -- exporters -------------------------------------------------------------------------
    def register_exporters(self, exporters: builtins.list[Exporter], plugin: str = "") -> None:
        """Add one plugin's exporters all together, or none of them if any is invalid."""
        names: set[str] = set()
        for exporter in exporters:
            check_exporter(exporter)
            if exporter.name in self._exporters or exporter.name in names:
                raise PluginError(f"exporter '{exporter.name}' is registered twice")
            names.add(exporter.name)
        for exporter in exporters:
            self._exporters[exporter.name] = replace(exporter, plugin=plugin)

    def exporter(self, name: str) -> Exporter:
        try:
            return self._exporters[name]
        except KeyError:
            known = ", ".join(self._exporters) or "none"
            raise NotFound(f"Unknown exporter '{name}' (available: {known}).") from None

    def exporters(self) -> builtins.list[Exporter]:
        return list(self._exporters.values())

    def unknown_exporters(self, method: Method) -> builtins.list[str]:
        return [name for name in method.exporters if name not in self._exporters]

    def drop(self, name: str) -> None:
        """Take a method out again (its exporters turned out to be missing)."""
        self._methods.pop(name, None)

    def reach(self, method_name: str) -> Reach:
        """How adapters of ``method_name`` reach llama.cpp, from its exporters."""
        method = self._methods.get(method_name)
        if method is None:
            return Reach(method_name, None, None, installed=False)
        chosen = [self._exporters[n] for n in method.exporters if n in self._exporters]
        hot = next((e for e in chosen if e.hot_swap), None)
        merge = next((e for e in chosen if e.produces == "model"), None)
        return Reach(method_name, hot, merge)
