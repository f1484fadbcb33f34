"""COMSOL text exports: our writer and a hand-written COMSOL-style file read back in SI; bad files refused."""

import numpy as np
import pytest

from femnn.crosscheck.comsol import read_comsol_text, write_comsol_text
from femnn.crosscheck.imported import imported_result, read_points_displacement
from femnn.train import bar_result
from femnn.errors import InputError
from femnn.network import load_task

COMSOL_SAMPLE = """\
% Model:              mnn_fig1.mph
% Version:            COMSOL 6.2.0.290
% Date:               Nov 23 2026, 10:15
% Dimension:          3
% Nodes:              3
% Expressions:        4
% Description:        Displacement field, X component, Displacement field, Y component, Displacement field, Z component, von Mises stress
% Length unit:        mm
% x                       y                        z                        u (mm) @ F=0.098         v (mm) @ F=0.098         w (mm) @ F=0.098         solid.mises (N/m^2*1e-3) @ F=0.098
-24                       -41.569219381653056      1                        0.001                    -0.5                     0                        12.5
-40                       -41.569219381653056      1                        -0.002                   -0.8                     0                        10
0                         0                        0                        0                        0                        0                        0
"""


def test_read_comsol_style_file(tmp_path):
    """Coordinates in the declared length unit (mm) and u/v/w in their column unit (mm) become metres;
    a unit with '*' and '^' and a solution tag '@ F=...' do not confuse the parser."""
    p = tmp_path / "comsol.txt"
    p.write_text(COMSOL_SAMPLE)
    d = read_comsol_text(p)
    assert d.points_m.shape == (3, 3)
    assert np.allclose(d.points_m[0], [-0.024, -0.041569219381653056, 0.001])
    u = d.displacement_m()
    assert np.allclose(u[1], [-2e-6, -8e-4, 0.0])
    assert d.header["length unit"] == "mm" and d.header["nodes"] == "3"


def test_roundtrip_own_writer(tmp_path):
    """write_comsol_text then read_comsol_text returns the same points and displacements (1e-15 rel)."""
    rng = np.random.default_rng(0)
    pts = rng.uniform(-0.06, 0, (50, 2))
    u = rng.normal(size=(50, 2)) * 1e-4
    p = write_comsol_text(tmp_path / "f.txt", pts, u, model="t", length_unit="mm")
    d = read_comsol_text(p)
    assert np.allclose(d.points_m, pts, rtol=1e-15, atol=1e-18)
    assert np.allclose(d.displacement_m(), u, rtol=1e-15, atol=1e-20)


@pytest.mark.parametrize("edit,field,words", [
    (lambda s: s.replace("% Nodes:              3", "% Nodes:              4"), "% Nodes", "declares 4 nodes"),
    (lambda s: s.replace("12.5\n", "\n"), "line 10", "6 values for 7 columns"),
    (lambda s: s.replace("% Length unit:        mm", "% Length unit:        furlong"), "% Length unit", "furlong"),
    (lambda s: s.replace("% Length unit:        mm\n", ""), "% Length unit", "missing"),
    (lambda s: s.replace("12.5", "NaN"), "row 1", "not finite"),
])
def test_bad_comsol_files(tmp_path, edit, field, words):
    """Mismatched row or column counts, unknown units and NaN are refused with file and field named."""
    p = tmp_path / "bad.txt"
    p.write_text(edit(COMSOL_SAMPLE))
    with pytest.raises(InputError) as err:
        read_comsol_text(p)
    assert field in str(err.value) and words in str(err.value) and str(p) in str(err.value)


def test_sweep_refused_unless_tagged(tmp_path):
    """Two solutions of u (a parameter sweep) are refused as ambiguous."""
    s = COMSOL_SAMPLE.replace("% Expressions:        4", "% Expressions:        5").replace(
        "solid.mises (N/m^2*1e-3) @ F=0.098", "u (mm) @ F=0.196")
    p = tmp_path / "sweep.txt"
    p.write_text(s)
    with pytest.raises(InputError, match="parameter sweep"):
        read_comsol_text(p).displacement_m()


def test_imported_hub_reduction(tmp_path):
    """A field that is the bar solution's hub displacement near each hub (and noise elsewhere)
    reduces back to the bar model's u exactly (mean over points within the hub radius)."""
    task = load_task("fig1")
    bar = bar_result(task)
    rng = np.random.default_rng(1)
    pts, us = [], []
    for i, x in enumerate(task.network.nodes_m):
        r = rng.uniform(0, 1.0e-3, 30)
        a = rng.uniform(0, 2 * np.pi, 30)
        pts.append(np.column_stack([x[0] + r * np.cos(a), x[1] + r * np.sin(a), rng.uniform(0, 2e-3, 30)]))
        us.append(np.tile(np.r_[bar.u_m[i], 0.0], (30, 1)))
    pts, us = np.vstack(pts), np.vstack(us)
    p = write_comsol_text(tmp_path / "field.txt", pts, us)
    P, U = read_points_displacement(p)
    res = imported_result(task, P, U, 1.25e-3, "comsol")
    assert np.allclose(res.u_m, bar.u_m, rtol=1e-12, atol=1e-18)
    assert np.allclose(res.elongation_m, bar.elongation_m, rtol=1e-9, atol=1e-15)
