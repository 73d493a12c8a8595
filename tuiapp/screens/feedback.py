"""Rate a reply good or bad, or write the answer it should have been (the reply stays)."""

from dataclasses import dataclass

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Label, TextArea

from tuiapp.chat.feedback import Feedback, Rating, as_rating


@dataclass
class FeedbackChoice:
    """What the person chose: a rating (None: none) and a correction (None: none)."""

    rating: Rating | None
    correction: str | None


class FeedbackScreen(ModalScreen[FeedbackChoice | None]):
    DEFAULT_CSS = """
    FeedbackScreen #correction { height: 8; }
    """
    BINDINGS = [
        Binding("ctrl+g", "rate('good')", "Good"),
        Binding("ctrl+b", "rate('bad')", "Bad"),
        Binding("ctrl+s", "save", "Save correction"),
        Binding("escape", "cancel", "Cancel"),
    ]

    def __init__(self, reply: str, current: Feedback | None) -> None:
        super().__init__()
        self.reply = reply
        self.current = current

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog wide", id="feedback"):
            yield Label("Teach from this reply", classes="dialog-title")
            yield Label(
                "Rate it, or edit it into the answer it should have been (kept beside it):",
                markup=False,
            )
            start = self.current.correction if self.current and self.current.correction else ""
            yield TextArea(start or self.reply, id="correction")
            with Horizontal(classes="buttons"):
                yield Button("Good (ctrl+g)", variant="success", id="good")
                yield Button("Bad (ctrl+b)", variant="error", id="bad")
                yield Button("Save correction (ctrl+s)", variant="primary", id="save")
                yield Button("Cancel (esc)", id="cancel")

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        if event.button.id in ("good", "bad"):
            self.action_rate(as_rating(event.button.id))
        elif event.button.id == "save":
            self.action_save()
        else:
            self.action_cancel()

    def action_rate(self, rating: Rating) -> None:
        kept = self.current.correction if self.current else None
        self.dismiss(FeedbackChoice(rating, kept))

    def action_save(self) -> None:
        text = self.query_one("#correction", TextArea).text.strip()
        rating = self.current.rating if self.current else None
        if not text or text == self.reply.strip():
            self.notify("Edit the reply into the answer it should have been.", severity="warning")
            return
        self.dismiss(FeedbackChoice(rating or "bad", text))

    def action_cancel(self) -> None:
        self.dismiss(None)
