"""One error family carrying a user-facing message.

The UI shows ``str(error)`` with ``notify``; the CLI prints it on stderr and exits with
``error.exit_code`` without a traceback.
"""

from typing import TypeVar

T = TypeVar("T", bound=str)


class TuiappError(Exception):
    """Base of every error a user may see. The message is written for a person."""

    exit_code = 1


class StoreError(TuiappError):
    """The data dir or its database cannot be read or written (read-only, full, locked)."""


class BadInput(TuiappError):
    """The user gave something we cannot use (a path, a name, an option value)."""

    exit_code = 2


class ModelFileError(BadInput):
    """A model file is missing, not a GGUF, or truncated."""


class NotFound(BadInput):
    """A named thing (model, conversation) does not exist."""


class EngineError(TuiappError):
    """The model failed to load or to generate (out of memory, bad context size...)."""


def one_of(value: str, allowed: tuple[T, ...], what: str) -> T:
    """``value`` as the member of ``allowed`` it equals (a ``Literal`` type's values), or
    BadInput naming the ones there are: how typed, imported or chosen text becomes a choice."""
    for option in allowed:
        if value == option:
            return option
    raise BadInput(f"Unknown {what} {value!r}: use {' or '.join(allowed)}.")


def whole_numbers(text: str, what: str, example: str = "0,1,2,4") -> list[int]:
    """``3,7`` or ``3 7`` -> [3, 7] (blank -> []), or BadInput naming ``what``: how typed lists
    of ids and sizes become numbers, in the CLI and the TUI alike."""
    parts = [p for p in text.replace(" ", ",").split(",") if p]
    if not all(p.isdigit() for p in parts):
        raise BadInput(
            f"{what} takes whole numbers separated by commas, like {example} (got {text!r})."
        )
    return [int(p) for p in parts]
