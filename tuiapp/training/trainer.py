"""The transformers Trainer as we use it: completion-only loss without full-vocabulary logits.

A causal LM computes logits over the whole vocabulary at every position; with Gemma's 262k
tokens that output layer is most of the compute and memory of a small model. The loss only
needs positions whose next token is a completion token, so ``CompletionTrainer`` asks the model
for those positions alone (``logits_to_keep`` with an index tensor) and computes the same
cross-entropy the model would. Prompt-learning methods (virtual tokens shift the positions) and
models without ``logits_to_keep`` take the stock path.
"""

import inspect
from typing import Any

import torch
from transformers import Trainer, TrainingArguments

from tuiapp.training.batches import IGNORE


def training_arguments(
    train: dict[str, Any], output_dir: str, cuda: bool, bf16: bool, has_eval: bool
) -> TrainingArguments:
    """Our training options -> TrainingArguments (accelerate reads the rest from its launcher)."""
    eval_every = train["eval_every"] if has_eval else 0
    # transformers 5 renamed gradient_checkpointing (the old name still works, with a warning)
    checkpointing = (
        "activation_checkpointing"
        if "activation_checkpointing" in TrainingArguments.__dataclass_fields__
        else "gradient_checkpointing"
    )
    return TrainingArguments(
        **{checkpointing: train["gradient_checkpointing"]},
        output_dir=output_dir,
        max_steps=train["max_steps"] or -1,
        num_train_epochs=train["epochs"],
        per_device_train_batch_size=train["batch_size"],
        per_device_eval_batch_size=train["batch_size"],
        gradient_accumulation_steps=train["grad_accum"],
        learning_rate=train["learning_rate"],
        lr_scheduler_type=train["lr_scheduler"],
        warmup_steps=train["warmup_ratio"],  # a float below 1 is a ratio of the total steps
        weight_decay=train["weight_decay"],
        seed=train["seed"],
        logging_steps=1,
        save_strategy="steps",
        save_steps=train["save_every"],
        save_total_limit=2,
        eval_strategy="steps" if eval_every else "no",
        eval_steps=eval_every or None,
        prediction_loss_only=True,
        bf16=bf16,
        use_cpu=not cuda,
        report_to=[],
        disable_tqdm=True,
        remove_unused_columns=False,
        include_num_input_tokens_seen="non_padding",
        dataloader_pin_memory=cuda,
    )


class CompletionTrainer(Trainer):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fast_loss = _supports_fast_loss(self.model)

    def compute_loss(
        self,
        model: Any,
        inputs: dict[str, Any],
        return_outputs: bool = False,
        num_items_in_batch: Any = None,
    ) -> Any:
        if not self.fast_loss:
            return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
        targets = inputs["labels"][:, 1:]  # position t predicts token t+1
        keep = (targets != IGNORE).any(dim=0).nonzero().squeeze(1)
        outputs = model(
            input_ids=inputs["input_ids"],
            attention_mask=inputs["attention_mask"],
            logits_to_keep=keep,
        )
        logits = outputs.logits.float()
        wanted = targets[:, keep]
        total = torch.nn.functional.cross_entropy(
            logits.reshape(-1, logits.size(-1)),
            wanted.reshape(-1),
            ignore_index=IGNORE,
            reduction="sum",
        )
        if num_items_in_batch is None:  # the Trainer then divides by grad_accum itself
            loss = total / (wanted != IGNORE).sum().clamp(min=1)
        else:  # normalised over the whole accumulated batch, as the model's own loss would be
            loss = total / num_items_in_batch
            if self.args.average_tokens_across_devices and self.args.world_size > 1:
                loss = loss * self.accelerator.num_processes
        return (loss, {"loss": loss}) if return_outputs else loss


def _supports_fast_loss(model: Any) -> bool:
    config = getattr(model, "peft_config", {}).get("default")
    if config is not None and getattr(config, "is_prompt_learning", False):
        return False
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    return "logits_to_keep" in inspect.signature(base.forward).parameters
