"""Evaluation: score a template on an example set, zero- or few-shot, and compare the runs.

The run goes through ``evaluate.run_eval`` in a thread worker; its progress callback posts
``Progress`` (rows done, total, ETA) for the progress bar. Stop (esc) sets the cancel event: the
rows scored so far are kept and the run is stored as partial. Leaving the screen stops it too.
"""

import threading
from dataclasses import dataclass

import sqlite_utils
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid, Horizontal, Vertical
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Button, Footer, Input, Label, ProgressBar, Select
from textual.worker import get_current_worker

from tuiapp.chat.service import ChatService
from tuiapp.errors import BadInput, TuiappError
from tuiapp.evaluation.evaluate import EvalOptions, EvalStore, run_eval
from tuiapp.formatting import eta_text
from tuiapp.library.examples import SPLITS, ExampleStore
from tuiapp.library.records import EvalRun, ExampleSet, as_eval_mode, as_split
from tuiapp.library.seed import open_library
from tuiapp.library.templates import TemplateStore
from tuiapp.widgets.run_table import RunTable
from tuiapp.widgets.shots_fields import shots_fields

RECENT_RUNS = 100


def whole(text: str, what: str, blank: int | None) -> int | None:
    text = text.strip()
    if not text:
        return blank
    if not text.isdigit():
        raise BadInput(f"{what} must be a whole number, not {text!r}.")
    return int(text)


class EvalScreen(Screen[None]):
    BINDINGS = [
        Binding("ctrl+r", "run", "Run"),
        Binding("m", "mark", "Mark run"),
        Binding("d", "diff", "Diff", tooltip="The highlighted run against the marked one"),
        Binding("escape", "stop_or_close", "Stop / close"),
    ]

    @dataclass
    class Loaded(Message):
        """The library and the stored runs, read in a worker."""

        templates: list[str]
        sets: list[ExampleSet]
        runs: list[EvalRun]

    @dataclass
    class Progress(Message):
        done: int
        total: int
        eta: float | None

    @dataclass
    class Finished(Message):
        """The run ended: done, partial (stopped) or failed (``error`` is for the user)."""

        run: EvalRun | None
        error: str | None = None

    def __init__(self, db: sqlite_utils.Database, service: ChatService) -> None:
        super().__init__()
        self.db = db
        self.service = service
        self.sets: list[ExampleSet] = []
        self.cancel = threading.Event()
        self.running = False
        self.marked: int | None = None  # the run the diff view compares against

    def compose(self) -> ComposeResult:
        with Vertical(id="eval"):
            yield Label("Evaluate a template", classes="dialog-title")
            with Grid(id="eval-form"):
                yield Label("template", classes="field-name")
                yield Select([], prompt="template", id="template")
                yield Label("example set", classes="field-name")
                yield Select([], prompt="example set", id="set")
                yield Label("split", classes="field-name")
                yield Select(
                    [(s, s) for s in SPLITS], value="heldout", allow_blank=False, id="split"
                )
                yield Label("mode", classes="field-name")
                yield Select(
                    [("zero-shot", "zero"), ("few-shot", "few")],
                    value="zero",
                    allow_blank=False,
                    id="mode",
                )
                yield from shots_fields(4)
                yield Label("limit", classes="field-name")
                yield Input("", placeholder="all rows", id="limit", type="integer")
            with Horizontal(classes="buttons", id="eval-buttons"):
                yield Button("Run (ctrl+r)", variant="primary", id="run")
                yield Button("Stop (esc)", variant="error", id="stop", disabled=True)
            with Horizontal(id="eval-progress"):
                yield ProgressBar(total=None, show_eta=False, id="progress")
                yield Label("", id="progress-text", markup=False)
            yield Label("Runs, latest first", classes="pane-title")
            yield RunTable(id="runs")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self._read()

    def on_unmount(self) -> None:
        self.cancel.set()  # leaving stops the run; what was scored is kept (partial)

    @work(thread=True, exclusive=True, group="eval-read")
    def _read(self) -> None:
        try:
            db = open_library(self.db)
            templates = [t.name for t in TemplateStore(db).list()]
            sets = ExampleStore(db).list_sets()
            runs = EvalStore(db).recent(RECENT_RUNS)
        except Exception as error:  # a worker never takes the app down; notify only posts
            self.notify(str(error), title="Evaluate", severity="error", markup=False)
            return
        self.post_message(self.Loaded(templates, sets, runs))

    def on_eval_screen_loaded(self, event: Loaded) -> None:
        self.query_one(RunTable).show(event.runs)
        if self.sets:
            return  # a refresh after a run: keep the form as the user left it
        self.sets = event.sets
        # Start on a template with a labelled set: label accuracy is the telling score.
        attached = [s for s in event.sets if s.template in event.templates]
        attached.sort(key=lambda s: s.labels is None)
        template = self.query_one("#template", Select)
        template.set_options([(n, n) for n in event.templates])
        self.query_one("#set", Select).set_options([(s.name, s.name) for s in event.sets])
        if attached:
            template.value = attached[0].template

    @on(Select.Changed, "#template")
    def _template_changed(self, event: Select.Changed) -> None:
        attached = [s.name for s in self.sets if s.template == event.value]
        if attached:
            self.query_one("#set", Select).value = attached[0]

    # -- running -----------------------------------------------------------------------------
    def options(self) -> tuple[str, str, EvalOptions]:
        """(template, set, options) from the form; BadInput when something is off."""
        template, example_set = self.query_one("#template", Select), self.query_one("#set", Select)
        if template.is_blank() or example_set.is_blank():
            raise BadInput("Choose a template and an example set.")
        opts = EvalOptions(
            mode=as_eval_mode(str(self.query_one("#mode", Select).value)),
            split=as_split(str(self.query_one("#split", Select).value)),
            shots=whole(self.query_one("#shots", Input).value, "Shots", 4) or 0,
            selector=str(self.query_one("#selector", Select).value),
            limit=whole(self.query_one("#limit", Input).value, "Limit", None),
        )
        if opts.limit == 0:
            raise BadInput("Limit must be at least 1 (blank: every row).")
        return str(template.value), str(example_set.value), opts

    @on(Button.Pressed, "#run")
    def action_run(self) -> None:
        if self.running:
            return
        if not self.service.ready:
            self.notify("No model is ready yet: pick one with ctrl+o.", severity="warning")
            return
        try:
            template, set_name, opts = self.options()
            total = ExampleStore(self.db).counts(set_name)[opts.split]
        except TuiappError as error:
            self.notify(str(error), title="Evaluate", severity="error", markup=False)
            return
        total = min(total, opts.limit or total)
        self.running = True
        self.cancel.clear()
        self.query_one("#run", Button).disabled = True
        self.query_one("#stop", Button).disabled = False
        self.query_one("#eval-progress").display = True
        self.query_one(ProgressBar).update(total=max(total, 1), progress=0)
        self.query_one("#progress-text", Label).update(f"0/{total} rows  starting…")
        self._evaluate(template, set_name, opts)

    @work(thread=True, exclusive=True, group="eval")
    def _evaluate(self, template_name: str, set_name: str, opts: EvalOptions) -> None:
        worker = get_current_worker()

        def progress(done: int, total: int, eta: float | None) -> None:
            if worker.is_cancelled:  # the app is closing
                self.cancel.set()
            self.post_message(self.Progress(done, total, eta))

        try:
            db = open_library(self.db)
            examples = ExampleStore(db)
            template = TemplateStore(db).get(template_name)
            run = run_eval(
                db,
                self.service.engine,
                self.service.active,
                template,
                examples.get_set(set_name),
                examples.examples(set_name),
                opts,
                progress,
                self.cancel,
            )
        except TuiappError as error:
            self.post_message(self.Finished(None, str(error)))
        except Exception as error:  # a worker never takes the app down
            self.post_message(self.Finished(None, f"Evaluation failed: {error}"))
        else:
            self.post_message(self.Finished(run))

    def on_eval_screen_progress(self, event: Progress) -> None:
        self.query_one(ProgressBar).update(total=event.total, progress=event.done)
        text = f"{event.done}/{event.total} rows  {eta_text(event.eta)}"
        self.query_one("#progress-text", Label).update(text.strip())

    def on_eval_screen_finished(self, event: Finished) -> None:
        self.running = False
        self.query_one("#run", Button).disabled = False
        self.query_one("#stop", Button).disabled = True
        run = event.run
        if run is None:
            self.query_one("#progress-text", Label).update("failed")
            self.notify(
                event.error or "Evaluation failed.",
                title="Evaluate",
                severity="error",
                markup=False,
            )
        else:
            summary = f"Run {run.id} {run.status}: {run.n_scored}/{run.n_rows} rows"
            self.query_one("#progress-text", Label).update(summary)
            self.notify(summary + (" kept." if run.status == "partial" else "."))
        self._read()

    @on(Button.Pressed, "#stop")
    def action_stop(self) -> None:
        if self.running:
            self.cancel.set()
            self.query_one("#progress-text", Label).update("stopping…")

    # -- diff ------------------------------------------------------------------------------
    def _highlighted(self) -> int | None:
        table = self.query_one(RunTable)
        if not table.runs or table.cursor_row < 0:
            return None
        return table.runs[min(table.cursor_row, len(table.runs) - 1)].id

    def action_mark(self) -> None:
        self.marked = self._highlighted()
        if self.marked is not None:
            self.notify(f"Run {self.marked} marked: highlight another and press d to diff.")

    def action_diff(self) -> None:
        """The highlighted run against the marked one (none marked: the run below it)."""
        from tuiapp.evaluation.compare import run_diff
        from tuiapp.screens.run_diff import RunDiffScreen

        table = self.query_one(RunTable)
        current = self._highlighted()
        if current is None:
            return
        other = self.marked
        if other is None or other == current:
            below = table.cursor_row + 1
            if below >= len(table.runs):
                self.notify("Mark a run with m, then highlight another and press d.")
                return
            other = table.runs[below].id
        assert other is not None
        try:
            found = run_diff(self.db, other, current)
        except TuiappError as error:
            self.notify(str(error), title="Diff", severity="error", markup=False)
            return
        self.app.push_screen(RunDiffScreen(found))

    def action_stop_or_close(self) -> None:
        if self.running:
            self.action_stop()
        else:
            self.dismiss(None)
