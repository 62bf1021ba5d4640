"""Shared worker library of the Varcade Games arcade."""

from varcade_workers.__about__ import __version__

__all__ = ["__version__"]
