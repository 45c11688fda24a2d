"""A small training project of its own: a model, its data and a trainer factory for greenhop."""
