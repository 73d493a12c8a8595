"""The held-out split of rows that came without one: deterministic, label-stratified.

Each row's place is the sha256 of the seed and its text, so the same file and seed always give
the same split, whatever the row order, and adding rows never moves the old ones. Within each
label (or among all rows, for sets without labels) the lowest ``fraction`` of hashes go to
``heldout``: every label is held out in proportion, and a group of two or more rows always
keeps at least one row on each side.
"""

import hashlib
from collections import defaultdict

from tuiapp.errors import BadInput
from tuiapp.library.records import Example, Split

DEFAULT_HELDOUT = 0.25
MIN_COMPARE = 10  # held-out rows below which a comparison says too little


def _key(seed: int, ex: Example) -> str:
    return hashlib.sha256(f"{seed}\0{ex.text()}".encode()).hexdigest()


def draw_splits(
    rows: list[Example], fraction: float = DEFAULT_HELDOUT, seed: int = 0
) -> list[Split]:
    """The split of each of ``rows``, in order."""
    if not 0.0 < fraction < 1.0:
        raise BadInput(f"The held-out fraction must be between 0 and 1 (got {fraction}).")
    groups: dict[str | None, list[int]] = defaultdict(list)
    for i, ex in enumerate(rows):
        groups[ex.label].append(i)
    out: list[Split] = ["train"] * len(rows)
    for members in groups.values():
        ranked = sorted(members, key=lambda i: _key(seed, rows[i]))
        n = round(len(ranked) * fraction)
        if len(ranked) >= 2:
            n = min(max(n, 1), len(ranked) - 1)
        for i in ranked[:n]:
            out[i] = "heldout"
    return out


def nested_subset(rows: list[Example], n: int, seed: int = 0) -> list[Example]:
    """``n`` of ``rows``, label by label in turn, each label in hash order (a learning curve's
    training sizes). Nested: the rows picked for n are among those picked for any larger n, so
    a bigger point only adds rows; and every label is drawn from before any is drawn twice."""
    if n >= len(rows):
        return list(rows)
    groups: dict[str | None, list[Example]] = defaultdict(list)
    for ex in sorted(rows, key=lambda ex: _key(seed, ex)):
        groups[ex.label].append(ex)
    queues = [groups[label] for label in sorted(groups, key=lambda label: str(label))]
    picked: list[Example] = []
    depth = 0
    while len(picked) < n:
        picked += [queue[depth] for queue in queues if depth < len(queue)][: n - len(picked)]
        depth += 1
    chosen = {id(ex) for ex in picked}
    return [ex for ex in rows if id(ex) in chosen]  # in the set's own order
