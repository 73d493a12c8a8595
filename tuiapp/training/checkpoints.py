"""Which checkpoint a resumed run starts from: the last one written completely.

transformers writes a checkpoint's files one after another, so a run killed while saving leaves
a ``checkpoint-N`` with a 0-byte ``optimizer.pt`` and no ``trainer_state.json``; its own
``get_last_checkpoint`` picks that one anyway and the resume fails. A checkpoint counts here when
its ``trainer_state.json`` parses, says step N, and no file in it is empty.
"""

import json
import re
from pathlib import Path

PATTERN = re.compile(r"^checkpoint-(\d+)$")


def is_complete(path: Path) -> bool:
    state = path / "trainer_state.json"
    try:
        step = json.loads(state.read_text()).get("global_step")
    except (OSError, ValueError, AttributeError):
        return False
    match = PATTERN.match(path.name)
    if match is None or step != int(match.group(1)):
        return False
    return all(f.stat().st_size > 0 for f in path.rglob("*") if f.is_file())


def last_complete(directory: Path) -> Path | None:
    """The newest complete ``checkpoint-N`` in ``directory`` (None when there is none)."""
    if not directory.is_dir():
        return None
    found = [(int(m.group(1)), p) for p in directory.iterdir() if (m := PATTERN.match(p.name))]
    for _step, path in sorted(found, reverse=True):
        if path.is_dir() and is_complete(path):
            return path
    return None


def steps_on_disk(directory: Path) -> int | None:
    """The step of the last complete checkpoint in ``directory`` (None when there is none)."""
    last = last_complete(directory)
    match = PATTERN.match(last.name) if last is not None else None
    return int(match.group(1)) if match else None
