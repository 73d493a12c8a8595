"""The TUI without a model, driven with Pilot: start-up, snapshot, errors, dialogs.

Chatting with the real model is in ``test_tui_chat.py``. The helpers (``until`` polls a
predicate every 50 ms instead of sleeping a fixed time) are in ``tests/helpers/tui.py``.
"""

import subprocess
import sys
from pathlib import Path

from textual.command import CommandList
from textual.pilot import Pilot
from textual.widgets import DataTable, Input

from tests.helpers.tui import SIZE, record_notes, seed_conversation, until
from tuiapp.app import COMMAND_TITLES, NO_MODEL, TuiApp
from tuiapp.screens.confirm import ConfirmScreen
from tuiapp.screens.help import HelpScreen
from tuiapp.screens.rename import RenameScreen
from tuiapp.screens.settings import SettingsScreen
from tuiapp.widgets.chat_input import ChatInput
from tuiapp.widgets.sidebar import ConversationItem

HEAVY = ("llama_cpp", "torch", "transformers", "peft")
HELP_KEYS = (
    "enter escape ctrl+n ctrl+r ctrl+y f2 ctrl+d ctrl+f ctrl+o ctrl+t f1 f6 f7 ctrl+q ctrl+p"
)


# -- start-up -------------------------------------------------------------------------------
def test_import_and_first_paint_pull_no_heavy_library() -> None:
    code = f"""
import asyncio, sys
import tuiapp.app
heavy = [m for m in {HEAVY!r} if m in sys.modules]
assert not heavy, f"import tuiapp.app imported {{heavy}}"

async def main():
    app = tuiapp.app.TuiApp(autoload=False)
    async with app.run_test() as pilot:
        await pilot.pause()
        assert app.chat.messages.query("#empty"), "the chat screen did not paint"
        heavy = [m for m in {HEAVY!r} if m in sys.modules]
        assert not heavy, f"painting imported {{heavy}}"

asyncio.run(main())
"""
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr[-2000:]


def test_main_screen_snapshot(snap_compare) -> None:
    conversation_id = seed_conversation()
    app = TuiApp(autoload=False)

    async def open_it(pilot: Pilot) -> None:
        await app.chat.open_conversation(conversation_id)
        app.chat.query_one(ChatInput).cursor_blink = False

    assert snap_compare(app, terminal_size=(120, 30), run_before=open_it)


# -- errors never kill the app --------------------------------------------------------------
async def test_bad_model_files_notify_and_the_app_stays_alive(tmp_path: Path) -> None:
    app = TuiApp(model_spec=str(tmp_path / "missing.gguf"), n_threads=2)
    notes = record_notes(app)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: not app.model_loading, 10, "the load to fail")
        assert notes[-1][0] == "error" and "missing.gguf" in notes[-1][1]
        assert app.chat.status.model_text == NO_MODEL

        fake = tmp_path / "fake.gguf"
        fake.write_text("this is not a model")
        app.load_model(str(fake))
        await until(pilot, lambda: len(notes) == 2 and not app.model_loading, 10)
        assert notes[-1][0] == "error" and "fake.gguf" in notes[-1][1]

        await pilot.press(*"hello", "enter")
        assert notes[-1] == ("warning", "No model is loaded: pick one with ctrl+o.")
        assert app.is_running


async def test_settings_are_validated(tmp_path: Path) -> None:
    app = TuiApp(autoload=False)
    notes = record_notes(app)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("ctrl+t")
        await until(pilot, lambda: isinstance(app.screen, SettingsScreen))
        form = app.screen
        form.query_one("#temperature", Input).value = "-1"
        await pilot.press("ctrl+s")
        assert notes[-1] == ("error", "Bad sampling option: temperature must be ≥ 0.")
        form.query_one("#temperature", Input).value = "0.2"
        form.query_one("#top_k", Input).value = "many"
        await pilot.press("ctrl+s")
        assert "top_k must be a whole number" in notes[-1][1]
        assert app.screen is form  # still open, nothing saved
        form.query_one("#top_k", Input).value = "20"
        form.query_one("#seed", Input).value = "7"
        await pilot.press("ctrl+s")
        await until(pilot, lambda: app.screen is app.chat)
        assert (app.params.temperature, app.params.top_k, app.params.seed) == (0.2, 20, 7)


# -- conversations ----------------------------------------------------------------------------
async def test_rename_and_delete_with_confirmation() -> None:
    conversation_id = seed_conversation("Old title")
    app = TuiApp(autoload=False)
    notes = record_notes(app)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.click(ConversationItem)
        await until(pilot, lambda: app.chat.conversation_id == conversation_id)
        assert [v.role for v in app.chat.messages.views] == ["user", "assistant"]

        await pilot.press("f2")
        await until(pilot, lambda: isinstance(app.screen, RenameScreen))
        await pilot.press(*"Renamed", "enter")
        await until(pilot, lambda: app.screen is app.chat)
        assert app.service.history.get_conversation(conversation_id).title == "Renamed"
        await until(
            pilot,
            lambda: (
                "Renamed"
                in str(app.chat.sidebar.query_one(ConversationItem).query_one("Label").render())
            ),
        )

        await pilot.press("ctrl+d")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("n")
        await until(pilot, lambda: app.screen is app.chat)
        assert app.service.history.list_conversations()  # kept

        await pilot.press("ctrl+d")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("y")
        await until(pilot, lambda: app.chat.conversation_id is None)
        assert app.service.history.list_conversations() == []
        assert not app.chat.sidebar.query(ConversationItem)
        assert ("information", "Conversation deleted.") in notes


async def test_help_and_command_palette_cover_every_action() -> None:
    app = TuiApp(autoload=False)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f1")
        await until(pilot, lambda: isinstance(app.screen, HelpScreen))
        table = app.screen.query_one(DataTable)
        keys = {str(table.get_row_at(i)[0]) for i in range(table.row_count)}
        assert {*HELP_KEYS.split(), "ctrl+j / shift+enter"} <= keys
        await pilot.press("escape")
        await until(pilot, lambda: app.screen is app.chat)

        titles = {command.title for command in app.get_system_commands(app.screen)}
        assert set(COMMAND_TITLES.values()) <= titles

        async def run_command(words: str) -> None:
            await pilot.press("ctrl+p", *words)
            await until(
                pilot,
                lambda: (
                    app.screen.query(CommandList) and app.screen.query_one(CommandList).option_count
                ),
                5,
                "palette hits",
            )
            await pilot.press("enter")

        await run_command("sampling")
        await until(pilot, lambda: isinstance(app.screen, SettingsScreen), 5)
        await pilot.press("escape")
        await run_command("search all")
        await until(
            pilot,
            lambda: app.screen is app.chat and app.focused is app.chat.sidebar.query_one("#search"),
            5,
        )
