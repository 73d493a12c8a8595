"""What cannot become a GGUF adapter is refused with its reason (and offered the merge export);
adapters that do not fit the base are rejected before anything is written."""

import copy
import json

import pytest

from tests.helpers.tiny_models import random_lora, tiny_gguf, tiny_model
from tuiapp.conversion import (
    AdapterMismatch,
    ConversionError,
    NotConvertible,
    adapter_refusal,
    convert_lora,
    merge_export,
    read_peft_adapter,
)
from tuiapp.errors import BadInput, TuiappError


@pytest.fixture(scope="module")
def bases(tmp_path_factory):
    out = tmp_path_factory.mktemp("bases")
    return {arch: tiny_gguf(arch, out) for arch in ("llama", "qwen2", "qwen3", "gemma3")}


def saved(peft_model, path):
    peft_model.save_pretrained(path)
    return path


def peft_with(model, config):
    from peft import get_peft_model

    return get_peft_model(copy.deepcopy(model), config)


def refused(adapter_dir, base, out):
    with pytest.raises(NotConvertible) as info:
        convert_lora(adapter_dir, base, out)
    assert not out.exists()
    return str(info.value)


def test_dora_is_refused_with_the_reason_and_the_merge_hint(bases, tmp_path):
    model, base = bases["llama"]
    adapter = saved(random_lora(copy.deepcopy(model), ["q_proj"], use_dora=True), tmp_path / "a")
    message = refused(adapter, base, tmp_path / "a.gguf")
    assert "DoRA" in message and "magnitude" in message and "merge" in message


def test_ia3_is_refused(bases, tmp_path):
    from peft import IA3Config

    model, base = bases["llama"]
    adapter = saved(
        peft_with(
            model,
            IA3Config(target_modules=["k_proj", "down_proj"], feedforward_modules=["down_proj"]),
        ),
        tmp_path / "a",
    )
    message = refused(adapter, base, tmp_path / "a.gguf")
    assert "IA3" in message and "merge" in message


def test_modules_to_save_is_refused(bases, tmp_path):
    model, base = bases["llama"]
    adapter = saved(
        random_lora(copy.deepcopy(model), ["q_proj"], modules_to_save=["lm_head"]), tmp_path / "a"
    )
    message = refused(adapter, base, tmp_path / "a.gguf")
    assert "modules_to_save" in message and "lm_head" in message and "merge" in message


def test_prompt_tuning_cannot_be_exported_at_all(bases, tmp_path):
    from peft import PromptTuningConfig, TaskType

    model, base = bases["llama"]
    config = PromptTuningConfig(task_type=TaskType.CAUSAL_LM, num_virtual_tokens=4)
    adapter = saved(peft_with(model, config), tmp_path / "a")
    message = refused(adapter, base, tmp_path / "a.gguf")
    assert "virtual token" in message and "merge export" not in message
    with pytest.raises(NotConvertible, match="virtual token"):
        merge_export(adapter, base, tmp_path / "m.gguf", "F16")
    assert not (tmp_path / "m.gguf").exists()


def test_output_layer_lora_on_a_tied_model_is_refused(bases, tmp_path):
    model, base = bases["qwen2"]  # tied: no output.weight in the GGUF
    adapter = saved(random_lora(copy.deepcopy(model), ["q_proj", "lm_head"]), tmp_path / "a")
    message = refused(adapter, base, tmp_path / "a.gguf")
    assert "ties it to the token embeddings" in message and "merge" in message


def test_embedding_lora_on_a_tied_model_is_refused(bases, tmp_path):
    # llama.cpp would apply it to the output matmul too, and abort on the shapes
    model, base = bases["gemma3"]
    adapter = saved(random_lora(copy.deepcopy(model), ["embed_tokens"]), tmp_path / "a")
    message = refused(adapter, base, tmp_path / "a.gguf")
    assert "output layer too" in message and "merge" in message


def test_refusal_reasons_are_available_without_converting(bases, tmp_path):
    model, _ = bases["llama"]
    plain = saved(random_lora(copy.deepcopy(model), ["q_proj"]), tmp_path / "plain")
    dora = saved(random_lora(copy.deepcopy(model), ["q_proj"], use_dora=True), tmp_path / "dora")
    assert adapter_refusal(read_peft_adapter(plain)) is None
    assert "DoRA" in adapter_refusal(read_peft_adapter(dora))


def test_wrong_architecture(bases, tmp_path):
    llama, _ = bases["llama"]
    _, qwen3_base = bases["qwen3"]
    adapter = saved(random_lora(copy.deepcopy(llama), ["q_proj"]), tmp_path / "a")
    with pytest.raises(AdapterMismatch, match="trained on a 'llama' model.*'qwen3' model"):
        convert_lora(adapter, qwen3_base, tmp_path / "a.gguf")
    with pytest.raises(AdapterMismatch, match="'gemma3_text' model"):
        convert_lora(adapter, qwen3_base, tmp_path / "a.gguf", architecture="gemma3_text")
    assert not (tmp_path / "a.gguf").exists()


def test_missing_tensor(bases, tmp_path):
    _, base = bases["llama"]  # 2 blocks
    deeper = tiny_model("llama")
    deeper_config = deeper.config
    deeper_config.num_hidden_layers = 3
    from transformers import AutoModelForCausalLM

    three = AutoModelForCausalLM.from_config(deeper_config)
    adapter = saved(random_lora(three, ["v_proj"]), tmp_path / "a")
    with pytest.raises(AdapterMismatch, match="no tensor 'blk.2.attn_v.weight'.*2 blocks"):
        convert_lora(adapter, base, tmp_path / "a.gguf")
    assert not (tmp_path / "a.gguf").exists()


def test_shape_mismatch_names_the_tensor(bases, tmp_path):
    from transformers import AutoModelForCausalLM

    from tests.helpers.tiny_models import tiny_config

    _, base = bases["llama"]
    config = tiny_config("llama")
    config.intermediate_size = 96
    wider = AutoModelForCausalLM.from_config(config)
    adapter = saved(random_lora(wider, ["q_proj", "down_proj"]), tmp_path / "a")
    with pytest.raises(AdapterMismatch, match=r"'blk.0.ffn_down.weight' is 64x128 .* 64x96"):
        convert_lora(adapter, base, tmp_path / "a.gguf")
    with pytest.raises(AdapterMismatch, match="ffn_down"):
        merge_export(adapter, base, tmp_path / "m.gguf", "F16")
    assert not list(tmp_path.glob("*.gguf")) and not list(tmp_path.glob(".*partial"))


def test_unreadable_inputs_are_user_errors(bases, tmp_path):
    model, base = bases["llama"]
    with pytest.raises(ConversionError, match="not a PEFT adapter directory"):
        convert_lora(tmp_path, base, tmp_path / "a.gguf")
    adapter = saved(random_lora(copy.deepcopy(model), ["q_proj"]), tmp_path / "a")
    with pytest.raises(BadInput, match="no such file"):
        convert_lora(adapter, tmp_path / "missing.gguf", tmp_path / "a.gguf")
    with pytest.raises(ConversionError, match="Unknown adapter type"):
        convert_lora(adapter, base, tmp_path / "a.gguf", outtype="q4")
    with pytest.raises(ConversionError, match="Unknown quantization"):
        merge_export(adapter, base, tmp_path / "m.gguf", "Q3_XYZ")
    (adapter / "adapter_model.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{bad")
    with pytest.raises(ConversionError, match="not a safetensors file"):
        convert_lora(adapter, base, tmp_path / "a.gguf")
    config = json.loads((adapter / "adapter_config.json").read_text())
    assert config["peft_type"] == "LORA"
    for error in (NotConvertible, AdapterMismatch, ConversionError):
        assert issubclass(error, TuiappError)
