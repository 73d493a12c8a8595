"""``tuiapp eval``: score a template on an example set, list runs, compare them side by side.

``tuiapp eval TEMPLATE --examples SET ...`` is short for ``tuiapp eval run TEMPLATE ...`` (a
template named like a subcommand can still be run through ``run``).
"""

import sys
import threading
from typing import Any

import click
import sqlite_utils

from tuiapp.cli.jobs import ctrl_c
from tuiapp.cli.output import json_option, print_json, print_table
from tuiapp.cli.root import cli
from tuiapp.errors import BadInput


class EvalGroup(click.Group):
    """A group whose unknown first word is a template: ``eval NAME`` means ``eval run NAME``."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and not args[0].startswith("-") and args[0] not in self.commands:
            args = ["run", *args]
        return super().parse_args(ctx, args)


@cli.group("eval", cls=EvalGroup)
def eval_() -> None:
    """Evaluate templates on labelled example sets: zero-shot vs few-shot (and adapters)."""


@eval_.command("run")
@click.argument("template")
@click.option(
    "--examples",
    "set_name",
    default=None,
    help="Example set (default: the one attached to the template).",
)
@click.option("--split", default="heldout", show_default=True, help="Rows to score.")
@click.option(
    "--mode", type=click.Choice(["zero", "few", "adapter"]), default="zero", show_default=True
)
@click.option(
    "--shots",
    type=int,
    default=None,
    help="Examples per prompt (few: 4; adapter: as the adapter was trained).",
)
@click.option(
    "--adapter",
    default=None,
    metavar="NAME[:SCALE]",
    help="--mode adapter: the (converted) adapter to evaluate.",
)
@click.option(
    "--selector", default="fixed", show_default=True, help="fixed | random | bm25 | embedding | mmr"
)
@click.option("--limit", type=int, default=None, help="Score the first N rows only.")
@click.option("--seed", type=int, default=0, show_default=True, help="For --selector random.")
@click.option(
    "--lambda",
    "mmr_lambda",
    type=float,
    default=0.5,
    show_default=True,
    help="MMR relevance weight (1 = relevance only).",
)
@click.option(
    "--order",
    type=click.Choice(["position", "relevance"]),
    default="position",
    show_default=True,
    help="Print order of the chosen examples.",
)
@click.option("--max-tokens", type=int, default=None, help="Reply cap (default: from the data).")
@click.option("--version", "version", type=int, default=None, help="Template version.")
@click.option("-m", "--model", default=None, help="Registry name, GGUF path or 'default'.")
@click.option("--threads", type=int, default=None, help="CPU threads (default: physical cores).")
@click.option("--ctx", "n_ctx", type=int, default=4096, show_default=True, help="Context size.")
@json_option
def run(
    template: str,
    set_name: str | None,
    split: str,
    mode: str,
    shots: int | None,
    adapter: str | None,
    selector: str,
    limit: int | None,
    seed: int,
    mmr_lambda: float,
    order: str,
    max_tokens: int | None,
    version: int | None,
    model: str | None,
    threads: int | None,
    n_ctx: int,
    as_json: bool,
) -> None:
    """Run TEMPLATE on every row of a split and store the scores."""
    from tuiapp.chat.service import ChatService
    from tuiapp.evaluation.evaluate import EvalOptions, run_eval
    from tuiapp.library.examples import ExampleStore, default_set_for
    from tuiapp.library.records import as_eval_mode, as_split
    from tuiapp.library.seed import open_library
    from tuiapp.library.selectors import get_selector
    from tuiapp.library.templates import TemplateStore

    if mode == "few":
        get_selector(selector)  # a bad name fails before the model loads
    if limit is not None and limit < 1:
        raise BadInput("--limit must be at least 1.")
    db = open_library()
    if adapter and mode != "adapter":
        raise BadInput("--adapter needs --mode adapter.")
    if mode == "adapter":
        trained_shots, stand_in = _adapter_shots(db, adapter)
        shots = trained_shots if shots is None else shots
        model = model or stand_in  # a merge-only adapter is evaluated as its merged model
    shots = 4 if shots is None else shots
    tmpl = TemplateStore(db).get(template, version)
    examples_store = ExampleStore(db)
    example_set = examples_store.get_set(set_name or default_set_for(db, template))
    rows = examples_store.examples(example_set.name)
    service = ChatService.open(db, n_threads=threads, n_ctx=n_ctx)
    service.load(model)
    opts = EvalOptions(
        mode=as_eval_mode(mode),
        split=as_split(split),
        shots=shots,
        selector=selector,
        limit=limit,
        seed=seed,
        mmr_lambda=mmr_lambda,
        order=order,
        max_tokens=max_tokens,
        adapter=adapter,
    )
    # The bar goes to stderr, and only to a terminal: scripts get clean output.
    bar = None
    if sys.stderr.isatty():
        bar = click.progressbar(
            length=1, label=f"{template} {mode}", file=sys.stderr, show_eta=True, show_pos=True
        )

    def progress(done: int, total: int, eta: float | None) -> None:
        if bar is not None:
            bar.length = total
            bar.update(done - bar.pos)

    # Ctrl-C stops the run cleanly (rows so far kept, run marked partial); twice quits at once.
    cancel = threading.Event()

    def quit_now() -> None:
        raise KeyboardInterrupt

    try:
        with ctrl_c(cancel.set, quit_now, "\nStopping… (Ctrl-C again to quit now)"):
            result = run_eval(
                db,
                service.engine,
                service.require_model(),
                tmpl,
                example_set,
                rows,
                opts,
                progress=progress,
                cancel=cancel,
            )
    finally:
        if bar is not None:
            bar.render_finish()
        service.engine.close()
    if as_json:
        print_json(result.to_dict())
    else:
        click.echo(_summary(result))
    if cancel.is_set():
        click.echo("Stopped: the rows scored so far are kept (run marked partial).", err=True)
        sys.exit(130)


def _adapter_shots(db: sqlite_utils.Database, spec: str | None) -> tuple[int, str | None]:
    """Check the adapter before the model loads; the shots it was trained with, and the merged
    model that stands in for it when it has no hot-swap file."""
    from tuiapp.chat.service import parse_adapter_spec
    from tuiapp.training.store import AdapterStore, parse_source, usable_gguf

    if not spec:
        raise BadInput("--mode adapter needs --adapter NAME (see `tuiapp adapters list`).")
    store = AdapterStore(db)
    found = store.get_adapter(parse_adapter_spec(spec)[0])
    if found.stand_in is None:
        usable_gguf(found)  # the base is checked once the model is resolved
    return parse_source(store.get_run(found.run_id).source)[2], found.stand_in


def _summary(run: Any) -> str:
    from tuiapp.evaluation.compare import compare
    from tuiapp.formatting import score_cell

    row = compare([run])[0]
    text = (
        f"Run {run.id} ({run.status}): {row['rows']} rows, exact "
        f"{score_cell(run.exact, row['exact_ci'])}, normalized {score_cell(run.normalized)}"
    )
    if run.label_accuracy is not None:
        text += f", label accuracy {score_cell(run.label_accuracy, row['label_ci'])}"
    if run.n_scored:
        text += f"; {row['tokens_per_query']} prompt tokens and {row['s_per_query']} s per query"
    return text + "."


@eval_.command("runs")
@click.option("-n", "--limit", type=int, default=None, help="Show the N most recent runs.")
@json_option
def runs(limit: int | None, as_json: bool) -> None:
    """List evaluation runs, most recent first."""
    from tuiapp.evaluation.compare import COMPARE_COLUMNS, compare
    from tuiapp.evaluation.evaluate import EvalStore
    from tuiapp.store import open_db

    found = EvalStore(open_db()).recent(limit)
    if as_json:
        print_json([r.to_dict() for r in found])
    else:
        print_table(compare(found), COMPARE_COLUMNS)


@eval_.command("compare")
@click.argument("run_ids", nargs=-1, type=int)
@json_option
def compare_(run_ids: tuple[int, ...], as_json: bool) -> None:
    """Runs side by side (default: the latest run of each template/set/mode/shots/selector)."""
    from tuiapp.evaluation.compare import COMPARE_COLUMNS, compare, verdicts
    from tuiapp.evaluation.evaluate import EvalStore
    from tuiapp.store import open_db

    store = EvalStore(open_db())
    if run_ids:
        chosen = [store.get(i) for i in run_ids]
    else:
        seen: set[tuple[Any, ...]] = set()
        chosen = []
        for r in store.recent():
            key = (r.template, r.set_name, r.split, r.mode, r.shots, r.selector, r.adapter)
            if key not in seen and r.n_scored:
                seen.add(key)
                chosen.append(r)
        chosen.reverse()
    rows = compare(chosen, store)
    judged = verdicts(chosen, store)
    if as_json:
        print_json({"runs": rows, "verdicts": judged})
    else:
        print_table(rows, COMPARE_COLUMNS)
        for item in judged:
            click.echo(item["verdict"])


@eval_.command("diff")
@click.argument("run_a", type=int)
@click.argument("run_b", type=int)
@json_option
def diff(run_a: int, run_b: int, as_json: bool) -> None:
    """Only the rows whose outcome changed between two runs, side by side."""
    from tuiapp.evaluation.compare import run_diff
    from tuiapp.store import open_db

    found = run_diff(open_db(), run_a, run_b)
    if as_json:
        print_json({k: v for k, v in found.items() if k not in ("a_name", "b_name")})
        return
    click.echo(found["verdict"])
    for row in found["rows"]:
        click.echo(f"\n#{row['example_id']} {_short(row['input'])}")
        click.echo(f"  expected      {row['expected']}")
        click.echo(f"  {found['a_name']:<14}{row['a']}  ({row['a_score']})")
        click.echo(f"  {found['b_name']:<14}{row['b']}  ({row['b_score']})")
    click.echo(f"\n{len(found['rows'])} of {found['n']} rows changed.")


def _short(text: str, width: int = 72) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


@eval_.command("show")
@click.argument("run_id", type=int)
@json_option
def show(run_id: int, as_json: bool) -> None:
    """One run's settings and per-row results."""
    from tuiapp.evaluation.evaluate import EvalStore
    from tuiapp.store import open_db

    store = EvalStore(open_db())
    run_ = store.get(run_id)
    rows = store.rows(run_id)
    if as_json:
        print_json(run_.to_dict() | {"rows": rows})
        return
    click.echo(
        f"Run {run_.id}: {run_.template}@v{run_.template_version} on "
        f"{run_.set_name}/{run_.split}, {run_.mode}"
        + (f" {run_.shots} shots by {run_.selector}" if run_.mode == "few" else "")
        + f" ({run_.status}), model {run_.model}"
    )
    for row in rows:
        row["seconds"] = round(row["seconds"], 2)
    print_table(
        rows,
        [
            "example_id",
            "expected",
            "prediction",
            "exact",
            "normalized",
            "chrf",
            "label_predicted",
            "seconds",
        ],
    )
