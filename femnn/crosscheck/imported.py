"""Results from other solvers (COMSOL text export, VTU/XDMF via meshio) reduced to hub displacements.

The file's points must be in the part's coordinates (femnn writes the part in the network's
coordinates; COMSOL's ``% Length unit`` is honoured). A hub's displacement is the mean over the
exported points whose in-plane distance to the node centre is at most the hub radius (for a 3D
export this averages through the thickness too). This is the point mean, not the area mean the
FEM reduction uses, so meshes graded towards the hub rim bias it slightly; export on a uniform
grid or the mesh vertices of a quasi-uniform mesh.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from scipy.spatial import cKDTree

from femnn.crosscheck.compare import ImportedResult, elongations
from femnn.errors import InputError
from femnn.network import Task

VECTOR_NAMES = ("u", "displacement", "Displacement", "disp", "U", "uh", "f")


def read_points_displacement(path, length_unit_m: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """(points (n, dim) m, displacement (n, dim) m) from a COMSOL .txt/.csv export or a meshio file."""
    p = Path(path)
    if not p.exists():
        raise InputError(str(p), "", "file does not exist")
    if p.suffix.lower() in (".txt", ".csv", ".dat"):
        from femnn.crosscheck.comsol import read_comsol_text

        d = read_comsol_text(p)
        return d.points_m, d.displacement_m()
    try:
        import meshio
    except ImportError:  # pragma: no cover - meshio is in the pinned stack
        raise InputError(str(p), "", "reading VTU/XDMF needs meshio (pip install meshio)") from None
    import contextlib
    import io

    try:
        with contextlib.redirect_stderr(io.StringIO()), contextlib.redirect_stdout(io.StringIO()):
            m = meshio.read(p)   # meshio prints its own complaint before raising: keep the one line ours
    except (Exception, SystemExit) as exc:  # meshio raises many types (and exits on some bad VTU): bad input
        why = f"{type(exc).__name__}: {exc}" if not isinstance(exc, SystemExit) else "not a readable mesh file"
        raise InputError(str(p), "", f"meshio cannot read it ({why}); export the displacement field again (VTU, XDMF or COMSOL text)") from None
    for name in VECTOR_NAMES:
        if name in m.point_data:
            u = np.asarray(m.point_data[name], float)
            break
    else:
        raise InputError(str(p), "point_data", f"no displacement field; expected one of {VECTOR_NAMES}, found {list(m.point_data)}")
    pts = np.asarray(m.points, float) * length_unit_m
    return pts, u * length_unit_m


def imported_result(task: Task, points_m, disp_m, hub_radius_m: float, name: str, source: str = "") -> ImportedResult:
    """Hub displacements (mean over points within ``hub_radius_m`` of each node) and elongations."""
    net = task.network
    pts = np.asarray(points_m)[:, :2]
    tree = cKDTree(pts)
    u = np.zeros((net.n_nodes, 2))
    for i, x in enumerate(net.nodes_m):
        idx = tree.query_ball_point(x, hub_radius_m)
        if not idx:
            raise InputError(name, f"node {i}", f"no exported point within {hub_radius_m * 1e3:.3g} mm of the hub centre "
                             f"({x[0] * 1e3:.3f}, {x[1] * 1e3:.3f}) mm; is the file in the part's coordinates and length unit?")
        u[i] = np.asarray(disp_m)[idx, :2].mean(axis=0)
    return ImportedResult(name, u, elongations(task, u), source=str(source), points=int(pts.shape[0]))
