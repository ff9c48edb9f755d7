"""Output heads: what a network's numbers mean, as probability distributions.

A network outputs *natural parameters* ``eta`` (logits); a head turns them into a distribution
over targets through its inverse link, and its loss is the negative log-likelihood (NLL, in nats)
of the targets under that distribution. Each head knows:

- ``link``: the canonical link's name, and ``mean(eta)``, the inverse link (the predicted mean);
- ``nll(eta, y)``: the full negative log-likelihood including constants, so it equals
  ``-torch.distributions.X(...).log_prob(y)``;
- ``sample(eta, rng)``: draws targets;
- ``validate(y)``: impossible targets raise ``ValueError`` naming the offending values and where.

| head        | target          | inverse link (mean) | NLL per example                          |
|-------------|-----------------|---------------------|------------------------------------------|
| Bernoulli   | y in [0, 1]     | sigmoid(eta)        | softplus(eta) - y eta                    |
| Categorical | label in [0, K) | softmax(eta)        | logsumexp(eta) - eta[y]                  |
| Gaussian    | real y          | eta (identity)      | (y - eta)^2 / (2 s^2) + log(s sqrt(2 pi))|
| Poisson     | count y in N    | exp(eta)            | exp(eta) - y eta + log(y!)               |

With the canonical link the gradient of the NLL with respect to ``eta`` is ``mean - y`` (for
the Gaussian, divided by ``s^2``): the gradient is the residual (Nelder and Wedderburn 1972;
McCullagh and Nelder 1989, section 2.2).
"""

from __future__ import annotations

import math

import numpy as np
from scipy.special import expit, gammaln

from . import functional as F
from .tensor import Tensor, get_rng

__all__ = ["Head", "Bernoulli", "Categorical", "Gaussian", "Poisson"]


def _arr(y) -> np.ndarray:
    return y.data if isinstance(y, Tensor) else np.asarray(y)


def _where(mask: np.ndarray, values: np.ndarray, limit: int = 5) -> str:
    idx = np.argwhere(mask)[:limit]
    shown = [values[tuple(i)].item() for i in idx]
    where = [tuple(int(j) for j in i) if len(i) > 1 else int(i[0]) for i in idx]
    more = f" (and {int(mask.sum()) - len(idx)} more)" if mask.sum() > limit else ""
    return f"{shown} at positions {where}{more}"


class Head:
    """Base class: subclasses implement ``validate``, ``nll``, ``mean`` and ``sample``."""

    name = "head"
    link = "identity"

    def validate(self, y) -> np.ndarray:  # pragma: no cover - overridden
        raise NotImplementedError

    def nll(self, eta, y, reduction: str = "mean") -> Tensor:  # pragma: no cover
        raise NotImplementedError

    def mean(self, eta) -> np.ndarray:  # pragma: no cover
        raise NotImplementedError

    def sample(self, eta, rng: np.random.Generator | None = None) -> np.ndarray:  # pragma: no cover
        raise NotImplementedError

    def __call__(self, eta, y, reduction: str = "mean") -> Tensor:
        return self.nll(eta, y, reduction)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(link={self.link!r})"


class Bernoulli(Head):
    """Binary targets; ``eta`` is the logit, the mean is ``sigmoid(eta)``.

    Shapes: ``eta`` and ``y`` the same shape (e.g. ``(batch,)`` or ``(batch, 1)``).
    """

    name, link = "Bernoulli", "logit"

    def validate(self, y) -> np.ndarray:
        y = _arr(y)
        bad = ~((y >= 0) & (y <= 1))
        if bad.any():
            raise ValueError(f"Bernoulli head: targets must lie in [0, 1]; got {_where(bad, y)}")
        return y

    def nll(self, eta, y, reduction: str = "mean") -> Tensor:
        """Mean NLL in nats: ``softplus(eta) - y eta``. Raises ValueError for y outside [0, 1]."""
        y = self.validate(y)
        eta = eta if isinstance(eta, Tensor) else Tensor(eta)
        return F.binary_cross_entropy_with_logits(eta, Tensor(y.astype(eta.dtype)), reduction)

    def mean(self, eta) -> np.ndarray:
        return expit(_arr(eta))

    def sample(self, eta, rng=None) -> np.ndarray:
        rng = rng or get_rng()
        p = self.mean(eta)
        return (rng.random(p.shape) < p).astype(np.int64)


class Categorical(Head):
    """Class labels; ``eta`` are the logits ``(batch, classes)``, the mean is ``softmax(eta)``."""

    name, link = "Categorical", "log-softmax (multinomial logit)"

    def validate(self, y, num_classes: int | None = None) -> np.ndarray:
        y = _arr(y)
        if y.dtype.kind not in "iu":
            if y.dtype.kind == "f" and np.all(np.mod(y, 1) == 0):
                y = y.astype(np.int64)
            else:
                nonint = ~(np.mod(y, 1) == 0) if y.dtype.kind == "f" else np.ones(y.shape, bool)
                raise ValueError(f"Categorical head: labels must be integers; got "
                                 f"{_where(nonint, y)}")
        bad = (y < 0) if num_classes is None else ((y < 0) | (y >= num_classes))
        if bad.any():
            rng = "[0, inf)" if num_classes is None else f"[0, {num_classes})"
            raise ValueError(f"Categorical head: labels must be in {rng}; got {_where(bad, y)}")
        return y

    def nll(self, eta, y, reduction: str = "mean") -> Tensor:
        """Mean NLL in nats (softmax cross-entropy). Raises ValueError for labels out of range."""
        eta = eta if isinstance(eta, Tensor) else Tensor(eta)
        y = self.validate(y, eta.shape[-1])
        return F.cross_entropy(eta, y, reduction)

    def mean(self, eta) -> np.ndarray:
        e = _arr(eta)
        return np.exp(F._log_softmax_np(e, -1))

    def sample(self, eta, rng=None) -> np.ndarray:
        rng = rng or get_rng()
        p = self.mean(eta)
        cum = np.cumsum(p, axis=-1)
        u = rng.random(p.shape[:-1] + (1,))
        return np.minimum((u > cum).sum(axis=-1), p.shape[-1] - 1)


class Gaussian(Head):
    """Real targets with identity link; ``eta`` is the mean, ``sigma`` a fixed scale.

    With ``sigma=1`` the NLL is ``(y - eta)^2 / 2`` plus a constant: mean squared error is a
    Gaussian assumption with fixed variance.
    """

    name, link = "Gaussian", "identity"

    def __init__(self, sigma: float = 1.0):
        if not sigma > 0:
            raise ValueError(f"Gaussian head: sigma must be positive, got {sigma}")
        self.sigma = float(sigma)

    def validate(self, y) -> np.ndarray:
        y = _arr(y)
        bad = ~np.isfinite(y)
        if bad.any():
            raise ValueError(f"Gaussian head: targets must be finite; got {_where(bad, y)}")
        return y

    def nll(self, eta, y, reduction: str = "mean") -> Tensor:
        """NLL in nats: ``(y - eta)^2 / (2 sigma^2) + log sigma + log(2 pi) / 2``."""
        y = self.validate(y)
        eta = eta if isinstance(eta, Tensor) else Tensor(eta)
        s2 = self.sigma**2
        const = math.log(self.sigma) + 0.5 * math.log(2 * math.pi)
        sq = F.mse_loss(eta, Tensor(y.astype(eta.dtype)), reduction)
        if reduction == "sum":  # the constant is paid once per example
            const *= eta.data.size
        return sq * (0.5 / s2) + const

    def mean(self, eta) -> np.ndarray:
        return np.array(_arr(eta), copy=True)

    def sample(self, eta, rng=None) -> np.ndarray:
        rng = rng or get_rng()
        mu = _arr(eta)
        return mu + self.sigma * rng.standard_normal(mu.shape)

    def __repr__(self):
        return f"Gaussian(link='identity', sigma={self.sigma})"


class Poisson(Head):
    """Counts with log link; ``eta = log(rate)``, the mean is ``exp(eta)``."""

    name, link = "Poisson", "log"

    def validate(self, y) -> np.ndarray:
        y = _arr(y)
        bad = ~((y >= 0) & (np.mod(y, 1) == 0)) if y.dtype.kind == "f" else (y < 0)
        if bad.any():
            raise ValueError(f"Poisson head: targets must be non-negative integer counts; got "
                             f"{_where(bad, y)}")
        return y

    def nll(self, eta, y, reduction: str = "mean") -> Tensor:
        """NLL in nats: ``exp(eta) - y eta + log(y!)``. Raises ValueError for negative or
        non-integer counts."""
        y = self.validate(y)
        eta = eta if isinstance(eta, Tensor) else Tensor(eta)
        if eta.shape != y.shape:
            raise ValueError(f"Poisson head: eta of shape {eta.shape} and targets of shape "
                             f"{y.shape} must have the same shape")
        yt = y.astype(eta.dtype)
        per = F.exp(eta) - eta * Tensor(yt) + Tensor(gammaln(yt + 1).astype(eta.dtype))
        if reduction == "none":
            return per
        if reduction == "sum":
            return per.sum()
        if reduction == "mean":
            return per.mean()
        raise ValueError(f"Poisson head: reduction must be 'mean', 'sum' or 'none', got "
                         f"{reduction!r}")

    def mean(self, eta) -> np.ndarray:
        return np.exp(_arr(eta))

    def sample(self, eta, rng=None) -> np.ndarray:
        rng = rng or get_rng()
        return rng.poisson(self.mean(eta))
