"""The training options every method shares (``--opt`` on the CLI, the training form in the TUI).

A method may change their defaults (``Method.training_defaults``) but not add options of these
names: its own options live beside them in one namespace.
"""

from tuiapp.plugins.methods import Option

TRAINING_OPTIONS: tuple[Option, ...] = (
    Option(
        "max_steps",
        "int",
        0,
        "Optimizer steps to run; 0: run `epochs` over the data.",
        min=0,
        max=10_000_000,
    ),
    Option(
        "epochs",
        "float",
        3.0,
        "Passes over the training rows (when max_steps is 0).",
        min=0.01,
        max=1000,
    ),
    Option(
        "learning_rate",
        "float",
        3e-4,
        "Peak learning rate (each method sets its own default).",
        min=1e-8,
        max=1.0,
    ),
    Option("batch_size", "int", 4, "Rows per step on each device.", min=1, max=4096),
    Option(
        "grad_accum",
        "int",
        1,
        "Steps whose gradients are summed before an update "
        "(effective batch = batch_size x grad_accum).",
        min=1,
        max=4096,
    ),
    Option(
        "max_seq_len",
        "int",
        512,
        "Tokens per row; longer rows are cut (and counted).",
        min=8,
        max=1_048_576,
    ),
    Option(
        "warmup_ratio",
        "float",
        0.03,
        "Fraction of the steps spent warming the learning rate up.",
        min=0.0,
        max=0.5,
    ),
    Option(
        "lr_scheduler",
        "choice",
        "linear",
        "How the learning rate decays after warm-up.",
        choices=("linear", "cosine", "constant_with_warmup"),
    ),
    Option(
        "weight_decay",
        "float",
        0.0,
        "AdamW weight decay on the adapter's weights.",
        min=0.0,
        max=1.0,
    ),
    Option(
        "eval_every",
        "int",
        0,
        "Evaluate on the validation rows every N steps (0: only at the end).",
        min=0,
        max=10_000_000,
    ),
    Option(
        "save_every",
        "int",
        50,
        "Write a checkpoint every N steps (cancel always writes one).",
        min=1,
        max=10_000_000,
    ),
    Option(
        "val_fraction",
        "float",
        0.1,
        "Share of rows held out for validation when the data has no stored held-out split.",
        min=0.0,
        max=0.5,
    ),
    Option(
        "gradient_checkpointing",
        "bool",
        False,
        "Recompute activations in the backward pass: less memory, slower.",
    ),
    Option(
        "seed", "int", 0, "Seed for shuffling, dropout and initialisation.", min=0, max=2**31 - 1
    ),
    Option("threads", "int", 0, "CPU threads for torch (0: torch's default).", min=0, max=1024),
)
TRAINING_NAMES = {o.name for o in TRAINING_OPTIONS}
