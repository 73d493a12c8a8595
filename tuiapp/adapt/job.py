"""One click: train an adapter on an example set, convert it, check parity, evaluate it against
zero-shot and k-shot prompting, and attach it to a new conversation.

Typical use (``tuiapp adapt``, or a Textual thread worker)::

    job = AdaptJob(db, AdaptRequest("sentiment"), service)   # service: a loaded ChatService
    report = job.run(on_event)     # blocks; on_event(AdaptEvent) for one progress view
    job.cancel()                   # from any thread: stops the stage in progress

Stages: ``train`` (child process, ``tuiapp.training.jobs``), ``convert`` (child process,
``tuiapp.conversion.jobs``; the parity check is part of it), ``evaluate`` (zero-shot, k-shot and the
adapter on the held-out split, on the service's llama.cpp engine), ``attach`` (a new conversation
with the adapter at scale 1). Each stage's figures go into the report, stored in ``adapt_jobs``
as soon as the stage ends, so a failed or cancelled job still leaves its report. Cancelling
during training checkpoints the run (``tuiapp runs resume`` continues it); nothing half-made is
registered.
"""

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import sqlite_utils

from tuiapp.adapt import steps
from tuiapp.adapt.records import (
    STAGES,
    AdaptCancelled,
    AdaptEvent,
    AdaptFailed,
    AdaptRequest,
    Stage,
    Status,
)
from tuiapp.adapt.store import AdaptJobStore
from tuiapp.errors import BadInput, TuiappError

if TYPE_CHECKING:
    from tuiapp.chat.service import ChatService
    from tuiapp.library.records import Template
    from tuiapp.plugins.hookspecs import Method

__all__ = ["AdaptCancelled", "AdaptEvent", "AdaptFailed", "AdaptJob", "AdaptRequest"]

SWEEP = [1, 2, 4, 8]  # the k of the quick sweep that picks the k-shot baseline


class AdaptJob:
    def __init__(
        self,
        db: sqlite_utils.Database,
        request: AdaptRequest,
        service: "ChatService | None" = None,
    ) -> None:
        self.db = db
        self.jobs = AdaptJobStore(db)
        self.request = request
        self.service = service  # a ChatService with the base loaded; made when None
        self.report: dict[str, Any] = {
            "set": request.set_name,
            "method": request.method,
            "options": request.options,
            "status": "running",
        }
        self.id: int | None = None
        self.skip_compare: str | None = None  # why the comparison is skipped (check() says)
        self.current = steps.Current()  # the child job of the stage in progress
        self._fraction = 0.0
        self._emit: Callable[[AdaptEvent], None] = lambda _event: None

    # -- control -------------------------------------------------------------------------
    def cancel(self) -> None:
        self.current.cancel()

    @property
    def cancelled(self) -> bool:
        return self.current.cancelled.is_set()

    def check(self) -> "tuple[Template, Method]":
        """Everything that can be checked before work starts: (template, method)."""
        from tuiapp.library.selectors import get_selector
        from tuiapp.library.splits import MIN_COMPARE

        req = self.request
        heldout = steps.split_counts(self.db, req.set_name).get("heldout", 0)
        self.skip_compare = (
            None
            if heldout >= MIN_COMPARE
            else (
                f"Comparison skipped: example set '{req.set_name}' has {heldout} held-out "
                f"rows and a comparison needs at least {MIN_COMPARE} "
                f"(`tuiapp examples split {req.set_name} --heldout 0.3` holds out more; "
                "teaching more replies adds rows)."
            )
        )
        if req.conversation_id is not None:
            from tuiapp.chat.history import History

            History(self.db).get_conversation(req.conversation_id)  # NotFound before work
        template = steps.set_template(self.db, req.set_name)
        method = steps.adapter_method(
            req.method,
            "one-click adapt cannot attach them: use lora or prompt_tuning (or qlora on a GPU), "
            f"or `tuiapp train --method {req.method}` then `tuiapp adapters merge`",
        )
        if req.shots is not None and req.shots < 1:
            raise BadInput(
                "--shots (the k-shot baseline) must be at least 1; leave it out to use the "
                "best k of a quick sweep."
            )
        get_selector(req.selector)
        if req.limit is not None and req.limit < 1:
            raise BadInput("--limit must be at least 1.")
        return template, method

    # -- the whole job -------------------------------------------------------------------
    def run(self, on_event: Callable[[AdaptEvent], None] | None = None) -> dict[str, Any]:
        """Run every stage; the report (also stored). AdaptFailed / AdaptCancelled on the way."""
        self._emit = on_event or (lambda _event: None)
        template, _method = self.check()
        self._create()
        started = time.perf_counter()
        stage: Stage = "train"
        try:
            adapter = self._train()
            stage = "convert"
            self._convert(adapter)
            stage = "evaluate"
            self._evaluate(template, adapter)
            stage = "attach"
            self._attach(adapter)
        except AdaptCancelled as exc:
            self._end("cancelled", stage, str(exc), started)
            raise
        except TuiappError as exc:
            self._end("failed", stage, str(exc), started)
            raise AdaptFailed(f"{stage}: {exc}") from exc
        except BaseException as exc:
            self._end("failed", stage, f"{type(exc).__name__}: {exc}", started)
            raise
        self._end("done", "done", None, started)
        self._event(
            "done",
            1.0,
            f"Done in {self.report['seconds']:.0f} s: adapter "
            f"'{adapter}' is attached to conversation "
            f"{self.report['conversation_id']}.",
        )
        return self.report

    # -- stages --------------------------------------------------------------------------
    def _train(self) -> str:
        from tuiapp.training import DataSource, TrainRequest

        req = self.request
        self._event("train", 0.0, f"Training {req.method} on '{req.set_name}'…")
        trained = steps.train(
            self.db,
            TrainRequest(
                req.method,
                DataSource.examples(req.set_name),
                req.model,
                dict(req.options),
                req.out_name,
            ),
            self.current,
            lambda fraction, message, event: self._event("train", fraction, message, event),
            started=lambda run_id: self._update(run_id=run_id),
        )
        self.report["train"] = trained.to_dict()
        self._update(adapter=trained.adapter, report=self.report, stage="convert")
        return trained.adapter

    def _convert(self, name: str) -> None:
        self._event("convert", 0.0, f"Converting '{name}' to a GGUF adapter…")
        self.report["convert"] = steps.convert(
            self.db,
            name,
            self.current,
            lambda fraction, message, event: self._event("convert", fraction, message, event),
            self.request.parity,
            self.request.threads,
        )
        self._update(report=self.report, stage="evaluate")

    def _evaluate(self, template: "Template", adapter: str) -> None:
        from tuiapp.adapt.curve import CurveJob, CurveRequest
        from tuiapp.evaluation.compare import compare, verdicts
        from tuiapp.evaluation.evaluate import EvalOptions, EvalStore, run_eval
        from tuiapp.library.examples import ExampleStore

        req = self.request
        if self.skip_compare:
            self.report["eval"] = {"run_ids": [], "table": [], "skipped": self.skip_compare}
            self._event("evaluate", 1.0, self.skip_compare)
            self._update(report=self.report, stage="attach")
            return
        service = self._service(adapter)
        # The prompting baseline: zero-shot and k-shot, with k the best of a quick sweep
        # unless --shots fixes it (the sweep picks k on these rows: the strongest prompting).
        ks = [0, *SWEEP] if req.shots is None else [0, req.shots]
        sweep = CurveJob(
            self.db,
            CurveRequest(req.set_name, ks=ks, ns=[], selector=req.selector, limit=req.limit),
            service,
            self.current,
        )
        share = len(ks) / (len(ks) + 1)
        baseline = sweep.run(
            lambda e: self._event("evaluate", e.fraction * share, f"Evaluating {e.message}")
        )
        if self.cancelled:
            raise AdaptCancelled("Cancelled while evaluating the prompting baseline.")
        zero = next(p for p in baseline.points if p.size == 0)
        best = baseline.best("few", min_size=1)
        if zero.run_id is None or best is None or best.run_id is None:
            failed = [p.describe() for p in baseline.points if p.status == "failed"]
            raise AdaptFailed("the prompting baseline failed: " + "; ".join(failed))
        store, examples = ExampleStore(self.db), EvalStore(self.db)

        def progress(done: int, total: int, _eta: float | None) -> None:
            message = f"Evaluating adapter {adapter}: {done}/{total} rows"
            fraction = share + (1 - share) * done / max(1, total)
            self._event("evaluate", fraction, message, {"done": done, "total": total})

        tuned = run_eval(
            self.db,
            service.engine,
            service.require_model(),
            template,
            store.get_set(req.set_name),
            store.examples(req.set_name),
            EvalOptions(mode="adapter", adapter=adapter, shots=0, limit=req.limit),
            progress=progress,
            cancel=self.current.cancelled,
        )
        if self.cancelled:
            raise AdaptCancelled(f"Cancelled while evaluating adapter {adapter}.")
        runs = [examples.get(zero.run_id), examples.get(best.run_id), tuned]
        self.report["eval"] = {
            "run_ids": [r.id for r in runs],
            "table": compare(runs, examples),
            "verdicts": verdicts(runs, examples),
            "shots": best.size,
            "sweep": [p.to_dict() for p in baseline.points if p.size] if req.shots is None else [],
        }
        self._update(report=self.report, stage="attach")

    def _attach(self, adapter: str) -> None:
        service = self._service(adapter)
        if self.request.conversation_id is None:
            title = f"{adapter} · adapted on {self.request.set_name}"
            conv_id = service.history.new_conversation(title, model=service.require_model().name).id
            where = f"a new conversation ({conv_id})"
        else:
            conv_id = self.request.conversation_id
            where = f"conversation {conv_id}"
        service.set_adapters(conv_id, [(adapter, 1.0)])
        self.report["conversation_id"] = conv_id
        self._update(conversation_id=conv_id, report=self.report)
        self._event("attach", 1.0, f"Attached '{adapter}' to {where}.")

    # -- helpers -------------------------------------------------------------------------
    def _service(self, adapter: str) -> "ChatService":
        """The chat service with the adapter's base loaded (the caller's, or a new one)."""
        from tuiapp.chat.service import ChatService
        from tuiapp.conversion.jobs import base_gguf_for
        from tuiapp.training.store import AdapterStore

        record = AdapterStore(self.db).get_adapter(adapter)
        if self.service is not None and self.service.active is not None:
            if self.service.active.info.sha256 == record.base_sha256:
                return self.service
            raise AdaptFailed(
                "The chat model changed while training; pick the base model "
                "again to evaluate the adapter."
            )
        service = ChatService.open(self.db, n_threads=self.request.threads)
        base = base_gguf_for(self.db, record)
        self._event("evaluate", 0.0, f"Loading {base.name}…")
        service.load(str(base))
        self.service = service
        return service

    def _event(
        self,
        stage: Stage,
        stage_fraction: float | None,
        message: str,
        detail: dict[str, Any] | None = None,
    ) -> None:
        low, high = STAGES[stage]
        fraction = low if stage_fraction is None else low + (high - low) * stage_fraction
        self._fraction = min(1.0, max(self._fraction, fraction))  # one bar: never backwards
        self._emit(AdaptEvent(stage, self._fraction, message, detail or {}))

    def _create(self) -> None:
        self.id = self.jobs.create(self.request, self.report)
        self.report["id"] = self.id

    def _update(self, **changes: Any) -> None:
        assert self.id is not None, "the job is stored before any stage runs"
        self.jobs.update(self.id, **changes)

    def _end(self, status: Status, stage: Stage, error: str | None, started: float) -> None:
        assert self.id is not None
        self.report.update(
            status=status, error=error, seconds=round(time.perf_counter() - started, 1)
        )
        self.jobs.end(self.id, status, stage, error, self.report)
