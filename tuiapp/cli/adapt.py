"""``tuiapp adapt SET``: the one-click loop, train -> convert -> parity -> evaluate -> attach."""

import json
import sys
from pathlib import Path
from typing import Any

import click

from tuiapp.cli.jobs import ctrl_c
from tuiapp.cli.output import json_option, opt_option, parse_ids, print_json, print_table
from tuiapp.cli.root import cli
from tuiapp.errors import BadInput


@cli.command()
@click.argument("set_name", metavar="SET_OR_FILE", required=False)
@click.option(
    "--rated",
    is_flag=True,
    help="Teach from every rated and corrected chat reply (the set: --set, default personal).",
)
@click.option(
    "--conversations",
    default=None,
    help="Teach from every reply of these conversations: ids, e.g. 3,7.",
)
@click.option(
    "--set",
    "new_set",
    default=None,
    help="The set a FILE is imported into (default: its name), or --rated teaches.",
)
@click.option("--method", default="lora", show_default=True, help="Fine-tuning method.")
@opt_option
@click.option("-m", "--model", default=None, help="Base GGUF: registry name, path or 'default'.")
@click.option(
    "--shots",
    type=int,
    default=None,
    help="Examples per prompt in the k-shot baseline (default: the best k of 1, 2, 4, 8).",
)
@click.option(
    "--selector",
    default="fixed",
    show_default=True,
    help="How the k-shot baseline chooses examples.",
)
@click.option("--limit", type=int, default=None, help="Score the first N held-out rows only.")
@click.option("--out", "out_name", default=None, help="Name of the adapter to register.")
@click.option("--no-parity", is_flag=True, help="Skip the parity check (not recommended).")
@click.option("--threads", type=int, default=None, help="CPU threads for llama.cpp.")
@json_option
def adapt(
    set_name: str | None,
    rated: bool,
    conversations: str | None,
    new_set: str | None,
    method: str,
    opts: tuple[str, ...],
    model: str | None,
    shots: int | None,
    selector: str,
    limit: int | None,
    out_name: str | None,
    no_parity: bool,
    threads: int | None,
    as_json: bool,
) -> None:
    """Train an adapter on example set SET, convert it, check it, compare it with zero- and
    k-shot prompting on the held-out rows, and attach it to a new conversation.

    Instead of SET: --rated teaches the set (--set, default personal) from every rated and
    corrected chat reply, --conversations IDS from every reply of those conversations.

    SET may be a FILE instead (any format `tuiapp examples import` reads): it is imported
    into a new set first, with a drawn held-out split and a generated template.

    Ctrl-C cancels the stage in progress (training keeps a checkpoint to resume).
    """
    from tuiapp.adapt.job import AdaptJob, AdaptRequest
    from tuiapp.library.seed import open_library
    from tuiapp.plugins.methods import parse_assignments

    db = open_library()
    if (set_name is not None) + rated + (conversations is not None) != 1:
        raise BadInput("Give one of SET, FILE, --rated or --conversations IDS.")
    if set_name is None:
        from tuiapp.library.teach import PERSONAL, teach

        ids = parse_ids(conversations) if conversations else None
        taught = teach(db, new_set or PERSONAL, ids, rated_only=ids is None)
        if not as_json:
            click.echo(taught.describe(), err=True)
        set_name = taught.set_name
    elif Path(set_name).is_file():
        from tuiapp.library.io import import_new_set

        imported = import_new_set(db, Path(set_name), new_set)
        if not as_json:
            click.echo(imported.describe(), err=True)
        set_name = imported.set_name
    elif new_set is not None:
        raise BadInput(f"--set names the set a FILE is imported into; {set_name} is not a file.")
    request = AdaptRequest(
        set_name,
        method,
        parse_assignments(opts),
        model,
        shots,
        selector,
        limit,
        out_name,
        not no_parity,
        threads,
    )
    job = AdaptJob(db, request)
    last = {"stage": "", "message": ""}

    def show(event: Any) -> None:
        if as_json:
            click.echo(json.dumps({"event": "progress"} | event.to_dict(), default=str))
            return
        done, total = event.detail.get("done"), event.detail.get("total")
        if done is not None and done not in (0, total) and done % max(1, total // 4):
            return  # evaluation: a line at 0, each quarter and the end
        if event.message != last["message"]:
            prefix = f"[{event.fraction:>4.0%}] " if event.stage != last["stage"] else "       "
            click.echo(prefix + event.message, err=True)
            last.update(stage=event.stage, message=event.message)

    try:
        with ctrl_c(job.cancel, message="Cancelling…"):
            report = job.run(show)
    finally:
        if job.service is not None:
            job.service.engine.close()
    if as_json:
        print_json(report)
        return
    print_report(report)


def print_report(report: dict[str, Any]) -> None:
    train, convert = report.get("train", {}), report.get("convert", {})
    click.echo(
        f"\nAdapter '{train.get('adapter')}' ({report['method']}) on "
        f"'{report['set']}': trained {train.get('steps')} steps on {train.get('rows')} "
        f"rows in {train.get('seconds')} s; converted in {convert.get('seconds')} s."
    )
    parity = convert.get("parity")
    if parity:
        click.echo(
            f"Parity {'passed' if parity['passed'] else 'FAILED'}: KL "
            f"{parity['kl_mean']:.2e} (threshold {parity['threshold']:.2e}), top-1 "
            f"{parity['top1_agreement']:.1%}."
        )
    if convert.get("warning"):
        click.secho(convert["warning"], fg="red", bold=True, err=True)
    from tuiapp.evaluation.compare import COMPARE_COLUMNS

    evaluation = report.get("eval", {})
    if evaluation.get("skipped"):
        click.echo(evaluation["skipped"])
    else:
        if evaluation.get("sweep"):
            tried = ", ".join(
                f"k={p['size']} {p['score']:.2f}"
                for p in evaluation["sweep"]
                if p["score"] is not None
            )
            click.echo(f"Few-shot baseline: k = {evaluation['shots']}, the best of {tried}.")
        print_table(evaluation.get("table", []), COMPARE_COLUMNS)
        for item in evaluation.get("verdicts", []):
            click.echo(item["verdict"])
    click.echo(
        f'Chat with it: tuiapp chat -c {report.get("conversation_id")} "..."  '
        f"(or open conversation {report.get('conversation_id')} in the app)"
    )
    sys.stdout.flush()


@cli.command("adapt-jobs")
@click.option("-n", "--limit", type=int, default=20, show_default=True)
@json_option
def adapt_jobs(limit: int, as_json: bool) -> None:
    """Recent one-click adapt jobs and how they ended."""
    from tuiapp.adapt.store import AdaptJobStore
    from tuiapp.store import open_db

    jobs = AdaptJobStore(open_db()).list_jobs(limit)
    if as_json:
        print_json(jobs)
        return
    print_table(
        [
            {
                "id": j["id"],
                "set": j["set_name"],
                "method": j["method"],
                "status": j["status"],
                "stage": j["stage"],
                "adapter": j["adapter"],
                "conversation": j["conversation_id"],
                "started": j["started"],
                "error": j["error"],
            }
            for j in jobs
        ],
        ["id", "set", "method", "status", "stage", "adapter", "conversation", "started", "error"],
    )
