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

The heads at a glance::

  | head        | target          | inverse link (mean) | NLL per example                          |
  |-------------|-----------------|---------------------|------------------------------------------|
  | Bernoulli   | y in [0, 1]     | sigmoid(eta)        | softplus(eta) - y eta                    |
  | Categorical | label in [0, K) | softmax(eta)        | logsumexp(eta) - eta[y]                  |
  | Gaussian    | real y          | eta (identity)      | (y - eta)^2 / (2 s^2) + log(s sqrt(2 pi))|
  | Gaussian, learned scale | real y | eta[..., 0]  | the same with s = softplus(eta[..., 1])  |
  | Poisson     | count y in N    | exp(eta)            | exp(eta) - y eta + log(y!)               |
  | Gamma       | real y > 0      | exp(eta) (log link) | k y / mu + k log mu - (k-1) log y + ...  |
  | Beta        | y in (0, 1)     | sigmoid(eta[..., 0])| -log Beta(y; mu phi, (1 - mu) phi)       |
  | MixtureDensity | real y       | sum_k pi_k mu_k     | -log sum_k pi_k N(y; mu_k, s_k^2)        |

With the canonical link the gradient of the NLL with respect to ``eta`` is ``mean - y`` (for
the Gaussian, divided by ``s^2``): the gradient is the residual (Nelder and Wedderburn 1972;
McCullagh and Nelder 1989, section 2.2).

The last three heads (monograph chapter 2) go beyond canonical pairs. ``Gamma`` uses the log
link, which keeps the mean positive but is not the Gamma's canonical (reciprocal) link: its
gradient is the *relative* residual ``k (mu - y) / mu``. ``Beta`` is the mean-precision beta
regression of Ferrari and Cribari-Neto (2004). ``MixtureDensity`` is Bishop's (1994) mixture
density network: a mixture of ``K`` Gaussians whose weights, means and scales the network
outputs, for targets whose conditional distribution has several modes.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.special import expit, gammaln, logit
from scipy.stats import beta as beta_dist
from scipy.stats import gamma as gamma_dist
from scipy.stats import norm, poisson

from . import functional as F
from .ops.reduce import _log_softmax_np
from .tensor import Tensor, get_rng

__all__ = ["Head", "Bernoulli", "Categorical", "Gaussian", "Poisson", "Gamma", "Beta",
           "MixtureDensity"]


def _arr(y) -> np.ndarray:
    return y.data if isinstance(y, Tensor) else np.asarray(y)


def _where(mask: np.ndarray, values: np.ndarray, limit: int = 5) -> str:
    idx = np.argwhere(mask)[:limit]
    shown = [values[tuple(i)].item() for i in idx]
    where = [tuple(int(j) for j in i) if len(i) > 1 else int(i[0]) for i in idx]
    more = f" (and {int(mask.sum()) - len(idx)} more)" if mask.sum() > limit else ""
    return f"{shown} at positions {where}{more}"


def _reject(head: str, y: np.ndarray, bad: np.ndarray, must: str) -> np.ndarray:
    """``y`` itself, or ValueError naming the targets where ``bad`` holds and what they must be."""
    if bad.any():
        raise ValueError(f"{head} head: targets must {must}; got {_where(bad, y)}")
    return y


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

    def __repr__(self) -> str:
        return f"{type(self).__name__}(link={self.link!r})"


def _check_level(head: str, level) -> float:
    if not (isinstance(level, (int, float, np.floating)) and 0 < level < 1):
        raise ValueError(f"{head} head: level must be a number in (0, 1), got {level!r}")
    return float(level)


class Bernoulli(Head):
    """Binary targets; ``eta`` is the logit, the mean is ``sigmoid(eta)``.

    Shapes: ``eta`` and ``y`` the same shape (e.g. ``(batch,)`` or ``(batch, 1)``).
    """

    name, link = "Bernoulli", "logit"

    def validate(self, y) -> np.ndarray:
        y = _arr(y)
        return _reject("Bernoulli", y, ~((y >= 0) & (y <= 1)), "lie in [0, 1]")

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


def _reduce_per(head: str, per: Tensor, reduction: str) -> Tensor:
    if reduction == "none":
        return per
    if reduction == "sum":
        return per.sum()
    if reduction == "mean":
        return per.mean()
    raise ValueError(f"{head} head: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")


def _two_outputs(head: str, what: str, eta_shape, y_shape=None, *, tag: str | None = None,
                 layout: str = "") -> None:
    """Check that a two-parameter head's ``eta`` is ``(..., 2)`` and matches the targets; the
    messages say ``"{head} head ({what} learned)"`` (or ``tag`` in the brackets), and ``layout``
    after the expected shape."""
    tag = f"{what} learned" if tag is None else tag
    if tuple(eta_shape[-1:]) != (2,):
        raise ValueError(f"{head} head ({tag}): eta must have shape (..., 2){layout}, got "
                         f"{tuple(eta_shape)}")
    if y_shape is not None and tuple(y_shape) != tuple(eta_shape[:-1]):
        raise ValueError(f"{head} head ({tag}): targets of shape {tuple(y_shape)} do not match "
                         f"eta of shape {tuple(eta_shape)} (expected targets of shape "
                         f"{tuple(eta_shape[:-1])})")


def _same_shape(head: str, eta_shape, y_shape) -> None:
    if tuple(eta_shape) != tuple(y_shape):
        raise ValueError(f"{head} head: eta of shape {tuple(eta_shape)} and targets of shape "
                         f"{tuple(y_shape)} must have the same shape")


class _FixedOrLearned(Head):
    """Base of the heads with a second positive parameter (the Gaussian's scale, the Gamma's
    shape, the Beta's precision): fixed when the head is made, or learned, and then ``eta`` is
    ``(..., 2)`` with the parameter ``softplus(eta[..., 1])``.

    A subclass names the attribute that holds the fixed value (``_param``; it is ``None`` when
    the parameter is learned); the Gamma and the Beta also name the parameter in their shape
    errors (``_what``) and give the inverse link of ``eta[..., 0]`` (``_inverse_link``).
    """

    _param: str
    _what: str
    _inverse_link = None

    def _set_param(self, value) -> None:
        if value is not None and not value > 0:
            raise ValueError(f"{self.name} head: {self._param} must be positive (or None to "
                             f"learn it), got {value}")
        setattr(self, self._param, None if value is None else float(value))

    @property
    def outputs(self) -> int:
        """How many numbers per target the network must output: 1, or 2 when the second
        parameter (scale, shape or precision) is learned."""
        return 2 if getattr(self, self._param) is None else 1

    def _params(self, eta):
        """The mean and the second parameter at each example (NumPy, no graph)."""
        e = _arr(eta)
        fixed = getattr(self, self._param)
        if fixed is None:
            _two_outputs(self.name, self._what, e.shape)
            return self._inverse_link(e[..., 0]), np.logaddexp(0, e[..., 1])
        return self._inverse_link(e), np.full(e.shape, fixed)


class Gaussian(_FixedOrLearned):
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
    _param = "sigma"  # its own ``mean`` and ``scale`` below (not ``_params``) keep eta's dtype

    def __init__(self, sigma: float | None = 1.0):
        self._set_param(sigma)

    @property
    def learned_scale(self) -> bool:
        return self.sigma is None

    def validate(self, y) -> np.ndarray:
        y = _arr(y)
        return _reject("Gaussian", y, ~np.isfinite(y), "be finite")

    def _split(self, eta_shape, y_shape=None):
        _two_outputs("Gaussian", "scale", eta_shape, y_shape, tag="learned scale",
                     layout=" = (mean, raw scale)")

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
        return _reduce_per("Gaussian", per, reduction)

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
        return _reject("Poisson", y, bad, "be non-negative integer counts")

    def nll(self, eta, y, reduction: str = "mean") -> Tensor:
        """NLL in nats: ``exp(eta) - y eta + log(y!)``. Raises ValueError for negative or
        non-integer counts."""
        y = self.validate(y)
        eta = eta if isinstance(eta, Tensor) else Tensor(eta)
        _same_shape("Poisson", eta.shape, y.shape)
        yt = y.astype(eta.dtype)
        per = F.exp(eta) - eta * Tensor(yt) + Tensor(gammaln(yt + 1).astype(eta.dtype))
        return _reduce_per("Poisson", per, reduction)

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


# ----------------------------------------------------------------------------- beyond canonical
class Gamma(_FixedOrLearned):
    """Positive real targets (durations, amounts, intensities) with the log link.

    ``Gamma(concentration=k)`` has a fixed shape ``k``; ``eta`` is ``log(mean)``, of the targets'
    shape. ``Gamma(concentration=None)`` learns it: ``eta`` is ``(..., 2)``, ``eta[..., 0] =
    log(mean)`` and ``k = softplus(eta[..., 1])``. The distribution is ``Gamma(k, rate = k /
    mu)``: mean ``mu``, variance ``mu^2 / k``, so the standard deviation grows in proportion to
    the mean (a constant coefficient of variation ``1 / sqrt(k)``).

    NLL per example (nats), with ``mu = exp(eta)``::

        k y / mu + k log mu - (k - 1) log y + lgamma(k) - k log k

    Its gradient with respect to ``eta = log mu`` is ``k (mu - y) / mu``: the residual relative to
    the mean, times ``k``. The log link is not the Gamma's canonical link (that is ``-1 / mu``,
    which would let a linear predictor produce negative means); it trades the exact
    residual for a mean that is positive for every ``eta``.

    Raises:
        ValueError: for a non-positive ``concentration``; for targets that are not positive and
            finite (naming them and where); for shapes that do not match.
    """

    name, link = "Gamma", "log"
    _param, _what, _inverse_link = "concentration", "shape", staticmethod(np.exp)

    def __init__(self, concentration: float | None = 1.0):
        self._set_param(concentration)

    @property
    def learned_shape(self) -> bool:
        return self.concentration is None

    def validate(self, y) -> np.ndarray:
        y = _arr(y)
        return _reject("Gamma", y, ~(np.isfinite(y) & (y > 0)), "be positive and finite")

    def nll(self, eta, y, reduction: str = "mean") -> Tensor:
        """NLL in nats: ``k y / mu + k log mu - (k-1) log y + lgamma(k) - k log k``."""
        y = self.validate(y)
        eta = eta if isinstance(eta, Tensor) else Tensor(eta)
        yt = y.astype(eta.dtype)
        logy = Tensor(np.log(yt))
        if self.learned_shape:
            _two_outputs("Gamma", "shape", eta.shape, y.shape)
            log_mu, k = eta[..., 0], F.softplus(eta[..., 1])
            per = (k * Tensor(yt) * F.exp(-log_mu) + k * log_mu - (k - 1.0) * logy
                   + F.lgamma(k) - k * F.log(k))
        else:
            _same_shape("Gamma", eta.shape, y.shape)
            k = self.concentration
            const = (math.lgamma(k) - k * math.log(k)) - (k - 1.0) * logy.data
            per = F.exp(-eta) * Tensor(k * yt) + eta * k + Tensor(const.astype(eta.dtype))
        return _reduce_per("Gamma", per, reduction)

    def mean(self, eta) -> np.ndarray:
        return self._params(eta)[0]

    def shape_parameter(self, eta) -> np.ndarray:
        """The concentration ``k`` (learned or fixed) at each example."""
        return self._params(eta)[1]

    def scale(self, eta) -> np.ndarray:
        """The predicted standard deviation ``mu / sqrt(k)``."""
        mu, k = self._params(eta)
        return mu / np.sqrt(k)

    def link_function(self, mu) -> np.ndarray:
        """The log."""
        return np.log(_arr(mu))

    def sample(self, eta, rng=None) -> np.ndarray:
        rng = rng or get_rng()
        mu, k = self._params(eta)
        return rng.gamma(k, mu / k)

    def predictive_interval(self, eta, level: float = 0.9):
        """Equal-tailed Gamma quantiles ``(lower, upper)``, both positive."""
        level = _check_level("Gamma", level)
        mu, k = self._params(eta)
        tail = (1 - level) / 2
        return (gamma_dist.ppf(tail, k, scale=mu / k), gamma_dist.ppf(1 - tail, k, scale=mu / k))


class Beta(_FixedOrLearned):
    """Targets strictly inside (0, 1) (proportions, rates, fractions): mean-precision beta
    regression (Ferrari and Cribari-Neto 2004).

    The mean is ``mu = sigmoid(eta[..., 0])`` and the precision ``phi = softplus(eta[..., 1])``
    (``eta`` of shape ``(..., 2)``), or a fixed ``precision`` (then ``eta`` is the logit of the
    mean, of the targets' shape). The distribution is ``Beta(a, b)`` with ``a = mu phi`` and
    ``b = (1 - mu) phi``: mean ``mu`` and variance ``mu (1 - mu) / (1 + phi)``, which shrinks
    towards the ends of the interval, as a proportion's spread must.

    NLL per example (nats)::

        lgamma(a) + lgamma(b) - lgamma(phi) - (a - 1) log y - (b - 1) log(1 - y)

    Its gradient with respect to the mean's logit is ``phi mu (1 - mu) (E[logit y] - logit y)``
    with ``E[logit y] = digamma(a) - digamma(b)``: a residual in the sufficient statistic
    ``logit y``, which does not vanish when a confident prediction is wrong (the factor
    ``mu (1 - mu)`` is cancelled by the growth of ``digamma(a) - digamma(b)``).

    Raises:
        ValueError: for a non-positive ``precision``; for targets outside the open interval
            (0, 1) (0 and 1 themselves have zero density when ``a, b > 1`` and infinite log
            density otherwise), naming them and where; for shapes that do not match.
    """

    name, link = "Beta", "logit (of the mean)"
    _param, _what, _inverse_link = "precision", "precision", staticmethod(expit)

    def __init__(self, precision: float | None = None):
        self._set_param(precision)

    @property
    def learned_precision(self) -> bool:
        return self.precision is None

    def validate(self, y) -> np.ndarray:
        y = _arr(y)
        return _reject("Beta", y, ~((y > 0) & (y < 1)), "lie strictly inside (0, 1)")

    def nll(self, eta, y, reduction: str = "mean") -> Tensor:
        """NLL in nats: ``lgamma(a) + lgamma(b) - lgamma(phi) - (a-1) log y - (b-1) log(1-y)``."""
        y = self.validate(y)
        eta = eta if isinstance(eta, Tensor) else Tensor(eta)
        yt = y.astype(eta.dtype)
        if self.learned_precision:
            _two_outputs("Beta", "precision", eta.shape, y.shape)
            z, phi = eta[..., 0], F.softplus(eta[..., 1])
            lg_phi = F.lgamma(phi)
        else:
            _same_shape("Beta", eta.shape, y.shape)
            z, phi = eta, self.precision
            lg_phi = math.lgamma(phi)
        a, b = F.sigmoid(z) * phi, F.sigmoid(-z) * phi
        per = (F.lgamma(a) + F.lgamma(b) - lg_phi
               - (a - 1.0) * Tensor(np.log(yt)) - (b - 1.0) * Tensor(np.log1p(-yt)))
        return _reduce_per("Beta", per, reduction)

    def mean(self, eta) -> np.ndarray:
        return self._params(eta)[0]

    def precision_parameter(self, eta) -> np.ndarray:
        """The precision ``phi`` (learned or fixed) at each example."""
        return self._params(eta)[1]

    def scale(self, eta) -> np.ndarray:
        """The predicted standard deviation ``sqrt(mu (1 - mu) / (1 + phi))``."""
        mu, phi = self._params(eta)
        return np.sqrt(mu * (1 - mu) / (1 + phi))

    def link_function(self, mu) -> np.ndarray:
        """The logit of the mean (the first of the two outputs)."""
        return logit(_arr(mu))

    def sample(self, eta, rng=None) -> np.ndarray:
        rng = rng or get_rng()
        mu, phi = self._params(eta)
        return rng.beta(mu * phi, (1 - mu) * phi)

    def predictive_interval(self, eta, level: float = 0.9):
        """Equal-tailed Beta quantiles ``(lower, upper)``, both inside (0, 1)."""
        level = _check_level("Beta", level)
        mu, phi = self._params(eta)
        tail = (1 - level) / 2
        a, b = mu * phi, (1 - mu) * phi
        return beta_dist.ppf(tail, a, b), beta_dist.ppf(1 - tail, a, b)


class MixtureDensity(Head):
    """A mixture of ``components`` Gaussians: Bishop's (1994) mixture density network head.

    ``eta`` has shape ``(..., 3 K)`` for targets of shape ``(...)``: ``eta[..., :K]`` are the
    mixing logits (weights ``pi = softmax``), ``eta[..., K:2K]`` the component means ``mu_k`` and
    ``eta[..., 2K:]`` raw scales with ``s_k = softplus(.)``. The predictive density
    ``p(y | x) = sum_k pi_k N(y; mu_k, s_k^2)`` can have up to ``K`` modes, so one input may map
    to several plausible targets (an inverse problem), which no unimodal head can express.

    NLL per example (nats), computed with log-sum-exp::

        -log sum_k exp(log pi_k - (y - mu_k)^2 / (2 s_k^2) - log s_k - log(2 pi) / 2)

    Its gradient with respect to a component mean is ``r_k (mu_k - y) / s_k^2``, where ``r_k``
    is the posterior probability (responsibility) that component ``k`` produced ``y``: each
    component is pulled only towards the targets it explains. With ``K = 1`` it is the
    learned-scale Gaussian.

    Raises:
        ValueError: for ``components < 1``; for non-finite targets; for an ``eta`` whose last
            dimension is not ``3 K`` or whose shape does not match the targets.
    """

    name, link = "MixtureDensity", "softmax / identity / softplus"

    def __init__(self, components: int = 3):
        if not (isinstance(components, (int, np.integer)) and components >= 1):
            raise ValueError(f"MixtureDensity head: components must be a positive integer, got "
                             f"{components!r}")
        self.components = int(components)

    @property
    def outputs(self) -> int:
        return 3 * self.components

    def validate(self, y) -> np.ndarray:
        y = _arr(y)
        return _reject("MixtureDensity", y, ~np.isfinite(y), "be finite")

    def _check(self, eta_shape, y_shape=None) -> None:
        K = self.components
        if tuple(eta_shape[-1:]) != (3 * K,):
            raise ValueError(f"MixtureDensity head ({K} components): eta must have shape "
                             f"(..., {3 * K}) = (logits, means, raw scales), got "
                             f"{tuple(eta_shape)}")
        if y_shape is not None and tuple(y_shape) != tuple(eta_shape[:-1]):
            raise ValueError(f"MixtureDensity head: targets of shape {tuple(y_shape)} do not "
                             f"match eta of shape {tuple(eta_shape)} (expected targets of shape "
                             f"{tuple(eta_shape[:-1])})")

    def nll(self, eta, y, reduction: str = "mean") -> Tensor:
        """NLL in nats: ``-logsumexp_k(log pi_k + log N(y; mu_k, s_k^2))``."""
        y = self.validate(y)
        eta = eta if isinstance(eta, Tensor) else Tensor(eta)
        self._check(eta.shape, y.shape)
        K = self.components
        log_pi = F.log_softmax(eta[..., :K], dim=-1)
        mu, s = eta[..., K:2 * K], F.softplus(eta[..., 2 * K:])
        z = (Tensor(y[..., None].astype(eta.dtype)) - mu) / s
        log_joint = log_pi - z * z * 0.5 - F.log(s) - 0.5 * math.log(2 * math.pi)
        return _reduce_per("MixtureDensity", -F.logsumexp(log_joint, dim=-1), reduction)

    def parameters_of(self, eta):
        """``(pi, mu, s)``: the mixing weights, component means and scales, each ``(..., K)``."""
        e = _arr(eta)
        self._check(e.shape)
        K = self.components
        pi = np.exp(_log_softmax_np(e[..., :K], -1))
        return pi, np.array(e[..., K:2 * K], copy=True), np.logaddexp(0, e[..., 2 * K:])

    def mean(self, eta) -> np.ndarray:
        """The mixture's mean ``sum_k pi_k mu_k``: what a unimodal head would predict."""
        pi, mu, _ = self.parameters_of(eta)
        return (pi * mu).sum(-1)

    def scale(self, eta) -> np.ndarray:
        """The mixture's standard deviation (within- plus between-component spread)."""
        pi, mu, s = self.parameters_of(eta)
        m = (pi * mu).sum(-1, keepdims=True)
        return np.sqrt((pi * (s**2 + (mu - m) ** 2)).sum(-1))

    def density(self, eta, y) -> np.ndarray:
        """The predictive density ``p(y | eta)`` (NumPy, no graph); ``y`` broadcasts against
        ``eta[..., 0]``."""
        pi, mu, s = self.parameters_of(eta)
        y = np.asarray(y, dtype=np.float64)[..., None]
        return (pi * norm.pdf(y, mu, s)).sum(-1)

    def link_function(self, mu):
        raise NotImplementedError("MixtureDensity head: a mixture has no single link; its "
                                  "outputs are (logits, means, raw scales)")

    def sample(self, eta, rng=None) -> np.ndarray:
        rng = rng or get_rng()
        pi, mu, s = self.parameters_of(eta)
        cum = np.cumsum(pi, -1)
        k = np.minimum((rng.random(pi.shape[:-1] + (1,)) > cum).sum(-1), self.components - 1)
        pick = lambda a: np.take_along_axis(a, k[..., None], -1)[..., 0]  # noqa: E731
        return pick(mu) + pick(s) * rng.standard_normal(k.shape)

    def predictive_interval(self, eta, level: float = 0.9):
        """Equal-tailed quantiles of the mixture ``(lower, upper)``, by bisection on its CDF
        (60 halvings: exact to float64 rounding). The interval may span low-density gaps
        between modes; it is a statement about coverage, not about where the mass is."""
        level = _check_level("MixtureDensity", level)
        pi, mu, s = self.parameters_of(eta)
        tail = (1 - level) / 2

        def quantile(q):
            lo = (mu - 12 * s).min(-1)
            hi = (mu + 12 * s).max(-1)
            for _ in range(60):
                mid = (lo + hi) / 2
                below = (pi * norm.cdf((mid[..., None] - mu) / s)).sum(-1) < q
                lo, hi = np.where(below, mid, lo), np.where(below, hi, mid)
            return (lo + hi) / 2

        return quantile(tail), quantile(1 - tail)

    def __repr__(self):
        return f"MixtureDensity(components={self.components})"
