"""One line under the chat: the model's state on the left, the reply's speed on the right.

It repaints without a layout pass (its size never changes), because it is updated up to 20
times a second while a reply streams and a relayout of the whole screen each time would compete
with generation for the GIL.
"""

from rich.text import Text
from textual.reactive import reactive
from textual.widget import Widget


class StatusBar(Widget):
    DEFAULT_CSS = """
    StatusBar {
        height: 1;
        background: $panel;
        color: $text-muted;
        padding: 0 1;
    }
    """

    model_text: reactive[str] = reactive("", layout=False)
    reply_text: reactive[str] = reactive("", layout=False)

    def set_model(self, text: str) -> None:
        self.model_text = text

    def set_reply(self, text: str) -> None:
        self.reply_text = text

    def render(self) -> Text:
        width = self.content_size.width
        right = self.reply_text
        left = self.model_text[: max(0, width - len(right) - 2)]
        return Text(left + " " * max(1, width - len(left) - len(right)) + right, no_wrap=True)
