"""Rows -> token ids with completion-only labels, and the collator that pads them.

The prompt is tokenized on its own, exactly as llama.cpp tokenizes what the app sends (BOS
added, special tokens parsed), and the completion is tokenized after it with EOS appended, so
the adapter learns to end its reply where the chat stops generating. Prompt positions get label
-100: the loss covers the completion only.
"""

from dataclasses import asdict, dataclass
from typing import Any

from tuiapp.training.data import Row

IGNORE = -100


@dataclass
class TokenStats:
    rows: int = 0
    truncated: int = 0  # rows cut to max_seq_len
    dropped: int = 0  # rows with no completion tokens left
    tokens: int = 0

    def to_dict(self) -> dict[str, int]:
        return asdict(self)


def encode(row: Row, tokenizer: Any, max_len: int) -> tuple[dict[str, list[int]] | None, bool]:
    """(input_ids + labels, was it cut). An over-long row keeps BOS and the end of its prompt
    (the oldest context goes first, as in the chat; at least half the window) and as much of
    the completion as fits after it."""
    prompt = tokenizer(row.prompt, add_special_tokens=True)["input_ids"]
    completion = tokenizer(row.completion, add_special_tokens=False)["input_ids"]
    if tokenizer.eos_token_id is not None:
        completion = [*completion, tokenizer.eos_token_id]
    if not completion:
        return None, False
    cut = len(prompt) + len(completion) > max_len
    if cut:
        completion = completion[: max_len - min(len(prompt), max_len // 2)]
        room = max_len - len(completion)
        has_bos = bool(prompt) and prompt[0] == tokenizer.bos_token_id
        if len(prompt) > room:
            prompt = (
                ([prompt[0]] + prompt[len(prompt) - room + 1 :])
                if has_bos and room > 1
                else prompt[len(prompt) - room :]
            )
    ids = prompt + completion
    return {"input_ids": ids, "labels": [IGNORE] * len(prompt) + completion}, cut


def encode_all(
    rows: list[Row], tokenizer: Any, max_len: int
) -> tuple[list[dict[str, Any]], TokenStats]:
    out, stats = [], TokenStats()
    for row in rows:
        item, cut = encode(row, tokenizer, max_len)
        if item is None:
            stats.dropped += 1
            continue
        stats.rows += 1
        stats.truncated += int(cut)
        stats.tokens += len(item["input_ids"])
        out.append(item)
    return out, stats


class Collator:
    """Pads a batch on the right to its longest row (labels with -100, mask with 0)."""

    def __init__(self, pad_id: int, multiple_of: int | None = None) -> None:
        self.pad_id = pad_id
        self.multiple_of = multiple_of  # tensor cores like lengths in multiples of 8 (GPU)

    def __call__(self, batch: list[dict[str, list[int]]]) -> dict[str, Any]:
        import torch

        n = max(len(item["input_ids"]) for item in batch)
        if self.multiple_of:
            n = -(-n // self.multiple_of) * self.multiple_of
        ids, labels, mask = [], [], []
        for item in batch:
            pad = n - len(item["input_ids"])
            ids.append(item["input_ids"] + [self.pad_id] * pad)
            labels.append(item["labels"] + [IGNORE] * pad)
            mask.append([1] * len(item["input_ids"]) + [0] * pad)
        return {
            "input_ids": torch.tensor(ids),
            "labels": torch.tensor(labels),
            "attention_mask": torch.tensor(mask),
        }
