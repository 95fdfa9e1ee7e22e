"""Provides the contract between the app and the worker: settings, the model table, events, the run folder, errors.

Both sides import this package; it imports neither of them, nor torch, so the app, the CLI and the worker
agree on one description of a run without loading each other's code.
"""
