"""The conversation list with a full-text search box over all history above it."""

import re
from dataclasses import dataclass

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import Input, Label, ListItem, ListView

from tuiapp.chat.history import Conversation, History, SearchHit

_MARK = re.compile(r"\[([^\[\]]*)\]")


def highlight(snippet: str) -> Text:
    """A search snippet with FTS5's ``[match]`` marks shown in bold instead of brackets."""
    text = Text()
    pos = 0
    for match in _MARK.finditer(snippet):
        text.append(snippet[pos : match.start()])
        text.append(match.group(1), style="bold reverse")
        pos = match.end()
    text.append(snippet[pos:])
    return text


class ConversationItem(ListItem):
    def __init__(
        self, conversation_id: int, label: Text | str, message_id: int | None = None
    ) -> None:
        super().__init__(Label(label, markup=False))
        self.conversation_id = conversation_id
        self.message_id = message_id


class Sidebar(Vertical):
    DEFAULT_CSS = """
    Sidebar { width: 32; border-right: vkey $panel-lighten-2; }
    Sidebar > #search { margin: 0 0 1 0; }
    Sidebar > .title { color: $text-muted; padding: 0 1; }
    Sidebar > ListView { height: 1fr; background: transparent; }
    Sidebar ListItem { padding: 0 1; }
    Sidebar ListItem.-current { text-style: bold; }
    """

    BINDINGS = [Binding("escape", "clear_search", "Clear search", show=False)]

    @dataclass
    class ConversationSelected(Message):
        """The user chose a conversation (from the list or a search hit on ``message_id``)."""

        conversation_id: int
        message_id: int | None = None

    def __init__(self, history: History, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.history = history
        self.current: int | None = None

    def compose(self) -> ComposeResult:
        yield Input(placeholder="Search (ctrl+f)", id="search")
        yield Label("Conversations", classes="title", id="list-title")
        yield ListView(id="conversations")

    @property
    def query_text(self) -> str:
        return self.query_one("#search", Input).value.strip()

    async def reload(self, current: int | None = None) -> None:
        """Show the conversations (or the hits of the current search), marking ``current``."""
        self.current = current
        if self.query_text:
            await self._show_hits(self.history.search(self.query_text))
        else:
            await self._show_conversations(self.history.list_conversations())

    async def _fill(self, title: str, items: list[ConversationItem]) -> None:
        self.query_one("#list-title", Label).update(title)
        view = self.query_one("#conversations", ListView)
        await view.clear()
        await view.extend(items)
        for index, item in enumerate(items):
            if item.conversation_id == self.current and item.message_id is None:
                item.add_class("-current")
                view.index = index
        if items and items[0].message_id is not None:
            view.index = 0  # the best search hit: enter opens it

    async def _show_conversations(self, conversations: list[Conversation]) -> None:
        await self._fill("Conversations", [ConversationItem(c.id, c.title) for c in conversations])

    async def _show_hits(self, hits: list[SearchHit]) -> None:
        items = []
        for hit in hits:
            label = Text(hit.conversation_title, style="bold")
            label.append(f"\n{hit.role}: ")
            label.append_text(highlight(hit.snippet))
            items.append(ConversationItem(hit.conversation_id, label, hit.message_id))
        await self._fill(f"{len(hits)} match{'es' if len(hits) != 1 else ''}", items)

    def focus_search(self) -> None:
        self.query_one("#search", Input).focus()

    @on(Input.Changed, "#search")
    async def _search_changed(self) -> None:
        await self.reload(self.current)

    @on(Input.Submitted, "#search")
    def _search_submitted(self) -> None:
        self.query_one("#conversations", ListView).focus()

    @on(ListView.Selected, "#conversations")
    def _selected(self, event: ListView.Selected) -> None:
        item = event.item
        if isinstance(item, ConversationItem):
            self.post_message(self.ConversationSelected(item.conversation_id, item.message_id))

    def action_clear_search(self) -> None:
        self.query_one("#search", Input).value = ""
