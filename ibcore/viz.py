"""Plots that chapters share. Every function draws on a given matplotlib ``Axes`` and labels it."""

from __future__ import annotations

import os
from collections.abc import Callable

import numpy as np

__all__ = ["BOOK_STYLE", "book_pdf", "book_png", "decision_boundary", "loss_curves",
           "predictive_band", "quantize_png", "use_book_style"]

#: matplotlib settings for the book's figures. The text column is 688 CSS px wide and a phone's
#: is about 358 px, so a 6.4 in figure at 100 CSS px per inch fills the column and is drawn at
#: about half size on a phone: the fonts are large enough that tick labels stay about 7 px there.
BOOK_STYLE = {
    "figure.dpi": 100,          # CSS pixels per inch (retina output doubles the pixels)
    "savefig.dpi": 200,
    "figure.figsize": (6.4, 3.8),
    "font.size": 12,
    "axes.titlesize": 12,
    "axes.labelsize": 12,
    "xtick.labelsize": 11,
    "ytick.labelsize": 11,
    "legend.fontsize": 10.5,
    "figure.titlesize": 13,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "lines.linewidth": 1.8,
    "image.cmap": "viridis",
}


def quantize_png(png: bytes, colors: int = 256) -> bytes:
    """Re-encode a PNG as a palette PNG of at most ``colors`` colours (no dithering).

    A plot has few distinct colours (flat fills, antialiased lines and text, a colormap's
    ramp), so a 128- or 256-colour palette looks the same and takes a third to a half of the
    bytes of the RGBA original.
    """
    import io

    from PIL import Image

    with Image.open(io.BytesIO(png)) as im:
        rgb = im.convert("RGB")
    pal = rgb.quantize(colors=colors, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    out = io.BytesIO()
    pal.save(out, format="PNG", optimize=True)
    return out.getvalue()


def book_png(fig, colors: int = 256):
    """A figure as the book shows it: ``(base64 PNG, {"width", "height"})`` for IPython.

    Twice the pixels of ``figure.dpi`` (sharp on high-density screens; the metadata gives the
    display size in CSS pixels), tight bounding box, re-encoded as a palette PNG. Returns None
    for an empty figure, as IPython's own formatters do.
    """
    import base64

    from IPython.core.pylabtools import print_figure

    png = print_figure(fig, fmt="retina", base64=False)
    if png is None:
        return None
    w, h = int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")
    data = base64.b64encode(quantize_png(png, colors)).decode("ascii")
    return data, {"width": w // 2, "height": h // 2}


def book_pdf(fig):
    """A figure as vector PDF bytes (tight bounding box), for the book's PDF edition.

    Returns None for an empty figure. :func:`use_book_style` registers it for ``application/pdf``
    only when the environment variable ``IBCORE_FIGURE_PDF`` is ``1`` (set while the book is
    built: ``_ext/execute.py``, ``_ext/ib_book.py``): the HTML book shows the PNG, the LaTeX
    builder prefers the PDF, and notebooks run in Jupyter or Colab carry one image per figure.
    """
    from IPython.core.pylabtools import print_figure

    return print_figure(fig, fmt="pdf", base64=False)


def use_book_style(retina: bool = True) -> dict:
    """Set matplotlib's defaults for the book's figures; return the settings applied.

    Fonts are sized for the 688 px text column and stay legible when a phone draws the figure
    at about half size. Inside IPython (Jupyter, the book build) figures are displayed by
    :func:`book_png`: retina PNGs (twice the pixels, the display size in the output's
    metadata) re-encoded with a 256-colour palette, sharp on high-density screens and small;
    with ``IBCORE_FIGURE_PDF=1`` also as vector PDF (:func:`book_pdf`) for the PDF edition.
    Outside IPython only the rcParams change. Called by :func:`ibcore.notebook.setup`.
    """
    import matplotlib as mpl

    mpl.rcParams.update(BOOK_STYLE)
    if retina:
        try:
            from IPython import get_ipython
        except ImportError:  # pragma: no cover - IPython missing
            return dict(BOOK_STYLE)
        ip = get_ipython()
        if ip is not None and getattr(ip, "display_formatter", None) is not None:
            import matplotlib.pyplot as plt
            from matplotlib.figure import Figure

            # matplotlib resolves its backend lazily, at the first figure, and the inline backend
            # then resets every figure formatter to its own defaults (1x RGBA PNG): resolve it now,
            # so that the formatters registered below are the ones that stay
            backend_mod = getattr(plt, "_get_backend_mod", None)
            if backend_mod is not None:
                backend_mod()

            formatters = ip.display_formatter.formatters
            formatters["image/png"].for_type(Figure, book_png)
            for mime in ("image/jpeg", "image/svg+xml", "application/pdf"):
                formatters[mime].pop(Figure, None)  # one image per figure, the PNG
            if os.environ.get("IBCORE_FIGURE_PDF") == "1":  # and a vector copy for print
                formatters["application/pdf"].for_type(Figure, book_pdf)
    return dict(BOOK_STYLE)


def decision_boundary(ax, predict_proba: Callable[[np.ndarray], np.ndarray], X: np.ndarray,
                      y: np.ndarray, *, lim: tuple[float, float] = (-0.5, 1.5), n: int = 101,
                      title: str | None = None, cmap: str = "RdBu_r"):
    """Shade ``p(y=1 | x)`` over a square grid, draw the 0.5 contour and the labelled points.

    Args:
        ax: matplotlib Axes.
        predict_proba: maps an ``(m, 2)`` array of inputs to ``(m,)`` probabilities.
        X: ``(n_points, 2)`` inputs; y: ``(n_points,)`` 0/1 labels.
        lim: the plotted range of both coordinates; n: grid points per side.

    Returns:
        The image artist (for a colorbar). The shading is an ``imshow`` of the grid, several
        times cheaper to draw than a filled contour, which matters for widget frames.
    """
    g = np.linspace(lim[0], lim[1], n)
    xx, yy = np.meshgrid(g, g)
    grid = np.stack([xx.ravel(), yy.ravel()], axis=1).astype(np.float32)
    p = np.asarray(predict_proba(grid)).reshape(xx.shape)
    cs = ax.imshow(p, origin="lower", extent=(lim[0], lim[1], lim[0], lim[1]), cmap=cmap,
                   vmin=0, vmax=1, interpolation="bilinear", aspect="equal")
    if p.min() < 0.5 < p.max():
        ax.contour(xx, yy, p, levels=[0.5], colors="k", linewidths=1.5)
    y = np.asarray(y)
    for label, marker, color in ((0, "o", "tab:blue"), (1, "s", "tab:red")):
        pts = X[y == label]
        ax.scatter(pts[:, 0], pts[:, 1], marker=marker, s=90, c=color, edgecolors="k",
                   linewidths=1.2, label=f"y = {label}", zorder=3)
    ax.set_xlim(*lim)
    ax.set_ylim(*lim)
    ax.set_aspect("equal")
    ax.set_xlabel("$x_1$")
    ax.set_ylabel("$x_2$")
    if title:
        ax.set_title(title)
    return cs


def loss_curves(ax, curves: dict[str, list[float]], *, ylabel: str = "loss (nats)",
                xlabel: str = "training step", logy: bool = True, title: str | None = None):
    """Plot named loss curves on one Axes (log scale by default) with a legend."""
    for name, values in curves.items():
        ax.plot(np.arange(1, len(values) + 1), values, label=name)
    if logy:
        ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    ax.legend()
    ax.grid(alpha=0.3)


def predictive_band(ax, grid, mean, lo, hi, x_data=None, y_data=None, *, level: float = 0.9,
                    true_mean=None, title: str | None = None, xlabel: str = "input $x$"):
    """A head's predictive distribution over a 1-D input: the fitted mean, the central interval
    ``[lo, hi]`` at ``level`` (e.g. from ``Head.predictive_interval``), the training data and,
    if given, the true mean.

    ``grid``, ``mean``, ``lo``, ``hi`` and ``true_mean`` are 1-D arrays of one length (the
    inputs and the values there); ``x_data``/``y_data`` the training points. Raises
    ``ValueError`` if the curves' lengths differ from ``grid``'s.
    """
    grid = np.asarray(grid).ravel()
    curves = {"mean": mean, "lo": lo, "hi": hi}
    if true_mean is not None:
        curves["true_mean"] = true_mean
    for name, c in curves.items():
        if np.asarray(c).ravel().shape != grid.shape:
            raise ValueError(f"predictive_band: {name} has shape {np.shape(c)}, expected "
                             f"{grid.shape} like grid")
    if x_data is not None:
        ax.scatter(np.asarray(x_data).ravel(), np.asarray(y_data).ravel(), s=3, c="grey",
                   alpha=0.35, label="training data")
    ax.fill_between(grid, np.ravel(lo), np.ravel(hi), alpha=0.3,
                    label=f"{level:.0%} interval")
    ax.plot(grid, np.ravel(mean), "k", lw=1.5, label="fitted mean")
    if true_mean is not None:
        ax.plot(grid, np.ravel(true_mean), "r--", lw=1, label="true mean")
    if title is not None:
        ax.set_title(title)
    ax.set_xlabel(xlabel)
    return ax
