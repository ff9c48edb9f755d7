"""The gridworld (`ibcore.envs`) and policy-gradient learning as weighted cross-entropy
(`ibcore.rl`): returns by hand, the policy-gradient identity, the environment's error paths."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import ibcore as ib
from ibcore import F, nn, rl
from ibcore.envs import ACTIONS, GridWorld, VecGridWorld

UP, RIGHT, DOWN, LEFT = range(4)


# ---- discounted returns -------------------------------------------------------------------------
def test_returns_by_hand():
    g = 0.99
    r = [-0.01, -0.01, 1.0]
    expected = [-0.01 + g * (-0.01) + g * g * 1.0, -0.01 + g * 1.0, 1.0]
    np.testing.assert_allclose(rl.discounted_returns(r, g), expected, rtol=0, atol=1e-15)
    # gamma = 1 is the plain reward-to-go, gamma = 0 the reward itself
    np.testing.assert_allclose(rl.discounted_returns([1, 2, 3], 1.0), [6, 5, 3])
    np.testing.assert_allclose(rl.discounted_returns([1, 2, 3], 0.0), [1, 2, 3])


def test_returns_batch_and_mask():
    r = np.array([[1.0, 2.0, 7.0], [0.5, 0.0, 0.0]])
    mask = np.array([[True, True, False], [True, False, False]])
    out = rl.discounted_returns(r, 0.5, mask)
    # the 7 and the zeros after the end are ignored; returns off the mask are 0
    np.testing.assert_allclose(out, [[1 + 0.5 * 2, 2, 0], [0.5, 0, 0]])
    assert out.dtype == np.float64


@pytest.mark.parametrize("kwargs, match", [
    (dict(rewards=[1.0], gamma=1.5), "gamma"),
    (dict(rewards=[1.0], gamma=-0.1), "gamma"),
    (dict(rewards=1.0, gamma=0.9), "steps axis"),
    (dict(rewards=[1.0, np.nan], gamma=0.9), "finite"),
    (dict(rewards=[1.0, 2.0], gamma=0.9, mask=[True]), "mask"),
])
def test_returns_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        rl.discounted_returns(**kwargs)


# ---- the policy loss and the policy-gradient identity -------------------------------------------
def _logit_grad(logits, actions, weights, reduction="sum"):
    z = ib.Tensor(logits, requires_grad=True)
    rl.policy_loss(z, actions, weights, reduction=reduction).backward()
    return z.grad


def test_grad_of_neg_log_pi_is_p_minus_onehot():
    rng = np.random.default_rng(0)
    z = rng.normal(size=(6, 4)) * 3
    a = rng.integers(0, 4, 6)
    p = np.exp(z - z.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    np.testing.assert_allclose(_logit_grad(z, a, np.ones(6)), p - np.eye(4)[a], atol=1e-15)
    w = rng.normal(size=6)
    np.testing.assert_allclose(_logit_grad(z, a, w), w[:, None] * (p - np.eye(4)[a]),
                               atol=1e-15)
    np.testing.assert_allclose(_logit_grad(z, a, w, "mean"), w[:, None] * (p - np.eye(4)[a]) / 6,
                               atol=1e-15)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_policy_loss_matches_torch(reduction):
    rng = np.random.default_rng(1)
    z = rng.normal(size=(7, 5))
    a = rng.integers(0, 5, 7)
    w = rng.normal(size=7)
    up = rng.normal(size=7) if reduction == "none" else None
    x = ib.Tensor(z, requires_grad=True)
    out = rl.policy_loss(x, a, w, reduction=reduction)
    out.backward(up)
    tz = torch.tensor(z, requires_grad=True)
    tl = torch.nn.functional.cross_entropy(tz, torch.tensor(a), reduction="none") * \
        torch.tensor(w)
    tl = {"mean": tl.mean(), "sum": tl.sum(), "none": tl}[reduction]
    tl.backward(torch.tensor(up) if up is not None else None)
    np.testing.assert_allclose(out.data, tl.detach().numpy(), atol=1e-12)
    np.testing.assert_allclose(x.grad, tz.grad.numpy(), atol=1e-12)


def test_one_step_identity_by_enumeration():
    """Reward 1 when the action equals the label: the exact expected REINFORCE gradient (all
    actions enumerated, each weighted by its probability times its reward) equals the supervised
    cross-entropy gradient scaled by the label's probability, and equals minus the gradient of the
    expected reward differentiated directly."""
    rng = np.random.default_rng(2)
    n, d, K = 8, 5, 6
    X = rng.normal(size=(n, d))
    y = rng.integers(0, K, n)
    net = nn.MLP([d, 16, K], rng=np.random.default_rng(3)).double()

    def grads(loss):
        net.zero_grad()
        loss.backward()
        return np.concatenate([p.grad.ravel() for p in net.parameters()])

    z = net(ib.Tensor(X))
    pi = np.exp(z.data - z.data.max(1, keepdims=True))
    pi /= pi.sum(1, keepdims=True)
    # REINFORCE, exact expectation: every (state, action) pair, weight pi(a|x) R(a)
    rows = np.repeat(np.arange(n), K)
    acts = np.tile(np.arange(K), n)
    reward = (acts == y[rows]).astype(np.float64)
    g_reinforce = grads(rl.policy_loss(net(ib.Tensor(X[rows])), acts, pi[rows, acts] * reward,
                                       reduction="sum") * (1.0 / n))
    # supervised cross-entropy on the label, each example scaled by pi(y | x)
    g_supervised = grads(rl.policy_loss(net(ib.Tensor(X)), y, pi[np.arange(n), y],
                                        reduction="mean"))
    # minus the gradient of the expected reward E[R] = mean_x pi(y | x), by autograd
    probs = F.softmax(net(ib.Tensor(X)), dim=1)
    g_direct = grads(-F.index(probs, (np.arange(n), y)).mean())
    assert np.abs(g_supervised).max() > 1e-3
    np.testing.assert_allclose(g_reinforce, g_supervised, rtol=0, atol=1e-15)
    np.testing.assert_allclose(g_reinforce, g_direct, rtol=0, atol=1e-15)


def test_policy_loss_errors():
    z = ib.Tensor(np.zeros((3, 4)), requires_grad=True)
    a = np.array([0, 1, 2])
    with pytest.raises(TypeError, match="detach"):
        rl.policy_loss(z, a, ib.Tensor(np.ones(3), requires_grad=True))
    with pytest.raises(ValueError, match=r"weights must have shape \(3,\)"):
        rl.policy_loss(z, a, np.ones(4))
    with pytest.raises(ValueError, match="finite"):
        rl.policy_loss(z, a, np.array([1.0, np.inf, 1.0]))
    with pytest.raises(ValueError, match="reduction"):
        rl.policy_loss(z, a, np.ones(3), reduction="max")
    with pytest.raises(ValueError, match="logits must have shape"):
        rl.policy_loss(ib.Tensor(np.zeros(4)), a, np.ones(3))
    with pytest.raises(ValueError, match="labels must be in"):
        rl.policy_loss(z, np.array([0, 1, 4]), np.ones(3))
    # a Tensor of weights that does not require grad is accepted
    out = rl.policy_loss(z, a, ib.Tensor(np.ones(3)))
    assert np.isclose(out.item(), np.log(4))


def test_moving_average_baseline():
    b = rl.MovingAverageBaseline(decay=0.5)
    assert b.value == 0.0
    assert b.update([1.0, 3.0]) == 2.0  # the first update is the mean itself
    assert b.update([4.0]) == 3.0
    with pytest.raises(ValueError, match="decay"):
        rl.MovingAverageBaseline(decay=1.0)
    with pytest.raises(ValueError, match="finite"):
        b.update([])
    assert b.value == 3.0  # a rejected update changes nothing


# ---- the environment ----------------------------------------------------------------------------
def test_reset_is_seeded_and_one_hot():
    env = GridWorld()
    starts = [env.reset(seed=7)[1]["state"] for _ in range(3)]
    assert len(set(starts)) == 1
    seq_a = [env.reset(seed=3)[1]["state"]] + [env.reset()[1]["state"] for _ in range(20)]
    seq_b = [env.reset(seed=3)[1]["state"]] + [env.reset()[1]["state"] for _ in range(20)]
    assert seq_a == seq_b and len(set(seq_a)) > 1
    obs, info = env.reset(options={"start": (1, 2)})
    assert obs.shape == (25,) and obs.dtype == np.float32
    assert obs.sum() == 1 and obs[1 * 5 + 2] == 1 and info["cell"] == (1, 2)
    assert env.goal_state not in env.start_states and len(env.start_states) == 24


def test_step_rewards_walls_and_goal():
    env = GridWorld()
    env.reset(options={"start": (0, 0)})
    obs, r, term, trunc, info = env.step(UP)  # off the grid: stays, pays the step cost
    assert info["cell"] == (0, 0) and r == -0.01 and not term and not trunc
    for _ in range(4):
        env.step(RIGHT)
    for _ in range(3):
        _, r, term, _, info = env.step(DOWN)
    assert info["cell"] == (3, 4) and r == -0.01 and not term
    obs, r, term, trunc, info = env.step(np.int64(DOWN))
    assert info["cell"] == (4, 4) and r == 1.0 and term and not trunc and info["steps"] == 9
    assert obs.argmax() == env.goal_state
    with pytest.raises(RuntimeError, match="ended"):
        env.step(UP)


def test_truncation_after_max_steps():
    env = GridWorld()
    env.reset(options={"start": (0, 0)})
    for t in range(1, 26):
        _, r, term, trunc, _ = env.step(LEFT)
        assert r == -0.01 and not term
        assert trunc == (t == 25)
    with pytest.raises(RuntimeError, match="reset"):
        env.step(LEFT)


@pytest.mark.parametrize("action", [4, -1, 1.5, "up", True, None, np.array([1, 2])])
def test_invalid_actions(action):
    env = GridWorld()
    env.reset(seed=0)
    before = env._info()
    with pytest.raises(ValueError, match=r"action must be an int in \[0, 4\)"):
        env.step(action)
    assert env._info() == before  # nothing changed


def test_step_before_reset_and_bad_seed():
    env = GridWorld()
    with pytest.raises(RuntimeError, match="reset"):
        env.step(0)
    with pytest.raises(TypeError, match="seed"):
        env.reset(seed=1.5)
    with pytest.raises(TypeError, match="seed"):
        env.reset(seed=-1)
    with pytest.raises(ValueError, match="cannot start"):
        env.reset(options={"start": (4, 4)})


@pytest.mark.parametrize("kwargs, err, match", [
    (dict(size=1), ValueError, "size"),
    (dict(goal=(5, 0)), ValueError, "outside"),
    (dict(goal="corner"), TypeError, "pair"),
    (dict(walls=[(4, 4)]), ValueError, "also a wall"),
    (dict(max_steps=0), ValueError, "max_steps"),
    (dict(gamma=0.0), ValueError, "gamma"),
    (dict(walls=[(3, 4), (4, 3)]), ValueError, "cannot reach"),
])
def test_constructor_errors(kwargs, err, match):
    with pytest.raises(err, match=match):
        GridWorld(**kwargs)


def test_shortest_paths_and_optimal_values():
    env = GridWorld()
    rows, cols = np.divmod(np.arange(25), 5)
    np.testing.assert_array_equal(env.shortest_path_lengths(), (4 - rows) + (4 - cols))
    d = env.shortest_path_lengths()
    g = env.gamma
    # d - 1 steps at -0.01, then +1 on step d
    by_hand = np.array([sum(-0.01 * g**k for k in range(n - 1)) + g ** (n - 1) if n else 0.0
                        for n in d])
    np.testing.assert_allclose(env.optimal_values(), by_hand, atol=1e-12)
    ok = env.optimal_actions()
    assert ok[0].tolist() == [False, True, True, False]  # right or down from (0, 0)
    assert ok[env.state_of((4, 0))].tolist() == [False, True, False, False]
    # a wall makes the shortest path go round it
    walled = GridWorld(walls=[(3, 3), (3, 4)])
    assert walled.shortest_path_lengths()[walled.state_of((2, 4))] == 6  # via (4, 2)
    assert walled.shortest_path_lengths()[walled.state_of((3, 4))] == -1


def test_evaluate_exact_against_simulation():
    env = GridWorld()
    uniform = np.full((25, 4), 0.25)
    ex = env.evaluate(uniform)
    venv = VecGridWorld(4000, env)
    ep = rl.collect_episodes(venv, lambda obs: np.zeros((len(obs), 4)),
                             np.random.default_rng(0))
    se = np.sqrt(ex["mean_success"] * (1 - ex["mean_success"]) / len(ep))
    assert abs(ep.success.mean() - ex["mean_success"]) < 4 * se
    assert abs(ep.lengths.mean() - ex["mean_length"]) < 0.3
    assert abs(ep.episode_returns().mean() - ex["mean_return"]) < 0.03
    # the optimal policy: certain success, the optimal values, shortest lengths
    ok = env.optimal_actions()
    probs = np.where(ok, 1.0, 0.0)
    probs[ok.sum(1) == 0] = 0.25
    probs /= probs.sum(1, keepdims=True)
    opt = env.evaluate(probs)
    np.testing.assert_allclose(opt["success"], 1.0)
    np.testing.assert_allclose(opt["ret"], env.optimal_values()[env.start_states], atol=1e-12)
    d = env.shortest_path_lengths()[env.start_states]
    np.testing.assert_allclose(opt["length"], d)
    np.testing.assert_array_equal(env.greedy_lengths(ok.argmax(1)), d)
    assert np.all(env.greedy_lengths(np.zeros(25, dtype=int)) == -1)  # always up: never there
    with pytest.raises(ValueError, match="shape"):
        env.evaluate(np.full((24, 4), 0.25))
    with pytest.raises(ValueError, match="distribution"):
        env.evaluate(np.full((25, 4), 0.3))


def test_vec_env_matches_single_env():
    env = GridWorld()
    venv = VecGridWorld(6, env)
    starts = np.array([0, 3, 12, 19, 23, 7])
    rng = np.random.default_rng(5)
    acts = rng.integers(0, 4, (25, 6))
    obs, _ = venv.reset(starts=starts)
    singles = [GridWorld() for _ in starts]
    for e, s in zip(singles, starts, strict=True):
        e.reset(options={"start": env.cell(s)})
    done = np.zeros(6, dtype=bool)
    for t in range(25):
        if done.all():
            with pytest.raises(RuntimeError, match="every episode"):
                venv.step(acts[t])
            break
        obs, r, term, trunc, info = venv.step(acts[t])
        for i, e in enumerate(singles):
            if done[i]:
                assert not info["active"][i] and r[i] == 0
                continue
            o1, r1, te1, tr1, _ = e.step(int(acts[t, i]))
            np.testing.assert_array_equal(obs[i], o1)
            assert (r[i], term[i], trunc[i]) == (r1, te1, tr1)
            done[i] = te1 or tr1


def test_vec_env_errors():
    venv = VecGridWorld(3)
    with pytest.raises(RuntimeError, match="reset"):
        venv.step(np.zeros(3, dtype=int))
    venv.reset(seed=0)
    with pytest.raises(ValueError, match=r"\(3,\) ints"):
        venv.step(np.array([0, 1]))
    with pytest.raises(ValueError, match=r"\(3,\) ints"):
        venv.step(np.array([0, 1, 4]))
    with pytest.raises(ValueError, match=r"\(3,\) ints"):
        venv.step(np.array([0.0, 1.0, 2.0]))
    with pytest.raises(ValueError, match="starts"):
        venv.reset(starts=np.array([0, 1, 24]))  # 24 is the goal
    with pytest.raises(ValueError, match="n_envs"):
        VecGridWorld(0)
    assert ACTIONS == ("up", "right", "down", "left")


def test_collect_episodes_and_greedy_expert():
    env = GridWorld()
    ok = env.optimal_actions()

    def expert(obs):
        return np.where(ok[obs.data.argmax(1)], 0.0, -1e9)

    venv = VecGridWorld(len(env.start_states), env)
    ep = rl.collect_episodes(venv, expert, np.random.default_rng(0), starts=env.start_states)
    d = env.shortest_path_lengths()[env.start_states]
    assert ep.success.all()
    np.testing.assert_array_equal(ep.lengths, d)
    np.testing.assert_allclose(ep.episode_returns(), env.optimal_values()[env.start_states])
    assert np.all(ok[ep.states[ep.mask], ep.actions[ep.mask]])  # only optimal actions taken
    assert np.all(ep.states[~ep.mask] == -1) and np.all(ep.rewards[~ep.mask] == 0)
    with pytest.raises(ValueError, match="logits of shape"):
        rl.collect_episodes(venv, lambda obs: np.zeros((len(obs), 3)), np.random.default_rng(0))


def test_collect_episodes_is_seeded():
    ib.manual_seed(0)
    pol = nn.MLP([25, 8, 4])
    venv = VecGridWorld(16)
    a = rl.collect_episodes(venv, pol, np.random.default_rng(4))
    b = rl.collect_episodes(venv, pol, np.random.default_rng(4))
    np.testing.assert_array_equal(a.actions, b.actions)
    np.testing.assert_array_equal(a.states, b.states)


def test_episode_gradients_match_one_backward_per_episode():
    env = GridWorld()
    ib.manual_seed(1)
    pol = nn.MLP([25, 16, 4]).double()
    ep = rl.collect_episodes(VecGridWorld(12, env), pol, np.random.default_rng(0))
    G = ep.returns()
    pol.zero_grad()
    grads = rl.episode_gradients(pol, env, ep, G)
    assert all(p.grad is None for p in pol.parameters())  # leaves the gradients as they were
    assert grads.shape == (12, pol.num_parameters())
    for i in range(12):
        pol.zero_grad()
        m = ep.mask[i]
        obs = env.encode(ep.states[i][m]).astype(np.float64)
        rl.policy_loss(pol(ib.Tensor(obs)), ep.actions[i][m], G[i][m], reduction="sum").backward()
        direct = np.concatenate([p.grad.ravel() for p in pol.parameters()])
        np.testing.assert_allclose(grads[i], direct, atol=1e-13)
    with pytest.raises(ValueError, match="weights"):
        rl.episode_gradients(pol, env, ep, G[:, :3])


def test_policy_probs_and_greedy_actions():
    env = GridWorld()
    ib.manual_seed(0)
    pol = nn.MLP([25, 8, 4])
    p = rl.policy_probs(pol, env)
    assert p.shape == (25, 4)
    np.testing.assert_allclose(p.sum(1), 1.0)
    np.testing.assert_array_equal(rl.greedy_actions(pol, env), p.argmax(1))
