"""One message of a conversation: a header line and its Markdown body."""

from markdown_it import MarkdownIt
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Label, Markdown

ROLE_NAMES = {"user": "You", "assistant": "Assistant", "system": "System"}


def chat_markdown() -> MarkdownIt:
    """GitHub-flavoured Markdown where a single newline is a line break, as in chat apps."""
    return MarkdownIt("gfm-like", {"breaks": True})


class MessageView(Vertical, can_focus=True):
    DEFAULT_CSS = """
    MessageView {
        height: auto;
        padding: 0 1;
    }
    MessageView > .header { color: $text-muted; text-style: bold; }
    MessageView.-user > .header { color: $accent; }
    MessageView.-assistant > .header { color: $success; }
    MessageView:focus { background: $boost; }
    MessageView > Markdown { margin: 0; padding: 0; }
    """

    def __init__(
        self,
        role: str,
        content: str,
        *,
        message_id: int | None = None,
        meta: str = "",
        stopped: bool = False,
    ) -> None:
        super().__init__(classes=f"-{role}")
        self.role = role
        self.content = content
        self.message_id = message_id
        self.meta = meta
        self.stopped = stopped

    def compose(self) -> ComposeResult:
        yield Label(self._header(), classes="header", markup=False)
        yield Markdown(self.content, parser_factory=chat_markdown)

    def _header(self) -> str:
        parts = [ROLE_NAMES.get(self.role, self.role)]
        if self.meta:
            parts.append(self.meta)
        if self.stopped:
            parts.append("stopped")
        return " · ".join(parts)

    async def append(self, fragment: str) -> None:
        """Add streamed text; Markdown re-parses only its last block."""
        self.content += fragment
        await self.query_one(Markdown).append(fragment)

    async def finish(
        self, content: str, *, message_id: int | None, meta: str, stopped: bool
    ) -> None:
        """Show the reply as it was stored (stripped, marked stopped if it was)."""
        self.message_id, self.meta, self.stopped = message_id, meta, stopped
        self.query_one(".header", Label).update(self._header())
        if content != self.content:
            self.content = content
            await self.query_one(Markdown).update(content)
