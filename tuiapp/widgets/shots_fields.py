"""The few-shot fields shared by forms: a shots count and a selector choice (labels included)."""

from collections.abc import Iterator

from textual.widget import Widget
from textual.widgets import Input, Label, Select


def shots_fields(shots: int) -> Iterator[Widget]:
    """Label + Input ``#shots`` and Label + Select ``#selector``, for a two-column Grid."""
    from tuiapp.library.selectors import selector_names

    yield Label("shots", classes="field-name")
    yield Input(str(shots), id="shots", type="integer", select_on_focus=True)
    yield Label("selector", classes="field-name")
    yield Select(
        [(n, n) for n in selector_names()], value="fixed", allow_blank=False, id="selector"
    )
