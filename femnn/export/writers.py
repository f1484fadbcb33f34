"""Print-file writers chosen by suffix: binary STL and 3MF, both in millimetres, from one surface.

Every writer takes ``(path, points_mm, triangles, name, material)`` and writes ``path`` directly;
:func:`export` runs the checks first, then writes each file to a temporary name in the same
folder and renames it, so a reader never sees a half-written file and a failed check leaves
nothing behind.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from femnn.errors import InputError
from femnn.export.checks import J850_TRAY_MM, PRINTER_MIN_FEATURE_M, PrintReport, check_part, surface_mm

#: base material of the J850 prints (Li & Mao: Agilus30, black)
MATERIAL = "Agilus30"
MATERIAL_RGBA = (20, 20, 20, 255)

_STL_RECORD = np.dtype([("normal", "<f4", 3), ("v", "<f4", (3, 3)), ("attr", "<u2")])


def write_stl(path, points_mm, triangles, name: str = "femnn part", material: str = MATERIAL) -> None:
    """Binary STL: 80-byte header (names the part, the unit mm and the material), uint32 count, then
    one 50-byte record per triangle (unit normal, three vertices, attribute 0), little-endian float32."""
    P = np.asarray(points_mm, dtype=np.float64)
    F = np.asarray(triangles, dtype=np.int64)
    v = P[F]
    nrm = np.cross(v[:, 1] - v[:, 0], v[:, 2] - v[:, 0])
    nrm /= np.linalg.norm(nrm, axis=1, keepdims=True)
    rec = np.zeros(len(F), dtype=_STL_RECORD)
    rec["normal"] = nrm
    rec["v"] = v
    header = f"femnn {name}; units mm; material {material}".encode("ascii", "replace")[:80].ljust(80, b" ")
    with open(path, "wb") as fh:
        fh.write(header)
        fh.write(np.uint32(len(F)).tobytes())
        fh.write(rec.tobytes())


def write_3mf(path, points_mm, triangles, name: str = "femnn part", material: str = MATERIAL) -> None:
    """3MF through lib3mf: unit millimetre, one mesh object named ``name`` with the base material
    ``material`` as its object-level property, one build item."""
    import lib3mf

    wrapper = lib3mf.get_wrapper()
    model = wrapper.CreateModel()
    model.SetUnit(lib3mf.ModelUnit.MilliMeter)
    obj = model.AddMeshObject()
    obj.SetName(name)
    P = np.ascontiguousarray(points_mm, dtype=np.float32)
    F = np.ascontiguousarray(triangles, dtype=np.uint32)
    verts = (lib3mf.Position * len(P)).from_buffer_copy(P.tobytes())
    tris = (lib3mf.Triangle * len(F)).from_buffer_copy(F.tobytes())
    obj.SetGeometry(verts, tris)
    group = model.AddBaseMaterialGroup()
    mat_id = group.AddMaterial(material, wrapper.RGBAToColor(*MATERIAL_RGBA))
    obj.SetObjectLevelProperty(group.GetUniqueResourceID(), mat_id)
    if not obj.IsManifoldAndOriented():
        raise RuntimeError("lib3mf reports the mesh is not manifold and oriented")
    model.AddBuildItem(obj, wrapper.GetIdentityTransform())
    model.QueryWriter("3mf").WriteToFile(str(path))


#: suffix -> writer (add a format by adding a line)
WRITERS = {".stl": write_stl, ".3mf": write_3mf}


def writer_for(path):
    suffix = Path(path).suffix.lower()
    if suffix not in WRITERS:
        raise InputError(str(path), "", f"unknown print format {suffix!r}; expected one of {sorted(WRITERS)}")
    return WRITERS[suffix]


def export(part, paths, *, min_feature_m: float = PRINTER_MIN_FEATURE_M, name: str | None = None,
           material: str | None = None, report: PrintReport | None = None, tray_mm=J850_TRAY_MM) -> PrintReport:
    """Check ``part`` and write it to every path in ``paths`` (format from the suffix).

    Nothing is written if a check fails (:func:`femnn.export.checks.check_part` raises). Pass a
    ``report`` from an earlier ``check_part`` to skip re-checking.
    """
    paths = [Path(p) for p in paths]
    writers = [writer_for(p) for p in paths]
    rep = report if report is not None else check_part(part, min_feature_m, tray_mm=tray_mm)
    P, F = surface_mm(part)
    name = name or part.network.name
    material = material or part.network.material.name
    tmps = []
    try:
        for p, w in zip(paths, writers):
            p.parent.mkdir(parents=True, exist_ok=True)
            tmp = p.with_name(f".{p.name}.tmp{p.suffix}")
            tmps.append(tmp)
            w(tmp, P, F, name, material)
        for p, tmp in zip(paths, tmps):
            os.replace(tmp, p)
    finally:
        for tmp in tmps:
            if tmp.exists():
                tmp.unlink()
    return rep


def read_3mf(path) -> dict:
    """Read a 3MF with lib3mf: ``unit``, and per mesh object ``name``, ``points`` (n, 3), ``triangles``
    (m, 3) and its object-level ``material`` name (None if it has none)."""
    import lib3mf

    wrapper = lib3mf.get_wrapper()
    model = wrapper.CreateModel()
    model.QueryReader("3mf").ReadFromFile(str(path))
    out = {"unit": model.GetUnit().name if hasattr(model.GetUnit(), "name") else str(model.GetUnit()), "objects": []}
    it = model.GetMeshObjects()
    while it.MoveNext():
        obj = it.GetCurrentMeshObject()
        V = obj.GetVertices()
        T = obj.GetTriangleIndices()
        pts = np.frombuffer((lib3mf.Position * len(V))(*V), dtype=np.float32).reshape(-1, 3).astype(float)
        tri = np.frombuffer((lib3mf.Triangle * len(T))(*T), dtype=np.uint32).reshape(-1, 3).astype(np.int64)
        res, prop, has = obj.GetObjectLevelProperty()
        mat = model.GetBaseMaterialGroupByID(res).GetName(prop) if has else None
        out["objects"].append({"name": obj.GetName(), "points": pts, "triangles": tri, "material": mat})
    return out

