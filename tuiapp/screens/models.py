"""The model picker: every registry entry with its GGUF metadata; choosing one loads it.

Dismisses with the registry name (or a file path typed below the table), or None. The header of
each file is read in a thread worker so a slow disk never freezes the picker.
"""

from dataclasses import dataclass

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import DataTable, Input, Label
from textual.worker import get_current_worker

from tuiapp.chat.models import GGUFInfo, ModelEntry, ModelRegistry, read_gguf_info
from tuiapp.errors import TuiappError
from tuiapp.formatting import human_size

COLUMNS = ("", "Name", "Source", "Arch", "Params", "Quant", "Context", "Template", "Size")


def info_cells(info: GGUFInfo) -> tuple[str, ...]:
    return (
        info.architecture,
        info.size_label,
        info.quantization,
        f"{info.context_length:,}" if info.context_length else "?",
        "yes" if info.has_chat_template else "none",
        human_size(info.file_size),
    )


class ModelPickerScreen(ModalScreen[str | None]):
    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, registry: ModelRegistry, active_name: str | None = None) -> None:
        super().__init__()
        self.registry = registry
        self.active_name = active_name
        self.entries: list[ModelEntry] = []

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog wide"):
            yield Label("Models", classes="dialog-title")
            yield DataTable(cursor_type="row", zebra_stripes=True, id="models")
            yield Input(placeholder="…or the path of a .gguf file, then enter", id="path")
            yield Label("enter load the model in the background · esc close", classes="hint")

    def on_mount(self) -> None:
        table = self.query_one("#models", DataTable)
        for column in COLUMNS:
            table.add_column(column, key=column or "active")
        try:
            self.entries = self.registry.list()
        except TuiappError as error:
            self.notify(str(error), title="Models", severity="error", markup=False)
        self._fill({})
        table.focus()
        self._read_headers([e for e in self.entries if e.exists])

    def _fill(self, infos: dict[str, tuple[str, ...]]) -> None:
        """(Re)build the rows. Rebuilding, not update_cell, so the columns widen to fit."""
        table = self.query_one("#models", DataTable)
        row = table.cursor_row
        table.clear()
        for entry in self.entries:
            mark = "●" if entry.name == self.active_name else ""
            blank = ("…", "", "", "", "", "") if entry.exists else ("missing", "", "", "", "", "")
            cells = infos.get(entry.name, blank)
            table.add_row(mark, entry.name, entry.source, *cells, key=entry.name)
        table.move_cursor(row=row)

    @dataclass
    class HeadersRead(Message):
        """Metadata cells by model name, read in the worker."""

        infos: dict[str, tuple[str, ...]]

    @work(thread=True, exclusive=True, group="model-info")
    def _read_headers(self, entries: list[ModelEntry]) -> None:
        infos: dict[str, tuple[str, ...]] = {}
        for entry in entries:
            if get_current_worker().is_cancelled:
                return
            try:
                infos[entry.name] = info_cells(read_gguf_info(entry.path))
            except Exception as error:  # a broken file shows as such, the rest still load
                infos[entry.name] = ("unreadable", "", "", "", "", str(error)[:40])
        self.post_message(self.HeadersRead(infos))  # never blocks, even if the picker closed

    def on_model_picker_screen_headers_read(self, event: HeadersRead) -> None:
        self._fill(event.infos)

    def row_text(self, name: str) -> list[str]:
        """The cells of one row as shown (for tests and screen readers)."""
        return [str(cell) for cell in self.query_one("#models", DataTable).get_row(name)]

    @on(DataTable.RowSelected, "#models")
    def _chosen(self, event: DataTable.RowSelected) -> None:
        self.dismiss(str(event.row_key.value))

    @on(Input.Submitted, "#path")
    def _path_entered(self, event: Input.Submitted) -> None:
        path = event.value.strip()
        if path:
            self.dismiss(path)

    def action_cancel(self) -> None:
        self.dismiss(None)
