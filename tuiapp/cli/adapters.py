"""``tuiapp adapters``: the adapters training registered, their conversions and exports."""

from typing import TYPE_CHECKING, Any

import click

from tuiapp.cli.output import json_option, print_json, print_table
from tuiapp.cli.root import cli

if TYPE_CHECKING:
    from tuiapp.conversion.jobs import ExportJob


@cli.group()
def adapters() -> None:
    """Trained adapters: list, show, convert to GGUF, merge, export to Ollama, delete."""


def _store() -> Any:
    from tuiapp.store import open_db
    from tuiapp.training.store import AdapterStore

    return AdapterStore(open_db())


@adapters.command("list")
@json_option
def list_(as_json: bool) -> None:
    """List adapters, newest first."""
    found = _store().list_adapters()
    if as_json:
        print_json([a.to_dict() | {"gguf": a.gguf} for a in found])
        return
    rows = [
        {
            "name": a.name,
            "method": a.method,
            "base": a.base_model if len(a.base_model) < 40 else "…" + a.base_model[-39:],
            "export": a.export_state,
            "parity": a.parity_state,
            "eval_loss": a.metrics.get("eval_loss", ""),
            "run": a.run_id,
            "created": a.created,
        }
        for a in found
    ]
    print_table(rows, ["name", "method", "base", "export", "parity", "eval_loss", "run", "created"])


@adapters.command()
@click.argument("name")
@json_option
def show(name: str, as_json: bool) -> None:
    """Everything about one adapter: method, data, metrics, exports and their parity."""
    store = _store()
    adapter = store.get_adapter(name)
    run = store.get_run(adapter.run_id)
    if as_json:
        print_json(adapter.to_dict() | {"gguf": adapter.gguf, "source": run.source})
        return
    lines = [
        f"name        {adapter.name}",
        f"method      {adapter.method}  {_options(adapter.options)}",
        f"base        {adapter.base_model}  (sha256 {adapter.base_sha256[:16]}…, "
        f"{adapter.architecture})",
        f"data        {run.source}  ({run.n_train} train / {run.n_val} validation rows, "
        f"hash {adapter.dataset_hash[:12]})",
        f"metrics     {_options(adapter.metrics)}",
        f"files       {adapter.path}",
        f"run         {adapter.run_id}, created {adapter.created}",
    ]
    if not adapter.exports:
        lines.append(f"exports     none yet: {adapter.reach.hint(name)}")
    for key, export in sorted(adapter.exports.items()):
        lines.append(f"export      {key}: {export['path']} ({export.get('created', '')})")
        lines.append(f"            {_parity_line(export.get('parity'))}")
    click.echo("\n".join(lines))


def _options(values: dict[str, Any]) -> str:
    def fmt(v: Any) -> str:
        return f"{v:.4g}" if isinstance(v, float) else str(v)

    return ", ".join(f"{k}={fmt(v)}" for k, v in sorted(values.items())) or "-"


def _parity_line(parity: dict[str, Any] | None) -> str:
    if parity is None:
        return "parity not checked"
    verdict = "passed" if parity["passed"] else "FAILED"
    note = f"\n{parity['note']}" if parity.get("note") else ""
    return (
        f"parity {verdict}: KL {parity['kl_mean']:.2e} (threshold {parity['threshold']:.2e}, "
        f"quantization noise {parity['noise_kl_mean']:.2e}), top-1 "
        f"{parity['top1_agreement']:.1%} over {parity['positions']} positions{note}"
    )


_OPT = click.option(
    "--opt",
    "opts",
    multiple=True,
    metavar="KEY=VALUE",
    help="An option of the exporter (see `tuiapp methods exporters`).",
)
_NO_PARITY = click.option(
    "--no-parity", is_flag=True, help="Skip the parity check (not recommended)."
)
_THREADS = click.option("--threads", type=int, default=None, help="CPU threads for llama.cpp.")


@adapters.command()
@click.argument("name")
@click.option(
    "--outtype", type=click.Choice(["f32", "f16"]), default=None, help="GGUF LoRA: f32 (default)"
)
@_OPT
@_NO_PARITY
@_THREADS
@json_option
def convert(
    name: str,
    outtype: str | None,
    opts: tuple[str, ...],
    no_parity: bool,
    threads: int | None,
    as_json: bool,
) -> None:
    """Convert adapter NAME to the file the chat hot-swaps (a GGUF LoRA adapter, or a soft
    prompt for prompt tuning: whatever its method's exporter makes), then check parity."""
    _export(name, "adapter", {"outtype": outtype}, opts, no_parity, threads, as_json)


@adapters.command()
@click.argument("name")
@click.option("--quant", default=None, help="Q8_0 (default) | Q6_K | Q5_K_M | Q4_K_M | F16 | F32")
@_OPT
@_NO_PARITY
@_THREADS
@json_option
def merge(
    name: str,
    quant: str | None,
    opts: tuple[str, ...],
    no_parity: bool,
    threads: int | None,
    as_json: bool,
) -> None:
    """Merge adapter NAME into its base and write a full, requantized GGUF; check parity."""
    _export(name, "merge", {"quant": quant}, opts, no_parity, threads, as_json)


def _export(
    name: str,
    kind: str,
    shortcut: dict[str, str | None],
    opts: tuple[str, ...],
    no_parity: bool,
    threads: int | None,
    as_json: bool,
) -> None:
    from tuiapp.conversion.jobs import as_export_kind, start_export
    from tuiapp.plugins.methods import parse_assignments
    from tuiapp.store import open_db

    options: dict[str, str] = {k: v for k, v in shortcut.items() if v is not None}
    options |= parse_assignments(opts)
    job = start_export(
        open_db(),
        name,
        as_export_kind(kind),
        options=options,
        parity=not no_parity,
        threads=threads,
    )
    _follow(job, as_json)


def _follow(job: "ExportJob", as_json: bool) -> None:
    """Follow the conversion, then say where it went and how parity came out."""
    from tuiapp.cli.jobs import follow_export
    from tuiapp.conversion.jobs import parity_warning

    export = follow_export(job, as_json)
    if not as_json:
        click.echo(f"Wrote {export['path']}")
        click.echo(_parity_line(export.get("parity")))
    warning = parity_warning(export)
    if warning:
        click.secho(warning, fg="red", bold=True, err=True)


@adapters.command("export-ollama")
@click.argument("name")
@click.argument("directory", type=click.Path())
@click.option(
    "--shots",
    type=int,
    default=3,
    show_default=True,
    help="Few-shot examples from the training set, as MESSAGE lines.",
)
@click.option(
    "--link-base/--copy-base",
    default=True,
    show_default=True,
    help="Hard-link the base GGUF into DIRECTORY when possible, else copy it.",
)
@json_option
def export_ollama(name: str, directory: str, shots: int, link_base: bool, as_json: bool) -> None:
    """Write DIRECTORY with a Modelfile (base, adapter, template, parameters, examples) for
    `ollama create NAME -f DIRECTORY/Modelfile`."""
    from pathlib import Path

    from tuiapp.conversion.ollama import export_ollama as write
    from tuiapp.store import open_db

    result = write(open_db(), name, Path(directory), shots=shots, link_base=link_base)
    if as_json:
        print_json(result)
    else:
        click.echo(f"Wrote {result['modelfile']}")
        click.echo(f"Create it with:  ollama create {name} -f {result['modelfile']}")


@adapters.command()
@click.argument("name")
@click.option("-y", "--yes", is_flag=True, help="Do not ask for confirmation.")
@json_option
def delete(name: str, yes: bool, as_json: bool) -> None:
    """Unregister adapter NAME; its files move to the trash in the data dir."""
    store = _store()
    store.get_adapter(name)  # an unknown name fails before the question
    if not yes and not as_json:
        click.confirm(f"Delete adapter '{name}'?", abort=True)
    target = store.delete_adapter(name)
    if as_json:
        print_json({"deleted": name, "trash": str(target)})
    else:
        click.echo(f"Deleted '{name}'; its files are in {target}")
