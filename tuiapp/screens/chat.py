"""The main screen: conversations on the left, the open conversation and its input on the right.

Every history call that can fail goes through ``self.guard()``, which shows the error as a
notification: the app never dies from a user-facing error.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.dom import DOMNode
from textual.screen import Screen
from textual.widgets import Footer

from tuiapp.chat.service import ChatService
from tuiapp.errors import TuiappError
from tuiapp.screens.confirm import ConfirmScreen
from tuiapp.screens.rename import RenameScreen
from tuiapp.widgets.chat_input import ChatInput
from tuiapp.widgets.message_list import MessageList
from tuiapp.widgets.message_view import MessageView
from tuiapp.widgets.sidebar import Sidebar
from tuiapp.widgets.status_bar import StatusBar

if TYPE_CHECKING:
    from tuiapp.chat.templates import FilledTemplate


class ChatScreen(Screen[None]):
    BINDINGS = [
        Binding("ctrl+n", "new_chat", "New", tooltip="Start a new conversation"),
        Binding("escape", "stop", "Stop", tooltip="Stop the reply (the text so far is kept)"),
        Binding("ctrl+r", "regenerate", "Regen", tooltip="Regenerate the last reply"),
        Binding(
            "ctrl+y",
            "copy",
            "Copy",
            priority=True,
            tooltip="Copy the focused message, else the last reply",
        ),
        Binding("f2", "rename", "Rename", tooltip="Rename the conversation"),
        Binding(
            "ctrl+d",
            "delete",
            "Delete",
            priority=True,
            tooltip="Delete the conversation (asks first)",
        ),
        Binding("ctrl+f", "search", "Search", tooltip="Search every conversation"),
        Binding("ctrl+l", "templates", "Library", show=False, tooltip="Fill a template, run it"),
        Binding("ctrl+s", "save_example", "Save", show=False, tooltip="Save exchange as example"),
        Binding(
            "f8",
            "feedback",
            "Rate",
            show=False,
            tooltip="Rate the focused reply (else the last) or correct it",
        ),
        Binding(
            "f9",
            "teach",
            "Teach",
            show=False,
            tooltip="Train an adapter from my rated and corrected replies, for this chat",
        ),
        Binding(
            "f7",
            "adapter",
            "Adapter",
            show=False,
            priority=True,  # over the chat input's own f7 (select all)
            tooltip="Choose this chat's adapter",
        ),
    ]

    def __init__(self, service: ChatService) -> None:
        super().__init__()
        self.service = service
        self.conversation_id: int | None = None

    def compose(self) -> ComposeResult:
        with Horizontal(id="body"):
            yield Sidebar(self.service.history, id="sidebar")
            with Vertical(id="chat"):
                yield MessageList(id="messages")
                yield ChatInput(placeholder="Message the model…", id="input")
        yield StatusBar(id="status")
        yield Footer(compact=True)

    async def on_mount(self) -> None:
        self.watch(self.app, "model_status", self.status.set_model)
        await self.messages.show([])
        await self.sidebar.reload()
        self.query_one(ChatInput).focus()

    @property
    def messages(self) -> MessageList:
        return self.query_one(MessageList)

    @property
    def sidebar(self) -> Sidebar:
        return self.query_one(Sidebar)

    @property
    def status(self) -> StatusBar:
        return self.query_one(StatusBar)

    @contextmanager
    def guard(self, title: str = "") -> Iterator[None]:
        try:
            yield
        except TuiappError as error:
            self.notify(str(error), title=title, severity="error", markup=False)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "stop":  # only while a reply streams; otherwise escape goes to the widget
            return self.is_mounted and self.messages.streaming
        return True

    # -- conversations ------------------------------------------------------------------
    async def open_conversation(self, conversation_id: int | None) -> None:
        """Show a stored conversation (None: a new, empty one, stored when first used)."""
        with self.guard("History"):
            messages = []
            adapters: list[dict[str, Any]] = []
            if conversation_id is not None:
                adapters = self.service.history.get_conversation(conversation_id).adapters
                messages = self.service.history.messages(conversation_id)
            self.conversation_id = conversation_id
            await self.messages.show(messages)
            self.status.set_adapters(adapters)
            self.status.set_reply("")
            self.refresh_bindings()
            await self.sidebar.reload(conversation_id)

    @on(Sidebar.ConversationSelected)
    async def _conversation_selected(self, event: Sidebar.ConversationSelected) -> None:
        await self.open_conversation(event.conversation_id)
        if event.message_id is not None:
            for view in self.messages.views:
                if view.message_id == event.message_id:
                    self.messages.scroll_to_widget(view, animate=False, top=True)
                    view.focus()
                    return
        self.query_one(ChatInput).focus()

    async def action_new_chat(self) -> None:
        await self.open_conversation(None)
        self.query_one(ChatInput).focus()

    def action_search(self) -> None:
        self.sidebar.focus_search()

    def action_rename(self) -> None:
        if self.conversation_id is None:
            self.notify("Nothing to rename yet: send a message first.", severity="warning")
            return
        conversation_id = self.conversation_id

        async def renamed(title: str | None) -> None:
            if title:
                with self.guard("Rename"):
                    self.service.history.rename(conversation_id, title)
                    await self.sidebar.reload(self.conversation_id)

        with self.guard("Rename"):
            title = self.service.history.get_conversation(conversation_id).title
            self.app.push_screen(RenameScreen(title), renamed)

    def action_delete(self) -> None:
        if self.conversation_id is None:
            self.notify(
                "Nothing to delete: this conversation is not stored yet.", severity="warning"
            )
            return
        conversation_id = self.conversation_id

        async def confirmed(yes: bool | None) -> None:
            if not yes:
                return
            with self.guard("Delete"):
                self.messages.stop()
                self.service.history.delete(conversation_id)
                self.notify("Conversation deleted.")
                await self.open_conversation(None)

        with self.guard("Delete"):
            conv = self.service.history.get_conversation(conversation_id)
            count = len(self.service.history.messages(conversation_id))
            question = f"Delete “{conv.title}” and its {count} messages? This cannot be undone."
            self.app.push_screen(ConfirmScreen(question), confirmed)

    # -- adapters (the mix is stored per conversation; every reply uses it) -----------------
    def action_adapter(self) -> None:
        if self.service.active is None or self.service.loading:
            self.notify(
                "Adapters need a loaded model: wait for it, or pick one with ctrl+o.",
                severity="warning",
            )
            return
        from tuiapp.screens.adapter_pick import AdapterPickScreen

        current: list[dict[str, Any]] = []
        if self.conversation_id is not None:
            with self.guard("Adapter"):
                current = self.service.history.get_conversation(self.conversation_id).adapters
        self.app.push_screen(AdapterPickScreen(self.service, current), self.use_adapters)

    async def use_adapters(self, specs: list[tuple[str, float]] | None) -> None:
        """Use these (name, scale) for the open conversation's replies ([]: the base model).

        A new chat is stored first, as sending would; a refusal is a notification.
        """
        if specs is None:
            return
        active = self.service.active
        with self.guard("Adapter"):
            if self.conversation_id is None:
                if not specs:
                    self.status.set_adapters([])
                    return
                self.service.check_adapters(specs)  # refuse before storing an empty chat
                assert active is not None
                self.conversation_id = self.service.history.new_conversation(model=active.name).id
                await self.sidebar.reload(self.conversation_id)
            conv = self.service.set_adapters(self.conversation_id, specs)
            self.status.set_adapters(conv.adapters)
            names = " + ".join(a["name"] for a in conv.adapters)
            self.notify(
                f"Replies now use {names}." if names else "Replies use the base model.",
                title="Adapter",
                markup=False,
            )

    def show_adapters(self) -> None:
        """Read the open conversation's adapters again (an adapter may have been deleted)."""
        adapters: list[dict[str, Any]] = []
        if self.conversation_id is not None:
            with self.guard("Adapter"):
                adapters = self.service.history.get_conversation(self.conversation_id).adapters
        self.status.set_adapters(adapters)

    # -- sending -----------------------------------------------------------------------------
    def _can_generate(self) -> bool:
        if self.messages.streaming:
            self.notify("A reply is still being written: press esc to stop it.", severity="warning")
            return False
        if self.service.loading:
            self.notify("The model is still loading: try again in a moment.", severity="warning")
            return False
        if self.service.active is None:
            self.notify("No model is loaded: pick one with ctrl+o.", severity="warning")
            return False
        return True

    @on(ChatInput.Submitted)
    async def _submitted(self, event: ChatInput.Submitted) -> None:
        text = event.text.strip()
        if not self._can_generate():
            event.chat_input.give_back(event.text)
            return
        active = self.service.active
        assert active is not None
        with self.guard("Send"):
            if self.conversation_id is None:
                try:
                    conv = self.service.history.new_conversation(model=active.name)
                except TuiappError:
                    event.chat_input.give_back(event.text)
                    raise
                self.conversation_id = conv.id
            await self.messages.add("user", text)
            conversation_id, params = self.conversation_id, self.service.params
            await self.messages.stream(
                lambda: self.service.send(conversation_id, text, params), active.name
            )

    async def action_regenerate(self) -> None:
        if self.conversation_id is None:
            self.notify("Nothing to regenerate yet.", severity="warning")
            return
        if not self._can_generate():
            return
        views = self.messages.views
        if views and views[-1].role == "assistant":
            await views[-1].remove()
        conversation_id, params = self.conversation_id, self.service.params
        assert self.service.active is not None
        await self.messages.stream(
            lambda: self.service.regenerate(conversation_id, params), self.service.active.name
        )

    def action_stop(self) -> None:
        if self.stop_reply():
            self.status.set_reply("stopping…")

    def stop_reply(self) -> bool:
        """Stop the reply being written, if any (the text so far is kept); whether one was."""
        return self.messages.stop()

    def _focused_view(self) -> MessageView | None:
        """The focused message, else the last reply."""
        node: DOMNode | None = self.focused
        while node is not None and not isinstance(node, MessageView):
            node = node.parent
        return node if isinstance(node, MessageView) else self.messages.last_reply()

    def action_copy(self) -> None:
        view = self._focused_view()
        if view is None or not view.content:
            self.notify("No reply to copy yet.", severity="warning")
            return
        self.app.copy_to_clipboard(view.content)
        self.notify(f"Copied {len(view.content)} characters.")

    # -- the prompt library (imported on first use: it is not needed to paint) ---------------
    def action_templates(self) -> None:
        from tuiapp.screens.templates import TemplatePickerScreen

        picker = TemplatePickerScreen(self.service.history.db, self.service)
        self.app.push_screen(picker, self.run_template)

    async def run_template(self, filled: "FilledTemplate | None") -> None:
        """Send a filled template's prompt as one completion, through the usual reply path."""
        if filled is None or not self._can_generate():
            return
        active = self.service.active
        assert active is not None
        with self.guard("Template"):
            if self.conversation_id is None:
                self.conversation_id = self.service.new_template_conversation(filled)
            await self.messages.add("user", filled.query())
            conversation_id, params = self.conversation_id, filled.params(self.service.params)
            await self.messages.stream(
                lambda: self.service.send_template(conversation_id, filled, params)[0],
                active.name,
            )

    # -- teaching from the chat ------------------------------------------------------------
    def action_feedback(self) -> None:
        from tuiapp.chat.feedback import FeedbackStore
        from tuiapp.screens.feedback import FeedbackChoice, FeedbackScreen

        view = self._focused_view() if not self.messages.streaming else None
        if view is None or view.role != "assistant" or view.message_id is None:
            self.notify("No finished reply to rate yet.", severity="warning")
            return
        message_id = view.message_id
        store = FeedbackStore(self.service.history.db)

        def chosen(choice: FeedbackChoice | None) -> None:
            if choice is None:
                return
            with self.guard("Feedback"):
                store.rate(message_id, choice.rating)
                store.correct(message_id, choice.correction)
                said = "corrected" if choice.correction else f"rated {choice.rating}"
                self.notify(f"Reply {said}. f9 teaches an adapter from your replies.")

        self.app.push_screen(FeedbackScreen(view.content, store.get(message_id)), chosen)

    def action_teach(self) -> None:
        """Bring the personal set up to date from rated replies, then the one-click loop,
        attaching the adapter to this conversation."""
        from tuiapp.library.teach import PERSONAL, teach
        from tuiapp.screens.adapt import AdaptScreen

        with self.guard("Teach"):
            result = teach(self.service.history.db)
            self.notify(result.describe())
            self.app.push_screen(
                AdaptScreen(
                    self.service.history.db,
                    self.service,
                    PERSONAL,
                    conversation_id=self.conversation_id,
                )
            )

    def action_save_example(self) -> None:
        from tuiapp.screens.examples import SaveExchangeScreen

        conv_id = self.conversation_id
        pair = None
        if conv_id is not None and not self.messages.streaming:
            pair = self.service.history.last_exchange(conv_id)
        if pair is None:
            self.notify("No finished exchange to save yet.", severity="warning")
            return
        self.app.push_screen(SaveExchangeScreen(self.service.history.db, *pair))

    # -- reply events --------------------------------------------------------------------------
    async def on_message_list_reply_started(self) -> None:
        self.status.set_reply("generating…")
        self.refresh_bindings()
        await self.sidebar.reload(self.conversation_id)  # a new chat now has its title

    def on_message_list_reply_progress(self, event: MessageList.ReplyProgress) -> None:
        self.status.set_reply(f"{event.tokens_per_s:.1f} tok/s · {event.tokens} tokens")

    async def on_message_list_reply_finished(self, event: MessageList.ReplyFinished) -> None:
        done = event.completion
        if done is not None:
            parts = [f"{done.tokens_per_s:.1f} tok/s", f"{done.completion_tokens} tokens"]
            if done.first_token_ms is not None:
                parts.append(f"first token {done.first_token_ms / 1000:.2f} s")
            if done.stopped:
                parts.append("stopped")
            self.status.set_reply(" · ".join(parts))
        self.refresh_bindings()
        await self.sidebar.reload(self.conversation_id)

    def on_message_list_reply_failed(self, event: MessageList.ReplyFailed) -> None:
        self.status.set_reply("failed")
        self.refresh_bindings()
        self.notify(event.error, title="Reply", severity="error", markup=False)
