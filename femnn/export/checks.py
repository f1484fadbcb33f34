"""Checks a part must pass before any print file is written.

* widths inside the network's bounds (names the bond);
* no material feature thinner, and no gap narrower, than the printer's minimum (PolyJet about
  0.3 mm): necks are half their bond's width, gaps are the notches between neighbouring necks at a
  hub rim (names the bond or node and the value);
* the surface is closed and manifold: every edge in exactly two triangles, traversed once in each
  direction (consistent outward orientation), no degenerate triangle, one connected body;
* its volume (divergence theorem, ``V = sum (a . (b x c)) / 6``) equals the exact planar area
  times the thickness within 0.5 %;
* its bounding box equals the exact one (within the arcs' chord error) and fits the J850 tray.

User-fixable failures raise :class:`femnn.errors.InputError` (the CLI prints one line, exit 2);
a defective surface raises :class:`ExportCheckError` (a bug, exit 1).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from femnn.errors import InputError

#: PolyJet (Stratasys J850) smallest reliable wall / gap, m
PRINTER_MIN_FEATURE_M = 0.3e-3
#: J850 build tray, mm (x, y, z)
J850_TRAY_MM = (490.0, 390.0, 200.0)
VOLUME_TOLERANCE = 0.005


class ExportCheckError(RuntimeError):
    """The exported surface is not a valid closed solid (a bug in the part stage, not bad input)."""


@dataclass(frozen=True)
class SurfaceReport:
    """Facts about a closed triangle surface (units of its points)."""

    n_triangles: int
    n_vertices: int
    volume: float
    area: float
    bbox: np.ndarray
    n_bodies: int


@dataclass(frozen=True)
class PrintReport:
    """What the checks measured (mm), for ``summary.json``."""

    volume_mm3: float
    expected_volume_mm3: float
    volume_rel_error: float
    bbox_mm: np.ndarray
    min_feature_mm: float
    min_feature_where: str
    min_gap_mm: float
    min_gap_where: str
    triangles: int
    printer_min_feature_mm: float


def surface_mm(part) -> tuple[np.ndarray, np.ndarray]:
    """The part's closed outer surface as (points_mm (n, 3) float64, triangles (m, 3) int64), only
    the vertices the triangles use, numbered compactly."""
    pm = part.mesh
    if pm is None or part.dim != 3 or pm.surface_triangles.size == 0:
        raise ValueError("print files need a 3D part with a meshed surface (build(..., dim=3))")
    used, inv = np.unique(pm.surface_triangles, return_inverse=True)
    return pm.points_m[used] * 1e3, inv.reshape(-1, 3).astype(np.int64)


def check_surface(points: np.ndarray, triangles: np.ndarray) -> SurfaceReport:
    """Closed-manifold checks on a triangle surface; raises :class:`ExportCheckError` naming the
    first bad edge or triangle (coordinates in the points' units)."""
    P, F = np.asarray(points, dtype=float), np.asarray(triangles, dtype=np.int64)
    if F.size == 0:
        raise ExportCheckError("the surface has no triangles")
    a, b, c = P[F[:, 0]], P[F[:, 1]], P[F[:, 2]]
    cr = np.cross(b - a, c - a)
    dbl_area = np.linalg.norm(cr, axis=1)
    scale = float(np.ptp(P, axis=0).max())
    degenerate = np.flatnonzero(dbl_area <= 1e-12 * scale * scale)
    if degenerate.size:
        t = int(degenerate[0])
        raise ExportCheckError(f"degenerate triangle {t} at {np.round(P[F[t]].mean(axis=0), 4).tolist()}")
    directed = np.concatenate([F[:, [0, 1]], F[:, [1, 2]], F[:, [2, 0]]])
    n = P.shape[0]
    key = directed[:, 0] * n + directed[:, 1]
    uk, cnt = np.unique(key, return_counts=True)
    if np.any(cnt > 1):
        e = uk[np.argmax(cnt > 1)]
        raise ExportCheckError(f"edge {np.round(P[e // n], 4).tolist()} -> {np.round(P[e % n], 4).tolist()} is "
                               f"traversed {cnt.max()} times in one direction (not manifold or not consistently oriented)")
    rev = directed[:, 1] * n + directed[:, 0]
    missing = ~np.isin(rev, uk)
    if np.any(missing):
        e = directed[np.argmax(missing)]
        raise ExportCheckError(f"edge {np.round(P[e[0]], 4).tolist()} -> {np.round(P[e[1]], 4).tolist()} has no "
                               f"opposite triangle: the surface is open (not watertight)")
    # bodies: triangles connected through shared edges
    tri_of_edge = np.concatenate([np.arange(len(F))] * 3)
    order = np.argsort(key)
    pos = np.searchsorted(key[order], rev)
    partner = tri_of_edge[order[pos]]
    g = coo_matrix((np.ones(len(partner)), (tri_of_edge, partner)), shape=(len(F), len(F)))
    n_bodies = int(connected_components(g, directed=False)[0])
    volume = float(np.einsum("ij,ij->i", a, np.cross(b, c)).sum() / 6)
    if volume <= 0:
        raise ExportCheckError(f"the surface encloses a negative volume {volume:.6g}: triangles face inwards")
    return SurfaceReport(len(F), int(np.unique(F).size), volume, float(dbl_area.sum() / 2),
                         np.array([P.min(axis=0), P.max(axis=0)]), n_bodies)


def check_printable(part, min_feature_m: float = PRINTER_MIN_FEATURE_M) -> None:
    """Widths within bounds and features / gaps not below the printer minimum (InputError otherwise)."""
    lay = part.layout
    net = lay.network
    src = net.source
    lo, hi = net.width_bounds_m
    W = net.widths_m
    out = np.flatnonzero((W < lo * (1 - 1e-9)) | (W > hi * (1 + 1e-9)))
    if out.size:
        b = int(out[0])
        raise InputError(src, f"widths_m[{b}]", f"bond {b} is {W[b] * 1e3:.4g} mm wide, outside the declared bounds "
                         f"[{lo * 1e3:.4g}, {hi * 1e3:.4g}] mm; retrain within the bounds or change them")
    if min_feature_m > 0:
        necks = W / 2
        b = int(np.argmin(necks))
        if necks[b] < min_feature_m:
            raise InputError(src, f"widths_m[{b}]", f"bond {b}: its neck is {necks[b] * 1e3:.3g} mm wide (half of the "
                             f"{W[b] * 1e3:.3g} mm bond), thinner than the printer minimum {min_feature_m * 1e3:.3g} mm; "
                             f"widen the bond (>= {2 * min_feature_m * 1e3:.3g} mm) or lower --min-feature-mm")
        if lay.min_neck_width_m < min_feature_m:
            raise InputError(src, lay.min_neck_where, f"{lay.min_neck_width_m * 1e3:.3g} mm wide, thinner than the "
                             f"printer minimum {min_feature_m * 1e3:.3g} mm")
        if lay.min_gap_m < min_feature_m:
            raise InputError(src, lay.min_gap_where, f"gap of {lay.min_gap_m * 1e3:.3g} mm, narrower than the printer "
                             f"minimum {min_feature_m * 1e3:.3g} mm (it would print closed); use a larger hub radius")


def check_part(part, min_feature_m: float = PRINTER_MIN_FEATURE_M, volume_tolerance: float = VOLUME_TOLERANCE,
               tray_mm=J850_TRAY_MM) -> PrintReport:
    """Run every pre-write check on a 3D part (2D parts: only :func:`check_printable`).
    ``tray_mm=None`` skips the build-tray size check (e.g. for benchmarks of huge lattices)."""
    check_printable(part, min_feature_m)
    lay = part.layout
    expected_mm3 = part.volume_m3 * 1e9
    if part.dim != 3:
        pts = part.mesh.points_m * 1e3 if part.mesh is not None else part.bbox_m * 1e3
        return PrintReport(expected_mm3, expected_mm3, 0.0, np.array([pts.min(axis=0), pts.max(axis=0)]),
                           lay.min_neck_width_m * 1e3, lay.min_neck_where, lay.min_gap_m * 1e3, lay.min_gap_where,
                           part.mesh.n_triangles if part.mesh is not None else 0, min_feature_m * 1e3)
    P, F = surface_mm(part)
    rep = check_surface(P, F)
    if rep.n_bodies != 1:
        raise ExportCheckError(f"the surface has {rep.n_bodies} separate bodies; the part must be one solid")
    rel = rep.volume / expected_mm3 - 1
    if abs(rel) > volume_tolerance:
        raise ExportCheckError(f"surface volume {rep.volume:.6g} mm3 differs from area x thickness {expected_mm3:.6g} mm3 "
                               f"by {rel * 100:.3g} % (limit {volume_tolerance * 100:.2g} %)")
    exact = part.bbox_m * 1e3
    # mesh vertices lie on the geometry, so the box can only be smaller, by at most the sagitta
    # h^2 / (8 r) of a chord of length h on the smallest arc (arcs are meshed at the smallest size)
    h = part.mesh.size_min_m * 1e3
    r_min = lay.hub_radius_m * 1e3
    for ad in lay.aids:
        if ad.hole_radius_m:
            r_min = min(r_min, ad.hole_radius_m * 1e3)
    tol = max(1e-3, h * h / (4 * r_min))
    dev = np.abs(rep.bbox - exact)
    if dev.max() > tol:
        k = np.unravel_index(np.argmax(dev), dev.shape)
        raise ExportCheckError(f"bounding box {'min' if k[0] == 0 else 'max'} {'xyz'[k[1]]} is {rep.bbox[k]:.4f} mm, "
                               f"expected {exact[k]:.4f} mm")
    size = rep.bbox[1] - rep.bbox[0]
    for k in range(3 if tray_mm is not None else 0):
        if size[k] > tray_mm[k]:
            raise InputError(lay.network.source, "", f"the part is {size[k]:.1f} mm along {'xyz'[k]}, more than the "
                             f"printer's tray ({tray_mm[k]:.0f} mm); split the network or scale it down")
    return PrintReport(rep.volume, expected_mm3, rel, rep.bbox, lay.min_neck_width_m * 1e3, lay.min_neck_where,
                       lay.min_gap_m * 1e3, lay.min_gap_where, rep.n_triangles, min_feature_m * 1e3)
