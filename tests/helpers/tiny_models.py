"""Test helper: tiny random causal LMs in transformers, written to F32 GGUF by our own writer.

Each architecture gets the smallest model whose GGUF both llama.cpp and transformers' GGUF loader
read back the same way: the shapes transformers assumes when it rebuilds a config from GGUF
metadata (Qwen3 head_dim 128 and Gemma3 head_dim 256, which it does not read from the file) and
llama.cpp's conventions (Llama q/k rows permuted, Gemma norms stored as 1 + weight). The vocabulary
is a small SentencePiece-style one with byte fallback, so llama.cpp can tokenize any text.
"""

from pathlib import Path
from typing import Any

import numpy as np

ARCHITECTURES = ("llama", "qwen2", "qwen3", "gemma3")
GGUF_ARCH = {"llama": "llama", "qwen2": "qwen2", "qwen3": "qwen3", "gemma3_text": "gemma3"}
WORDS = ["the", "is", "of", "and", "to", "cat", "sat", "on", "mat", "red", "blue", "sky"]


def vocabulary() -> tuple[list[str], list[float], list[int]]:
    """Tokens, scores and token types: <unk> <s> </s>, the 256 byte tokens, letters, words."""
    import gguf

    kind = gguf.TokenType
    tokens = ["<unk>", "<s>", "</s>"]
    types = [kind.UNKNOWN, kind.CONTROL, kind.CONTROL]
    tokens += [f"<0x{i:02X}>" for i in range(256)]
    types += [kind.BYTE] * 256
    pieces = ["▁", *"abcdefghijklmnopqrstuvwxyz", *(f"▁{c}" for c in "abcdefghijklmnopqrstuvwxyz")]
    pieces += [f"▁{w}" for w in WORDS]
    tokens += pieces
    types += [kind.NORMAL] * len(pieces)
    scores = [0.0] * 259 + [-float(len(p)) if len(p) < 3 else float(len(p)) for p in pieces]
    return tokens, scores, [int(t) for t in types]


def tiny_config(arch: str, tied: bool | None = None) -> Any:
    import transformers as tf

    vocab = len(vocabulary()[0])
    common: dict[str, Any] = dict(
        vocab_size=vocab,
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        max_position_embeddings=256,
        rms_norm_eps=1e-6,
        initializer_range=0.1,
        bos_token_id=1,
        eos_token_id=2,
        pad_token_id=0,
    )
    if arch == "llama":  # untied: lm_head LoRA is possible
        config = tf.LlamaConfig(
            num_attention_heads=4, num_key_value_heads=2, tie_word_embeddings=False, **common
        )
    elif arch == "qwen2":  # tied, with q/k/v biases
        config = tf.Qwen2Config(
            num_attention_heads=4, num_key_value_heads=2, tie_word_embeddings=True, **common
        )
    elif arch == "qwen3":  # untied, q/k norms; head_dim 128 is what the GGUF loader assumes
        config = tf.Qwen3Config(
            num_attention_heads=2,
            num_key_value_heads=1,
            head_dim=128,
            tie_word_embeddings=False,
            **common,
        )
    elif arch == "gemma3":  # tied; head_dim 256 = query_pre_attn_scalar, as the loader assumes
        config = tf.Gemma3TextConfig(
            num_attention_heads=2,
            num_key_value_heads=1,
            head_dim=256,
            query_pre_attn_scalar=256,
            sliding_window=512,
            rope_theta=10000.0,
            rope_local_base_freq=10000.0,
            tie_word_embeddings=True,
            **common,
        )
    else:
        raise ValueError(arch)
    if tied is not None:
        config.tie_word_embeddings = tied
    return config


def tiny_model(arch: str, seed: int = 0, tied: bool | None = None) -> Any:
    """A random float32 model; norms are randomised too so their GGUF form is exercised."""
    import torch
    from transformers import AutoModelForCausalLM

    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(tiny_config(arch, tied), dtype=torch.float32)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if "norm" in name:
                param.copy_(torch.randn_like(param) * 0.1 + (0.0 if arch == "gemma3" else 1.0))
            elif name.endswith(".bias"):
                param.copy_(torch.randn_like(param) * 0.1)
    return model.eval()


def permute_qk(weights: np.ndarray, n_head: int) -> np.ndarray:
    """llama.cpp's row order for Llama q/k projections (its HF converter's permute)."""
    rows = weights.shape[0]
    return (
        weights.reshape(n_head, 2, rows // n_head // 2, *weights.shape[1:])
        .swapaxes(1, 2)
        .reshape(weights.shape)
    )


def write_gguf(model: Any, path: Path) -> Path:
    """Write ``model`` as an F32 GGUF that llama.cpp loads (our own small HF->GGUF writer)."""
    import gguf

    config = model.config
    arch = GGUF_ARCH[config.model_type]
    n_layers = config.num_hidden_layers
    names = gguf.get_tensor_name_map(
        next(a for a, n in gguf.MODEL_ARCH_NAMES.items() if n == arch), n_layers
    )
    head_dim = getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
    writer = gguf.GGUFWriter(str(path), arch)
    writer.add_name(f"tiny-{arch}")
    writer.add_file_type(gguf.LlamaFileType.ALL_F32)
    writer.add_context_length(config.max_position_embeddings)
    writer.add_embedding_length(config.hidden_size)
    writer.add_block_count(n_layers)
    writer.add_feed_forward_length(config.intermediate_size)
    writer.add_head_count(config.num_attention_heads)
    writer.add_head_count_kv(config.num_key_value_heads)
    writer.add_layer_norm_rms_eps(config.rms_norm_eps)
    writer.add_rope_freq_base(_rope_theta(config))
    if arch == "llama":
        writer.add_rope_dimension_count(head_dim)
    if arch in ("qwen3", "gemma3"):
        writer.add_key_length(head_dim)
        writer.add_value_length(head_dim)
    if arch == "gemma3":
        writer.add_sliding_window(config.sliding_window)
    tokens, scores, types = vocabulary()
    writer.add_tokenizer_model("llama")
    writer.add_tokenizer_pre("default")
    writer.add_token_list(tokens)
    writer.add_token_scores(scores)
    writer.add_token_types(types)
    writer.add_bos_token_id(1)
    writer.add_eos_token_id(2)
    writer.add_unk_token_id(0)
    writer.add_pad_token_id(0)
    writer.add_add_bos_token(True)
    writer.add_chat_template("{% for m in messages %}{{ m['content'] }}{% endfor %}")
    for hf_name, tensor in model.state_dict().items():
        if hf_name == "lm_head.weight" and config.tie_word_embeddings:
            continue
        gguf_name = names.get_name(hf_name, try_suffixes=(".weight", ".bias"))
        if gguf_name is None:
            raise KeyError(f"no GGUF name for {hf_name}")
        data = tensor.detach().float().numpy().copy()
        if arch == "llama" and ".attn_q." in gguf_name:
            data = permute_qk(data, config.num_attention_heads)
        elif arch == "llama" and ".attn_k." in gguf_name:
            data = permute_qk(data, config.num_key_value_heads)
        if arch == "gemma3" and gguf_name.endswith("norm.weight"):
            data = data + 1.0  # llama.cpp multiplies by the stored weight; Gemma by 1 + weight
        writer.add_tensor(gguf_name, data)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def _rope_theta(config: Any) -> float:
    params = getattr(config, "rope_parameters", None) or {}
    if "full_attention" in params:
        params = params["full_attention"]
    return float(params.get("rope_theta", getattr(config, "rope_theta", 10000.0)))


def tiny_gguf(
    arch: str, directory: Path, seed: int = 0, tied: bool | None = None
) -> tuple[Any, Path]:
    """(the HF model, its F32 GGUF) for ``arch``."""
    model = tiny_model(arch, seed, tied)
    path = write_gguf(model, directory / f"tiny-{arch}.gguf")
    return model, path


def random_lora(
    model: Any,
    targets: list[str] | str,
    r: int = 4,
    alpha: float = 8.0,
    std: float = 0.2,
    seed: int = 1,
    **extra: Any,
) -> Any:
    """A PEFT model with a LoRA whose A and B are both random (PEFT starts B at zero)."""
    import torch
    from peft import LoraConfig, get_peft_model

    config = LoraConfig(
        r=r,
        lora_alpha=alpha,
        target_modules=targets,
        lora_dropout=0.0,
        init_lora_weights=False,
        **extra,
    )
    peft_model = get_peft_model(model, config)
    torch.manual_seed(seed)
    with torch.no_grad():
        for name, param in peft_model.named_parameters():
            if any(k in name for k in ("lora_A", "lora_B", "lora_embedding")):
                param.copy_(torch.randn_like(param) * std)
    return peft_model.eval()
