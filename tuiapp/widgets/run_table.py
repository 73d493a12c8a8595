"""Stored evaluation runs side by side: one row per run, the latest first.

Cells come from ``compare.compare``; scores show as percentages with their 95% interval
(Norm. = normalized match, Label = label accuracy by log-likelihood). An Adapter column joins
when any run used one.
"""

from textual.widgets import DataTable

from tuiapp.evaluation.compare import compare
from tuiapp.formatting import score_cell
from tuiapp.library.records import EvalRun

# What is compared first, so a narrow terminal cuts off the template and set, not the scores.
COLUMNS = [
    ("id", "Run"),
    ("mode", "Mode"),
    ("shots", "Shots"),
    ("selector", "Selector"),
    ("exact", "Exact"),
    ("normalized", "Norm."),
    ("chrf", "chrF"),
    ("label_acc", "Label"),
    ("tokens_per_query", "Tok/query"),
    ("s_per_query", "s/query"),
    ("rows", "Rows"),
    ("status", "Status"),
    ("template", "Template"),
    ("set", "Set"),
]
SCORES = {"exact", "normalized", "chrf", "label_acc"}


CI_KEYS = {"exact": "exact_ci", "chrf": "chrf_ci", "label_acc": "label_ci"}


def cell(key: str, value: object, interval: object = None) -> str:
    """A cell as shown; scores through ``score_cell``."""
    if value is None or value == "-":
        return "–"
    if key in SCORES and isinstance(value, float):
        return score_cell(value, interval)
    return str(value)


class RunTable(DataTable[str]):
    DEFAULT_CSS = """
    RunTable { height: 1fr; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(cursor_type="row", zebra_stripes=True, id=id)
        self.runs: list[EvalRun] = []

    def show(self, runs: list[EvalRun]) -> None:
        """Rebuild the table (columns too: the Adapter column comes and goes)."""
        self.runs = runs
        self.clear(columns=True)
        adapters = any(run.adapter for run in runs)
        columns = COLUMNS[:4] + [("adapter", "Adapter")] + COLUMNS[4:] if adapters else COLUMNS
        for key, title in columns:
            self.add_column(title, key=key)
        for run, row in zip(runs, compare(runs), strict=True):
            if adapters:  # compare() folds the adapter into Selector; here it has its own
                row |= {"adapter": run.adapter, "selector": run.selector}
            cells = (cell(key, row.get(key), row.get(CI_KEYS.get(key, ""))) for key, _ in columns)
            self.add_row(*cells, key=str(run.id))

    def row_text(self, run_id: int) -> dict[str, str]:
        """The cells of one run as shown, by column key (for tests and screen readers)."""
        cells = self.get_row(str(run_id))
        return {
            str(col.key.value): str(c) for col, c in zip(self.ordered_columns, cells, strict=True)
        }
