"""The prompt library: versioned templates, few-shot example sets, selection and evaluation."""
