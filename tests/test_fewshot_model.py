"""Few-shot on the real embedded model: label scoring, embeddings, prefix reuse."""

import math
import time

import numpy as np
import pytest

from tuiapp.chat.engine.sampling import SamplingParams
from tuiapp.evaluation.scoring import choose_label, score_continuations
from tuiapp.library.embeddings import Embedder
from tuiapp.library.fewshot import Assembler
from tuiapp.library.records import Example, Template
from tuiapp.library.selectors import SelectionContext, get_selector
from tuiapp.store import open_db

pytestmark = pytest.mark.slow
GREEDY = SamplingParams(temperature=0.0, max_tokens=3, seed=1, repeat_penalty=1.0)
TEMPLATE = Template(
    name="sentiment",
    body="Review: {{ review }}\nSentiment:",
    system="Decide whether each review is positive or negative.",
    stop=["\n"],
)
TRAIN = [
    ("I love this phone, the screen is gorgeous.", "positive"),
    ("The food was cold and the staff were rude.", "negative"),
    ("Best purchase I made all year.", "positive"),
    ("It broke after one day. Avoid.", "negative"),
]
SHOTS = [Example({"review": r}, lab, lab, id=i + 1, position=i) for i, (r, lab) in enumerate(TRAIN)]


def prompt_for(engine, review: str) -> str:
    return Assembler(TEMPLATE, engine.count_tokens).build({"review": review}, SHOTS).text


def test_label_scoring_picks_the_obvious_label(engine):
    good = choose_label(
        engine, prompt_for(engine, "Wonderful! I adore it, five stars."), ["positive", "negative"]
    )
    bad = choose_label(
        engine,
        prompt_for(engine, "Terrible. It stopped working and smells."),
        ["positive", "negative"],
    )
    assert good.label == "positive" and bad.label == "negative"
    for choice in (good, bad):
        assert all(lp < 0 and math.isfinite(lp) for lp in choice.logprobs.values())
        assert choice.n_tokens == {"positive": 1, "negative": 1}


def _log_softmax(logits):
    logits = logits.astype(np.float64)
    return logits - (logits.max() + np.log(np.exp(logits - logits.max()).sum()))


def test_scores_equal_a_plain_forward_pass(engine):
    """Prefix reuse + one batch per candidate gives the log-probs of an uncached pass.

    Only up to rounding: llama.cpp's kernels round differently with the batch shape (Q8
    activations), so the same tokens split into other batches differ by ~0.02 nats per token.
    A wrong logits row would be off by several nats.
    """
    prompt = prompt_for(engine, "Nice enough.")
    text = " positive, I think"

    def reference(llm):
        llm.reset()
        n = len(llm.tokenize(prompt.encode(), add_bos=True, special=True))
        full = llm.tokenize((prompt + text).encode(), add_bos=True, special=True)
        llm._ctx.kv_cache_seq_rm(-1, 0, -1)  # reset() only rewinds n_tokens
        llm._batch.set_batch(full[:-1], n_past=0, logits_all=True)
        llm._ctx.decode(llm._batch)
        rows = np.ctypeslib.as_array(
            llm._ctx.get_logits(), shape=((len(full) - 1) * llm.n_vocab(),)
        )
        rows = rows.reshape(len(full) - 1, -1)
        batched = sum(_log_softmax(rows[n - 1 + i])[t] for i, t in enumerate(full[n:]))
        # Token by token too: llama.cpp's single-token kernels round a little differently.
        llm.reset()
        llm.eval(full[:n])
        stepwise = 0.0
        for tok in full[n:]:
            logits = np.ctypeslib.as_array(llm._ctx.get_logits(), shape=(llm.n_vocab(),))
            stepwise += _log_softmax(logits)[tok]
            llm.eval([tok])
        llm.reset()
        return batched, stepwise, len(full) - n

    batched, stepwise, n = engine.call(reference).result()
    engine.complete(prompt_for(engine, "Something else entirely."), GREEDY).text()  # warm cache
    ((got, got_n),) = engine.call(lambda llm: score_continuations(llm, prompt, [text])).result()
    assert n == got_n >= 3
    assert got == pytest.approx(batched, abs=0.05 * n)
    assert got == pytest.approx(stepwise, abs=0.05 * n)


def test_scoring_leaves_the_prefix_cache_correct_for_generation(engine):
    prompt = prompt_for(engine, "Great value and it works perfectly.")
    engine.call(lambda llm: llm.reset()).result()
    reference = engine.complete(prompt, GREEDY).text()
    choose_label(engine, prompt, ["positive", "negative"])
    assert engine.complete(prompt, GREEDY).text() == reference
    other = prompt_for(engine, "Slow, noisy and overpriced.")
    choose_label(engine, other, ["positive", "negative"])
    choose_label(engine, prompt, ["positive", "negative"])
    assert engine.complete(prompt, GREEDY).text() == reference


def test_embeddings_are_unit_vectors_cached_by_model_and_text(engine, embedded_model_path):
    db = open_db()
    emb = Embedder(db, engine, str(embedded_model_path), "sha-for-test")
    texts = [
        "The cat sleeps on the sofa.",
        "A kitten naps on the couch.",
        "Quarterly revenue grew by four percent.",
    ]
    vecs = emb.embed(texts)
    assert vecs.shape == (3, 640) and vecs.dtype == np.float32
    assert np.allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-4)
    assert vecs[0] @ vecs[1] > vecs[0] @ vecs[2]
    assert emb.computed == 3
    again = emb.embed([texts[2], texts[0], "A new sentence."])
    assert emb.computed == 4  # only the new text went through llama.cpp
    assert np.allclose(again[0], vecs[2]) and np.allclose(again[1], vecs[0])
    assert db["embeddings"].count == 4
    other_model = Embedder(db, engine, str(embedded_model_path), "another-sha")
    other_model.embed(texts[:1])
    assert other_model.computed == 1  # the cache is per model
    emb.close()
    other_model.close()


def test_embedding_selector_prefers_the_similar_row(engine, embedded_model_path):
    pool = [
        Example({"review": t}, "x", id=i, position=i)
        for i, t in enumerate(
            [
                "The hotel pool was dirty and the room smelled of smoke.",
                "My new laptop's battery lasts twelve hours.",
                "The pasta was overcooked and the sauce too salty.",
            ]
        )
    ]
    ctx = SelectionContext(embedder=Embedder(open_db(), engine, str(embedded_model_path), "s"))
    q = Example(
        {"review": "The notebook computer runs all day on one charge."}, "", id=99, split="heldout"
    )
    assert get_selector("embedding").select(q, pool, 1, ctx)[0].id == 1
    assert len(get_selector("mmr").select(q, pool, 3, ctx)) == 3


def test_fixed_prefix_is_reused_between_queries(engine):
    """Warm time-to-first-token is a small fraction of cold (full table: bench_fewshot.py)."""
    long_shots = [
        Example({"review": f"{r} " * 6}, lab, id=i, position=i)
        for i, (r, lab) in enumerate(TRAIN * 3)
    ]
    asm = Assembler(TEMPLATE, engine.count_tokens)
    a = asm.build({"review": "Fine."}, long_shots)
    b = asm.build({"review": "Really not fine at all."}, long_shots)
    assert a.prefix == b.prefix and a.n_tokens > 500
    tok_a, tok_b = (engine.tokenize(p.text).result() for p in (a, b))
    shared = len(engine.tokenize(a.prefix).result())
    assert tok_a[:shared] == tok_b[:shared]
    engine.call(lambda llm: llm.reset()).result()
    start = time.perf_counter()
    cold = engine.complete(a.text, GREEDY)
    cold.text()
    warm = engine.complete(b.text, GREEDY)
    warm.text()
    assert time.perf_counter() - start < 60
    assert warm.result.first_token_ms < 0.3 * cold.result.first_token_ms
