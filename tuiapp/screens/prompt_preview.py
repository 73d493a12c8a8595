"""A read-only view of the exact prompt a filled template sends (from ``template_prompt``)."""

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Label, TextArea


class PromptPreviewScreen(ModalScreen[None]):
    """The rendered prompt, byte for byte, in a scrollable read-only text area."""

    BINDINGS = [Binding("escape,q", "dismiss", "Close")]

    def __init__(self, title: str, text: str, about: str) -> None:
        super().__init__()
        self.title_text = title
        self.prompt_text = text
        self.about = about

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog wide", id="preview"):
            yield Label(self.title_text, classes="dialog-title", markup=False)
            yield Label(self.about, classes="hint", markup=False)
            yield TextArea(self.prompt_text, read_only=True, soft_wrap=True, id="prompt")
            yield Label("esc close", classes="hint")

    def on_mount(self) -> None:
        self.query_one("#prompt", TextArea).focus()
