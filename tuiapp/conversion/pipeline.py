"""Convert, then check: the two exports as the app runs them (principle 4, every conversion is
checked). Each returns an ``Export`` whose ``to_dict()`` is what the adapter record keeps."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from tuiapp.conversion.lora_gguf import convert_lora
from tuiapp.conversion.merge import merge_export
from tuiapp.conversion.parity import DEFAULT_PROMPTS, check_parity

Progress = Callable[[str, float], None]


@dataclass
class Export:
    kind: Literal["adapter", "merged"]  # a GGUF LoRA adapter, or a full GGUF
    path: str
    conversion: dict[str, Any]  # ConversionResult / MergeResult as a dict
    parity: dict[str, Any] | None  # ParityReport as a dict; None when the check was skipped

    @property
    def parity_passed(self) -> bool | None:
        return None if self.parity is None else bool(self.parity["passed"])

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "path": self.path,
            "conversion": self.conversion,
            "parity": self.parity,
        }


def export_adapter(
    adapter_dir: str | Path,
    base_gguf: str | Path,
    out_path: str | Path,
    *,
    outtype: str = "f32",
    parity: bool = True,
    prompts: Sequence[str] = DEFAULT_PROMPTS,
    architecture: str | None = None,
    base_sha256: str | None = None,
    reference: Any = None,
    n_threads: int | None = None,
    progress: Progress | None = None,
) -> Export:
    """PEFT LoRA -> GGUF adapter, then the parity check against transformers + PEFT."""
    report = progress or (lambda _stage, _fraction: None)
    report("Converting the adapter to GGUF", 0.0)
    result = convert_lora(
        adapter_dir,
        base_gguf,
        out_path,
        outtype,
        architecture=architecture,
        base_sha256=base_sha256,
    )
    checks = _ParityArgs(parity, prompts, reference, n_threads, base_sha256)
    return _checked("adapter", result, adapter_dir, base_gguf, checks, _scaled(report, 0.1, 1.0))


def export_merged(
    adapter_dir: str | Path,
    base_gguf: str | Path,
    out_path: str | Path,
    *,
    quant: str = "Q4_K_M",
    parity: bool = True,
    prompts: Sequence[str] = DEFAULT_PROMPTS,
    architecture: str | None = None,
    base_sha256: str | None = None,
    reference: Any = None,
    n_threads: int | None = None,
    progress: Progress | None = None,
) -> Export:
    """Merge + requantize, then the parity check of the merged GGUF."""
    report = progress or (lambda _stage, _fraction: None)
    result = merge_export(
        adapter_dir,
        base_gguf,
        out_path,
        quant,
        architecture=architecture,
        n_threads=n_threads,
        progress=_scaled(report, 0.0, 0.5),
    )
    checks = _ParityArgs(parity, prompts, reference, n_threads, base_sha256)
    return _checked("merged", result, adapter_dir, base_gguf, checks, _scaled(report, 0.5, 1.0))


@dataclass
class _ParityArgs:
    enabled: bool
    prompts: Sequence[str]
    reference: Any
    n_threads: int | None
    base_sha256: str | None


def _checked(
    kind: Literal["adapter", "merged"],
    result: Any,
    adapter_dir: str | Path,
    base_gguf: str | Path,
    checks: _ParityArgs,
    progress: Progress,
) -> Export:
    """The parity check of a finished conversion (unless disabled), packed as an ``Export``."""
    report = None
    if checks.enabled:
        report = check_parity(
            base_gguf,
            adapter_dir,
            result.path,
            merged=kind == "merged",
            prompts=checks.prompts,
            reference=checks.reference,
            n_threads=checks.n_threads,
            base_sha256=checks.base_sha256,
            progress=progress,
        ).to_dict()
    progress("Done", 1.0)
    return Export(kind, result.path, result.to_dict(), report)


def _scaled(report: Progress, low: float, high: float) -> Progress:
    return lambda stage, fraction: report(stage, low + (high - low) * fraction)
