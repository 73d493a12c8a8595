"""``tuiapp eval curve SET``: few-shot against adapters as the examples grow, and the advice."""

import json
import sys
from pathlib import Path
from typing import Any

import click

from tuiapp.cli.jobs import ctrl_c
from tuiapp.cli.output import json_option, opt_option, print_json, print_table
from tuiapp.errors import BadInput

COLUMNS = ["point", "score", "ci", "tokens_per_query", "s_per_query", "train_s", "run", "status"]


@click.command("curve")
@click.argument("set_name", metavar="SET")
@click.option(
    "--ks",
    default=None,
    help="Shots of the few-shot points, e.g. 0,1,2,4,8 "
    "(default: doubling while they fit the context).",
)
@click.option(
    "--ns",
    default=None,
    help="Train rows of the adapter points, e.g. 8,32,128 (default: 8, 16, 32, … and all).",
)
@click.option("--no-adapters", is_flag=True, help="The few-shot half only (no training).")
@click.option("--method", default="lora", show_default=True, help="Fine-tuning method.")
@opt_option
@click.option("--selector", default="fixed", show_default=True, help="How shots are chosen.")
@click.option("--limit", type=int, default=None, help="Score the first N held-out rows only.")
@click.option("-m", "--model", default=None, help="Base GGUF: registry name, path or 'default'.")
@click.option("--threads", type=int, default=None, help="CPU threads for llama.cpp.")
@click.option("--ctx", "n_ctx", type=int, default=4096, show_default=True, help="Context size.")
@click.option("--no-parity", is_flag=True, help="Skip the adapters' parity checks.")
@click.option(
    "--save",
    "save_paths",
    multiple=True,
    type=click.Path(path_type=Path),
    help="Write the chart to this .png or .svg file; repeat it for both.",
)
@click.option("--no-chart", is_flag=True, help="Do not draw the chart in the terminal.")
@json_option
def curve(
    set_name: str,
    ks: str | None,
    ns: str | None,
    no_adapters: bool,
    method: str,
    opts: tuple[str, ...],
    selector: str,
    limit: int | None,
    model: str | None,
    threads: int | None,
    n_ctx: int,
    no_parity: bool,
    save_paths: tuple[Path, ...],
    no_chart: bool,
    as_json: bool,
) -> None:
    """Draw the learning curve of example set SET: few-shot scores for k = 0, 1, 2, 4, …
    shots and adapter scores for adapters trained on n = 8, 16, 32, … rows, on the same
    held-out rows, then one paragraph of advice: which is better, by how much, and after
    how many queries an adapter pays back its training.

    Points already made are reused, so a second call only adds what is missing; Ctrl-C keeps
    every finished point and a later call continues.
    """
    from tuiapp.adapt import chart
    from tuiapp.adapt.curve import CurveJob, CurveRequest
    from tuiapp.adapt.curve_records import parse_sizes
    from tuiapp.library.seed import open_library
    from tuiapp.plugins.methods import parse_assignments

    if no_adapters and ns:
        raise BadInput("--no-adapters and --ns contradict each other: give one.")
    for path in save_paths:
        chart.check_path(path)  # before the curve runs, not after
    request = CurveRequest(
        set_name,
        ks=parse_sizes(ks or "", "--ks"),
        ns=[] if no_adapters else parse_sizes(ns or "", "--ns"),
        method=method,
        options=parse_assignments(opts),
        selector=selector,
        limit=limit,
        model=model,
        threads=threads,
        n_ctx=n_ctx,
        parity=not no_parity,
    )
    job = CurveJob(open_library(), request)
    last = {"message": ""}

    def show(event: Any) -> None:
        if as_json:
            data = {"event": "progress", "fraction": round(event.fraction, 4)}
            click.echo(json.dumps(data | {"message": event.message}))
        elif event.curve is not None and event.curve.status != "running":
            return  # the advice: printed below the table
        elif event.message != last["message"] and (event.curve is not None or sys.stderr.isatty()):
            click.echo(f"[{event.fraction:>4.0%}] {event.message}", err=True)
            last["message"] = event.message

    try:
        with ctrl_c(job.cancel, message="Cancelling… (finished points are kept)"):
            result = job.run(show)
    finally:
        if job.service is not None:
            job.service.engine.close()
    written = [str(chart.save(result, path)) for path in save_paths]
    if as_json:
        print_json(result.to_dict() | {"charts": written})
    else:
        print_table(result.table(), COLUMNS)
        if not no_chart and any(p.scored for p in result.points):
            click.echo(chart.terminal_chart(result))
        click.echo(result.advice)
        for where in written:
            click.echo(f"Wrote {where}", err=True)
        if result.status == "cancelled":
            click.echo(f"Cancelled: `tuiapp eval curve {set_name}` continues it.", err=True)
    if result.status == "cancelled":
        sys.exit(130)
