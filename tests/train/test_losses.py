"""Analytic ∂l/∂u of every loss against central differences in u."""

import numpy as np
import pytest

from femnn.train.losses import ce_normalised, ce_ratio_softmax, ce_softmax, mse, predict


@pytest.mark.parametrize("fn", [
    lambda u, y: mse(u, y[0], 0.5),
    lambda u, y: ce_normalised(u, y[1]),
    lambda u, y: ce_softmax(u, y[1], 800.0),
    lambda u, y: ce_ratio_softmax(u, y[1], 20.0),
])
def test_loss_gradients(fn):
    """∂l_s/∂u_c by central differences (h = 1e-9 m) matches the analytic gradient to 1e-6."""
    rng = np.random.default_rng(0)
    u = rng.normal(size=(5, 3)) * 1e-3
    y = (rng.normal(size=(5, 3)) * 1e-3, rng.integers(0, 3, 5))
    _, g = fn(u, y)
    h = 1e-9
    for c in range(3):
        up, um = u.copy(), u.copy()
        up[:, c] += h
        um[:, c] -= h
        fd = (fn(up, y)[0] - fn(um, y)[0]) / (2 * h)
        assert np.allclose(g[:, c], fd, rtol=1e-6, atol=1e-6 * np.abs(g).max())


def test_normalised_ce_values():
    """p_c = |u_c| / Σ|u|: u = (-1, -3) mm with target 1 gives l = -log(3/4)."""
    loss, _ = ce_normalised(np.array([[-1e-3, -3e-3]]), np.array([1]))
    assert np.isclose(loss[0], -np.log(0.75))
    assert predict(np.array([[-1e-3, -3e-3]]))[0] == 1


def test_softmax_is_flat_at_millimetres():
    """The paper-text softmax of |u| (scale 1/m) is nearly uniform at mm displacements: |p - 1/2| < 1e-3."""
    loss, _ = ce_softmax(np.array([[-0.6e-3, -0.5e-3]]), np.array([0]), 1.0)
    assert abs(np.exp(-loss[0]) - 0.5) < 1e-3
