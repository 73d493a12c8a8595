"""The prompt library in the TUI: templates, example sets, saving an exchange, evaluation.

Without a model (``autoload=False``) except the last test, which runs a template and two small
evaluations on the real embedded model. The helpers are in ``tests/helpers/tui.py``.
"""

import re
from pathlib import Path

import pytest
from textual.app import App, ComposeResult
from textual.command import CommandList
from textual.pilot import Pilot
from textual.widgets import DataTable, Input, Label, Select, TextArea

from tests.helpers.tui import FAST, SIZE, record_notes, seed_conversation, until, wait_ready
from tuiapp.app import TuiApp
from tuiapp.evaluation.evaluate import EvalStore
from tuiapp.library.examples import ExampleStore
from tuiapp.library.records import EvalRun
from tuiapp.library.templates import TemplateStore
from tuiapp.screens.confirm import ConfirmScreen
from tuiapp.screens.eval import EvalScreen
from tuiapp.screens.example_edit import ExampleEditScreen
from tuiapp.screens.examples import ExamplesScreen, SaveExchangeScreen
from tuiapp.screens.prompt_preview import PromptPreviewScreen
from tuiapp.screens.templates import TemplateFormScreen, TemplatePickerScreen
from tuiapp.widgets.example_table import ExampleTable
from tuiapp.widgets.run_table import RunTable

BUILTIN_TEMPLATES = {"extract-contact", "formalize", "sentiment", "summarize"}
REVIEW = "The battery lasts two full days and the screen is gorgeous."


def keys(table: DataTable) -> list[str]:
    return [str(row.key.value) for row in table.ordered_rows]


async def open_form(pilot: Pilot, name: str) -> TemplateFormScreen:
    """ctrl+l, wait for the seeded templates, choose ``name``."""
    app = pilot.app
    await pilot.press("ctrl+l")
    await until(pilot, lambda: isinstance(app.screen, TemplatePickerScreen))
    table = app.screen.query_one("#templates", DataTable)
    await until(pilot, lambda: table.row_count, 10, "the templates")
    assert BUILTIN_TEMPLATES <= set(keys(table))
    table.move_cursor(row=table.get_row_index(name))
    await pilot.press("enter")
    await until(pilot, lambda: isinstance(app.screen, TemplateFormScreen))
    assert isinstance(app.screen, TemplateFormScreen)
    return app.screen


async def fill(pilot: Pilot, form: TemplateFormScreen, shots: int, review: str) -> None:
    form.query_one("#var-review", TextArea).load_text(review)
    form.query_one("#shots", Input).value = str(shots)
    await pilot.pause()


async def run_command(pilot: Pilot, words: str) -> None:
    """Open the command palette, type ``words`` and run the first hit."""
    app = pilot.app
    await pilot.press("ctrl+p", *words)
    await until(
        pilot,
        lambda: app.screen.query(CommandList) and app.screen.query_one(CommandList).option_count,
        5,
        "palette hits",
    )
    await pilot.press("enter")


async def test_library_keys_and_palette_entries() -> None:
    app = TuiApp(autoload=False)
    async with app.run_test(size=SIZE) as pilot:
        shown = {key for key, _ in app.key_help()}
        assert {"ctrl+l", "ctrl+s", "f3", "f4"} <= shown  # f1 lists them
        titles = {command.title for command in app.get_system_commands(app.screen)}
        assert {"Use a template", "Save exchange as example", "Example sets", "Evaluate"} <= titles
        await run_command(pilot, "evaluate")
        await until(pilot, lambda: isinstance(app.screen, EvalScreen), 5)
        await pilot.press("escape")
        await until(pilot, lambda: app.screen is app.chat, 5)


# -- templates -------------------------------------------------------------------------------
async def test_picker_form_preview_and_a_missing_variable() -> None:
    app = TuiApp(autoload=False)
    notes = record_notes(app)
    async with app.run_test(size=SIZE) as pilot:
        form = await open_form(pilot, "sentiment")
        labels = [str(label.render()) for label in form.query("#variables Label")]
        assert labels == ["review"] and form.query_one("#set", Select).value == "sentiment"

        await fill(pilot, form, 2, REVIEW)
        await pilot.press("f2")
        await until(pilot, lambda: isinstance(app.screen, PromptPreviewScreen), 10, "preview")
        text = app.screen.query_one("#prompt", TextArea).text
        template = TemplateStore(app.db).get("sentiment")
        train = ExampleStore(app.db).examples("sentiment", split="train", limit=2)
        shots = "".join(
            f"Review: {ex.inputs['review']}\nSentiment: {ex.output}\n\n" for ex in train
        )
        assert text == f"{template.system}\n\n{shots}Review: {REVIEW}\nSentiment:"
        about = str(app.screen.query("Label")[1].render())
        assert "2 examples" in about and "no model loaded" in about
        await pilot.press("escape")
        await until(pilot, lambda: app.screen is form)

        form.query_one("#var-review", TextArea).load_text("   ")
        await pilot.press("ctrl+r")
        assert notes[-1] == ("error", "Template 'sentiment': missing variables: review")
        assert app.screen is form  # nothing sent, the form stays open

        form.query_one("#shots", Input).value = "-1"
        form.query_one("#var-review", TextArea).load_text(REVIEW)
        await pilot.press("ctrl+r")
        assert notes[-1] == ("error", "Shots must be 0 or more.")

        form.query_one("#shots", Input).value = "0"
        await pilot.press("ctrl+r")  # a valid form, but no model to run it
        await until(pilot, lambda: app.screen is app.chat)
        assert notes[-1] == ("warning", "No model is loaded: pick one with ctrl+o.")
        assert app.service.history.list_conversations() == []


# -- example sets -------------------------------------------------------------------------------
async def test_example_crud_round_trip() -> None:
    app = TuiApp(autoload=False)
    notes = record_notes(app)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f3")
        await until(pilot, lambda: isinstance(app.screen, ExamplesScreen))
        screen = app.screen
        assert isinstance(screen, ExamplesScreen)
        sets, rows = screen.query_one("#sets", DataTable), screen.query_one(ExampleTable)
        await until(pilot, lambda: rows.row_count, 10, "the first set's rows")
        sets.move_cursor(row=sets.get_row_index("sentiment"))
        await until(pilot, lambda: screen.current == "sentiment")
        store = ExampleStore(app.db)
        before = store.counts("sentiment")
        assert rows.row_count == sum(before.values())

        # add: a refused row keeps the form open; a good one lands in the DB and the table
        await pilot.press("a")
        await until(pilot, lambda: isinstance(app.screen, ExampleEditScreen))
        edit = app.screen
        edit.query_one("#in-review", TextArea).load_text("Zebra-striped case, sturdy and cheap.")
        await pilot.press("ctrl+s")
        assert notes[-1] == ("error", "Example for set 'sentiment': missing output.")
        edit.query_one("#output", TextArea).load_text("positive")
        edit.query_one("#label", Select).value = "positive"
        edit.query_one("#split", Select).value = "heldout"
        await pilot.press("ctrl+s")
        await until(pilot, lambda: app.screen is screen)
        (added,) = store.examples("sentiment", contains="zebra-striped")
        assert (added.output, added.label, added.split) == ("positive", "positive", "heldout")
        assert store.counts("sentiment")["heldout"] == before["heldout"] + 1
        await until(pilot, lambda: rows.selected_id == added.id, 5, "the new row selected")
        await until(pilot, lambda: sets.get_row("sentiment")[2] == str(before["heldout"] + 1))

        # filter: typing letters that are also keys (a, e, d) only filters
        await pilot.press("slash", *"zebra")
        await until(pilot, lambda: rows.row_count == 1)
        assert app.screen is screen and keys(rows) == [str(added.id)]

        # edit
        rows.focus()
        await pilot.press("e")
        await until(pilot, lambda: isinstance(app.screen, ExampleEditScreen))
        assert app.screen.query_one("#in-review", TextArea).text.startswith("Zebra")
        app.screen.query_one("#output", TextArea).load_text("negative")
        app.screen.query_one("#label", Select).value = "negative"
        await pilot.press("ctrl+s")
        await until(pilot, lambda: app.screen is screen)
        assert (store.get(added.id).output, store.get(added.id).label) == ("negative", "negative")
        assert rows.get_row(str(added.id))[1:] == ["negative", "negative", "heldout"]

        # delete, after a "no"
        await pilot.press("d")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("n")
        await until(pilot, lambda: app.screen is screen)
        assert store.examples("sentiment", contains="zebra-striped")
        await pilot.press("d")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("y")
        await until(pilot, lambda: rows.row_count == 0)
        assert store.examples("sentiment", contains="zebra-striped") == []
        assert store.counts("sentiment") == before
        await pilot.press("escape")
        await until(pilot, lambda: app.screen is app.chat)
    assert not [n for n in notes[1:] if n[0] == "error"]


async def test_save_exchange_as_an_example() -> None:
    conversation_id = seed_conversation()
    app = TuiApp(autoload=False)
    notes = record_notes(app)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("ctrl+s")  # a new chat: nothing to save
        assert notes[-1] == ("warning", "No finished exchange to save yet.")

        await app.chat.open_conversation(conversation_id)
        await pilot.press("ctrl+s")
        await until(pilot, lambda: isinstance(app.screen, SaveExchangeScreen))
        table = app.screen.query_one(DataTable)
        await until(pilot, lambda: table.row_count, 10, "the sets")
        assert "sentiment" in keys(table)
        app.screen.query_one("#new-set", Input).focus()
        await pilot.press(*"snippets", "enter")
        await until(pilot, lambda: app.screen is app.chat)
        (row,) = ExampleStore(app.db).examples("snippets")
        assert row.inputs == {"input": "Write hello world in Python."}
        assert row.output.startswith("Here it is:") and row.split == "train"
        assert notes[-1] == ("information", f"Saved as row {row.id} of 'snippets' (train).")


# -- the comparison table ------------------------------------------------------------------------
class RunTableApp(App[None]):
    def compose(self) -> ComposeResult:
        yield RunTable()


async def test_run_table_puts_runs_side_by_side_with_an_adapter_column() -> None:
    zero = EvalRun(
        "sentiment",
        2,
        "sentiment",
        "zero",
        n_rows=3,
        n_scored=3,
        status="done",
        exact=1 / 3,
        normalized=2 / 3,
        chrf=0.75,
        label_accuracy=1.0,
        prompt_tokens_per_query=41.33,
        seconds_per_query=0.517,
        id=1,
    )
    app = RunTableApp()
    async with app.run_test(size=SIZE) as pilot:
        table = app.query_one(RunTable)
        table.show([zero])
        await pilot.pause()
        assert table.row_text(1) == {
            "id": "1",
            "mode": "zero",
            "shots": "0",
            "selector": "–",
            "exact": "33.3% (6–79%)",  # with the Wilson interval of 1 in 3
            "normalized": "66.7%",
            "chrf": "75.0%",  # a bootstrap needs the rows: none without the store
            "label_acc": "100.0% (44–100%)",
            "tokens_per_query": "41.3",
            "s_per_query": "0.52",
            "rows": "3/3",
            "status": "done",
            "template": "sentiment@v2",
            "set": "sentiment/heldout",
        }
        adapter = EvalRun("sentiment", 2, "sentiment", "adapter", adapter="lora-a", id=2)
        table.show([adapter, zero])
        await pilot.pause()
        assert keys(table) == ["2", "1"]
        assert table.row_text(2)["adapter"] == "lora-a" and table.row_text(2)["selector"] == "–"
        assert table.row_text(1)["adapter"] == "–"


# -- on the real model ------------------------------------------------------------------------
@pytest.mark.slow
async def test_run_a_template_then_evaluate_and_stop(home_with_model: Path) -> None:
    # One thread: on two busy cores llama.cpp's spinning worker threads make 2 ten times slower.
    app = TuiApp(n_threads=1, params=FAST)
    notes = record_notes(app)
    async with app.run_test(size=SIZE) as pilot:
        await wait_ready(pilot)

        # a few-shot template run streams into the chat and is stored
        form = await open_form(pilot, "sentiment")
        await fill(pilot, form, 2, REVIEW)
        await pilot.press("ctrl+r")
        chat = app.chat
        await until(pilot, lambda: app.screen is chat)
        await until(
            pilot,
            lambda: not chat.messages.streaming and len(chat.messages.views) == 2,
            30,
            "the reply",
        )
        user, reply = app.service.history.messages(chat.conversation_id)  # type: ignore[arg-type]
        assert user.content == f"Review: {REVIEW}\nSentiment:"
        assert user.params["template"] == "sentiment" and len(user.params["examples"]) == 2
        assert reply.role == "assistant" and reply.content.strip()

        # evaluate: a tiny zero-shot run, then a few-shot one stopped after its first row
        await pilot.press("f4")
        await until(pilot, lambda: isinstance(app.screen, EvalScreen))
        screen = app.screen
        assert isinstance(screen, EvalScreen)
        await until(pilot, lambda: screen.query_one("#set", Select).value == "sentiment")
        assert screen.query_one("#template", Select).value == "sentiment"
        screen.query_one("#limit", Input).value = "3"
        await pilot.press("ctrl+r")
        runs = screen.query_one(RunTable)
        await until(pilot, lambda: runs.row_count == 1, 60, "the first run")
        first = runs.row_text(1)
        assert (first["mode"], first["rows"], first["status"]) == ("zero", "3/3", "done")
        assert re.fullmatch(r"\d+\.\d% \(\d+–\d+%\)", first["label_acc"]), first["label_acc"]
        assert float(first["tokens_per_query"]) > 0

        screen.query_one("#mode", Select).value = "few"
        screen.query_one("#shots", Input).value = "2"
        screen.query_one("#selector", Select).value = "bm25"
        screen.query_one("#limit", Input).value = "40"
        await pilot.press("ctrl+r")
        text = screen.query_one("#progress-text", Label)
        await until(pilot, lambda: "ETA" in str(text.render()), 30, "the first scored row")
        await pilot.press("escape")  # stop: the rows scored so far are kept
        await until(pilot, lambda: runs.row_count == 2, 30, "the stopped run")
        second = runs.row_text(2)
        assert (second["mode"], second["shots"], second["selector"]) == ("few", "2", "bm25")
        assert second["status"] == "partial" and keys(runs) == ["2", "1"]
        stored = EvalStore(app.db).get(2)
        assert stored.status == "partial" and 1 <= stored.n_scored < 40
        assert len(EvalStore(app.db).rows(2)) == stored.n_scored
        assert second["rows"] == f"{stored.n_scored}/40"

        await pilot.press("escape")  # nothing running: close
        await until(pilot, lambda: app.screen is chat)
    assert not [n for n in notes if n[0] == "error"], notes
