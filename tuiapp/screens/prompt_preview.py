"""What a filled template sends, and a read-only view of that exact prompt.

``FilledTemplate`` is the form's answer; ``assemble`` turns it into the ``Prompt`` the chat
sends, through the same few-shot path as ``tuiapp chat --template`` (``prompt_for``). With no
model loaded the preview still works: the raw rendering, lengths in characters, no budget.
"""

from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Label, TextArea

from tuiapp.chat.engine.sampling import SamplingParams
from tuiapp.chat.service import ChatService
from tuiapp.errors import BadInput
from tuiapp.library.fewshot import Assembler, Prompt, prompt_for
from tuiapp.library.records import Template
from tuiapp.library.selectors import get_selector


@dataclass
class FilledTemplate:
    """A template with the values typed into its form: what "Run" and "Preview" use."""

    template: Template
    variables: dict[str, str]
    shots: int = 0  # 0: zero-shot
    selector: str = "fixed"
    set_name: str | None = None  # where the shots come from (train split)

    def query(self) -> str:
        """The rendered body; BadInput naming every missing or unknown variable."""
        return Assembler(self.template, len).render_query(self.variables)

    def params(self, base: SamplingParams) -> SamplingParams:
        """The chat's settings with the template's own defaults (greedy, short...) on top."""
        return SamplingParams.from_dict(base.to_dict() | self.template.params)

    def check(self) -> None:
        """Everything that can be wrong before the model is asked anything."""
        self.query()
        if self.shots < 0:
            raise BadInput("Shots must be 0 or more.")
        if self.shots:
            get_selector(self.selector)
            if not self.set_name:
                raise BadInput(f"Template '{self.template.name}' has no example set for shots.")


class _Unloaded:
    """Stands in for the engine when no model is loaded: characters for tokens, no budget."""

    n_ctx = 1 << 30

    @staticmethod
    def count_tokens(text: str) -> int:
        return len(text)


def assemble(
    db: Any, service: ChatService, filled: FilledTemplate, max_tokens: int, model_ready: bool
) -> Prompt:
    """The exact prompt for ``filled``. Call it in a worker thread: it may use the engine."""
    filled.check()
    engine: Any = service.engine
    model: Any = service.active
    if not model_ready or model is None:
        if filled.shots and get_selector(filled.selector).needs_embeddings:
            raise BadInput(f"The '{filled.selector}' selector needs a loaded model (ctrl+o).")
        engine, model = _Unloaded(), SimpleNamespace(format=None)
    return prompt_for(
        db,
        engine,
        model,
        filled.template,
        filled.variables,
        shots=filled.shots,
        selector=filled.selector,
        set_name=filled.set_name,
        max_tokens=max_tokens,
    )


def describe(prompt: Prompt, model_ready: bool) -> str:
    """One line about how the prompt was built."""
    unit = "tokens" if model_ready else "characters (no model loaded: raw rendering)"
    parts = [
        f"{prompt.rendering} rendering",
        f"{prompt.n_tokens} {unit}",
        f"{len(prompt.example_ids)} examples",
    ]
    if prompt.n_dropped:
        parts.append(f"{prompt.n_dropped} dropped to fit")
    if prompt.truncated:
        parts.append("query shortened to fit")
    if prompt.stop:
        parts.append("stops at " + ", ".join(repr(s) for s in prompt.stop))
    return " · ".join(parts)


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
