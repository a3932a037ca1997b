"""Where Kraken's stored samples are: ``shared/kraken/samples`` beside the repository or beside
any directory above it (a worktree sits a level deeper than the main checkout)."""

from __future__ import annotations

from pathlib import Path

__all__ = ["SAMPLES_DIR"]

_RELATIVE = Path("shared") / "kraken" / "samples"


def _find() -> Path:
    here = Path(__file__).resolve().parent
    for directory in here.parents:
        candidate = directory / _RELATIVE
        if candidate.is_dir():
            return candidate
    return here.parent.parent / _RELATIVE  # the documented place, even when absent


SAMPLES_DIR = _find()
"""The samples directory (it may not exist: tests that need it skip)."""
