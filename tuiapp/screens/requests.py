"""Messages a screen posts to ask the app for something beyond itself (they bubble up to it)."""

from dataclasses import dataclass

from textual.message import Message


@dataclass
class OpenConversation(Message):
    """Show this conversation in the chat screen, closing the dialogs above it."""

    conversation_id: int
