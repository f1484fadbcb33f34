"""A reference union of the same part by OpenCASCADE booleans, to check the conforming build.

The primitives are the hub disks, the bond polygons (their ends reach into the hubs), tabs and
eyelets (ring = disk minus hole), all counter-clockwise so that ``occ.fuse`` can unify them, fused
in ONE batched call. For 3D the fused face is extruded by the thickness. The result must be one
face / one solid whose area / volume equals the exact ``Layout.area_m2`` (times ``t``).

OpenCASCADE booleans grow super-linearly with the bond count (see :mod:`femnn.part.builder`), so
this is a check for small networks (the paper's 28 bonds take 0.1 s), not the production path.
"""

from __future__ import annotations

import numpy as np

from femnn.part.layout import EYELET, TAB, Layout


def fused_reference(lay: Layout, dim: int = 2, thickness_m: float | None = None) -> tuple[int, float]:
    """(number of entities after the fuse, their total area (2D, m^2) or volume (3D, m^3)).

    Runs in its own gmsh model inside the current session, or initialises and finalises gmsh.
    """
    import gmsh

    from femnn.part.builder import gmsh_session

    if not gmsh.isInitialized():
        with gmsh_session():
            return fused_reference(lay, dim, thickness_m)
    t = lay.network.thickness_m if thickness_m is None else thickness_m
    gmsh.model.add("femnn_csg_reference")
    occ = gmsh.model.occ

    def poly(pts):
        tags = [occ.addPoint(x, y, 0) for x, y in pts]
        lines = [occ.addLine(tags[k], tags[(k + 1) % len(tags)]) for k in range(len(tags))]
        return (2, occ.addPlaneSurface([occ.addCurveLoop(lines)]))

    R = lay.hub_radius_m
    shapes = [(2, occ.addDisk(x, y, 0, R, R)) for x, y in lay.network.nodes_m]
    for b in range(lay.network.n_bonds):
        right, left = lay.bond_sides(b)
        shapes.append(poly(np.vstack([right, left])))
    for ad in lay.aids:
        o = lay.aid_outline(ad)
        shapes.append(poly([o["rim_right"], o["end_right"], o["end_left"], o["rim_left"]]))
        if ad.kind == EYELET:
            c = o["centre"]
            ring = (2, occ.addDisk(c[0], c[1], 0, ad.ring_radius_m, ad.ring_radius_m))
            hole = (2, occ.addDisk(c[0], c[1], 0, ad.hole_radius_m, ad.hole_radius_m))
            shapes.append(occ.cut([ring], [hole])[0][0])
        elif ad.kind != TAB:
            raise ValueError(ad.kind)
    out, _ = occ.fuse(shapes[:1], shapes[1:])
    if dim == 3:
        ext = occ.extrude(out, 0, 0, t)
        out = [e for e in ext if e[0] == 3]
    occ.synchronize()
    measure = sum(occ.getMass(d, tag) for d, tag in out)
    gmsh.model.remove()
    return len(out), float(measure)
