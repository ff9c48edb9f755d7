"""Policy-gradient learning as weighted cross-entropy.

A softmax policy ``pi(a | s) = softmax(z(s))_a`` over logits ``z`` is a Categorical head, and the
three classic ways of training it differ only in the per-step weight ``w_t`` that multiplies the
cross-entropy of the action actually taken:

=====================================  ==========================================================
behavioural cloning                    ``w_t = 1`` on a demonstrator's action (Pomerleau 1989)
REINFORCE                              ``w_t = G_t``, the discounted return from step t
                                       (Williams 1992)
REINFORCE with a baseline              ``w_t = G_t - b(s_t)``, the advantage (Williams 1992;
                                       Greensmith, Bartlett and Baxter 2004)
=====================================  ==========================================================

All three go through one function, `policy_loss`. With a batch of ``N`` episodes,
``policy_loss(logits, actions, weights, reduction="sum") / N`` is the negative of the REINFORCE
estimate of the policy-gradient ``grad J = E[sum_t G_t grad log pi(a_t | s_t)]`` (the
policy-gradient theorem, Sutton et al. 2000; Sutton and Barto 2018, ch. 13).

Also here: `discounted_returns` (reward-to-go), `collect_episodes` (a batch of whole episodes from
a `ibcore.envs.VecGridWorld`, sampled or greedy), `MovingAverageBaseline`, and `policy_probs` /
`greedy_actions` (a policy read out on every state, for `ibcore.envs.GridWorld.evaluate`).
"""

from __future__ import annotations

import numbers
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from . import functional as F
from .tensor import Tensor, no_grad

__all__ = [
    "discounted_returns", "policy_loss", "MovingAverageBaseline", "Episodes", "collect_episodes",
    "policy_probs", "greedy_actions", "episode_gradients",
]


def discounted_returns(rewards, gamma: float, mask=None) -> np.ndarray:
    """Reward-to-go ``G_t = r_t + gamma r_{t+1} + gamma^2 r_{t+2} + ...`` along the last axis.

    Computed backwards, ``G_t = r_t + gamma G_{t+1}`` with ``G_T = 0``, in float64.

    Args:
        rewards: ``(..., steps)`` rewards, e.g. ``(episodes, steps)``.
        gamma: discount factor in [0, 1].
        mask: optional bool array of the same shape, True on the steps an episode actually took.
            Masked-out rewards are treated as 0 and their returns are set to 0.

    Returns:
        ``(..., steps)`` float64 returns.

    Raises:
        ValueError: ``gamma`` outside [0, 1], a scalar ``rewards``, a mask of another shape, or
            non-finite rewards.
    """
    r = np.asarray(rewards, dtype=np.float64)
    if isinstance(gamma, bool) or not isinstance(gamma, numbers.Real) or not 0 <= gamma <= 1:
        raise ValueError(f"discounted_returns: gamma must be in [0, 1], got {gamma!r}")
    if r.ndim == 0:
        raise ValueError("discounted_returns: rewards must have a steps axis, got a scalar")
    if not np.all(np.isfinite(r)):
        raise ValueError("discounted_returns: rewards must be finite")
    if mask is not None:
        m = np.asarray(mask, dtype=bool)
        if m.shape != r.shape:
            raise ValueError(f"discounted_returns: mask of shape {m.shape} does not match "
                             f"rewards of shape {r.shape}")
        r = np.where(m, r, 0.0)
    out = np.empty_like(r)
    g = np.zeros(r.shape[:-1])
    for t in range(r.shape[-1] - 1, -1, -1):
        g = r[..., t] + gamma * g
        out[..., t] = g
    if mask is not None:
        out = np.where(m, out, 0.0)
    return out


def policy_loss(logits, actions, weights, reduction: str = "mean") -> Tensor:
    """Weighted cross-entropy ``sum_i w_i (-log softmax(z_i)[a_i])``: the loss of behavioural
    cloning, REINFORCE and REINFORCE with a baseline, which differ only in ``weights``.

    Args:
        logits: ``(batch, n_actions)`` Tensor of policy logits ``z_i``, one row per step.
        actions: ``(batch,)`` integer actions ``a_i`` that were taken (or demonstrated).
        weights: ``(batch,)`` per-step weights ``w_i``, constants: 1 for cloning, the return
            ``G_i`` for REINFORCE, the advantage ``G_i - b(s_i)`` with a baseline.
        reduction: ``'mean'`` (divide by ``batch``), ``'sum'``, or ``'none'`` (the ``(batch,)``
            weighted losses).

    Returns:
        A Tensor, in nats times the unit of ``weights``.

    Backward: for one row, ``-log softmax(z)_a = -z_a + log sum_j e^{z_j}``, so
    ``d/dz_k = p_k - [k = a]`` with ``p = softmax(z)``: the gradient with respect to the logits is
    ``p - onehot(a)``, prediction minus target. Weighted, row ``i`` contributes
    ``w_i (p_i - onehot(a_i))``: REINFORCE is the supervised cross-entropy gradient on the
    sampled action, scaled by the return (Williams 1992). The weights receive no gradient.

    Raises:
        TypeError: ``weights`` given as a Tensor that requires grad (a learned baseline must be
            detached: it may change the variance of the estimate, never its direction).
        ValueError: wrong shapes, non-finite weights, bad actions (from `F.cross_entropy`), or an
            unknown reduction.
    """
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"policy_loss: reduction must be 'mean', 'sum' or 'none', "
                         f"got {reduction!r}")
    if not isinstance(logits, Tensor):
        logits = Tensor(logits)
    if isinstance(weights, Tensor):
        if weights.requires_grad:
            raise TypeError("policy_loss: weights must be constants, got a Tensor that requires "
                            "grad; pass weights.detach() (a baseline must not be trained "
                            "through the policy loss)")
        weights = weights.data
    w = np.asarray(weights, dtype=logits.data.dtype)
    if logits.ndim != 2:
        raise ValueError(f"policy_loss: logits must have shape (batch, n_actions), got "
                         f"{logits.shape}")
    if w.shape != (logits.shape[0],):
        raise ValueError(f"policy_loss: weights must have shape ({logits.shape[0]},) to match "
                         f"logits {logits.shape}, got {w.shape}")
    if not np.all(np.isfinite(w)):
        raise ValueError("policy_loss: weights must be finite")
    nll = F.cross_entropy(logits, actions, reduction="none")  # (batch,) -log pi(a_i | s_i)
    weighted = nll * Tensor(w)
    if reduction == "none":
        return weighted
    return weighted.sum() if reduction == "sum" else weighted.mean()


class MovingAverageBaseline:
    """A constant baseline ``b``: an exponential moving average of the returns seen so far.

    Use ``b = baseline.value`` to weight a batch (``G_t - b``), then ``baseline.update(G)`` with
    that batch's returns, so that ``b`` never depends on the episodes it is subtracted from and
    the gradient estimate stays unbiased.

    Args:
        decay: weight of the old value in ``b <- decay b + (1 - decay) mean(G)``, in [0, 1).
            The first update sets ``b = mean(G)``; before it ``value`` is 0.

    Raises:
        ValueError: ``decay`` outside [0, 1); ``update`` with no or non-finite returns.
    """

    def __init__(self, decay: float = 0.9):
        if not 0 <= decay < 1:
            raise ValueError(f"MovingAverageBaseline: decay must be in [0, 1), got {decay!r}")
        self.decay = float(decay)
        self.value = 0.0
        self.updates = 0

    def update(self, returns) -> float:
        """Fold the mean of ``returns`` into the average; returns the new value."""
        g = np.asarray(returns, dtype=np.float64)
        if g.size == 0 or not np.all(np.isfinite(g)):
            raise ValueError("MovingAverageBaseline.update: need at least one finite return")
        m = float(g.mean())
        self.value = m if self.updates == 0 else self.decay * self.value + (1 - self.decay) * m
        self.updates += 1
        return self.value

    def __repr__(self) -> str:
        return f"MovingAverageBaseline(decay={self.decay}, value={self.value:.4g})"


@dataclass
class Episodes:
    """A batch of whole episodes, padded to ``max_steps``; row ``i`` is episode ``i``.

    Attributes:
        states: ``(n, max_steps)`` int state index at each step (-1 after the episode ended).
        actions: ``(n, max_steps)`` int action taken (-1 after the end).
        rewards: ``(n, max_steps)`` float64 reward received (0 after the end).
        mask: ``(n, max_steps)`` bool, True on the steps taken.
        success: ``(n,)`` bool, the episode reached the goal.
        gamma: the environment's discount.
    """

    states: np.ndarray
    actions: np.ndarray
    rewards: np.ndarray
    mask: np.ndarray
    success: np.ndarray
    gamma: float

    @property
    def lengths(self) -> np.ndarray:
        """``(n,)`` steps taken by each episode."""
        return self.mask.sum(1)

    def returns(self) -> np.ndarray:
        """``(n, max_steps)`` reward-to-go ``G_t`` (0 after the end)."""
        return discounted_returns(self.rewards, self.gamma, self.mask)

    def episode_returns(self) -> np.ndarray:
        """``(n,)`` discounted return of each whole episode, ``G_0``."""
        return self.returns()[:, 0]

    def __len__(self) -> int:
        return len(self.success)


def _softmax_np(z: np.ndarray) -> np.ndarray:
    z = np.asarray(z, dtype=np.float64)
    e = np.exp(z - z.max(1, keepdims=True))
    return e / e.sum(1, keepdims=True)


def _logits_of(policy: Callable, obs: np.ndarray) -> np.ndarray:
    with no_grad():
        out = policy(Tensor(obs))
    return out.data if isinstance(out, Tensor) else np.asarray(out)


def collect_episodes(venv, policy: Callable, rng: np.random.Generator, *, starts=None,
                     greedy: bool = False) -> Episodes:
    """Run one episode in each copy of ``venv`` (a `ibcore.envs.VecGridWorld`) to its end.

    At each step the policy sees the observations of the episodes still running, as one batch
    (under ``no_grad``), and an action is drawn from ``softmax(logits)`` (or the arg-max when
    ``greedy``).

    Args:
        venv: the batch of environments; its ``n_envs`` is the number of episodes.
        policy: maps a ``(m, n_states)`` observation Tensor to ``(m, n_actions)`` logits (a
            Tensor or an array), e.g. an `ibcore.nn.MLP`.
        rng: the generator for the start cells and the actions (the only randomness).
        starts: optional ``(n_envs,)`` start states instead of uniform draws.
        greedy: take the most probable action instead of sampling.

    Raises:
        ValueError: logits of the wrong shape, or ``starts`` that `VecGridWorld.reset` rejects.
    """
    env = venv.env
    n, T = venv.n_envs, env.max_steps
    if starts is None:
        starts = rng.choice(env.start_states, size=n)
    obs, _ = venv.reset(starts=starts)
    states = np.full((n, T), -1, dtype=np.int64)
    actions = np.full((n, T), -1, dtype=np.int64)
    rewards = np.zeros((n, T))
    mask = np.zeros((n, T), dtype=bool)
    success = np.zeros(n, dtype=bool)
    for t in range(T):
        active = ~venv.done
        if not active.any():
            break
        z = _logits_of(policy, obs[active])
        if z.shape != (int(active.sum()), env.n_actions):
            raise ValueError(f"collect_episodes: policy returned logits of shape {z.shape}, "
                             f"expected ({int(active.sum())}, {env.n_actions})")
        if greedy:
            a_act = z.argmax(1)
        else:
            cdf = np.cumsum(_softmax_np(z), axis=1)
            u = rng.random(len(z))[:, None]
            a_act = np.minimum((cdf < u).sum(1), env.n_actions - 1)
        a = np.zeros(n, dtype=np.int64)
        a[active] = a_act
        states[active, t] = venv.state[active]
        actions[active, t] = a_act
        obs, r, terminated, _, _ = venv.step(a)
        rewards[:, t] = r
        mask[:, t] = active
        success |= terminated
    return Episodes(states, actions, rewards, mask, success, env.gamma)


def policy_probs(policy: Callable, env) -> np.ndarray:
    """``(n_states, n_actions)`` float64: ``pi(a | s)`` of ``policy`` on every state of ``env``
    (input of `ibcore.envs.GridWorld.evaluate`)."""
    return _softmax_np(_logits_of(policy, env.encode(np.arange(env.n_states))))


def greedy_actions(policy: Callable, env) -> np.ndarray:
    """``(n_states,)`` the most probable action of ``policy`` in every state of ``env``."""
    return _logits_of(policy, env.encode(np.arange(env.n_states))).argmax(1)


def episode_gradients(policy, env, episodes: Episodes, weights) -> np.ndarray:
    """Per-episode gradients of the policy loss with respect to every parameter of ``policy``.

    Row ``i`` is the gradient of ``policy_loss(logits_i, actions_i, weights_i, reduction="sum")``
    over the steps of episode ``i`` alone: one sample of the REINFORCE estimate of ``-grad J``
    (for ``weights`` = returns), so the spread of the rows is the variance of the estimator.

    Computed without one backward pass per episode: the logits depend on the state only, so the
    episode's gradient with respect to the table of logits ``z(s)`` is
    ``sum_t w_t (softmax(z(s_t)) - onehot(a_t))`` accumulated on row ``s_t``, and the chain rule
    maps that table to the parameters through the Jacobian ``d z(s)_k / d theta``, found once by
    ``n_states * n_actions`` backward passes.

    Args:
        policy: an `ibcore.nn.Module` mapping one-hot observations to logits.
        env: the `ibcore.envs.GridWorld` the episodes come from.
        episodes: the `Episodes`.
        weights: ``(n, max_steps)`` per-step weights (entries off ``episodes.mask`` are ignored).

    Returns:
        ``(n, n_parameters)`` float64, parameters in ``policy.parameters()`` order, flattened.

    Raises:
        ValueError: ``weights`` of another shape than ``episodes.rewards``.
    """
    w = np.asarray(weights, dtype=np.float64)
    if w.shape != episodes.rewards.shape:
        raise ValueError(f"episode_gradients: weights of shape {w.shape} do not match the "
                         f"episodes' {episodes.rewards.shape}")
    S, K = env.n_states, env.n_actions
    params = list(policy.parameters())
    saved = [q.grad for q in params]  # restored at the end: this function changes nothing
    logits = policy(Tensor(env.encode(np.arange(S))))  # (S, K)
    p = _softmax_np(logits.data)
    jac = np.zeros((S * K, sum(q.data.size for q in params)))
    for j in range(S * K):
        seed = np.zeros((S, K), dtype=logits.data.dtype)
        seed.flat[j] = 1.0
        for q in params:
            q.grad = None
        logits.backward(seed)  # the graph is kept, so it can be reused for every entry
        jac[j] = np.concatenate([(q.grad if q.grad is not None else np.zeros_like(q.data))
                                 .ravel() for q in params])
    for q, g in zip(params, saved, strict=True):
        q.grad = g
    n = len(episodes)
    m = episodes.mask
    gz = np.zeros((n, S, K))
    i, t = np.nonzero(m)
    s, a, wt = episodes.states[i, t], episodes.actions[i, t], w[i, t]
    np.add.at(gz, (i, s), wt[:, None] * p[s])
    np.add.at(gz, (i, s, a), -wt)
    return gz.reshape(n, S * K) @ jac
