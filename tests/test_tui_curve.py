"""The learning curve and the diff view in the TUI, on the embedded model: from an example set
the curve is drawn point by point with its table and advice and saved as PNG and SVG; from the
evaluation screen two of its runs are diffed."""

from pathlib import Path

import pytest
from textual.widgets import DataTable, Input, Static
from textual_plotext import PlotextPlot

from tests.helpers.tui import SIZE, model_app, record_notes, until, wait_ready
from tuiapp.app import TuiApp
from tuiapp.screens.curve import CurveScreen
from tuiapp.screens.eval import EvalScreen
from tuiapp.screens.examples import ExamplesScreen
from tuiapp.screens.run_diff import RunDiffScreen

pytestmark = pytest.mark.slow


async def open_curve(pilot, app: TuiApp, set_name: str) -> CurveScreen:
    await wait_ready(pilot)
    await pilot.press("f3")
    await until(
        pilot, lambda: isinstance(app.screen, ExamplesScreen) and app.screen.sets, 20, "sets"
    )
    examples = app.screen
    assert isinstance(examples, ExamplesScreen)
    examples.query_one("#sets", DataTable).move_cursor(row=list(examples.sets).index(set_name))
    await until(pilot, lambda: examples.current == set_name, 10, "the set to be shown")
    await pilot.press("l")
    await until(pilot, lambda: isinstance(app.screen, CurveScreen), 10, "the curve screen")
    screen = app.screen
    assert isinstance(screen, CurveScreen)
    return screen


async def test_the_curve_is_drawn_saved_and_its_runs_diffed(home_with_model: Path) -> None:
    app = model_app()
    notes = record_notes(app)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_curve(pilot, app, "sentiment")
        screen.query_one("#ks", Input).value = "0,1,x"
        await pilot.press("ctrl+r")
        await until(pilot, lambda: any(n[0] == "error" for n in notes), 10, "the refusal")
        assert "Shots takes whole numbers" in notes[-1][1] and screen.job is None

        screen.query_one("#ks", Input).value = "0,1"
        screen.query_one("#ns", Input).value = "0"
        screen.query_one("#limit", Input).value = "10"
        await pilot.press("ctrl+r")
        await until(pilot, lambda: screen.job is not None, 10, "the curve to start")
        await until(pilot, lambda: screen.job is None, 300, "the curve")
        curve = screen.curve
        assert curve is not None and curve.status == "done"
        assert [p.status for p in curve.points] == ["done", "done"]
        table = screen.query_one("#points", DataTable)
        assert [table.get_row_at(i)[0] for i in range(table.row_count)] == ["zero-shot", "1-shot"]
        assert "%" in table.get_row_at(1)[1] and "(" in table.get_row_at(1)[1]  # with interval
        assert "Prompting peaks at" in str(screen.query_one("#advice", Static).render())
        drawn = screen.query_one(PlotextPlot).plt.build()
        assert "sentiment: label accuracy on 10 held-out rows" in drawn

        await pilot.press("ctrl+s")
        charts = home_with_model / "charts"
        await until(pilot, lambda: (charts / "curve-sentiment.svg").exists(), 20, "the charts")
        assert (charts / "curve-sentiment.png").read_bytes()[:4] == b"\x89PNG"

        await pilot.press("escape")
        await until(pilot, lambda: isinstance(app.screen, ExamplesScreen), 10, "back")
        await pilot.press("escape")
        await pilot.press("f4")
        await until(pilot, lambda: isinstance(app.screen, EvalScreen), 10, "the eval screen")
        runs = app.screen.query_one("#runs", DataTable)
        await until(pilot, lambda: runs.row_count == 2, 20, "the two runs")
        runs.focus()
        runs.move_cursor(row=0)  # the 1-shot run, against the zero-shot run below it
        await pilot.press("d")
        await until(pilot, lambda: isinstance(app.screen, RunDiffScreen), 10, "the diff view")
        diff = app.screen
        assert isinstance(diff, RunDiffScreen)
        assert diff.found["a_name"].startswith("zero-shot")
        assert diff.found["b_name"].startswith("1-shot")
        verdict = str(diff.query_one("#diff-verdict", Static).render())
        assert "10 rows" in verdict or "10 paired rows" in verdict
        changed = diff.query_one("#diff-rows", DataTable)
        assert changed.row_count == len(diff.found["rows"])
        assert not [n for n in notes[1:] if n[0] == "error"], notes
