"""The real embedded model (Gemma 3 270M, Q4_K_M): a LoRA trained-style on its dequantized
weights converts, passes the parity check on the chat's own engine, and changes the answers."""

import pytest

from tests.helpers.tiny_models import random_lora
from tuiapp.chat.engine.engine import Engine
from tuiapp.chat.engine.sampling import SamplingParams
from tuiapp.conversion import check_parity, convert_lora

pytestmark = pytest.mark.slow
TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
PROMPTS = ["The capital of France is", "Question: What is two plus three?\nAnswer:"]
GREEDY = SamplingParams(temperature=0.0, max_tokens=10, seed=1, repeat_penalty=1.0)


@pytest.fixture(scope="module")
def converted(embedded_model_path, tmp_path_factory):
    """(the dequantized base in transformers, the PEFT adapter dir, its GGUF adapter)."""
    from tuiapp.conversion.parity import load_reference

    out = tmp_path_factory.mktemp("real")
    reference = load_reference(embedded_model_path)
    peft_model = random_lora(reference, TARGETS, r=8, alpha=16, std=0.02, seed=3)
    peft_model.save_pretrained(out / "adapter")
    reference = peft_model.unload()
    result = convert_lora(out / "adapter", embedded_model_path, out / "adapter.gguf")
    assert result.architecture == "gemma3" and result.pairs == 18 * len(TARGETS)
    return reference, out / "adapter", out / "adapter.gguf"


@pytest.fixture(scope="module")
def engine(embedded_model_path):
    eng = Engine(n_ctx=512, n_threads=2)
    eng.load(embedded_model_path).result()
    yield eng
    eng.close()


def test_parity_on_the_quantized_model(converted, engine, embedded_model_path):
    reference, adapter_dir, adapter_gguf = converted
    report = check_parity(
        embedded_model_path,
        adapter_dir,
        adapter_gguf,
        reference=reference,
        engine=engine,
        prompts=PROMPTS,
    )
    # Q4_K_M activation noise is the floor; the adapter's own effect must line up (~0.99)
    assert report.passed, report.warning
    assert report.delta_correlation is not None and report.delta_correlation > 0.95
    assert report.noise_kl_mean > 0 and report.threshold >= 3 * report.noise_kl_mean


def test_the_adapter_changes_the_chat_and_off_restores_it(converted, engine):
    _, _, adapter_gguf = converted
    prompt = PROMPTS[0]
    base = engine.complete(prompt, GREEDY, adapters={}).text()
    adapted = engine.complete(prompt, GREEDY, adapters={str(adapter_gguf): 1.0}).text()
    assert adapted != base
    assert engine.complete(prompt, GREEDY, adapters={}).text() == base


def test_merged_q4_k_m_keeps_the_metadata_passes_parity_and_chats(
    converted, embedded_model_path, tmp_path
):
    from tuiapp.chat.models.gguf_info import read_gguf_info
    from tuiapp.conversion import merge_export

    reference, adapter_dir, _ = converted
    result = merge_export(adapter_dir, embedded_model_path, tmp_path / "merged.gguf", n_threads=2)
    before, after = read_gguf_info(embedded_model_path), read_gguf_info(result.path)
    assert after.quantization == "Q4_K_M" and after.architecture == "gemma3"
    assert (after.bos_token, after.eos_token, after.chat_template) == (
        before.bos_token,
        before.eos_token,
        before.chat_template,
    )
    report = check_parity(
        embedded_model_path,
        adapter_dir,
        result.path,
        merged=True,
        reference=reference,
        prompts=PROMPTS,
        n_threads=2,
    )
    assert report.passed, report.warning
    merged = Engine(n_ctx=256, n_threads=2)
    try:
        merged.load(result.path).result()
        assert merged.complete(PROMPTS[0], GREEDY).text().strip()
    finally:
        merged.close()
