"""Prompt templates from the chat screen: pick one, fill its variables, preview or run it.

``TemplatePickerScreen`` lists the library and opens ``TemplateFormScreen`` for the chosen one:
one text box per variable (in the order the body uses them), shots and a selector when an
example set is attached to the template, "Preview" (the exact prompt, few-shot included) and
"Run". The picker dismisses with the ``FilledTemplate`` the chat screen sends
(``ChatService.send_template``).
"""

import re
from dataclasses import dataclass

import sqlite_utils
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid, Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import Button, DataTable, Input, Label, Select, TextArea

from tuiapp.chat.service import ChatService
from tuiapp.chat.templates import FilledTemplate, describe
from tuiapp.errors import BadInput, TuiappError
from tuiapp.library.examples import ExampleStore
from tuiapp.library.records import ExampleSet, Template
from tuiapp.library.render import variables_of
from tuiapp.library.seed import open_library
from tuiapp.library.templates import TemplateStore
from tuiapp.screens.prompt_preview import PromptPreviewScreen
from tuiapp.widgets.example_table import clip
from tuiapp.widgets.shots_fields import shots_fields


def ordered_variables(body: str) -> list[str]:
    """The body's variables in the order they first appear (the order of the form)."""

    def first(name: str) -> int:
        found = re.search(rf"\b{re.escape(name)}\b", body)
        return found.start() if found else len(body)

    return sorted(variables_of(body), key=lambda name: (first(name), name))


class TemplatePickerScreen(ModalScreen[FilledTemplate | None]):
    """Every template; enter opens its form. Dismisses with the filled template, or None."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    @dataclass
    class Loaded(Message):
        """The library, read in the worker: templates and example sets by template name."""

        templates: list[Template]
        sets: dict[str, list[ExampleSet]]

    def __init__(self, db: sqlite_utils.Database, service: ChatService) -> None:
        super().__init__()
        self.db = db
        self.service = service
        self.sets: dict[str, list[ExampleSet]] = {}
        self.templates: dict[str, Template] = {}

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog wide"):
            yield Label("Templates", classes="dialog-title")
            yield DataTable(cursor_type="row", zebra_stripes=True, id="templates")
            yield Label("enter fill in and run · esc close", classes="hint")

    def on_mount(self) -> None:
        self.query_one(DataTable).add_columns("Name", "Version", "Description", "Tags")
        self._load()

    @work(thread=True, exclusive=True, group="templates")
    def _load(self) -> None:
        try:
            db = open_library(self.db)  # seeds the built-ins if the start-up worker has not yet
            templates = TemplateStore(db).list()
            sets: dict[str, list[ExampleSet]] = {}
            for s in ExampleStore(db).list_sets():
                sets.setdefault(s.template or "", []).append(s)
        except Exception as error:  # a worker never takes the app down; notify only posts
            self.notify(str(error), title="Templates", severity="error", markup=False)
            return
        self.post_message(self.Loaded(templates, sets))

    def on_template_picker_screen_loaded(self, event: Loaded) -> None:
        self.sets = event.sets
        self.templates = {t.name: t for t in event.templates}
        table = self.query_one(DataTable)
        table.clear()
        for t in event.templates:
            tags = clip(", ".join(t.tags), 24)
            table.add_row(t.name, f"v{t.version}", clip(t.description, 50), tags, key=t.name)
        table.focus()

    @on(DataTable.RowSelected, "#templates")
    def _chosen(self, event: DataTable.RowSelected) -> None:
        template = self.templates[str(event.row_key.value)]
        form = TemplateFormScreen(template, self.sets.get(template.name, []), self.db, self.service)

        def filled(result: FilledTemplate | None) -> None:
            if result is not None:
                self.dismiss(result)

        self.app.push_screen(form, filled)

    def action_cancel(self) -> None:
        self.dismiss(None)


class TemplateFormScreen(ModalScreen[FilledTemplate | None]):
    """One text box per variable; shots and selector when an example set is attached."""

    BINDINGS = [
        Binding("escape", "cancel", "Cancel"),
        Binding("ctrl+r", "run", "Run"),
        Binding("f2", "preview", "Preview"),
    ]

    @dataclass
    class Built(Message):
        """The preview's prompt, assembled in the worker."""

        text: str
        about: str

    def __init__(
        self,
        template: Template,
        sets: list[ExampleSet],
        db: sqlite_utils.Database,
        service: ChatService,
    ) -> None:
        super().__init__()
        self.template = template
        self.sets = sets
        self.db = db
        self.service = service
        self.names = ordered_variables(template.body)

    def compose(self) -> ComposeResult:
        t = self.template
        with Vertical(classes="dialog wide", id="template-form"):
            yield Label(f"{t.name} v{t.version}", classes="dialog-title", markup=False)
            yield Label(t.description, classes="question", markup=False)
            with VerticalScroll(id="variables"):
                for name in self.names:
                    yield Label(name, classes="field-name")
                    yield TextArea(
                        id=f"var-{name}", soft_wrap=True, tab_behavior="focus", classes="variable"
                    )
            if self.sets:
                with Grid(id="shots-row"):
                    yield from shots_fields(0)
                    yield Label("examples", classes="field-name")
                    yield Select(
                        [(s.name, s.name) for s in self.sets],
                        value=self.sets[0].name,
                        allow_blank=False,
                        id="set",
                    )
            else:
                yield Label(
                    "No example set is attached to this template: zero-shot only.", classes="hint"
                )
            with Horizontal(classes="buttons"):
                yield Button("Preview (f2)", id="preview")
                yield Button("Run (ctrl+r)", variant="primary", id="run")
                yield Button("Cancel (esc)", id="cancel")

    def on_mount(self) -> None:
        if self.names:
            self.query_one(f"#var-{self.names[0]}", TextArea).focus()

    def filled(self) -> FilledTemplate | None:
        """The form's values (blank boxes left out, so they count as missing), or None after
        telling the user what is wrong."""
        values = {n: self.query_one(f"#var-{n}", TextArea).text for n in self.names}
        filled = FilledTemplate(self.template, {k: v for k, v in values.items() if v.strip()})
        try:
            if self.sets:
                shots = self.query_one("#shots", Input).value.strip() or "0"
                if not shots.lstrip("-").isdigit():
                    raise BadInput(f"Shots must be a whole number, not {shots!r}.")
                filled.shots = int(shots)
                filled.selector = str(self.query_one("#selector", Select).value)
                filled.set_name = str(self.query_one("#set", Select).value)
            filled.check()
        except TuiappError as error:
            self.notify(str(error), title="Template", severity="error", markup=False)
            return None
        return filled

    @on(Button.Pressed, "#run")
    def action_run(self) -> None:
        if (filled := self.filled()) is not None:
            self.dismiss(filled)

    @on(Button.Pressed, "#preview")
    def action_preview(self) -> None:
        if (filled := self.filled()) is None:
            return
        self._build(filled, filled.params(self.service.params).max_tokens)  # a run's budget

    @work(thread=True, exclusive=True, group="preview")
    def _build(self, filled: FilledTemplate, max_tokens: int) -> None:
        ready = self.service.ready
        try:
            prompt = self.service.template_prompt(filled, max_tokens)
        except Exception as error:  # a worker never takes the app down; notify only posts
            self.notify(str(error), title="Preview", severity="error", markup=False)
            return
        self.post_message(self.Built(prompt.text, describe(prompt, ready)))

    def on_template_form_screen_built(self, event: Built) -> None:
        t = self.template
        self.app.push_screen(
            PromptPreviewScreen(f"Prompt: {t.name} v{t.version}", event.text, event.about)
        )

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)
