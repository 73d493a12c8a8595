"""The message box: enter sends exactly what was typed before it, however fast keys arrive."""

from textual import events, on
from textual.app import App, ComposeResult

from tuiapp.widgets.chat_input import ChatInput


class InputApp(App[None]):
    def __init__(self) -> None:
        super().__init__()
        self.sent: list[str] = []

    def compose(self) -> ComposeResult:
        yield ChatInput(id="input")

    @on(ChatInput.Submitted)
    def _sent(self, event: ChatInput.Submitted) -> None:
        self.sent.append(event.text)


def burst(app: App[None], keys: list[str]) -> None:
    """Queue keys the way the terminal driver does when they arrive in one read."""
    for key in keys:
        character = {"enter": "\r", "ctrl+j": "\n"}.get(key, key)
        app.post_message(events.Key(key, character))


async def test_enter_after_a_burst_of_keys_sends_all_of_them() -> None:
    app = InputApp()
    async with app.run_test() as pilot:
        text = "Name three colours of the rainbow."
        burst(app, [*text, "enter", *"second", "ctrl+j", *"line", "enter"])
        await pilot.pause()
        await pilot.pause()
        assert app.sent == [text, "second\nline"]
        assert app.query_one(ChatInput).text == ""
