"""A plugin whose import fails, as one with a missing dependency would."""

raise ImportError("tuiapp_broken_plugin needs the 'imaginary-accelerator' package")
