"""One training run, top to bottom. Runs in the child process (``python -m tuiapp.training``).

Phases: method and options -> device -> base model (cached dequantized GGUF) -> data -> the
method attaches its trainable modules (PEFT or its own) -> Trainer -> train or resume -> final
evaluation -> save and register in one step.
Under ``accelerate launch`` every rank runs this; only rank 0 writes events and the database.
"""

import json
import os
import shutil
import time
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import torch

from tuiapp.errors import TuiappError
from tuiapp.plugins.manager import load_methods
from tuiapp.plugins.methods import Method, ModelContext, validate_options
from tuiapp.store import open_db
from tuiapp.training.batches import Collator, encode_all
from tuiapp.training.cache import ensure_cached, load_base
from tuiapp.training.callback import EventCallback
from tuiapp.training.cancel import CancelFlag
from tuiapp.training.checkpoints import last_complete
from tuiapp.training.config import RunConfig, training_schema
from tuiapp.training.data import read_rows
from tuiapp.training.events import Emitter
from tuiapp.training.store import Adapter, AdapterStore, adapters_dir
from tuiapp.training.trainer import CompletionTrainer, training_arguments

PROVENANCE = "tuiapp-adapter.json"  # beside the PEFT files: how this adapter was made


class TrainingError(TuiappError):
    """A run cannot go on; the message is for the user."""


def is_main_process() -> bool:
    return int(os.environ.get("RANK", "0")) == 0


def main_process_first() -> Any:
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return nullcontext()
    from accelerate import PartialState

    return PartialState().main_process_first()


def train(config: RunConfig, emit: Emitter, cancel: CancelFlag) -> str:
    """Run (or resume) ``config``; returns "done" or "cancelled". Failures raise."""
    main = is_main_process()
    store = AdapterStore(open_db()) if main else None
    if store:  # also when started by hand (accelerate launch) from a prepared run
        store.update_run(config.run_id, status="running", pid=os.getpid(), error=None)
    started = time.perf_counter()

    # -- 1. method and options (the plugin's schema is checked again in this process) --------
    method = load_methods().get(config.method)
    options = validate_options(method.options, config.method_options, f"'{method.name}'")
    train_opts = validate_options(training_schema(method), config.training, "training")

    # -- 2. device: CUDA with bf16 when present, CPU float32 otherwise -------------------------
    if train_opts["threads"]:
        torch.set_num_threads(train_opts["threads"])
    cuda = torch.cuda.is_available()
    if method.capabilities.needs_cuda and not cuda:
        raise TrainingError(
            f"Method '{method.name}' needs a CUDA GPU and none is available; "
            "on this machine use lora (or dora, ia3, prompt_tuning)."
        )
    bf16 = cuda and torch.cuda.is_bf16_supported()
    dtype = torch.bfloat16 if bf16 else torch.float32

    # -- 3. base model: the chat's GGUF, dequantized once and cached by sha256 -----------------
    with main_process_first():  # under accelerate launch, rank 0 builds the cache alone
        hf_dir = ensure_cached(config.base, lambda message: emit("phase", message=message))
    emit("phase", message=f"Loading {config.base.name} ({'bf16' if bf16 else 'float32'})")
    extra = method.load_kwargs(options) if method.load_kwargs else {}
    model, tokenizer = load_base(hf_dir, dtype, extra)
    if method.prepare_model is not None:
        model = method.prepare_model(model, train_opts | options)

    # -- 4. data: completion-only labels, over-long rows cut and counted -----------------------
    rows = read_rows(Path(config.data_path))
    max_len = train_opts["max_seq_len"]
    train_set, train_stats = encode_all([r for r in rows if r.split == "train"], tokenizer, max_len)
    val_set, val_stats = encode_all([r for r in rows if r.split == "heldout"], tokenizer, max_len)
    if not train_set:
        raise TrainingError("No training rows left after tokenizing (all completions empty).")

    # -- 5. the adapter, built by the method's plugin ------------------------------------------
    context = ModelContext(config.base.architecture, model.config.model_type, str(hf_dir))
    model = attach(method, model, options, context)

    # -- 6. the Trainer, with our callback turning its hooks into events -----------------------
    checkpoints = config.checkpoints_dir
    args = training_arguments(train_opts, str(checkpoints), cuda, bf16, bool(val_set))
    callback = EventCallback(
        emit,
        cancel,
        on_progress=(
            (lambda step, total: store.update_run(config.run_id, step=step, max_steps=total))
            if store
            else None
        ),
    )
    trainer = CompletionTrainer(
        model=model,
        args=args,
        train_dataset=train_set,
        eval_dataset=val_set or None,
        data_collator=Collator(tokenizer.pad_token_id, 8 if cuda else None),
        callbacks=[callback],
    )

    # -- 7. train, or resume from the last checkpoint ------------------------------------------
    resume_from = _last_complete(checkpoints) if config.resume else None
    callback.started = {
        "method": method.name,
        "device": "cuda" if cuda else "cpu",
        "dtype": str(dtype)[6:],
        "n_train": len(train_set),
        "n_val": len(val_set),
        "truncated": train_stats.truncated + val_stats.truncated,
    }
    cancel.in_loop = True
    result = trainer.train(resume_from_checkpoint=resume_from)
    cancel.in_loop = False
    state = trainer.state
    if cancel.requested and state.global_step < state.max_steps:
        last = _last_complete(checkpoints)
        if store:
            store.end_run(
                config.run_id,
                "cancelled",
                "Cancelled by the user.",
                step=state.global_step,
                max_steps=state.max_steps,
            )
        emit(
            "cancelled",
            step=state.global_step,
            checkpoint=last,
            message=f"Cancelled at step {state.global_step}/{state.max_steps}; "
            f"resume with `tuiapp runs resume {config.run_id}`.",
        )
        return "cancelled"

    # -- 8. final metrics, then save and register everything in one step -----------------------
    metrics: dict[str, Any] = {
        "train_loss": round(result.training_loss, 6),
        "first_loss": callback.losses[0] if callback.losses else None,
        "last_loss": callback.losses[-1] if callback.losses else None,
        "steps": state.global_step,
        "tokens_per_second": callback.tokens_per_second(),
        "train_seconds": round(time.perf_counter() - started, 1),
        "n_train": len(train_set),
        "n_val": len(val_set),
        "truncated": train_stats.truncated + val_stats.truncated,
        "dropped": train_stats.dropped + val_stats.dropped,
        "device": "cuda" if cuda else "cpu",
    }
    if val_set:
        metrics["eval_loss"] = round(trainer.evaluate()["eval_loss"], 6)  # emits `eval`
    staged = adapters_dir() / f".{config.out_name}.run{config.run_id}.partial"
    try:
        if method.save is None:  # PEFT: every rank, FSDP/DeepSpeed gather the weights here
            trainer.save_model(str(staged))
        elif main:
            staged.mkdir(parents=True, exist_ok=True)
            method.save(trainer.model, staged)
        if not main or store is None:
            return "done"
        (staged / "training_args.bin").unlink(missing_ok=True)  # a pickle nobody needs
        (staged / PROVENANCE).write_text(
            json.dumps(
                {
                    "method": method.name,
                    "options": options,
                    "training": train_opts,
                    "base": config.base.__dict__,
                    "dataset_hash": config.dataset_hash,
                    "source": config.source,
                    "run_id": config.run_id,
                    "metrics": metrics,
                },
                indent=2,
                default=str,
            )
        )
        adapter = store.finish_run(
            config.run_id,
            staged,
            Adapter(
                name=config.out_name,
                run_id=config.run_id,
                method=method.name,
                base_model=config.base.name,
                base_sha256=config.base.sha256,
                architecture=config.base.architecture,
                path=str(adapters_dir() / config.out_name),
                options=options,
                dataset_hash=config.dataset_hash,
                metrics=metrics,
            ),
            metrics=metrics,
            step=state.global_step,
            max_steps=state.max_steps,
        )
    finally:
        shutil.rmtree(staged, ignore_errors=True)
    shutil.rmtree(checkpoints, ignore_errors=True)  # the adapter is what remains of a done run
    emit("finished", adapter=adapter.name, path=adapter.path, metrics=metrics)
    return "done"


def attach(method: Method, model: Any, options: dict[str, Any], context: ModelContext) -> Any:
    """The base with the method's trainable modules: its own ``attach``, or PEFT's wrapper."""
    if method.attach is not None:
        return method.attach(model, options, context)
    from peft import get_peft_model

    assert method.build_config is not None  # the registry checked one of the two is given
    return get_peft_model(model, method.build_config(options, context))


def _last_complete(checkpoints: Path) -> str | None:
    """The last checkpoint written completely (a kill while saving leaves a broken one)."""
    found = last_complete(checkpoints)
    return str(found) if found is not None else None
