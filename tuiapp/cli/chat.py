"""``tuiapp chat``: one message to the model, streamed to stdout and stored in history."""

import sys

import click

from tuiapp.chat import ChatService
from tuiapp.cli import cli
from tuiapp.cli.output import json_option, print_json
from tuiapp.engine.engine import Engine
from tuiapp.engine.sampling import SamplingParams
from tuiapp.models import ModelRegistry
from tuiapp.store import open_db
from tuiapp.store.history import History

DEFAULTS = SamplingParams()


@cli.command()
@click.argument("prompt", required=False)
@click.option("-m", "--model", default=None, help="Registry name, GGUF path or 'default'.")
@click.option("-c", "--conversation", type=int, default=None, help="Continue this conversation.")
@click.option("--max-tokens", type=int, default=DEFAULTS.max_tokens, show_default=True)
@click.option("--temperature", type=float, default=DEFAULTS.temperature, show_default=True)
@click.option("--top-p", type=float, default=DEFAULTS.top_p, show_default=True)
@click.option("--top-k", type=int, default=DEFAULTS.top_k, show_default=True)
@click.option("--min-p", type=float, default=DEFAULTS.min_p, show_default=True)
@click.option("--repeat-penalty", type=float, default=DEFAULTS.repeat_penalty, show_default=True)
@click.option("--seed", type=int, default=None, help="Fixed seed for a reproducible reply.")
@click.option("--raw", is_flag=True, help="Send PROMPT as it is: no chat formatting.")
@click.option("--threads", type=int, default=None, help="CPU threads (default: physical cores).")
@click.option("--ctx", "n_ctx", type=int, default=4096, show_default=True, help="Context size.")
@json_option
def chat(prompt: str | None, model: str | None, conversation: int | None, max_tokens: int,
         temperature: float, top_p: float, top_k: int, min_p: float, repeat_penalty: float,
         seed: int | None, raw: bool, threads: int | None, n_ctx: int, as_json: bool) -> None:
    """Send PROMPT (or standard input) and stream the reply."""
    if prompt is None:
        prompt = sys.stdin.read()
    if not prompt.strip():
        raise click.UsageError("PROMPT is empty.")
    params = SamplingParams(temperature, top_p, top_k, min_p, repeat_penalty, max_tokens, seed)
    params.validate()
    db = open_db()
    history = History(db)
    service = ChatService(history, ModelRegistry(db), Engine(n_ctx=n_ctx, n_threads=threads))
    # Validate everything before writing anything: a bad model or id leaves history untouched.
    active = service.resolve_model(model)
    if conversation is not None:
        history.get_conversation(conversation)
    service.load_model(str(active.path)).result()
    conv_id = conversation or history.new_conversation(model=active.name).id
    reply = service.send(conv_id, prompt, params, raw=raw)
    try:
        for piece in reply:
            if not as_json:
                click.echo(piece, nl=False)
                sys.stdout.flush()
    except KeyboardInterrupt:
        reply.cancel()
        for _ in reply:  # drain: the partial reply is stored, marked stopped
            pass
    done = reply.completion
    if as_json:
        msg = reply.message
        print_json({"conversation_id": conv_id, "message_id": msg.id if msg else None,
                    "model": active.name, "reply": done.text if done else "",
                    **(done.to_dict() if done else {})})
    else:
        click.echo()
        if done and done.stopped:
            click.echo("[stopped]", err=True)
    service.engine.close()
