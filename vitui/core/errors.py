"""Provides the errors that mean "the user asked for something that cannot be": one line says what and how to fix it."""

from __future__ import annotations


class ConfigError(ValueError):
    """A setting is unknown or has a bad value; the message says which and how to fix it."""


class DataError(ConfigError):
    """A data set is missing or unreadable; the message names it, where we looked and how to provide it."""


class RunFolderError(ConfigError):
    """A run folder cannot be made or written (a read-only, unwritable or full runs folder, a name that would leave
    it); the message says where and how to fix it."""
