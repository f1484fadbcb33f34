"""Exact adjoint gradients: ∂L/∂k = e_adj ∘ e with D u_adj = -(∂L/∂u)ᵀ, against central differences."""

import numpy as np
import pytest

from femnn.bars import BarModel
from femnn.network import Task, load_task, make_network
from femnn.train import TaskProblem


def central_fd(prob, k, idx=None, rel_step=1e-5):
    """g_i ≈ (L(k + h_i e_i) - L(k - h_i e_i)) / (2 h_i), h_i = rel_step * k_i (error O(h²))."""
    g = np.empty(k.size)
    for i in range(k.size):
        h = rel_step * k[i]
        kp, km = k.copy(), k.copy()
        kp[i] += h
        km[i] -= h
        g[i] = (prob.evaluate(kp, idx, gradient=False).loss - prob.evaluate(km, idx, gradient=False).loss) / (2 * h)
    return g


def assert_gradient(prob, k, idx=None):
    g = prob.evaluate(k, idx).gradient_k
    fd = central_fd(prob, k, idx)
    rel = np.linalg.norm(g - fd) / np.linalg.norm(g)
    assert rel < 1e-6, rel


@pytest.mark.parametrize("name", ["fig1", "behaviour-ce", "behaviour-mse", "regression", "iris"])
def test_paper_tasks(name):
    """Adjoint = central differences (1e-6 relative) on the paper tasks at random widths; data-set
    tasks on a 16-sample batch (mean loss)."""
    t = load_task(name)
    rng = np.random.default_rng(3)
    k = t.network.stiffness_N_per_m(rng.uniform(1.5e-3, 2.5e-3, 28))
    idx = None if t.kind == "single" else rng.choice(t.n_samples, 16, replace=False)
    assert_gradient(TaskProblem(t), k, idx)


def _random_task(loss, seed=0):
    """A diluted triangular lattice (8 rows, 5 % of bonds removed, random widths) with 3 inputs,
    4 outputs and 12 samples."""
    net = make_network("diluted-triangular", rows=8, remove_fraction=0.05, seed=seed)
    rng = np.random.default_rng(seed)
    free_nodes = np.setdiff1d(np.arange(net.n_nodes), net.fixed)
    nodes = rng.choice(free_nodes, 7, replace=False)
    ins, outs = nodes[:3], nodes[3:]
    X = rng.uniform(0.2, 1.0, (12, 3))
    if loss == "mse":
        Y = rng.normal(size=(12, 4)) * 1e-3
    else:
        Y = rng.integers(0, 4, 12)
    return Task(name="random", network=net.with_widths(rng.uniform(1.5e-3, 2.5e-3, net.n_bonds)), kind="classification" if loss != "mse" else "regression",
                input_dofs=2 * ins + 1, input_columns=[0, 1, 2], input_scale_N=[-0.05, -0.05, -0.05],
                output_dofs=2 * outs, loss=loss, X=X, Y=Y, loss_weight=0.5, softmax_scale_per_m=300.0)


@pytest.mark.parametrize("loss", ["mse", "ce-normalised", "ce-softmax", "ce-ratio-softmax"])
def test_random_larger_network(loss):
    """Every loss on a random ~190-bond network, 12-sample batch: adjoint = central FD to 1e-6."""
    t = _random_task(loss)
    assert_gradient(TaskProblem(t), t.network.stiffness_N_per_m())


def test_softmax_on_paper():
    """The softmax cross-entropy the paper's text writes, on the behaviour task (1e-6 vs FD)."""
    import dataclasses

    t = dataclasses.replace(load_task("behaviour-ce"), loss="ce-softmax", softmax_scale_per_m=1000.0)
    assert_gradient(TaskProblem(t), t.network.stiffness_N_per_m())


def test_one_factorisation_serves_forward_and_adjoint(monkeypatch):
    """A gradient evaluation factorises D exactly once (forward and adjoint share it), for a batch."""
    t = load_task("iris")
    prob = TaskProblem(t)
    calls = []
    orig = BarModel.factorize
    monkeypatch.setattr(BarModel, "factorize", lambda self, k: calls.append(1) or orig(self, k))
    prob.evaluate(t.network.stiffness_N_per_m(), np.arange(16))
    assert len(calls) == 1


def test_batch_equals_separate_solves():
    """One multi-right-hand-side solve of 64 load cases equals 64 separate solves."""
    net = make_network("triangular", rows=10)
    F = np.random.default_rng(0).normal(size=(64, net.n_nodes, 2)) * 1e-3
    bm = BarModel(net)
    batch = bm.solve(F).u
    one = np.stack([bm.solve(F[s]).u for s in range(64)])
    assert np.allclose(batch, one, rtol=1e-12, atol=1e-18)


def test_width_chain_rule():
    """∂L/∂w = ∂L/∂k · E t / L (k linear in w), checked by central differences in w."""
    t = load_task("fig1")
    prob = TaskProblem(t)
    w = np.full(28, 2e-3)
    g_w = prob.evaluate(t.network.stiffness_N_per_m(w)).gradient_k * t.network.stiffness_per_width()
    h = 1e-8
    i = 13
    wp, wm = w.copy(), w.copy()
    wp[i] += h
    wm[i] -= h
    fd = (prob.evaluate(t.network.stiffness_N_per_m(wp), gradient=False).loss
          - prob.evaluate(t.network.stiffness_N_per_m(wm), gradient=False).loss) / (2 * h)
    assert np.isclose(g_w[i], fd, rtol=1e-6)


def test_theta_chain_rule():
    """∂L/∂θ = ∂L/∂k · (E t / L)(w_U - w_L) β σ(1-σ) for w = w_L + (w_U - w_L) σ(β θ)."""
    from femnn.train.optim import WidthMap

    t = load_task("behaviour-mse")
    prob = TaskProblem(t)
    wm = WidthMap(t.network, beta=10.0)
    theta = np.random.default_rng(2).normal(size=28) * 0.1
    g = prob.evaluate(wm.k(theta)).gradient_k * wm.dk_dtheta(theta)
    for i in (0, 13, 27):
        e = np.zeros(28)
        e[i] = 1e-6
        fd = (prob.evaluate(wm.k(theta + e), gradient=False).loss - prob.evaluate(wm.k(theta - e), gradient=False).loss) / 2e-6
        assert np.isclose(g[i], fd, rtol=1e-6, atol=1e-6 * np.abs(g).max())
