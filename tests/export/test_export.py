"""Print files read back by independent readers (trimesh, lib3mf), and the pre-write checks."""

import struct

import numpy as np
import pytest
import trimesh

import femnn.export as ex
import femnn.part as fp
from femnn.errors import InputError
from femnn.network import load_task

MM = 1e-3


@pytest.fixture(scope="module")
def part3d():
    return fp.build(load_task("fig1"), dim=3, elements_across_neck=2, surface_only=True)


def test_stl_and_3mf_read_back_watertight_in_mm(part3d, tmp_path):
    """STL (trimesh) and 3MF (lib3mf and trimesh) hold one closed, consistently wound solid whose
    volume is A t (exact planar area times 2 mm) within 0.5 % and whose box is the exact box in mm
    (x from -65.56 to 1.56, z from 0 to 2): the numbers are millimetres, not metres."""
    stl, tmf = tmp_path / "part.stl", tmp_path / "part.3mf"
    rep = ex.export(part3d, [stl, tmf])
    expected = part3d.area_m2 * part3d.thickness_m * 1e9
    bbox = part3d.bbox_m * 1e3
    assert bbox[1, 2] == pytest.approx(2.0) and bbox[0, 0] == pytest.approx(-64 - part3d.hub_radius_m * 1e3)
    tol = 0.02  # mm: chords of the hub arcs
    m = trimesh.load(stl, file_type="stl")
    assert m.is_watertight and m.is_winding_consistent and m.body_count == 1
    assert m.volume == pytest.approx(expected, rel=5e-3)
    assert np.allclose(m.bounds, bbox, atol=tol)
    assert len(m.faces) == rep.triangles
    doc = ex.read_3mf(tmf)
    assert doc["unit"] == "MilliMeter"
    (obj,) = doc["objects"]
    assert obj["name"] == "paper" and obj["material"] == "Agilus30"
    mesh3 = trimesh.Trimesh(obj["points"], obj["triangles"], process=False)
    assert mesh3.is_watertight and mesh3.volume == pytest.approx(expected, rel=5e-3)
    scene = trimesh.load(tmf, file_type="3mf")
    geom = list(scene.geometry.values()) if hasattr(scene, "geometry") else [scene]
    assert len(geom) == 1 and geom[0].is_watertight
    assert np.allclose(geom[0].bounds, bbox, atol=tol)
    assert rep.volume_mm3 == pytest.approx(m.volume, rel=1e-6)


def test_binary_stl_layout(part3d, tmp_path):
    """Binary STL: 80-byte header, uint32 triangle count n, then 50 bytes per triangle; the header
    says the unit is mm; every stored normal is the unit normal of its triangle (to float32 rounding of
    the vertices: 1e-3 on triangles of 0.1 mm at 60 mm from the origin)."""
    p = tmp_path / "p.stl"
    ex.export(part3d, [p])
    raw = p.read_bytes()
    (n,) = struct.unpack("<I", raw[80:84])
    assert len(raw) == 84 + 50 * n and b"units mm" in raw[:80] and b"Agilus30" in raw[:80]
    rec = np.frombuffer(raw[84:], dtype=np.dtype([("n", "<f4", 3), ("v", "<f4", (3, 3)), ("a", "<u2")]))
    v = rec["v"].astype(float)
    nrm = np.cross(v[:, 1] - v[:, 0], v[:, 2] - v[:, 0])
    nrm /= np.linalg.norm(nrm, axis=1, keepdims=True)
    assert np.allclose(rec["n"], nrm, atol=1e-3)
    assert np.allclose(np.linalg.norm(rec["n"], axis=1), 1, atol=1e-6)


def test_thin_bond_is_refused_and_nothing_is_written(part3d, tmp_path):
    """With a 1.2 mm printer minimum, the 1 mm necks (half of 2 mm bonds) are too thin: the error
    names a bond and the neck width, and neither file (nor a temporary one) exists afterwards."""
    with pytest.raises(InputError) as exc:
        ex.export(part3d, [tmp_path / "a.stl", tmp_path / "a.3mf"], min_feature_m=1.2 * MM)
    assert "bond 0" in str(exc.value) and "1 mm wide" in str(exc.value) and "1.2 mm" in str(exc.value)
    assert list(tmp_path.iterdir()) == []


def test_widths_outside_bounds_are_refused(tmp_path):
    """A bond wider than the upper bound (2.5 mm) is named with its width."""
    w = np.full(28, 2.0 * MM)
    w[5] = 2.6 * MM
    part = fp.build(load_task("fig1"), dim=3, widths_m=w, mesh=False)
    with pytest.raises(InputError, match=r"bond 5 is 2.6 mm wide, outside the declared bounds \[1.5, 2.5\] mm"):
        ex.check_printable(part)


def test_surface_check_finds_holes_and_flipped_triangles():
    """A closed tetrahedron passes with volume 1/6; dropping a face opens it; flipping a face makes
    an edge run twice in one direction; turning all faces inwards gives a negative volume."""
    P = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]], dtype=float)
    F = np.array([[0, 2, 1], [0, 1, 3], [0, 3, 2], [1, 2, 3]])
    rep = ex.check_surface(P, F)
    assert rep.volume == pytest.approx(1 / 6) and rep.n_bodies == 1
    with pytest.raises(ex.ExportCheckError, match="open"):
        ex.check_surface(P, F[:3])
    with pytest.raises(ex.ExportCheckError, match="traversed 2 times"):
        ex.check_surface(P, np.vstack([F[:3], F[3, ::-1]]))
    with pytest.raises(ex.ExportCheckError, match="negative volume"):
        ex.check_surface(P, F[:, ::-1])


def test_writer_registry_by_suffix(tmp_path):
    """Formats come from the suffix registry; an unknown suffix is bad input."""
    assert set(ex.WRITERS) == {".stl", ".3mf"}
    assert ex.writer_for("x.STL") is ex.write_stl
    with pytest.raises(InputError, match="unknown print format '.obj'"):
        ex.writer_for(tmp_path / "x.obj")
