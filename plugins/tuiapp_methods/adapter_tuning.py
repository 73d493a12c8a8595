"""Adapter Tuning: a bottleneck module after a projection of every layer, the base frozen.

``h' = h + U·D·h`` right after the attention output projection (``o_proj``) and/or the MLP output
projection (``down_proj``) of each decoder layer (Houlsby places both, Pfeiffer the MLP only),
where D (r x d) projects down to a small width r and U (d x r), initialised to zero, projects
back. PEFT has no bottleneck adapters and AdapterHub's library pins transformers 4, so this is
our own module, through the method hooks a third party would use (``attach``/``save``/``load``).

The module has no nonlinearity, on purpose: placed right after a projection W, it turns W into
``W + U·(D·W)``, a rank-r update, which is exactly a GGUF LoRA adapter on W with ``lora_b = U`` and
``lora_a = D·W``. So it hot-swaps in llama.cpp like any LoRA (the classic Houlsby nonlinearity
would make it something llama.cpp cannot run, so it is not offered). ``save`` writes D and U, and
D·W with W from the very base it trained on, so the export needs no second look at the base.
"""

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tuiapp.plugins.exporters import Exporter, ExportRequest
from tuiapp.plugins.hookspecs import hookimpl
from tuiapp.plugins.methods import Method, ModelContext, Option

WEIGHTS = "bottleneck.safetensors"
CONFIG = "bottleneck.json"
PLACES = {"attention+mlp": ("o_proj", "down_proj"), "mlp": ("down_proj",), "attention": ("o_proj",)}


def _bottleneck(linear: Any, width: int) -> Any:
    import torch
    from torch import nn

    class Bottleneck(nn.Module):
        """``linear`` followed by ``y + up(down(y))``; ``up`` starts at zero (identity)."""

        def __init__(self) -> None:
            super().__init__()
            self.base = linear
            self.down = nn.Parameter(torch.empty(width, linear.out_features))
            nn.init.normal_(self.down, std=linear.out_features**-0.5)
            self.up = nn.Parameter(torch.zeros(linear.out_features, width))

        def forward(self, x: Any) -> Any:
            y = self.base(x)
            return y + (y @ self.down.t().to(y.dtype)) @ self.up.t().to(y.dtype)

    return Bottleneck()


def attach(model: Any, options: dict[str, Any], context: ModelContext) -> Any:
    for param in model.parameters():
        param.requires_grad_(False)
    targets = PLACES[options["placement"]]
    wrapped = 0
    for module in list(model.modules()):
        for target in targets:
            child = getattr(module, target, None)
            if child is not None and hasattr(child, "out_features"):
                setattr(module, target, _bottleneck(child, options["width"]))
                wrapped += 1
    if not wrapped:
        raise ValueError(f"The model has no {' or '.join(targets)} layers to put adapters after.")
    return model


def save(model: Any, directory: Path) -> None:
    """D and U of every module, and its exportable form D·W (W the frozen base weight)."""
    from safetensors.torch import save_file

    tensors: dict[str, Any] = {}
    options: dict[str, Any] = {}
    for name, module in model.named_modules():
        if hasattr(module, "down") and hasattr(module, "up") and hasattr(module, "base"):
            down = module.down.detach().float()
            tensors[f"{name}.down"] = down.contiguous()
            tensors[f"{name}.up"] = module.up.detach().float().contiguous()
            tensors[f"{name}.down_w"] = (down @ module.base.weight.detach().float()).contiguous()
            options["width"] = int(down.shape[0])
    targets = {n.rsplit(".", 2)[-2] for n in tensors}
    options["placement"] = next(k for k, v in PLACES.items() if set(v) == targets)
    save_file(tensors, str(directory / WEIGHTS))
    (directory / CONFIG).write_text(json.dumps(options))


def load(model: Any, directory: Path) -> Any:
    from safetensors.torch import load_file

    options = json.loads((directory / CONFIG).read_text())
    model = attach(model, options, ModelContext("", "", ""))
    state = {k: v for k, v in load_file(str(directory / WEIGHTS)).items() if not k.endswith("_w")}
    result = model.load_state_dict(state, strict=False)
    if result.unexpected_keys:
        raise ValueError(f"{directory}: unexpected tensors {result.unexpected_keys[:3]}")
    return model


def export(request: ExportRequest) -> dict[str, Any]:
    """The bottlenecks as LoRA pairs: ``lora_a = D·W``, ``lora_b = U`` on each wrapped W."""
    from safetensors.numpy import load_file

    from tuiapp.conversion import write_lora_gguf

    tensors = load_file(str(request.adapter_dir / WEIGHTS))
    modules = [name.removesuffix(".down_w") for name in tensors if name.endswith(".down_w")]
    updates = {m: (tensors[f"{m}.down_w"], tensors[f"{m}.up"]) for m in modules}
    request.progress("Writing the bottlenecks as a GGUF LoRA adapter", 0.5)
    return write_lora_gguf(
        request.out_path,
        request.base_gguf,
        updates,
        base_sha256=request.base_sha256,
        name=request.adapter_dir.name,
    ).to_dict()


def refusal(adapter_dir: Path, method: str) -> str | None:
    if not (adapter_dir / WEIGHTS).is_file():
        return f"{adapter_dir} holds no {WEIGHTS}: it is not an adapter_tuning adapter."
    return None


ADAPTER_TUNING = Method(
    name="adapter_tuning",
    description="Adapter Tuning: a small bottleneck after the attention and/or MLP output of "
    "every layer (Houlsby / Pfeiffer); hot-swaps as a GGUF LoRA adapter.",
    attach=attach,
    save=save,
    load=load,
    options=(
        Option("width", "int", 16, "Bottleneck width r (the update's rank).", min=1, max=1024),
        Option(
            "placement",
            "choice",
            "attention+mlp",
            "After the attention and the MLP output (Houlsby), the MLP only (Pfeiffer), or "
            "the attention only.",
            choices=tuple(PLACES),
        ),
    ),
    exporters=("bottleneck-lora",),
    training_defaults={"learning_rate": 1e-3},
)
BOTTLENECK_LORA = Exporter(
    name="bottleneck-lora",
    description="Adapter Tuning's bottlenecks as the GGUF LoRA adapter they equal "
    "(lora_a = D·W, lora_b = U).",
    produces="lora",
    export=export,
    refusal=refusal,
)


@hookimpl
def register_exporters(register: Callable[[Exporter], None]) -> None:
    register(BOTTLENECK_LORA)


@hookimpl
def register_methods(register: Callable[[Method], None]) -> None:
    register(ADAPTER_TUNING)
