"""Layout -> gmsh model: a conforming set of hub and bond regions, physical groups, size field, mesh.

Why no OpenCASCADE booleans: fusing the lattice's primitives with ``occ.fuse`` (then splitting it
into regions with ``occ.fragment``) is super-linear in the bond count; we measured 3 s at 313 bonds
and 57 s at 973 bonds for the 2D fuse alone, and ``occ.extrude`` of the ~1,300 region faces took 18 s
(about n^1.8). The part is therefore written down directly as a boundary representation whose
regions *share* their interface curves (hub rim arcs) and, in 3D, their lateral faces: a
conforming partition of the one connected part, with no boolean and no tag renumbering. That takes
linear time (3,000 bonds in 3D in a few seconds) in gmsh's built-in kernel. Every curve is used by
one region (outer boundary) or by exactly two with opposite orientations (an interface); this is
asserted before anything reaches gmsh, and after meshing every region is identified by position
(its cells' centroid must sit on its node or bond midpoint), never by assumed tag.
:func:`femnn.part.csg.fused_reference` rebuilds the same part with OpenCASCADE booleans (one face or
one solid) for small networks; the tests compare the two.

Mesh size: a ``Distance`` field from the hub rims and the aids feeds a ``Threshold``: cells of size
``h_min = (narrowest neck) / N / 2^refine`` up to the end of the necks' tapers, growing to
``h_max = (narrowest bond) / N / 2^refine`` along the bonds (``N = elements_across_neck``).
"""

from __future__ import annotations

import math
import time
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np

from femnn.part import tags as T
from femnn.part.layout import BOND, EYELET, TAB, Layout
from femnn.part.model import Part, PartMesh

GMSH_TYPES = {1: ("line", 2), 8: ("line3", 3), 2: ("triangle", 3), 9: ("triangle6", 6), 4: ("tetra", 4),
              11: ("tetra10", 10)}


@contextmanager
def gmsh_session(comm=None, verbose: bool = False):
    """Initialise gmsh (on rank 0 of ``comm`` only) and finalise it on exit.

    Inside the session, :func:`femnn.part.build` leaves its model as gmsh's current model, so
    ``dolfinx.io.gmsh.model_to_mesh(gmsh.model, comm, 0, gdim=dim)`` or ``gmsh.write(...)`` can use
    it. Re-entrant: if gmsh is already initialised, the session neither initialises nor finalises.
    """
    root = comm is None or comm.rank == 0
    owner = False
    if root:
        import gmsh

        if not gmsh.isInitialized():
            gmsh.initialize(interruptible=False)
            owner = True
        gmsh.option.setNumber("General.Terminal", 1 if verbose else 0)
    try:
        yield
    finally:
        if owner:
            import gmsh

            gmsh.finalize()


# ---------------------------------------------------------------------------------------------
# topology: points, curves and region loops, independent of z and of gmsh
# ---------------------------------------------------------------------------------------------
@dataclass
class Topology:
    """Planar boundary representation of the part.

    ``curves[k] = (kind, start, end, centre)`` with kind "line" or "arc" (counter-clockwise, less
    than pi, around point ``centre``); ``loops[r]`` is a list of loops of region ``r`` (first the
    outer one), each a list of signed 1-based curve ids, counter-clockwise around the region
    (holes clockwise), so the region is always on the left of its boundary.
    """

    points: list = field(default_factory=list)
    curves: list = field(default_factory=list)
    loops: list = field(default_factory=list)
    centre_of_node: list = field(default_factory=list)
    free_points: list = field(default_factory=list)
    fine_curves: list = field(default_factory=list)

    def point(self, xy) -> int:
        self.points.append((float(xy[0]), float(xy[1])))
        return len(self.points) - 1

    def line(self, a: int, b: int) -> int:
        self.curves.append(("line", a, b, -1))
        return len(self.curves)

    def arc(self, a: int, centre: int, b: int) -> int:
        self.curves.append(("arc", a, b, centre))
        return len(self.curves)

    def ends(self, signed: int) -> tuple[int, int]:
        _, a, b, _ = self.curves[abs(signed) - 1]
        return (a, b) if signed > 0 else (b, a)

    def usage(self) -> tuple[np.ndarray, np.ndarray]:
        """(n_curves,) number of loops using each curve and, for curves used once, (region, sign)."""
        count = np.zeros(len(self.curves), dtype=int)
        owner = np.full((len(self.curves), 2), -1, dtype=int)
        sign_sum = np.zeros(len(self.curves), dtype=int)
        for r, loops in enumerate(self.loops):
            for loop in loops:
                for c in loop:
                    k = abs(c) - 1
                    count[k] += 1
                    sign_sum[k] += 1 if c > 0 else -1
                    owner[k] = (r, 1 if c > 0 else -1)
        bad = np.flatnonzero((count == 0) | (count > 2) | ((count == 2) & (sign_sum != 0)))
        if bad.size:
            raise AssertionError(f"non-conforming topology: curve {bad[0] + 1} used {count[bad[0]]} times "
                                 f"(sign sum {sign_sum[bad[0]]})")
        return count, owner

    def check_loops(self) -> None:
        for r, loops in enumerate(self.loops):
            for loop in loops:
                for k in range(len(loop)):
                    if self.ends(loop[k])[1] != self.ends(loop[(k + 1) % len(loop)])[0]:
                        raise AssertionError(f"region {r}: loop not closed after curve {loop[k]}")


def _unit(a: float) -> np.ndarray:
    return np.array([math.cos(a), math.sin(a)])


def _ring_arcs(topo: Topology, centre: int, c_xy, radius: float, start_angle: float, span: float,
               first: int, last: int | None) -> list[int]:
    """Counter-clockwise arcs around ``centre`` from point ``first`` through ``span`` to ``last``
    (None: close on ``first``), split into pieces of at most pi/2."""
    m = max(1, math.ceil(span / (math.pi / 2) - 1e-9))
    out, prev = [], first
    for q in range(1, m):
        pm = topo.point(c_xy + radius * _unit(start_angle + span * q / m))
        out.append(topo.arc(prev, centre, pm))
        prev = pm
    out.append(topo.arc(prev, centre, first if last is None else last))
    return out


def topology(lay: Layout) -> Topology:
    """The conforming planar B-rep of ``lay``: regions in ``lay.region_kinds`` order (hubs, bonds, aids)."""
    topo = Topology()
    net, R = lay.network, lay.hub_radius_m
    X = net.nodes_m
    rim = {}
    for a in range(net.n_nodes):
        c = topo.point(X[a])
        topo.centre_of_node.append(c)
        rp = []
        for att in lay.attachments[a]:
            d = math.asin(att.rim_half_width_m / R)
            pr = topo.point(X[a] + R * _unit(att.angle - d))
            pl = topo.point(X[a] + R * _unit(att.angle + d))
            rp.append((att, pr, pl, att.angle - d, att.angle + d))
        loop = []
        for k, (att, pr, pl, lo, hi) in enumerate(rp):
            ia = topo.arc(pr, c, pl)
            rim[(att.kind, att.index, att.end)] = (pr, pl, ia)
            loop.append(ia)
            nxt = rp[(k + 1) % len(rp)]
            span = (nxt[3] - hi) % (2 * math.pi)
            loop += _ring_arcs(topo, c, X[a], R, hi, span, pl, nxt[1])
        topo.fine_curves += [abs(x) for x in loop]
        topo.loops.append([loop])
    for b in range(net.n_bonds):
        right, left = lay.bond_sides(b)
        pri, pli, ai = rim[(BOND, b, 0)]
        prj, plj, aj = rim[(BOND, b, 1)]
        rpts = [pri] + [topo.point(q) for q in right[1:-1]] + [plj]
        lpts = [prj] + [topo.point(q) for q in left[1:-1]] + [pli]
        loop = [topo.line(rpts[k], rpts[k + 1]) for k in range(len(rpts) - 1)] + [-aj]
        loop += [topo.line(lpts[k], lpts[k + 1]) for k in range(len(lpts) - 1)] + [-ai]
        topo.loops.append([loop])
    for aid in lay.aids:
        o = lay.aid_outline(aid)
        pr, pl, ia = rim[(aid.kind, aid.node, 0)]
        e1, e2 = topo.point(o["end_right"]), topo.point(o["end_left"])
        if aid.kind == TAB:
            loop = [topo.line(pr, e1), topo.line(e1, e2), topo.line(e2, pl), -ia]
            loops = [loop]
        else:
            cxy = o["centre"]
            c = topo.point(cxy)
            topo.free_points.append(c)
            v1, v2 = o["end_right"] - cxy, o["end_left"] - cxy
            a1 = math.atan2(v1[1], v1[0])
            span = (math.atan2(v2[1], v2[0]) - a1) % (2 * math.pi)
            loop = [topo.line(pr, e1)] + _ring_arcs(topo, c, cxy, aid.ring_radius_m, a1, span, e1, e2)
            loop += [topo.line(e2, pl), -ia]
            h0 = topo.point(cxy + aid.hole_radius_m * _unit(0.0))
            hole = _ring_arcs(topo, c, cxy, aid.hole_radius_m, 0.0, 2 * math.pi, h0, None)
            loops = [loop, [-k for k in reversed(hole)]]
        topo.fine_curves += [abs(x) for lp in loops for x in lp]
        topo.loops.append(loops)
    topo.check_loops()
    topo.usage()
    return topo


# ---------------------------------------------------------------------------------------------
# gmsh (built-in kernel)
# ---------------------------------------------------------------------------------------------
def _instantiate(geo, topo: Topology, z: float):
    ptag = [geo.addPoint(x, y, z) for x, y in topo.points]
    ctag = []
    for kind, a, b, c in topo.curves:
        ctag.append(geo.addLine(ptag[a], ptag[b]) if kind == "line" else geo.addCircleArc(ptag[a], ptag[c], ptag[b]))
    return ptag, ctag


def _signed(ctag, c: int) -> int:
    return ctag[abs(c) - 1] if c > 0 else -ctag[abs(c) - 1]


@dataclass
class _Model:
    """gmsh entity tags of a built part (what meshing and extraction need)."""

    dim: int
    regions: list                 # top-dim entity per region
    exterior: list                # (entity of dim-1, region, outward (3,) vector)
    embedded_points: list
    free_points: list
    fine_curves: list
    arcs: list = field(default_factory=list)   # (curve tag, angular span rad)


def _outward(topo: Topology, c: int, sign: int) -> np.ndarray:
    """Outward unit normal (in the plane) at the middle of curve ``c`` used with ``sign`` by its region."""
    kind, a, b, cen = topo.curves[c]
    pa, pb = np.array(topo.points[a]), np.array(topo.points[b])
    if kind == "line":
        t = (pb - pa) / np.linalg.norm(pb - pa)
        r = np.array([t[1], -t[0]])
    else:
        pc = np.array(topo.points[cen])
        m = (pa + pb) / 2 - pc
        r = m / np.linalg.norm(m)
    return np.array([*(sign * r), 0.0])


def _arc_spans(topo: Topology) -> list[tuple[int, float]]:
    """(curve index, angular span) of every arc (counter-clockwise, < pi)."""
    out = []
    for k, (kind, a, b, c) in enumerate(topo.curves):
        if kind == "arc":
            pc = np.array(topo.points[c])
            va, vb = np.array(topo.points[a]) - pc, np.array(topo.points[b]) - pc
            out.append((k, (math.atan2(vb[1], vb[0]) - math.atan2(va[1], va[0])) % (2 * math.pi)))
    return out


def _build_gmsh(lay: Layout, topo: Topology, dim: int, thickness_m: float) -> _Model:
    import gmsh

    geo = gmsh.model.geo
    count, owner = topo.usage()
    if dim == 2:
        ptag, ctag = _instantiate(geo, topo, 0.0)
        regions = []
        for loops in topo.loops:
            lt = [geo.addCurveLoop([_signed(ctag, c) for c in lp]) for lp in loops]
            regions.append(geo.addPlaneSurface(lt))
        geo.synchronize()
        exterior = [(ctag[k], int(owner[k, 0]), _outward(topo, k, int(owner[k, 1])))
                    for k in np.flatnonzero(count == 1)]
        emb = [(ptag[topo.centre_of_node[a]], regions[a]) for a in range(lay.network.n_nodes)]
        for p, s in emb:
            gmsh.model.mesh.embed(0, [p], 2, s)
        return _Model(2, regions, exterior, emb, [ptag[p] for p in topo.free_points],
                      [ctag[k - 1] for k in topo.fine_curves], [(ctag[k], sp) for k, sp in _arc_spans(topo)])

    pb, cb = _instantiate(geo, topo, 0.0)
    pt, ct = _instantiate(geo, topo, thickness_m)
    vert = {}

    def vline(p):
        if p not in vert:
            vert[p] = geo.addLine(pb[p], pt[p])
        return vert[p]

    lateral = []
    for k, (kind, a, b, _) in enumerate(topo.curves):
        loop = geo.addCurveLoop([cb[k], vline(b), -ct[k], -vline(a)])
        lateral.append(geo.addPlaneSurface([loop]) if kind == "line" else geo.addSurfaceFilling([loop]))
    regions, bottoms, tops = [], [], []
    for loops in topo.loops:
        sb = geo.addPlaneSurface([geo.addCurveLoop([_signed(cb, c) for c in lp]) for lp in loops])
        st = geo.addPlaneSurface([geo.addCurveLoop([_signed(ct, c) for c in lp]) for lp in loops])
        lats = [lateral[abs(c) - 1] for lp in loops for c in lp]
        regions.append(geo.addVolume([geo.addSurfaceLoop([sb, st] + lats)]))
        bottoms.append(sb)
        tops.append(st)
    geo.synchronize()
    exterior = [(lateral[k], int(owner[k, 0]), _outward(topo, k, int(owner[k, 1]))) for k in np.flatnonzero(count == 1)]
    for r in range(len(regions)):
        exterior.append((bottoms[r], r, np.array([0.0, 0.0, -1.0])))
        exterior.append((tops[r], r, np.array([0.0, 0.0, 1.0])))
    emb = []
    for a in range(lay.network.n_nodes):
        c = topo.centre_of_node[a]
        emb += [(pb[c], bottoms[a]), (pt[c], tops[a])]
    for p, s in emb:
        gmsh.model.mesh.embed(0, [p], 2, s)
    free = [pb[p] for p in topo.free_points] + [pt[p] for p in topo.free_points]
    fine = [cb[k - 1] for k in topo.fine_curves] + [ct[k - 1] for k in topo.fine_curves]
    arcs = [(lv[k], sp) for k, sp in _arc_spans(topo) for lv in (cb, ct)]
    return _Model(3, regions, exterior, emb, free, fine, arcs)


def _region_tag_list(lay: Layout) -> list[tuple[str, int]]:
    kinds = {"hub": T.HUB, BOND: T.BOND, TAB: T.TAB, EYELET: T.EYELET}
    return [(T.region_name(kinds[k], i), T.region_tag(kinds[k], i)) for k, i in zip(lay.region_kinds, lay.region_indices)]


def _physical_groups(lay: Layout, model: _Model) -> dict:
    """Cell groups (one per region) and disjoint facet groups on the outer surface of the role nodes."""
    import gmsh

    groups = {}
    d = model.dim
    for (name, tag), ent in zip(_region_tag_list(lay), model.regions):
        gmsh.model.addPhysicalGroup(d, [ent], tag, name=name)
        groups[name] = (d, tag)
    node_of_region = np.asarray(lay.region_indices)
    kinds = np.asarray(lay.region_kinds)
    is_node_region = kinds != BOND
    claimed = set()
    for name, nodes in ((T.CLAMP, lay.fixed_nodes), (T.LOAD_PORT, lay.load_nodes), (T.OUTPUT_PORT, lay.output_nodes)):
        regs = set(np.flatnonzero(is_node_region & np.isin(node_of_region, np.asarray(nodes, dtype=int))).tolist())
        ents = [e for e, r, _ in model.exterior if r in regs and e not in claimed]
        if ents:
            claimed.update(ents)
            gmsh.model.addPhysicalGroup(d - 1, ents, T.FACET_TAGS[name], name=name)
            groups[name] = (d - 1, T.FACET_TAGS[name])
    return groups


def _size_field(lay: Layout, model: _Model, h_min: float, h_max: float, thickness_m: float) -> None:
    import gmsh

    f = gmsh.model.mesh.field
    dist = f.add("Distance")
    f.setNumbers(dist, "CurvesList", model.fine_curves)
    f.setNumber(dist, "Sampling", 20)
    thr = f.add("Threshold")
    f.setNumber(thr, "InField", dist)
    f.setNumber(thr, "SizeMin", h_min)
    f.setNumber(thr, "SizeMax", h_max)
    # fine through the neck and its taper, then a short grading to the bond size
    d0 = lay.neck_length_m + float(lay.network.widths_m.max()) / 2 + (thickness_m / 2 if model.dim == 3 else 0.0)
    f.setNumber(thr, "DistMin", d0)
    f.setNumber(thr, "DistMax", d0 + 4 * h_max)
    f.setAsBackgroundMesh(thr)
    for name, val in (("Mesh.MeshSizeExtendFromBoundary", 0), ("Mesh.MeshSizeFromPoints", 0),
                      ("Mesh.MeshSizeFromCurvature", 0), ("Mesh.MeshSizeMin", h_min / 2), ("Mesh.MeshSizeMax", h_max),
                      ("Mesh.Algorithm", 6), ("Mesh.Algorithm3D", 10)):
        gmsh.option.setNumber(name, val)


#: print resolution: segments per full circle on the arcs (5 degrees: chord error R (1 - cos 2.5 deg) < 0.1 % R)
PRINT_SEGMENTS_PER_CIRCLE = 72


def _print_sizes(lay: Layout, model: _Model, thickness_m: float) -> tuple[float, float]:
    """Surface-only (print) meshing: every arc gets one segment per 5 degrees (a transfinite node
    count, exact and cheap; gmsh's curvature sizing stalls on built-in-kernel arcs), flat faces
    triangles up to the larger of the thickness and the narrowest bond; no FEM size field.
    Returns the (smallest, largest) target size."""
    import gmsh

    seg = 2 * math.pi / PRINT_SEGMENTS_PER_CIRCLE
    for tag, span in model.arcs:
        gmsh.model.mesh.setTransfiniteCurve(tag, max(2, math.ceil(span / seg - 1e-9) + 1))
    radii = [lay.hub_radius_m] + [r for ad in lay.aids for r in (ad.ring_radius_m, ad.hole_radius_m) if r > 0]
    h_arc = seg * min(radii)
    h_flat = max(thickness_m, float(lay.network.widths_m.min()))
    for name, val in (("Mesh.MeshSizeFromCurvature", 0), ("Mesh.MeshSizeExtendFromBoundary", 1),
                      ("Mesh.MeshSizeFromPoints", 0), ("Mesh.MeshSizeMin", 0), ("Mesh.MeshSizeMax", h_flat),
                      ("Mesh.Algorithm", 6)):
        gmsh.option.setNumber(name, val)
    return h_arc, h_flat


def _extract(lay: Layout, model: _Model, region_tags: list, facet_groups: dict, order: int,
             h_min: float, h_max: float, cells_meshed: bool) -> PartMesh:
    import gmsh

    m = gmsh.model.mesh
    ntags, coords, _ = m.getNodes()
    lookup = np.full(int(ntags.max()) + 1, -1, dtype=np.int64)
    lookup[ntags.astype(np.int64)] = np.arange(ntags.size)
    X = coords.reshape(-1, 3)

    def elements(d, ent):
        types, etags, enodes = m.getElements(d, ent)
        if len(types) != 1:
            raise AssertionError(f"entity ({d}, {ent}) has element types {list(types)}; expected one")
        name, nn = GMSH_TYPES[int(types[0])]
        return name, lookup[np.asarray(enodes[0], dtype=np.int64)].reshape(-1, nn), etags[0]

    cell_type, cells, ctags, etag_all = "", [], [], []
    if cells_meshed:
        for (name, tag), ent in zip(region_tags, model.regions):
            cell_type, c, et = elements(model.dim, ent)
            cells.append(c)
            ctags.append(np.full(len(c), tag, dtype=np.int32))
            etag_all.append(et)
    facet_type, facets, ftags = "", [], []
    for name, (d, tag) in facet_groups.items():
        if d != model.dim - 1:
            continue
        for ent in gmsh.model.getEntitiesForPhysicalGroup(d, tag):
            facet_type, c, _ = elements(d, int(ent))
            facets.append(c)
            ftags.append(np.full(len(c), tag, dtype=np.int32))
    surf = np.zeros((0, 3), dtype=np.int64)
    if model.dim == 3:
        tris = []
        for ent, _, outward in model.exterior:
            _, c, _ = elements(2, ent)
            c = c[:, :3]
            a, b, d = X[c[:, 0]], X[c[:, 1]], X[c[:, 2]]
            nsum = np.cross(b - a, d - a).sum(axis=0)
            tris.append(c if nsum @ outward > 0 else c[:, ::-1])
        surf = np.vstack(tris)
    q_min = q_mean = float("nan")
    if cells_meshed:
        q = m.getElementQualities(np.concatenate(etag_all), "minSICN")
        q_min, q_mean = float(q.min()), float(q.mean())
    cat = (lambda lst, k: np.vstack(lst) if lst else np.zeros((0, k), dtype=np.int64))
    return PartMesh(X.copy(), cell_type, cat(cells, 3), np.concatenate(ctags) if ctags else np.zeros(0, np.int32),
                    facet_type, cat(facets, 2), np.concatenate(ftags) if ftags else np.zeros(0, np.int32), surf,
                    q_min, q_mean, h_min, h_max, order)


def _check_positions(lay: Layout, pm: PartMesh, dim: int, thickness_m: float) -> None:
    """Identify regions by position: the centroid of each hub's cells is its node, of each bond's
    cells its midpoint (both shapes are point-symmetric), within 2 % of the hub radius."""
    net = lay.network
    if pm.n_cells == 0:
        return
    nv = 3 if dim == 2 else 4
    w = pm.measure_m()
    cen = pm.points_m[pm.cells[:, :nv]].mean(axis=1)
    tags = pm.cell_tags.astype(np.int64)
    uniq, inv = np.unique(tags, return_inverse=True)
    tot = np.bincount(inv, weights=w)
    cx = np.stack([np.bincount(inv, weights=w * cen[:, k]) for k in range(3)], axis=1) / tot[:, None]
    where = {int(t): k for k, t in enumerate(uniq)}
    expect = {T.hub_tag(a): net.nodes_m[a] for a in range(net.n_nodes)}
    mids = 0.5 * (net.nodes_m[net.bonds[:, 0]] + net.nodes_m[net.bonds[:, 1]])
    expect.update({T.bond_tag(b): mids[b] for b in range(net.n_bonds)})
    if set(expect) - set(where):
        missing = sorted(set(expect) - set(where))[0]
        raise AssertionError(f"region tag {missing} has no cells")
    ids = np.array(list(expect))
    got = cx[[where[int(t)] for t in ids], :2]
    want = np.array([expect[int(t)] for t in ids])
    err = np.hypot(*(got - want).T)
    k = int(np.argmax(err))
    if err[k] > 0.02 * lay.hub_radius_m:
        kind, i = T.region_of_tag(int(ids[k]))
        raise AssertionError(f"{kind} {i}: cells centred {err[k] * 1e3:.3g} mm from where the {kind} is")
    if dim == 3 and abs(float(np.average(cx[:, 2], weights=tot)) - thickness_m / 2) > 1e-3 * thickness_m:
        raise AssertionError("3D cells are not centred on the mid-plane")


def build_layout(lay: Layout, dim: int, thickness_m: float, *, elements_across_neck: int = 3, refine: int = 0,
                 order: int = 1, mesh: bool = True, surface_only: bool = False, model_name: str = "femnn_part") -> Part:
    """Build ``lay`` in the current gmsh session (must be initialised) and return the :class:`Part`.

    The gmsh model stays current afterwards (physical groups and, if ``mesh``, the mesh).
    """
    import gmsh

    times = {}
    t0 = time.perf_counter()
    gmsh.model.add(model_name)
    topo = topology(lay)
    model = _build_gmsh(lay, topo, dim, thickness_m)
    if len(model.regions) != lay.n_regions or len(gmsh.model.getEntities(dim)) != lay.n_regions:
        raise AssertionError(f"{len(gmsh.model.getEntities(dim))} {dim}D entities for {lay.n_regions} regions")
    region_tags = _region_tag_list(lay)
    groups = _physical_groups(lay, model)
    times["geometry_s"] = time.perf_counter() - t0
    scale = elements_across_neck * 2**refine
    h_min = float(lay.network.widths_m.min()) / 2 / scale
    h_max = float(lay.network.widths_m.min()) / scale
    pm = None
    if mesh:
        t1 = time.perf_counter()
        if dim == 3 and surface_only:
            h_min, h_max = _print_sizes(lay, model, thickness_m)
        else:
            _size_field(lay, model, h_min, h_max, thickness_m)
        gmsh.model.mesh.generate(2 if (dim == 3 and surface_only) else dim)
        if order == 2:
            gmsh.model.mesh.setOrder(2)
        if model.free_points:
            # arc centres outside the part (eyelet holes) must not leave orphan nodes in the mesh
            gmsh.model.mesh.clear([(0, p) for p in model.free_points])
            gmsh.model.mesh.renumberNodes()
            gmsh.model.mesh.renumberElements()
        times["mesh_s"] = time.perf_counter() - t1
        t2 = time.perf_counter()
        pm = _extract(lay, model, region_tags, groups, order, h_min, h_max, cells_meshed=not (dim == 3 and surface_only))
        _check_positions(lay, pm, dim, thickness_m)
        times["extract_s"] = time.perf_counter() - t2
    net = lay.network
    aid_tag = {ad.node: T.region_tag(T.TAB if ad.kind == TAB else T.EYELET, ad.node) for ad in lay.aids}
    return Part(lay, dim, float(thickness_m), groups, np.array([T.bond_tag(b) for b in range(net.n_bonds)], dtype=np.int64),
                np.array([T.hub_tag(a) for a in range(net.n_nodes)], dtype=np.int64), aid_tag,
                lay.fixed_nodes, lay.load_nodes, lay.output_nodes, pm, times)
