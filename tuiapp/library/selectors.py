"""Example selectors: which k training rows to show the model before a query.

Every selector gets the query row, the pool (the set's rows), ``k`` and a ``SelectionContext``
and returns at most ``k`` rows, **most relevant first** (the assembler drops from the end when
the token budget is short). Selectors draw from the ``train`` split only and never return the
query row itself (same id) or a row with the same inputs (that would leak the answer).

Built-ins: ``fixed`` (first k by position), ``random`` (seeded: the same draw for every query,
so the prompt prefix is stable), ``bm25`` (SQLite FTS5 ranking against the query text),
``embedding`` (cosine similarity of llama.cpp embeddings) and ``mmr`` (maximal marginal
relevance: relevance traded against redundancy with ``mmr_lambda``).

The registry fails loudly: registering a name twice is a programming error (``ValueError``);
asking for an unknown name is the user's (``BadInput`` listing the known ones).
"""

import random
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import sqlite_utils

from tuiapp.errors import BadInput
from tuiapp.library.records import Example


class Embedder(Protocol):
    def embed(self, texts: list[str]) -> Any:
        """An (n, dim) float32 array of unit vectors, one row per text."""
        ...

    def close(self) -> None:
        """Write what was computed to the cache and let go of the engine."""
        ...


@dataclass
class SelectionContext:
    db: sqlite_utils.Database | None = None  # holding the examples (bm25)
    embedder: Embedder | None = None  # embedding, mmr
    seed: int = 0  # random
    mmr_lambda: float = 0.5  # 1.0: pure relevance; 0.0: pure diversity


class Selector(Protocol):
    name: str
    needs_embeddings: bool

    def select(
        self, query: Example, pool: list[Example], k: int, ctx: SelectionContext
    ) -> list[Example]:
        """At most ``k`` train rows of ``pool`` for ``query``, most relevant first."""
        ...


SELECTORS: dict[str, Selector] = {}


def register(name: str, needs_embeddings: bool = False) -> Callable[[type], type]:
    """Class decorator: add one selector instance to the registry under ``name``."""

    def add(cls: type) -> type:
        if name in SELECTORS:
            raise ValueError(f"Selector {name!r} is already registered.")
        instance = cls()
        instance.name = name
        instance.needs_embeddings = needs_embeddings
        SELECTORS[name] = instance
        return cls

    return add


class BaseSelector:
    name = ""
    needs_embeddings = False

    def select(
        self, query: Example, pool: list[Example], k: int, ctx: SelectionContext
    ) -> list[Example]:
        raise NotImplementedError


def get_selector(name: str) -> Selector:
    try:
        return SELECTORS[name]
    except KeyError:
        known = ", ".join(sorted(SELECTORS))
        raise BadInput(f"Unknown selector {name!r}. Choose one of: {known}.") from None


def selector_names() -> list[str]:
    return sorted(SELECTORS)


def input_text(example: Example) -> str:
    """The query-side text of a row (its inputs, not its output): what similarity compares."""
    return "\n".join(str(v) for v in example.inputs.values())


def candidates(query: Example, pool: list[Example]) -> list[Example]:
    """Train rows other than the query, in position order (the stable, canonical order)."""
    rows = [
        ex
        for ex in pool
        if ex.split == "train"
        and ex is not query
        and (query.id is None or ex.id != query.id)
        and ex.inputs != query.inputs
    ]
    return sorted(rows, key=lambda ex: (ex.position, ex.id or 0))


@register("fixed")
class FixedSelector(BaseSelector):
    def select(
        self, query: Example, pool: list[Example], k: int, ctx: SelectionContext
    ) -> list[Example]:
        return candidates(query, pool)[:k]


@register("random")
class RandomSelector(BaseSelector):
    def select(
        self, query: Example, pool: list[Example], k: int, ctx: SelectionContext
    ) -> list[Example]:
        rows = candidates(query, pool)
        return random.Random(ctx.seed).sample(rows, min(k, len(rows)))


_TERM = re.compile(r"\w+", re.UNICODE)
MAX_TERMS = 48


def fts_query(text: str) -> str:
    """Free text as a safe FTS5 query: each distinct word quoted, OR'ed (no operators leak)."""
    terms = list(dict.fromkeys(t.lower() for t in _TERM.findall(text) if len(t) > 1))
    return " OR ".join('"' + t.replace('"', '""') + '"' for t in terms[:MAX_TERMS])


@register("bm25")
class BM25Selector(BaseSelector):
    def select(
        self, query: Example, pool: list[Example], k: int, ctx: SelectionContext
    ) -> list[Example]:
        rows = candidates(query, pool)
        if ctx.db is None:
            raise BadInput("The bm25 selector needs the examples' database.")
        match = fts_query(input_text(query))
        by_id = {ex.id: ex for ex in rows if ex.id is not None}
        ranked: list[Example] = []
        if match and by_id:
            from tuiapp.store import db_lock

            sets = sorted({ex.set_name or "" for ex in by_id.values()})
            sql = (
                "SELECT examples.id FROM examples_fts JOIN examples"
                " ON examples.id = examples_fts.rowid"
                " WHERE examples_fts MATCH ? AND examples.split = 'train'"
                f" AND examples.set_name IN ({', '.join('?' * len(sets))})"
                " ORDER BY bm25(examples_fts), examples.position"
            )
            # Rows of the set that are not in the pool (a caller's subset) are skipped below.
            with db_lock(ctx.db):
                hits = ctx.db.execute(sql, [match, *sets]).fetchall()
            ranked = [by_id[i] for (i,) in hits if i in by_id][:k]
        # Too few lexical matches: fill up in position order (stable, like `fixed`).
        chosen = {id(ex) for ex in ranked}
        return ranked + [ex for ex in rows if id(ex) not in chosen][: k - len(ranked)]


def _similarities(query: Example, rows: list[Example], ctx: SelectionContext) -> tuple[Any, Any]:
    """(query·row similarities, row·row similarity matrix) from unit-length embeddings."""
    if ctx.embedder is None:
        raise BadInput("This selector needs embeddings: no embedder is available.")
    vectors = ctx.embedder.embed([input_text(query)] + [input_text(ex) for ex in rows])
    q, docs = vectors[0], vectors[1:]
    return docs @ q, docs


@register("embedding", needs_embeddings=True)
class EmbeddingSelector(BaseSelector):
    def select(
        self, query: Example, pool: list[Example], k: int, ctx: SelectionContext
    ) -> list[Example]:
        import numpy as np

        rows = candidates(query, pool)
        if not rows or k <= 0:
            return []
        sims, _ = _similarities(query, rows, ctx)
        order = np.argsort(-sims, kind="stable")  # ties keep position order
        return [rows[i] for i in order[:k]]


@register("mmr", needs_embeddings=True)
class MMRSelector(BaseSelector):
    """Maximal marginal relevance: argmax λ·sim(q, d) − (1−λ)·max sim(d, already chosen)."""

    def select(
        self, query: Example, pool: list[Example], k: int, ctx: SelectionContext
    ) -> list[Example]:
        import numpy as np

        rows = candidates(query, pool)
        if not rows or k <= 0:
            return []
        lam = ctx.mmr_lambda
        if not 0.0 <= lam <= 1.0:
            raise BadInput("mmr_lambda must be between 0 and 1.")
        sims, docs = _similarities(query, rows, ctx)
        chosen: list[int] = []
        redundancy = np.full(len(rows), -np.inf)
        for _ in range(min(k, len(rows))):
            penalty = np.where(np.isfinite(redundancy), redundancy, 0.0)
            score = lam * sims - (1 - lam) * penalty
            score[chosen] = -np.inf
            best = int(np.argmax(score))
            chosen.append(best)
            redundancy = np.maximum(redundancy, docs @ docs[best])
        return [rows[i] for i in chosen]
