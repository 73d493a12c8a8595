"""Adapters in the TUI: the adapters screen (f6) and the chat's adapter selector (f7).

The adapters are real random LoRAs for the embedded model (``tests.helpers.adapter_records``);
one test converts one from the screen with the real child process and its parity check.
"""

from pathlib import Path

import pytest
from textual.pilot import Pilot
from textual.widgets import DataTable, Input, Static

from tests.helpers.adapter_records import register_adapter
from tests.helpers.tui import SIZE, model_app, record_notes, send, until, wait_ready
from tuiapp.app import TuiApp
from tuiapp.screens.adapter_pick import AdapterPickScreen
from tuiapp.screens.adapters import AdaptersScreen
from tuiapp.screens.confirm import ConfirmScreen
from tuiapp.store import open_db
from tuiapp.training.store import AdapterStore

pytestmark = pytest.mark.slow

READY = "gemma-3-270m · Q4_K_M · ready"


def base_path(home: Path) -> Path:
    return home / "models" / "gemma-3-270m-q4_k_m.gguf"


def other_base(home: Path, name: str) -> None:
    """An adapter trained on another base, with a GGUF file: only its sha256 keeps it out."""
    db = open_db()
    register_adapter(db, base_path(home), name, convert=False, base_sha256="0" * 64)
    gguf = next(a.gguf for a in AdapterStore(db).list_adapters() if a.gguf)
    AdapterStore(db).record_export(
        name, "adapter", {"kind": "adapter", "path": gguf, "conversion": {}, "parity": None}
    )


async def open_adapters(pilot: Pilot, rows: int) -> AdaptersScreen:
    app = pilot.app
    await pilot.press("f6")
    await until(pilot, lambda: isinstance(app.screen, AdaptersScreen), 5, "the adapters screen")
    screen = app.screen
    assert isinstance(screen, AdaptersScreen)
    table = screen.query_one("#adapters", DataTable)
    await until(pilot, lambda: table.row_count == rows, 10, f"{rows} adapters")
    return screen


async def highlight(pilot: Pilot, screen: AdaptersScreen, name: str) -> None:
    table = screen.query_one("#adapters", DataTable)
    table.move_cursor(row=table.get_row_index(name))
    await until(
        pilot,
        lambda: str(screen.query_one("#details", Static).render()).startswith(name),
        5,
        f"the details of {name}",
    )


def details(screen: AdaptersScreen) -> str:
    return str(screen.query_one("#details", Static).render())


async def test_list_details_refusals_and_delete_to_trash(home_with_model: Path) -> None:
    db = open_db()
    adapter = register_adapter(db, base_path(home_with_model), "my-sent")
    register_adapter(db, base_path(home_with_model), "alien", convert=False, base_sha256="0" * 64)
    app = TuiApp(autoload=False)
    notes = record_notes(app)
    async with app.run_test(size=SIZE) as pilot:
        history = app.service.history  # a conversation that uses the adapter
        conv = history.new_conversation("uses my-sent")
        history.set_adapters(conv.id, [{"name": "my-sent", "scale": 1.0}])
        await app.chat.open_conversation(conv.id)
        assert "adapter my-sent ×1.0" in app.chat.status.left_text

        screen = await open_adapters(pilot, 2)
        row = screen.row_text("my-sent")
        assert row[:6] == [
            "my-sent",
            "lora",
            "gemma-3-270m-q4_k_m.gguf",
            "yes",
            "unchecked",
            "1.5000",
        ]
        assert screen.row_text("alien")[3:5] == ["no", ""]
        await highlight(pilot, screen, "my-sent")
        text = details(screen)
        for part in (
            "method   lora",
            "r=4",
            "examples:sentiment",
            "eval_loss=1.5",
            str(adapter.gguf),
            "parity: unchecked",
            "MB in",
        ):
            assert part in text, (part, text)

        # refusals are one notification each; the screen stays
        await pilot.press("u")  # no model loaded
        assert notes[-1][0] == "error" and "No model is loaded" in notes[-1][1]
        await highlight(pilot, screen, "alien")
        await pilot.press("m")  # its base file is nowhere
        await until(
            pilot, lambda: screen.running is None and notes[-1][0] == "error", 30, "the refusal"
        )
        assert "not available as a GGUF file" in notes[-1][1]
        assert app.screen is screen
        screen.running = "alien"  # a finished export whose parity failed: loud, an error
        warning = "PARITY CHECK FAILED: the export does not match the trained adapter (KL 3)."
        screen.post_message(
            AdaptersScreen.Event(
                {"event": "finished", "warning": warning, "export": {"path": "/x/alien-f32.gguf"}}
            )
        )
        await until(pilot, lambda: notes[-1] == ("error", warning), 5, "the parity warning")
        screen.running = None

        await highlight(pilot, screen, "my-sent")
        await pilot.press("d")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), 5)
        await pilot.press("n")
        await until(pilot, lambda: app.screen is screen, 5)
        assert screen.row_text("my-sent")
        await pilot.press("d")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), 5)
        await pilot.press("y")
        table = screen.query_one("#adapters", DataTable)
        await until(pilot, lambda: table.row_count == 1, 5, "the row to go")
        trashed = list((home_with_model / "trash" / "adapters").glob("my-sent-*"))
        assert len(trashed) == 1 and (trashed[0] / "adapter_config.json").is_file()
        assert not Path(adapter.path).exists()
        assert notes[-1][0] == "information" and str(trashed[0]) in notes[-1][1]

        await pilot.press("escape")  # back in chat: the conversation lost the adapter
        await until(pilot, lambda: app.screen is app.chat, 5)
        assert history.get_conversation(conv.id).adapters == []
        assert "adapter" not in app.chat.status.left_text


async def test_convert_from_the_screen_with_parity(home_with_model: Path) -> None:
    db = open_db()
    register_adapter(db, base_path(home_with_model), "fresh", convert=False, rank=8, std=0.02)
    app = TuiApp(autoload=False)
    notes = record_notes(app)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_adapters(pilot, 1)
        assert screen.row_text("fresh")[3:5] == ["no", ""]
        assert "Exports: none yet" in details(screen)

        await pilot.press("m", "escape")  # a merge, cancelled at once
        await until(pilot, lambda: screen.running is None, 60, "the merge to stop")
        assert notes[-1] == ("information", "Conversion of 'fresh' cancelled.")
        assert not AdapterStore(db).get_adapter("fresh").exports

        await pilot.press("c")  # the GGUF adapter, parity checked
        await until(pilot, lambda: screen.running is None, 240, "the conversion")
        assert not [n for n in notes if n[0] == "error"], notes
        adapter = AdapterStore(db).get_adapter("fresh")
        assert adapter.gguf is not None and Path(adapter.gguf).is_file()
        assert adapter.exports["adapter"]["parity"]["passed"] is True
        await until(pilot, lambda: screen.row_text("fresh")[3] == "yes", 5, "the new row")
        assert screen.row_text("fresh")[4] == "passed"
        assert "parity passed: KL" in details(screen)
        assert "written to" in str(screen.query_one("#export-status").render())


async def pick(pilot: Pilot, row: int, scale: str | None = None) -> AdapterPickScreen:
    """Open the selector, choose the ``row``-th choice (0: none) with ``scale``."""
    app = pilot.app
    await pilot.press("f7")
    await until(pilot, lambda: isinstance(app.screen, AdapterPickScreen), 5, "the selector")
    picker = app.screen
    assert isinstance(picker, AdapterPickScreen)
    if scale is not None:
        picker.query_one("#scale", Input).value = scale
    picker.query_one(DataTable).move_cursor(row=row)
    await pilot.pause()
    await pilot.press("enter")
    return picker


async def test_choose_an_adapter_in_chat(home_with_model: Path) -> None:
    db = open_db()
    register_adapter(db, base_path(home_with_model), "my-sent")
    register_adapter(db, base_path(home_with_model), "raw", convert=False, seed=1)
    other_base(home_with_model, "alien")
    app = model_app()
    notes = record_notes(app)
    async with app.run_test(size=SIZE) as pilot:
        await wait_ready(pilot)
        chat, history = app.chat, app.service.history

        picker = await pick(pilot, 1, "9")  # out of range: refused, the selector stays
        assert picker.names() == ["", "my-sent"]  # not "alien" (other base), not "raw"
        assert "1 more adapter(s)" in str(picker.query_one("#unconverted").render())
        assert notes[-1][0] == "error" and "from -4 to 4" in notes[-1][1]
        assert app.screen is picker and chat.conversation_id is None
        picker.query_one("#scale", Input).value = "0.5"
        await pilot.press("enter")
        await until(pilot, lambda: app.screen is chat, 5)
        assert chat.status.left_text == f"{READY} · adapter my-sent ×0.5"
        conv_id = chat.conversation_id
        assert conv_id is not None  # a new chat was stored to hold the choice
        assert history.get_conversation(conv_id).adapters == [{"name": "my-sent", "scale": 0.5}]

        await send(pilot, "Paris is")
        reply = history.messages(conv_id)[-1]
        assert reply.role == "assistant"
        assert reply.params["adapters"] == [{"name": "my-sent", "scale": 0.5}]

        await pilot.press("ctrl+n")  # another conversation shows its own (none)
        await until(pilot, lambda: chat.conversation_id is None, 5)
        assert chat.status.left_text == READY
        await chat.open_conversation(conv_id)
        assert chat.status.left_text.endswith("adapter my-sent ×0.5")

        picker = await pick(pilot, 0)  # none: back to the base model
        await until(pilot, lambda: app.screen is chat, 5)
        assert history.get_conversation(conv_id).adapters == []
        assert chat.status.left_text == READY

        # the adapters screen: use in chat (scale 1), and a refusal for the other base
        screen = await open_adapters(pilot, 3)
        await highlight(pilot, screen, "alien")
        await pilot.press("u")
        assert notes[-1][0] == "error" and "another base model" in notes[-1][1]
        assert app.screen is screen
        await highlight(pilot, screen, "my-sent")
        await pilot.press("u")
        await until(pilot, lambda: app.screen is chat, 5)
        assert history.get_conversation(conv_id).adapters == [{"name": "my-sent", "scale": 1.0}]
        assert chat.status.left_text == f"{READY} · adapter my-sent ×1.0"
