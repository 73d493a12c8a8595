"""Two evaluation runs side by side: the verdict, then only the rows whose outcome changed.

Opened from the evaluation screen (``d``: the highlighted run against the marked one, or the
run below it). Everything comes from ``compare.run_diff``, as ``tuiapp eval diff`` shows it.
"""

from typing import Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import DataTable, Footer, Label, Static

WIDTH = 34  # characters of each text cell; the full text is in the row's tooltip-free copy


def short(text: str, width: int = WIDTH) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= width else text[: width - 1] + "…"


class RunDiffScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape", "close", "Close")]

    def __init__(self, found: dict[str, Any]) -> None:
        super().__init__()
        self.found = found

    def compose(self) -> ComposeResult:
        found = self.found
        with Vertical(id="run-diff", classes="dialog"):
            yield Label(f"{found['a_name']}  →  {found['b_name']}", classes="dialog-title")
            yield Static(found["verdict"], id="diff-verdict", markup=False)
            yield Label(
                f"{len(found['rows'])} of {found['n']} rows changed ({found['metric']})",
                id="diff-count",
                markup=False,
            )
            yield DataTable(id="diff-rows", cursor_type="row", zebra_stripes=True)
        yield Footer(compact=True)

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_columns("Row", "Input", "Expected", self.found["a_name"], self.found["b_name"])
        for row in self.found["rows"]:
            table.add_row(
                str(row["example_id"]),
                short(row["input"]),
                short(row["expected"]),
                short(f"{row['a']} ({row['a_score']})"),
                short(f"{row['b']} ({row['b_score']})"),
                key=str(row["example_id"]),
            )

    def action_close(self) -> None:
        self.dismiss(None)
