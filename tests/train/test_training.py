"""Training reproduces what the paper's settings really reach, resumes exactly, replays splits."""

import json

import numpy as np
import pytest
from scipy.optimize import minimize

from femnn.network import load_task
from femnn.train import TaskProblem, TrainConfig, train


def test_behaviour_ce_authors_replay():
    """Cross-entropy toward node 12 with the authors' update stops by their k-rule
    (|k_t - k_(t-1)| / |k_(t-1)| <= 1e-8) after a few hundred iterations, widths at their bounds,
    and node 12 moves at least 1.2x as far as node 13."""
    t = load_task("behaviour-ce")
    r = train(t, TrainConfig(update="authors"))
    assert r.stopped_by == "k_tol" and 100 < len(r.history) < 2000
    lo, hi = t.network.width_bounds_m
    at_bound = np.isclose(r.widths_m, lo, rtol=1e-6) | np.isclose(r.widths_m, hi, rtol=1e-6)
    assert at_bound.sum() >= 26
    u12, u13 = TaskProblem(t).evaluate(r.k_N_per_m, gradient=False).u_out[0]
    assert abs(u12) >= 1.2 * abs(u13)


@pytest.mark.parametrize("name,target", [("behaviour-ce", 0), ("behaviour-ce-13", 1)])
def test_behaviour_ce_exact(name, target):
    """With the exact chain rule, either target output ends up moving >= 1.2x the other."""
    t = load_task(name)
    r = train(t, TrainConfig())
    u = np.abs(TaskProblem(t).evaluate(r.k_N_per_m, gradient=False).u_out[0])
    assert u[target] >= 1.2 * u[1 - target]


def test_history_loss_uses_k_before_update():
    """Single-load history: record t's loss is evaluated with the k of iteration t (before its
    update), so record 1 equals the untrained network's loss."""
    t = load_task("behaviour-mse")
    r = train(t, TrainConfig(epochs=3))
    assert np.isclose(r.history[0]["loss"], TaskProblem(t).evaluate(t.network.stiffness_N_per_m()).loss, rtol=1e-14)
    assert len(r.history) == 3


def test_regression_reaches_bounded_optimum():
    """Noise-free regression (5000 epochs, paper settings) ends within 1 % of the best mean training
    loss reachable with widths in [1.5, 2.5] mm, found independently by L-BFGS-B on the widths."""
    t = load_task("regression")
    prob = TaskProblem(t)
    r = train(t, TrainConfig(), problem=prob)
    tr = np.asarray(r.split["train"])
    s = t.network.stiffness_per_width()

    def f(w):
        ev = prob.evaluate(s * w, tr)
        return ev.loss, ev.gradient_k * s

    lo, hi = t.network.width_bounds_m
    best = min(minimize(f, np.full(28, w0), jac=True, method="L-BFGS-B", bounds=[(lo, hi)] * 28,
                        options=dict(maxiter=5000, ftol=1e-15, gtol=1e-20)).fun for w0 in (1.6e-3, 2e-3, 2.4e-3))
    final = prob.evaluate(r.k_N_per_m, tr, gradient=False).loss
    assert best <= final <= 1.01 * best
    assert r.history[-1]["loss"] < 1e-7  # the floor the bounds allow (the paper's figure shows 4e-10)


def test_iris_twenty_splits():
    """Iris at the paper's hyper-parameters with the authors' update: mean test accuracy over 20
    seeded 70/30 splits >= 0.70 (the authors' algorithm averages ~0.8 with some splits stalling)."""
    t = load_task("iris")
    prob = TaskProblem(t)
    accs = [train(t, TrainConfig(seed=s, update="authors"), problem=prob).history[-1]["test_accuracy"] for s in range(20)]
    assert np.mean(accs) >= 0.70


def test_resume_equals_uninterrupted(tmp_path):
    """Kill a run after epoch 7 (an exception in the 8th epoch), resume from its checkpoint: the
    history and widths equal those of an uninterrupted run bit for bit."""
    t = load_task("iris")
    full = train(t, TrainConfig(epochs=15, seed=4))
    prob = TaskProblem(t)
    calls = {"n": 0}
    orig = prob.evaluate

    def dying(*a, **k):
        calls["n"] += 1
        if calls["n"] > 7 * 8 + 3:  # 7 batches + 1 evaluation per epoch
            raise KeyboardInterrupt
        return orig(*a, **k)

    prob.evaluate = dying
    ck = tmp_path / "checkpoint.npz"
    with pytest.raises(KeyboardInterrupt):
        train(t, TrainConfig(epochs=15, seed=4), checkpoint=ck, problem=prob)
    assert ck.exists() and not list(tmp_path.glob("*.tmp*"))
    resumed = train(t, TrainConfig(epochs=15, seed=4), checkpoint=ck, resume=True)
    assert resumed.history == full.history
    assert np.array_equal(resumed.widths_m, full.widths_m)


def test_split_replay(tmp_path):
    """A recorded split with per-epoch shuffles reproduces the run that produced it."""
    t = load_task("iris")
    rng = np.random.default_rng(9)
    perm = rng.permutation(150)
    split = {"train": perm[:105].tolist(), "test": perm[105:].tolist(),
             "shuffles": [rng.permutation(105).tolist() for _ in range(5)]}
    a = train(t, TrainConfig(epochs=5), split=split)
    b = train(t, TrainConfig(epochs=5, seed=123), split=json.loads(json.dumps(split)))
    assert a.history == b.history
    c = train(t, TrainConfig(epochs=5), split={"train": split["train"], "test": split["test"]})
    assert c.history != a.history  # without shuffles the seeded ones are used


def test_task_switch_and_damage():
    """Retraining: Iris -> regression -> Iris from the trained widths converges again, and a damaged
    (one bond removed) Iris network retrains to a better accuracy than right after the damage."""
    iris, reg = load_task("iris"), load_task("regression")
    cfg = TrainConfig(seed=1, learning_rate=0.02)
    a = train(iris, cfg)
    b = train(reg, TrainConfig(epochs=300), init_widths_m=a.widths_m)
    tr = np.asarray(b.split["train"])
    start = TaskProblem(reg).evaluate(reg.network.stiffness_N_per_m(a.widths_m), tr, gradient=False).loss
    fresh = train(reg, TrainConfig(epochs=300)).history[-1]["loss"]
    assert b.history[-1]["loss"] < 0.2 * start and b.history[-1]["loss"] <= 1.02 * fresh
    c = train(iris, cfg, init_widths_m=b.widths_m)
    tr_i = np.asarray(c.split["train"])
    start_i = TaskProblem(iris).evaluate(iris.network.stiffness_N_per_m(b.widths_m), tr_i, gradient=False).loss
    assert c.history[-1]["loss"] < 0.9 * start_i and c.history[-1]["test_accuracy"] >= 0.7
    trained = iris.with_network(iris.network.with_widths(a.widths_m))
    bond = trained.network.bond_index(10, 12)
    dam = trained.with_network(trained.network.without_bonds([bond]))
    prob = TaskProblem(dam)
    te = np.asarray(a.split["test"])
    before = prob.metrics(prob.evaluate(dam.network.stiffness_N_per_m(), te, gradient=False), te)["accuracy"]
    r = train(dam, cfg, split=a.split, problem=prob)
    assert r.history[-1]["test_accuracy"] > before


def test_iris_sharp_reaches_095():
    """Past the paper: the same printable network (widths 1.5-2.5 mm) with the sharpened loss
    softmax(20 |u| / Σ|u|) (task iris-sharp, lr 0.02, 100 epochs) averages >= 0.95 test accuracy over
    20 seeded splits (measured 0.962)."""
    t = load_task("iris-sharp")
    prob = TaskProblem(t)
    accs = [train(t, TrainConfig(seed=s), problem=prob).history[-1]["test_accuracy"] for s in range(20)]
    assert np.mean(accs) >= 0.95
