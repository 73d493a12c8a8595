"""Evaluation: how well a template scores on a split, zero-shot or k-shot (later: with an adapter).

``run_eval`` runs every row of the split (up to ``limit``): select examples from the train split,
assemble the prompt, generate greedily with the template's stop strings, score exact and
normalized match and, for label sets, the label chosen by log-likelihood (``scoring``). Each row
is committed to ``eval_rows`` as soon as it is scored and the run's aggregates in ``eval_runs``
are refreshed, so a cancelled or crashed run keeps everything scored so far: cancel marks it
``partial``; an error marks it ``failed`` with the message.

The run record carries everything a comparison needs (mode, shots, selector, adapter, model and
its sha256, template version, sampling params), so adapter runs (``mode="adapter"``, conversion
issue) land in the same table and ``compare.compare`` puts them side by side.
"""

import hashlib
import json
import os
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlite_utils

from tuiapp.chat.engine.sampling import SamplingParams
from tuiapp.errors import BadInput, NotFound
from tuiapp.evaluation.scoring import choose_label, chrf, exact_match, normalized_match
from tuiapp.library.fewshot import Assembler, default_budget
from tuiapp.library.records import (
    EvalMode,
    EvalRun,
    Example,
    ExampleSet,
    Split,
    Template,
    as_eval_mode,
)
from tuiapp.library.selectors import SelectionContext, get_selector, input_text
from tuiapp.store import db_lock, transaction

Progress = Callable[[int, int, float | None], None]  # (done, total, eta seconds)
MAX_TOKENS_CAP = 256


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


@dataclass
class EvalOptions:
    mode: EvalMode = "zero"
    split: Split = "heldout"
    shots: int = 4  # few mode only
    selector: str = "fixed"  # few mode only
    limit: int | None = None  # first N rows of the split
    seed: int = 0  # random selector
    mmr_lambda: float = 0.5
    order: str = "position"  # print order of examples: position (stable prefix) | relevance
    max_tokens: int | None = None  # None: the template's, else 2x the longest train output
    budget: int | None = None  # prompt tokens; None: the context minus the reply
    normalize_labels: bool = False  # label choice by mean instead of total log-prob
    adapter: str | None = None  # adapter mode (conversion issue)


@dataclass
class RowResult:
    example_id: int | None
    prediction: str
    expected: str
    exact: bool
    normalized: bool
    chrf: float
    label_predicted: str | None
    label_correct: bool | None
    prompt_tokens: int
    seconds: float


class EvalStore:
    """Runs and their per-row results in ``eval_runs`` / ``eval_rows``."""

    def __init__(self, db: sqlite_utils.Database) -> None:
        self.db = db

    def create(self, run: EvalRun) -> EvalRun:
        row = _to_row(run) | {"id": None}
        with transaction(self.db):
            run.id = self.db.table("eval_runs").insert(row).last_pk
        return run

    def add_row(self, run: EvalRun, result: RowResult) -> None:
        """Commit one scored row and the run's refreshed aggregates together."""
        row = asdict(result) | {"run_id": run.id}
        with transaction(self.db):
            self.db.table("eval_rows").insert(row, pk=("run_id", "example_id"))
            self.db.table("eval_runs").update(_stored_id(run), _to_row(run))

    def save(self, run: EvalRun) -> None:
        with transaction(self.db):
            self.db.table("eval_runs").update(_stored_id(run), _to_row(run))

    def get(self, run_id: int) -> EvalRun:
        with db_lock(self.db):
            rows = list(self.db.table("eval_runs").rows_where("id = ?", [run_id]))
        if not rows:
            raise NotFound(f"No evaluation run with id {run_id}.")
        return _from_row(rows[0])

    def recent(self, limit: int | None = None) -> list[EvalRun]:
        with db_lock(self.db):
            rows = self.db.table("eval_runs").rows_where(order_by="id desc", limit=limit)
            return [_from_row(r) for r in rows]

    def find(self, key: str) -> EvalRun | None:
        """The latest finished run with this ``run_key`` (None when there is none)."""
        with db_lock(self.db):
            rows = self.db.table("eval_runs").rows_where(
                "status = 'done' and json_extract(params, '$.key') = ?",
                [key],
                order_by="id desc",
                limit=1,
            )
            found = [_from_row(r) for r in rows]
        return found[0] if found else None

    def last_id(self) -> int:
        """The newest run's id (0 when there is none): runs above it were made after."""
        with db_lock(self.db):
            row = self.db.execute("select max(id) from eval_runs").fetchone()
        return int(row[0] or 0)

    def rows(self, run_id: int) -> list[dict[str, Any]]:
        with db_lock(self.db):
            rows = self.db.table("eval_rows").rows_where("run_id = ?", [run_id], order_by="rowid")
            return list(rows)


def _stored_id(run: EvalRun) -> int:
    if run.id is None:
        raise ValueError("The run has no id yet: EvalStore.start() stores it first.")
    return run.id


def _to_row(run: EvalRun) -> dict[str, Any]:
    return run.to_dict() | {"params": json.dumps(run.params, sort_keys=True)}


def _from_row(row: dict[str, Any]) -> EvalRun:
    known = {f.name for f in fields(EvalRun)}
    data = {k: v for k, v in row.items() if k in known}
    data["params"] = json.loads(row.get("params") or "{}")
    return EvalRun(**data)


def _sampling(template: Template, max_tokens: int) -> SamplingParams:
    """Greedy, seeded, no repeat penalty (it would punish repeating the labels just shown)."""
    base = SamplingParams.from_dict({"repeat_penalty": 1.0} | template.params)
    return SamplingParams.from_dict(
        base.to_dict() | {"temperature": 0.0, "seed": 0, "max_tokens": max_tokens}
    )


def reply_cap(engine: Any, template: Template, pool: list[Example], opts: EvalOptions) -> int:
    """The reply's max tokens: the options', the template's, else twice the longest output."""
    if opts.max_tokens or template.params.get("max_tokens"):
        return int(opts.max_tokens or template.params["max_tokens"])
    outputs = [ex.output for ex in pool] or ["x" * 32]

    def longest(llm: Any) -> int:
        return max(len(llm.tokenize(o.encode(), add_bos=False, special=True)) for o in outputs)

    return min(MAX_TOKENS_CAP, 2 * int(engine.call(longest).result()) + 8)


def run_eval(
    db: sqlite_utils.Database,
    engine: Any,
    model: Any,  # tuiapp.chat.ActiveModel: name, path, info.sha256, format
    template: Template,
    example_set: ExampleSet,
    examples: list[Example],
    opts: EvalOptions,
    progress: Progress | None = None,
    cancel: threading.Event | None = None,
    reuse: bool = False,
) -> EvalRun:
    """Evaluate ``template`` on ``opts.split`` of ``examples``; returns the stored run. With
    ``reuse``, a finished run with the same ``run_key`` is returned instead of a new one."""
    as_eval_mode(opts.mode)  # BadInput for anything else
    if opts.mode == "few" and opts.shots < 1:
        raise BadInput("Few-shot mode needs at least 1 shot.")
    # Adapter mode: the prompts the adapter was trained on (zero-shot unless it was trained
    # with shots), generated and scored with the adapter on; the other modes on the base model.
    mix = adapter_mix(db, opts.adapter, model) if opts.mode == "adapter" else {}
    few = opts.mode == "few" or (opts.mode == "adapter" and opts.shots > 0)
    selector = get_selector(opts.selector) if few else None
    queries = [ex for ex in examples if ex.split == opts.split][: opts.limit]
    if not queries:
        raise BadInput(f"Example set '{example_set.name}' has no '{opts.split}' rows.")
    pool = [ex for ex in examples if ex.split == "train"]
    max_tokens = reply_cap(engine, template, pool, opts)
    budget = opts.budget or default_budget(engine.n_ctx, max_tokens)
    assembler = Assembler(template, engine.count_tokens, model.format, budget, opts.order)
    job = _Job(
        engine,
        assembler,
        selector,
        SelectionContext(db, None, opts.seed, opts.mmr_lambda),
        pool,
        opts,
        _sampling(template, max_tokens),
        list(example_set.labels or []),
        cancel,
        mix,
    )
    if selector is not None and selector.needs_embeddings:
        from tuiapp.library.embeddings import Embedder

        job.ctx.embedder = Embedder(db, engine, str(model.path), model.info.sha256 or "")
        job.ctx.embedder.embed([input_text(ex) for ex in pool + queries])  # one batch, cached

    settings = {
        "sampling": job.params.to_dict(),
        "seed": opts.seed,
        "order": opts.order,
        "budget": budget,
        "limit": opts.limit,
        "n_ctx": engine.n_ctx,
        "rendering": "chat" if assembler.chat else "raw",
        "label_score": "mean" if opts.normalize_labels else "total",
    }
    if few and opts.selector == "mmr":
        settings["mmr_lambda"] = opts.mmr_lambda
    settings["key"] = run_key(template, opts, model, queries + pool, mix, settings)
    store = EvalStore(db)
    if reuse and (found := store.find(settings["key"])) is not None:
        if job.ctx.embedder is not None:
            job.ctx.embedder.close()
        if progress is not None:
            progress(found.n_scored, found.n_rows, 0.0)
        return found
    run = EvalRun(
        template=template.name,
        template_version=template.version,
        set_name=example_set.name,
        mode=opts.mode,
        split=opts.split,
        shots=opts.shots if few else 0,
        selector=opts.selector if few else None,
        adapter=opts.adapter,
        model=model.name,
        model_sha256=model.info.sha256 or "",
        params=settings,
        n_rows=len(queries),
        started=now(),
    )
    store.create(run)
    results: list[RowResult] = []
    start = time.perf_counter()
    if progress is not None:
        progress(0, len(queries), None)  # the bar shows at once, before the first (slow) row
    try:
        for query in queries:
            if cancel is not None and cancel.is_set():
                break
            result = job.row(query)
            if result is None:  # cancelled mid-row: that row is not scored
                break
            results.append(result)
            _aggregate(run, results)
            store.add_row(run, result)
            if progress is not None:
                per_row = (time.perf_counter() - start) / len(results)
                progress(len(results), len(queries), per_row * (len(queries) - len(results)))
        run.status = "done" if len(results) == len(queries) else "partial"
    except KeyboardInterrupt:
        run.status = "partial"
        raise
    except Exception as exc:
        run.status, run.error = "failed", str(exc)
        raise
    finally:
        run.finished = now()
        store.save(run)
        if job.ctx.embedder is not None:
            job.ctx.embedder.close()
    return run


def run_key(
    template: Template,
    opts: EvalOptions,
    model: Any,
    rows: list[Example],
    mix: dict[str, float],
    settings: dict[str, Any],
) -> str:
    """What makes two runs the same run: template version, mode, shots, selector, the model's
    sha256, the adapter files (path, size, mtime), the rows (ids and text) and the settings.
    A run with the same key scores the same (greedy, seeded), so it can be reused."""
    identity = {
        "template": [template.name, template.version],
        "mode": opts.mode,
        "split": opts.split,
        "shots": opts.shots if opts.mode != "zero" else 0,
        "selector": opts.selector if opts.mode != "zero" else None,
        "model": model.info.sha256 or str(model.path),
        "adapters": {
            path: [scale, os.stat(path).st_size, os.stat(path).st_mtime_ns]
            for path, scale in sorted(mix.items())
        },
        "rows": [[ex.id, ex.split, ex.text()] for ex in rows],
        "settings": settings,
    }
    blob = json.dumps(identity, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:32]


def adapter_mix(db: sqlite_utils.Database, spec: str | None, model: Any) -> dict[str, float]:
    """``NAME[:SCALE]`` -> {GGUF adapter path: scale}, checked against the loaded model."""
    from tuiapp.chat.service import parse_adapter_spec
    from tuiapp.training.store import AdapterStore, usable_gguf

    if not spec:
        raise BadInput("Adapter mode needs --adapter NAME (see `tuiapp adapters list`).")
    name, scale = parse_adapter_spec(spec)
    adapter = AdapterStore(db).get_adapter(name)
    stand_in = adapter.stand_in
    if stand_in is not None and Path(model.path).resolve() == Path(stand_in).resolve():
        return {}  # the loaded model is the adapter merged into its base
    return {usable_gguf(adapter, model.info.sha256 or "", model.name): scale}


@dataclass
class _Job:
    """What every row of one run shares."""

    engine: Any
    assembler: Assembler
    selector: Any
    ctx: SelectionContext
    pool: list[Example]
    opts: EvalOptions
    params: SamplingParams
    labels: list[str]
    cancel: threading.Event | None
    mix: dict[str, float]  # adapter GGUF path -> scale; {} = the base model

    def row(self, query: Example) -> RowResult | None:
        """Select, assemble, generate and score one row; None when cancelled mid-row."""
        t0 = time.perf_counter()
        ranked = (
            self.selector.select(query, self.pool, self.opts.shots, self.ctx)
            if self.selector is not None
            else []
        )
        prompt = self.assembler.build(query, ranked)
        stream = self.engine.complete(prompt.text, self.params, prompt.stop, adapters=self.mix)
        try:
            for _ in stream:
                if self.cancel is not None and self.cancel.is_set():
                    stream.cancel()
        except KeyboardInterrupt:
            stream.cancel()
            for _ in stream:  # let the engine finish the request before the caller moves on
                pass
            raise
        done = stream.result
        if done is None or done.stopped:
            return None
        prediction = done.text.strip()
        chosen = correct = None
        if self.labels:
            normalize = self.opts.normalize_labels
            chosen = choose_label(
                self.engine, prompt.text, self.labels, normalize, adapters=self.mix
            ).label
            correct = chosen == (query.label or query.output.strip())
        return RowResult(
            example_id=query.id,
            prediction=prediction,
            expected=query.output,
            exact=exact_match(prediction, query.output),
            normalized=normalized_match(prediction, query.output),
            chrf=chrf(prediction, query.output),
            label_predicted=chosen,
            label_correct=correct,
            prompt_tokens=done.prompt_tokens,
            seconds=time.perf_counter() - t0,
        )


def _aggregate(run: EvalRun, results: list[RowResult]) -> None:
    n = len(results)
    run.n_scored = n
    run.exact = sum(r.exact for r in results) / n
    run.normalized = sum(r.normalized for r in results) / n
    run.chrf = sum(r.chrf for r in results) / n
    scored = [r.label_correct for r in results if r.label_correct is not None]
    run.label_accuracy = sum(scored) / len(scored) if scored else None
    run.prompt_tokens_per_query = sum(r.prompt_tokens for r in results) / n
    run.seconds_per_query = sum(r.seconds for r in results) / n
