"""One line under the chat: the model's state on the left, the reply's speed on the right."""

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Static


class StatusBar(Horizontal):
    DEFAULT_CSS = """
    StatusBar {
        height: 1;
        background: $panel;
        color: $text-muted;
        padding: 0 1;
    }
    StatusBar > #model-status { width: 1fr; }
    StatusBar > #reply-status { width: auto; }
    """

    def compose(self) -> ComposeResult:
        yield Static("", id="model-status", markup=False)
        yield Static("", id="reply-status", markup=False)

    def set_model(self, text: str) -> None:
        self.query_one("#model-status", Static).update(text)

    def set_reply(self, text: str) -> None:
        self.query_one("#reply-status", Static).update(text)

    @property
    def model_text(self) -> str:
        return str(self.query_one("#model-status", Static).content)

    @property
    def reply_text(self) -> str:
        return str(self.query_one("#reply-status", Static).content)
