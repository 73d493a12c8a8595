"""The one-click adapter in the TUI: from an example set, one progress view over training,
conversion, parity, evaluation and attaching, a report, then the chat with the adapter on."""

from pathlib import Path

import pytest
from textual.pilot import Pilot
from textual.widgets import Button, DataTable, Input, ProgressBar

from tests.helpers.tui import SIZE, model_app, record_notes, until, wait_ready
from tuiapp.app import TuiApp
from tuiapp.screens.adapt import AdaptScreen
from tuiapp.screens.examples import ExamplesScreen

pytestmark = pytest.mark.slow


async def open_adapt(pilot: Pilot, app: TuiApp, set_name: str) -> AdaptScreen:
    await wait_ready(pilot)
    await pilot.press("f3")
    await until(
        pilot,
        lambda: isinstance(app.screen, ExamplesScreen) and app.screen.sets,
        20,
        "the example sets",
    )
    examples = app.screen
    assert isinstance(examples, ExamplesScreen)
    table = examples.query_one("#sets", DataTable)
    table.move_cursor(row=list(examples.sets).index(set_name))
    await until(pilot, lambda: examples.current == set_name, 10, "the set to be shown")
    await pilot.press("t")
    await until(pilot, lambda: isinstance(app.screen, AdaptScreen), 10, "the adapt screen")
    screen = app.screen
    assert isinstance(screen, AdaptScreen) and screen.set_name == set_name
    return screen


def fill(screen: AdaptScreen, **values: str) -> None:
    for name, value in values.items():
        screen.query_one(f"#f-{name}", Input).value = value


async def test_one_click_trains_compares_and_opens_the_chat(home_with_model: Path) -> None:
    app = model_app()
    notes = record_notes(app)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_adapt(pilot, app, "sentiment")
        fill(screen, max_steps="6", learning_rate="0.002", limit="4")
        await pilot.press("ctrl+r")
        await until(pilot, lambda: screen.running, 10, "the job to start")
        await until(pilot, lambda: not screen.running, 900, "the whole loop")
        assert not [n for n in notes if n[0] == "error"], notes
        report = screen.report
        assert report is not None and report["status"] == "done"
        assert screen.query_one(ProgressBar).progress == 1.0
        stages = str(screen.query_one("#adapt-stages").render())
        assert stages.count("✓") == 4, stages
        assert "Parity passed" in str(screen.query_one("#adapt-parity").render())
        table = screen.query_one("#adapt-report", DataTable)
        modes = [table.get_row_at(i)[COLUMN_MODE] for i in range(table.row_count)]
        assert modes == ["zero", "few", "adapter"]
        assert not screen.query_one("#open-chat", Button).disabled

        await pilot.press("ctrl+o")
        await until(pilot, lambda: app.screen is app.chat, 10, "the chat")
        assert app.chat.conversation_id == report["conversation_id"]
        conv = app.service.history.get_conversation(report["conversation_id"])
        assert conv.adapters == [{"name": report["train"]["adapter"], "scale": 1.0}]


async def test_cancel_stops_the_loop_and_registers_nothing(home_with_model: Path) -> None:
    from tuiapp.training.store import AdapterStore

    app = model_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_adapt(pilot, app, "sentiment")
        fill(screen, max_steps="400")
        await pilot.press("ctrl+r")
        await until(
            pilot,
            lambda: "step " in str(screen.query_one("#adapt-status").render()),
            300,
            "a training step",
        )
        await pilot.press("escape")
        await until(pilot, lambda: not screen.running, 300, "the cancel")
        assert str(screen.query_one("#adapt-status").render()).startswith("Cancelled")
        assert isinstance(app.screen, AdaptScreen)  # the first escape only cancels
        assert AdapterStore(app.db).list_adapters() == []
        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, AdaptScreen), 10, "closing")


COLUMN_MODE = 3  # id, template, set, mode, ...
