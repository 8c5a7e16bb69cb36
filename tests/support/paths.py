"""Where the checkout is, for tests that read the tree (docs, layering, settings, examples)."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
"""The checkout's root: the folder holding pyproject.toml."""
