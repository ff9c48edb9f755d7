"""Output heads: what a network's numbers mean, as probability distributions.

A network outputs *natural parameters* ``eta`` (logits); a head turns them into a distribution
over targets through its inverse link, and its loss is the negative log-likelihood (NLL, in nats)
of the targets under that distribution. Each head knows:

- ``link``: the canonical link's name, and ``mean(eta)``, the inverse link (the predicted mean);
- ``nll(eta, y)``: the full negative log-likelihood including constants, so it equals
  ``-torch.distributions.X(...).log_prob(y)``;
- ``sample(eta, rng)``: draws targets;
- ``predictive_interval(eta, level)``: the equal-tailed central interval ``(lower, upper)`` that
  holds a fraction ``level`` of the predictive distribution (for discrete heads its coverage is
  at least ``level``; the Categorical head, whose labels have no order, returns a prediction
  *set*);
- ``link_function(mu)``: the canonical link itself, mapping a mean back to ``eta``;
- ``validate(y)``: impossible targets raise ``ValueError`` naming the offending values and where.

``Gaussian(sigma=None)`` learns its scale: ``eta`` then has a last dimension of 2, the mean and a
raw scale ``r`` with ``sigma = softplus(r)`` (positive for every real ``r``), as in the
mean-variance networks of Nix and Weigend (1994).

| head        | target          | inverse link (mean) | NLL per example                          |
|-------------|-----------------|---------------------|------------------------------------------|
| Bernoulli   | y in [0, 1]     | sigmoid(eta)        | softplus(eta) - y eta                    |
| Categorical | label in [0, K) | softmax(eta)        | logsumexp(eta) - eta[y]                  |
| Gaussian    | real y          | eta (identity)      | (y - eta)^2 / (2 s^2) + log(s sqrt(2 pi))|
| Gaussian, learned scale | real y | eta[..., 0]  | the same with s = softplus(eta[..., 1])  |
| Poisson     | count y in N    | exp(eta)            | exp(eta) - y eta + log(y!)               |

With the canonical link the gradient of the NLL with respect to ``eta`` is ``mean - y`` (for
the Gaussian, divided by ``s^2``): the gradient is the residual (Nelder and Wedderburn 1972;
McCullagh and Nelder 1989, section 2.2).
"""

from __future__ import annotations

import math

import numpy as np
from scipy.special import expit, gammaln, logit
from scipy.stats import norm, poisson

from . import functional as F
from .ops.reduce import _log_softmax_np
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

    def predictive_interval(self, eta, level: float = 0.9):  # pragma: no cover
        raise NotImplementedError

    def link_function(self, mu) -> np.ndarray:  # pragma: no cover
        raise NotImplementedError

    def __call__(self, eta, y, reduction: str = "mean") -> Tensor:
        return self.nll(eta, y, reduction)


def _check_level(head: str, level) -> float:
    if not (isinstance(level, (int, float, np.floating)) and 0 < level < 1):
        raise ValueError(f"{head} head: level must be a number in (0, 1), got {level!r}")
    return float(level)

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

    def link_function(self, mu) -> np.ndarray:
        """The logit ``log(mu / (1 - mu))``."""
        return logit(_arr(mu))

    def predictive_interval(self, eta, level: float = 0.9):
        """Equal-tailed quantiles of Bernoulli(p): ``lower = 0`` unless ``1 - p < (1-level)/2``,
        ``upper = 1`` unless ``p < (1-level)/2``. Returns two int arrays of ``eta``'s shape."""
        level = _check_level("Bernoulli", level)
        p = self.mean(eta)
        tail = (1 - level) / 2
        return (p > 1 - tail).astype(np.int64), (p > tail).astype(np.int64)


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
        return np.exp(_log_softmax_np(e, -1))

    def sample(self, eta, rng=None) -> np.ndarray:
        rng = rng or get_rng()
        p = self.mean(eta)
        cum = np.cumsum(p, axis=-1)
        u = rng.random(p.shape[:-1] + (1,))
        return np.minimum((u > cum).sum(axis=-1), p.shape[-1] - 1)

    def link_function(self, mu) -> np.ndarray:
        """``log(mu)``: log-probabilities, one member of the family of logits (the softmax is
        unchanged by adding a constant, so any ``log(mu) + c`` maps back to ``mu``)."""
        return np.log(_arr(mu))

    def predictive_interval(self, eta, level: float = 0.9) -> np.ndarray:
        """Class labels have no order, so there is no interval; this returns the smallest
        prediction *set*: a boolean mask ``(batch, classes)`` of the most probable classes whose
        probabilities add up to at least ``level``."""
        level = _check_level("Categorical", level)
        p = self.mean(eta)
        order = np.argsort(-p, axis=-1, kind="stable")
        sorted_p = np.take_along_axis(p, order, axis=-1)
        before = np.cumsum(sorted_p, axis=-1) - sorted_p  # mass of the classes ranked above
        keep_sorted = before < level
        mask = np.zeros(p.shape, dtype=bool)
        np.put_along_axis(mask, order, keep_sorted, axis=-1)
        return mask


class Gaussian(Head):
    """Real targets with identity link: a fixed scale ``sigma``, or a learned one.

    - ``Gaussian(sigma=1.0)``: ``eta`` is the mean, of the targets' shape. With ``sigma=1`` the
      NLL is ``(y - eta)^2 / 2`` plus a constant: mean squared error is a Gaussian assumption
      with a fixed, global variance.
    - ``Gaussian(sigma=None)``: the network also predicts the scale. ``eta`` has shape
      ``(..., 2)`` for targets of shape ``(...)``: ``eta[..., 0]`` is the mean and
      ``eta[..., 1]`` a raw scale ``r`` with ``sigma = softplus(r) = log(1 + e^r)`` (always
      positive, and close to ``r`` for large ``r``). This is a heteroscedastic mean-variance
      network (Nix and Weigend 1994).

    NLL per example (nats): ``(y - mu)^2 / (2 sigma^2) + log sigma + log(2 pi) / 2``. Its gradient
    with respect to the mean is ``(mu - y) / sigma^2``, the residual divided by the variance.

    Raises:
        ValueError: for a non-positive ``sigma``, non-finite targets (naming them and where), or
            (learned scale) an ``eta`` whose last dimension is not 2 or whose shape does not match
            the targets.
    """

    name, link = "Gaussian", "identity"

    def __init__(self, sigma: float | None = 1.0):
        if sigma is not None and not sigma > 0:
            raise ValueError(f"Gaussian head: sigma must be positive (or None to learn it), got "
                             f"{sigma}")
        self.sigma = None if sigma is None else float(sigma)

    @property
    def learned_scale(self) -> bool:
        return self.sigma is None

    @property
    def outputs(self) -> int:
        """How many numbers per target the network must output: 1, or 2 with a learned scale."""
        return 2 if self.learned_scale else 1

    def validate(self, y) -> np.ndarray:
        y = _arr(y)
        bad = ~np.isfinite(y)
        if bad.any():
            raise ValueError(f"Gaussian head: targets must be finite; got {_where(bad, y)}")
        return y

    def _split(self, eta_shape, y_shape=None):
        if eta_shape[-1:] != (2,):
            raise ValueError(f"Gaussian head (learned scale): eta must have shape (..., 2) = "
                             f"(mean, raw scale), got {eta_shape}")
        if y_shape is not None and tuple(y_shape) != tuple(eta_shape[:-1]):
            raise ValueError(f"Gaussian head (learned scale): targets of shape {tuple(y_shape)} "
                             f"do not match eta of shape {eta_shape} (expected targets of shape "
                             f"{eta_shape[:-1]})")

    def nll(self, eta, y, reduction: str = "mean") -> Tensor:
        """NLL in nats: ``(y - mu)^2 / (2 sigma^2) + log sigma + log(2 pi) / 2``."""
        y = self.validate(y)
        eta = eta if isinstance(eta, Tensor) else Tensor(eta)
        if not self.learned_scale:
            s2 = self.sigma**2
            const = math.log(self.sigma) + 0.5 * math.log(2 * math.pi)
            sq = F.mse_loss(eta, Tensor(y.astype(eta.dtype)), reduction)
            if reduction == "sum":  # the constant is paid once per example
                const *= eta.data.size
            return sq * (0.5 / s2) + const
        if reduction not in ("mean", "sum", "none"):
            raise ValueError(f"Gaussian head: reduction must be 'mean', 'sum' or 'none', got "
                             f"{reduction!r}")
        self._split(eta.shape, y.shape)
        mu, s = eta[..., 0], F.softplus(eta[..., 1])
        z = (Tensor(y.astype(eta.dtype)) - mu) / s
        per = z * z * 0.5 + F.log(s) + 0.5 * math.log(2 * math.pi)
        if reduction == "none":
            return per
        return per.sum() if reduction == "sum" else per.mean()

    def mean(self, eta) -> np.ndarray:
        e = _arr(eta)
        if self.learned_scale:
            self._split(e.shape)
            return np.array(e[..., 0], copy=True)
        return np.array(e, copy=True)

    def scale(self, eta) -> np.ndarray:
        """The predicted standard deviation: ``softplus(eta[..., 1])``, or the fixed ``sigma``
        broadcast to the mean's shape."""
        e = _arr(eta)
        if self.learned_scale:
            self._split(e.shape)
            return np.logaddexp(0, e[..., 1])
        return np.full(e.shape, self.sigma, dtype=e.dtype if e.dtype.kind == "f" else float)

    def link_function(self, mu) -> np.ndarray:
        """The identity."""
        return np.array(_arr(mu), copy=True)

    def sample(self, eta, rng=None) -> np.ndarray:
        rng = rng or get_rng()
        mu = self.mean(eta)
        return mu + self.scale(eta) * rng.standard_normal(mu.shape)

    def predictive_interval(self, eta, level: float = 0.9):
        """``mu -+ z sigma`` with ``z`` the standard normal's ``(1 + level) / 2`` quantile
        (1.645 for 90%). Returns ``(lower, upper)`` of the targets' shape."""
        level = _check_level("Gaussian", level)
        mu, s = self.mean(eta), self.scale(eta)
        z = norm.ppf((1 + level) / 2)
        return mu - z * s, mu + z * s

    def __repr__(self):
        if self.learned_scale:
            return "Gaussian(link='identity', sigma=softplus(eta[..., 1]))"
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

    def link_function(self, mu) -> np.ndarray:
        """The log."""
        return np.log(_arr(mu))

    def predictive_interval(self, eta, level: float = 0.9):
        """Equal-tailed Poisson quantiles ``(lower, upper)`` (integers; coverage >= level)."""
        level = _check_level("Poisson", level)
        rate = self.mean(eta)
        tail = (1 - level) / 2
        return poisson.ppf(tail, rate).astype(np.int64), poisson.ppf(1 - tail, rate).astype(
            np.int64)
