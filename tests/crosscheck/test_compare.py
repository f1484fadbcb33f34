"""The comparison logic on synthetic 'FEM' results whose relation to the bar model is known."""

import dataclasses

import numpy as np

from femnn.crosscheck.compare import compare, global_calibration
from femnn.network import load_task
from femnn.train import bar_result
from femnn.validation import calibrate


def _soft(task, factor):
    """A stand-in reference: the bar model with every k scaled by ``factor`` (u -> u / factor)."""
    return bar_result(task, task.network.stiffness_N_per_m() * factor, name="fem2d")


def test_global_calibration_recovers_factor():
    """If the reference is the bar model with k -> 0.8 k, c = (u_b·u_b)/(u_b·u_ref) = 0.8 exactly and the
    calibrated bar model matches the reference to round-off."""
    task = load_task("fig1")
    ref = _soft(task, 0.8)
    assert np.isclose(global_calibration(bar_result(task).u_m, ref.u_m), 0.8, rtol=1e-12)
    fit, cal = calibrate(None, task, ref)
    assert fit is None and np.isclose(cal["bar_calibrated"].calibration_factor, 0.8, rtol=1e-12)
    assert np.allclose(cal["bar_calibrated"].u_m, ref.u_m, rtol=1e-10)


def test_results_are_frozen():
    """Stage results are frozen dataclasses with read-only arrays."""
    r = bar_result(load_task("fig1"))
    try:
        r.u_m[0, 0] = 1.0
        raise AssertionError("u_m is writable")
    except ValueError:
        pass
    try:
        r.loss = 0.0
        raise AssertionError("BarResult is not frozen")
    except dataclasses.FrozenInstanceError:
        pass


def test_compare_pass_and_fail():
    """A reference 10 % softer passes the 25 % displacement check, the calibrated 5 % check, signs and
    Spearman; a reference with a flipped gradient sign on the largest bond fails the sign check."""
    task = load_task("fig1")
    ref = _soft(task, 0.9)
    models = {"bar": bar_result(task), "fem2d": ref}
    models.update(calibrate(None, task, ref)[1])
    res = compare(task, models, "fem2d")
    assert res.passed, res.checks
    r = res.rows["bar"]
    assert abs(r["u_outputs_rel_error"] - 0.1) < 1e-9  # u_ref = u_bar / 0.9, so u_bar - u_ref = -0.1 u_ref
    assert r["gradient_sign_agreement"] == 1.0 and r["gradient_spearman"] > 0.99
    bad_g = ref.gradient_k.copy()
    b = int(np.argmax(np.abs(bad_g)))
    bad_g[b] *= -1
    bad = dataclasses.replace(ref, gradient_k=bad_g)
    res2 = compare(task, {"bar": models["bar"], "fem2d": bad}, "fem2d")
    assert not res2.passed and b in res2.rows["bar"]["gradient_sign_disagreeing_bonds"]
