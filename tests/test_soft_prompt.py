"""Soft prompts: PEFT prompt tuning -> soft prompt GGUF -> llama.cpp fed the vectors as input
embeddings, on tiny random models of each architecture. llama.cpp must predict what PEFT predicts
with the virtual tokens in front, and keep them cached as a prefix."""

import copy

import numpy as np
import pytest

from tests.helpers.tiny_models import ARCHITECTURES, random_lora, tiny_gguf
from tuiapp.chat.engine.adapters import AdapterSlots
from tuiapp.chat.engine.soft_prompt import PLACEHOLDER, read_soft_prompt, virtual_tokens
from tuiapp.conversion import AdapterMismatch, NotConvertible, check_parity, convert_lora
from tuiapp.conversion.parity import ADAPTER_EFFECT_SHARE, eval_logits
from tuiapp.conversion.soft_prompt import convert_soft_prompt
from tuiapp.errors import EngineError

TEXT = b"the cat sat on the red mat and the sky is blue"


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    out = tmp_path_factory.mktemp("tiny")
    return {arch: tiny_gguf(arch, out) for arch in ARCHITECTURES}


def prompt_tuned(model, n_tokens=4, seed=3):
    """A PEFT prompt-tuning model whose virtual tokens are random vectors of the embedding's
    own scale (as trained ones are), so they move the logits clearly."""
    import torch
    from peft import PromptTuningConfig, TaskType, get_peft_model

    config = PromptTuningConfig(task_type=TaskType.CAUSAL_LM, num_virtual_tokens=n_tokens)
    peft_model = get_peft_model(copy.deepcopy(model), config).eval()
    embedding = peft_model.prompt_encoder["default"].embedding
    torch.manual_seed(seed)
    with torch.no_grad():
        scale = float(model.get_input_embeddings()(torch.tensor([5, 6, 7])).std())
        embedding.weight.copy_(torch.randn_like(embedding.weight) * scale)
    return peft_model


def llama(base):
    from tuiapp.chat.engine.loader import load_llama

    return load_llama(str(base), n_ctx=64, n_threads=2, logits_all=True, type_k=0, type_v=0)


@pytest.mark.parametrize("arch", ARCHITECTURES)
def test_soft_prompt_in_llama_cpp_matches_peft(arch, tiny, tmp_path):
    import torch

    model, base = tiny[arch]
    peft_model = prompt_tuned(model)
    peft_model.save_pretrained(tmp_path / "pt")
    result = convert_soft_prompt(tmp_path / "pt", base, tmp_path / "pt.gguf", base_sha256="ab")
    assert (result.n_tokens, result.n_embd, result.method) == (4, 64, "prompt_tuning")
    prompt = read_soft_prompt(tmp_path / "pt.gguf")
    assert prompt.base_sha256 == "ab" and prompt.vectors.shape == (4, 64)

    llm = llama(base)
    tokens = llm.tokenize(TEXT, add_bos=True)
    slots = AdapterSlots()
    slots.apply(llm, {str(tmp_path / "pt.gguf"): 1.0})
    assert slots.prefix is not None
    got = eval_logits(llm, tokens, slots.prefix)
    plain = eval_logits(llm, tokens)
    with torch.no_grad():
        expected = peft_model(torch.tensor([tokens])).logits[0, 4:].numpy()
    effect = np.abs(expected - plain).max()
    error = np.abs(got - expected).max()
    assert effect > 0.5, (arch, effect)  # the virtual tokens really change the predictions...
    assert error < (3e-3 if arch == "gemma3" else 1e-4), (arch, error)  # ...the same way


def test_the_virtual_tokens_stay_cached_as_a_prefix(tiny, tmp_path):
    model, base = tiny["llama"]
    prompt_tuned(model, n_tokens=3).save_pretrained(tmp_path / "pt")
    convert_soft_prompt(tmp_path / "pt", base, tmp_path / "pt.gguf")
    random_lora(copy.deepcopy(model), ["q_proj"]).save_pretrained(tmp_path / "lora")
    convert_lora(tmp_path / "lora", base, tmp_path / "lora.gguf")
    mix = {str(tmp_path / "pt.gguf"): 1.0, str(tmp_path / "lora.gguf"): 1.0}
    assert virtual_tokens(mix) == 3  # what the chat keeps free in its context budget
    llm = llama(base)
    slots = AdapterSlots()
    slots.apply(llm, mix)  # a LoRA mixes beside the soft prompt
    prefix = slots.prefix
    assert prefix is not None and set(slots.loaded) == {str(tmp_path / "lora.gguf")}
    ids = llm.tokenize(TEXT, add_bos=True)
    tokens = prefix.tokens(llm, ids)
    assert tokens[:3] == [PLACEHOLDER] * 3 and tokens[3:] == ids and prefix.primed(llm)
    llm.eval(tokens[3:])
    first = np.array(llm.scores[3 + len(ids) - 1])
    llm.n_tokens = 3  # a later prompt reuses the cached virtual tokens without decoding them
    assert prefix.primed(llm)
    llm.eval(ids)
    assert np.allclose(np.array(llm.scores[3 + len(ids) - 1]), first, atol=1e-5)
    llm.reset()
    llm.eval(ids)  # the plain prompt overwrote the prefix: it is decoded again on demand
    assert not prefix.primed(llm)
    prefix.prime(llm)
    assert prefix.primed(llm) and llm.n_tokens == 3


def test_soft_prompt_refusals_name_the_problem(tiny, tmp_path):
    model, base = tiny["llama"]
    random_lora(copy.deepcopy(model), ["q_proj"]).save_pretrained(tmp_path / "lora")
    with pytest.raises(NotConvertible, match="virtual token embeddings"):
        convert_soft_prompt(tmp_path / "lora", base, tmp_path / "x.gguf")
    prompt_tuned(model).save_pretrained(tmp_path / "pt")
    _, other = tiny["qwen3"]  # same width, another architecture
    with pytest.raises(AdapterMismatch):
        convert_soft_prompt(tmp_path / "pt", other, tmp_path / "x.gguf", architecture="llama")
    assert not (tmp_path / "x.gguf").exists()
    convert_soft_prompt(tmp_path / "pt", base, tmp_path / "pt.gguf")
    llm = llama(base)
    slots = AdapterSlots()
    with pytest.raises(EngineError, match="no scale"):
        slots.apply(llm, {str(tmp_path / "pt.gguf"): 0.5})
    convert_soft_prompt(tmp_path / "pt", base, tmp_path / "pt2.gguf")
    with pytest.raises(EngineError, match="Only one soft prompt"):
        slots.apply(llm, {str(tmp_path / "pt.gguf"): 1.0, str(tmp_path / "pt2.gguf"): 1.0})


def test_parity_check_of_a_soft_prompt_passes_and_catches_a_wrong_scale(tiny, tmp_path):
    model, base = tiny["gemma3"]
    peft_model = prompt_tuned(model)
    peft_model.save_pretrained(tmp_path / "pt")
    convert_soft_prompt(tmp_path / "pt", base, tmp_path / "pt.gguf")
    report = check_parity(base, tmp_path / "pt", tmp_path / "pt.gguf", reference=model)
    assert report.passed and report.target == "soft prompt", report
    assert report.effect_kl_mean > 10 * report.kl_mean
    # the vectors unscaled by Gemma's sqrt(n_embd): what a wrong embedding space looks like
    from tuiapp.conversion.soft_prompt import write_soft_prompt

    vectors = read_soft_prompt(tmp_path / "pt.gguf").vectors / 8.0
    write_soft_prompt(tmp_path / "bad.gguf", "gemma3", vectors, None, "bad")
    bad = check_parity(base, tmp_path / "pt", tmp_path / "bad.gguf", reference=model)
    assert not bad.passed and "soft prompt GGUF" in (bad.warning or ""), bad
    # a wrong embedding space costs a share of the effect far above what quantization explains
    assert bad.kl_mean > 2 * ADAPTER_EFFECT_SHARE * bad.effect_kl_mean
