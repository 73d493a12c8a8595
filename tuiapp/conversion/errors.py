"""The conversion's errors: each message says what is wrong and what to do instead."""

from tuiapp.errors import BadInput, TuiappError


class ConversionError(TuiappError):
    """A conversion or merge failed (unreadable files, llama.cpp refused the result...)."""


class NotConvertible(BadInput):
    """The adapter's method cannot take the requested form (a GGUF adapter, or a merge)."""


class AdapterMismatch(BadInput):
    """The adapter does not fit the base GGUF: architecture, a missing tensor, or a shape."""
