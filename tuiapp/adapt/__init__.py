"""One-click adapt: train, convert, evaluate against zero- and k-shot prompting, attach to a chat.

``job.AdaptJob`` runs it; ``records`` holds what it takes, reports and raises; ``store`` owns
the ``adapt_jobs`` table.
"""
