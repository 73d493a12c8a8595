"""Test helper: a registered adapter for a base GGUF without training one.

The PEFT directory is real (random LoRA A/B, ``tuiapp.conversion.synthetic``), registered through
the same ``finish_run`` step training uses; with ``convert=True`` it is also converted to a GGUF
adapter by the real converter (no parity check) and the export kept on its record.
"""

from pathlib import Path
from typing import Any

from tuiapp.training.store import Adapter, AdapterStore, Run, adapters_dir, runs_dir


def register_adapter(
    db: Any,
    base: Path,
    name: str,
    *,
    convert: bool = True,
    seed: int = 0,
    rank: int = 4,
    std: float = 0.05,
    base_sha256: str | None = None,
    set_name: str = "sentiment",
) -> Adapter:
    from tuiapp.chat.models import ModelRegistry
    from tuiapp.conversion import convert_lora
    from tuiapp.conversion.synthetic import write_peft_lora

    sha = base_sha256 or ModelRegistry(db).info(base).sha256 or ""
    store = AdapterStore(db)
    run = store.create_run(
        Run(
            method="lora",
            model=str(base),
            base_path=str(base),
            base_sha256=sha,
            architecture="gemma3",
            source=f"examples:{set_name}",
            out_name=name,
            run_dir=str(runs_dir() / name),
        )
    )
    staged = adapters_dir() / f".staged-{name}"
    write_peft_lora(base, staged, rank=rank, alpha=2.0 * rank, std=std, seed=seed)
    final = adapters_dir() / name
    adapter = store.finish_run(
        run.id,
        staged,
        Adapter(
            name=name,
            run_id=run.id,
            method="lora",
            base_model=str(base),
            base_sha256=sha,
            architecture="gemma3",
            path=str(final),
            options={"r": rank},
            metrics={"eval_loss": 1.5},
        ),
    )
    if convert:
        out = adapter.exports_dir / f"{name}-f32.gguf"
        out.parent.mkdir(parents=True, exist_ok=True)
        result = convert_lora(final, base, out, "f32", architecture="gemma3", base_sha256=sha)
        adapter = store.record_export(
            name,
            "adapter",
            {
                "kind": "adapter",
                "path": result.path,
                "conversion": result.to_dict(),
                "parity": None,
            },
        )
    return adapter
