"""``femnn protocol``: the lab sheet of the paper's Fig. 1 experiment and of data tasks."""

import json

import numpy as np
import pytest

from femnn.bars import BarModel
from femnn.cli import main
from femnn.lab import Measurement, StateMeasurement, write_measurement
from femnn.lab.protocol import ProtocolOptions, build_protocol, weights_for
from femnn.network import load_task
from femnn.train import TaskProblem
from femnn.train.losses import predict

G = 9.8


def _measured_forward(path, task, u):
    bm = BarModel(task.network)
    sm = {"forward": StateMeasurement(u_m=u, elongation_m=bm.elongations(u), load_N=task.loads_N()[0])}
    write_measurement(path / "measurement.json", Measurement(task.network.nodes_m, task.network.bonds, sm, task=task.name))
    return path


def test_paper_adjoint_step_from_measured_forward(tmp_path):
    """Li & Mao, Fig. 1: a 10 g weight on node 12; measured u_y[13] = -0.82 mm; L = (u_y[13] + 0.025 m)²
    (fig1.toml: mse, weight 1), so F_adj = λ (-∂L/∂u) = -2 (-0.82e-3 + 0.025) = -0.04836 N on node 13
    (λ = 1 N/m, the paper's): 0.04836 / 9.8 kg = 4.93 g, hung as 5 g, downward. The sheet says so in all
    three files, the forward weight is exactly 10 g, and the expected adjoint state is the bar solve of 5 g."""
    task = load_task("fig1")
    u = BarModel(task.network).solve(task.loads_N()[0]).u.copy()
    u[13, 1] = -0.82e-3
    (tmp_path / "m").mkdir()
    meas = _measured_forward(tmp_path / "m", task, u)
    out = tmp_path / "p"
    assert main(["protocol", "fig1", "--forward-measured", str(meas), "--out", str(out)]) == 0
    rec = json.loads((out / "protocol.json").read_text())
    fw = rec["states"]["forward"]["weights"]
    assert fw == [{"node": 12, "component": "y", "direction": "down", "force_N": -0.098, "mass_g": pytest.approx(10.0),
                   "mass_rounded_g": 10.0, "applied_force_N": pytest.approx(-0.098)}]
    adj = rec["states"]["adjoint"]
    assert adj["source"] == "measured" and adj["application"] == "hang" and adj["flags"] == []
    (w,) = adj["weights"]
    assert (w["node"], w["component"], w["direction"]) == (13, "y", "down")
    assert w["force_N"] == pytest.approx(-2 * (-0.82e-3 + 0.025), rel=1e-12)
    assert w["mass_g"] == pytest.approx(2 * (0.025 - 0.82e-3) / G * 1e3, rel=1e-12)   # 4.935 g
    assert w["mass_rounded_g"] == 5.0
    assert adj["loss_value"] == pytest.approx((0.025 - 0.82e-3) ** 2)
    F5 = np.zeros((14, 2))
    F5[13, 1] = -5e-3 * G
    assert np.allclose(adj["expected"]["bar"]["u_m"], BarModel(task.network).solve(F5).u, rtol=1e-12, atol=1e-15)
    # the lab's gradient: measured forward elongations times the expected adjoint ones
    assert np.allclose(rec["gradient_expected_m2"], np.array(adj["expected"]["bar"]["elongation_m"]) *
                       BarModel(task.network).elongations(u))
    md = (out / "protocol.md").read_text()
    assert "| 13 | down | -0.04836 | 4.935 | **5** |" in md and "| 12 | down | -0.098 | 10.000 | **10** |" in md
    for name in ("forward", "adjoint"):   # the picture of where to hang what, embedded in the sheet
        assert (out / f"{name}.png").stat().st_size > 10_000 and f"]({name}.png)" in md
    html = (out / "protocol.html").read_text()
    assert html.startswith("<!DOCTYPE html>") and "<table>" in html and "<td><strong>5</strong></td>" in html
    assert "femnn measure fig1 --reference reference_1.jpg --state forward=forward_1.jpg" in rec["measure_command"]
    assert [p["state"] for p in rec["photos"]].count("adjoint") == 3


def test_adjoint_weight_uncertainty_from_measured_noise(tmp_path):
    """With repeated photos (u_std_m), the adjoint force's standard uncertainty is propagated linearly:
    F_adj = -2 λ (u + 0.025) -> σ_F = 2 λ σ_u (mse weight 1); σ_u = 10 µm gives 2e-5 N, 0.002 g."""
    task = load_task("fig1")
    u = BarModel(task.network).solve(task.loads_N()[0]).u
    sm = {"forward": StateMeasurement(u_m=u, elongation_m=BarModel(task.network).elongations(u),
                                      u_std_m=np.full_like(u, 1e-5), n_photos=3)}
    m = Measurement(task.network.nodes_m, task.network.bonds, sm, task="fig1")
    rec = build_protocol(None, task, forward_measured=m)
    (o,) = rec["states"]["adjoint"]["outputs"]
    assert o["adjoint_force_std_N"] == pytest.approx(2e-5, rel=1e-6)
    assert o["mass_std_g"] == pytest.approx(2e-5 / G * 1e3, rel=1e-6)


def test_predicted_gradient_is_the_bar_adjoint():
    """Without a measurement the adjoint comes from the bar model's forward state. With a very fine weight set
    (1e-9 g: no rounding) and λ = 1 N/m the sheet's expected e_adj ∘ e is ∂L/∂k of TaskProblem (the exact
    adjoint) to 1e-6; with 2 g steps the adjoint rounds 4.94 g -> 4 g and, e_adj being linear in the one
    adjoint force, the gradient changes by exactly (4.94 - 4) / 4.94."""
    task = load_task("fig1")
    fine = build_protocol(None, task, ProtocolOptions(weight_step_g=1e-9))
    grad = TaskProblem(task).evaluate(task.network.stiffness_N_per_m()).gradient_k
    assert np.allclose(fine["gradient_expected_m2"], grad, rtol=1e-6, atol=1e-6 * np.abs(grad).max())
    coarse = build_protocol(None, task, ProtocolOptions(weight_step_g=2.0))
    (w,) = coarse["states"]["adjoint"]["weights"]
    assert w["mass_rounded_g"] == 4.0
    assert coarse["rounding"]["adjoint_gradient_rel_change"] == pytest.approx((w["mass_g"] - 4.0) / w["mass_g"], rel=1e-9)
    assert coarse["rounding"]["forward_outputs_rel_change"] == 0.0       # 10 g is on the 2 g grid


def test_camera_resolution_formula():
    """px/mm = σ_px / (√n σ_max), σ_max = min(target, a |g| / (2 sqrt(Σ e_adj² + e²))), recomputed from the
    sheet's own expected elongations; the sensor needs field of view x px/mm pixels."""
    task = load_task("fig1")
    opts = ProtocolOptions(tracker_accuracy_px=0.1, repeats=4, target_accuracy_um=100.0)
    rec = build_protocol(None, task, opts)
    e = np.asarray(rec["states"]["forward"]["expected"]["bar"]["elongation_m"])
    ea = np.asarray(rec["states"]["adjoint"]["expected"]["bar"]["elongation_m"])
    s = 0.1 * np.linalg.norm(e * ea) / (2 * np.sqrt(np.sum(e ** 2 + ea ** 2)))
    cam = rec["camera"]
    assert cam["hub_accuracy_needed_um"] == pytest.approx(s * 1e6)          # the gradient is stricter than 100 µm
    assert cam["required_px_per_mm"] == pytest.approx(0.1 / (2 * s * 1e3))
    assert cam["sensor_px_needed"][0] == int(np.ceil(cam["field_of_view_mm"][0] * cam["required_px_per_mm"]))
    strict = build_protocol(None, task, ProtocolOptions(target_accuracy_um=1.0))["camera"]
    assert strict["hub_accuracy_needed_um"] == pytest.approx(1.0)


def test_upward_and_horizontal_forces_are_flagged(tmp_path):
    """A weight pulls down only. fig1 with the target ABOVE the node (+0.025 m): -∂L/∂u = -2 (u - 0.025) > 0,
    an upward adjoint force: flagged, applied as the mirrored weight with the measured state negated. Mixed
    signs need two photos (superposition), a horizontal force a pulley."""
    src = (load_task("fig1").source)
    text = open(src).read().replace("targets = [-0.025]", "targets = [0.025]")
    tf = tmp_path / "up.toml"
    tf.write_text(text.replace('network = "paper"', f'network = "{load_task("fig1").network.source}"'))
    rec = build_protocol(None, load_task(tf))
    adj = rec["states"]["adjoint"]
    assert adj["weights"][0]["direction"] == "up" and adj["application"] == "negate"
    assert any("-1" in f for f in adj["flags"])
    assert [p["file"] for p in rec["photos"] if p["state"].startswith("adjoint")][0] == "adjoint_neg_1.jpg"
    # the photos of the mirrored state carry the mirrored (downward) load: what calibrate fits them with
    assert np.allclose(rec["photo_loads_N"]["adjoint_neg"], -np.asarray(adj["load_N"])) and "adjoint" not in rec["photo_loads_N"]
    assert rec["photo_loads_N"]["adjoint_neg"][13][1] < 0
    F = np.zeros((14, 2))
    F[12, 1], F[13, 1] = -0.05, 0.03
    assert weights_for(F, 1.0)[2] == "superpose"
    F[9, 0] = 0.01
    rows, applied, how = weights_for(F, 1.0)
    assert how == "pulley" and {r["direction"] for r in rows} == {"down", "up", "right"}
    assert applied[9, 0] == pytest.approx(1e-3 * G)   # 1.02 g -> 1 g


def test_iris_weights_per_sample():
    """Iris (paper Fig. 4): feature f of sample s is a downward force 0.049 N x X/max on nodes 13, 11, 12, 9,
    hung as integer grams round(5 X/max). The expected outputs come from the transfer matrix (4 solves, one
    per loaded DOF) and equal a direct bar solve of the rounded weights; with exact forces the predictions
    are TaskProblem's."""
    task = load_task("iris")
    rec = build_protocol(None, task)
    assert rec["transfer_solves"] == 4 and rec["summary"]["n_samples"] == 150
    bm = BarModel(task.network)
    for s in (0, 77, 149):
        r = rec["samples"][s]
        assert r["application"] == "hang"
        F = task.loads_N(task.X[s])[0]
        for w in r["weights"]:
            assert w["mass_rounded_g"] == np.floor(-F[w["node"], 1] / G * 1e3 + 0.5)
        Fr = np.zeros_like(F)
        for w in r["weights"]:
            Fr[w["node"], 1] = -w["mass_rounded_g"] * 1e-3 * G
        u = bm.solve(Fr).u.reshape(-1)[task.output_dofs]
        assert np.allclose(r["expected_u_out_m"], u, rtol=1e-10, atol=1e-16)
        assert r["class"] == task.class_names[task.Y[s]]
    ev = TaskProblem(task).evaluate(task.network.stiffness_N_per_m(), gradient=False)
    assert rec["summary"]["accuracy_exact"] == pytest.approx(np.mean(predict(ev.u_out) == task.Y))


def test_regression_upward_samples_negated():
    """Regression: F on node 10 uniform in ±0.196 N (±20 g): a positive (upward) F is hung downward and the
    measured outputs negated (linear in F); expected outputs = the bar model's, one solve for the one input."""
    task = load_task("regression")
    rec = build_protocol(None, task, ProtocolOptions(samples=(0, 1, 2, 3, 4, 5)))
    Fy = task.loads_N(task.X[:6])[:, 10, 1]
    assert [r["application"] for r in rec["samples"]] == ["negate" if f > 0 else "hang" for f in Fy]
    assert rec["transfer_solves"] == 1


def test_fem2d_expected(tmp_path):
    """--fem 2: the printed part's 2D FEM (plane stress) under the same rounded weights. The bar model is
    stiffer than the part (necks and hubs add compliance; docs/validation.md: 17 %), so the FEM's output
    displacement is 5-35 % larger, same sign."""
    out = tmp_path / "p"
    assert main(["protocol", "fig1", "--fem", "2", "--fem-quick", "--out", str(out)]) == 0
    rec = json.loads((out / "protocol.json").read_text())
    for st in ("forward", "adjoint"):
        ex = rec["states"][st]["expected"]
        ratio = ex["fem2d"]["u_out_m"][0] / ex["bar"]["u_out_m"][0]
        assert 1.05 < ratio < 1.35, ratio
    assert len(rec["gradient_expected_fem_m2"]) == 28


def test_refusals(tmp_path, capsys):
    """Exit 2 with one line: a measurement of another network, one without a 'forward' state, a data task
    with --forward-measured, a bad --adjoint-scale, a missing directory; nothing written."""
    task = load_task("fig1")
    u = np.zeros((14, 2))
    other = tmp_path / "other"
    other.mkdir()
    nodes = task.network.nodes_m.copy()
    nodes[5] += 2e-3
    sm = {"forward": StateMeasurement(u_m=u, elongation_m=np.zeros(28))}
    write_measurement(other / "measurement.json", Measurement(nodes, task.network.bonds, sm))
    nofwd = tmp_path / "nofwd"
    nofwd.mkdir()
    sm = {"adjoint": StateMeasurement(u_m=u, elongation_m=np.zeros(28))}
    write_measurement(nofwd / "measurement.json", Measurement(task.network.nodes_m, task.network.bonds, sm))
    cases = [(["fig1", "--forward-measured", str(other)], "nodes"),
             (["fig1", "--forward-measured", str(nofwd)], "forward"),
             (["iris", "--forward-measured", str(nofwd)], "single-load"),
             (["fig1", "--adjoint-scale", "big"], "--adjoint-scale"),
             (["fig1", "--forward-measured", str(tmp_path / "missing")], "no such file"),
             (["iris", "--sample", "150"], "--sample"), (["fig1", "--weight-step-g", "0"], "--weight-step-g")]
    for args, word in cases:
        out = tmp_path / "out"
        assert main(["protocol", *args, "--out", str(out)]) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and word in err, err
        assert not out.exists()
