"""A third party's method that is not a PEFT config, and its own exporter, on tiny models:
``write_lora_gguf`` turns hand-made low-rank updates into a GGUF adapter that llama.cpp runs
exactly as the method's own modules do in transformers."""

import copy
import importlib.util
from pathlib import Path

import numpy as np
import pytest

from tests.helpers.conversion import llama_logits
from tests.helpers.tiny_models import tiny_gguf
from tuiapp.conversion import AdapterMismatch, write_lora_gguf
from tuiapp.plugins.exporters import ExportRequest
from tuiapp.plugins.methods import ModelContext


def _load_own_method():
    """The example plugin's module, loaded from its file: putting its folder on sys.path would
    make the plugin's entry point visible to every later test."""
    path = Path(__file__).parent / "fixtures_plugin/good/tuiapp_example_plugin/own_method.py"
    spec = importlib.util.spec_from_file_location("example_own_method", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


own_method = _load_own_method()


@pytest.mark.parametrize("arch", ["llama", "gemma3"])  # llama: q rows are permuted in the GGUF
def test_own_modules_exported_by_their_own_exporter_match_in_llama_cpp(arch, tmp_path):
    import torch

    model, base = tiny_gguf(arch, tmp_path)
    trained = own_method.attach(copy.deepcopy(model), {"rank": 3}, ModelContext(arch, arch, ""))
    with torch.no_grad():  # factors big enough to move the logits clearly
        for name, param in trained.named_parameters():
            if name.endswith((".a", ".b")):
                param.copy_(torch.randn_like(param) * 0.3)
    (tmp_path / "adapter").mkdir()
    own_method.save(trained, tmp_path / "adapter")
    assert own_method.refusal(tmp_path / "adapter", "low_rank") is None
    request = ExportRequest(
        tmp_path / "adapter", base, tmp_path / "a.gguf", {}, "low_rank", base_sha256="cd"
    )
    figures = own_method.export(request)
    assert figures["pairs"] == 4 and figures["ranks"] == [3]

    tokens, got = llama_logits(base, tmp_path / "a.gguf")
    reloaded = own_method.load(copy.deepcopy(model), tmp_path / "adapter")
    with torch.no_grad():
        expected = reloaded(torch.tensor([tokens])).logits[0].numpy()
        plain = model(torch.tensor([tokens])).logits[0].numpy()
    assert np.abs(expected - plain).max() > 0.5  # the update matters...
    error = np.abs(got - expected).max()
    assert error < (3e-3 if arch == "gemma3" else 1e-4), (arch, error)  # ...and llama.cpp agrees


def test_write_lora_gguf_refuses_an_update_that_does_not_fit(tmp_path):
    _, base = tiny_gguf("llama", tmp_path)
    wrong = {"model.layers.0.self_attn.q_proj": (np.zeros((2, 32)), np.zeros((64, 2)))}
    with pytest.raises(AdapterMismatch, match="64x64"):
        write_lora_gguf(tmp_path / "x.gguf", base, wrong)
    absent = {"model.layers.9.self_attn.q_proj": (np.zeros((2, 64)), np.zeros((64, 2)))}
    with pytest.raises(AdapterMismatch, match="blocks"):
        write_lora_gguf(tmp_path / "x.gguf", base, absent)
    assert not (tmp_path / "x.gguf").exists()
