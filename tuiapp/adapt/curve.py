"""The learning curve: "should I fine-tune?" answered with numbers.

On the same held-out rows and the same llama.cpp runtime, few-shot scores for k = 0, 1, 2, 4,
8, … shots (up to the context budget and the train rows) and adapter scores for adapters trained
on n = 8, 16, 32, … train rows (a nested, label-stratified subset, ``splits.nested_subset``, up
to all of them). Each point is one evaluation run; ``advice`` reads the curve as one sentence.

Typical use (``tuiapp eval curve``, or a Textual thread worker)::

    job = CurveJob(db, CurveRequest("sentiment"), service)  # service: a loaded ChatService
    curve = job.run(on_event)     # blocks; on_event(CurveEvent) after each step and point
    job.cancel()                  # from any thread: keeps every finished point

Resumable: evaluation runs are reused by their key (``run_eval(reuse=True)``), and an adapter
point's name says what it was trained from (set, method, options, rows, base), so a later call
finds its adapter, converts it when the conversion was cut short, and resumes its training run
when that was cancelled. Nothing is recomputed that is already done.
"""

import copy
import hashlib
import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import sqlite_utils

from tuiapp.adapt import steps
from tuiapp.adapt.advice import advise, rescore
from tuiapp.adapt.curve_records import Curve, CurveEvent, CurvePoint, CurveRequest
from tuiapp.adapt.records import AdaptCancelled
from tuiapp.errors import BadInput, TuiappError

if TYPE_CHECKING:
    from tuiapp.chat.service import ActiveModel, ChatService
    from tuiapp.library.records import Example, ExampleSet, Template

__all__ = ["Curve", "CurveEvent", "CurveJob", "CurvePoint", "CurveRequest"]

FIRST_N = 8  # the smallest adapter training set
MIN_STEPS = 30  # optimizer steps for the smallest sets, so a small n is not also undertrained


def default_ks(n_train: int, fits: Callable[[int], bool]) -> list[int]:
    """0, 1, 2, 4, … while k shots fit the context budget and there are k train rows."""
    ks, k = [0], 1
    while k <= n_train and fits(k):
        ks.append(k)
        k *= 2
    return ks


def default_ns(n_train: int) -> list[int]:
    """8, 16, 32, … below the number of train rows, then all of them."""
    ns, n = [], FIRST_N
    while n < n_train:
        ns.append(n)
        n *= 2
    return ns + [n_train]


def training_options(options: dict[str, Any], n: int) -> dict[str, Any]:
    """The user's options; without ``max_steps``, ``epochs`` passes over n rows but at least
    ``MIN_STEPS`` steps (3 epochs of 8 rows is 6 steps: too few to learn anything)."""
    if options.get("max_steps"):
        return dict(options)
    epochs = float(options.get("epochs", 3.0))
    batch = int(options.get("batch_size", 4)) * int(options.get("grad_accum", 1))
    return dict(options) | {"max_steps": max(MIN_STEPS, math.ceil(epochs * n / batch))}


@dataclass
class _Context:
    """What every point of one curve shares."""

    service: "ChatService"
    model: "ActiveModel"
    template: "Template"
    example_set: "ExampleSet"
    examples: list["Example"]
    fingerprint: str  # the set's rows and the base model, for adapter names


class CurveJob:
    def __init__(
        self,
        db: sqlite_utils.Database,
        request: CurveRequest,
        service: "ChatService | None" = None,
        current: steps.Current | None = None,
    ) -> None:
        self.db = db
        self.request = request
        self.service = service
        self.current = current or steps.Current()  # shared with a job this curve is part of
        self._emit: Callable[[CurveEvent], None] = lambda _event: None
        self._done = 0  # points finished, for the one progress bar
        self._within = 0.0  # of the point in progress
        self._points: list[CurvePoint] = []
        self.typed_options: dict[str, Any] = {}  # every option, checked, defaults filled in

    def cancel(self) -> None:
        self.current.cancel()

    @property
    def cancelled(self) -> bool:
        return self.current.cancelled.is_set()

    def check(self) -> "Template":
        """Everything that can be checked before the model loads: the template."""
        from tuiapp.library.selectors import get_selector
        from tuiapp.library.splits import MIN_COMPARE

        req = self.request
        heldout = steps.split_counts(self.db, req.set_name).get("heldout", 0)
        if heldout < MIN_COMPARE:
            raise BadInput(
                f"Example set '{req.set_name}' has {heldout} held-out rows and a learning "
                f"curve needs at least {MIN_COMPARE}: `tuiapp examples split {req.set_name} "
                "--heldout 0.3` holds out more."
            )
        if req.limit is not None and req.limit < 1:
            raise BadInput("--limit must be at least 1.")
        for size in [*(req.ks or []), *(req.ns or [])]:
            if size < 0:
                raise BadInput(f"Sizes are counts of rows: {size} is below 0.")
        if req.ns is None or req.ns:
            from tuiapp.training.config import split_options

            method = steps.adapter_method(
                req.method,
                "the curve cannot score them: use --method lora or prompt_tuning (or "
                "--no-adapters for the few-shot half only)",
            )
            own, training = split_options(method, req.options)  # bad --opt: before any work
            self.typed_options = own | training
        get_selector(req.selector)
        return steps.set_template(self.db, req.set_name)

    # -- the whole curve -------------------------------------------------------------------
    def run(self, on_event: Callable[[CurveEvent], None] | None = None) -> Curve:
        from tuiapp.library.examples import ExampleStore

        self._emit = on_event or (lambda _event: None)
        template, req = self.check(), self.request
        service = self._service()
        store = ExampleStore(self.db)
        examples = store.examples(self.request.set_name)
        ctx = _Context(
            service,
            service.require_model(),
            template,
            store.get_set(self.request.set_name),
            examples,
            _fingerprint(examples, service.require_model(), req.method, self.typed_options),
        )
        self._points = self._plan(ctx)
        curve = Curve(self.request.set_name, f"{template.name}@v{template.version}", self._points)
        curve.pp_tokens_per_s = round(ctx.service.engine.prompt_speed(_speed_text(ctx)).result())
        self._event(curve, f"Learning curve of '{curve.set_name}': {len(self._points)} points.")
        for index, point in enumerate(self._points):
            if self.cancelled:
                break
            self._done, self._within = index, 0.0
            try:
                if point.kind == "few":
                    self._few(ctx, point)
                else:
                    self._adapter(ctx, point)
            except AdaptCancelled:
                point.status = "cancelled"
            except TuiappError as exc:  # one failed point does not lose the others
                point.status, point.error = "failed", str(exc)
            rescore(curve, self.db)
            curve.advice = advise(curve, self.db)
            self._done = index + 1
            self._event(curve, f"{point.label}: {point.describe()}")
        curve.status = "cancelled" if self.cancelled else "done"
        self._event(curve, curve.advice)
        return curve

    def _plan(self, ctx: _Context) -> list[CurvePoint]:
        req = self.request
        n_train = sum(ex.split == "train" for ex in ctx.examples)
        fits = _fits(ctx)
        ks = sorted(set(req.ks)) if req.ks is not None else default_ks(n_train, fits)
        ns = sorted(set(req.ns)) if req.ns is not None else default_ns(n_train)
        points = [CurvePoint("few", k) for k in ks]
        for point in points:
            if point.size > n_train:
                point.status, point.error = "skipped", f"only {n_train} train rows"
            elif point.size and not fits(point.size):
                point.status, point.error = "skipped", "over the context budget"
        adapters = [CurvePoint("adapter", min(n, n_train)) for n in ns if n > 0]
        return points + list({p.size: p for p in adapters}.values())

    # -- points ----------------------------------------------------------------------------
    def _few(self, ctx: _Context, point: CurvePoint) -> None:
        from tuiapp.evaluation.evaluate import EvalOptions

        if point.status == "skipped":
            return
        opts = EvalOptions(
            mode="few" if point.size else "zero",
            shots=point.size,
            selector=self.request.selector,
            limit=self.request.limit,
        )
        self._evaluate(ctx, point, opts)

    def _adapter(self, ctx: _Context, point: CurvePoint) -> None:
        from tuiapp.evaluation.evaluate import EvalOptions
        from tuiapp.training import DataSource, TrainRequest
        from tuiapp.training.store import AdapterStore

        req, store = self.request, AdapterStore(self.db)
        name = point.adapter = _adapter_name(req, point.size, ctx.fingerprint)
        if not store.adapter_exists(name):
            pending = store.pending_run(name)
            steps_for_n = training_options(self.typed_options, point.size)["max_steps"]
            options = req.options | {"max_steps": steps_for_n}
            source = DataSource.examples(req.set_name, train_rows=point.size)
            request = TrainRequest(req.method, source, str(ctx.model.path), options, name)
            self._step(point, "training", 0.0)
            steps.train(
                self.db,
                request,
                self.current,
                lambda fraction, message, _e: self._step(point, message, fraction, 0.0, 0.8),
                resume_run=pending.id if pending is not None else None,
            )
        adapter = store.get_adapter(name)
        point.train_seconds = adapter.metrics.get("train_seconds")
        if adapter.gguf is None:
            steps.convert(
                self.db,
                name,
                self.current,
                lambda fraction, message, _e: self._step(point, message, fraction, 0.8, 0.9),
                req.parity,
                req.threads,
            )
        opts = EvalOptions(mode="adapter", adapter=name, shots=0, limit=req.limit)
        self._evaluate(ctx, point, opts, 0.9)

    def _evaluate(self, ctx: _Context, point: CurvePoint, opts: Any, low: float = 0.0) -> None:
        from tuiapp.evaluation.evaluate import EvalStore, run_eval

        newest = EvalStore(self.db).last_id()

        def progress(done: int, total: int, _eta: float | None) -> None:
            self._step(point, f"{done}/{total} rows", done / max(1, total), low, 1.0)

        run = run_eval(
            self.db,
            ctx.service.engine,
            ctx.model,
            ctx.template,
            ctx.example_set,
            ctx.examples,
            opts,
            progress=progress,
            cancel=self.current.cancelled,
            reuse=True,
        )
        point.run_id = run.id
        if run.status != "done":
            raise AdaptCancelled(f"Cancelled while evaluating {point.label}.")
        point.status = "reused" if (run.id or 0) <= newest else "done"

    # -- helpers ---------------------------------------------------------------------------
    def _service(self) -> "ChatService":
        from tuiapp.chat.service import ChatService

        if self.service is not None and self.service.active is not None:
            return self.service
        service = ChatService.open(
            self.db, n_threads=self.request.threads, n_ctx=self.request.n_ctx
        )
        service.load(self.request.model)
        self.service = service
        return service

    def _step(
        self,
        point: CurvePoint,
        message: str,
        fraction: float | None,
        low: float = 0.0,
        high: float = 1.0,
    ) -> None:
        """Progress within a point: ``fraction`` of its share from ``low`` to ``high`` (None:
        no new figure, the bar stays)."""
        if fraction is not None:
            self._within = low + (high - low) * fraction
        total = max(1, len(self._points))
        self._emit(CurveEvent((self._done + self._within) / total, f"{point.label}: {message}"))

    def _event(self, curve: Curve, message: str) -> None:
        total = max(1, len(curve.points))
        # a copy: a screen reads it on another thread while the next point changes this one
        self._emit(CurveEvent(min(1.0, self._done / total), message, copy.deepcopy(curve)))


def _fits(ctx: _Context) -> Callable[[int], bool]:
    """Whether k shots fit the context budget beside the longest held-out query."""
    from tuiapp.evaluation.evaluate import EvalOptions, reply_cap
    from tuiapp.library.fewshot import Assembler, default_budget

    engine = ctx.service.engine
    pool = [ex for ex in ctx.examples if ex.split == "train"]
    queries = [ex for ex in ctx.examples if ex.split == "heldout"]
    longest = max(queries, key=lambda ex: len(ex.text()))
    budget = default_budget(engine.n_ctx, reply_cap(engine, ctx.template, pool, EvalOptions()))
    assembler = Assembler(ctx.template, engine.count_tokens, ctx.model.format, budget)
    known: dict[int, bool] = {}

    def fits(k: int) -> bool:
        if k not in known:
            known[k] = assembler.build(longest, pool[:k]).n_dropped == 0
        return known[k]

    return fits


def _speed_text(ctx: _Context) -> str:
    """A prompt of a few hundred tokens to time prompt processing with: train rows joined."""
    return "\n\n".join(ex.text() for ex in ctx.examples[:24])[:4000]


def _fingerprint(
    examples: list["Example"], model: "ActiveModel", method: str, options: dict[str, Any]
) -> str:
    """What the adapters of one curve are trained from: rows, base, method, typed options."""
    rows = [[ex.id, ex.split, ex.text()] for ex in examples]
    blob = json.dumps(
        [rows, model.info.sha256 or str(model.path), method, options], sort_keys=True, default=str
    )
    return hashlib.sha256(blob.encode()).hexdigest()[:8]


def _adapter_name(req: CurveRequest, n: int, fingerprint: str) -> str:
    """``curve-sentiment-lora-n16-1a2b3c4d``: the same name for the same point, next time."""
    from tuiapp.training.store import ADAPTER_NAME_CHARS

    stem = "".join(c if c.lower() in ADAPTER_NAME_CHARS else "-" for c in req.set_name)
    return f"curve-{stem}-{req.method}-n{n}-{fingerprint}"
