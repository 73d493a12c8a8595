"""The row shapes of common dataset formats, read as examples, and the default template each
shape gets when its set has none.

A file's rows may come in any of these shapes; the first good row decides the set's fields,
and a later row of another shape is refused with its line number:

| shape | keys of a row | the example's inputs -> output |
|---|---|---|
| ``native`` | ``inputs`` {field: text}, ``output`` | as written |
| ``flat`` | any fields, ``output`` (``{"input": ..., "output": ...}``) | every other key |
| ``alpaca`` | ``instruction``, optional ``input``, ``output`` | ``instruction``, ``input`` |
| ``prompt-completion`` | ``prompt``, ``completion`` | ``prompt`` |
| ``messages`` | OpenAI ``messages``: [{role, content}] | ``conversation`` |
| ``sharegpt`` | ``conversations``: [{from, value}] | ``conversation`` |

Every shape may also carry ``label`` and ``split``. A conversation (``messages``,
``sharegpt``) becomes one example: its last turn, an assistant turn, is the output; the turns
before it are the ``conversation`` input, written the way the chat writes a transcript
(``User: …`` / ``Assistant: …`` lines, the system text first), so the default template
``{{ conversation }}\\nAssistant:`` renders exactly what the chat sends the embedded model.
"""

from dataclasses import dataclass
from typing import Any

import sqlite_utils

from tuiapp.chat.engine.formats import TranscriptFormat, Turn
from tuiapp.library.examples import ExampleStore
from tuiapp.library.records import Example, ExampleSet, Template
from tuiapp.library.templates import TemplateStore, transaction

RESERVED = ("inputs", "output", "label", "split")
CONVERSATION = "conversation"
LABELS = TranscriptFormat()  # the chat's transcript labels
SHAREGPT_ROLES = {
    "human": "user",
    "user": "user",
    "gpt": "assistant",
    "assistant": "assistant",
    "bot": "assistant",
    "model": "assistant",
    "system": "system",
}


@dataclass
class Parsed:
    """One row read from a file: its shape, the example, and whether the row named a split."""

    shape: str
    example: Example
    split_given: bool


def text(value: Any) -> Any:
    """Scalars become text; mappings and lists are left for the check to refuse."""
    if value is None or isinstance(value, dict | list):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def shape_of(raw: dict[str, Any]) -> str:
    if "inputs" in raw:
        return "native"
    if "messages" in raw:
        return "messages"
    if "conversations" in raw:
        return "sharegpt"
    if "instruction" in raw:
        return "alpaca"
    if "completion" in raw and "prompt" in raw:
        return "prompt-completion"
    return "flat"


def _turns(raw: Any, shape: str) -> list[tuple[str, str]] | str:
    """(role, content) of a conversation, or what is wrong with it."""
    key, role_key, content_key = (
        ("messages", "role", "content")
        if shape == "messages"
        else ("conversations", "from", "value")
    )
    if not isinstance(raw, list) or not raw:
        return f"'{key}' must be a non-empty list of turns"
    turns = []
    for i, turn in enumerate(raw, start=1):
        if not isinstance(turn, dict):
            return f"turn {i} of '{key}' is not an object"
        role = turn.get(role_key)
        role = SHAREGPT_ROLES.get(str(role).lower()) if shape == "sharegpt" else role
        if role not in ("system", "user", "assistant"):
            named = "system, user or assistant" if shape == "messages" else "human, gpt or system"
            return f"turn {i} needs '{role_key}' {named}"
        content = turn.get(content_key)
        if not isinstance(content, str):
            return f"turn {i} needs '{content_key}' text"
        turns.append((str(role), content))
    if turns[-1][0] != "assistant" or not turns[-1][1].strip():
        return "the last turn must be a non-empty assistant reply (the output to learn)"
    if not any(role == "user" for role, _ in turns[:-1]):
        return "no user turn before the last assistant reply"
    return turns


def transcript(turns: list[tuple[str, str]], default_system: str = "") -> str:
    """Turns as the chat's ``TranscriptFormat`` renders them, without its final
    ``\nAssistant:`` cue (the default template adds it back)."""
    fmt = TranscriptFormat(default_system=default_system)
    rendered = fmt.render([Turn(role, content) for role, content in turns])
    return rendered.removesuffix("\n" + fmt.assistant_label + ":")


def to_parsed(raw: Any, yaml_nulls: bool = False) -> Parsed | str:
    """The row ``raw`` (a decoded JSON object, YAML mapping or CSV row) as an example, or one
    short phrase saying what is wrong with it."""
    if not isinstance(raw, dict):
        return 'expected an object (e.g. {"input": ..., "output": ...})'
    shape = shape_of(raw)
    label, split = raw.get("label"), raw.get("split")
    if yaml_nulls:
        label, split = (
            None if v in ("", "~", "null", "Null", "NULL") else v for v in (label, split)
        )
    if shape == "native":
        inputs = raw["inputs"]
        if extra := sorted(str(k) for k in raw if k not in RESERVED):
            return f"unknown keys {', '.join(extra)} (inputs go under 'inputs')"
        if not isinstance(inputs, dict):
            return "'inputs' must be a mapping of field -> text"
        output = raw.get("output")
    elif shape in ("messages", "sharegpt"):
        turns = _turns(raw["messages" if shape == "messages" else "conversations"], shape)
        if isinstance(turns, str):
            return turns
        inputs, output = {CONVERSATION: transcript(turns[:-1])}, turns[-1][1]
    elif shape == "alpaca":
        inputs = {"instruction": raw["instruction"], "input": raw.get("input") or ""}
        output = raw.get("output", raw.get("response"))
    elif shape == "prompt-completion":
        inputs, output = {"prompt": raw["prompt"]}, raw["completion"]
    else:
        inputs = {k: v for k, v in raw.items() if k not in RESERVED}
        output = raw.get("output")
    if output is None:
        return "missing output"
    if not all(isinstance(k, str) for k in inputs):
        return "field names must be text"
    example = Example(
        inputs={k: text(v) if v is not None else "" for k, v in inputs.items()},
        output=text(output),
        label=text(label) or None,
        split=text(split) or "train",
    )
    return Parsed(shape, example, split_given=bool(split))


# -- the default template ----------------------------------------------------------------------
def _title(field: str) -> str:
    return field.replace("_", " ").strip().capitalize()


def default_template(name: str, s: ExampleSet, rows: list[Example]) -> Template:
    """A plain template for ``s``'s fields, named ``name``: what a set with no template gets.

    Conversations render as the chat's transcript; Alpaca rows as Instruction / Input /
    Response; prompt/completion rows as the prompt itself; any other fields one ``Field:``
    line each, then ``Output:``. Outputs that are all one line stop at the first newline.
    """
    fields = s.input_fields
    if fields == [CONVERSATION]:
        body = "{{ conversation }}\n" + LABELS.assistant_label + ":"
        stop = ["\n" + LABELS.user_label + ":"]
    elif sorted(fields) == ["input", "instruction"]:
        body = (
            "Instruction: {{ instruction }}\n{% if input %}Input: {{ input }}\n{% endif %}Response:"
        )
        stop = []
    elif fields == ["prompt"]:
        body, stop = "{{ prompt }}", []
    else:
        body = "\n".join(f"{_title(f)}: {{{{ {f} }}}}" for f in fields) + "\nOutput:"
        stop = []
    if all("\n" not in ex.output.strip() for ex in rows):
        stop = list(dict.fromkeys([*stop, "\n"]))
    system = f"Answer with one of: {', '.join(s.labels)}." if s.labels else ""
    return Template(
        name=name,
        body=body,
        description=f"Generated for the example set '{s.name}': edit it freely.",
        tags=["generated"],
        system=system,
        output_field="output",
        params={"temperature": 0.0, "repeat_penalty": 1.0},
        stop=stop,
    )


def attach_default_template(db: sqlite_utils.Database, set_name: str) -> Template | None:
    """Give ``set_name`` a generated template when it has none (or names one that is gone);
    the new template, or None when the set already had one."""
    store, templates = ExampleStore(db), TemplateStore(db)
    with transaction(db):
        s = store.get_set(set_name)
        if s.template and templates.exists(s.template):
            return None
        name = next(
            n
            for n in (set_name, *(f"{set_name}-{i}" for i in range(2, 1000)))
            if not templates.exists(n)
        )
        template = templates.create(default_template(name, s, store.examples(set_name)))
        store.update_set(set_name, template=template.name)
        return template
