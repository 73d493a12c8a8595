"""Adds or edits one row of an example set: a box per input field, output, label, split.

The screen calls ``save(draft)`` itself (``ExampleStore.add`` or ``update``), so a row the store
refuses stays on screen with the reason in a notification instead of being lost.
"""

from collections.abc import Callable

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Select, TextArea

from tuiapp.errors import TuiappError
from tuiapp.library.examples import SPLITS
from tuiapp.library.records import Example, ExampleSet, as_split

Save = Callable[[Example], Example]


class ExampleEditScreen(ModalScreen[Example | None]):
    """Dismisses with the stored row, or None when cancelled."""

    BINDINGS = [
        Binding("escape", "cancel", "Cancel"),
        Binding("ctrl+s", "save", "Save"),
    ]

    def __init__(self, example_set: ExampleSet, example: Example | None, save: Save) -> None:
        super().__init__()
        self.example_set = example_set
        self.example = example or Example(inputs={}, output="")
        self.save = save
        self.fields = example_set.input_fields or ["input"]

    def compose(self) -> ComposeResult:
        ex, s = self.example, self.example_set
        title = f"Row {ex.id} of '{s.name}'" if ex.id is not None else f"New row in '{s.name}'"
        with Vertical(classes="dialog wide", id="example-form"):
            yield Label(title, classes="dialog-title", markup=False)
            with VerticalScroll(id="variables"):
                for name in self.fields:
                    yield Label(name, classes="field-name")
                    yield TextArea(
                        ex.inputs.get(name, ""),
                        id=f"in-{name}",
                        soft_wrap=True,
                        tab_behavior="focus",
                        classes="variable",
                    )
                yield Label("output", classes="field-name")
                yield TextArea(
                    ex.output, id="output", soft_wrap=True, tab_behavior="focus", classes="variable"
                )
            with Horizontal(id="label-row"):
                yield Label("label", classes="field-name")
                if s.labels:
                    value = ex.label if ex.label in s.labels else Select.NULL
                    yield Select([(x, x) for x in s.labels], value=value, id="label")
                else:
                    yield Input(ex.label or "", placeholder="optional", id="label")
                yield Label("split", classes="field-name")
                yield Select(
                    [(x, x) for x in SPLITS], value=ex.split, allow_blank=False, id="split"
                )
            with Horizontal(classes="buttons"):
                yield Button("Save (ctrl+s)", variant="primary", id="save")
                yield Button("Cancel (esc)", id="cancel")

    def on_mount(self) -> None:
        self.query_one(f"#in-{self.fields[0]}", TextArea).focus()

    def draft(self) -> Example:
        """The row as typed (not checked: the store does that)."""
        label_widget = self.query_one("#label")
        if isinstance(label_widget, Select):
            label = None if label_widget.is_blank() else str(label_widget.value)
        else:
            assert isinstance(label_widget, Input)
            label = label_widget.value.strip() or None
        return Example(
            inputs={n: self.query_one(f"#in-{n}", TextArea).text for n in self.fields},
            output=self.query_one("#output", TextArea).text,
            label=label,
            split=as_split(str(self.query_one("#split", Select).value)),
            id=self.example.id,
            set_name=self.example_set.name,
        )

    @on(Button.Pressed, "#save")
    def action_save(self) -> None:
        try:
            saved = self.save(self.draft())
        except TuiappError as error:
            self.notify(str(error), title="Example", severity="error", markup=False)
            return
        self.dismiss(saved)

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)
