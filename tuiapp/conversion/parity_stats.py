"""The numbers of the parity check: KL divergence per position, top-1 agreement, and the
correlation of the adapter's logit deltas between the two runtimes."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np


def compare(
    hf_base: list[np.ndarray],
    hf_target: list[np.ndarray],
    ll_base: list[np.ndarray],
    ll_target: list[np.ndarray],
) -> dict[str, Any]:
    import numpy as np

    def joined(
        fn: Callable[[np.ndarray, np.ndarray], np.ndarray],
        xs: list[np.ndarray],
        ys: list[np.ndarray],
    ) -> np.ndarray:
        return np.concatenate([fn(x, y).ravel() for x, y in zip(xs, ys, strict=True)])

    def same_top1(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        return np.asarray(x.argmax(-1) == y.argmax(-1))

    kl = joined(kl_rows, hf_target, ll_target)
    effect = joined(kl_rows, hf_target, hf_base)  # how far the adapter moves PEFT's predictions
    noise = joined(kl_rows, hf_base, ll_base)
    hf_delta = joined(np.subtract, hf_target, hf_base)
    ll_delta = joined(np.subtract, ll_target, ll_base)
    scale = float(np.concatenate([b.ravel() for b in hf_base]).std()) or 1.0
    correlation = None
    if hf_delta.std() > 1e-3 * scale and ll_delta.std() > 0:
        correlation = float(np.corrcoef(hf_delta, ll_delta)[0, 1])
    return {
        "kl_mean": float(kl.mean()),
        "kl_max": float(kl.max()),
        "top1_agreement": float(joined(same_top1, hf_target, ll_target).mean()),
        "noise_kl_mean": float(noise.mean()),
        "noise_kl_max": float(noise.max()),
        "effect_kl_mean": float(effect.mean()),
        "noise_top1_agreement": float(joined(same_top1, hf_base, ll_base).mean()),
        "delta_correlation": correlation,
        "max_abs_error": float(np.abs(joined(np.subtract, hf_target, ll_target)).max()),
    }


def kl_rows(p_logits: np.ndarray, q_logits: np.ndarray) -> np.ndarray:
    """KL(P || Q) per row, from logits (float64 for the small values of near-identical rows)."""
    import numpy as np

    log_p = log_softmax(p_logits.astype(np.float64))
    log_q = log_softmax(q_logits.astype(np.float64))
    return np.asarray(np.maximum((np.exp(log_p) * (log_p - log_q)).sum(-1), 0.0))


def log_softmax(x: np.ndarray) -> np.ndarray:
    import numpy as np

    shifted = x - x.max(-1, keepdims=True)
    return np.asarray(shifted - np.log(np.exp(shifted).sum(-1, keepdims=True)))
