"""The prompt library: versioned templates, few-shot example sets and their selection."""
