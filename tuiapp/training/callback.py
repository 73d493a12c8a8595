"""The bridge from the transformers Trainer to our events, and cooperative cancellation.

``EventCallback`` turns Trainer hooks into ``step``/``eval``/``checkpoint`` events. Cancellation
is a flag set by the SIGTERM/SIGINT handler; the callback sees it at the end of the current step
and asks the Trainer to save a checkpoint and stop, so a cancelled run can be resumed.
"""

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from transformers import TrainerCallback

from tuiapp.training.cancel import CancelFlag


class EventCallback(TrainerCallback):
    def __init__(
        self,
        emit: Callable[..., Any],
        cancel: CancelFlag,
        on_progress: Callable[[int, int], object] | None = None,
    ) -> None:
        self.emit = emit
        self.cancel = cancel
        self.on_progress = on_progress  # (step, max_steps) at the start and at each checkpoint
        self.start_time = 0.0
        self.start_step = 0
        self.start_tokens = 0
        self.state_tokens = 0
        self.losses: list[float] = []
        self.started: dict[str, Any] = {}  # fields of the `started` event, set by the runner

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.start_time = time.perf_counter()
        self.start_step = state.global_step  # > 0 when resuming
        self.start_tokens = self.state_tokens = state.num_input_tokens_seen or 0
        self.emit(
            "started",
            max_steps=state.max_steps,
            resumed_from=state.global_step or None,
            **self.started,
        )
        if self.on_progress is not None:
            self.on_progress(state.global_step, state.max_steps)

    def tokens_per_second(self) -> float:
        """Non-padding tokens per second over this process's part of the run."""
        elapsed = time.perf_counter() - self.start_time
        tokens = (self.state_tokens or 0) - self.start_tokens
        return round(tokens / elapsed, 1) if elapsed > 0 else 0.0

    def on_log(
        self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None, **kwargs: Any
    ) -> None:
        if not logs or "loss" not in logs:
            return  # eval metrics come through on_evaluate; the summary at the end is ours
        elapsed = max(time.perf_counter() - self.start_time, 1e-9)
        done = state.global_step - self.start_step
        tokens = (state.num_input_tokens_seen or 0) - self.start_tokens
        left = state.max_steps - state.global_step
        self.losses.append(float(logs["loss"]))
        self.state_tokens = state.num_input_tokens_seen
        self.emit(
            "step",
            step=state.global_step,
            max_steps=state.max_steps,
            loss=float(logs["loss"]),
            learning_rate=float(logs.get("learning_rate", 0.0)),
            tokens=state.num_input_tokens_seen or 0,  # non-padding tokens so far, in total
            tokens_per_second=round(tokens / elapsed, 1),
            eta_seconds=round(elapsed / done * left, 1) if done else None,
            epoch=round(float(logs.get("epoch") or 0.0), 4),
        )

    def on_evaluate(
        self,
        args: Any,
        state: Any,
        control: Any,
        metrics: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        if metrics and "eval_loss" in metrics:
            self.emit("eval", step=state.global_step, eval_loss=float(metrics["eval_loss"]))

    def on_save(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        path = Path(args.output_dir) / f"checkpoint-{state.global_step}"
        self.emit("checkpoint", step=state.global_step, path=str(path))
        if self.on_progress is not None:
            self.on_progress(state.global_step, state.max_steps)

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> Any:
        if self.cancel.requested:
            control.should_save = True  # a checkpoint to resume from
            control.should_training_stop = True
        return control
