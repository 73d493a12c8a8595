"""``tuiapp train``: train an adapter on the model you chat with, with live progress."""

import click

from tuiapp.cli.jobs import follow_training
from tuiapp.cli.output import json_option, opt_option, parse_ids, print_json
from tuiapp.cli.root import cli
from tuiapp.errors import BadInput


@cli.command()
@click.option("--method", required=True, help="Fine-tuning method (see `tuiapp methods list`).")
@click.option("--examples", "set_name", default=None, help="Train on a prompt-library example set.")
@click.option("--conversations", default=None, help="Train on chat conversations: ids, e.g. 3,7.")
@click.option(
    "--data",
    "data_file",
    default=None,
    help="Train on a JSONL file (Alpaca, OpenAI messages or prompt/completion).",
)
@click.option(
    "-m",
    "--model",
    default=None,
    help="Base: registry name, GGUF path, HF model directory or 'default'.",
)
@opt_option
@click.option("--out", "out_name", default=None, help="Name of the adapter to register.")
@click.option(
    "--shots",
    type=int,
    default=0,
    show_default=True,
    help="--examples only: few-shot rows in each training prompt, as at inference.",
)
@click.option(
    "--selector",
    default="fixed",
    show_default=True,
    help="--examples only: how the few-shot rows are chosen.",
)
@click.option(
    "--prepare-only",
    is_flag=True,
    help="Check and prepare the run, print how to "
    "launch it (e.g. with `accelerate launch` on several GPUs), do not start it.",
)
@json_option
def train(
    method: str,
    set_name: str | None,
    conversations: str | None,
    data_file: str | None,
    model: str | None,
    opts: tuple[str, ...],
    out_name: str | None,
    shots: int,
    selector: str,
    prepare_only: bool,
    as_json: bool,
) -> None:
    """Train an adapter and register it; progress on stdout (JSON lines with --json).

    Ctrl-C cancels cleanly: the current step ends, a checkpoint is written, and
    `tuiapp runs resume ID` continues later.
    """
    from tuiapp.plugins.methods import parse_assignments
    from tuiapp.training import DataSource, TrainRequest, plan_training
    from tuiapp.training.jobs import TrainingJob

    chosen = [x for x in (set_name, conversations, data_file) if x is not None]
    if len(chosen) != 1:
        raise BadInput("Give exactly one of --examples SET, --conversations IDS or --data FILE.")
    if set_name is not None:
        source = DataSource.examples(set_name, shots, selector)
    elif conversations is not None:
        source = DataSource.conversations(parse_ids(conversations))
    else:
        source = DataSource.file(data_file or "")
    request = TrainRequest(method, source, model, parse_assignments(opts), out_name)
    config = plan_training(request)
    if prepare_only:
        command = f"accelerate launch -m tuiapp.training --config {config.run_dir}/run.json"
        if as_json:
            print_json({"run_id": config.run_id, "run_dir": config.run_dir, "command": command})
        else:
            click.echo(
                f"Prepared run {config.run_id} in {config.run_dir}.\n"
                f"Start it with:  tuiapp runs resume {config.run_id}\n"
                f"or on several GPUs:  {command}"
            )
        return
    follow_training(TrainingJob.spawn(config), as_json)
