"""The comparison stage: score zero-shot, k-shot and adapter replies on a held-out split.

``evaluate`` runs and stores evaluations (the ``eval_runs`` and ``eval_rows`` tables) and
compares runs with their uncertainty; ``scoring`` holds the metrics. It sits above the
library (templates, example sets, few-shot prompts) and the adapter registry it compares.
"""
