"""Helpers shared by the test modules; nothing here is collected as a test.

``cli``: running ``python -m tuiapp`` and checking its one-line errors. ``tui``: driving the app
with Pilot (polling, notifications, seeded history, the real model). ``conversion``: logits from
llama.cpp and PEFT to compare. ``tiny_models``, ``gguf_lora`` and ``adapter_records``: tiny random
models, random GGUF LoRAs and registered adapters. Pytest fixtures live in ``tests/conftest.py``.
"""
