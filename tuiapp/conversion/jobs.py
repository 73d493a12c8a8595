"""The parent side of conversion: run ``python -m tuiapp.conversion`` for a registered adapter.

Typical use (CLI, the adapters screen, one-click ``adapt``)::

    job = start_export(db, "my-adapter", "adapter")          # or "merge", quant="Q8_0"
    for event in job.events():   # progress ... then one finished | failed event
        ...
    job.export                    # the stored Export dict (parity report included)

The child gets the architecture and base sha256 from the adapter's record, so a GGUF adapter
carries the base it belongs to (the engine refuses it on any other). A finished conversion is
kept on the adapter record (``exports``), parity report included, whether parity passed or not:
the caller must show ``parity_warning(export)``. Nothing here imports torch or llama_cpp.
"""

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import sqlite_utils

from tuiapp.children import ChildJob, spawn
from tuiapp.errors import BadInput, NotFound, TuiappError, one_of
from tuiapp.training.store import Adapter, AdapterStore

ExportKind = Literal["adapter", "merge"]  # a GGUF LoRA adapter, or the merged, requantized model
KINDS: tuple[ExportKind, ...] = ("adapter", "merge")


def as_export_kind(value: str) -> ExportKind:
    return one_of(value, KINDS, "export")


class ConversionFailed(TuiappError):
    exit_code = 1


def base_gguf_for(db: sqlite_utils.Database, adapter: Adapter) -> Path:
    """The GGUF the adapter was trained on: its run's base file, or any registered model with
    the same sha256. A different file is never substituted."""
    from tuiapp.chat.models import ModelRegistry

    registry = ModelRegistry(db)
    candidates: list[Path] = []
    try:
        run = AdapterStore(db).get_run(adapter.run_id)
        candidates.append(Path(run.base_path))
    except NotFound:
        pass
    try:
        candidates.append(registry.resolve(adapter.base_model))
    except TuiappError:
        pass
    candidates += [entry.path for entry in registry.list() if entry.exists]
    for path in candidates:
        if path.suffix != ".gguf" or not path.is_file():
            continue
        try:
            if registry.info(path).sha256 == adapter.base_sha256:
                return path
        except TuiappError:
            continue
    raise NotFound(
        f"The base model of adapter '{adapter.name}' ({adapter.base_model}, sha256 "
        f"{adapter.base_sha256[:12]}…) is not available as a GGUF file; "
        "add it with `tuiapp models add PATH`."
    )


def conversion_refusal(adapter: Adapter, kind: ExportKind) -> str | None:
    """Why ``adapter`` cannot be exported as ``kind``, before any work starts."""
    if kind not in KINDS:
        return f"Unknown export {kind!r}: use adapter or merge."
    if not Path(adapter.path).is_dir():
        return f"The files of adapter '{adapter.name}' are missing ({adapter.path})."
    from tuiapp.conversion.peft_files import adapter_refusal, merge_refusal, read_peft_adapter

    try:
        peft = read_peft_adapter(adapter.path)
        why = adapter_refusal(peft) if kind == "adapter" else merge_refusal(peft)
    except TuiappError as exc:
        return str(exc)
    if why and kind == "adapter" and adapter.mergeable:
        why += f" Export a merged model instead: `tuiapp adapters merge {adapter.name}`."
    return why


def export_key(kind: ExportKind, quant: str) -> str:
    return "adapter" if kind == "adapter" else f"merged-{quant.upper()}"


def parity_warning(export: dict[str, Any]) -> str | None:
    """One loud line when the parity check failed or was skipped; None when it passed."""
    parity = export.get("parity")
    if parity is None:
        return "The parity check was skipped: this export is unchecked."
    if parity.get("passed"):
        return None
    return parity.get("warning") or (
        f"PARITY CHECK FAILED: the export does not match the trained adapter (KL "
        f"{parity.get('kl_mean', float('nan')):.4g}, top-1 agreement "
        f"{parity.get('top1_agreement', float('nan')):.1%})."
    )


class ExportJob(ChildJob):
    """One conversion child. ``events()`` is read by one thread; ``cancel()`` from any."""

    what = "conversion process"

    def __init__(
        self,
        store: AdapterStore,
        adapter: Adapter,
        key: str,
        out: Path,
        process: subprocess.Popen[str],
        log: Path,
    ) -> None:
        super().__init__(process, log)
        self.store = store
        self.adapter = adapter
        self.key = key
        self.out = out
        self.export: dict[str, Any] | None = None
        self.error: str | None = None

    def events(self) -> Iterator[dict[str, Any]]:
        """Progress events, then exactly one ``finished`` or ``failed`` (after storing)."""
        terminal: dict[str, Any] | None = None
        for event in self.read():
            if event["event"] in ("finished", "failed"):
                terminal = event
                continue
            yield event
        if terminal is None:
            why = "Cancelled." if self.cancelled.is_set() else self.lost_message()
            terminal = {"event": "failed", "error": why, "kind": "Lost"}
        if terminal["event"] == "finished":
            stored = self.store.record_export(self.adapter.name, self.key, terminal["export"])
            self.export = stored.exports[self.key]
            terminal = terminal | {"export": self.export, "warning": parity_warning(self.export)}
        else:
            self.error = terminal.get("error") or "The conversion failed."
        yield terminal

    def wait(self) -> dict[str, Any]:
        """Run to the end; the stored export, or ConversionFailed."""
        for _ in self.events():
            pass
        if self.export is None:
            raise ConversionFailed(self.error or "The conversion failed.")
        return self.export


def start_export(
    db: sqlite_utils.Database,
    name: str,
    kind: ExportKind = "adapter",
    *,
    outtype: str = "f32",
    quant: str = "Q4_K_M",
    parity: bool = True,
    threads: int | None = None,
) -> ExportJob:
    """Check the adapter and its base, then start the conversion child."""
    store = AdapterStore(db)
    adapter = store.get_adapter(name)
    why = conversion_refusal(adapter, kind)
    if why:
        raise BadInput(why)
    if kind == "merge":
        from tuiapp.conversion.merge import QUANT_TYPES

        if quant.upper() not in QUANT_TYPES:
            raise BadInput(f"Unknown quantization {quant!r}: use one of {', '.join(QUANT_TYPES)}.")
    if outtype not in ("f32", "f16"):
        raise BadInput(f"Unknown adapter type {outtype!r}: use f32 or f16.")
    base = base_gguf_for(db, adapter)
    key = export_key(kind, quant)
    out_dir = adapter.exports_dir
    out_dir.mkdir(parents=True, exist_ok=True)
    out = out_dir / (
        f"{adapter.name}-{outtype}.gguf"
        if kind == "adapter"
        else f"{adapter.name}-{quant.upper()}.gguf"
    )
    cmd = [
        sys.executable,
        "-m",
        "tuiapp.conversion",
        kind,
        adapter.path,
        str(base),
        str(out),
        "--arch",
        adapter.architecture,
        "--base-sha256",
        adapter.base_sha256,
    ]
    cmd += ["--outtype", outtype] if kind == "adapter" else ["--quant", quant.upper()]
    if not parity:
        cmd.append("--no-parity")
    if threads:
        cmd += ["--threads", str(threads)]
    log = out_dir / "convert.log"
    process = spawn(cmd, log)
    return ExportJob(store, adapter, key, out, process, log)
