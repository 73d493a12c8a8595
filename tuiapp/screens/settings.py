"""Editing the sampling options; values are checked with ``SamplingParams.validate``."""

from dataclasses import fields

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid, Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label

from tuiapp.chat.engine.sampling import SamplingParams
from tuiapp.errors import BadInput, TuiappError

HELP = {
    "temperature": "0 = greedy",
    "top_p": "(0, 1]",
    "top_k": "0 = off",
    "min_p": "[0, 1)",
    "repeat_penalty": "1 = off",
    "max_tokens": "reply length cap",
    "seed": "blank = random",
}


def parse(values: dict[str, str]) -> SamplingParams:
    """Turn the form's text into checked params; raises BadInput with a readable message."""
    defaults = SamplingParams()
    parsed: dict[str, float | int | None] = {}
    for name, text in values.items():
        text = text.strip()
        default = getattr(defaults, name)
        if default is None:  # optional integer: the seed
            kind: type = int
            if not text:
                parsed[name] = None
                continue
        else:
            kind = type(default)
        try:
            parsed[name] = kind(text)
        except ValueError:
            noun = "a whole number" if kind is int else "a number"
            raise BadInput(f"Bad sampling option: {name} must be {noun}, not {text!r}.") from None
    params = SamplingParams(**parsed)  # type: ignore[arg-type]
    params.validate()
    return params


class SettingsScreen(ModalScreen[SamplingParams | None]):
    BINDINGS = [
        Binding("escape", "cancel", "Cancel"),
        Binding("ctrl+s", "save", "Save"),
    ]

    def __init__(self, params: SamplingParams) -> None:
        super().__init__()
        self.params = params

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label("Sampling settings", classes="dialog-title")
            with Grid(id="fields"):
                for f in fields(SamplingParams):
                    value = getattr(self.params, f.name)
                    yield Label(f.name, classes="field-name")
                    yield Input(
                        "" if value is None else str(value), id=f.name, select_on_focus=True
                    )
                    yield Label(HELP.get(f.name, ""), classes="hint")
            with Horizontal(classes="buttons"):
                yield Button("Save (ctrl+s)", variant="primary", id="save")
                yield Button("Cancel (esc)", id="cancel")

    def values(self) -> dict[str, str]:
        return {f.name: self.query_one(f"#{f.name}", Input).value for f in fields(SamplingParams)}

    @on(Button.Pressed, "#save")
    @on(Input.Submitted)
    def action_save(self) -> None:
        try:
            params = parse(self.values())
        except TuiappError as error:
            self.notify(str(error), title="Settings", severity="error", markup=False)
            return
        self.dismiss(params)

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)
