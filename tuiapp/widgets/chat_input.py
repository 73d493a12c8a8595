"""The multi-line message box: enter sends, shift+enter or ctrl+j starts a new line."""

from dataclasses import dataclass

from textual.binding import Binding
from textual.message import Message
from textual.widgets import TextArea


class ChatInput(TextArea):
    DEFAULT_CSS = """
    ChatInput {
        height: auto;
        min-height: 3;
        max-height: 10;
    }
    """

    # Priority bindings run before TextArea's own key handling, which would insert a newline.
    # Many terminals send shift+enter as a plain enter: ctrl+j always works.
    BINDINGS = [
        Binding("enter", "submit", "Send", priority=True, tooltip="Send the message"),
        Binding(
            "ctrl+j,shift+enter",
            "newline",
            "Newline",
            priority=True,
            tooltip="Start a new line in the message",
        ),
    ]

    @dataclass
    class Submitted(Message):
        """The user pressed enter to send ``text``."""

        chat_input: "ChatInput"
        text: str

    def __init__(self, *, placeholder: str = "", id: str | None = None) -> None:
        super().__init__(soft_wrap=True, tab_behavior="focus", placeholder=placeholder, id=id)

    def action_submit(self) -> None:
        self.post_message(self.Submitted(self, self.text))

    def action_newline(self) -> None:
        self.insert("\n")
