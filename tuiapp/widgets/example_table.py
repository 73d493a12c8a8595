"""The rows of an example set in a data table: inputs, output, label, split (key: row id)."""

from textual.widgets import DataTable

from tuiapp.library.records import Example

CELL = 38  # characters shown of a long input (outputs: 24)


def clip(text: str, width: int = CELL) -> str:
    line = " ".join(text.split())
    return line if len(line) <= width else line[: width - 1] + "…"


def inputs_cell(example: Example) -> str:
    values = example.inputs
    if len(values) == 1:
        return clip(next(iter(values.values())))
    return clip(" · ".join(f"{k}: {v}" for k, v in values.items()))


class ExampleTable(DataTable[str]):
    DEFAULT_CSS = """
    ExampleTable { height: 1fr; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(cursor_type="row", zebra_stripes=True, id=id)

    def on_mount(self) -> None:
        self.add_column("Inputs", key="inputs")
        self.add_column("Output", key="output")
        self.add_column("Label", key="label")
        self.add_column("Split", key="split")

    def show(self, examples: list[Example], keep: int | None = None) -> None:
        """Replace the rows; the cursor goes to row id ``keep`` if it is still shown."""
        self.clear()
        for ex in examples:
            self.add_row(
                inputs_cell(ex), clip(ex.output, 24), ex.label or "", ex.split, key=str(ex.id)
            )
        ids = [ex.id for ex in examples]
        if keep in ids:
            self.move_cursor(row=ids.index(keep))

    @property
    def selected_id(self) -> int | None:
        """The id of the row under the cursor, or None when the table is empty."""
        if not self.row_count:
            return None
        key = self.coordinate_to_cell_key(self.cursor_coordinate).row_key
        return int(str(key.value))
