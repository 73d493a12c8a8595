"""Figures for people, the same in the CLI and the TUI: sizes, durations, ETAs, a run's loss."""

from collections.abc import Mapping


def duration(seconds: float) -> str:
    """``m:ss``, or ``h:mm:ss`` from an hour up."""
    whole = int(round(seconds))
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def eta_text(seconds: float | None) -> str:
    """``ETA m:ss``; empty while there is no estimate yet."""
    return "" if seconds is None else f"ETA {duration(seconds)}"


def loss_text(metrics: Mapping[str, object]) -> str:
    """A run's headline loss: the validation loss, else the last training loss; empty if none."""
    value = metrics.get("eval_loss", metrics.get("last_loss"))
    return f"{value:.4f}" if isinstance(value, int | float) else ""


def human_size(n_bytes: int) -> str:
    """Decimal units, as disks are sold: ``1.2 GB``, ``291 MB``."""
    if n_bytes >= 10**9:
        return f"{n_bytes / 10**9:.1f} GB"
    return f"{n_bytes / 10**6:.0f} MB"


def counts_text(counts: dict[str, int]) -> str:
    """``{"train": 135, "heldout": 45}`` -> ``135 train, 45 heldout``."""
    return ", ".join(f"{n} {what}" for what, n in counts.items())


def score_cell(value: float | None, interval: object = None) -> str:
    """A score with its 95% interval as ``88.9% (77–95%)``; ``–`` for none."""
    if value is None:
        return "–"
    if isinstance(interval, list) and len(interval) == 2:
        return f"{value:.1%} ({interval[0] * 100:.0f}–{interval[1] * 100:.0f}%)"
    return f"{value:.1%}"
