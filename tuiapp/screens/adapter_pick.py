"""Choose the adapter for the open conversation: the ones that run on the loaded model, or none.

Only adapters trained on the loaded model's file (same sha256) with a GGUF adapter file are
offered. Dismisses with the mix to use (``[(name, scale)]``, ``[]`` for the base model), or None.
"""

from typing import Any

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import DataTable, Input, Label

from tuiapp.chat.service import SCALE_RANGE, ChatService
from tuiapp.errors import BadInput, TuiappError
from tuiapp.formatting import loss_text
from tuiapp.training.store import Adapter

NONE_KEY = ""  # the row key of "none (base model)"


def parse_scale(text: str) -> float:
    low, high = SCALE_RANGE
    try:
        scale = float(text.strip())
    except ValueError:
        scale = float("nan")
    if not low <= scale <= high:  # also refuses nan
        raise BadInput(f"The scale must be a number from {low:g} to {high:g}, not {text!r}.")
    return scale


def usable_adapters(service: ChatService) -> tuple[list[Adapter], int]:
    """Adapters for the loaded model with a GGUF file, and how many more need converting."""
    active = service.active
    if active is None or not active.info.sha256:
        return [], 0
    adapters = service.adapter_store.list_adapters(base_sha256=active.info.sha256)
    usable = [a for a in adapters if a.gguf is not None]
    return usable, len(adapters) - len(usable)


class AdapterPickScreen(ModalScreen[list[tuple[str, float]] | None]):
    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    DEFAULT_CSS = """
    #scale-row { height: 3; }
    #scale-row Label { height: 3; content-align: left middle; padding: 0 1 0 0; }
    #scale { width: 16; }
    """

    def __init__(self, service: ChatService, current: list[dict[str, Any]]) -> None:
        super().__init__()
        self.service = service
        self.current = {a["name"]: float(a["scale"]) for a in current}
        self.unconverted = 0

    def compose(self) -> ComposeResult:
        model = self.service.active.name if self.service.active else "no model"
        with Vertical(classes="dialog wide"):
            yield Label(
                f"Adapter for this conversation ({model})", classes="dialog-title", markup=False
            )
            yield DataTable(cursor_type="row", zebra_stripes=True, id="choices")
            with Horizontal(id="scale-row"):
                yield Label("scale", classes="field-name")
                yield Input(
                    "1.0",
                    id="scale",
                    type="number",
                    tooltip="How strongly the adapter applies: -4 to 4, 1 as trained",
                )
            yield Label("", id="unconverted", classes="hint", markup=False)
            yield Label("enter use it · tab to the scale · esc close", classes="hint")

    def on_mount(self) -> None:
        table = self.query_one("#choices", DataTable)
        table.add_column("", key="active")
        for column in ("adapter", "method", "parity", "eval loss", "created"):
            table.add_column(column, key=column)
        try:
            adapters, self.unconverted = usable_adapters(self.service)
        except TuiappError as error:
            self.notify(str(error), title="Adapter", severity="error", markup=False)
            adapters = []
        table.add_row(
            "" if self.current else "●", "none (base model)", "", "", "", "", key=NONE_KEY
        )
        for adapter in adapters:
            mark = "●" if adapter.name in self.current else ""
            table.add_row(
                mark,
                adapter.name,
                adapter.method,
                adapter.parity_state,
                loss_text(adapter.metrics),
                adapter.created[:10],
                key=adapter.name,
            )
        for row, adapter in enumerate(adapters, start=1):
            if adapter.name in self.current:
                table.move_cursor(row=row)
                self.query_one("#scale", Input).value = str(self.current[adapter.name])
                break
        if self.unconverted:
            self.query_one("#unconverted", Label).update(
                f"{self.unconverted} more adapter(s) for this model need converting first "
                "(f6, then c)."
            )
        table.focus()

    def names(self) -> list[str]:
        """The names offered, "" first for the base model (for tests)."""
        table = self.query_one("#choices", DataTable)
        return [str(key.value) for key in table.rows]

    def choose(self, name: str) -> None:
        if name == NONE_KEY:
            self.dismiss([])
            return
        try:
            scale = parse_scale(self.query_one("#scale", Input).value)
        except BadInput as error:
            self.notify(str(error), title="Adapter", severity="error", markup=False)
            return
        self.dismiss([(name, scale)])

    @on(DataTable.RowSelected, "#choices")
    def _row_chosen(self, event: DataTable.RowSelected) -> None:
        self.choose(str(event.row_key.value))

    @on(Input.Submitted, "#scale")
    def _scale_entered(self) -> None:
        table = self.query_one("#choices", DataTable)
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        self.choose(str(key))

    def action_cancel(self) -> None:
        self.dismiss(None)
