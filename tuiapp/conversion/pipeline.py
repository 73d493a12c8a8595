"""Export, then check: any exporter as the app runs it (principle 4, every conversion is checked).

The exporter (a plugin, ``tuiapp.plugins.exporters``) writes the file; the parity check that
follows is the same for every exporter and depends only on what it ``produces``: a hot-swap file
(GGUF LoRA or soft prompt) runs on the base in llama.cpp, a model runs alone. The transformers
side is PEFT's ``PeftModel.from_pretrained``, or the method's own ``load`` for a method that is
not a PEFT config. ``run_export`` returns an ``Export``; the adapter record keeps its
``to_dict()``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tuiapp.conversion.parity import DEFAULT_PROMPTS, check_parity

if TYPE_CHECKING:
    from tuiapp.plugins.exporters import Exporter, ExportRequest
    from tuiapp.plugins.methods import Method

Progress = Callable[[str, float], None]


@dataclass
class Export:
    kind: str  # what the exporter produces: lora | soft_prompt | model
    exporter: str
    path: str
    conversion: dict[str, Any]  # the exporter's figures (size, seconds, ...)
    parity: dict[str, Any] | None  # ParityReport as a dict; None when the check was skipped

    @property
    def parity_passed(self) -> bool | None:
        return None if self.parity is None else bool(self.parity["passed"])

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "exporter": self.exporter,
            "path": self.path,
            "conversion": self.conversion,
            "parity": self.parity,
        }


def run_export(
    exporter: Exporter,
    request: ExportRequest,
    *,
    method: Method | None = None,
    parity: bool = True,
    prompts: Sequence[str] = DEFAULT_PROMPTS,
    reference: Any = None,
) -> Export:
    """Run ``exporter`` on ``request``, then the parity check (unless disabled)."""
    from dataclasses import replace

    report = request.progress
    merged = exporter.produces == "model"
    # a merge does most of its work before the check; the other exports are quick
    split = 0.5 if merged else 0.1
    conversion = exporter.export(replace(request, progress=_scaled(report, 0.0, split)))
    out = Path(request.out_path)
    if not out.is_file():
        from tuiapp.conversion.errors import ConversionError

        raise ConversionError(
            f"The exporter '{exporter.name}' finished without writing {out.name}."
        )
    checked = None
    if parity:
        checked = check_parity(
            request.base_gguf,
            request.adapter_dir,
            out,
            merged=merged,
            prompts=prompts,
            reference=reference,
            n_threads=request.n_threads,
            base_sha256=request.base_sha256,
            load=method.load if method is not None else None,
            progress=_scaled(report, split, 1.0),
        ).to_dict()
    report("Done", 1.0)
    return Export(exporter.produces, exporter.name, str(out), dict(conversion), checked)


def _scaled(report: Progress, low: float, high: float) -> Progress:
    return lambda stage, fraction: report(stage, low + (high - low) * fraction)
