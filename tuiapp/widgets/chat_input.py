"""The multi-line message box: enter sends, shift+enter or ctrl+j starts a new line."""

from dataclasses import dataclass

from textual import events
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

    # Enter and the newline keys are handled in `_on_key`, in order with the typed characters:
    # a priority binding would run ahead of characters still queued for this widget and send
    # half a message when keys arrive fast (a paste without bracketed paste, a busy machine).
    # These bindings only label the keys in the footer. Many terminals send shift+enter as a
    # plain enter: ctrl+j always works.
    BINDINGS = [
        Binding("enter", "submit", "Send", tooltip="Send the message"),
        Binding(
            "ctrl+j,shift+enter", "newline", "Newline", tooltip="Start a new line in the message"
        ),
    ]

    @dataclass
    class Submitted(Message):
        """The user pressed enter to send ``text``."""

        chat_input: "ChatInput"
        text: str

    def __init__(self, *, placeholder: str = "", id: str | None = None) -> None:
        super().__init__(soft_wrap=True, tab_behavior="focus", placeholder=placeholder, id=id)

    async def _on_key(self, event: events.Key) -> None:
        action = {
            "enter": self.action_submit,
            "ctrl+j": self.action_newline,
            "shift+enter": self.action_newline,
        }.get(event.key)
        if action is None:
            await super()._on_key(event)
            return
        event.stop()
        event.prevent_default()
        if not self.read_only:
            action()

    def action_submit(self) -> None:
        """Send the text and empty the box at once, so keys typed ahead start the next message."""
        text = self.text
        if not text.strip():
            return
        self.clear()
        self.post_message(self.Submitted(self, text))

    def give_back(self, text: str) -> None:
        """Put a message that could not be sent back in the box, unless the user typed on."""
        if not self.text:
            self.load_text(text)
            self.move_cursor(self.document.end)

    def action_newline(self) -> None:
        self.insert("\n")
