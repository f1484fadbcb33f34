"""Physics-aware training: forward in the 'physical' system, backward through the bar model."""

import numpy as np
import pytest

from femnn.bars import BarModel
from femnn.network import load_task
from femnn.train import TaskProblem, TrainConfig, train
from femnn.train.pat import train_pat


def _physical(task, factors):
    """A stand-in for the printed part: the bar model whose bonds are stiffer/softer than the digital
    model by hidden per-bond factors (k_phys = f k(w))."""
    bm = BarModel(task.network)
    B = TaskProblem(task, bm).B
    out = TaskProblem(task, bm).out_idx

    def f(widths_m, X):
        U = bm.factorize(factors * task.network.stiffness_N_per_m(widths_m)).solve_free(B @ X.T)
        U = U[:, None] if U.ndim == 1 else U
        return U[out].T

    return f


def test_pat_beats_in_silico_on_mismatched_hardware():
    """Regression on a 'physical' network with hidden stiffness errors of ±30 %, with targets the
    physical network can reach (its outputs at random widths w*): training the digital twin alone
    leaves a physical output error; physics-aware training (same Adam, same epochs) drives the
    physical error at least 5x lower."""
    import dataclasses

    task = load_task("regression")
    rng = np.random.default_rng(7)
    factors = rng.uniform(0.7, 1.3, task.network.n_bonds)
    phys = _physical(task, factors)
    w_star = rng.uniform(1.6e-3, 2.4e-3, task.network.n_bonds)
    task = dataclasses.replace(task, Y=phys(w_star, task.X))
    phys = _physical(task, factors)
    cfg = TrainConfig(epochs=400, learning_rate=0.02)
    digital = train(task, cfg)
    tr = np.asarray(digital.split["train"])
    err_digital = np.linalg.norm(phys(digital.widths_m, task.X[tr]) - task.Y[tr]) / np.linalg.norm(task.Y[tr])
    pat = train_pat(task, phys, cfg)
    err_pat = pat.history[-1]["train_error"]
    assert err_pat < err_digital / 5, (err_pat, err_digital)


def test_pat_equals_training_when_model_is_exact():
    """With the physical system equal to the bar model, PAT takes exactly the same steps as training."""
    task = load_task("iris")
    phys = _physical(task, np.ones(task.network.n_bonds))
    a = train(task, TrainConfig(epochs=3, seed=2))
    b = train_pat(task, phys, TrainConfig(epochs=3, seed=2))
    assert np.allclose(a.widths_m, b.widths_m, rtol=1e-12)


# ---- the estimator, the parametrisations, resume ------------------------------------------------

from femnn.train.pat import BarPhysical, BoxParam, SigmoidParam, StiffnessLaw, pat_gradient  # noqa: E402
from femnn.train.optim import Adam  # noqa: E402


def _law(task, seed=3):
    """A non-trivial law k = a + b w (offsets and slopes ±30 % off the bar law)."""
    rng = np.random.default_rng(seed)
    b = task.network.stiffness_per_width() * rng.uniform(0.7, 1.3, task.network.n_bonds)
    a = -0.2 * b * 2e-3 * rng.uniform(0, 1, task.network.n_bonds)
    return StiffnessLaw(a, b, "test")


def test_pat_estimator_equals_exact_gradient_when_physical_is_the_bar_model():
    """With the physical system equal to the digital model (same law k(w) = a + b w), the PAT estimator
    ĝ_w = (Σ_s e_adj,s ∘ e_s) b is the exact ∂L/∂w: equal to the bar model's own adjoint gradient to
    1e-10, and to central finite differences of the physical loss to 1e-6."""
    task = load_task("iris")
    law = _law(task)
    phys = BarPhysical(task, law)
    prob = TaskProblem(task)
    w = np.random.default_rng(5).uniform(1.6e-3, 2.4e-3, task.network.n_bonds)
    idx = np.arange(0, 150, 7)
    losses, g_w, G = pat_gradient(prob, law, w, idx, phys(w, task.X[idx]))
    exact = prob.evaluate(law.k(w), idx).gradient_k * law.slope_N_per_m2
    assert np.abs(g_w - exact).max() <= 1e-10 * np.abs(exact).max()
    assert np.abs(phys.exact_gradient_w(w, task.X[idx], G) - exact).max() <= 1e-10 * np.abs(exact).max()
    from femnn.train.losses import loss_and_grad

    def L(wv):
        return loss_and_grad(task, phys(wv, task.X[idx]), task.Y[idx])[0].mean()

    h = 1e-7
    for i in (0, 9, 27):
        e = np.zeros_like(w)
        e[i] = h
        fd = (L(w + e) - L(w - e)) / (2 * h)
        assert abs(fd - g_w[i]) <= 1e-6 * np.abs(g_w).max(), (i, fd, g_w[i])


def test_pat_estimator_on_mismatched_hardware_is_not_exact():
    """Hidden ±30 % per-bond errors: the estimator (bar Jacobian, physical ∂L/∂u) differs from the
    hardware's exact gradient (cosine < 1) but still points downhill (cosine > 0.5)."""
    task = load_task("regression")
    phys = BarPhysical(task, _law(task, 11))
    prob = TaskProblem(task)
    w = np.full(task.network.n_bonds, 2e-3)
    idx = np.arange(40)
    _, g_w, G = pat_gradient(prob, StiffnessLaw.bar(task.network), w, idx, phys(w, task.X[idx]))
    ex = phys.exact_gradient_w(w, task.X[idx], G)
    cos = g_w @ ex / np.linalg.norm(g_w) / np.linalg.norm(ex)
    assert 0.5 < cos < 0.9999


def test_box_parametrisation_moves_widths_at_a_bound():
    """A width at its bound with the gradient pointing inward: the sigmoid map (β = 10, θ from the
    clipped inverse) moves it by ~β σ(1-σ) ≈ 1e-10 of the range per Adam step (Adam normalises the
    step in θ, not in w); the box map moves it by lr of the range in the first step (Adam's first
    step is lr · sign(g))."""
    task = load_task("behaviour-mse")
    net = task.network
    lo, hi = net.width_bounds_m
    w = np.where(np.arange(net.n_bonds) % 2 == 0, lo, hi)
    g_w = np.where(w == lo, -1.0, 1.0)   # descent direction points inward everywhere
    lr = 0.05
    for pm, moved in ((SigmoidParam(net, 10.0), lambda d: d < 1e-6), (BoxParam(net), lambda d: np.allclose(d, lr, rtol=1e-4))):
        v = pm.to_var(w)
        v = pm.step(Adam(net.n_bonds, lr), v, g_w)
        d = np.abs(pm.widths(v) - w) / (hi - lo)
        assert np.all(moved(d)), (pm.name, d.min(), d.max())
    # and the box map never leaves the bounds, however large the step
    pm = BoxParam(net)
    v = pm.step(Adam(net.n_bonds, 10.0), pm.to_var(w), -g_w)
    assert np.all((pm.widths(v) >= lo) & (pm.widths(v) <= hi))


def test_pat_resume_equals_uninterrupted(tmp_path):
    """Interrupt a PAT run (box map, mismatched hardware) in its 4th epoch and resume it from the
    checkpoint: same history (up to wall times) and bit-identical widths."""
    task = load_task("iris")
    cfg = TrainConfig(epochs=6, seed=1, learning_rate=0.02)
    phys = BarPhysical(task, _law(task, 2))
    full = train_pat(task, phys, cfg, param="box")
    calls = {"n": 0}

    def dying(w, X):
        calls["n"] += 1
        if calls["n"] > 3 * 10 + 2:   # 8 batches + 2 evaluations per epoch
            raise KeyboardInterrupt
        return phys(w, X)

    dying.exact_gradient_w = phys.exact_gradient_w
    ck = tmp_path / "checkpoint.npz"
    with pytest.raises(KeyboardInterrupt):
        train_pat(task, dying, cfg, param="box", checkpoint=ck)
    resumed = train_pat(task, phys, cfg, param="box", checkpoint=ck, resume=True)
    strip = lambda h: [{k: v for k, v in r.items() if k != "seconds"} for r in h]  # noqa: E731
    assert len(resumed.history) == 6
    assert strip(resumed.history) == strip(full.history)
    assert np.array_equal(resumed.widths_m, full.widths_m)
    assert full.history[-1]["loss"] < full.history[0]["loss"]


@pytest.mark.parametrize("damage", ["truncated", "nan-widths", "other-run"])
def test_pat_resume_refuses_a_bad_checkpoint(tmp_path, damage):
    """--resume of a PAT run reads its checkpoint through the validated loader: a truncated file, NaN
    in the training variable, or another run's checkpoint is an InputError naming the file and the
    field (the CLI's one line, exit 2), never a traceback or a silently continued run."""
    from femnn.errors import InputError
    from femnn.train.pat import BarPhysical

    task = load_task("iris")
    cfg = TrainConfig(epochs=2, seed=1, learning_rate=0.02)
    phys = BarPhysical(task)
    ck = tmp_path / "checkpoint.npz"
    train_pat(task, phys, cfg, param="box", checkpoint=ck)
    if damage == "truncated":
        ck.write_bytes(ck.read_bytes()[:200])
    elif damage == "nan-widths":
        data = dict(np.load(ck))
        data["var"] = np.full_like(data["var"], np.nan)
        np.savez(ck, **data)
    else:
        cfg = TrainConfig(epochs=2, seed=2, learning_rate=0.02)
    with pytest.raises(InputError) as exc:
        train_pat(task, phys, cfg, param="box", checkpoint=ck, resume=True)
    assert str(ck) in str(exc.value)
    assert {"truncated": "truncated", "nan-widths": "var", "other-run": "fingerprint"}[damage] in str(exc.value)
