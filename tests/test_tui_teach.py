"""Teaching from the chat screen: f8 rates or corrects a reply, f9 opens the one-click loop
on the personal set, for this conversation."""

from textual.widgets import TextArea

from tests.helpers.tui import SIZE, seed_conversation, until
from tuiapp.app import TuiApp
from tuiapp.chat.feedback import FeedbackStore
from tuiapp.chat.history import History
from tuiapp.library.examples import ExampleStore
from tuiapp.screens.adapt import AdaptScreen
from tuiapp.screens.feedback import FeedbackScreen
from tuiapp.store import open_db


async def test_correct_then_rate_a_reply_then_teach_for_this_chat() -> None:
    conv_id = seed_conversation()
    reply_id = History(open_db()).messages(conv_id)[-1].id
    assert reply_id is not None
    app = TuiApp(autoload=False)  # rating and teaching need no model
    async with app.run_test(size=SIZE) as pilot:
        await app.chat.open_conversation(conv_id)
        await pilot.pause()
        await pilot.press("f8")
        await until(pilot, lambda: isinstance(app.screen, FeedbackScreen), 5, "the dialog")
        area = app.screen.query_one("#correction", TextArea)
        assert "Hello, world!" in area.text  # starts from the reply itself
        area.text = 'print("Hello, world!")'
        await pilot.press("ctrl+s")
        await until(pilot, lambda: not isinstance(app.screen, FeedbackScreen), 5)
        fb = FeedbackStore(open_db()).get(reply_id)
        assert fb is not None and fb.correction == 'print("Hello, world!")'
        assert History(open_db()).get_message(reply_id).content.startswith("Here it is")

        await pilot.press("f8")
        await until(pilot, lambda: isinstance(app.screen, FeedbackScreen), 5, "the dialog")
        await pilot.press("ctrl+g")
        await until(pilot, lambda: not isinstance(app.screen, FeedbackScreen), 5)
        fb = FeedbackStore(open_db()).get(reply_id)
        assert fb is not None and (fb.rating, fb.correction) == ("good", 'print("Hello, world!")')

        await pilot.press("f9")
        await until(pilot, lambda: isinstance(app.screen, AdaptScreen), 5, "the adapt screen")
        screen = app.screen
        assert isinstance(screen, AdaptScreen)
        assert (screen.set_name, screen.conversation_id) == ("personal", conv_id)
        assert screen.request().conversation_id == conv_id
        (row,) = ExampleStore(open_db()).examples("personal")
        assert row.output == 'print("Hello, world!")'
        assert row.origin == {"conversation": conv_id, "message": reply_id}
