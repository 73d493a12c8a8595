"""The training screen: the form from the method registry, and one real LoRA run on CPU."""

import os
import subprocess
import sys
from pathlib import Path

from textual.pilot import Pilot
from textual.widgets import Button, DataTable, Input, Label, ProgressBar, Select, Sparkline

from tests.helpers.tui import SIZE, record_notes, until
from tuiapp.app import TuiApp
from tuiapp.screens.train import TrainScreen


async def open_train(pilot: Pilot) -> TrainScreen:
    app = pilot.app
    await pilot.press("f5")
    await until(pilot, lambda: isinstance(app.screen, TrainScreen), 5, "the train screen")
    screen = app.screen
    assert isinstance(screen, TrainScreen)
    await until(pilot, lambda: screen.query("#opt-r"), 10, "the options form")
    return screen


def select_values(select: Select) -> list[str]:
    return [value for _, value in select._options if isinstance(value, str)]  # type: ignore[attr-defined]


async def set_input(pilot: Pilot, screen: TrainScreen, name: str, value: str) -> None:
    screen.query_one(f"#opt-{name}", Input).value = value
    await pilot.pause()


async def test_the_form_lists_methods_sets_and_options() -> None:
    app = TuiApp(autoload=False)
    notes = record_notes(app)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_train(pilot)
        methods = select_values(screen.query_one("#method", Select))
        assert {"lora", "dora", "ia3", "prompt_tuning"} <= set(methods)
        assert screen.query_one("#method", Select).value == "lora"
        sets = select_values(screen.query_one("#set", Select))
        assert "sentiment" in sets
        assert screen.query_one("#opt-r", Input).value == "8"  # LoRA's default rank
        for name in ("max_steps", "learning_rate", "batch_size", "max_seq_len"):
            assert screen.query(f"#opt-{name}")
        # another method rebuilds the form; a bad value is refused before anything starts
        screen.query_one("#method", Select).value = "ia3"
        await until(pilot, lambda: not screen.query("#opt-r"), 5, "ia3's form")
        assert screen.query("#opt-targets")
        await set_input(pilot, screen, "batch_size", "0")
        await pilot.press("ctrl+r")
        await until(pilot, lambda: any(s == "error" for s, _ in notes), 10, "an error note")
        assert not screen.running and screen.query_one("#start", Button).disabled is False
        await pilot.press("escape")
        await until(pilot, lambda: app.screen is app.chat, 5)


async def test_a_real_lora_run_cancel_resume_and_its_adapter(home_with_model: Path) -> None:
    app = TuiApp(autoload=False)
    notes = record_notes(app)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_train(pilot)
        screen.query_one("#set", Select).value = "sentiment"
        await set_input(pilot, screen, "max_steps", "4")
        await set_input(pilot, screen, "batch_size", "1")
        await set_input(pilot, screen, "max_seq_len", "64")
        await pilot.press("ctrl+r")
        await until(pilot, lambda: screen.running, 5, "the run to start")
        sparkline = screen.query_one(Sparkline)
        await until(pilot, lambda: sparkline.data, 240, "the first step")
        await pilot.press("escape")  # cancel: the child checkpoints and stops
        await until(pilot, lambda: not screen.running, 60, "the run to stop")
        runs = screen.query_one("#runs", DataTable)
        await until(pilot, lambda: runs.row_count == 1, 10, "the run in the table")
        assert runs.get_row_at(0)[2] == "cancelled"
        resume = screen.query_one("#resume", Button)
        await until(pilot, lambda: not resume.disabled, 5, "resume to be offered")

        await pilot.click("#resume")
        await until(pilot, lambda: screen.running, 5, "the run to resume")
        await until(pilot, lambda: not screen.running, 240, "the run to end")
        errors = [n for s, n in notes if s == "error"]
        assert not errors, errors
        bar = screen.query_one(ProgressBar)
        assert bar.total == 4 and bar.progress == 4
        assert len(sparkline.data or []) >= 1
        assert "registered" in str(screen.query_one("#train-status", Label).render())
        await until(pilot, lambda: runs.get_row_at(0)[2] == "done", 10, "the run done")
        assert runs.get_row_at(0)[1] == "lora" and runs.get_row_at(0)[3] == "4/4"
        adapters = screen.query_one("#adapters", DataTable)
        await until(pilot, lambda: adapters.row_count == 1, 10, "the adapter in the table")
        assert adapters.get_row_at(0)[1] == "lora"
        assert resume.disabled  # nothing left to resume


async def test_a_run_started_elsewhere_is_followed_to_its_end(home_with_model: Path) -> None:
    cli = subprocess.Popen(
        [sys.executable, "-m", "tuiapp", "train", "--method", "lora", "--examples", "sentiment"]
        + ["--opt", "max_steps=3", "--opt", "max_seq_len=64", "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=os.environ.copy(),
    )
    assert cli.stdout is not None
    for line in cli.stdout:  # the CLI's run is training when the screen opens
        if '"event": "step"' in line:
            break
    app = TuiApp(autoload=False)
    notes = record_notes(app)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_train(pilot)
        await until(pilot, lambda: screen.running, 10, "the screen to follow the run")
        assert any("started elsewhere" in note for _, note in notes)
        await until(pilot, lambda: not screen.running, 240, "the run to end")
        errors = [n for s, n in notes if s == "error"]
        assert not errors, errors
        bar = screen.query_one(ProgressBar)
        assert bar.total == 3 and bar.progress == 3  # replayed from the start, then followed
        runs = screen.query_one("#runs", DataTable)
        await until(pilot, lambda: runs.get_row_at(0)[2] == "done", 10, "the run done")
        adapters = screen.query_one("#adapters", DataTable)
        await until(pilot, lambda: adapters.row_count == 1, 10, "its adapter")
    rest, _ = cli.communicate(timeout=60)  # the CLI followed it too, to the same end
    assert cli.returncode == 0 and '"event": "finished"' in rest
