"""Helpers for the book's notebooks that must also run outside the book (Jupyter, Colab).

Every chapter opens with the Colab install guard and one call, ``ib.notebook.setup(seed=0)``;
numbers go to the prose with :func:`glue`; library code is shown on the page with
:func:`show_source`, read from the installed source so the page can never show stale code.
"""

from __future__ import annotations

import inspect
from pathlib import Path

__all__ = ["glue", "keep_freed_memory", "setup", "show_source"]

_PACKAGE_ROOT = Path(__file__).resolve().parent


# glibc's mallopt parameters (malloc.h)
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3


def keep_freed_memory(mmap_threshold: int = 32 * 2**20, trim_threshold: int = 128 * 2**20) -> bool:
    """Let the C allocator keep freed memory for reuse, so the engine's arrays stop page-faulting.

    Every op allocates a fresh result array, and a training step frees and allocates arrays of a
    few hundred kilobytes hundreds of times. By default glibc serves large requests with their own
    ``mmap`` and gives freed memory back to the system, so the next array of the same size is
    zero-filled page by page again. This raises glibc's ``M_MMAP_THRESHOLD`` (requests below it
    come from the heap, bytes) and ``M_TRIM_THRESHOLD`` (free memory at the heap's top kept before
    it is returned, bytes) with ``mallopt``; `make bench` applies it too, so its timings show the
    effect (largest on the transformer's steps). The process keeps up to ``trim_threshold`` bytes
    of freed memory. Only on Linux with glibc; elsewhere nothing is
    changed.

    Returns True if both settings were applied. Raises ``ValueError`` for a threshold below 1
    or an ``mmap_threshold`` above glibc's maximum of 32 MiB.
    """
    import ctypes
    import operator
    import platform
    import sys

    mmap_threshold, trim_threshold = operator.index(mmap_threshold), operator.index(trim_threshold)
    if not 1 <= mmap_threshold <= 32 * 2**20:
        raise ValueError(f"keep_freed_memory: mmap_threshold must be in [1, 32 MiB], got "
                         f"{mmap_threshold}")
    if trim_threshold < 1:
        raise ValueError(f"keep_freed_memory: trim_threshold must be >= 1, got {trim_threshold}")
    if not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc":
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):  # pragma: no cover - a libc without mallopt
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return bool(mallopt(_M_MMAP_THRESHOLD, mmap_threshold)
                and mallopt(_M_TRIM_THRESHOLD, min(trim_threshold, 2**31 - 1)))


def setup(seed: int = 0, threads: int = 1):
    """Make a chapter reproducible and fast: BLAS threads, seeds, print options, figure style.

    * limits NumPy's BLAS to ``threads`` threads (the book's matrices are small: one thread is
      faster than two, and far faster when the other core is busy);
    * lets the C allocator keep freed memory for the next arrays (:func:`keep_freed_memory`);
    * seeds ibcore's global generator (:func:`ibcore.manual_seed`) and NumPy's legacy global one;
    * sets NumPy print options (4 decimals, no scientific notation, lines of at most 72 chars);
    * sets matplotlib's defaults for the book's figures (:func:`ibcore.viz.use_book_style`).

    Returns the seeded :class:`numpy.random.Generator`. Raises ``ValueError`` for a negative
    seed or a thread count below 1.
    """
    import operator

    import numpy as np
    from threadpoolctl import threadpool_limits

    from .tensor import manual_seed

    seed = operator.index(seed)
    threads = operator.index(threads)
    if seed < 0:
        raise ValueError(f"setup: seed must be >= 0, got {seed}")
    if threads < 1:
        raise ValueError(f"setup: threads must be >= 1, got {threads}")
    threadpool_limits(threads)
    keep_freed_memory()
    np.random.seed(seed)
    np.set_printoptions(precision=4, suppress=True, linewidth=72)
    try:
        from . import viz

        style = getattr(viz, "use_book_style", None)
        if style is not None:
            style()
    except ImportError:  # pragma: no cover - matplotlib missing
        pass
    return manual_seed(seed)


def show_source(obj, *, start: str | None = None, stop: str | None = None):
    """Display the source of an ibcore function, class or method, read from its file.

    The chapters use this instead of pasting code, so what the page shows is what runs. The
    result renders as a highlighted Python block headed by the file and the qualified name (a
    ``text/markdown`` output, which myst-nb parses as MyST; plain text elsewhere).

    ``start``/``stop``: optional substrings; when given, the listing starts at the first line
    containing ``start`` and ends at the first later line containing ``stop`` (inclusive), to
    show one part of a long function. Raises ``TypeError`` if ``obj`` has no Python source and
    ``ValueError`` if ``start`` or ``stop`` is not found.
    """
    try:
        lines, first = inspect.getsourcelines(obj)
        path = Path(inspect.getsourcefile(obj)).resolve()
    except (TypeError, OSError) as exc:
        raise TypeError(f"show_source: no Python source for {obj!r}") from exc
    lo, hi = 0, len(lines)
    if start is not None:
        found = [i for i, line in enumerate(lines) if start in line]
        if not found:
            raise ValueError(f"show_source: {start!r} not found in {obj.__qualname__}")
        lo = found[0]
    if stop is not None:
        found = [i for i, line in enumerate(lines) if i >= lo and stop in line]
        if not found:
            raise ValueError(f"show_source: {stop!r} not found in {obj.__qualname__}")
        hi = found[0] + 1
    body = "".join(lines[lo:hi]).rstrip("\n")
    # Dedent a method or a slice of a function body.
    import textwrap

    body = textwrap.dedent(body)
    try:
        rel = path.relative_to(_PACKAGE_ROOT.parent).as_posix()
    except ValueError:
        rel = path.name
    name = getattr(obj, "__qualname__", getattr(obj, "__name__", repr(obj)))
    where = f"{rel}, lines {first + lo}-{first + hi - 1}"
    return _Source(body, f"`{name}` from `{where}`", where)


class _Source:
    """A source listing: Markdown (a fenced Python block) in the book, plain text elsewhere."""

    def __init__(self, code: str, heading: str, where: str):
        self.code, self.heading, self.where = code, heading, where

    def _repr_markdown_(self):
        fence = "````" if "```" in self.code else "```"
        return f"{self.heading}:\n\n{fence}python\n{self.code}\n{fence}\n"

    def __repr__(self):
        return f"# {self.where}\n{self.code}"


def glue(name: str, value, display: bool = False):
    """Store ``value`` under ``name`` for the prose (``{glue:text}`name:.3f``` in MyST).

    Uses ``myst_nb.glue`` when myst-nb is installed (the book build and the test suite); elsewhere
    (for example in Colab) it does nothing. NumPy scalars are stored as Python numbers so that
    format specs such as ``:.1f`` apply, so the notebook still runs. Returns None, so a cell
    ending in ``glue(...)`` displays nothing extra. A glued matplotlib figure is closed, so
    the figure appears once, where ``{glue:figure}`` puts it, and not under its cell as well.
    """
    try:
        from myst_nb import glue as _glue
    except ImportError:  # pragma: no cover - depends on the environment
        return None
    if hasattr(value, "item") and getattr(value, "ndim", None) == 0:
        value = value.item()  # NumPy scalars: glue formats Python numbers, not np.float64(...)
    _glue(name, value, display=display)
    _close_if_figure(value)
    return None


def _close_if_figure(value):
    """Close a glued matplotlib figure: it is shown where the prose puts it ({glue:figure}),
    and an open figure would also be drawn under the cell that made it."""
    import sys

    if "matplotlib.figure" not in sys.modules:
        return
    from matplotlib.figure import Figure

    if isinstance(value, Figure):
        import matplotlib.pyplot as plt

        plt.close(value)
