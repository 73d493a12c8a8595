"""Export an adapter as a directory Ollama can ``create`` a model from.

The directory holds the base GGUF (hard-linked when possible), the GGUF adapter (or, for an
adapter that cannot be one, its merged GGUF as the base) and a ``Modelfile``:

* ``FROM`` / ``ADAPTER`` the two files, by relative path, so the directory can be moved;
* ``TEMPLATE`` reproducing how tuiapp prompts a base model with this adapter's template: the
  system text, each example as the filled template followed by its output, then the query. When
  the template body has a single variable, a user message is that variable's value (``ollama run
  NAME "the review"``); otherwise a user message is the filled template. Models with their own
  chat template keep it (no TEMPLATE line);
* ``SYSTEM`` and ``PARAMETER`` lines from the template (temperature, top_p, top_k, min_p,
  repeat_penalty, num_predict, seed, stop);
* the first ``shots`` training rows of the adapter's example set as ``MESSAGE`` pairs.
"""

import json
import os
import re
import shutil
from pathlib import Path
from typing import Any

import sqlite_utils

from tuiapp.errors import BadInput
from tuiapp.library.fewshot import SEPARATOR, continuation
from tuiapp.library.records import Example, Template
from tuiapp.training.store import Adapter, AdapterStore, parse_source

PARAMETERS = {
    "temperature": "temperature",
    "top_p": "top_p",
    "top_k": "top_k",
    "min_p": "min_p",
    "repeat_penalty": "repeat_penalty",
    "max_tokens": "num_predict",
    "seed": "seed",
}
_EXPRESSION = re.compile(r"\{\{-?\s*([A-Za-z_][A-Za-z0-9_]*)\s*-?\}\}")


def export_ollama(
    db: sqlite_utils.Database, name: str, directory: Path, *, shots: int = 3, link_base: bool = True
) -> dict[str, Any]:
    """Write the directory; returns what was written (paths, template used, examples)."""
    from tuiapp.conversion.jobs import base_gguf_for

    store = AdapterStore(db)
    adapter = store.get_adapter(name)
    base = base_gguf_for(db, adapter)
    merged = _merged_export(adapter)
    if adapter.gguf is not None and adapter.exports["adapter"].get("kind") == "soft_prompt":
        if merged is None:
            raise BadInput(
                f"Adapter '{name}' is a soft prompt, which Ollama cannot load; chat with it "
                f"here instead: `tuiapp chat -a {name}`."
            )
        adapter.exports.pop("adapter")  # the merged model is what Ollama can run
    if adapter.gguf is None and merged is None:
        raise BadInput(f"Adapter '{name}' has no GGUF yet: {adapter.reach.hint(name)}.")
    if shots < 0:
        raise BadInput("--shots must be 0 or more.")
    template, examples = _template_and_examples(db, store, adapter, shots)
    directory = directory.expanduser()
    if directory.exists() and any(directory.iterdir()):
        raise BadInput(f"{directory} is not empty: choose a new directory.")
    directory.mkdir(parents=True, exist_ok=True)

    lines = [
        f"# Written by tuiapp for adapter '{name}' ({adapter.method}, base "
        f"{adapter.base_model}, sha256 {adapter.base_sha256[:16]}…).",
        f"# Create it with:  ollama create {name} -f Modelfile",
    ]
    if adapter.gguf is not None:
        _place(base, directory / base.name, link_base)
        _place(Path(adapter.gguf), directory / Path(adapter.gguf).name, link=False)
        lines += [f"FROM ./{base.name}", f"ADAPTER ./{Path(adapter.gguf).name}"]
    else:
        assert merged is not None
        _place(merged, directory / merged.name, link_base)
        lines += [f"FROM ./{merged.name}"]

    from tuiapp.chat.models import ModelRegistry

    has_chat_template = bool(ModelRegistry(db).info(base).chat_template)
    variable = _single_variable(template) if template else None
    if template is not None and not has_chat_template:
        lines.append(f"TEMPLATE {_quote(_go_template(template, variable))}")
    if template is not None and template.system.strip():
        lines.append(f"SYSTEM {_quote(template.system.strip())}")
    lines += _parameters(template, raw=not has_chat_template)
    written = []
    for ex in examples:
        user = ex.inputs.get(variable, "") if variable else _filled(template, ex)
        assistant = ex.output.strip()
        if '"""' in user + assistant:
            continue  # cannot be quoted in a Modelfile
        lines += [f"MESSAGE user {_quote(user)}", f"MESSAGE assistant {_quote(assistant)}"]
        written.append(ex.id)
    modelfile = directory / "Modelfile"
    modelfile.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return {
        "directory": str(directory),
        "modelfile": str(modelfile),
        "template": template.name if template else None,
        "user_is": variable or "filled",
        "examples": written,
        "adapter": adapter.gguf,
        "merged": str(merged) if merged and adapter.gguf is None else None,
    }


def _merged_export(adapter: Adapter) -> Path | None:
    for key, export in sorted(adapter.exports.items()):
        if key.startswith("merged-") and Path(export["path"]).is_file():
            return Path(export["path"])
    return None


def _template_and_examples(
    db: sqlite_utils.Database, store: AdapterStore, adapter: Adapter, shots: int
) -> tuple[Template | None, list[Example]]:
    """The template and training rows behind an adapter trained on an example set."""
    from tuiapp.errors import NotFound
    from tuiapp.library.examples import ExampleStore
    from tuiapp.library.templates import TemplateStore

    kind, set_name, _ = parse_source(store.get_run(adapter.run_id).source)
    if kind != "examples":
        return None, []
    try:
        example_set = ExampleStore(db).get_set(set_name)
        template = TemplateStore(db).get(example_set.template) if example_set.template else None
    except NotFound:
        return None, []
    rows = ExampleStore(db).examples(set_name, split="train")[:shots]
    return template, rows if template else []


def _single_variable(template: Template) -> str | None:
    """The variable name when the body is plain text around exactly one ``{{ name }}``."""
    body = template.body
    found = _EXPRESSION.findall(body)
    if len(found) != 1 or "{%" in body or "{#" in body or body.count("{{") != 1:
        return None
    return str(found[0])


def _filled(template: Template | None, ex: Example) -> str:
    from tuiapp.library.render import render

    assert template is not None
    return render(template.body, ex.inputs, label=f"Template '{template.name}'").rstrip(" ")


def _go_template(template: Template, variable: str | None) -> str:
    """Ollama's Go template for tuiapp's raw few-shot rendering of ``template``."""
    if variable:
        body = template.body.rstrip(" ")
        head, _, tail = _EXPRESSION.split(body, maxsplit=1)
        user = f"{head}{{{{ .Content }}}}{tail}"
        join = continuation(body, "x")[:-1]  # what separates the cue from the output
    else:
        user, join = "{{ .Content }}", " "
    sep = SEPARATOR
    return (
        f"{{{{ if .System }}}}{{{{ .System }}}}{sep}{{{{ end }}}}"
        f'{{{{ range .Messages }}}}{{{{ if eq .Role "user" }}}}{user}'
        f'{{{{ else if eq .Role "assistant" }}}}{join}{{{{ .Content }}}}{sep}'
        f"{{{{ end }}}}{{{{ end }}}}"
    )


def _parameters(template: Template | None, raw: bool) -> list[str]:
    if template is None:
        return []
    lines = [
        f"PARAMETER {PARAMETERS[k]} {v}"
        for k, v in sorted(template.params.items())
        if k in PARAMETERS and v is not None
    ]
    stops = list(dict.fromkeys([*template.stop, *([SEPARATOR] if raw else [])]))
    lines += [f"PARAMETER stop {json.dumps(stop)}" for stop in stops]
    return lines


def _quote(text: str) -> str:
    return f'"""{text}"""'


def _place(source: Path, target: Path, link: bool) -> None:
    if link:
        try:
            os.link(source, target)
            return
        except OSError:
            pass
    shutil.copy2(source, target)
