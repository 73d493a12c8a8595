"""Adapter Tuning and trained steering vectors, the two built-in methods with their own modules,
on tiny random models: each exports to a form llama.cpp runs natively (a GGUF LoRA adapter, a
control vector) that reproduces the method's own modules in transformers."""

import copy

import numpy as np
import pytest

from tests.helpers.conversion import llama_logits
from tests.helpers.tiny_models import tiny_gguf
from tuiapp.plugins.exporters import ExportRequest
from tuiapp.plugins.manager import load_methods
from tuiapp.plugins.methods import ModelContext


def trained(method_name, model, options, tmp_path, std):
    """The method attached with random (not zero) parameters, saved and exported."""
    import torch

    registry = load_methods()
    method = registry.get(method_name)
    net = method.attach(copy.deepcopy(model), options, ModelContext("", "", ""))
    torch.manual_seed(4)
    with torch.no_grad():
        for param in net.parameters():
            if param.requires_grad:
                param.copy_(torch.randn_like(param) * std)
    (tmp_path / "adapter").mkdir()
    method.save(net, tmp_path / "adapter")
    exporter = registry.reach(method_name).hot_swap
    assert exporter is not None and exporter.refusal(tmp_path / "adapter", method_name) is None
    return method, exporter


def compare(method, exporter, model, base, tmp_path):
    import torch

    out = tmp_path / "export.gguf"
    figures = exporter.export(
        ExportRequest(tmp_path / "adapter", base, out, {}, method.name, base_sha256="ef")
    )
    tokens, got = llama_logits(base, out)
    reloaded = method.load(copy.deepcopy(model), tmp_path / "adapter")
    with torch.no_grad():
        expected = reloaded(torch.tensor([tokens])).logits[0].numpy()
        plain = model(torch.tensor([tokens])).logits[0].numpy()
    return figures, np.abs(expected - plain).max(), np.abs(got - expected).max()


@pytest.mark.parametrize("arch", ["llama", "gemma3"])
@pytest.mark.parametrize("placement", ["attention+mlp", "mlp"])
def test_adapter_tuning_exports_exactly_as_a_lora_adapter(arch, placement, tmp_path):
    model, base = tiny_gguf(arch, tmp_path)
    method, exporter = trained(
        "adapter_tuning", model, {"width": 4, "placement": placement}, tmp_path, 0.3
    )
    figures, effect, error = compare(method, exporter, model, base, tmp_path)
    assert figures["pairs"] == (4 if placement == "attention+mlp" else 2)
    assert figures["ranks"] == [4]
    assert effect > 0.5  # the bottlenecks matter...
    assert error < (3e-3 if arch == "gemma3" else 1e-4), error  # ...and llama.cpp agrees


@pytest.mark.parametrize("arch", ["llama", "qwen3", "gemma3"])
def test_steering_vectors_run_as_a_llama_cpp_control_vector(arch, tmp_path):
    model, base = tiny_gguf(arch, tmp_path)
    method, exporter = trained("steering", model, {}, tmp_path, 0.5)
    figures, effect, error = compare(method, exporter, model, base, tmp_path)
    assert figures["layers"] == 1 and figures["n_embd"] == 64  # 2 layers: layer 1 only
    assert effect > 0.5
    assert error < (3e-3 if arch == "gemma3" else 1e-4), error


def test_the_control_vector_file_has_what_llama_cpp_requires(tmp_path):
    import gguf

    from tuiapp.conversion import AdapterMismatch, write_control_vector

    _, base = tiny_gguf("llama", tmp_path)
    write_control_vector(tmp_path / "cv.gguf", base, {1: np.ones(64)}, base_sha256="ab")
    reader = gguf.GGUFReader(str(tmp_path / "cv.gguf"))
    fields = {name: field.contents() for name, field in reader.fields.items()}
    assert fields["general.architecture"] == "controlvector"
    assert fields["controlvector.model_hint"] == "llama"
    assert fields["controlvector.layer_count"] == 1
    [tensor] = reader.tensors
    assert tensor.name == "direction.1" and tensor.tensor_type == gguf.GGMLQuantizationType.F32
    assert list(tensor.shape) == [64]
    with pytest.raises(AdapterMismatch, match="layers 1..1"):
        write_control_vector(tmp_path / "x.gguf", base, {0: np.ones(64)})
    with pytest.raises(AdapterMismatch, match="64 wide"):
        write_control_vector(tmp_path / "x.gguf", base, {1: np.ones(32)})
    assert not (tmp_path / "x.gguf").exists()


def test_a_control_vector_strength_scales_and_zero_is_the_base(tmp_path):
    from tuiapp.chat.engine.adapters import AdapterSlots
    from tuiapp.chat.engine.loader import load_llama
    from tuiapp.conversion import write_control_vector

    _, base = tiny_gguf("llama", tmp_path)
    write_control_vector(tmp_path / "cv.gguf", base, {1: np.full(64, 0.5)})
    llm = load_llama(str(base), n_ctx=64, n_threads=2, logits_all=True, type_k=0, type_v=0)
    tokens = llm.tokenize(b"the cat sat", add_bos=True)
    slots = AdapterSlots()

    def logits(mix):
        slots.apply(llm, mix)
        llm.reset()
        llm.eval(tokens)
        return np.array(llm.scores[: len(tokens)])

    plain = logits({})
    full = logits({str(tmp_path / "cv.gguf"): 1.0})
    half = logits({str(tmp_path / "cv.gguf"): 0.5})
    assert np.abs(full - plain).max() > 0.1
    assert np.abs(half - plain).max() < np.abs(full - plain).max()
    assert np.allclose(logits({}), plain, atol=1e-5)  # cleared again: the base exactly
