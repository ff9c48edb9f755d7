"""Curvature of the training loss: Hessian-vector products and the top Hessian eigenvalue
(sharpness), and the per-layer gradient norms of a network (monograph chapter 3).

ibcore has no double backward, so the Hessian-vector product is taken by central finite
differences of gradients,

    H v  ~=  (g(w + eps v) - g(w - eps v)) / (2 eps),

whose error is ``O(eps^2)`` (the third derivative of the loss) plus rounding ``O(u / eps)``; the
probe evaluates it in float64 (``u ~ 1e-16``) with ``eps = 1e-3`` for a unit ``v``, so both
terms are far below the eigenvalues measured. The top eigenvalue comes from power iteration on
``v -> H v`` (Keskar et al. 2017 measure sharpness this way, Yao et al. 2020 with exact HVPs).
"""

from __future__ import annotations

import numpy as np

from ..tensor import Tensor

__all__ = ["flat_grad", "hessian_vector_product", "hessian_top_eigenvalue", "layer_grad_norms"]


def _params(model):
    ps = list(model.parameters())
    if not ps:
        raise ValueError("curvature: the model has no parameters")
    return ps


class _Float64:
    """Context: the model's parameters as float64 copies and evaluation mode; restored on exit."""

    def __init__(self, model):
        self.model, self.ps = model, _params(model)

    def __enter__(self):
        self.saved = [(p.data, p.grad) for p in self.ps]
        self.modes = [(m, m.training) for m in self.model.modules()]
        for p in self.ps:
            p.data = p.data.astype(np.float64)
        self.model.eval()
        return self.ps

    def __exit__(self, *exc):
        for p, (data, grad) in zip(self.ps, self.saved, strict=True):
            p.data, p.grad = data, grad
        for m, mode in self.modes:
            object.__setattr__(m, "training", mode)
        return False


def _grad(model, ps, loss_fn, X, y) -> tuple[float, np.ndarray]:
    for p in ps:
        p.grad = None
    loss = loss_fn(model(X), y)
    if loss.data.size != 1:
        raise ValueError(f"curvature: loss_fn must return a scalar, got shape {loss.shape}")
    loss.backward()
    g = np.concatenate([(p.grad if p.grad is not None else np.zeros(p.shape)).ravel()
                        for p in ps])
    return float(loss.data), g.astype(np.float64)


def _set(ps, w: np.ndarray) -> None:
    i = 0
    for p in ps:
        n = p.data.size
        p.data = w[i:i + n].reshape(p.data.shape).copy()
        i += n


def flat_grad(model, loss_fn, X, y) -> tuple[float, np.ndarray]:
    """Loss and the gradient of ``loss_fn(model(X), y)`` as one float64 vector over
    ``model.parameters()`` (in order), computed in float64 in evaluation mode. The model's own
    parameters, gradients and train/eval mode are left as they were."""
    Xt = Tensor(np.asarray(X, dtype=np.float64))
    with _Float64(model) as ps:
        return _grad(model, ps, loss_fn, Xt, y)


def hessian_vector_product(model, loss_fn, X, y, v, eps: float = 1e-3) -> np.ndarray:
    """``H v`` of the loss at the current parameters, by central differences of gradients:
    ``(g(w + eps u) - g(w - eps u)) / (2 eps) * |v|`` with ``u = v / |v|``. Float64, evaluation
    mode; the model is left unchanged.

    Args:
        v: a vector with one entry per scalar parameter (``model.num_parameters()``).
        eps: the step along the unit vector (default 1e-3).

    Raises:
        ValueError: if ``v`` has the wrong size or is zero, or ``eps`` is not positive.
    """
    v = np.asarray(v, dtype=np.float64).ravel()
    if not eps > 0:
        raise ValueError(f"hessian_vector_product: eps must be positive, got {eps}")
    Xt = Tensor(np.asarray(X, dtype=np.float64))
    with _Float64(model) as ps:
        n = sum(p.data.size for p in ps)
        if v.size != n:
            raise ValueError(f"hessian_vector_product: v has {v.size} entries, the model "
                             f"{n} parameters")
        norm = np.linalg.norm(v)
        if norm == 0:
            raise ValueError("hessian_vector_product: v is zero")
        w = np.concatenate([p.data.ravel() for p in ps])
        u = v / norm
        _set(ps, w + eps * u)
        _, gp = _grad(model, ps, loss_fn, Xt, y)
        _set(ps, w - eps * u)
        _, gm = _grad(model, ps, loss_fn, Xt, y)
    return (gp - gm) / (2 * eps) * norm


def hessian_top_eigenvalue(model, loss_fn, X, y, iters: int = 50, tol: float = 1e-4,
                           eps: float = 1e-3, seed: int = 0) -> tuple[float, np.ndarray]:
    """The largest-magnitude eigenvalue of the loss Hessian (the sharpness) and its unit
    eigenvector, by power iteration on finite-difference Hessian-vector products.

    Starts from a seeded Gaussian vector; stops when the Rayleigh quotient ``v^T H v`` changes by
    less than ``tol`` relative, or after ``iters`` products (2 gradient evaluations each).

    Returns:
        ``(eigenvalue, vector)``; the eigenvalue is in loss units per squared parameter unit.

    Raises:
        ValueError: if ``iters < 1``.
    """
    if iters < 1:
        raise ValueError(f"hessian_top_eigenvalue: iters must be >= 1, got {iters}")
    n = sum(p.data.size for p in _params(model))
    v = np.random.default_rng(seed).standard_normal(n)
    v /= np.linalg.norm(v)
    lam = None
    for _ in range(iters):
        hv = hessian_vector_product(model, loss_fn, X, y, v, eps)
        new = float(v @ hv)
        nrm = np.linalg.norm(hv)
        if nrm == 0:
            return 0.0, v
        v = hv / nrm
        if lam is not None and abs(new - lam) <= tol * abs(new):
            lam = new
            break
        lam = new
    return lam, v


def layer_grad_norms(model, loss_fn, X, y, layers=None) -> np.ndarray:
    """Frobenius norm of ``dL/dW`` for each layer's ``weight``, input to output.

    Args:
        model: a module; ``layers`` defaults to ``model.linears()`` when the model has it
            (`ibcore.nn.DeepMLP`) and otherwise to every sub-module with a 2-D ``weight``.
        loss_fn: ``loss_fn(model(X), y) -> scalar Tensor``.

    Returns:
        ``(n_layers,)`` float64 array. The model's gradients are left accumulated as after any
        backward pass (they are zeroed first).
    """
    if layers is None:
        layers = (model.linears() if hasattr(model, "linears") else
                  [m for m in model.modules()
                   if getattr(getattr(m, "weight", None), "ndim", 0) == 2])
    model.zero_grad()
    loss = loss_fn(model(X if isinstance(X, Tensor) else Tensor(np.asarray(X))), y)
    loss.backward()
    return np.array([0.0 if m.weight.grad is None else
                     float(np.linalg.norm(m.weight.grad.astype(np.float64))) for m in layers])
