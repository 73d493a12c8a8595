"""``tuiapp chat``: one message to the model, streamed to stdout and stored in history."""

import sys
from typing import Any

import click
from click.core import ParameterSource

from tuiapp.chat.engine.sampling import SamplingParams
from tuiapp.chat.reply import Reply
from tuiapp.chat.service import ChatService, parse_adapter_spec
from tuiapp.cli.jobs import sigterm_as_ctrl_c
from tuiapp.cli.output import json_option, print_json, read_text_input
from tuiapp.cli.root import cli
from tuiapp.errors import BadInput
from tuiapp.library.records import Template
from tuiapp.store import open_db

DEFAULTS = SamplingParams()
SAMPLING_OPTIONS = (
    "temperature",
    "top_p",
    "top_k",
    "min_p",
    "repeat_penalty",
    "max_tokens",
    "seed",
)


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
@click.option("-t", "--template", default=None, help="Fill this prompt template instead of PROMPT.")
@click.option(
    "--var",
    "variables",
    multiple=True,
    metavar="KEY=VALUE",
    help="A template variable (repeat for each).",
)
@click.option(
    "--shots",
    type=int,
    default=0,
    show_default=True,
    help="Few-shot examples from the template's example set.",
)
@click.option(
    "--selector",
    default="fixed",
    show_default=True,
    help="How examples are chosen: fixed | random | bm25 | embedding | mmr.",
)
@click.option(
    "--examples",
    "set_name",
    default=None,
    help="Example set for --shots (default: the one attached to the template).",
)
@click.option("--show-prompt", is_flag=True, help="Print the assembled prompt on stderr.")
@click.option(
    "-a",
    "--adapter",
    "adapter_specs",
    multiple=True,
    metavar="NAME[:SCALE]",
    help="Apply a converted adapter (repeat to mix); kept for the conversation.",
)
@json_option
def chat(
    prompt: str | None,
    model: str | None,
    conversation: int | None,
    max_tokens: int,
    temperature: float,
    top_p: float,
    top_k: int,
    min_p: float,
    repeat_penalty: float,
    seed: int | None,
    raw: bool,
    threads: int | None,
    n_ctx: int,
    template: str | None,
    variables: tuple[str, ...],
    shots: int,
    selector: str,
    set_name: str | None,
    show_prompt: bool,
    adapter_specs: tuple[str, ...],
    as_json: bool,
) -> None:
    """Send PROMPT (or standard input) and stream the reply.

    With --template NAME --var key=value ..., the template is filled instead (optionally with
    --shots K examples chosen by --selector) and sent as one completion.
    """
    if template is not None:
        _chat_template(
            template,
            variables,
            shots,
            selector,
            set_name,
            model,
            seed,
            threads,
            n_ctx,
            show_prompt,
            as_json,
            prompt,
            conversation,
            raw,
            adapter_specs,
        )
        return
    if variables or shots:
        raise click.UsageError("--var and --shots need --template.")
    prompt = read_text_input(prompt)
    if not prompt.strip():
        raise click.UsageError("PROMPT is empty.")
    params = SamplingParams(temperature, top_p, top_k, min_p, repeat_penalty, max_tokens, seed)
    params.validate()
    service = ChatService.open(open_db(), n_ctx=n_ctx, n_threads=threads)
    history = service.history
    # Validate everything before writing anything: a bad model or id leaves history untouched.
    specs = [parse_adapter_spec(spec) for spec in adapter_specs]
    model, specs = service.stand_in(model, specs)  # a merge-only adapter: its merged model
    active = service.resolve_model(model)
    if conversation is not None:
        history.get_conversation(conversation)
    service.load(str(active.path))
    mix = service.check_adapters(specs)
    service.check_message(prompt)
    conv_id = conversation or history.new_conversation(model=active.name).id
    if specs:
        history.set_adapters(conv_id, mix)
    reply = service.send(conv_id, prompt, params, raw=raw)
    _stream_reply(reply, service, conv_id, active.name, as_json)


def _stream_reply(
    reply: Reply,
    service: ChatService,
    conv_id: int,
    model_name: str,
    as_json: bool,
    extra: dict[str, Any] | None = None,
) -> None:
    with sigterm_as_ctrl_c() as terminated:
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
        print_json(
            {
                "conversation_id": conv_id,
                "message_id": msg.id if msg else None,
                "model": model_name,
                "reply": done.text if done else "",
                **(done.to_dict() if done else {}),
                **(extra or {}),
            }
        )
    else:
        click.echo()
        if done and done.stopped:
            click.echo("[stopped]", err=True)
    service.engine.close()
    if terminated[0]:
        sys.exit(143)


def _parse_vars(pairs: tuple[str, ...]) -> dict[str, str]:
    values: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise BadInput(f"--var needs KEY=VALUE, got {pair!r}.")
        values[key.strip()] = value
    return values


def _template_params(template: Template) -> SamplingParams:
    """The template's sampling defaults, overridden by options given on the command line."""
    ctx = click.get_current_context()
    given = {
        name: ctx.params[name]
        for name in SAMPLING_OPTIONS
        if ctx.get_parameter_source(name) == ParameterSource.COMMANDLINE
    }
    return SamplingParams.from_dict(template.params | given)


def _chat_template(
    name: str,
    pairs: tuple[str, ...],
    shots: int,
    selector: str,
    set_name: str | None,
    model: str | None,
    seed: int | None,
    threads: int | None,
    n_ctx: int,
    show_prompt: bool,
    as_json: bool,
    prompt: str | None,
    conversation: int | None,
    raw: bool,
    adapter_specs: tuple[str, ...],
) -> None:
    from tuiapp.chat.templates import FilledTemplate
    from tuiapp.library.examples import default_set_for
    from tuiapp.library.seed import open_library
    from tuiapp.library.templates import TemplateStore

    if prompt is not None or conversation is not None or raw:
        raise click.UsageError("--template starts a new prompt: drop PROMPT, -c and --raw.")
    db = open_library()
    template = TemplateStore(db).get(name)
    filled = FilledTemplate(template, _parse_vars(pairs), shots, selector)
    if shots > 0:
        filled.set_name = set_name or default_set_for(db, name)
    params = _template_params(template)
    # Validate everything before loading the model or writing anything.
    filled.check()
    params.validate()
    specs = [parse_adapter_spec(spec) for spec in adapter_specs]
    service = ChatService.open(db, n_ctx=n_ctx, n_threads=threads)
    model, specs = service.stand_in(model, specs)  # a merge-only adapter: its merged model
    active = service.load(model)
    service.check_adapters(specs)
    conv_id = service.new_template_conversation(filled)
    service.set_adapters(conv_id, specs)
    reply, built = service.send_template(conv_id, filled, params, seed=seed or 0)
    if show_prompt:
        click.echo(built.text, err=True)
        click.echo("-" * 40, err=True)
    _stream_reply(
        reply,
        service,
        conv_id,
        active.name,
        as_json,
        {
            "template": template.name,
            "template_version": template.version,
            "examples": built.example_ids,
            "dropped": built.n_dropped,
            "prompt": built.text,
        },
    )
