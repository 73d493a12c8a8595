"""``tuiapp adapters``: the adapters that finished training runs registered."""

from tuiapp.cli import cli
from tuiapp.cli.output import json_option, print_json, print_table


@cli.group()
def adapters() -> None:
    """Trained adapters (PEFT format, bound to their base model's sha256)."""


@adapters.command("list")
@json_option
def list_(as_json: bool) -> None:
    """List adapters, newest first."""
    from tuiapp.adapters import AdapterStore
    from tuiapp.store import open_db

    found = AdapterStore(open_db()).list_adapters()
    if as_json:
        print_json([a.to_dict() for a in found])
        return
    rows = [
        {
            "name": a.name,
            "method": a.method,
            "base": a.base_model,
            "export": "gguf-adapter"
            if a.gguf_adapter_export
            else "merge"
            if a.mergeable
            else "peft",
            "eval_loss": a.metrics.get("eval_loss", ""),
            "run": a.run_id,
            "created": a.created,
        }
        for a in found
    ]
    print_table(rows, ["name", "method", "base", "export", "eval_loss", "run", "created"])
