"""A prompt template filled in for the chat: what the TUI's template form and ``tuiapp chat
--template`` both send.

``FilledTemplate`` holds the template, the values typed for its variables and the few-shot
choice; ``ChatService.send_template`` stores the rendered body as the user's turn and streams
the whole few-shot prompt as one completion, with the conversation's adapters.
``template_prompt`` builds that exact prompt, also with no model loaded (for the preview: the
raw rendering, lengths in characters, no budget).
"""

from dataclasses import dataclass
from typing import Any

import sqlite_utils

from tuiapp.chat.engine.sampling import SamplingParams
from tuiapp.errors import BadInput
from tuiapp.library.fewshot import Assembler, Prompt, prompt_for
from tuiapp.library.records import Template
from tuiapp.library.selectors import get_selector

TITLE_CHARS = 40


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

    def title(self) -> str:
        """A conversation title: the template's name and the start of its query."""
        return f"{self.template.name}: " + " ".join(self.query().split())[:TITLE_CHARS]

    def check(self) -> None:
        """Everything that can be wrong before the model is asked anything."""
        self.query()
        if self.shots < 0:
            raise BadInput("Shots must be 0 or more.")
        if self.shots:
            get_selector(self.selector)
            if not self.set_name:
                raise BadInput(f"Template '{self.template.name}' has no example set for shots.")

    def message_params(self, prompt: Prompt) -> dict[str, object]:
        """What the stored user message records about how its prompt was made."""
        return {
            "template": self.template.name,
            "template_version": self.template.version,
            "vars": self.variables,
            "shots": self.shots,
            "selector": self.selector if self.shots else None,
            "examples": prompt.example_ids,
            "prompt_tokens": prompt.n_tokens,
        }


class _Unloaded:
    """Stands in for the engine when no model is loaded: characters for tokens, no budget."""

    n_ctx = 1 << 30

    @staticmethod
    def count_tokens(text: str) -> int:
        return len(text)


def template_prompt(
    db: sqlite_utils.Database,
    engine: Any,
    active: Any,
    filled: FilledTemplate,
    max_tokens: int,
    *,
    seed: int = 0,
) -> Prompt:
    """The exact prompt for ``filled`` on ``engine`` with ``active`` (``ChatService.active``)
    loaded; with ``active`` None, the raw rendering. Call it off the UI thread: it may use the
    engine."""
    filled.check()
    if active is None and filled.shots and get_selector(filled.selector).needs_embeddings:
        raise BadInput(f"The '{filled.selector}' selector needs a loaded model (ctrl+o).")
    return prompt_for(
        db,
        engine if active is not None else _Unloaded(),
        active,
        filled.template,
        filled.variables,
        shots=filled.shots,
        selector=filled.selector,
        set_name=filled.set_name,
        seed=seed,
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
