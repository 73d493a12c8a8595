"""Test helper: write a random GGUF LoRA adapter for a base GGUF (llama.cpp's adapter format)."""

from pathlib import Path

import numpy as np


def random_lora_gguf(
    base: Path,
    out: Path,
    tensors: list[str],
    rank: int = 8,
    alpha: float = 16.0,
    std: float = 0.05,
    seed: int = 0,
    base_sha256: str | None = None,
) -> Path:
    import gguf

    from tuiapp.chat.models.gguf_info import open_gguf

    reader = open_gguf(base)
    arch = bytes(reader.fields["general.architecture"].parts[-1]).decode()
    shapes = {t.name: [int(x) for x in t.shape] for t in reader.tensors}  # ggml order: in, out
    rng = np.random.default_rng(seed)
    writer = gguf.GGUFWriter(str(out), arch)
    writer.add_string("general.type", "adapter")
    writer.add_string("adapter.type", "lora")
    writer.add_float32("adapter.lora.alpha", alpha)
    if base_sha256:
        writer.add_string("tuiapp.base.sha256", base_sha256)
    for name in tensors:
        n_in, n_out = shapes[name][0], shapes[name][1]
        writer.add_tensor(f"{name}.lora_a", rng.normal(0, std, (rank, n_in)).astype(np.float32))
        writer.add_tensor(f"{name}.lora_b", rng.normal(0, std, (n_out, rank)).astype(np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return out
