"""The engine on the real embedded model: streaming, stop (also mid-prefill), prefix reuse."""

import threading

import pytest

from tuiapp.chat.engine.engine import Engine
from tuiapp.chat.engine.sampling import SamplingParams
from tuiapp.errors import EngineError

pytestmark = pytest.mark.slow
GREEDY = SamplingParams(temperature=0.0, max_tokens=16, seed=1)


def test_streams_pieces_and_measures(engine):
    stream = engine.complete("The capital of France is", GREEDY)
    pieces = list(stream)
    done = stream.result
    assert len(pieces) > 3 and "".join(pieces) == done.text
    assert done.finish_reason in ("stop", "length") and not done.stopped
    assert 1 <= done.completion_tokens <= 16
    assert done.prompt_tokens == len(engine.tokenize("The capital of France is").result())
    assert 0 < done.first_token_ms < done.duration_ms and done.tokens_per_s > 0


def test_greedy_is_deterministic_and_stop_strings_cut(engine):
    a = engine.complete("Count: one, two, three,", GREEDY).text()
    b = engine.complete("Count: one, two, three,", GREEDY).text()
    assert a == b
    cut = engine.complete("Count: one, two, three,", GREEDY, stop=[","]).text()
    assert "," not in cut and a.startswith(cut)


def test_cancel_mid_stream_keeps_the_partial_text(engine):
    stream = engine.complete(
        "Write a long story about a dragon.", SamplingParams(temperature=0.0, max_tokens=200)
    )
    got = []
    for piece in stream:
        got.append(piece)
        if len(got) == 5:
            stream.cancel()
    done = stream.result
    assert done.stopped and done.finish_reason == "cancelled"
    assert done.text == "".join(got) and 5 <= len(got) < 20


def test_cancel_during_prefill_aborts_it_and_the_engine_stays_correct(engine):
    reference = engine.complete("Once upon a time", GREEDY).text()
    long_prompt = "word " * 1800
    stream = engine.complete(long_prompt, SamplingParams(max_tokens=4))
    # Cancel as soon as the owner thread has started the prefill.
    timer = threading.Timer(0.3, stream.cancel)
    timer.start()
    assert stream.text() == ""
    done = stream.result
    assert done.stopped and done.first_token_ms is None
    assert engine._llm.n_tokens < done.prompt_tokens  # the prefill did not run to the end
    # The KV cache left by the abort must not leak into the next request.
    assert engine.complete("Once upon a time", GREEDY).text() == reference


def test_over_long_prompt_is_a_clear_error(engine):
    with pytest.raises(EngineError, match="context holds 2048"):
        engine.complete("word " * 3000, GREEDY).text()


def test_load_failure_is_an_engine_error_and_the_thread_survives(tmp_path, embedded_model_path):
    eng = Engine(n_ctx=512, n_threads=2)
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"GGUF" + b"\x00" * 64)
    with pytest.raises(EngineError, match="failed to load"):
        eng.load(bad).result()
    with pytest.raises(EngineError, match="No model is loaded"):
        eng.complete("hi").text()
    eng.load(embedded_model_path).result()
    assert eng.complete("Hello", SamplingParams(max_tokens=2)).text() is not None
    eng.close()


def test_requests_after_close_fail_instead_of_hanging():
    eng = Engine(n_ctx=256, n_threads=1)
    eng.close()
    with pytest.raises(EngineError, match="shut down"):
        eng.tokenize("x").result(timeout=5)
    with pytest.raises(EngineError, match="shut down"):
        eng.complete("x").text()
