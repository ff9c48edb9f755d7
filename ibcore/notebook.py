"""Helpers for the book's notebooks that must also run outside the book (Jupyter, Colab)."""

from __future__ import annotations

__all__ = ["glue"]


def glue(name: str, value, display: bool = False):
    """Store ``value`` under ``name`` for the prose (``{glue:text}`name:.3f``` in MyST).

    Uses ``myst_nb.glue`` when myst-nb is installed (the book build and the test suite); elsewhere
    (for example in Colab) it does nothing. NumPy scalars are stored as Python numbers so that
    format specs such as ``:.1f`` apply, so the notebook still runs. Returns None, so a cell
    ending in ``glue(...)`` displays nothing extra.
    """
    try:
        from myst_nb import glue as _glue
    except ImportError:  # pragma: no cover - depends on the environment
        return None
    if hasattr(value, "item") and getattr(value, "ndim", None) == 0:
        value = value.item()  # NumPy scalars: glue formats Python numbers, not np.float64(...)
    _glue(name, value, display=display)
    return None
