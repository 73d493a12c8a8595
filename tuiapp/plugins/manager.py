"""Loading plugins: every module named in the ``tuiapp`` entry-point group, built-ins included.

Each entry point is imported on its own and each plugin's ``register_methods`` is called on its
own, so one broken plugin is recorded (with its error) and skipped while the others load.
``TUIAPP_PLUGINS`` (comma-separated entry point names) limits which plugins load, for debugging.
"""

import os
import threading
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Any

import pluggy

from tuiapp.plugins import hookspecs
from tuiapp.plugins.exporters import Exporter
from tuiapp.plugins.methods import Method, PluginError
from tuiapp.plugins.registry import BrokenPlugin, MethodRegistry

GROUP = hookspecs.PROJECT
_lock = threading.Lock()
_registry: MethodRegistry | None = None


@dataclass
class Plugins:
    """The plugin manager, where each plugin came from, and the plugins that failed to import."""

    pm: pluggy.PluginManager
    origin: dict[str, tuple[str, str]] = field(default_factory=dict)  # name -> (module, dist)
    broken: list[BrokenPlugin] = field(default_factory=list)

    def add(self, plugin: Any, name: str, module: str = "", dist: str = "?") -> None:
        """Register a plugin object directly (tests, embedding apps): same path as entry points.

        A plugin whose ``@hookimpl`` names no hook (a typo) is not registered: it is broken."""
        module = module or getattr(plugin, "__name__", name)
        self.origin[name] = (module, dist)
        try:
            self.pm.register(plugin, name=name)
            self.pm.check_pending()
        except Exception as exc:
            if self.pm.has_plugin(name):
                self.pm.unregister(name=name)
            self.broken.append(BrokenPlugin(name, module, dist, _describe(exc)))


def load_plugins() -> Plugins:
    """Import every entry point of the ``tuiapp`` group into a fresh plugin manager."""
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    plugins = Plugins(pm)
    only = {n.strip() for n in os.environ.get("TUIAPP_PLUGINS", "").split(",") if n.strip()}
    for ep in sorted(entry_points(group=GROUP), key=lambda e: e.name):
        if (only and ep.name not in only) or ep.name in plugins.origin:
            continue  # the same distribution can be visible twice on sys.path
        dist = ep.dist.name if ep.dist is not None else "?"
        try:
            loaded = ep.load()
        except Exception as exc:  # whatever a plugin's import raises is the plugin's problem
            plugins.origin[ep.name] = (ep.value, dist)
            plugins.broken.append(BrokenPlugin(ep.name, ep.value, dist, _describe(exc)))
            continue
        plugins.add(loaded, ep.name, ep.value, dist)
    return plugins


def build_registry(plugins: Plugins) -> MethodRegistry:
    """Call each plugin's ``register_exporters``, then each ``register_methods``, on its own: a
    failing plugin is only skipped. A method naming an unknown exporter is dropped."""
    registry = MethodRegistry()
    registry.broken = list(plugins.broken)

    def broken(name: str, error: str) -> None:
        module, dist = plugins.origin.get(name, (name, "?"))
        registry.broken.append(BrokenPlugin(name, module, dist, error))

    for impl in plugins.pm.hook.register_exporters.get_hookimpls():
        exporters: list[Exporter] = []
        try:
            impl.function(register=exporters.append)
            registry.register_exporters(exporters, plugin=impl.plugin_name)
        except Exception as exc:
            broken(impl.plugin_name, _describe(exc))
    for impl in plugins.pm.hook.register_methods.get_hookimpls():
        pending: list[Method] = []
        try:
            impl.function(register=pending.append)
            registry.register_all(pending, plugin=impl.plugin_name)
        except Exception as exc:
            broken(impl.plugin_name, _describe(exc))
    for method in registry.list():
        missing = registry.unknown_exporters(method)
        if missing:
            registry.drop(method.name)
            known = ", ".join(e.name for e in registry.exporters()) or "none"
            broken(
                method.plugin or method.name,
                f"method '{method.name}' names exporter {', '.join(missing)}, which no plugin "
                f"registers (known: {known})",
            )
    return registry


def load_methods(refresh: bool = False) -> MethodRegistry:
    """The process-wide method registry, loaded on first use (thread-safe)."""
    global _registry
    with _lock:
        if _registry is None or refresh:
            _registry = build_registry(load_plugins())
        return _registry


def _describe(exc: BaseException) -> str:
    if isinstance(exc, PluginError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"
