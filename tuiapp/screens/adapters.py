"""Adapters: every trained adapter, its details and exports; convert, merge, delete, use in chat.

Conversions run as a child process (``tuiapp.conversion.jobs.start_export``); a thread worker
reads its events and posts each one as ``Event`` for the progress bar and the status line.
Esc cancels a conversion in progress (leaving the screen does too). A failed parity check is
shown as an error notification: the export is kept, but it does not match the trained adapter.

Dismisses with the name of the adapter to use in the chat ("use in chat"), or None.
"""

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlite_utils
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Label, ProgressBar, Static

from tuiapp.chat.service import ChatService
from tuiapp.errors import NotFound, TuiappError
from tuiapp.formatting import human_size, loss_text
from tuiapp.screens.child_job import follow
from tuiapp.screens.confirm import ConfirmScreen
from tuiapp.training.store import Adapter, AdapterStore

if TYPE_CHECKING:
    from tuiapp.conversion.jobs import ExportJob

COLUMNS = ("name", "method", "base", "GGUF adapter", "parity", "eval loss", "created")
KINDS = {"adapter": "hot-swap file (GGUF LoRA or soft prompt)", "merge": "merged model (Q8_0)"}


def created_text(created: str) -> str:
    return created[:16].replace("T", " ")


def row_cells(adapter: Adapter) -> tuple[str, ...]:
    return (
        adapter.name,
        adapter.method,
        Path(adapter.base_model).name,
        "yes" if adapter.gguf is not None else "no",
        adapter.parity_state,
        loss_text(adapter.metrics),
        created_text(adapter.created),
    )


def pairs_text(values: dict[str, Any]) -> str:
    return (
        ", ".join(
            f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
            for k, v in sorted(values.items())
        )
        or "—"
    )


def export_lines(key: str, export: dict[str, Any]) -> list[str]:
    path = Path(export.get("path", ""))
    lines = [
        f"{key} ({export.get('kind', '?')})",
        f"  {path}" + ("" if path.is_file() else "  (file missing)"),
    ]
    conversion = export.get("conversion") or {}
    figures = []
    if isinstance(conversion.get("size"), int):
        figures.append(human_size(conversion["size"]))
    if isinstance(conversion.get("seconds"), int | float):
        figures.append(f"{conversion['seconds']:.1f} s")
    if figures:
        lines.append("  " + " in ".join(figures))
    parity = export.get("parity")
    if parity is None:
        lines.append("  parity: unchecked")
    else:
        verdict = "passed" if parity.get("passed") else "FAILED"
        lines.append(
            f"  parity {verdict}: KL {parity.get('kl_mean', float('nan')):.4g} "
            f"(threshold {parity.get('threshold', float('nan')):.4g}), "
            f"top-1 {parity.get('top1_agreement', float('nan')):.1%}"
        )
    return lines


def details_text(adapter: Adapter, source: str) -> str:
    """Everything about one adapter, for the details pane."""
    lines = [
        adapter.name,
        "",
        f"method   {adapter.method}",
        f"options  {pairs_text(adapter.options)}",
        f"data     {source or '?'}",
        f"metrics  {pairs_text(adapter.metrics)}",
        f"base     {adapter.base_model}",
        f"         sha256 {adapter.base_sha256[:16]}…",
        f"folder   {adapter.path}",
        "",
        "Exports" if adapter.exports else "Exports: none yet (c: GGUF adapter, m: merged model)",
    ]
    for key, export in sorted(adapter.exports.items()):
        lines += export_lines(key, export)
    return "\n".join(lines)


class AdaptersScreen(Screen[str | None]):
    BINDINGS = [
        Binding("c", "export('adapter')", "Convert", tooltip="Write the GGUF adapter (f32)"),
        Binding("m", "export('merge')", "Merge", tooltip="Write a merged model (Q4_K_M)"),
        Binding("d,delete", "delete", "Delete", tooltip="Move the adapter to the trash"),
        Binding("u", "use", "Use in chat", tooltip="Use it in the current conversation"),
        Binding("escape", "cancel_or_close", "Cancel / close"),
    ]

    DEFAULT_CSS = """
    #adapters-body { padding: 1 2 0 2; }
    #adapters { height: auto; max-height: 12; }
    #adapter-details { height: 1fr; padding: 0 1; border-top: solid $primary 30%; }
    #export-progress { height: 1; display: none; }
    #export-status { height: 1; padding: 0 1; }
    """

    @dataclass
    class Loaded(Message):
        """The adapters and their runs' data sources, read in a worker."""

        adapters: list[Adapter]
        sources: dict[int, str]

    @dataclass
    class Event(Message):
        """One event of the running conversion (progress, then finished or failed)."""

        event: dict[str, Any]

    @dataclass
    class Ended(Message):
        """The worker is done: ``error`` is set when the conversion could not start."""

        error: str | None = None

    def __init__(self, db: sqlite_utils.Database, service: ChatService) -> None:
        super().__init__()
        self.db = db
        self.service = service
        self.adapters: dict[str, Adapter] = {}
        self.sources: dict[int, str] = {}
        self.job: ExportJob | None = None  # while one runs
        self.running: str | None = None  # the adapter being converted
        self.cancel_asked = False

    def compose(self) -> ComposeResult:
        with Vertical(id="adapters-body"):
            yield Label("Adapters", classes="dialog-title")
            yield DataTable(id="adapters", cursor_type="row", zebra_stripes=True)
            with VerticalScroll(id="adapter-details"):
                yield Static("", id="details", markup=False)
            yield ProgressBar(total=100, show_eta=False, id="export-progress")
            yield Label("", id="export-status", markup=False)
        yield Footer(compact=True)

    def on_mount(self) -> None:
        table = self.query_one("#adapters", DataTable)
        table.add_columns(*COLUMNS)
        table.focus()
        self._read()

    def on_unmount(self) -> None:
        if self.job is not None:  # leaving cancels the conversion
            self.job.cancel()

    # -- reading ---------------------------------------------------------------------------
    @work(thread=True, exclusive=True, group="adapters-read")
    def _read(self) -> None:
        try:
            store = AdapterStore(self.db)
            adapters = store.list_adapters()
            sources: dict[int, str] = {}
            for adapter in adapters:
                try:
                    sources[adapter.run_id] = store.get_run(adapter.run_id).source
                except NotFound:
                    sources[adapter.run_id] = ""
        except Exception as error:  # a worker never takes the app down; notify only posts
            self.notify(str(error), title="Adapters", severity="error", markup=False)
            return
        self.post_message(self.Loaded(adapters, sources))

    def on_adapters_screen_loaded(self, event: Loaded) -> None:
        table = self.query_one("#adapters", DataTable)
        current = self.current()
        self.adapters = {a.name: a for a in event.adapters}
        self.sources = event.sources
        table.clear()
        for adapter in event.adapters:
            table.add_row(*row_cells(adapter), key=adapter.name)
        if current in self.adapters:
            table.move_cursor(row=table.get_row_index(current))
        self._show_details()

    def current(self) -> str | None:
        """The highlighted adapter's name."""
        table = self.query_one("#adapters", DataTable)
        if not table.row_count:
            return None
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        return str(key) if key is not None else None

    @on(DataTable.RowHighlighted, "#adapters")
    def _show_details(self) -> None:
        name = self.current()
        details = self.query_one("#details", Static)
        if name is None or name not in self.adapters:
            details.update("No adapters yet: train one with f5.")
            return
        adapter = self.adapters[name]
        details.update(details_text(adapter, self.sources.get(adapter.run_id, "")))

    def row_text(self, name: str) -> list[str]:
        """The cells of one row as shown (for tests and screen readers)."""
        return [str(cell) for cell in self.query_one("#adapters", DataTable).get_row(name)]

    # -- converting ------------------------------------------------------------------------
    def action_export(self, kind: str) -> None:
        name = self.current()
        if name is None:
            self.notify("No adapter to convert.", severity="warning")
            return
        if self.running:
            self.notify(
                f"'{self.running}' is still converting: esc cancels it.", severity="warning"
            )
            return
        self.running, self.cancel_asked = name, False
        bar = self.query_one(ProgressBar)
        bar.update(total=100, progress=0)
        bar.display = True
        self.query_one("#export-status", Label).update(f"{name}: starting the {KINDS[kind]}…")
        self._export(name, kind)

    @work(thread=True, exclusive=True, group="export")
    def _export(self, name: str, kind: str) -> None:
        from tuiapp.conversion.jobs import as_export_kind, start_export

        follow(self, lambda: start_export(self.db, name, as_export_kind(kind)), "conversion")

    def on_adapters_screen_event(self, message: Event) -> None:
        event, kind = message.event, message.event.get("event")
        status = self.query_one("#export-status", Label)
        bar = self.query_one(ProgressBar)
        if kind == "progress":
            fraction = float(event.get("fraction") or 0.0)
            bar.update(progress=round(fraction * 100))
            status.update(f"{self.running}: {event.get('stage', '')} {fraction:.0%}")
        elif kind == "finished":
            bar.update(progress=100)
            export = event.get("export") or {}
            status.update(f"{self.running}: written to {export.get('path', '?')}")
            warning = event.get("warning")
            if warning:  # loudly: the file exists but does not match the trained adapter
                self.notify(
                    warning, title="Parity check", severity="error", markup=False, timeout=30
                )
            else:
                self.notify(f"Written to {export.get('path', '?')}.", title="Convert", markup=False)
        elif kind == "failed" and self.cancel_asked:
            status.update(f"{self.running}: cancelled")
            self.notify(f"Conversion of '{self.running}' cancelled.", title="Convert", markup=False)
        elif kind == "failed":
            status.update(f"{self.running}: {event.get('error', 'failed')}")
            self.notify(
                event.get("error") or "The conversion failed.",
                title="Convert",
                severity="error",
                markup=False,
                timeout=10,
            )

    def on_adapters_screen_ended(self, event: Ended) -> None:
        self.running = None
        if event.error is not None:
            self.query_one("#export-status", Label).update("")
            self.notify(event.error, title="Convert", severity="error", markup=False, timeout=10)
        self._read()  # the new export on the record

    def action_cancel_or_close(self) -> None:
        if self.running:
            self.cancel_asked = True
            if self.job is not None:
                self.job.cancel()
            self.query_one("#export-status", Label).update(f"{self.running}: cancelling…")
        else:
            self.dismiss(None)

    # -- delete, use -----------------------------------------------------------------------
    def action_delete(self) -> None:
        name = self.current()
        if name is None:
            return
        if self.running == name:
            self.notify(f"'{name}' is converting: cancel it first (esc).", severity="warning")
            return

        def confirmed(yes: bool | None) -> None:
            if not yes:
                return
            try:
                target = AdapterStore(self.db).delete_adapter(name)
            except TuiappError as error:
                self.notify(str(error), title="Delete", severity="error", markup=False)
                return
            except OSError as error:
                self.notify(
                    f"Could not move '{name}' to the trash: {error}",
                    title="Delete",
                    severity="error",
                    markup=False,
                )
                return
            self.notify(f"Adapter '{name}' moved to the trash: {target}", markup=False)
            self._read()

        question = (
            f"Delete adapter “{name}”? Its folder moves to the trash and conversations "
            "that use it go back to the base model."
        )
        self.app.push_screen(ConfirmScreen(question), confirmed)

    def action_use(self) -> None:
        name = self.current()
        if name is None:
            return
        try:  # refuse here, so the user stays where the fix is (convert first)
            self.service.check_adapters([(name, 1.0)])
        except TuiappError as error:
            self.notify(str(error), title="Use in chat", severity="error", markup=False)
            return
        self.dismiss(name)
