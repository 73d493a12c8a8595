"""Training rows from the three sources, rendered exactly as inference will render them.

A row is a ``prompt`` (the text the app sends to the model) and a ``completion`` (what the model
should write after it); the loss is taken on the completion only. Sources:

* an **example set** of the prompt library: each row rendered with the set's template (and
  few-shot settings) by the library's own assembler, the one evaluation and chat use;
* **chat conversations**: one row per assistant reply, the prompt being the conversation before
  it rendered with the model's chat format (``tuiapp.chat.engine.formats``), as the chat sends it;
* a **JSONL file** in Alpaca (``instruction``/``input``/``output``), OpenAI messages
  (``messages: [{role, content}]``) or ``prompt``/``completion`` form, detected per file from its
  first row; every bad line is reported with its number. A ``split`` key (train/heldout) is kept.

A reply follows its prompt the way the library joins outputs (``fewshot.continuation``): after a
space when the prompt ends in a cue such as ``Assistant:``, directly after a newline.
"""

import hashlib
import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import sqlite_utils

from tuiapp.chat.engine.formats import PromptFormat, Turn
from tuiapp.errors import BadInput
from tuiapp.library.records import Split

SPLITS: dict[str, Split] = {
    "train": "train",
    "heldout": "heldout",
    "validation": "heldout",
    "val": "heldout",
    "test": "heldout",
    "eval": "heldout",
}
MAX_REPORTED = 5  # bad lines named in one error message


@dataclass(frozen=True)
class Row:
    prompt: str
    completion: str
    split: Split = "train"

    def to_dict(self) -> dict[str, str]:
        return asdict(self)


def continuation(prompt: str, output: str) -> str:
    from tuiapp.library.fewshot import continuation as join

    return join(prompt, output)


# -- JSONL files -------------------------------------------------------------------------------
FORMATS = {
    "alpaca": "instruction/input/output",
    "messages": "messages: [{role, content}]",
    "prompt-completion": "prompt/completion",
}


def detect(obj: dict[str, Any]) -> str | None:
    if "messages" in obj:
        return "messages"
    if "instruction" in obj and "output" in obj:
        return "alpaca"
    if "prompt" in obj and "completion" in obj:
        return "prompt-completion"
    return None


def read_jsonl(path: Path, fmt: PromptFormat) -> tuple[str, list[Row]]:
    """(detected format, rows) of a JSONL file; one BadInput naming every bad line (up to 5)."""
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise BadInput(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise BadInput(f"{path}: cannot read it as UTF-8 text ({exc})") from None
    kind: str | None = None
    rows: list[Row] = []
    errors: list[str] = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            errors.append(f"line {number}: not JSON ({exc.msg})")
            continue
        if not isinstance(obj, dict):
            errors.append(f"line {number}: expected a JSON object")
            continue
        found = detect(obj)
        kind = kind or found
        if found is None or found != kind:
            want = FORMATS[kind] if kind else " or ".join(FORMATS.values())
            errors.append(
                f"line {number}: expected {want} fields, found {', '.join(sorted(obj)) or 'none'}"
            )
            continue
        try:
            rows += _rows_of(obj, kind, fmt)
        except BadInput as exc:
            errors.append(f"line {number}: {exc}")
    if errors:
        more = f" (and {len(errors) - MAX_REPORTED} more)" if len(errors) > MAX_REPORTED else ""
        raise BadInput(
            f"{path}: {len(errors)} bad line{'s' * (len(errors) > 1)}: "
            + "; ".join(errors[:MAX_REPORTED])
            + more
        )
    if not rows or kind is None:
        raise BadInput(f"{path}: no training rows (expected {' or '.join(FORMATS.values())})")
    return kind, rows


def _text(obj: dict[str, Any], key: str, required: bool = True) -> str:
    value = obj.get(key, "")
    if value is None and not required:
        return ""
    if not isinstance(value, str):
        raise BadInput(f"'{key}' must be a string")
    if required and not value.strip():
        raise BadInput(f"'{key}' is empty")
    return value


def _split(obj: dict[str, Any]) -> Split:
    value = str(obj.get("split") or "train").lower()
    if value not in SPLITS:
        raise BadInput(f"unknown split {value!r} (use train or heldout)")
    return SPLITS[value]


def _rows_of(obj: dict[str, Any], kind: str, fmt: PromptFormat) -> list[Row]:
    split = _split(obj)
    if kind == "prompt-completion":  # the user wrote the exact text: no formatting
        return [Row(_text(obj, "prompt", required=False), _text(obj, "completion"), split)]
    if kind == "alpaca":
        instruction, extra = _text(obj, "instruction"), _text(obj, "input", required=False)
        user = instruction.strip() + (f"\n\n{extra.strip()}" if extra.strip() else "")
        return [_reply_row([Turn("user", user)], _text(obj, "output"), fmt, split)]
    messages = obj["messages"]
    if not isinstance(messages, list) or not messages:
        raise BadInput("'messages' must be a non-empty list")
    turns = []
    for i, m in enumerate(messages):
        if not isinstance(m, dict) or m.get("role") not in ("system", "user", "assistant"):
            raise BadInput(f"message {i + 1} needs role system, user or assistant")
        turns.append(Turn(m["role"], _text(m, "content", required=m["role"] == "assistant")))
    rows = [row for _, row in conversation_rows(turns, fmt, split)]
    if not rows:
        raise BadInput("no assistant message after a user message")
    return rows


def _reply_row(before: list[Turn], reply: str, fmt: PromptFormat, split: Split) -> Row:
    prompt = fmt.render(before)
    return Row(prompt, continuation(prompt, reply), split)


def conversation_rows(
    turns: list[Turn], fmt: PromptFormat, split: Split = "train"
) -> list[tuple[int, Row]]:
    """(turn index, row) per non-empty assistant turn after a user turn: the chat's rendering."""
    out = []
    for i, turn in enumerate(turns):
        if (
            turn.role == "assistant"
            and turn.content.strip()
            and any(t.role == "user" for t in turns[:i])
        ):
            out.append((i, _reply_row(turns[:i], turn.content, fmt, split)))
    return out


# -- the history and the library -----------------------------------------------------------------
def from_conversations(
    db: sqlite_utils.Database, ids: Iterable[int], fmt: PromptFormat
) -> list[Row]:
    from tuiapp.chat.history import History

    history = History(db)
    rows: list[Row] = []
    for cid in ids:
        history.get_conversation(cid)  # NotFound names the missing id
        # A reply the user stopped mid-stream is not a good example; the turns stay context.
        messages = history.messages(cid)
        turns = [Turn(m.role, m.content) for m in messages]
        rows += [r for i, r in conversation_rows(turns, fmt) if not messages[i].stopped]
    if not rows:
        raise BadInput("The selected conversations have no assistant replies to learn from.")
    return rows


def from_examples(
    db: sqlite_utils.Database,
    set_name: str,
    fmt: PromptFormat,
    shots: int = 0,
    selector: str = "fixed",
    seed: int = 0,
    train_rows: int | None = None,
) -> list[Row]:
    """Rows of an example set rendered by the library's assembler (train + heldout splits).

    With ``shots`` > 0 each row's prompt carries that many other train rows as examples,
    chosen by ``selector`` the way few-shot inference chooses them. With ``train_rows`` only
    that many train rows are kept (``splits.nested_subset``: label-stratified, nested), the
    held-out rows all.
    """
    from tuiapp.library.examples import ExampleStore
    from tuiapp.library.fewshot import Assembler
    from tuiapp.library.selectors import SelectionContext, get_selector
    from tuiapp.library.templates import TemplateStore

    store = ExampleStore(db)
    example_set = store.get_set(set_name)
    if not example_set.template:
        raise BadInput(f"Example set '{set_name}' has no template to render its rows with.")
    template = TemplateStore(db).get(example_set.template)
    assembler = Assembler(template, lambda text: 0, fmt, None)  # no budget: we cut by tokens
    examples = store.examples(set_name)
    pool = [ex for ex in examples if ex.split == "train"]
    if train_rows is not None:
        from tuiapp.library.splits import nested_subset

        if train_rows < 1:
            raise BadInput("Train on at least 1 row.")
        keep = {id(ex) for ex in nested_subset(pool, train_rows, seed)}
        examples = [ex for ex in examples if ex.split != "train" or id(ex) in keep]
        pool = [ex for ex in examples if ex.split == "train"]
    chosen, ctx = get_selector(selector), SelectionContext(db=db, seed=seed)
    if shots and chosen.needs_embeddings:
        raise BadInput(f"Selector '{selector}' needs the chat engine; use fixed, random or bm25.")
    rows = []
    for ex in examples:
        others = [p for p in pool if p.id != ex.id]
        ranked = chosen.select(ex, others, shots, ctx) if shots else []
        prompt = assembler.build(ex, ranked).text
        rows.append(Row(prompt, continuation(prompt, ex.output), SPLITS.get(ex.split, "train")))
    if not rows:
        raise BadInput(f"Example set '{set_name}' has no rows.")
    return rows


# -- splitting, hashing, storing -----------------------------------------------------------------
def split_rows(rows: list[Row], val_fraction: float) -> list[Row]:
    """Keep a stored held-out split; otherwise hold out ``val_fraction`` by a stable hash."""
    if any(r.split == "heldout" for r in rows) or val_fraction <= 0 or len(rows) < 10:
        return rows
    out = []
    for row in rows:
        digest = hashlib.sha256((row.prompt + "\x00" + row.completion).encode()).digest()
        held = int.from_bytes(digest[:4], "big") / 2**32 < val_fraction
        out.append(Row(row.prompt, row.completion, "heldout" if held else "train"))
    if all(r.split == "heldout" for r in out) or not any(r.split == "heldout" for r in out):
        return rows
    return out


def dataset_hash(rows: list[Row]) -> str:
    digest = hashlib.sha256()
    for row in rows:
        digest.update(json.dumps(row.to_dict(), sort_keys=True).encode() + b"\n")
    return digest.hexdigest()


def write_rows(rows: list[Row], path: Path) -> None:
    with path.open("w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row.to_dict(), ensure_ascii=False) + "\n")


def read_rows(path: Path) -> list[Row]:
    with path.open(encoding="utf-8") as f:
        return [Row(**json.loads(line)) for line in f if line.strip()]
