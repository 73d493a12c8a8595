"""Few-shot prompt assembly: a template, some example rows and a query become one prompt.

Two renderings:

* **raw** (base models, no chat template) — one completion prompt::

      <system>\\n\\n
      <body(example 1)> <output 1>\\n\\n
      <body(example 2)> <output 2>\\n\\n
      <body(query)>                       <- ends where the output begins

  An example's output follows its rendered body after one space (none when the body ends with a
  newline); the model's continuation of the query is joined the same way (``continuation``).
  Generation stops at the example separator and the template's stop strings.

* **chat** (models whose GGUF has a chat template) — the examples are prior user/assistant turns,
  the query is the last user turn, rendered by the model's ``ChatTemplateFormat``.

**Prefix reuse.** llama.cpp reuses the KV cache for the longest common token prefix of
consecutive prompts (ARCHITECTURE.md, "Prompts and the KV cache": a 1,000-token prefix costs
2.9 s cold, 0.04 s warm), so the instruction and the examples come first, rendered
deterministically (no timestamps, no unordered containers), and the query last. With ``fixed``
or seeded ``random`` selection the whole prefix is byte-identical between queries.
Query-dependent selectors (bm25, embedding, mmr) choose different rows per query; we then print
the chosen rows in **set position order** (``order="position"``, the default) rather than by
relevance: two queries that share their first few chosen rows share that much prefix. The
trade-off: the most similar example is not necessarily nearest the query, which
recency-sensitive models can prefer; ``order="relevance"`` puts the most relevant example last
(nearest the query) at the cost of prefix reuse.

**Token budget.** Counted with the model's own tokenizer. When the prompt is over budget,
examples are dropped least relevant first (the selector's order, not the print order) until it
fits; only when no example is left is the query's longest input shortened (``truncated``).
"""

import os
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import sqlite_utils

from tuiapp.chat.engine.formats import ChatTemplateFormat, PromptFormat, Turn
from tuiapp.errors import BadInput
from tuiapp.library.records import Example, Template
from tuiapp.library.render import render

SEPARATOR = "\n\n"  # between the system text, each example and the query (raw rendering)
ELLIPSIS = "…"


@dataclass
class Prompt:
    """What is sent to the model for one query, and how it was built."""

    text: str  # exactly what goes to engine.complete (formatted for chat models)
    stop: list[str]
    example_ids: list[int | None]  # rows shown, in print order
    n_tokens: int  # counted with the model's tokenizer (BOS included)
    n_dropped: int = 0  # selected rows dropped to fit the budget
    truncated: bool = False  # the query itself had to be shortened
    rendering: Literal["raw", "chat"] = "raw"
    prefix: str = ""  # the query-independent head of ``text`` (instruction + examples)
    turns: list[Turn] | None = None  # chat rendering only

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def join_output(prompt: str, output: str) -> str:
    """``prompt`` followed by ``output`` the way examples show it (see ``continuation``)."""
    head = prompt.rstrip(" ")
    return head + continuation(head, output)


def continuation(prompt: str, output: str) -> str:
    """The text that follows ``prompt`` when the model writes ``output``.

    One space after a cue such as ``Sentiment:``; nothing after a newline or in an empty prompt.
    A prompt never ends in a space, because SentencePiece/BPE vocabularies attach the space to
    the next word (`` positive`` is one token): a trailing space would force an odd split.
    """
    sep = "" if not prompt or prompt.endswith(("\n", "\t")) else " "
    return sep + output.strip()


@dataclass
class Assembler:
    """Builds prompts for one template on one model. ``count_tokens`` is the model's tokenizer."""

    template: Template
    count_tokens: Callable[[str], int]
    format: PromptFormat | None = None  # a ChatTemplateFormat selects the chat rendering
    budget: int | None = None  # max prompt tokens; None: no limit
    order: str = "position"  # position (stable prefix) | relevance (most relevant last)
    stop: list[str] = field(init=False)

    def __post_init__(self) -> None:
        if self.order not in ("position", "relevance"):
            raise BadInput("order must be 'position' or 'relevance'.")
        self.chat = isinstance(self.format, ChatTemplateFormat)
        extra = self.format.stop if self.chat and self.format else [SEPARATOR]
        self.stop = list(dict.fromkeys([*self.template.stop, *extra]))

    # -- pieces ------------------------------------------------------------------------------
    def render_query(self, inputs: dict[str, Any]) -> str:
        label = f"Template '{self.template.name}'"
        return render(self.template.body, inputs, label=label).rstrip(" ")

    def _print_order(self, ranked: list[Example]) -> list[Example]:
        if self.order == "relevance":
            return list(reversed(ranked))  # most relevant nearest the query
        return sorted(ranked, key=lambda ex: (ex.position, ex.id or 0))

    def _build(self, query_text: str, shots: list[Example]) -> tuple[str, str, list[Turn] | None]:
        """(text, prefix, turns) for the query with ``shots`` in print order."""
        system = self.template.system.strip()
        if isinstance(self.format, ChatTemplateFormat):
            fmt = self.format
            head = [Turn("system", system)] if system else []
            for ex in shots:
                head += [
                    Turn("user", self.render_query(ex.inputs)),
                    Turn("assistant", ex.output.strip()),
                ]
            turns = [*head, Turn("user", query_text)]
            text = fmt.render(turns)
            # The part that does not depend on the query: compare with an empty query.
            prefix = os.path.commonprefix([text, fmt.render([*head, Turn("user", "")])])
            return text, prefix, turns
        parts = [system + SEPARATOR] if system else []
        parts += [join_output(self.render_query(ex.inputs), ex.output) + SEPARATOR for ex in shots]
        prefix = "".join(parts)
        return prefix + query_text, prefix, None

    # -- the whole prompt ------------------------------------------------------------------
    def build(self, query: Example | dict[str, Any], ranked: list[Example]) -> Prompt:
        """The prompt for ``query`` with the selected rows ``ranked`` (most relevant first)."""
        inputs = dict(query.inputs if isinstance(query, Example) else query)
        query_text = self.render_query(inputs)
        kept = list(ranked)
        while True:
            shots = self._print_order(kept)
            text, prefix, turns = self._build(query_text, shots)
            n = self.count_tokens(text)
            if self.budget is None or n <= self.budget or not kept:
                break
            kept.pop()  # the least relevant one
        truncated = False
        if self.budget is not None and n > self.budget:
            inputs, query_text, text, prefix, turns, n = self._shorten(inputs)
            truncated = True
        return Prompt(
            text=text,
            stop=list(self.stop),
            example_ids=[ex.id for ex in shots],
            n_tokens=n,
            n_dropped=len(ranked) - len(kept),
            truncated=truncated,
            rendering="chat" if self.chat else "raw",
            prefix=prefix,
            turns=turns,
        )

    def _shorten(self, inputs: dict[str, Any]) -> tuple[Any, ...]:
        """Cut the longest query input (binary search on its length) until the prompt fits."""
        assert self.budget is not None
        key = max(inputs, key=lambda k: len(str(inputs[k])), default=None)
        if key is None:
            raise BadInput(f"The template alone is longer than the {self.budget}-token budget.")
        value = str(inputs[key])
        best: tuple[Any, ...] | None = None
        lo, hi = 0, len(value) - 1
        while lo <= hi:
            mid = (lo + hi) // 2
            trial = inputs | {key: value[:mid].rstrip() + ELLIPSIS}
            query_text = self.render_query(trial)
            text, prefix, turns = self._build(query_text, [])
            n = self.count_tokens(text)
            if n <= self.budget:
                best = (trial, query_text, text, prefix, turns, n)
                lo = mid + 1
            else:
                hi = mid - 1
        if best is None:
            raise BadInput(
                f"The prompt does not fit the {self.budget}-token budget even with "
                f"'{key}' emptied: shorten the template or raise the budget."
            )
        return best


def default_budget(n_ctx: int, max_tokens: int) -> int:
    """Prompt tokens allowed in a context of ``n_ctx`` that must leave room for the reply."""
    return max(16, n_ctx - min(max_tokens, n_ctx // 2))


def prompt_for(
    db: sqlite_utils.Database,
    engine: Any,
    model: Any,  # tuiapp.chat.service.ActiveModel; None: no model (raw rendering)
    template: Template,
    inputs: dict[str, Any],
    *,
    shots: int = 0,
    selector: str = "fixed",
    set_name: str | None = None,
    seed: int = 0,
    max_tokens: int = 512,
    order: str = "position",
) -> Prompt:
    """One prompt for ``inputs`` (the chat screen's "run template", ``tuiapp chat --template``).

    With ``shots`` > 0 the examples come from the train split of ``set_name``.
    """
    from tuiapp.library.selectors import SelectionContext, get_selector

    fmt = model.format if model is not None else None
    assembler = Assembler(
        template, engine.count_tokens, fmt, default_budget(engine.n_ctx, max_tokens), order
    )
    assembler.render_query(inputs)  # bad variables fail before any selection work
    ranked: list[Example] = []
    if shots > 0:
        from tuiapp.library.examples import ExampleStore

        chosen = get_selector(selector)
        if not set_name:
            raise BadInput("Few-shot prompts need an example set.")
        pool = ExampleStore(db).examples(set_name, split="train")
        ctx = SelectionContext(db=db, seed=seed)
        if chosen.needs_embeddings:
            from tuiapp.library.embeddings import Embedder

            ctx.embedder = Embedder(db, engine, str(model.path), model.info.sha256 or "")
        ranked = chosen.select(
            Example(inputs=dict(inputs), output="", split="heldout"), pool, shots, ctx
        )
        if ctx.embedder is not None:
            ctx.embedder.close()
    return assembler.build(inputs, ranked)
