"""tuiapp: a local LLM workbench in the terminal."""

__version__ = "0.1.0"
