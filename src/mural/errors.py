"""Errors a user can act on: the CLI prints them (no traceback) and exits 2."""

from __future__ import annotations

__all__ = ["ConfigError", "DataError", "MuralError"]


class MuralError(Exception):
    """An error caused by the user's input; its message names the file, field and fix."""


class DataError(MuralError, ValueError):
    """A dataset, annotation, prediction or pool file is invalid."""


class ConfigError(MuralError, ValueError):
    """A configuration key or value is invalid."""
