"""The plugin contract: what a ``tuiapp`` plugin may implement.

A plugin is any module named by an entry point in the ``tuiapp`` group::

    [project.entry-points.tuiapp]
    my_method = "my_package.my_module"

The module defines functions marked with ``@hookimpl`` whose names and parameters match the hooks
below; a function marked ``@hookimpl`` whose name is not a hook here makes the plugin broken (so a
misspelled hook is reported, not silently ignored). The built-in fine-tuning methods and exporters
(``plugins/``, distribution ``tuiapp-methods``) are loaded the same way as a third party's. A
plugin that fails to import or to register is listed as broken (``tuiapp methods list``) and
everything else keeps working.

The whole loop a plugin can complete with these two hooks: a method trains an adapter (``tuiapp
train --method NAME``), one of its exporters turns it into a file llama.cpp runs (``tuiapp adapters
convert`` / ``merge``), the parity check compares that file in llama.cpp with the method's own
``load`` (or PEFT) in transformers, and the chat and the evaluation use it (``tuiapp chat -a``,
``tuiapp eval --mode adapter``).
"""

from collections.abc import Callable
from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from tuiapp.plugins.exporters import Exporter
    from tuiapp.plugins.methods import Method

PROJECT = "tuiapp"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def register_methods(register: "Callable[[Method], None]") -> None:
    """Register fine-tuning methods (LoRA, IA3, ...) that ``tuiapp train`` can use.

    :param register: call it once per method with a :class:`tuiapp.plugins.methods.Method`. It
        raises ``tuiapp.plugins.methods.PluginError`` for a duplicate or invalid name, or an
        options schema with a default outside its own bounds; the plugin is then reported as
        broken.

    :return: nothing; the return value is ignored.

    Called once per process, the first time the method registry is needed: in the main thread
    of the CLI, in a worker thread of the TUI, and again in the training child process. It must
    be cheap and must not import torch, transformers or peft: do that inside
    ``Method.build_config`` (and the other callables), which run only in the training process.
    """


@hookspec
def register_exporters(register: "Callable[[Exporter], None]") -> None:
    """Register exporters: ways a trained adapter becomes a file llama.cpp runs.

    :param register: call it once per exporter with a
        :class:`tuiapp.plugins.exporters.Exporter`. It raises ``PluginError`` for a duplicate or
        invalid name, or a ``produces`` that is not ``lora``, ``soft_prompt`` or ``model``; the
        plugin is then reported as broken.

    :return: nothing; the return value is ignored.

    Every plugin's exporters are registered before any method, so a method may name an exporter
    of another plugin (``Method.exporters``); a method naming an exporter that no plugin
    registered is dropped and its plugin reported as broken. ``Exporter.export`` runs in the
    conversion child process only; the parity check that follows it is tuiapp's, and depends only
    on what the exporter ``produces``. The same rules as ``register_methods`` apply: cheap, no
    torch at import or registration time.
    """
