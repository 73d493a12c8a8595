"""Random adapters in PEFT's file layout, for benchmarks and tests (no training needed).

``write_peft_lora`` writes a real PEFT LoRA directory (``adapter_config.json`` +
``adapter_model.safetensors``) with random A and B for every attention and MLP projection of a
base GGUF, so conversion, parity and hot-swap run on the real code paths in seconds.
"""

import json
from pathlib import Path

MODULES = {
    "attn_q": "self_attn.q_proj",
    "attn_k": "self_attn.k_proj",
    "attn_v": "self_attn.v_proj",
    "attn_output": "self_attn.o_proj",
    "ffn_gate": "mlp.gate_proj",
    "ffn_up": "mlp.up_proj",
    "ffn_down": "mlp.down_proj",
}
MODEL_CLASSES = {
    "gemma3": "Gemma3ForCausalLM",
    "llama": "LlamaForCausalLM",
    "qwen2": "Qwen2ForCausalLM",
    "qwen3": "Qwen3ForCausalLM",
}


def write_peft_lora(
    base: Path, out: Path, rank: int = 16, alpha: float = 32.0, std: float = 0.02, seed: int = 0
) -> Path:
    """A PEFT LoRA adapter directory for ``base`` with random A and B on all linear layers."""
    import numpy as np
    from safetensors.numpy import save_file

    from tuiapp.conversion.gguf_base import read_base

    info = read_base(base)
    rng = np.random.default_rng(seed)
    tensors = {}
    for block in range(info.n_blocks):
        for short, module in MODULES.items():
            n_out, n_in = info.shapes[f"blk.{block}.{short}.weight"]
            key = f"base_model.model.model.layers.{block}.{module}"
            tensors[f"{key}.lora_A.weight"] = rng.normal(0, std, (rank, n_in)).astype(np.float32)
            tensors[f"{key}.lora_B.weight"] = rng.normal(0, std, (n_out, rank)).astype(np.float32)
    out.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(out / "adapter_model.safetensors"))
    arch = info.architecture
    model_class = MODEL_CLASSES.get(arch, "AutoModelForCausalLM")
    (out / "adapter_config.json").write_text(
        json.dumps(
            {
                "peft_type": "LORA",
                "r": rank,
                "lora_alpha": alpha,
                "use_rslora": False,
                "target_modules": sorted({m.split(".")[-1] for m in MODULES.values()}),
                "auto_mapping": {
                    "base_model_class": model_class,
                    "parent_library": f"transformers.models.{arch}.modeling_{arch}",
                },
            }
        )
    )
    return out
