"""Test helpers for the adapter conversion: logits from llama.cpp and from PEFT to compare."""

import numpy as np

ALL_LINEAR = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
TEXT = b"the cat sat on the red mat and the sky is blue"


def llama_logits(base, adapter=None, text=TEXT):
    """llama.cpp logits at every position, with an F32 KV cache (exact enough to compare)."""
    from tuiapp.chat.engine.adapters import AdapterSlots
    from tuiapp.chat.engine.loader import load_llama

    llm = load_llama(str(base), n_ctx=64, n_threads=2, logits_all=True, type_k=0, type_v=0)
    tokens = llm.tokenize(text, add_bos=True)
    if adapter is not None:
        AdapterSlots().apply(llm, {str(adapter): 1.0})
    llm.reset()
    llm.eval(tokens)
    return tokens, np.array(llm.scores[: len(tokens)])


def peft_logits(peft_model, tokens):
    import torch

    with torch.no_grad():
        adapted = peft_model(torch.tensor([tokens])).logits[0].numpy()
        with peft_model.disable_adapter():
            base = peft_model(torch.tensor([tokens])).logits[0].numpy()
    return adapted, base
