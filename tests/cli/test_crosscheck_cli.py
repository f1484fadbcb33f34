"""`femnn crosscheck` against a COMSOL-format file (no FEM needed): report, JSON keys, exit codes."""

import json

import numpy as np

from femnn.cli import main
from femnn.crosscheck.comsol import write_comsol_text
from femnn.train import bar_result
from femnn.network import load_task


def _field(tmp_path, factor):
    """A 'COMSOL' field: the bar model's hub displacements / factor, sampled on a ring of points
    around every hub centre (mm units in the file)."""
    task = load_task("fig1")
    u = bar_result(task).u_m / factor
    rng = np.random.default_rng(0)
    pts, us = [], []
    for i, x in enumerate(task.network.nodes_m):
        r, a = rng.uniform(0, 1e-3, 20), rng.uniform(0, 2 * np.pi, 20)
        pts.append(np.column_stack([x[0] + r * np.cos(a), x[1] + r * np.sin(a)]))
        us.append(np.tile(u[i], (20, 1)))
    return write_comsol_text(tmp_path / f"comsol_{factor}.txt", np.vstack(pts), np.vstack(us))


def test_crosscheck_against_comsol_file(tmp_path):
    """A reference 10 % stiffer than the bar model passes (exit 0): output error 1/1.1 - 1 ≈ 10 % < 25 %,
    calibration factor 1.1; one 40 % off fails the 25 % check (exit 1). results.json carries nodes,
    bonds and models with u, elongation, gradient_k and loss."""
    out = tmp_path / "ok"
    assert main(["crosscheck", "fig1", "--no-fem", "--compare", str(_field(tmp_path, 1.1)), "--out", str(out)]) == 0
    res = json.loads((out / "results.json").read_text())
    assert {"nodes", "bonds", "models"} <= set(res)
    m = res["models"]
    assert {"bar", "bar_calibrated", "comsol_1.1"} <= set(m)
    assert {"u", "elongation", "gradient_k", "loss"} <= set(m["bar"])
    assert np.isclose(m["bar_calibrated"]["calibration_factor"], 1.1, rtol=1e-9)
    assert (out / "report.md").is_file() and (out / "report.html").is_file()
    bad = tmp_path / "bad"
    assert main(["crosscheck", "fig1", "--no-fem", "--compare", str(_field(tmp_path, 1.4)), "--out", str(bad)]) == 1
    assert "FAIL" in (bad / "report.md").read_text()


def test_crosscheck_bad_input(tmp_path):
    """A missing compare file and a data-set task are refused with exit code 2."""
    assert main(["crosscheck", "fig1", "--no-fem", "--compare", str(tmp_path / "nope.txt"), "--out", str(tmp_path / "o")]) == 2
    assert main(["crosscheck", "iris", "--no-fem", "--compare", str(_field(tmp_path, 1.0)), "--out", str(tmp_path / "o")]) == 2
