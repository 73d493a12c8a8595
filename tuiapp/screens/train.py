"""Training: pick data and a method, fill its options, watch the run, cancel and resume it.

The run is a child process (``tuiapp.training.jobs``); a thread worker reads its events and posts
each one as ``Event`` for the progress bar, the loss sparkline and the status line. Cancel (esc)
asks the child to checkpoint and stop; Resume continues the last cancelled run. Leaving the
screen cancels a run it started the same way. A run still going that something else started
(the CLI, or a TUI that was killed) is followed when the screen opens (``training.attach``):
esc cancels it, leaving only stops following. Requests are built as the CLI builds them
(``TrainRequest`` + ``DataSource``) so both check the same things.
"""

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import sqlite_utils
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid, Horizontal, Vertical
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Button, DataTable, Footer, Input, Label, ProgressBar, Select, Sparkline

from tuiapp.errors import BadInput, TuiappError
from tuiapp.formatting import loss_text
from tuiapp.library.examples import ExampleStore
from tuiapp.library.records import ExampleSet
from tuiapp.library.seed import open_library
from tuiapp.plugins.methods import Method, Option
from tuiapp.screens.child_job import follow
from tuiapp.training.attach import AttachedRun, attach_training, running_elsewhere
from tuiapp.training.store import Adapter, AdapterStore, Run

if TYPE_CHECKING:
    from tuiapp.training.jobs import TrainingJob
    from tuiapp.training.plan import TrainRequest

# The training options worth a field; the rest keep their defaults (the CLI's --opt sets them).
KEY_TRAINING = ("max_steps", "learning_rate", "batch_size", "max_seq_len")
RECENT_RUNS = 50


def default_text(option: Option) -> str:
    return str(option.default).lower() if option.type == "bool" else str(option.default)


class TrainScreen(Screen[None]):
    BINDINGS = [
        Binding("ctrl+r", "start", "Start"),
        Binding("escape", "cancel_or_close", "Cancel / close"),
    ]

    DEFAULT_CSS = """
    #train { padding: 1 2 0 2; }
    #train-data, #train-options {
        grid-size: 6; grid-columns: 14 1fr 14 1fr 14 1fr; grid-rows: 3; height: auto;
    }
    #train .field-name { height: 3; content-align: right middle; padding: 0 1 0 0; }
    #train-buttons { height: auto; margin: 0 0 1 0; }
    #train-buttons Button { margin: 0 1 0 0; }
    #train-progress { height: 1; }
    #train-status { height: 1; padding: 0 1; }
    #loss { height: 3; margin: 0 0 1 0; }
    #train-tables { height: 1fr; }
    #train-tables > Vertical { width: 1fr; }
    """

    @dataclass
    class Loaded(Message):
        """Example sets, methods, runs and adapters, read in a worker."""

        sets: list[ExampleSet]
        methods: list[Method]
        broken: list[str]
        runs: list[Run]
        adapters: list[Adapter]

    @dataclass
    class Event(Message):
        """One event of the running job (see ``tuiapp.training.events``)."""

        event: dict[str, Any]

    @dataclass
    class Ended(Message):
        """The worker is done: ``error`` is set when the job could not start."""

        error: str | None = None

    def __init__(self, db: sqlite_utils.Database, model: str | None = None) -> None:
        super().__init__()
        self.db = db
        self.model = model  # the base to train on (None: the embedded model)
        self.methods: dict[str, Method] = {}
        self.job: TrainingJob | AttachedRun | None = None  # while one runs
        self.running = False
        self.cancel_asked = False  # cancel pressed before the child started
        self.resumable: int | None = None  # the last cancelled run

    def compose(self) -> ComposeResult:
        with Vertical(id="train"):
            yield Label("Train an adapter", classes="dialog-title")
            with Grid(id="train-data"):
                yield Label("example set", classes="field-name")
                yield Select([], prompt="example set", id="set")
                yield Label("or JSONL file", classes="field-name")
                yield Input("", placeholder="path (wins over the set)", id="data-file")
                yield Label("method", classes="field-name")
                yield Select([], prompt="method", id="method")
            yield Grid(id="train-options")
            with Horizontal(id="train-buttons"):
                yield Button("Start (ctrl+r)", variant="primary", id="start")
                yield Button("Cancel (esc)", variant="error", id="cancel", disabled=True)
                yield Button("Resume", id="resume", disabled=True)
            yield ProgressBar(total=None, show_eta=False, id="train-progress")
            yield Label("", id="train-status", markup=False)
            yield Sparkline([], id="loss")
            with Horizontal(id="train-tables"):
                with Vertical():
                    yield Label("Runs, latest first", classes="pane-title")
                    yield DataTable(id="runs", cursor_type="row", zebra_stripes=True)
                with Vertical():
                    yield Label("Adapters", classes="pane-title")
                    yield DataTable(id="adapters", cursor_type="row", zebra_stripes=True)
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.query_one("#runs", DataTable).add_columns("id", "method", "status", "steps", "loss")
        self.query_one("#adapters", DataTable).add_columns("name", "method", "base")
        self._read()

    def on_unmount(self) -> None:
        if self.job is None:
            return
        if isinstance(self.job, AttachedRun):  # a run started elsewhere goes on without us
            self.job.detach()
        else:  # leaving cancels: the child checkpoints, resume continues it
            self.job.cancel()

    # -- reading ---------------------------------------------------------------------------
    @work(thread=True, exclusive=True, group="train-read")
    def _read(self) -> None:
        from tuiapp.plugins.manager import load_methods

        try:
            db = open_library(self.db)
            sets = ExampleStore(db).list_sets()
            registry = load_methods()
            broken = [f"{b.name}: {b.error}" for b in registry.broken]
            store = AdapterStore(db)
            runs, adapters = store.list_runs(RECENT_RUNS), store.list_adapters()
        except Exception as error:  # a worker never takes the app down; notify only posts
            self.notify(str(error), title="Train", severity="error", markup=False)
            return
        self.post_message(self.Loaded(sets, registry.list(), broken, runs, adapters))

    def on_train_screen_loaded(self, event: Loaded) -> None:
        runs = self.query_one("#runs", DataTable)
        runs.clear()
        for run in event.runs:
            steps = f"{run.step}/{run.max_steps}" if run.max_steps else str(run.step)
            runs.add_row(run.id, run.method, run.status, steps, loss_text(run.metrics))
        adapters = self.query_one("#adapters", DataTable)
        adapters.clear()
        for adapter in event.adapters:
            adapters.add_row(adapter.name, adapter.method, adapter.base_model)
        cancelled = [r.id for r in event.runs if r.status == "cancelled"]
        self.resumable = cancelled[0] if cancelled else None
        self.query_one("#resume", Button).disabled = self.running or self.resumable is None
        elsewhere = None if self.running else running_elsewhere(event.runs)
        if elsewhere is not None:
            self._begin(f"Following run {elsewhere}, started elsewhere…")
            self.notify(
                f"Following run {elsewhere}, started elsewhere: esc cancels it; "
                "leaving this screen leaves it running.",
                title="Train",
            )
            self._follow_run(elsewhere)
        if self.methods:
            return  # a refresh after a run: keep the form as the user left it
        self.methods = {m.name: m for m in event.methods}
        options = [(m.name, m.name) for m in event.methods]
        # A broken plugin is shown, never selectable: its error says what to fix.
        options += [(f"✗ {line}", f"!broken{i}") for i, line in enumerate(event.broken)]
        method = self.query_one("#method", Select)
        method.set_options(options)
        if "lora" in self.methods:
            method.value = "lora"
        set_select = self.query_one("#set", Select)
        set_select.set_options([(s.name, s.name) for s in event.sets])
        if event.sets:
            set_select.value = event.sets[0].name

    @on(Select.Changed, "#method")
    async def _method_changed(self, event: Select.Changed) -> None:
        method = self.methods.get(str(event.value)) if not event.select.is_blank() else None
        if method is None and not event.select.is_blank():
            self.notify("That plugin is broken and cannot train.", severity="warning")
        await self._show_options(method)

    async def _show_options(self, method: Method | None) -> None:
        from tuiapp.training.config import training_schema

        grid = self.query_one("#train-options", Grid)
        await grid.remove_children()
        if method is None:
            return
        schema = [o for o in training_schema(method) if o.name in KEY_TRAINING]
        fields: list[Any] = []
        for option in [*method.options, *schema]:
            fields.append(Label(option.name, classes="field-name"))
            fields.append(self._field(option))
        await grid.mount_all(fields)

    @staticmethod
    def _field(option: Option) -> Select[str] | Input:
        field_id = f"opt-{option.name}"
        if option.type in ("bool", "choice"):
            choices = ("true", "false") if option.type == "bool" else option.choices
            return Select(
                [(c, c) for c in choices],
                value=default_text(option),
                allow_blank=False,
                id=field_id,
                tooltip=option.help,
            )
        kind: Any = {"int": "integer", "float": "number"}.get(option.type, "text")
        return Input(default_text(option), id=field_id, type=kind, tooltip=option.help)

    # -- running ---------------------------------------------------------------------------
    def request(self) -> Any:
        """The ``TrainRequest`` the form describes; BadInput when something is off."""
        from tuiapp.training import DataSource, TrainRequest
        from tuiapp.training.config import training_schema

        select = self.query_one("#method", Select)
        method = None if select.is_blank() else self.methods.get(str(select.value))
        if method is None:
            raise BadInput("Choose a method (broken plugins cannot train).")
        path = self.query_one("#data-file", Input).value.strip()
        set_select = self.query_one("#set", Select)
        if path:
            source = DataSource.file(path)
        elif not set_select.is_blank():
            source = DataSource.examples(str(set_select.value))
        else:
            raise BadInput("Choose an example set or give a JSONL file.")
        given: dict[str, Any] = {}  # only what the user changed: the rest keep their defaults
        for option in [*method.options, *training_schema(method)]:
            for widget in self.query(f"#opt-{option.name}"):
                text = str(widget.value).strip()  # type: ignore[attr-defined]
                if text != default_text(option):
                    given[option.name] = text
        return TrainRequest(method.name, source, self.model, given)

    def _begin(self, text: str) -> None:
        self.running = True
        self.cancel_asked = False
        self.query_one("#start", Button).disabled = True
        self.query_one("#resume", Button).disabled = True
        self.query_one("#cancel", Button).disabled = False
        self.query_one(ProgressBar).update(total=None, progress=0)
        self.query_one(Sparkline).data = []
        self.query_one("#train-status", Label).update(text)

    @on(Button.Pressed, "#start")
    def action_start(self) -> None:
        if self.running:
            return
        try:
            request = self.request()
        except TuiappError as error:
            self.notify(str(error), title="Train", severity="error", markup=False)
            return
        self._begin("Checking the data and the model…")
        self._train(request, None)

    @on(Button.Pressed, "#resume")
    def action_resume(self) -> None:
        if self.running or self.resumable is None:
            return
        self._begin(f"Resuming run {self.resumable}…")
        self._train(None, self.resumable)

    @work(thread=True, exclusive=True, group="train")
    def _train(self, request: "TrainRequest", resume_id: int | None) -> None:
        from tuiapp.training import resume_training, start_training

        def start() -> Any:
            if resume_id is not None:
                return resume_training(resume_id, self.db)
            return start_training(request, self.db)

        follow(self, start, "training")

    @work(thread=True, exclusive=True, group="train")
    def _follow_run(self, run_id: int) -> None:
        follow(self, lambda: attach_training(run_id, self.db), "training")

    def on_train_screen_event(self, message: Event) -> None:
        from tuiapp.training.events import describe

        event, kind = message.event, message.event["event"]
        status = self.query_one("#train-status", Label)
        bar = self.query_one(ProgressBar)
        if kind == "started":
            bar.update(total=max(event.get("max_steps") or 1, 1), progress=0)
            status.update(describe(event))
        elif kind == "step":
            bar.update(total=max(event["max_steps"], 1), progress=event["step"])
            sparkline = self.query_one(Sparkline)
            sparkline.data = [*(sparkline.data or []), float(event["loss"])]
            status.update(describe(event))
        elif kind == "finished":
            if bar.total is not None:
                bar.update(progress=bar.total)
            status.update(describe(event))
            self.notify(f"Adapter '{event['adapter']}' registered.", title="Train")
        elif kind == "cancelled":
            status.update(describe(event))
            self.notify(describe(event), title="Train", markup=False)
        elif kind == "failed":
            status.update("failed")
            self.notify(describe(event), title="Train", severity="error", markup=False, timeout=10)
        else:
            status.update(describe(event))

    def on_train_screen_ended(self, event: Ended) -> None:
        self.running = False
        self.query_one("#start", Button).disabled = False
        self.query_one("#cancel", Button).disabled = True
        if event.error is not None:
            self.query_one("#train-status", Label).update("")
            self.notify(event.error, title="Train", severity="error", markup=False)
        self._read()  # the run and its adapter, and what can be resumed

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        if self.running:
            self.cancel_asked = True
            if self.job is not None:
                self.job.cancel()
            self.query_one("#train-status", Label).update(
                "Cancelling: finishing the step and writing a checkpoint…"
            )

    def action_cancel_or_close(self) -> None:
        if self.running:
            self.action_cancel()
        else:
            self.dismiss(None)
