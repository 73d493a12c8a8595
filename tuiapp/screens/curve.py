"""The learning curve of one example set: few-shot against adapters, drawn as it grows.

The curve runs through ``adapt.curve.CurveJob`` in a thread worker on the app's loaded model;
every finished point redraws the chart (Textual's PlotextPlot), the table and the advice.
Stop (esc) keeps every finished point: running it again continues where it stopped, because
finished runs and trained adapters are reused. ctrl+s writes the chart as PNG and SVG.
"""

from dataclasses import dataclass
from pathlib import Path

import sqlite_utils
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Button, DataTable, Footer, Input, Label, ProgressBar, Static
from textual_plotext import PlotextPlot

from tuiapp.adapt import chart
from tuiapp.adapt.curve import CurveJob, CurveRequest
from tuiapp.adapt.curve_records import Curve, CurveEvent, parse_sizes
from tuiapp.chat.service import ChatService
from tuiapp.errors import TuiappError
from tuiapp.formatting import score_cell
from tuiapp.paths import data_dir
from tuiapp.widgets.run_table import cell

COLUMNS = [
    ("point", "Point"),
    ("score", "Score (95%)"),
    ("tokens_per_query", "Tok/query"),
    ("s_per_query", "s/query"),
    ("train_s", "Train s"),
    ("run", "Run"),
    ("status", "Status"),
]


def charts_dir() -> Path:
    return data_dir() / "charts"


class CurveScreen(Screen[None]):
    BINDINGS = [
        Binding("ctrl+r", "run", "Run / continue"),
        Binding("ctrl+s", "save", "Save chart"),
        Binding("escape", "stop_or_close", "Stop / close"),
    ]

    @dataclass
    class Progress(Message):
        fraction: float
        message: str
        curve: Curve | None

    @dataclass
    class Finished(Message):
        curve: Curve | None
        error: str | None = None

    def __init__(self, db: sqlite_utils.Database, service: ChatService, set_name: str) -> None:
        super().__init__()
        self.db = db
        self.service = service
        self.set_name = set_name
        self.job: CurveJob | None = None
        self.curve: Curve | None = None

    def compose(self) -> ComposeResult:
        with Vertical(id="curve"):
            yield Label(
                f"Learning curve of '{self.set_name}': few-shot against adapters",
                classes="dialog-title",
                markup=False,
            )
            with Horizontal(id="curve-form"):
                yield Input(placeholder="shots: 0,1,2,4,… that fit", id="ks")
                yield Input(placeholder="train rows: 8,16,…,all (0: none)", id="ns")
                yield Input(placeholder="held-out rows: all", id="limit", type="integer")
                yield Button("Run (ctrl+r)", variant="primary", id="run")
                yield Button("Stop (esc)", variant="error", id="stop", disabled=True)
                yield Button("Save chart (ctrl+s)", id="save", disabled=True)
            with Horizontal(id="curve-progress"):
                yield ProgressBar(total=1.0, show_eta=False, id="progress")
                yield Label("", id="progress-text", markup=False)
            yield PlotextPlot(id="chart")
            yield Static("", id="advice", markup=False)
            yield DataTable(id="points", cursor_type="row", zebra_stripes=True)
        yield Footer(compact=True)

    def on_mount(self) -> None:
        table = self.query_one("#points", DataTable)
        for key, title in COLUMNS:
            table.add_column(title, key=key)
        self.query_one("#ks", Input).focus()

    def on_unmount(self) -> None:
        if self.job is not None:
            self.job.cancel()  # leaving stops it; finished points are kept

    # -- running -----------------------------------------------------------------------------
    def request(self) -> CurveRequest:
        limit = self.query_one("#limit", Input).value.strip()
        return CurveRequest(
            self.set_name,
            ks=parse_sizes(self.query_one("#ks", Input).value, "Shots"),
            ns=parse_sizes(self.query_one("#ns", Input).value, "Train rows"),
            limit=int(limit) if limit else None,
        )

    @on(Button.Pressed, "#run")
    def action_run(self) -> None:
        if self.job is not None:
            return
        if not self.service.ready:
            self.notify("No model is ready yet: pick one with ctrl+o.", severity="warning")
            return
        try:
            job = CurveJob(self.db, self.request(), self.service)
        except TuiappError as error:
            self.notify(str(error), title="Learning curve", severity="error", markup=False)
            return
        self.job = job
        self.query_one("#run", Button).disabled = True
        self.query_one("#stop", Button).disabled = False
        self.query_one("#progress-text", Label).update("starting…")
        self._run(job)

    @work(thread=True, exclusive=True, group="curve")
    def _run(self, job: CurveJob) -> None:
        def progress(event: CurveEvent) -> None:
            self.post_message(self.Progress(event.fraction, event.message, event.curve))

        try:
            curve = job.run(progress)
        except TuiappError as error:
            self.post_message(self.Finished(None, str(error)))
        except Exception as error:  # a worker never takes the app down
            self.post_message(self.Finished(None, f"The learning curve failed: {error}"))
        else:
            self.post_message(self.Finished(curve))

    def on_curve_screen_progress(self, event: Progress) -> None:
        self.query_one(ProgressBar).update(progress=event.fraction)
        self.query_one("#progress-text", Label).update(event.message)
        if event.curve is not None:
            self.show(event.curve)

    def on_curve_screen_finished(self, event: Finished) -> None:
        self.job = None
        self.query_one("#run", Button).disabled = False
        self.query_one("#stop", Button).disabled = True
        self.query_one("#run", Button).focus()  # the stop button it may have had is disabled
        if event.curve is None:
            self.query_one("#progress-text", Label).update("failed")
            self.notify(event.error or "Failed.", title="Learning curve", severity="error")
            return
        self.show(event.curve)
        if event.curve.status == "cancelled":
            self.query_one("#progress-text", Label).update(
                "stopped: finished points are kept; ctrl+r continues"
            )
        else:
            self.query_one(ProgressBar).update(progress=1.0)
            self.query_one("#progress-text", Label).update("done")

    def show(self, curve: Curve) -> None:
        """Redraw the chart, the advice and the table from ``curve``."""
        self.curve = curve
        plot = self.query_one(PlotextPlot)
        chart.draw(plot.plt, curve)
        plot.refresh()
        self.query_one("#advice", Static).update(curve.advice)
        table = self.query_one("#points", DataTable)
        table.clear()
        for row in curve.table():
            cells = [
                score_cell(row["score"], row["ci"]) if key == "score" else cell(key, row[key])
                for key, _ in COLUMNS
            ]
            table.add_row(*cells)
        self.query_one("#save", Button).disabled = not any(p.scored for p in curve.points)

    # -- saving and leaving ------------------------------------------------------------------
    @on(Button.Pressed, "#save")
    def action_save(self) -> None:
        if self.curve is None or not any(p.scored for p in self.curve.points):
            self.notify("Nothing to draw yet: run the curve first (ctrl+r).", severity="warning")
            return
        try:
            written = [
                chart.save(self.curve, charts_dir() / f"curve-{self.set_name}{suffix}")
                for suffix in chart.FORMATS
            ]
        except TuiappError as error:
            self.notify(str(error), title="Save chart", severity="error", markup=False)
            return
        self.notify("Wrote " + " and ".join(str(p) for p in written), markup=False)

    @on(Button.Pressed, "#stop")
    def action_stop(self) -> None:
        if self.job is not None:
            self.job.cancel()
            self.query_one("#progress-text", Label).update("stopping… (finished points are kept)")

    def action_stop_or_close(self) -> None:
        if self.job is not None:
            self.action_stop()
        else:
            self.dismiss(None)
