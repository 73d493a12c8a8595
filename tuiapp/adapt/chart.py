"""The learning curve drawn: in the terminal (plotext, the engine of Textual's PlotextPlot
widget) and to PNG or SVG files for reports (matplotlib).

Both put the number of examples on a log2 axis (k shots in the prompt for few-shot, n train rows
for adapters; zero-shot sits one step left of 1) and the curve's metric from 0 to 1. Files also
draw each point's 95% interval. Neither library is imported before a chart is drawn.
"""

import math
from pathlib import Path
from typing import Any

from tuiapp.adapt.curve_records import Curve, CurvePoint
from tuiapp.errors import BadInput
from tuiapp.evaluation.stats import METRIC_NAMES

FORMATS = (".png", ".svg")
SERIES = (("few", "few-shot (k shots)"), ("adapter", "adapter (n train rows)"))
COLORS = {"few": "tab:blue", "adapter": "tab:orange"}
TERMINAL_COLORS = {"few": "cyan", "adapter": "orange"}


def position(size: int) -> float:
    """Where a size sits on the axis: log2, with 0 one step left of 1."""
    return math.log2(size) if size > 0 else -1.0


def _points(curve: Curve, kind: str) -> list[CurvePoint]:
    return sorted((p for p in curve.points if p.kind == kind and p.scored), key=lambda p: p.size)


def _ticks(curve: Curve) -> tuple[list[float], list[str]]:
    sizes = sorted({p.size for p in curve.points if p.scored})
    return [position(s) for s in sizes], [str(s) for s in sizes]


def _title(curve: Curve) -> str:
    if not curve.rows:
        return f"{curve.set_name}: no point scored yet"
    metric = METRIC_NAMES.get(curve.metric, curve.metric or "score")
    return f"{curve.set_name}: {metric} on {curve.rows} held-out rows"


def draw(plt: Any, curve: Curve) -> None:
    """Draw on a plotext-like ``plt`` (the ``plotext`` module, or a PlotextPlot's ``plt``)."""
    plt.clear_data()
    for kind, label in SERIES:
        points = _points(curve, kind)
        if points:
            xs = [position(p.size) for p in points]
            ys = [p.score for p in points]
            plt.plot(xs, ys, label=label, marker="braille", color=TERMINAL_COLORS[kind])
            plt.scatter(xs, ys, marker="●", color=TERMINAL_COLORS[kind])
    ticks, labels = _ticks(curve)
    if ticks:
        plt.xticks(ticks, labels)
    plt.ylim(0, 1)
    plt.title(_title(curve))
    plt.xlabel("examples (log2)")


def terminal_chart(curve: Curve, width: int = 78, height: int = 18) -> str:
    """The chart as text, for a terminal."""
    import plotext

    plotext.clear_figure()
    plotext.plotsize(width, height)
    plotext.theme("clear")
    draw(plotext, curve)
    text: str = plotext.build()
    plotext.clear_figure()
    return text


def check_path(path: Path) -> Path:
    """``path`` when a chart can be written there by its suffix (checked before any work)."""
    if path.suffix.lower() not in FORMATS:
        raise BadInput(f"A chart is written as .png or .svg, not '{path.suffix or path.name}'.")
    return path


def save(curve: Curve, path: Path) -> Path:
    """Write the chart to ``path`` (.png or .svg, by its suffix)."""
    check_path(path)
    import matplotlib

    matplotlib.use("Agg")  # no display: files only
    from matplotlib.figure import Figure

    figure = Figure(figsize=(7, 4.2), dpi=120)
    axes = figure.subplots()
    for kind, label in SERIES:
        points = _points(curve, kind)
        if not points:
            continue
        xs = [position(p.size) for p in points]
        ys = [p.score or 0.0 for p in points]
        below = [max(0.0, y - (p.ci or [y, y])[0]) for p, y in zip(points, ys, strict=True)]
        above = [max(0.0, (p.ci or [y, y])[1] - y) for p, y in zip(points, ys, strict=True)]
        axes.errorbar(
            xs, ys, yerr=[below, above], label=label, color=COLORS[kind], marker="o", capsize=3
        )
    ticks, labels = _ticks(curve)
    axes.set_xticks(ticks, labels)
    axes.set_ylim(0, 1.02)
    axes.set_xlabel("examples: shots in the prompt, or train rows of the adapter (log2)")
    axes.set_ylabel(METRIC_NAMES.get(curve.metric, curve.metric or "score"))
    axes.set_title(_title(curve) + " (95% intervals)")
    axes.grid(alpha=0.3)
    axes.legend(loc="lower right")
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        figure.savefig(path)
    except OSError as exc:
        raise BadInput(f"Cannot write the chart to {path}: {exc.strerror or exc}.") from exc
    return path
