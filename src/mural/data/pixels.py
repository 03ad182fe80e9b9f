"""Pixels as mural reads them: 8-bit RGB, whatever the file's mode (now in
:mod:`mural.data.images`, the one image module; kept as an alias)."""

from __future__ import annotations

from .images import to_rgb8

__all__ = ["to_rgb8"]
