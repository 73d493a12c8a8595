"""Merge export on tiny models: LoRA, DoRA, IA3 and modules_to_save folded into the base GGUF;
the result keeps every metadata key, loads in llama.cpp and matches PEFT's merged model."""

import copy

import numpy as np
import pytest

from tests.helpers.conversion import ALL_LINEAR, llama_logits, peft_logits
from tests.helpers.tiny_models import random_lora, tiny_gguf
from tuiapp.conversion import merge_export


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    out = tmp_path_factory.mktemp("tiny")
    return {arch: tiny_gguf(arch, out) for arch in ("llama", "qwen2", "qwen3", "gemma3")}


def metadata(path):
    from gguf import GGUFReader

    reader = GGUFReader(str(path))
    return {k: f.contents() for k, f in reader.fields.items() if not k.startswith("GGUF.")}


def dora(model):
    import torch

    peft_model = random_lora(model, ALL_LINEAR, r=4, use_dora=True)
    with torch.no_grad():  # PEFT starts the magnitudes at the weight norms: move them
        for name, param in peft_model.named_parameters():
            if "magnitude" in name:
                param.mul_(1 + 0.3 * torch.randn_like(param))
    return peft_model


def ia3(model):
    import torch
    from peft import IA3Config, get_peft_model

    config = IA3Config(
        target_modules=["k_proj", "v_proj", "down_proj"], feedforward_modules=["down_proj"]
    )
    peft_model = get_peft_model(model, config)
    with torch.no_grad():
        for name, param in peft_model.named_parameters():
            if "ia3_l" in name:
                param.copy_(1 + 0.5 * torch.randn_like(param))
    return peft_model.eval()


def saved_lm_head(model):
    import torch

    peft_model = random_lora(model, ["q_proj", "k_proj"], modules_to_save=["lm_head"])
    with torch.no_grad():
        for name, param in peft_model.named_parameters():
            if "modules_to_save" in name:
                param.add_(0.1 * torch.randn_like(param))
    return peft_model


CASES = {
    # tied Gemma: the embedding and output-layer updates untie the two in the merged file
    "lora-gemma3": ("gemma3", lambda m: random_lora(m, ALL_LINEAR + ["embed_tokens", "lm_head"])),
    "dora-llama": ("llama", dora),  # magnitudes on permuted q/k rows
    "ia3-qwen3": ("qwen3", ia3),
    "modules_to_save-qwen2": ("qwen2", saved_lm_head),
}


@pytest.mark.parametrize("case", list(CASES))
def test_merged_f32_matches_peft(case, tiny, tmp_path):
    arch, make = CASES[case]
    model, base = tiny[arch]
    peft_model = make(copy.deepcopy(model))
    peft_model.save_pretrained(tmp_path / "adapter")
    result = merge_export(tmp_path / "adapter", base, tmp_path / "merged.gguf", "F32", n_threads=2)
    assert result.quant == "F32" and result.merged_tensors > 0

    tokens, merged = llama_logits(result.path)
    expected, without = peft_logits(peft_model, tokens)
    assert np.abs(expected - without).max() > 1.0
    error = np.abs(merged - expected).max()
    assert error < (3e-3 if arch == "gemma3" else 1e-4), (case, error)


def test_merge_keeps_every_metadata_key_and_chats(tiny, tmp_path):
    from tuiapp.chat.engine.engine import Engine

    model, base = tiny["gemma3"]
    peft_model = random_lora(copy.deepcopy(model), ALL_LINEAR + ["embed_tokens"])
    peft_model.save_pretrained(tmp_path / "adapter")
    stages: list[tuple[str, float]] = []
    out = tmp_path / "out" / "merged.gguf"
    result = merge_export(
        tmp_path / "adapter",
        base,
        out,
        "Q8_0",
        n_threads=2,
        progress=lambda stage, fraction: stages.append((stage, fraction)),
    )
    assert [p.name for p in out.parent.iterdir()] == ["merged.gguf"]  # intermediates removed
    fractions = [f for _, f in stages]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    assert any(stage.startswith("Quantizing to Q8_0") for stage, _ in stages)
    assert result.size == out.stat().st_size

    before, after = metadata(base), metadata(out)
    assert after["general.file_type"] == 7  # MOSTLY_Q8_0
    for key, value in before.items():
        if key != "general.file_type":
            assert after[key] == value, key  # chat template, tokens, EOS... all kept
    from gguf import GGUFReader

    types = {t.name: t.tensor_type.name for t in GGUFReader(str(out)).tensors}
    assert types["blk.0.attn_q.weight"] == "Q8_0" and types["output.weight"] == "Q8_0"

    engine = Engine(n_ctx=128, n_threads=2)
    try:
        engine.load(out).result()
        from tuiapp.chat.engine.sampling import SamplingParams

        reply = engine.complete("the cat", SamplingParams(max_tokens=8, temperature=0.0))
        reply.text()
        assert reply.result is not None and reply.result.completion_tokens > 0
    finally:
        engine.close()


def test_f16_merge_of_an_untouched_base_keeps_llama_cpp_answers(tiny, tmp_path):
    """A LoRA whose B is zero (as PEFT initialises it) merges into the same model."""
    from peft import LoraConfig, get_peft_model

    model, base = tiny["qwen2"]
    peft_model = get_peft_model(copy.deepcopy(model), LoraConfig(r=4, target_modules=["q_proj"]))
    peft_model.save_pretrained(tmp_path / "adapter")
    result = merge_export(tmp_path / "adapter", base, tmp_path / "m.gguf", "f16", n_threads=2)
    _, merged = llama_logits(result.path)
    _, original = llama_logits(base)
    assert np.abs(merged - original).max() < 2e-2  # only the F16 rounding of the weights
