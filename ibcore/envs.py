"""A small gridworld for reinforcement learning, one episode at a time or as a batch.

`GridWorld` has the interface of a Gymnasium environment:
``reset(seed=None) -> (obs, info)`` and ``step(action) -> (obs, reward, terminated, truncated,
info)``. `VecGridWorld` runs ``n_envs`` copies in lockstep with NumPy, so that a batch of episodes
costs one forward pass of the policy per time step. Besides simulating, `GridWorld` knows its own
dynamics, so it can answer questions exactly, by breadth-first search and dynamic programming:
the shortest path length from every cell (`GridWorld.shortest_path_lengths`), the optimal actions
and values, and the exact success probability, expected discounted return and expected length of
any stationary stochastic policy (`GridWorld.evaluate`).

The task (defaults): a 5 x 5 grid of cells ``(row, col)``, row 0 at the top. The goal is the
bottom-right cell ``(4, 4)``. Each episode starts in a cell drawn uniformly from the non-goal,
non-wall cells. Actions are ``0 = up, 1 = right, 2 = down, 3 = left``; a move off the grid or into
a wall leaves the agent where it is. Every step costs ``step_reward = -0.01``; the step that
enters the goal earns ``goal_reward = +1`` instead and ends the episode (``terminated``). After
``max_steps = 25`` steps without reaching the goal the episode is cut off (``truncated``). Returns
are discounted with ``gamma = 0.99``: ``G = sum_t gamma^t r_t``. With a negative step cost and
``gamma < 1`` every shortest path to the goal is optimal and nothing else is.

The observation of a cell is its one-hot encoding, a float32 vector of length ``size * size``
(`GridWorld.encode`), the input an MLP policy reads.
"""

from __future__ import annotations

import numbers
from collections import deque

import numpy as np

__all__ = ["ACTIONS", "GridWorld", "VecGridWorld"]

#: Action names, indexed by action.
ACTIONS = ("up", "right", "down", "left")
#: (d_row, d_col) of each action.
MOVES = np.array([[-1, 0], [0, 1], [1, 0], [0, -1]])


def _cell(name: str, cell, size: int) -> tuple[int, int]:
    try:
        r, c = (int(v) for v in cell)
    except (TypeError, ValueError):
        raise TypeError(f"GridWorld: {name} must be a (row, col) pair, got {cell!r}") from None
    if not (0 <= r < size and 0 <= c < size):
        raise ValueError(f"GridWorld: {name} {(r, c)} is outside the {size} x {size} grid")
    return r, c


def _check_seed(op: str, seed) -> None:
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, numbers.Integral)
                             or seed < 0):
        raise TypeError(f"{op}: seed must be None or a non-negative int, got {seed!r}")


class GridWorld:
    """A ``size x size`` gridworld with one goal cell, in the style of a Gymnasium environment.

    Args:
        size: cells per side (at least 2). Default 5.
        goal: the goal cell ``(row, col)``; default the bottom-right corner.
        walls: cells the agent cannot enter (default none).
        step_reward: reward of every step that does not enter the goal (default -0.01).
        goal_reward: reward of the step that enters the goal (default +1).
        max_steps: the episode is truncated after this many steps (default 25).
        gamma: discount factor used by `evaluate`, `optimal_values` and by convention by the
            learner (default 0.99).

    States are cell indices ``s = row * size + col``; observations are one-hot vectors of length
    ``n_states = size * size``.

    Raises:
        ValueError: a size below 2, a goal or wall outside the grid, the goal on a wall, a
            non-positive ``max_steps``, ``gamma`` outside (0, 1], or a cell that cannot reach the
            goal.
        TypeError: a cell that is not a ``(row, col)`` pair.
    """

    n_actions = len(ACTIONS)

    def __init__(self, size: int = 5, goal=None, walls=(), step_reward: float = -0.01,
                 goal_reward: float = 1.0, max_steps: int = 25, gamma: float = 0.99):
        if isinstance(size, bool) or not isinstance(size, numbers.Integral) or size < 2:
            raise ValueError(f"GridWorld: size must be an int >= 2, got {size!r}")
        if isinstance(max_steps, bool) or not isinstance(max_steps, numbers.Integral) \
                or max_steps < 1:
            raise ValueError(f"GridWorld: max_steps must be a positive int, got {max_steps!r}")
        if not 0 < gamma <= 1:
            raise ValueError(f"GridWorld: gamma must be in (0, 1], got {gamma!r}")
        self.size = int(size)
        self.goal = _cell("goal", goal if goal is not None else (size - 1, size - 1), size)
        self.walls = tuple(sorted({_cell("wall", w, size) for w in walls}))
        if self.goal in self.walls:
            raise ValueError(f"GridWorld: the goal {self.goal} is also a wall")
        self.step_reward, self.goal_reward = float(step_reward), float(goal_reward)
        self.max_steps, self.gamma = int(max_steps), float(gamma)
        self.n_states = self.size * self.size
        self.goal_state = self.goal[0] * self.size + self.goal[1]
        self.wall_states = np.array([r * self.size + c for r, c in self.walls], dtype=np.int64)

        # next_state[s, a]: the deterministic dynamics (off-grid and into-wall moves stay put).
        rows, cols = np.divmod(np.arange(self.n_states), self.size)
        nr = np.clip(rows[:, None] + MOVES[None, :, 0], 0, self.size - 1)
        nc = np.clip(cols[:, None] + MOVES[None, :, 1], 0, self.size - 1)
        nxt = nr * self.size + nc
        blocked = np.isin(nxt, self.wall_states)
        self.next_state = np.where(blocked, np.arange(self.n_states)[:, None], nxt)
        # reward[s, a] of taking a in s.
        self.reward = np.where(self.next_state == self.goal_state, self.goal_reward,
                               self.step_reward)
        is_start = np.ones(self.n_states, dtype=bool)
        is_start[self.goal_state] = False
        is_start[self.wall_states] = False
        #: the states an episode can start in (every non-goal, non-wall cell), ascending.
        self.start_states = np.flatnonzero(is_start)
        dist = self.shortest_path_lengths()
        unreachable = self.start_states[dist[self.start_states] < 0]
        if unreachable.size:
            raise ValueError(f"GridWorld: cells {[self.cell(s) for s in unreachable[:5]]} cannot "
                             "reach the goal")

        self._rng = np.random.default_rng()
        self._state: int | None = None
        self._t = 0
        self._done = True

    # ---- helpers ------------------------------------------------------------------------------
    def __repr__(self) -> str:
        return (f"GridWorld(size={self.size}, goal={self.goal}, walls={list(self.walls)}, "
                f"step_reward={self.step_reward}, goal_reward={self.goal_reward}, "
                f"max_steps={self.max_steps}, gamma={self.gamma})")

    def cell(self, state: int) -> tuple[int, int]:
        """The ``(row, col)`` of state index ``state``."""
        r, c = divmod(int(state), self.size)
        return r, c

    def state_of(self, cell) -> int:
        """The state index of ``(row, col)``."""
        r, c = _cell("cell", cell, self.size)
        return r * self.size + c

    def encode(self, states) -> np.ndarray:
        """One-hot observations: ``(...,)`` state indices -> ``(..., n_states)`` float32."""
        states = np.asarray(states)
        if states.dtype.kind not in "iu" or np.any((states < 0) | (states >= self.n_states)):
            raise ValueError(f"GridWorld.encode: states must be ints in [0, {self.n_states}), "
                             f"got {states.ravel()[:5].tolist()}")
        return np.eye(self.n_states, dtype=np.float32)[states]

    # ---- the Gymnasium-style interface --------------------------------------------------------
    def reset(self, seed: int | None = None, options: dict | None = None):
        """Start an episode. Returns ``(obs, info)``.

        Args:
            seed: reseeds the environment's generator (as in Gymnasium); ``None`` continues it.
            options: ``{"start": (row, col)}`` to choose the start cell instead of drawing it.

        ``obs`` is the one-hot ``(n_states,)`` float32 vector of the start cell; ``info`` holds
        ``state``, ``cell`` and ``steps`` (0).

        Raises:
            TypeError: a seed that is not a non-negative int.
            ValueError: a start cell that is the goal or a wall.
        """
        _check_seed("GridWorld.reset", seed)
        if seed is not None:
            self._rng = np.random.default_rng(seed)
        start = (options or {}).get("start")
        if start is None:
            s = int(self._rng.choice(self.start_states))
        else:
            s = self.state_of(start)
            if s not in set(self.start_states.tolist()):
                raise ValueError(f"GridWorld.reset: cannot start in {self.cell(s)}: it is the "
                                 "goal or a wall")
        self._state, self._t, self._done = s, 0, False
        return self.encode(s), self._info()

    def _info(self) -> dict:
        return {"state": self._state, "cell": self.cell(self._state), "steps": self._t}

    def step(self, action):
        """Take ``action`` (0 up, 1 right, 2 down, 3 left).

        Returns ``(obs, reward, terminated, truncated, info)``: ``terminated`` when the step
        entered the goal, ``truncated`` when it was step ``max_steps`` without reaching it.

        Raises:
            ValueError: an action that is not an int in ``[0, 4)``.
            RuntimeError: a step before `reset` or after the episode ended.
        """
        if isinstance(action, np.ndarray) and action.ndim == 0:
            action = action.item()
        if isinstance(action, bool) or not isinstance(action, numbers.Integral) \
                or not 0 <= action < self.n_actions:
            raise ValueError(f"GridWorld.step: action must be an int in [0, {self.n_actions}) "
                             f"({', '.join(f'{i} {n}' for i, n in enumerate(ACTIONS))}), "
                             f"got {action!r}")
        if self._state is None:
            raise RuntimeError("GridWorld.step: call reset() before step()")
        if self._done:
            raise RuntimeError("GridWorld.step: the episode has ended (terminated or truncated); "
                               "call reset() to start a new one")
        a = int(action)
        reward = float(self.reward[self._state, a])
        self._state = int(self.next_state[self._state, a])
        self._t += 1
        terminated = self._state == self.goal_state
        truncated = not terminated and self._t >= self.max_steps
        self._done = terminated or truncated
        return self.encode(self._state), reward, terminated, truncated, self._info()

    # ---- exact answers ------------------------------------------------------------------------
    def shortest_path_lengths(self) -> np.ndarray:
        """Steps on a shortest path from each state to the goal, by breadth-first search from the
        goal over reversed moves: ``(n_states,)`` int, 0 at the goal, -1 for walls and cells that
        cannot reach it."""
        dist = np.full(self.n_states, -1, dtype=np.int64)
        dist[self.goal_state] = 0
        preds: list[list[int]] = [[] for _ in range(self.n_states)]
        for s in range(self.n_states):
            if s in self.wall_states or s == self.goal_state:
                continue
            for s2 in set(self.next_state[s].tolist()) - {s}:
                preds[s2].append(s)
        queue = deque([self.goal_state])
        while queue:
            s2 = queue.popleft()
            for s in preds[s2]:
                if dist[s] < 0:
                    dist[s] = dist[s2] + 1
                    queue.append(s)
        return dist

    def optimal_actions(self) -> np.ndarray:
        """``(n_states, 4)`` bool: the actions that start a shortest path (those that bring the
        agent one step closer to the goal). Rows of the goal and of walls are all False."""
        dist = self.shortest_path_lengths()
        ok = dist[self.next_state] == dist[:, None] - 1
        ok[dist <= 0] = False
        return ok

    def optimal_values(self) -> np.ndarray:
        """``(n_states,)`` float64: the optimal expected discounted return from each start state
        (0 at the goal and at walls), by finite-horizon value iteration over ``max_steps`` steps
        (the Bellman optimality backup; Sutton and Barto 2018, ch. 4)."""
        terminal = np.zeros(self.n_states, dtype=bool)
        terminal[self.goal_state] = True
        v = np.zeros(self.n_states)
        for _ in range(self.max_steps):
            q = self.reward + self.gamma * np.where(terminal[self.next_state], 0.0,
                                                    v[self.next_state])
            v = q.max(1)
        v[self.goal_state] = 0.0
        v[self.wall_states] = 0.0
        return v

    def _check_probs(self, op: str, probs) -> np.ndarray:
        probs = np.asarray(probs, dtype=np.float64)
        if probs.shape != (self.n_states, self.n_actions):
            raise ValueError(f"{op}: probs must have shape ({self.n_states}, {self.n_actions}) "
                             f"(state, action), got {probs.shape}")
        rows = self.start_states
        if np.any(probs[rows] < 0) or not np.allclose(probs[rows].sum(1), 1, atol=1e-6):
            raise ValueError(f"{op}: each row of probs must be a probability distribution")
        return probs

    def evaluate(self, probs) -> dict[str, np.ndarray]:
        """Exact performance of the stationary policy ``probs[s, a] = pi(a | s)``.

        Propagates the distribution over states of an episode from each start state for
        ``max_steps`` steps (the goal absorbs); no sampling.

        Args:
            probs: ``(n_states, 4)`` action probabilities (rows of the goal and walls unused).

        Returns:
            A dict of ``(n_start_states,)`` float64 arrays, one entry per state in
            ``start_states``: ``success`` (probability of reaching the goal within
            ``max_steps``), ``ret`` (expected discounted return), ``length`` (expected number of
            steps), plus ``mean_success``, ``mean_return`` and ``mean_length`` averaged over the
            uniform start distribution.

        Raises:
            ValueError: wrong shape, or a start-state row that is not a distribution.
        """
        probs = self._check_probs("GridWorld.evaluate", probs)
        n, S = len(self.start_states), self.n_states
        P = np.zeros((S, S))  # P[s, s'] under the policy
        np.add.at(P, (np.repeat(np.arange(S), self.n_actions), self.next_state.ravel()),
                  probs.ravel())
        r_pi = (probs * self.reward).sum(1)
        D = np.zeros((n, S))
        D[np.arange(n), self.start_states] = 1.0
        success, ret, length = np.zeros(n), np.zeros(n), np.zeros(n)
        g = 1.0
        for _ in range(self.max_steps):
            length += D.sum(1)
            ret += g * (D @ r_pi)
            D = D @ P
            success += D[:, self.goal_state]
            D[:, self.goal_state] = 0.0
            g *= self.gamma
        return {"success": success, "ret": ret, "length": length,
                "mean_success": success.mean(), "mean_return": ret.mean(),
                "mean_length": length.mean()}

    def greedy_lengths(self, actions) -> np.ndarray:
        """Follow the deterministic policy ``actions[s]`` from every start state.

        Args:
            actions: ``(n_states,)`` ints in [0, 4).

        Returns:
            ``(n_start_states,)`` int: steps taken to reach the goal, or -1 where the goal is not
            reached within ``max_steps``. Compare with ``shortest_path_lengths()[start_states]``.
        """
        actions = np.asarray(actions)
        if actions.shape != (self.n_states,) or actions.dtype.kind not in "iu" \
                or np.any((actions < 0) | (actions >= self.n_actions)):
            raise ValueError(f"GridWorld.greedy_lengths: actions must be ({self.n_states},) ints "
                             f"in [0, {self.n_actions}), got shape {actions.shape}")
        s = self.start_states.copy()
        out = np.full(len(s), -1, dtype=np.int64)
        for t in range(1, self.max_steps + 1):
            active = out < 0
            s[active] = self.next_state[s[active], actions[s[active]]]
            out[active & (s == self.goal_state)] = t
        return out


class VecGridWorld:
    """``n_envs`` copies of a `GridWorld` stepped in lockstep, with NumPy arrays throughout.

    Episodes do not reset automatically: once an episode has ended its copy stays done, receives
    reward 0 for later steps and is reported in ``info["active"]`` as inactive, so a batch of
    whole episodes is what one `reset` and at most ``max_steps`` calls of `step` produce.

    Args:
        n_envs: number of copies.
        env: the `GridWorld` to copy (default ``GridWorld()``).

    Raises:
        ValueError: ``n_envs`` below 1.
    """

    def __init__(self, n_envs: int, env: GridWorld | None = None):
        if isinstance(n_envs, bool) or not isinstance(n_envs, numbers.Integral) or n_envs < 1:
            raise ValueError(f"VecGridWorld: n_envs must be a positive int, got {n_envs!r}")
        self.n_envs = int(n_envs)
        self.env = env if env is not None else GridWorld()
        self._rng = np.random.default_rng()
        self.state: np.ndarray | None = None
        self.done = np.ones(self.n_envs, dtype=bool)
        self.t = 0

    def reset(self, seed: int | None = None, starts=None):
        """Start ``n_envs`` episodes. Returns ``(obs, info)``: ``obs`` is ``(n_envs, n_states)``.

        Args:
            seed: reseeds the generator that draws start cells; ``None`` continues it.
            starts: ``(n_envs,)`` start state indices instead of random ones.

        Raises:
            TypeError: a bad seed. ValueError: ``starts`` of the wrong shape or not start states.
        """
        _check_seed("VecGridWorld.reset", seed)
        if seed is not None:
            self._rng = np.random.default_rng(seed)
        if starts is None:
            s = self._rng.choice(self.env.start_states, size=self.n_envs)
        else:
            s = np.asarray(starts)
            if s.shape != (self.n_envs,) or s.dtype.kind not in "iu" \
                    or not np.all(np.isin(s, self.env.start_states)):
                raise ValueError(f"VecGridWorld.reset: starts must be ({self.n_envs},) start-state "
                                 f"indices (not the goal or a wall), got {s!r}")
        self.state = s.astype(np.int64)
        self.done = np.zeros(self.n_envs, dtype=bool)
        self.t = 0
        return self.env.encode(self.state), {"state": self.state.copy(), "steps": 0}

    def step(self, actions):
        """Step every copy. Returns ``(obs, reward, terminated, truncated, info)``, each with a
        leading ``n_envs`` axis; ``info["active"]`` marks the copies whose episode was still
        running before this step (the others ignore their action and get reward 0).

        Raises:
            ValueError: ``actions`` not ``(n_envs,)`` ints in [0, 4).
            RuntimeError: before `reset`, or when every episode has already ended.
        """
        a = np.asarray(actions)
        if a.shape != (self.n_envs,) or a.dtype.kind not in "iu" \
                or np.any((a < 0) | (a >= GridWorld.n_actions)):
            raise ValueError(f"VecGridWorld.step: actions must be ({self.n_envs},) ints in "
                             f"[0, {GridWorld.n_actions}), got shape {a.shape}, dtype {a.dtype}")
        if self.state is None:
            raise RuntimeError("VecGridWorld.step: call reset() before step()")
        if self.done.all():
            raise RuntimeError("VecGridWorld.step: every episode has ended; call reset()")
        active = ~self.done
        env = self.env
        reward = np.where(active, env.reward[self.state, a], 0.0)
        self.state = np.where(active, env.next_state[self.state, a], self.state)
        self.t += 1
        terminated = active & (self.state == env.goal_state)
        truncated = active & ~terminated & (self.t >= env.max_steps)
        self.done = self.done | terminated | truncated
        info = {"state": self.state.copy(), "steps": self.t, "active": active}
        return env.encode(self.state), reward, terminated, truncated, info
