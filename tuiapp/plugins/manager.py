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
from tuiapp.plugins.methods import BrokenPlugin, Method, MethodRegistry, PluginError

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
        """Register a plugin object directly (tests, embedding apps): same path as entry points."""
        self.pm.register(plugin, name=name)
        self.origin[name] = (module or getattr(plugin, "__name__", name), dist)


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
            plugins.add(ep.load(), ep.name, ep.value, dist)
        except Exception as exc:  # whatever a plugin's import raises is the plugin's problem
            plugins.origin[ep.name] = (ep.value, dist)
            plugins.broken.append(BrokenPlugin(ep.name, ep.value, dist, _describe(exc)))
    return plugins


def build_registry(plugins: Plugins) -> MethodRegistry:
    """Call each plugin's ``register_methods`` on its own: a failing plugin is only skipped."""
    registry = MethodRegistry()
    registry.broken = list(plugins.broken)
    for impl in plugins.pm.hook.register_methods.get_hookimpls():
        name = impl.plugin_name
        pending: list[Method] = []
        try:
            impl.function(register=pending.append)
            registry.register_all(pending, plugin=name)
        except Exception as exc:
            module, dist = plugins.origin.get(name, (name, "?"))
            registry.broken.append(BrokenPlugin(name, module, dist, _describe(exc)))
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
