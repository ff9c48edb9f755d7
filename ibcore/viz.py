"""Plots that chapters share. Every function draws on a given matplotlib ``Axes`` and labels it."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

__all__ = ["decision_boundary", "loss_curves"]


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
