"""Example sets: pick a set, browse and filter its rows, add, edit and delete them.

Also the chat screen's "save this exchange as an example" dialog (``SaveExchangeScreen``).
Every write goes through ``ExampleStore``; what it refuses is shown as a notification.
"""

from dataclasses import dataclass
from typing import Any

import sqlite_utils
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.screen import ModalScreen, Screen
from textual.widgets import DataTable, Footer, Input, Label

from tuiapp.chat.service import ChatService
from tuiapp.errors import TuiappError
from tuiapp.library.examples import SPLITS, ExampleStore
from tuiapp.library.records import Example, ExampleSet
from tuiapp.library.seed import open_library
from tuiapp.screens.confirm import ConfirmScreen
from tuiapp.screens.example_edit import ExampleEditScreen
from tuiapp.widgets.example_table import ExampleTable, clip


@dataclass
class SetsRead(Message):
    """Every example set with its rows per split, read in a worker."""

    sets: list[ExampleSet]
    counts: dict[str, dict[str, int]]


def read_sets(screen: Screen[Any], db: sqlite_utils.Database) -> None:
    """Seed if needed, read the sets and post ``SetsRead`` to ``screen`` (worker thread)."""
    try:
        store = ExampleStore(open_library(db))
        screen.post_message(SetsRead(store.list_sets(), store.all_counts()))
    except Exception as error:  # a worker never takes the app down; notify only posts
        screen.notify(str(error), title="Examples", severity="error", markup=False)


class ExamplesScreen(Screen[None]):
    BINDINGS = [
        Binding("escape", "close", "Close"),
        Binding("a", "add", "Add row"),
        Binding("e", "edit", "Edit"),
        Binding("d,delete", "delete", "Delete"),
        Binding("slash", "filter", "Filter"),
        Binding("t", "adapt", "Train adapter", tooltip="One click: train, convert, compare, chat"),
        Binding("l", "curve", "Learning curve", tooltip="Few-shot against adapters, as rows grow"),
    ]

    def __init__(self, db: sqlite_utils.Database, service: ChatService) -> None:
        super().__init__()
        self.db = db
        self.service = service  # what the one-click adapt screen trains on and attaches to
        self.store = ExampleStore(db)
        self.sets: dict[str, ExampleSet] = {}
        self.current: str | None = None

    def compose(self) -> ComposeResult:
        with Horizontal(id="examples-body"):
            with Vertical(id="sets-pane"):
                yield Label("Example sets", classes="pane-title")
                yield DataTable(cursor_type="row", zebra_stripes=True, id="sets")
            with Vertical(id="rows-pane"):
                yield Label("", id="rows-title", markup=False)
                yield Input(placeholder="Filter: text in the inputs or output", id="filter")
                yield ExampleTable(id="rows")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        table = self.query_one("#sets", DataTable)
        for title, key in (("Set", "set"), ("Train", "train"), ("Held-out", "heldout")):
            table.add_column(title, key=key)  # the split keys: counts are updated in place
        self._read()

    @work(thread=True, exclusive=True, group="sets")
    def _read(self) -> None:
        read_sets(self, self.db)

    @property
    def rows(self) -> ExampleTable:
        return self.query_one(ExampleTable)

    def on_sets_read(self, event: SetsRead) -> None:
        self.sets = {s.name: s for s in event.sets}
        table = self.query_one("#sets", DataTable)
        counts = {name: event.counts.get(name, {}) for name in self.sets}
        if [str(row.key.value) for row in table.ordered_rows] == list(self.sets):
            # Only the counts changed: update in place (clearing would move the cursor).
            for name, by_split in counts.items():
                for split in SPLITS:
                    table.update_cell(name, split, str(by_split.get(split, 0)))
            return
        table.clear()
        for name, by_split in counts.items():
            table.add_row(name, *(str(by_split.get(split, 0)) for split in SPLITS), key=name)
        if self.current not in self.sets and self.sets:
            self.show_set(next(iter(self.sets)))
            table.focus()

    @on(DataTable.RowHighlighted, "#sets")
    def _set_highlighted(self, event: DataTable.RowHighlighted) -> None:
        name = str(event.row_key.value)
        if name != self.current:
            self.show_set(name)

    def show_set(self, name: str, keep: int | None = None) -> None:
        """Show the rows of set ``name`` that match the filter."""
        self.current = name
        contains = self.query_one("#filter", Input).value.strip() or None
        try:
            examples = self.store.examples(name, contains=contains)
        except TuiappError as error:
            self.notify(str(error), title="Examples", severity="error", markup=False)
            return
        self.rows.show(examples, keep)
        s = self.sets[name]
        about = [f"{name} · {len(examples)} rows" + (" match" if contains else "")]
        if s.template:
            about.append(f"template {s.template}")
        if s.labels:
            about.append("labels " + ", ".join(s.labels))
        self.query_one("#rows-title", Label).update(" · ".join(about))

    @on(Input.Changed, "#filter")
    def _filter_changed(self) -> None:
        if self.current is not None:
            self.show_set(self.current)

    def action_filter(self) -> None:
        self.query_one("#filter", Input).focus()

    # -- changes -----------------------------------------------------------------------------
    def _changed(self, keep: int | None = None) -> None:
        if self.current is not None:
            self.show_set(self.current, keep)
        self._read()  # the counts per split

    def action_add(self) -> None:
        if (name := self.current) is None:
            return

        def save(ex: Example) -> Example:
            return self.store.add(name, ex)

        def added(ex: Example | None) -> None:
            if ex is not None:
                self.notify(f"Row {ex.id} added to '{name}'.")
                self._changed(ex.id)

        self.app.push_screen(ExampleEditScreen(self.sets[name], None, save), added)

    @on(DataTable.RowSelected, "#rows")
    def action_edit(self) -> None:
        if self.current is None or (row_id := self.rows.selected_id) is None:
            return
        try:
            example = self.store.get(row_id)
        except TuiappError as error:
            self.notify(str(error), title="Examples", severity="error", markup=False)
            return

        def save(ex: Example) -> Example:
            return self.store.update(
                row_id, inputs=ex.inputs, output=ex.output, label=ex.label, split=ex.split
            )

        def edited(ex: Example | None) -> None:
            if ex is not None:
                self._changed(ex.id)

        self.app.push_screen(ExampleEditScreen(self.sets[self.current], example, save), edited)

    def action_delete(self) -> None:
        if self.current is None or (row_id := self.rows.selected_id) is None:
            return
        shown = str(self.rows.get_row(str(row_id))[0])

        def confirmed(yes: bool | None) -> None:
            if not yes:
                return
            try:
                self.store.delete(row_id)
            except TuiappError as error:
                self.notify(str(error), title="Examples", severity="error", markup=False)
                return
            self.notify(f"Row {row_id} deleted.")
            self._changed()

        question = f"Delete row {row_id} (“{shown}”) from '{self.current}'?"
        self.app.push_screen(ConfirmScreen(question), confirmed)

    def action_adapt(self) -> None:
        """One-click adapter for the highlighted set (tuiapp.screens.adapt)."""
        from tuiapp.screens.adapt import AdaptScreen

        if self.current is None:
            return
        self.app.push_screen(AdaptScreen(self.db, self.service, self.current))

    def action_curve(self) -> None:
        """The learning curve of the highlighted set (tuiapp.screens.curve)."""
        from tuiapp.screens.curve import CurveScreen

        if self.current is None:
            return
        self.app.push_screen(CurveScreen(self.db, self.service, self.current))

    def action_close(self) -> None:
        self.dismiss(None)


class SaveExchangeScreen(ModalScreen[str | None]):
    """Which set gets the chat's last exchange: an existing one, or a new name."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, db: sqlite_utils.Database, user_text: str, reply_text: str) -> None:
        super().__init__()
        self.db = db
        self.user_text = user_text
        self.reply_text = reply_text
        self.sets: dict[str, ExampleSet] = {}

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog wide"):
            yield Label("Save this exchange as an example", classes="dialog-title")
            yield Label(
                f"{clip(self.user_text)}  →  {clip(self.reply_text, 40)}",
                classes="question",
                markup=False,
            )
            yield DataTable(cursor_type="row", zebra_stripes=True, id="sets")
            yield Input(placeholder="…or the name of a new set, then enter", id="new-set")
            yield Label("enter save to the set · esc cancel", classes="hint")

    def on_mount(self) -> None:
        self.query_one(DataTable).add_columns("Set", "Fields", "Rows")
        self._read()

    @work(thread=True, exclusive=True, group="sets")
    def _read(self) -> None:
        read_sets(self, self.db)

    def on_sets_read(self, event: SetsRead) -> None:
        self.sets = {s.name: s for s in event.sets}
        table = self.query_one(DataTable)
        for s in event.sets:
            rows = sum(event.counts.get(s.name, {}).values())
            table.add_row(s.name, ", ".join(s.input_fields), str(rows), key=s.name)
        table.focus()

    @on(DataTable.RowSelected)
    def _chosen(self, event: DataTable.RowSelected) -> None:
        self.save(str(event.row_key.value))

    @on(Input.Submitted, "#new-set")
    def _named(self, event: Input.Submitted) -> None:
        if name := event.value.strip():
            self.save(name)

    def save(self, name: str) -> None:
        """Store the exchange in set ``name`` (created when new); a reply that is one of the
        set's labels is stored as the row's label too."""
        s = self.sets.get(name)
        reply = self.reply_text.strip()
        label = reply if s is not None and s.labels and reply in s.labels else None
        try:
            ex = ExampleStore(self.db).from_conversation(name, self.user_text, reply, label=label)
        except TuiappError as error:
            self.notify(str(error), title="Save example", severity="error", markup=False)
            return
        self.notify(f"Saved as row {ex.id} of '{name}' ({ex.split}).")
        self.dismiss(name)

    def action_cancel(self) -> None:
        self.dismiss(None)
