"""The headless CLI: every action of the TUI, with ``--json`` for scripts.

One module per noun (chat, models, history, ...), each adding its commands to the root group in
``root``; ``main`` imports them all. Commands parse options, call a stage's service and print.
"""
