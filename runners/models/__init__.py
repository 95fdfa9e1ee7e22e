"""Provides the models, one module per family, and a plain name-to-constructor mapping for image models."""
