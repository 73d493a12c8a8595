"""Scoring predictions: exact and normalized match, chrF, and label choice by log-likelihood.

Label accuracy is measured the way base models are best evaluated: instead of hoping the model
*writes* one of the labels, we ask it how likely each label is as the continuation of the prompt
and pick the most likely. This runs inside the engine's owner thread (``engine.call``) on the
chat ``Llama`` (created with ``logits_all=False``) without disturbing its prefix cache:

1. Bring the KV cache to the prompt minus its last token, reusing the longest common prefix with
   what the cache already holds (so few-shot prefixes are evaluated once per run, not per query).
2. For each candidate, decode ``[last prompt token] + candidate[:-1]`` at that position in one
   batch with logits for every position; row *i* holds the distribution of candidate token *i*.
   The sum of their log-softmax values is the candidate's log-probability.
3. Leave the cache holding exactly the prompt and mark it as needing a re-evaluation of its last
   token (``_requires_eval``), so the next ``create_completion`` reuses it safely.

The choice uses the **total** log-probability of each label (the probability of the whole label
string, which is what "the most likely label" means). Per-token mean normalization
(``normalize=True``) is offered for label sets whose lengths differ a lot; it is recorded in the
run's params when used.
"""

import re
import string
import unicodedata
from dataclasses import dataclass
from typing import Any

from tuiapp.errors import EngineError
from tuiapp.library.fewshot import continuation

_SPACE = re.compile(r"\s+")
_ASCII_PUNCT = set(string.punctuation)  # includes symbols such as | $ + that Unicode calls S*


def normalize_text(text: str) -> str:
    """Lowercase, punctuation removed, whitespace collapsed: what "normalized match" compares."""
    kept = "".join(
        " " if ch in _ASCII_PUNCT or unicodedata.category(ch).startswith("P") else ch
        for ch in text.casefold()
    )
    return _SPACE.sub(" ", kept).strip()


def exact_match(prediction: str, expected: str) -> bool:
    return prediction.strip() == expected.strip()


def normalized_match(prediction: str, expected: str) -> bool:
    return normalize_text(prediction) == normalize_text(expected)


def chrf(prediction: str, expected: str, max_n: int = 6, beta: float = 2.0) -> float:
    """chrF: character n-gram F-score (n = 1..6, recall weighted by beta = 2), in [0, 1].

    Whitespace is ignored; precision and recall are averaged over the n-gram orders both
    strings are long enough for. A graded similarity for outputs with no single right wording
    (rewriting, summaries), where exact match says almost nothing.
    """
    from collections import Counter

    hyp, ref = "".join(prediction.split()), "".join(expected.split())
    if not hyp or not ref:
        return float(hyp == ref)
    precisions, recalls = [], []
    for n in range(1, max_n + 1):
        if len(hyp) < n or len(ref) < n:
            break
        hyp_grams = Counter(hyp[i : i + n] for i in range(len(hyp) - n + 1))
        ref_grams = Counter(ref[i : i + n] for i in range(len(ref) - n + 1))
        overlap = sum((hyp_grams & ref_grams).values())
        precisions.append(overlap / sum(hyp_grams.values()))
        recalls.append(overlap / sum(ref_grams.values()))
    p, r = sum(precisions) / len(precisions), sum(recalls) / len(recalls)
    if p + r == 0:
        return 0.0
    return (1 + beta**2) * p * r / (beta**2 * p + r)


@dataclass
class LabelChoice:
    label: str
    logprobs: dict[str, float]  # total log-probability of each label's tokens
    n_tokens: dict[str, int]
    normalized: bool = False

    def score(self, label: str) -> float:
        lp = self.logprobs[label]
        return lp / max(1, self.n_tokens[label]) if self.normalized else lp


def choose_label(
    engine: Any,
    prompt: str,
    labels: list[str],
    normalize: bool = False,
    adapters: dict[str, float] | None = None,
) -> LabelChoice:
    """The label the model finds most likely after ``prompt`` (see the module docstring)."""
    if not labels:
        raise EngineError("No labels to choose from.")
    conts = [continuation(prompt, label) for label in labels]
    scores = engine.call(
        lambda llm: score_continuations(llm, prompt, conts, engine.adapters.prefix), adapters
    ).result()
    choice = LabelChoice(labels[0], {}, {}, normalize)
    for label, (logprob, n) in zip(labels, scores, strict=True):
        choice.logprobs[label] = logprob
        choice.n_tokens[label] = n
    # Ties go to the earlier label: deterministic.
    choice.label = max(labels, key=lambda lab: (choice.score(lab), -labels.index(lab)))
    return choice


def score_continuations(
    llm: Any, prompt: str, continuations: list[str], prefix: Any = None
) -> list[tuple[float, int]]:
    """(log-probability, token count) of each continuation of ``prompt``. Owner thread only.

    ``prefix``: the active ``SoftPrompt``, whose virtual tokens lead the prompt."""
    import numpy as np

    tokens = llm.tokenize(prompt.encode(), add_bos=True, special=True)
    if not tokens:
        raise EngineError("Cannot score an empty prompt.")
    conts = [_continuation_tokens(llm, prompt, tokens, text) for text in continuations]
    if prefix is not None:
        tokens = prefix.tokens(llm, tokens)
    head, last = tokens[:-1], tokens[-1]
    longest = max((len(c) for c in conts), default=0)
    if len(tokens) + longest > llm.n_ctx():
        raise EngineError(
            f"The prompt is {len(tokens)} tokens; scoring needs {longest} more than the "
            f"context of {llm.n_ctx()} holds."
        )
    # 1. the shared prefix, reusing whatever the cache already holds of it
    cached = llm.input_ids[: llm.n_tokens].tolist()
    common = 0
    for a, b in zip(cached, head, strict=False):
        if a != b:
            break
        common += 1
    llm.n_tokens = common
    llm.eval(head[common:])
    n_vocab = llm.n_vocab()
    results = []
    for cont in conts:
        if not cont:
            results.append((0.0, 0))
            continue
        # 2. one batch: [last prompt token] + every candidate token but the last
        seq = [last, *cont[:-1]]
        n_past = len(head)
        llm._ctx.kv_cache_seq_rm(-1, n_past, -1)
        llm._batch.set_batch(seq, n_past=n_past, logits_all=True)
        llm._ctx.decode(llm._batch)
        rows = np.ctypeslib.as_array(llm._ctx.get_logits(), shape=(len(seq) * n_vocab,))
        logits = rows.reshape(len(seq), n_vocab).astype(np.float64)
        peak = logits.max(axis=1, keepdims=True)
        log_z = peak[:, 0] + np.log(np.exp(logits - peak).sum(axis=1))
        picked = logits[np.arange(len(cont)), cont]
        results.append((float((picked - log_z).sum()), len(cont)))
    # 3. the cache now holds the prompt (every batch began with its last token at n_past)
    llm.input_ids[len(head)] = last
    llm.n_tokens = len(tokens)
    llm._requires_eval = True
    return results


def _continuation_tokens(llm: Any, prompt: str, prompt_tokens: list[int], text: str) -> list[int]:
    """Tokens of ``text`` as the model would write them after ``prompt``.

    Tokenizing the joined string keeps merges identical to real generation; when the join
    changes the prompt's own tokens (rare), fall back to tokenizing ``text`` alone.
    """
    full = llm.tokenize((prompt + text).encode(), add_bos=True, special=True)
    n = len(prompt_tokens)
    if full[:n] == prompt_tokens:
        return list(full[n:])
    return list(llm.tokenize(text.encode(), add_bos=False, special=True))
