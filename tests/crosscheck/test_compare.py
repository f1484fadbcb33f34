"""The comparison logic on synthetic 'FEM' results whose relation to the bar model is known."""

import numpy as np

from femnn.crosscheck.compare import ModelResult, bar_result, calibrated_bar, compare, global_calibration
from femnn.crosscheck.report import write_report
from femnn.network import load_task


def _soft(task, factor):
    """A stand-in reference: the bar model with every k scaled by ``factor`` (u -> u / factor)."""
    r = bar_result(task, task.network.stiffness_N_per_m() * factor, name="fem2d")
    return ModelResult("fem2d", r.u, r.elongation, r.adjoint_elongation, r.gradient_k, r.loss, {"dofs": 1234, "degree": 2})


def test_global_calibration_recovers_factor():
    """If the reference is the bar model with k -> 0.8 k, c = (u_b·u_b)/(u_b·u_ref) = 0.8 exactly and the
    calibrated bar model matches the reference to round-off."""
    task = load_task("fig1")
    ref = _soft(task, 0.8)
    assert np.isclose(global_calibration(bar_result(task).u, ref.u), 0.8, rtol=1e-12)
    cal = calibrated_bar(task, ref)
    assert np.allclose(cal.u, ref.u, rtol=1e-10)


def test_compare_pass_and_fail(tmp_path):
    """A reference 10 % softer passes the 25 % displacement check, the calibrated 5 % check, signs and
    Spearman; a reference with a flipped gradient sign on the largest bond fails the sign check; the
    report files are written."""
    task = load_task("fig1")
    ref = _soft(task, 0.9)
    models = {"bar": bar_result(task), "fem2d": ref}
    models["bar_calibrated"] = calibrated_bar(task, ref)
    res = compare(task, models, "fem2d")
    assert res["pass"], res["checks"]
    r = res["models"]["bar"]
    assert abs(r["u_outputs_rel_error"] - 0.1) < 1e-9  # u_ref = u_bar / 0.9, so u_bar - u_ref = -0.1 u_ref
    assert r["gradient_sign_agreement"] == 1.0 and r["gradient_spearman"] > 0.99
    bad_g = ref.gradient_k.copy()
    b = int(np.argmax(np.abs(bad_g)))
    bad_g[b] *= -1
    bad = ModelResult("fem2d", ref.u, ref.elongation, ref.adjoint_elongation, bad_g, ref.loss)
    res2 = compare(task, {"bar": models["bar"], "fem2d": bad}, "fem2d")
    assert not res2["pass"] and b in res2["models"]["bar"]["gradient_sign_disagreeing_bonds"]
    files = write_report(tmp_path, task, models, res)
    names = {f.name for f in files}
    assert {"results.json", "report.md", "report.html"} <= names
    assert (tmp_path / "gradients.png").stat().st_size > 0 and (tmp_path / "deformed.png").stat().st_size > 0
    assert "PASS" in (tmp_path / "report.md").read_text()
