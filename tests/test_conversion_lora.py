"""PEFT LoRA -> GGUF adapter on tiny random models of each architecture: llama.cpp with the
converted adapter must reproduce transformers + PEFT almost exactly on F32 bases."""

import copy

import numpy as np
import pytest

from tests.helpers.conversion import ALL_LINEAR, llama_logits, peft_logits
from tests.helpers.tiny_models import ARCHITECTURES, random_lora, tiny_gguf
from tuiapp.chat.models.gguf_info import open_gguf
from tuiapp.conversion import check_parity, convert_lora


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """arch -> (HF model, its F32 GGUF), built once for the module."""
    out = tmp_path_factory.mktemp("tiny")
    return {arch: tiny_gguf(arch, out) for arch in ARCHITECTURES}


def targets_for(arch):
    # untied models can take LoRA on the embeddings and the output layer as adapter GGUFs
    return ALL_LINEAR + (["embed_tokens", "lm_head"] if arch in ("llama", "qwen3") else [])


@pytest.mark.parametrize("arch", ARCHITECTURES)
def test_converted_adapter_matches_peft(arch, tiny, tmp_path):
    model, base = tiny[arch]
    peft_model = random_lora(copy.deepcopy(model), targets_for(arch), r=4, alpha=8)
    peft_model.save_pretrained(tmp_path / "adapter")
    result = convert_lora(tmp_path / "adapter", base, tmp_path / "adapter.gguf")
    assert result.architecture == arch and result.method == "lora" and result.ranks == [4]

    tokens, with_adapter = llama_logits(base, tmp_path / "adapter.gguf")
    expected, without = peft_logits(peft_model, tokens)
    effect = np.abs(expected - without).max()
    error = np.abs(with_adapter - expected).max()
    assert effect > 1.0  # the adapter really moves the logits...
    # ...and llama.cpp follows it exactly (Gemma: ggml's GELU runs through an f16 table)
    assert error < (3e-3 if arch == "gemma3" else 1e-4), (arch, error)


def test_scaling_rules_rslora_rank_and_alpha_patterns(tiny, tmp_path):
    model, base = tiny["qwen2"]
    peft_model = random_lora(
        copy.deepcopy(model),
        ALL_LINEAR,
        r=8,
        alpha=4,
        use_rslora=True,
        rank_pattern={"down_proj": 2, "layers.1.self_attn.v_proj": 3},
        alpha_pattern={"layers.0.self_attn.q_proj": 32},
    )
    peft_model.save_pretrained(tmp_path / "adapter")
    result = convert_lora(tmp_path / "adapter", base, tmp_path / "adapter.gguf")
    assert result.alpha == pytest.approx(4 * 8**0.5) and result.ranks == [2, 3, 8]
    tokens, with_adapter = llama_logits(base, tmp_path / "adapter.gguf")
    expected, _ = peft_logits(peft_model, tokens)
    assert np.abs(with_adapter - expected).max() < 1e-4


def test_f16_adapter_and_file_layout(tiny, tmp_path):
    model, base = tiny["llama"]
    peft_model = random_lora(copy.deepcopy(model), ["q_proj", "v_proj", "embed_tokens"], r=4)
    peft_model.save_pretrained(tmp_path / "adapter")
    out = tmp_path / "out" / "adapter-f16.gguf"
    convert_lora(tmp_path / "adapter", base, out, outtype="f16", base_sha256="ab" * 32)
    assert [p.name for p in out.parent.iterdir()] == [out.name]  # no temp file left behind

    reader = open_gguf(out)
    fields = {k: f.contents() for k, f in reader.fields.items() if not k.startswith("GGUF.")}
    assert fields["general.type"] == "adapter" and fields["adapter.type"] == "lora"
    assert fields["general.architecture"] == "llama" and fields["adapter.lora.alpha"] == 8.0
    assert fields["tuiapp.base.sha256"] == "ab" * 32
    shapes = {
        t.name: (t.tensor_type.name, [int(x) for x in reversed(t.shape)]) for t in reader.tensors
    }
    vocab = model.config.vocab_size
    assert shapes["blk.0.attn_q.weight.lora_a"] == ("F16", [4, 64])
    assert shapes["blk.0.attn_q.weight.lora_b"] == ("F16", [64, 4])
    assert shapes["token_embd.weight.lora_a"] == ("F16", [vocab, 4])  # transposed for get_rows
    assert shapes["token_embd.weight.lora_b"] == ("F16", [64, 4])

    tokens, with_adapter = llama_logits(base, out)
    expected, _ = peft_logits(peft_model, tokens)
    assert np.abs(with_adapter - expected).max() < 2e-2  # f16 rounding of A and B


def test_llama_q_and_k_rows_are_permuted(tiny, tmp_path):
    """Without the permutation the q/k update lands on the wrong rotary dimensions."""
    from tuiapp.conversion.gguf_base import permute_qk

    model, base = tiny["llama"]
    peft_model = random_lora(copy.deepcopy(model), ["q_proj", "k_proj"], r=4)
    peft_model.save_pretrained(tmp_path / "adapter")
    convert_lora(tmp_path / "adapter", base, tmp_path / "adapter.gguf")
    reader = open_gguf(tmp_path / "adapter.gguf")
    written = {t.name: np.array(t.data) for t in reader.tensors}
    b_q = peft_model.base_model.model.model.layers[0].self_attn.q_proj.lora_B["default"]
    b_q = b_q.weight.detach().numpy()
    assert np.array_equal(written["blk.0.attn_q.weight.lora_b"], permute_qk(b_q, 4))
    assert not np.array_equal(written["blk.0.attn_q.weight.lora_b"], b_q)


@pytest.mark.parametrize("arch", ["llama", "gemma3"])
def test_parity_report_on_f32_bases(arch, tiny, tmp_path):
    """check_parity loads the base from the GGUF in transformers itself (the training path)."""
    model, base = tiny[arch]
    peft_model = random_lora(copy.deepcopy(model), ALL_LINEAR, r=4, std=0.1)
    peft_model.save_pretrained(tmp_path / "adapter")
    convert_lora(tmp_path / "adapter", base, tmp_path / "adapter.gguf")
    stages = []
    report = check_parity(
        base,
        tmp_path / "adapter",
        tmp_path / "adapter.gguf",
        prompts=["the cat sat on the mat", "blue sky"],
        n_threads=2,
        progress=lambda stage, fraction: stages.append(fraction),
    )
    data = report.to_dict()
    assert report.passed and data["warning"] is None and report.target == "adapter"
    assert report.top1_agreement == 1.0 and report.kl_mean < 1e-4
    assert report.delta_correlation is not None and report.delta_correlation > 0.999
    assert report.threshold >= 1e-3 and report.positions > 6
    assert stages[0] == 0.0 and stages[-1] == 1.0


def test_parity_fails_loudly_for_a_wrong_adapter(tiny, tmp_path):
    """An adapter converted without the Llama q/k permutation must not pass."""
    from tuiapp.conversion import lora_gguf

    model, base = tiny["llama"]
    peft_model = random_lora(copy.deepcopy(model), ["q_proj", "k_proj"], r=4, std=0.5)
    peft_model.save_pretrained(tmp_path / "adapter")
    base_info = lora_gguf.read_base(base)
    base_info.architecture = "qwen2"  # as if we forgot that llama permutes q/k
    adapter = lora_gguf.read_peft_adapter(tmp_path / "adapter")
    pairs, alpha = lora_gguf.plan_pairs(adapter, base_info)
    lora_gguf.write_adapter_gguf(tmp_path / "bad.gguf", "llama", pairs, alpha, "f32", None, "bad")
    report = check_parity(
        base,
        tmp_path / "adapter",
        tmp_path / "bad.gguf",
        reference=copy.deepcopy(model),
        prompts=["the cat sat on the mat"],
        n_threads=2,
    )
    assert not report.passed
    assert report.warning.startswith("PARITY CHECK FAILED")


def test_parity_on_the_engine_keeps_its_adapters(tiny, tmp_path):
    from tuiapp.chat.engine.engine import Engine

    model, base = tiny["qwen3"]
    peft_model = random_lora(copy.deepcopy(model), ALL_LINEAR, r=4, std=0.1)
    peft_model.save_pretrained(tmp_path / "adapter")
    convert_lora(tmp_path / "adapter", base, tmp_path / "adapter.gguf")
    engine = Engine(n_ctx=128, n_threads=2)
    try:
        engine.load(base).result()
        engine.set_adapters({str(tmp_path / "adapter.gguf"): 0.5}).result()
        report = check_parity(
            base,
            tmp_path / "adapter",
            tmp_path / "adapter.gguf",
            reference=model,
            engine=engine,
            prompts=["the cat sat"],
        )
        assert report.passed and report.top1_agreement == 1.0
        assert engine.adapters.active == {str(tmp_path / "adapter.gguf"): 0.5}
        assert engine.complete("the cat", adapters={}).text() is not None
    finally:
        engine.close()
    assert not any("lora" in n for n, _ in model.named_parameters())  # reference left as it was


def test_parity_refuses_to_vouch_when_the_reference_is_not_the_base(tiny, tmp_path):
    """If transformers does not load the GGUF as llama.cpp runs it, no threshold can help."""
    from tests.helpers.tiny_models import tiny_model

    model, base = tiny["qwen2"]
    peft_model = random_lora(copy.deepcopy(model), ["q_proj"], r=4)
    peft_model.save_pretrained(tmp_path / "adapter")
    convert_lora(tmp_path / "adapter", base, tmp_path / "adapter.gguf")
    report = check_parity(
        base,
        tmp_path / "adapter",
        tmp_path / "adapter.gguf",
        reference=tiny_model("qwen2", seed=7),
        prompts=["the cat sat"],
    )
    assert not report.passed and report.noise_kl_mean > 0.1
    assert "already disagree on the base model" in report.warning
