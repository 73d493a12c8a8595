"""The plugin contract: what a ``tuiapp`` plugin may implement.

A plugin is any module named by an entry point in the ``tuiapp`` group::

    [project.entry-points.tuiapp]
    my_method = "my_package.my_module"

The module defines functions marked with ``@hookimpl`` whose names and parameters match the hooks
below. The built-in fine-tuning methods (``plugins/``, distribution ``tuiapp-methods``) are loaded
the same way as a third party's. A plugin that fails to import or to register is listed as broken
(``tuiapp methods list``) and everything else keeps working.
"""

from collections.abc import Callable
from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
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
