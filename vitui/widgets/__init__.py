"""Provides reusable Textual widgets: each one draws one kind of run data and never imports torch."""
