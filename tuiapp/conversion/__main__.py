"""The conversion child process (ARCHITECTURE.md principle 1: heavy work runs outside the UI).

    python -m tuiapp.conversion EXPORTER ADAPTER_DIR BASE_GGUF OUT [--method M] [--opt k=v ...]

EXPORTER is a registered exporter (``gguf-lora``, ``merged``, ``soft-prompt`` or a plugin's);
``--opt`` sets its options (``outtype=f16``, ``quant=Q4_K_M``). ``--method`` names the method
that trained the adapter (its ``load`` runs the transformers side of the parity check; default:
PEFT). Other options: ``--no-parity``, ``--prompts FILE`` (JSON list of held prompts), ``--arch``,
``--base-sha256``, ``--threads``. Writes one JSON object per line on stdout:

* ``progress`` — ``stage`` (words for a person), ``fraction`` (0..1).
* ``finished`` — ``export``: ``Export.to_dict()`` (the conversion, and the parity report whose
  ``passed`` / ``warning`` the caller must show). Terminal.
* ``failed``   — ``error`` (one line for a person), ``kind`` (the error class). Terminal.

Exit status: 0 finished (even when parity failed: read the report), 1 failed, 2 bad input,
130 cancelled (SIGTERM/SIGINT; no partial file is left behind).
"""

import argparse
import json
import signal
import sys
import time
from pathlib import Path
from typing import Any

from tuiapp.children import outlive_parent
from tuiapp.errors import TuiappError


def emit(event: str, **fields: Any) -> None:
    line = json.dumps({"event": event, "time": round(time.time(), 3), **fields}, default=str)
    try:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()
    except (BrokenPipeError, OSError, ValueError):
        pass  # the parent went away; finish the work anyway


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tuiapp.conversion")
    parser.add_argument("exporter")
    parser.add_argument("adapter_dir", type=Path)
    parser.add_argument("base", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--method")
    parser.add_argument("--opt", action="append", default=[], help="an exporter option, k=v")
    parser.add_argument("--no-parity", action="store_true")
    parser.add_argument("--prompts", type=Path, help="JSON file: a list of held prompts")
    parser.add_argument("--arch", help="the architecture the adapter was trained on")
    parser.add_argument("--base-sha256")
    parser.add_argument("--threads", type=int)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    outlive_parent()

    def cancel(_signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt  # unwinds through the finally blocks that remove temp files

    signal.signal(signal.SIGTERM, cancel)
    from tuiapp.conversion.parity import DEFAULT_PROMPTS
    from tuiapp.conversion.pipeline import run_export
    from tuiapp.plugins.exporters import ExportRequest
    from tuiapp.plugins.manager import load_methods
    from tuiapp.plugins.methods import parse_assignments, validate_options

    try:
        registry = load_methods()
        exporter = registry.exporter(args.exporter)
        method = registry.get(args.method) if args.method else None
        options = validate_options(
            exporter.options, parse_assignments(args.opt), f"exporter '{exporter.name}'"
        )
        request = ExportRequest(
            adapter_dir=args.adapter_dir,
            base_gguf=args.base,
            out_path=args.out,
            options=options,
            method=args.method or "",
            architecture=args.arch,
            base_sha256=args.base_sha256,
            n_threads=args.threads,
            progress=lambda stage, fraction: emit(
                "progress", stage=stage, fraction=round(fraction, 4)
            ),
        )
        prompts = json.loads(args.prompts.read_text()) if args.prompts else DEFAULT_PROMPTS
        export = run_export(
            exporter,
            request,
            method=method if method is not None and method.load is not None else None,
            parity=not args.no_parity,
            prompts=prompts,
        )
    except KeyboardInterrupt:
        emit("failed", error="Cancelled.", kind="Cancelled")
        return 130
    except TuiappError as exc:
        emit("failed", error=str(exc), kind=type(exc).__name__)
        return exc.exit_code
    except Exception as exc:  # one readable line for the parent; the traceback for the log
        import traceback

        traceback.print_exc(file=sys.stderr)
        emit("failed", error=f"Conversion failed: {exc}", kind=type(exc).__name__)
        return 1
    emit("finished", export=export.to_dict())
    return 0


if __name__ == "__main__":
    sys.exit(main())
