"""tuiapp's built-in fine-tuning methods, one module per method, each its own entry point."""
