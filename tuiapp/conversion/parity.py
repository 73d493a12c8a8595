"""Parity check: does llama.cpp with the converted adapter (or the merged GGUF) predict what
transformers + PEFT predicts?

A few held prompts are tokenized by llama.cpp and the same token ids go through both runtimes;
every position's next-token distribution is compared (KL divergence, top-1 agreement). The same
is done without the adapter on both sides: that base-vs-base gap is the noise of the base's
quantization and of llama.cpp's kernels, and the pass threshold is a multiple of it. The
correlation of the adapter's logit deltas (with minus without, on each side) shows whether the
adapter itself moved the logits the same way, independent of that noise.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tuiapp.conversion.parity_stats import compare
from tuiapp.errors import BadInput

if TYPE_CHECKING:
    import numpy as np

    from tuiapp.chat.engine.engine import Engine

Progress = Callable[[str, float], None]
DEFAULT_PROMPTS = (
    "The capital of France is",
    "Write a short note to a colleague about the meeting tomorrow.",
    "Question: What is two plus three?\nAnswer:",
    "Once upon a time, in a small village by the sea,",
)
NOISE_FACTOR = 3.0  # pass when the KL is within this many times the base-vs-base KL ...
MIN_THRESHOLD = 1e-3  # ... or this, whichever is larger (F32 bases have almost no noise)
# The adapter's logit deltas must agree in direction between the runtimes. On a quantized base
# the llama.cpp side adds the delta on top of quantized activations, so a small trained adapter
# correlates well below 1 even when converted exactly (measured: LoRA r=8 after 8 steps on
# Gemma 3 270M Q4_K_M, KL 0.0070 vs noise 0.0055, top-1 98%, correlation 0.84). A conversion
# error (missing q/k permutation, wrong tensors) lands near 0; a wrong scale fails on KL.
MIN_DELTA_CORRELATION = 0.7
# A merged GGUF is requantized: its rounding error comes on top of the base's noise, and the base's
# noise says nothing about whether the update survived. So a merge must sit closer to the trained
# adapter than this share of the adapter's own effect (KL adapter-vs-base). Measured on Gemma 3
# 270M: a LoRA's Q4_K_M merge costs 19-26% of its effect, Q8_0 1.5%; a 2-step IA3 (effect 5.7e-4)
# merged to Q8_0 costs 4x its effect (the update is lost), merged to F16 0.5% (kept).
MERGED_EFFECT_SHARE = 0.3
MERGED_MIN_THRESHOLD = 1e-5
MIN_MERGED_CORRELATION = 0.8
# A hot-swap file runs exactly, but on top of the quantized base, whose error grows with how far
# the adapter moves the activations from the base's own regime. Measured: a 40-step prompt-tuning
# soft prompt on Gemma 3 270M Q4_K_M moves the logits by KL 4.8 (20 virtual tokens) and llama.cpp
# follows at KL 0.062 (1.3% of that; correlation 0.986, top-1 93%), 11x the base's noise of 0.0055.
# So up to this share of the effect is accepted too; a conversion error (wrong scale, wrong
# tensors) costs a share near 1 or a correlation near 0.
ADAPTER_EFFECT_SHARE = 0.03
# Base-vs-base KL above this means transformers did not load the GGUF as llama.cpp runs it (a
# GGUF-loader gap, e.g. unread RoPE scaling): a threshold relative to it would vouch for nothing.
MAX_NOISE = 0.1
MERGED_ADVICE = (
    " Requantizing merged weights adds its own rounding error and rounds small updates away: "
    "a merge at F16 (`--quant F16`) does not round them, and a longer training makes a "
    "bigger update that survives."
)


@dataclass
class ParityReport:
    target: str  # "adapter" or "merged"
    path: str
    prompts: int
    positions: int
    kl_mean: float  # KL(PEFT || llama.cpp) per position, with the adapter
    kl_max: float
    top1_agreement: float
    noise_kl_mean: float  # the same without the adapter: the quantization noise floor
    noise_kl_max: float
    noise_top1_agreement: float
    effect_kl_mean: float  # KL(PEFT with || PEFT without the adapter): the adapter's own effect
    delta_correlation: float | None  # None when the adapter hardly moves the logits
    max_abs_error: float  # largest logit difference with the adapter
    threshold: float
    passed: bool
    seconds: float
    warning: str | None = None
    note: str | None = None  # what the check could not vouch for, when it passed anyway

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def check_parity(
    base_gguf: str | Path,
    adapter_dir: str | Path,
    target_gguf: str | Path,
    *,
    merged: bool = False,
    prompts: Sequence[str] = DEFAULT_PROMPTS,
    reference: Any = None,
    engine: Engine | None = None,
    n_threads: int | None = None,
    max_tokens: int = 48,
    base_sha256: str | None = None,
    load: Callable[[Any, Path], Any] | None = None,
    progress: Progress | None = None,
) -> ParityReport:
    """Compare PEFT (on the dequantized base) with llama.cpp running ``target_gguf``.

    ``target_gguf`` is the adapter GGUF (a LoRA adapter or a soft prompt), or with
    ``merged=True`` the merged model. ``reference``
    is the base as an already loaded transformers model (else it is loaded from the training
    cache or the GGUF); it is left as it was. With ``engine`` (whose loaded model must be
    ``base_gguf``) the adapter runs on the chat's own llama.cpp model, which keeps its adapters.
    ``load`` is the method's own ``Method.load`` for adapters that are not PEFT's.
    """
    start = time.perf_counter()
    if engine is not None and engine.model is not None:
        if Path(engine.model.path).resolve() != Path(base_gguf).resolve():
            raise BadInput(
                f"The engine runs {Path(engine.model.path).name}, not the adapter's "
                f"base {Path(base_gguf).name}."
            )
    report = progress or (lambda _stage, _fraction: None)
    report("Running the prompts through llama.cpp", 0.0)
    tokens, ll_base, ll_target = llama_logits(
        base_gguf, target_gguf, merged, prompts, engine, n_threads, max_tokens
    )
    report("Loading the base model in transformers", 0.4)
    model = reference if reference is not None else load_reference(base_gguf, base_sha256)
    report("Running the prompts through transformers + the adapter", 0.7)
    if load is not None:
        hf_base, hf_target = method_logits(model, load, adapter_dir, tokens)
    else:
        hf_base, hf_target = peft_logits(model, adapter_dir, tokens)
    report("Comparing", 0.95)
    stats = compare(hf_base, hf_target, ll_base, ll_target)
    threshold = max(
        MIN_THRESHOLD,
        NOISE_FACTOR * stats["noise_kl_mean"],
        ADAPTER_EFFECT_SHARE * stats["effect_kl_mean"],
    )
    min_correlation = MIN_DELTA_CORRELATION
    if merged:  # the merge must keep most of the update, whatever the base's noise
        threshold = max(MERGED_MIN_THRESHOLD, MERGED_EFFECT_SHARE * stats["effect_kl_mean"])
        min_correlation = MIN_MERGED_CORRELATION
    correlation = stats["delta_correlation"]
    # When the update moves the predictions less than the base's own quantization noise, the
    # logit deltas of the two runtimes cannot line up and say nothing: the KL decides alone.
    faint = stats["effect_kl_mean"] < stats["noise_kl_mean"]
    passed = (
        stats["kl_mean"] <= threshold
        and (correlation is None or faint or correlation >= min_correlation)
        and stats["noise_kl_mean"] <= MAX_NOISE  # else the reference itself is not the base
    )
    result = ParityReport(
        target="merged" if merged else target_kind(target_gguf),
        path=str(target_gguf),
        prompts=len(tokens),
        positions=sum(len(t) for t in tokens),
        threshold=threshold,
        passed=passed,
        seconds=time.perf_counter() - start,
        **stats,
    )
    if not passed:
        result.warning = warning_text(result)
    elif faint and not merged:  # a merge's KL is measured against the effect itself
        result.note = (
            f"The adapter moves the predictions less than the base's quantization noise (effect "
            f"KL {stats['effect_kl_mean']:.2g} < noise {stats['noise_kl_mean']:.2g}): the check "
            "confirms it does not break them, not the direction of its small effect."
        )
    report("Parity check done", 1.0)
    return result


def target_kind(path: str | Path) -> str:
    """How a report names a hot-swap file: ``adapter`` (GGUF LoRA), ``soft prompt`` or
    ``control vector``."""
    from tuiapp.chat.engine.control_vector import is_control_vector
    from tuiapp.chat.engine.soft_prompt import is_soft_prompt
    from tuiapp.chat.models.gguf_info import open_gguf

    reader = open_gguf(path)
    if is_soft_prompt(reader):
        return "soft prompt"
    return "control vector" if is_control_vector(reader) else "adapter"


def warning_text(r: ParityReport) -> str:
    corr = "n/a" if r.delta_correlation is None else f"{r.delta_correlation:.3f}"
    if r.noise_kl_mean > MAX_NOISE:
        return (
            f"PARITY CHECK FAILED: transformers and llama.cpp already disagree on the base model "
            f"without the adapter (KL {r.noise_kl_mean:.4g}, top-1 agreement "
            f"{r.noise_top1_agreement:.0%}), so the check cannot vouch for the {r.target} GGUF. "
            "transformers may not read this GGUF's settings (RoPE scaling...) correctly."
        )
    reasons = []
    if r.kl_mean > r.threshold and r.target == "merged":
        reasons.append(
            f"KL {r.kl_mean:.4g} to the trained adapter is more than {MERGED_EFFECT_SHARE:.0%} "
            f"of the adapter's own effect {r.effect_kl_mean:.4g}"
            + (
                ": the requantization has lost the update (the merge is further from the "
                "adapter than the base is)"
                if r.kl_mean > r.effect_kl_mean
                else ""
            )
        )
    elif r.kl_mean > r.threshold:
        reasons.append(
            f"KL {r.kl_mean:.4g} (max {r.kl_max:.4g}) is above the threshold "
            f"{r.threshold:.4g} set from the base quantization noise "
            f"{r.noise_kl_mean:.4g} and the adapter's own effect {r.effect_kl_mean:.4g}"
        )
    floor = MIN_MERGED_CORRELATION if r.target == "merged" else MIN_DELTA_CORRELATION
    counted = r.effect_kl_mean >= r.noise_kl_mean  # below the noise the deltas say nothing
    if counted and r.delta_correlation is not None and r.delta_correlation < floor:
        reasons.append(
            f"the adapter's effect correlates only {corr} between the runtimes (needs {floor})"
            + (
                ": the requantization has lost most of the update"
                if r.target == "merged" and r.delta_correlation < 0.5
                else ""
            )
        )
    return (
        f"PARITY CHECK FAILED: llama.cpp with the {r.target} GGUF does not predict what the "
        f"trained adapter predicts: {'; '.join(reasons)}. Top-1 agreement "
        f"{r.top1_agreement:.0%} (base {r.noise_top1_agreement:.0%}). Its answers in chat may "
        "differ from the trained adapter's." + (MERGED_ADVICE if r.target == "merged" else "")
    )


# -- llama.cpp ------------------------------------------------------------------------------
def llama_logits(
    base_gguf: str | Path,
    target: str | Path,
    merged: bool,
    prompts: Sequence[str],
    engine: Engine | None,
    n_threads: int | None,
    max_tokens: int,
) -> tuple[list[list[int]], list[np.ndarray], list[np.ndarray]]:
    """Token ids per prompt, and llama.cpp's logits per prompt without and with the target."""
    from tuiapp.chat.engine.adapters import AdapterSlots
    from tuiapp.chat.engine.loader import load_llama

    target = str(target)
    n_ctx = max_tokens + 16

    def base_and_adapter(llm: Any, slots: AdapterSlots) -> tuple[Any, Any, Any]:
        tokens = [
            llm.tokenize(p.encode(), add_bos=True, special=True)[:max_tokens] for p in prompts
        ]
        previous = dict(slots.active)
        try:
            slots.apply(llm, {})
            base = [eval_logits(llm, t) for t in tokens]
            adapted = None
            if not merged:
                slots.apply(llm, {target: 1.0})
                adapted = [eval_logits(llm, t, slots.prefix) for t in tokens]
        finally:
            slots.apply(llm, previous)
            llm.reset()
        return tokens, base, adapted

    if engine is not None:
        tokens, base, adapted = engine.call(
            lambda llm: base_and_adapter(llm, engine.adapters)
        ).result()
    else:
        llm = load_llama(
            str(base_gguf), n_ctx=n_ctx, n_threads=n_threads, logits_all=True, n_batch=n_ctx
        )
        tokens, base, adapted = base_and_adapter(llm, AdapterSlots())
        del llm
    if merged:
        llm = load_llama(target, n_ctx=n_ctx, n_threads=n_threads, logits_all=True, n_batch=n_ctx)
        adapted = [eval_logits(llm, t) for t in tokens]
        del llm
    return tokens, base, adapted


def eval_logits(llm: Any, tokens: list[int], prefix: Any = None) -> np.ndarray:
    """Logits at every position of ``tokens`` evaluated from an empty context (behind the
    virtual tokens of ``prefix``, a ``SoftPrompt``, when given)."""
    import llama_cpp
    import numpy as np

    llm.reset()
    if prefix is not None:
        prefix.prime(llm)
    if getattr(llm, "_logits_all", False):
        start = llm.n_tokens
        llm.eval(tokens)
        return np.array(llm.scores[start : start + len(tokens)], dtype=np.float32)
    rows = []  # the chat's model keeps only the last logits: one token per decode
    n_vocab = llm.n_vocab()
    for token in tokens:
        llm.eval([token])
        pointer = llama_cpp.llama_get_logits_ith(llm.ctx, -1)
        rows.append(np.ctypeslib.as_array(pointer, shape=(n_vocab,)).copy())
    return np.stack(rows)


# -- transformers + PEFT --------------------------------------------------------------------
def load_reference(base_gguf: str | Path, base_sha256: str | None = None) -> Any:
    """The base as a float32 transformers model: from the training cache (dequantized once per
    GGUF sha256) when it is there, else dequantized from the GGUF now (no tokenizer needed)."""
    import torch
    from transformers import AutoModelForCausalLM

    from tuiapp.chat.models.gguf_info import sha256_file
    from tuiapp.training.cache import MARKER, cache_root, fast_gguf_reader

    path = Path(base_gguf)
    cached = cache_root() / (base_sha256 or sha256_file(path))
    if (cached / MARKER).is_file():
        model = AutoModelForCausalLM.from_pretrained(cached, dtype=torch.float32)
    else:
        with fast_gguf_reader():
            model = AutoModelForCausalLM.from_pretrained(
                path.parent, gguf_file=path.name, dtype=torch.float32
            )
    return model.eval()


def peft_logits(
    model: Any, adapter_dir: str | Path, tokens: list[list[int]]
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """transformers' logits per prompt without and with the adapter; ``model`` is restored."""
    import torch
    from peft import PeftModel

    peft_model = PeftModel.from_pretrained(model, str(adapter_dir)).eval()
    config = peft_model.active_peft_config
    # prompt learning leaves the base alone and puts virtual tokens in front: drop their rows
    virtual = int(config.num_virtual_tokens) if config.is_prompt_learning else 0
    try:
        with torch.inference_mode():

            def run(ids: list[int], skip: int) -> np.ndarray:
                out = peft_model(input_ids=torch.tensor([ids]))
                logits: np.ndarray = out.logits[0, skip:].float().numpy()
                return logits

            adapted = [run(t, virtual) for t in tokens]
            with peft_model.disable_adapter():
                base = [run(t, 0) for t in tokens]
    finally:
        if not config.is_prompt_learning:
            peft_model.unload()  # take the adapter layers out: the caller's model is unchanged
    return base, adapted


def method_logits(
    model: Any, load: Callable[[Any, Path], Any], adapter_dir: str | Path, tokens: list[list[int]]
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """transformers' logits per prompt on ``model`` and on a copy with the method's modules
    loaded by its own ``load``; ``model`` is unchanged."""
    import copy

    import torch

    trained = load(copy.deepcopy(model), Path(adapter_dir)).eval()

    def run(net: Any, ids: list[int]) -> np.ndarray:
        with torch.inference_mode():
            logits: np.ndarray = net(input_ids=torch.tensor([ids])).logits[0].float().numpy()
        return logits

    try:
        return [run(model, t) for t in tokens], [run(trained, t) for t in tokens]
    finally:
        del trained
