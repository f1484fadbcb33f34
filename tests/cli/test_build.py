"""`femnn build` as a user runs it: files, summary keys, widths from a train run, one-line refusals."""

import json

import os

import meshio
import numpy as np
import pytest
import trimesh

os.environ.setdefault("VTK_DEFAULT_OPENGL_WINDOW", "vtkEGLRenderWindow")
import pyvista as pv  # noqa: E402

from femnn.cli import main

MM = 1e-3


def test_build_3d_writes_every_file(tmp_path):
    """`femnn build fig1 --out DIR` (3D by default): part.stl, part.3mf, mesh.msh with named physical
    groups, mesh.xdmf, summary.json, preview.png. summary: volume_mm3 = area_mm2 x 2 mm within 0.5 %,
    bbox_mm [[xmin, ymin, zmin], [xmax, ymax, zmax]] with z from 0 to 2, elements = the tetrahedra in
    the XDMF, triangles = the STL's."""
    out = tmp_path / "b3"
    assert main(["build", "fig1", "--out", str(out), "--elements-across-neck", "2", "--quiet"]) == 0
    for f in ("part.stl", "part.3mf", "mesh.msh", "mesh.xdmf", "mesh_facets.xdmf", "summary.json", "preview.png"):
        assert (out / f).stat().st_size > 0, f
    s = json.loads((out / "summary.json").read_text())
    assert s["volume_mm3"] == pytest.approx(s["area_mm2"] * 2.0, rel=5e-3)
    assert np.array(s["bbox_mm"]).shape == (2, 3)
    assert s["bbox_mm"][0][2] == 0.0 and s["bbox_mm"][1][2] == pytest.approx(2.0)
    assert s["min_feature_mm"] == pytest.approx(1.0) and s["hub_radius_mm"] == pytest.approx(1.5625)
    assert s["mass_g"] == pytest.approx(s["volume_mm3"] * 1.145e-3, rel=1e-9)
    stl = trimesh.load(out / "part.stl", file_type="stl")
    assert s["triangles"] == len(stl.faces) and stl.is_watertight
    with meshio.xdmf.TimeSeriesReader(out / "mesh.xdmf") as reader:   # XDMF + HDF5, written by meshio
        _, cells = reader.read_points_cells()
        _, _, cell_data = reader.read_data(0)
    assert cells[0].type == "tetra" and len(cells[0].data) == s["elements"] > 1000
    tags = np.asarray(cell_data["region"][0])
    assert set(tags.tolist()) == {1 + i for i in range(28)} | {1_000_001 + j for j in range(14)}
    kind, index = np.asarray(cell_data["region_kind"][0]), np.asarray(cell_data["region_index"][0])
    assert np.array_equal(np.where(kind == 0, 1 + index, 1_000_001 + index), tags)
    names = json.loads((out / "mesh_regions.json").read_text())["tags"]
    assert names["1000013"] == "hub_12" and names["1"] == "bond_0"
    grid = pv.read(out / "mesh.xdmf")[0]   # ParaView's reader (VTK) opens it too: one time step
    assert grid.n_cells == s["elements"] and "region" in grid.cell_data
    msh = (out / "mesh.msh").read_text()
    for name in ('"bond_0"', '"bond_27"', '"hub_13"', '"clamp"', '"load_port"', '"output_port"'):
        assert name in msh
    assert s["physical_groups"]["hub_12"] == [3, 1_000_013] and s["physical_groups"]["clamp"] == [2, 1]
    assert s["load_nodes"] == [12] and s["output_nodes"] == [13] and s["fixed_nodes"] == [0, 4]


def test_build_2d_has_area_and_no_print_files(tmp_path):
    """--dim 2: area_mm2, triangles = elements (the planar mesh), z = 0, no STL or 3MF."""
    out = tmp_path / "b2"
    assert main(["build", "paper", "--dim", "2", "--out", str(out), "--quiet", "--no-preview"]) == 0
    s = json.loads((out / "summary.json").read_text())
    assert s["dim"] == 2 and s["triangles"] == s["elements"] > 1000 and s["element_type"] == "triangle"
    assert s["area_mm2"] == pytest.approx(717.8958, rel=1e-6)
    assert s["bbox_mm"][1][2] == 0.0
    assert not (out / "part.stl").exists() and not (out / "part.3mf").exists()
    assert (out / "mesh.msh").exists()


def test_widths_from_a_train_run_and_a_plain_list(tmp_path):
    """--widths RUN_DIR reads RUN_DIR/widths.json (key widths_m); a JSON file holding a plain list
    works too. Bond 7 at 2.5 mm and bond 20 at 1.5 mm: the summary reports them and the thinnest
    feature is the 0.75 mm neck of bond 20."""
    w = np.full(28, 2.0 * MM)
    w[7], w[20] = 2.5 * MM, 1.5 * MM
    run = tmp_path / "run"
    run.mkdir()
    (run / "widths.json").write_text(json.dumps({"task": "fig1", "widths_m": w.tolist()}))
    plain = tmp_path / "w.json"
    plain.write_text(json.dumps(w.tolist()))
    for spec, target in ((run, "fig1"), (plain, "paper")):
        out = tmp_path / f"o_{target}"
        assert main(["build", target, "--widths", str(spec), "--dim", "2", "--out", str(out), "--quiet",
                     "--no-preview", "--elements-across-neck", "1"]) == 0
        s = json.loads((out / "summary.json").read_text())
        assert s["widths_mm"][7] == pytest.approx(2.5) and s["widths_mm"][20] == pytest.approx(1.5)
        assert s["min_feature_mm"] == pytest.approx(0.75) and "bond 20" in s["min_feature_where"]


@pytest.mark.parametrize("args,needle", [
    (["fig1", "--hub-radius-mm", "1.2", "--widths", "WIDE"], "node 0: bond 0 (2.5 mm) and bond 1 (2.5 mm)"),
    (["fig1", "--dim", "2", "--min-feature-mm", "1.2"], "bond 0: its neck is 1 mm wide"),
    (["no/such/network.toml"], "file does not exist"),
])
def test_bad_input_exits_2_with_one_line_and_writes_nothing(args, needle, tmp_path, femnn_cli):
    """Overlapping necks (a 1.2 mm hub under 2.5 mm bonds at 60 deg: they touch below 1.25 mm), a neck
    thinner than the printer minimum, and a missing network file: exit code 2, one line on stderr
    naming the place, and no output directory."""
    wide = tmp_path / "wide.json"
    wide.write_text(json.dumps([2.5e-3] * 28))
    out = tmp_path / "out"
    r = femnn_cli("build", *[str(wide) if a == "WIDE" else a for a in args], "--out", out)
    assert r.returncode == 2, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("femnn build: error:") and needle in lines[0], r.stderr
    assert not out.exists()
