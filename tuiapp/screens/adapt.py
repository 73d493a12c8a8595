"""One click from an example set: train -> convert -> parity -> evaluate -> attach.

One progress bar over every stage (``tuiapp.adapt.job.AdaptJob`` runs in a thread worker and posts
each ``AdaptEvent``), the stage list ticking along, the latest message, cancel with escape at
any stage. When it ends the report stays on screen: training figures, the parity verdict (a
failed check is shown loudly), and the zero-shot / k-shot / adapter comparison; ``ctrl+o`` opens
the new conversation with the adapter attached. The evaluation runs on the chat's own engine.
"""

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import sqlite_utils
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid, Horizontal, Vertical
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Button, DataTable, Footer, Input, Label, ProgressBar, Static

from tuiapp.errors import BadInput, TuiappError
from tuiapp.screens.requests import OpenConversation

if TYPE_CHECKING:
    from tuiapp.adapt.job import AdaptJob
    from tuiapp.adapt.records import AdaptRequest
    from tuiapp.chat.service import ChatService

STAGE_NAMES = {
    "train": "Train",
    "convert": "Convert + parity",
    "evaluate": "Evaluate",
    "attach": "Attach to a chat",
}
FIELDS = (  # (id, label, default, help)
    ("max_steps", "max steps", "0", "Optimizer steps; 0: `epochs` passes over the rows."),
    ("epochs", "epochs", "3", "Passes over the training rows when max steps is 0."),
    ("r", "LoRA rank", "8", "Rank of the LoRA matrices."),
    ("learning_rate", "learning rate", "", "Blank: the method's default."),
    (
        "shots",
        "k-shot baseline",
        "",
        "Examples per prompt in the few-shot comparison (blank: the best k of 1, 2, 4, 8).",
    ),
    ("limit", "held-out rows", "", "Score the first N held-out rows per mode (blank: all)."),
)
TRAIN_OPTIONS = ("max_steps", "epochs", "r", "learning_rate")


class AdaptScreen(Screen[None]):
    BINDINGS = [
        Binding("ctrl+r", "start", "Start"),
        Binding("ctrl+o", "open_chat", "Open chat"),
        Binding("escape", "cancel_or_close", "Cancel / close"),
    ]

    DEFAULT_CSS = """
    #adapt { padding: 1 2 0 2; }
    #adapt-form { grid-size: 6; grid-columns: 16 1fr 16 1fr 16 1fr; grid-rows: 3; height: auto; }
    #adapt .field-name { height: 3; content-align: right middle; padding: 0 1 0 0; }
    #adapt-buttons { height: auto; margin: 0 0 1 0; }
    #adapt-buttons Button { margin: 0 1 0 0; }
    #adapt-stages { height: 1; }
    #adapt-progress { height: 1; }
    #adapt-status { height: 1; padding: 0 1; }
    #adapt-parity { height: auto; padding: 0 1; margin: 1 0 0 0; }
    #adapt-parity.failed { color: $error; text-style: bold; }
    #adapt-report { height: 1fr; }
    """

    @dataclass
    class Progress(Message):
        event: Any  # tuiapp.adapt.AdaptEvent

    @dataclass
    class Ended(Message):
        report: dict[str, Any] | None
        error: str | None = None

    def __init__(
        self,
        db: sqlite_utils.Database,
        service: "ChatService",
        set_name: str,
        conversation_id: int | None = None,
    ) -> None:
        super().__init__()
        self.db = db
        self.service = service
        self.set_name = set_name
        self.conversation_id = conversation_id  # attach there (None: a new conversation)
        self.job: AdaptJob | None = None
        self.running = False
        self.report: dict[str, Any] | None = None

    def compose(self) -> ComposeResult:
        with Vertical(id="adapt"):
            yield Label(
                f"One-click adapter for '{self.set_name}': train, convert, check, compare, chat",
                classes="dialog-title",
                markup=False,
            )
            with Grid(id="adapt-form"):
                for field_id, label, default, help_text in FIELDS:
                    yield Label(label, classes="field-name")
                    whole = field_id in ("max_steps", "r", "shots", "limit")
                    kind: Literal["integer", "number"] = "integer" if whole else "number"
                    yield Input(default, id=f"f-{field_id}", type=kind, tooltip=help_text)
            with Horizontal(id="adapt-buttons"):
                yield Button("Start (ctrl+r)", variant="primary", id="start")
                yield Button("Cancel (esc)", variant="error", id="cancel", disabled=True)
                yield Button("Open chat (ctrl+o)", id="open-chat", disabled=True)
            yield Static(self._stages_text(None, set()), id="adapt-stages")
            yield ProgressBar(total=1.0, show_eta=False, id="adapt-progress")
            yield Label("", id="adapt-status", markup=False)
            yield Static("", id="adapt-parity", markup=False)
            yield DataTable(id="adapt-report", cursor_type="row", zebra_stripes=True)
        yield Footer(compact=True)

    # -- the form ------------------------------------------------------------------------
    def request(self) -> Any:
        """The ``AdaptRequest`` the form describes; BadInput when a field is off."""
        from tuiapp.adapt.records import AdaptRequest

        values = {f[0]: self.query_one(f"#f-{f[0]}", Input).value.strip() for f in FIELDS}
        options = {k: values[k] for k in TRAIN_OPTIONS if values[k]}
        try:
            shots = int(values["shots"]) if values["shots"] else None
            limit = int(values["limit"]) if values["limit"] else None
        except ValueError:
            raise BadInput("The k-shot baseline and held-out rows must be whole numbers.") from None
        active = self.service.active
        return AdaptRequest(
            self.set_name,
            "lora",
            options,
            str(active.path) if active else None,
            shots=shots,
            limit=limit,
            conversation_id=self.conversation_id,
        )

    # -- running -------------------------------------------------------------------------
    @on(Button.Pressed, "#start")
    def action_start(self) -> None:
        if self.running:
            return
        if self.service.active is None:
            self.notify(
                "Wait for the model to load: the adapter is trained on it.", severity="warning"
            )
            return
        try:
            request = self.request()
        except TuiappError as error:
            self.notify(str(error), title="Adapt", severity="error", markup=False)
            return
        self.running, self.report = True, None
        self.query_one("#start", Button).disabled = True
        self.query_one("#cancel", Button).disabled = False
        self.query_one("#open-chat", Button).disabled = True
        self.query_one(ProgressBar).update(total=1.0, progress=0.0)
        self.query_one("#adapt-status", Label).update("Checking the set and the method…")
        parity = self.query_one("#adapt-parity", Static)
        parity.update("")
        parity.remove_class("failed")
        self.query_one("#adapt-report", DataTable).clear(columns=True)
        self._run(request)

    @work(thread=True, exclusive=True, group="adapt")
    def _run(self, request: "AdaptRequest") -> None:
        from tuiapp.adapt.job import AdaptCancelled, AdaptEvent, AdaptJob

        job = AdaptJob(self.db, request, self.service)
        self.job = job
        try:

            def relay(event: AdaptEvent) -> None:
                self.post_message(self.Progress(event))

            report = job.run(relay)
        except AdaptCancelled as error:
            self.post_message(self.Ended(job.report, f"Cancelled: {error}"))
        except TuiappError as error:
            self.post_message(self.Ended(job.report if job.id else None, str(error)))
        except Exception as error:  # a worker never takes the app down
            self.post_message(
                self.Ended(job.report if job.id else None, f"{type(error).__name__}: {error}")
            )
        else:
            self.post_message(self.Ended(report))
        finally:
            self.job = None

    def on_adapt_screen_progress(self, message: Progress) -> None:
        event = message.event
        self.query_one(ProgressBar).update(progress=event.fraction)
        self.query_one("#adapt-status", Label).update(event.message)
        done = (
            {
                s
                for s in STAGE_NAMES
                if list(STAGE_NAMES).index(s) < list(STAGE_NAMES).index(event.stage)
            }
            if event.stage in STAGE_NAMES
            else set(STAGE_NAMES)
        )
        self.query_one("#adapt-stages", Static).update(self._stages_text(event.stage, done))
        if event.detail.get("warning"):
            self.notify(
                event.detail["warning"], title="Parity", severity="error", markup=False, timeout=15
            )

    def on_adapt_screen_ended(self, message: Ended) -> None:
        self.running = False
        self.query_one("#start", Button).disabled = False
        self.query_one("#cancel", Button).disabled = True
        if message.report is not None:
            self.show_report(message.report)
        if message.error:
            self.query_one("#adapt-status", Label).update(message.error)
            cancelled = message.error.startswith("Cancelled")
            self.notify(
                message.error,
                title="Adapt",
                severity="warning" if cancelled else "error",
                markup=False,
                timeout=10,
            )
        elif message.report is not None:
            self.notify(
                f"Adapter '{message.report['train']['adapter']}' is ready and attached "
                "to a new conversation: ctrl+o opens it.",
                title="Adapt",
            )

    def show_report(self, report: dict[str, Any]) -> None:
        from tuiapp.evaluation.compare import COMPARE_COLUMNS

        self.report = report
        parity = self.query_one("#adapt-parity", Static)
        train, convert = report.get("train"), report.get("convert")
        lines = []
        if train:
            lines.append(
                f"Trained '{train['adapter']}': {train['steps']} steps on "
                f"{train['rows']} rows in {train['seconds']:.0f} s"
                + (
                    f", eval loss {train['metrics']['eval_loss']:.4f}"
                    if isinstance(train["metrics"].get("eval_loss"), float)
                    else ""
                )
            )
        if convert:
            check = convert.get("parity")
            if check:
                lines.append(
                    f"Parity {'passed' if check['passed'] else 'FAILED'}: KL "
                    f"{check['kl_mean']:.2e} (threshold {check['threshold']:.2e}), "
                    f"top-1 {check['top1_agreement']:.1%}"
                )
            if convert.get("warning"):
                lines.append(convert["warning"])
                parity.add_class("failed")
        if report.get("eval", {}).get("skipped"):
            lines.append(report["eval"]["skipped"])
        lines += [item["verdict"] for item in report.get("eval", {}).get("verdicts", [])]
        parity.update("\n".join(lines))
        rows = report.get("eval", {}).get("table", [])
        table = self.query_one("#adapt-report", DataTable)
        table.clear(columns=True)
        if rows:
            table.add_columns(*COMPARE_COLUMNS)
            for row in rows:
                table.add_row(*("" if row.get(c) is None else str(row[c]) for c in COMPARE_COLUMNS))
        self.query_one("#open-chat", Button).disabled = not report.get("conversation_id")

    @staticmethod
    def _stages_text(current: str | None, done: set[str]) -> str:
        marks = []
        for stage, name in STAGE_NAMES.items():
            mark = "✓" if stage in done else ("▶" if stage == current else "·")
            marks.append(f"{mark} {name}")
        return "   ".join(marks)

    # -- leaving -------------------------------------------------------------------------
    @on(Button.Pressed, "#cancel")
    def action_cancel_or_close(self) -> None:
        if self.running:
            if self.job is not None:
                self.job.cancel()
            self.query_one("#adapt-status", Label).update("Cancelling…")
            return
        self.dismiss()

    @on(Button.Pressed, "#open-chat")
    def action_open_chat(self) -> None:
        conv_id = (self.report or {}).get("conversation_id")
        if not conv_id or self.running:
            return
        self.post_message(OpenConversation(conv_id))

    def on_unmount(self) -> None:
        if self.job is not None:  # leaving cancels (training keeps a checkpoint)
            self.job.cancel()
