"""A method that is not a PEFT config, with its own exporter: written against the public API only.

``low_rank`` puts a hand-written low-rank update beside the query and value projections (its own
``nn.Module``), saves the factors to a safetensors file of its own layout, loads them back for the
parity check, and its exporter ``example-lora`` writes them as a GGUF LoRA adapter with
``tuiapp.conversion.write_lora_gguf``, so the chat hot-swaps it like any LoRA.
"""

import json
from pathlib import Path
from typing import Any

from tuiapp.plugins.exporters import Exporter, ExportRequest
from tuiapp.plugins.methods import Method, ModelContext, Option

TARGETS = ("q_proj", "v_proj")
WEIGHTS = "low_rank.safetensors"
CONFIG = "low_rank.json"


def _wrap(linear: Any, rank: int) -> Any:
    import torch
    from torch import nn

    class LowRank(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.base = linear
            generator = torch.Generator().manual_seed(0)
            self.a = nn.Parameter(torch.randn(rank, linear.in_features, generator=generator) * 0.02)
            self.b = nn.Parameter(
                torch.randn(linear.out_features, rank, generator=generator) * 0.02
            )

        def forward(self, x: Any) -> Any:
            return self.base(x) + (x @ self.a.t()) @ self.b.t()

    return LowRank()


def attach(model: Any, options: dict[str, Any], context: ModelContext) -> Any:
    for param in model.parameters():
        param.requires_grad_(False)
    for module in list(model.modules()):
        for target in TARGETS:
            child = getattr(module, target, None)
            if child is not None and hasattr(child, "in_features"):
                setattr(module, target, _wrap(child, options["rank"]))
    return model


def _factors(model: Any) -> dict[str, Any]:
    return {
        name: tensor.detach().float().contiguous()
        for name, tensor in model.state_dict().items()
        if name.endswith((".a", ".b"))
    }


def save(model: Any, directory: Path) -> None:
    from safetensors.torch import save_file

    factors = _factors(model)
    rank = next(t.shape[0] for n, t in factors.items() if n.endswith(".a"))
    save_file(factors, str(directory / WEIGHTS))
    (directory / CONFIG).write_text(json.dumps({"rank": int(rank)}))


def load(model: Any, directory: Path) -> Any:
    from safetensors.torch import load_file

    rank = json.loads((directory / CONFIG).read_text())["rank"]
    model = attach(model, {"rank": rank}, ModelContext("", "", ""))
    missing = model.load_state_dict(load_file(str(directory / WEIGHTS)), strict=False)
    assert not missing.unexpected_keys, missing.unexpected_keys
    return model


def export(request: ExportRequest) -> dict[str, Any]:
    from safetensors.numpy import load_file

    from tuiapp.conversion import write_lora_gguf

    factors = load_file(str(request.adapter_dir / WEIGHTS))
    # "model.layers.0.self_attn.q_proj.a" -> the module "model.layers.0.self_attn.q_proj"
    updates = {
        name[:-2]: (factors[name], factors[name[:-2] + ".b"])
        for name in factors
        if name.endswith(".a")
    }
    request.progress("Writing the low-rank factors as a GGUF LoRA adapter", 0.5)
    result = write_lora_gguf(
        request.out_path, request.base_gguf, updates, base_sha256=request.base_sha256
    )
    return result.to_dict()


def refusal(adapter_dir: Path, method: str) -> str | None:
    if not (adapter_dir / WEIGHTS).is_file():
        return f"{adapter_dir} holds no {WEIGHTS}: not a low_rank adapter."
    return None


LOW_RANK = Method(
    name="low_rank",
    description="Hand-written low-rank updates on q/v (example plugin: not a PEFT config).",
    attach=attach,
    save=save,
    load=load,
    options=(Option("rank", "int", 2, "Rank of the update.", min=1, max=64),),
    exporters=("example-lora",),
    training_defaults={"learning_rate": 2e-3},
)
EXAMPLE_LORA = Exporter(
    name="example-lora",
    description="The low_rank factors as a GGUF LoRA adapter (example plugin).",
    produces="lora",
    export=export,
    refusal=refusal,
)
