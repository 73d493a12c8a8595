"""The parent side of conversion: run ``python -m tuiapp.conversion`` for a registered adapter.

Typical use (CLI, the adapters screen, one-click ``adapt``)::

    job = start_export(db, "my-adapter", "adapter")   # or "merge", options={"quant": "Q4_K_M"}
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
from tuiapp.plugins.exporters import Exporter
from tuiapp.training.store import Adapter, AdapterStore

ExportKind = Literal["adapter", "merge"]  # the hot-swap file, or a merged model
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


def pick_exporter(adapter: Adapter, kind: ExportKind) -> Exporter:
    """The exporter of ``adapter``'s method for ``kind``; BadInput naming what works instead."""
    reach = adapter.reach
    if kind not in KINDS:
        raise BadInput(f"Unknown export {kind!r}: use adapter or merge.")
    chosen = reach.hot_swap if kind == "adapter" else reach.merge
    if chosen is not None:
        return chosen
    if not reach.installed:
        raise BadInput(f"Adapter '{adapter.name}' cannot be exported: {reach.hint(adapter.name)}.")
    other = reach.merge if kind == "adapter" else reach.hot_swap
    form = "hot-swappable file" if kind == "adapter" else "merged model"
    instead = f" {other_command(other, adapter.name)}" if other is not None else ""
    raise BadInput(
        f"{adapter.method} adapters have no {form}: no exporter of the method makes one.{instead}"
    )


def other_command(exporter: Exporter, name: str) -> str:
    if exporter.hot_swap:
        return f"Convert it instead: `tuiapp adapters convert {name}`."
    return f"Export a merged model instead: `tuiapp adapters merge {name}`."


def conversion_refusal(adapter: Adapter, exporter: Exporter) -> str | None:
    """Why ``exporter`` cannot take ``adapter``, before any work starts (its own refusal, with
    the method's other export offered when that one can)."""
    if not Path(adapter.path).is_dir():
        return f"The files of adapter '{adapter.name}' are missing ({adapter.path})."
    if exporter.refusal is None:
        return None
    why = exporter.refusal(Path(adapter.path), adapter.method)
    if why is None:
        return None
    reach = adapter.reach
    other = reach.merge if exporter.hot_swap else reach.hot_swap
    if other is not None and other.refusal is not None:
        if other.refusal(Path(adapter.path), adapter.method) is None:
            why += " " + other_command(other, adapter.name)
    return why


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
    options: dict[str, Any] | None = None,
    parity: bool = True,
    threads: int | None = None,
) -> ExportJob:
    """Check the adapter, its exporter's options and its base, then start the conversion child.

    ``kind`` picks the method's exporter (``adapter``: its hot-swap file, ``merge``: a merged
    model); ``options`` are that exporter's (``{"outtype": "f16"}``, ``{"quant": "Q4_K_M"}``).
    """
    from tuiapp.plugins.methods import validate_options

    store = AdapterStore(db)
    adapter = store.get_adapter(name)
    exporter = pick_exporter(adapter, kind)
    why = conversion_refusal(adapter, exporter)
    if why:
        raise BadInput(why)
    given = {
        k: (v.upper() if k == "quant" and isinstance(v, str) else v)
        for k, v in (options or {}).items()
    }
    values = validate_options(exporter.options, given, f"exporter '{exporter.name}'")
    base = base_gguf_for(db, adapter)
    key = exporter.export_key(values)
    out_dir = adapter.exports_dir
    out_dir.mkdir(parents=True, exist_ok=True)
    out = out_dir / exporter.file_name(adapter.name, values)
    cmd = [
        sys.executable,
        "-m",
        "tuiapp.conversion",
        exporter.name,
        adapter.path,
        str(base),
        str(out),
        "--method",
        adapter.method,
        "--arch",
        adapter.architecture,
        "--base-sha256",
        adapter.base_sha256,
    ]
    for option, value in values.items():
        cmd += ["--opt", f"{option}={str(value).lower() if isinstance(value, bool) else value}"]
    if not parity:
        cmd.append("--no-parity")
    if threads:
        cmd += ["--threads", str(threads)]
    log = out_dir / "convert.log"
    process = spawn(cmd, log)
    return ExportJob(store, adapter, key, out, process, log)
