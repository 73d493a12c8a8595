"""One line under the chat: the model's state on the left, the reply's speed on the right.

The model side also names the conversation's adapters, if any (``adapter my-sent ×1.0``).

It repaints without a layout pass (its size never changes), because it is updated up to 20
times a second while a reply streams and a relayout of the whole screen each time would compete
with generation for the GIL.
"""

from typing import Any

from rich.text import Text
from textual.reactive import reactive
from textual.widget import Widget


def adapters_text(adapters: list[dict[str, Any]]) -> str:
    """``adapter a ×1.0`` (several joined with " + "); "" for the base model."""
    if not adapters:
        return ""
    return "adapter " + " + ".join(f"{a['name']} ×{float(a['scale'])}" for a in adapters)


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
    adapter_text: reactive[str] = reactive("", layout=False)
    reply_text: reactive[str] = reactive("", layout=False)

    def set_model(self, text: str) -> None:
        self.model_text = text

    def set_adapters(self, adapters: list[dict[str, Any]]) -> None:
        self.adapter_text = adapters_text(adapters)

    def set_reply(self, text: str) -> None:
        self.reply_text = text

    @property
    def left_text(self) -> str:
        """The model side as shown: the model's state, then the adapters."""
        return " · ".join(t for t in (self.model_text, self.adapter_text) if t)

    def render(self) -> Text:
        width = self.content_size.width
        right = self.reply_text
        left = self.left_text[: max(0, width - len(right) - 2)]
        return Text(left + " " * max(1, width - len(left) - len(right)) + right, no_wrap=True)
