"""Turning a conversation into the prompt text the model sees.

Two formats, chosen explicitly per model (never llama-cpp-python's silent ``llama-2`` fallback):

* ``ChatTemplateFormat`` renders the GGUF's own ``tokenizer.chat_template`` (Jinja, sandboxed).
* ``TranscriptFormat`` is for base models without a template. It is a plain transcript::

      <system text>

      User: <message>
      Assistant: <reply>
      User: <message>
      Assistant:

  Generation stops at the next ``\\nUser:`` (the model starting the user's turn) or
  ``\\nAssistant:``. The same rendering is used for training data so train and chat match.

A raw completion mode skips formatting: the text is sent as it is.
"""

from dataclasses import dataclass, field
from typing import Protocol

from tuiapp.errors import EngineError

DEFAULT_SYSTEM = (
    "The following is a conversation between a user and a helpful, knowledgeable assistant. "
    "The assistant answers clearly and truthfully."
)


@dataclass
class Turn:
    role: str  # system | user | assistant
    content: str


class PromptFormat(Protocol):
    name: str
    stop: list[str]

    def render(self, turns: list[Turn]) -> str:
        """Prompt text ending where the assistant's next reply begins."""
        ...


@dataclass
class TranscriptFormat:
    name: str = "transcript"
    user_label: str = "User"
    assistant_label: str = "Assistant"
    default_system: str = DEFAULT_SYSTEM
    stop: list[str] = field(default_factory=lambda: ["\nUser:", "\nAssistant:"])

    def render(self, turns: list[Turn]) -> str:
        system = next((t.content for t in turns if t.role == "system"), self.default_system)
        parts = [system.strip() + "\n\n"] if system.strip() else []
        for turn in turns:
            if turn.role == "system":
                continue
            label = self.user_label if turn.role == "user" else self.assistant_label
            parts.append(f"{label}: {turn.content.strip()}\n")
        parts.append(f"{self.assistant_label}:")
        return "".join(parts)


@dataclass
class ChatTemplateFormat:
    template: str
    bos_token: str = ""
    eos_token: str = ""
    name: str = "gguf-template"
    stop: list[str] = field(default_factory=list)  # end-of-generation tokens stop it already

    def render(self, turns: list[Turn]) -> str:
        from jinja2.exceptions import TemplateError
        from jinja2.sandbox import ImmutableSandboxedEnvironment

        def raise_exception(message: str) -> None:
            raise TemplateError(message)

        env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
        env.globals["raise_exception"] = raise_exception
        try:
            text = env.from_string(self.template).render(
                messages=[{"role": t.role, "content": t.content} for t in turns],
                add_generation_prompt=True,
                bos_token=self.bos_token,
                eos_token=self.eos_token,
            )
        except TemplateError as exc:
            raise EngineError(f"The model's chat template failed: {exc}") from exc
        # llama.cpp adds BOS itself when tokenizing; a template that writes it would double it.
        if self.bos_token and text.startswith(self.bos_token):
            text = text[len(self.bos_token) :]
        return text


def format_for(chat_template: str | None, bos: str | None, eos: str | None) -> PromptFormat:
    """The model's own template when it has one, else the documented transcript format."""
    if chat_template:
        return ChatTemplateFormat(chat_template, bos or "", eos or "")
    return TranscriptFormat()
