"""The planar layout of a printable network (numpy only): hub radius, necks, aids, checks, exact areas.

Shapes (SI units, node ``i`` at ``x_i``, bond ``b = (i, j)`` of width ``w``, length ``L``, unit vector
``n`` from ``i`` to ``j`` and left normal ``p``; hub radius ``R``, neck length ``l``):

* every node is a **hub**, a disk of radius ``R``;
* every bond is a **bar** with the half-width profile ``h(s)`` along ``s`` (distance from ``x_i``)::

      h(s) = w/4   for s_rim <= s <= R + l                      (neck: half the bond width)
             w/4 -> w/2 linearly for R + l <= s <= R + l + w/2   (taper, length w/2)
             w/2   up to the mirror image at the far end          (full width)

  It starts on the hub rim: its neck edges meet the circle at ``s_rim = sqrt(R^2 - (w/4)^2)``
  (angles ``alpha +- asin(w / 4R)`` around the node), and the rim arc between them is the interface
  between hub and bond.

The **hub-radius / neck rule** (docs/geometry.md). Seen from a node, every attached feature lies in
a cone of half-angle ``beta``; for a bond::

    beta(w) = max( asin(w / 4R),  atan( (w/2) / (R + l + w/2) ) )

(the neck edge at the rim, and the first full-width corner). Two neighbouring features ``f, g``
whose directions are ``theta`` apart cannot touch if their cones are disjoint,
``beta_f + beta_g < theta``. The defaults make this hold for *every* width up to the upper bound
``w_U`` with a clearance ``c`` (default ``w_U / 8``) between necks at the rim: with ``theta_min`` the
smallest angle between neighbouring bonds at any node (at most 180 degrees)::

    R = max( (w_U/4 + c/2) / sin(theta_min / 2),  w_U / 2 )
    l = max( 0.6 w_U,  max_{w in {w_L, w_U}} [ (w/2 + c/2) / tan(theta_min / 2) - R - w/2 ] )

The paper's lattice (60 degrees, w_U = 2.5 mm, c = 0.3125 mm) gets R = 1.5625 mm and l = 1.5 mm. A
user-given R or l is checked exactly instead: necks must not overlap on the rim (``asin(h_f/R) +
asin(h_g/R) < theta``) and the shapes of neighbouring features must keep a positive distance.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.spatial import cKDTree

from femnn.errors import InputError
from femnn.network import Network
from femnn.part.tags import BOND, EYELET, HUB, TAB  # region kinds are defined once, in tags.py

#: default clearance between neighbouring necks at the hub rim, as a fraction of the upper width bound
CLEARANCE_FRACTION = 1 / 8
#: default neck length, as a fraction of the upper width bound (the paper: 1.5 mm necks on 2.5 mm)
NECK_FRACTION = 0.6
#: printing aids, in units of the hub radius R
TAB_HALF_WIDTH_R = 0.75     # tab width 1.5 R
TAB_END_R = 4.0             # tab reaches 4 R from the node (3 R beyond the rim)
EYELET_STUB_HALF_WIDTH_R = 0.5
EYELET_RING_RADIUS_R = 1.0
EYELET_HOLE_RADIUS_R = 0.5  # ring width 0.5 R
EYELET_CENTRE_R = 2.5       # ring centre 2.5 R from the node (0.5 R gap to the hub)


def circular_segment_area(h, radius):
    """Area between a chord of half-length ``h`` and its minor arc: ``R^2 asin(h/R) - h sqrt(R^2 - h^2)``."""
    h = np.asarray(h, dtype=float)
    return radius**2 * np.arcsin(h / radius) - h * np.sqrt(radius**2 - h**2)


def polygon_area(pts) -> float:
    """Signed shoelace area (positive for counter-clockwise vertices)."""
    p = np.asarray(pts, dtype=float)
    x, y = p[:, 0], p[:, 1]
    return 0.5 * float(np.dot(x, np.roll(y, -1)) - np.dot(np.roll(x, -1), y))


def _angle(v) -> float:
    return math.atan2(v[1], v[0]) % (2 * math.pi)


def _unit(angle: float) -> np.ndarray:
    return np.array([math.cos(angle), math.sin(angle)])


def _point_segment_distance(p, a, b):
    """Vectorised distance from points ``p`` to segments ``a-b`` (all (..., 2))."""
    ab = b - a
    denom = np.einsum("...i,...i->...", ab, ab)
    t = np.where(denom > 0, np.einsum("...i,...i->...", p - a, ab) / np.where(denom > 0, denom, 1), 0.0)
    t = np.clip(t, 0.0, 1.0)
    d = p - (a + t[..., None] * ab)
    return np.hypot(d[..., 0], d[..., 1])


def _cross(u, v):
    return u[..., 0] * v[..., 1] - u[..., 1] * v[..., 0]


def segment_distance(a0, a1, b0, b1):
    """Vectorised distance between 2D segments ``a0-a1`` and ``b0-b1``: 0 if they cross, else the
    smallest of the four end-point-to-segment distances."""
    d1, d2 = _cross(a1 - a0, b0 - a0), _cross(a1 - a0, b1 - a0)
    d3, d4 = _cross(b1 - b0, a0 - b0), _cross(b1 - b0, a1 - b0)
    crossing = (d1 * d2 < 0) & (d3 * d4 < 0)
    d = np.minimum(np.minimum(_point_segment_distance(a0, b0, b1), _point_segment_distance(a1, b0, b1)),
                   np.minimum(_point_segment_distance(b0, a0, a1), _point_segment_distance(b1, a0, a1)))
    return np.where(crossing, 0.0, d)


@dataclass(frozen=True)
class Attachment:
    """A feature leaving a hub through its rim: a bond end, a tab or an eyelet.

    ``angle`` is its direction from the node (rad, [0, 2 pi)), ``rim_half_width_m`` its half-width
    where it crosses the rim, so it occupies the rim arc ``angle +- asin(rim_half_width_m / R)``.
    ``end`` is 0 or 1 for the two ends of a bond (``bonds[index, end]`` is the node), 0 for aids.
    """

    kind: str
    index: int
    end: int
    angle: float
    rim_half_width_m: float


@dataclass(frozen=True)
class Aid:
    """A printing aid at a node: a mounting ``tab`` (fixed nodes) or an ``eyelet`` (loaded nodes).

    The tab is a rectangle of half-width ``half_width_m`` from the hub rim to ``reach_m`` from the
    node along ``angle``. The eyelet is a stub of half-width ``half_width_m`` from the rim to a ring
    of outer radius ``ring_radius_m`` and hole radius ``hole_radius_m`` centred ``reach_m`` from the node.
    """

    kind: str
    node: int
    angle: float
    half_width_m: float
    reach_m: float
    ring_radius_m: float = 0.0
    hole_radius_m: float = 0.0


@dataclass(frozen=True)
class Layout:
    """A validated planar layout: everything the gmsh builder, the exporters and the checks need.

    Attributes
    ----------
    network : Network          the network with the widths that are built
    hub_radius_m, neck_length_m, clearance_m : float
    attachments : tuple of tuple of Attachment
        per node, the features on its rim sorted by angle
    aids : tuple of Aid
    fixed_nodes, load_nodes, output_nodes : (k,) int64
    region_kinds, region_indices : (n_regions,) the regions in build order: hubs, bonds, aids
    region_area_m2 : (n_regions,) float64   exact areas (polygons minus/plus circular segments)
    area_m2 : float                          exact area of the whole planar part
    bbox_m : (2, 2) float64                  [[xmin, ymin], [xmax, ymax]]
    min_neck_width_m : float                 narrowest neck (w/2) and where: ``min_neck_where``
    min_gap_m : float                        narrowest gap between two features (notch at a hub rim
                                             or between non-neighbouring features): ``min_gap_where``
    """

    network: Network
    hub_radius_m: float
    neck_length_m: float
    clearance_m: float
    attachments: tuple
    aids: tuple
    fixed_nodes: np.ndarray
    load_nodes: np.ndarray
    output_nodes: np.ndarray
    region_kinds: tuple
    region_indices: np.ndarray
    region_area_m2: np.ndarray
    area_m2: float
    bbox_m: np.ndarray
    min_neck_width_m: float
    min_neck_where: str
    min_gap_m: float
    min_gap_where: str
    hub_radius_source: str = "default"
    neck_length_source: str = "default"
    bond_lengths_m: np.ndarray = None
    bond_units: np.ndarray = None

    def __post_init__(self):
        if self.bond_lengths_m is None:
            object.__setattr__(self, "bond_lengths_m", self.network.lengths_m)
        if self.bond_units is None:
            object.__setattr__(self, "bond_units", self.network.unit_vectors)
        for name in ("fixed_nodes", "load_nodes", "output_nodes", "region_indices", "region_area_m2", "bbox_m",
                     "bond_lengths_m", "bond_units"):
            arr = np.array(getattr(self, name))
            arr.flags.writeable = False
            object.__setattr__(self, name, arr)

    # -- per-bond profile ------------------------------------------------------------------
    @property
    def taper_length_m(self) -> np.ndarray:
        """(n_bonds,) taper lengths w/2 (neck width to full width)."""
        return self.network.widths_m / 2

    def bond_sides(self, b: int) -> tuple[np.ndarray, np.ndarray]:
        """Corner points of bond ``b``'s outline: the right side (seen from node i) from the rim of
        hub i to the rim of hub j, and the left side back; each (6, 2). The ends of each side are
        the rim points (on the hub circles)."""
        net = self.network
        i, j = net.bonds[b]
        w, L = net.widths_m[b], self.bond_lengths_m[b]
        n = self.bond_units[b]
        p = np.array([-n[1], n[0]])
        R, h = self.hub_radius_m, w / 4
        s_rim = math.sqrt(R * R - h * h)
        s1 = R + self.neck_length_m
        s2 = s1 + w / 2
        prof = [(s_rim, h), (s1, h), (s2, w / 2), (L - s2, w / 2), (L - s1, h), (L - s_rim, h)]
        x = net.nodes_m[i]
        right = np.array([x + s * n - hh * p for s, hh in prof])
        left = np.array([x + s * n + hh * p for s, hh in prof[::-1]])
        return right, left

    def aid_outline(self, aid: Aid) -> dict:
        """Key points of an aid: rim points, side end points, ring centre (SI, 2D)."""
        R = self.hub_radius_m
        x = self.network.nodes_m[aid.node]
        n = _unit(aid.angle)
        p = np.array([-n[1], n[0]])
        h = aid.half_width_m
        s_rim = math.sqrt(R * R - h * h)
        out = {"rim_right": x + s_rim * n - h * p, "rim_left": x + s_rim * n + h * p, "n": n, "p": p}
        if aid.kind == TAB:
            out["end_right"] = x + aid.reach_m * n - h * p
            out["end_left"] = x + aid.reach_m * n + h * p
        else:
            c = x + aid.reach_m * n
            back = math.sqrt(aid.ring_radius_m**2 - h * h)
            out["centre"] = c
            out["end_right"] = c - back * n - h * p
            out["end_left"] = c - back * n + h * p
        return out

    @property
    def n_regions(self) -> int:
        return len(self.region_kinds)


# ---------------------------------------------------------------------------------------------
# the rule
# ---------------------------------------------------------------------------------------------
def bond_directions(network: Network) -> list[list[tuple[float, int, int]]]:
    """Per node, ``(angle, bond, end)`` of every bond leaving it, sorted by angle (rad in [0, 2 pi))."""
    out: list[list] = [[] for _ in range(network.n_nodes)]
    U = network.unit_vectors
    for b, (i, j) in enumerate(network.bonds):
        out[i].append((_angle(U[b]), b, 0))
        out[j].append((_angle(-U[b]), b, 1))
    return [sorted(v) for v in out]


def smallest_angles(network: Network) -> np.ndarray:
    """(n_nodes,) smallest angle between angularly neighbouring bonds at each node, capped at pi
    (a node with one bond gets pi)."""
    res = np.full(network.n_nodes, math.pi)
    for a, feats in enumerate(bond_directions(network)):
        if len(feats) > 1:
            ang = np.array([f[0] for f in feats])
            gaps = np.diff(np.append(ang, ang[0] + 2 * math.pi))
            res[a] = min(math.pi, float(gaps.min()))
    return res


def default_clearance(network: Network) -> float:
    """Clearance between neighbouring necks at the hub rim: ``w_U / 8`` (0.31 mm for the paper)."""
    return CLEARANCE_FRACTION * float(network.width_bounds_m[1])


def default_hub_radius(network: Network, clearance_m: float | None = None) -> float:
    """``R = max((w_U/4 + c/2) / sin(theta_min/2), w_U/2)`` over all nodes (see the module docstring)."""
    c = default_clearance(network) if clearance_m is None else float(clearance_m)
    wU = float(network.width_bounds_m[1])
    theta = float(smallest_angles(network).min())
    return max((wU / 4 + c / 2) / math.sin(theta / 2), wU / 2)


def default_neck_length(network: Network, hub_radius_m: float, clearance_m: float | None = None) -> float:
    """``l = max(0.6 w_U, max_w [(w/2 + c/2)/tan(theta_min/2) - R - w/2])``, ``w`` in the width bounds."""
    c = default_clearance(network) if clearance_m is None else float(clearance_m)
    wL, wU = (float(v) for v in network.width_bounds_m)
    theta = float(smallest_angles(network).min())
    need = 0.0
    if theta < math.pi:
        need = max((w / 2 + c / 2) / math.tan(theta / 2) - hub_radius_m - w / 2 for w in (wL, wU))
    return max(NECK_FRACTION * wU, need)


def bond_cone(width_m, hub_radius_m: float, neck_length_m: float):
    """Half-angle of the cone, seen from a node, that holds a bond of width ``w``:
    ``max(asin(w/4R), atan((w/2)/(R + l + w/2)))``."""
    w = np.asarray(width_m, dtype=float)
    R = hub_radius_m
    rim = np.arcsin(np.minimum(w / (4 * R), 1.0))
    full = np.arctan((w / 2) / (R + neck_length_m + w / 2))
    return np.maximum(rim, full)


def _aid_cone(aid_kind: str, R: float) -> float:
    if aid_kind == TAB:
        return math.asin(TAB_HALF_WIDTH_R)
    return max(math.asin(EYELET_STUB_HALF_WIDTH_R), math.asin(EYELET_RING_RADIUS_R / EYELET_CENTRE_R))


def required_hub_radius(w_f: float, w_g: float, theta: float, neck_length_m: float) -> float:
    """Smallest hub radius at which two bonds of widths ``w_f, w_g`` that are ``theta`` apart have
    disjoint cones (bisection; inf if even a huge hub cannot separate them)."""
    def ok(R):
        return float(bond_cone(w_f, R, neck_length_m) + bond_cone(w_g, R, neck_length_m)) < theta

    lo, hi = max(w_f, w_g) / 4, max(w_f, w_g) * 1e3
    if not ok(hi):
        return math.inf
    for _ in range(80):
        mid = 0.5 * (lo + hi)
        lo, hi = (lo, mid) if ok(mid) else (mid, hi)
    return hi


# ---------------------------------------------------------------------------------------------
# building the layout
# ---------------------------------------------------------------------------------------------
def _place_aid(kind, node, feats_cones, preferred, R, margin, src):
    """Direction for an aid at ``node``: ``preferred`` if its cone fits between the neighbours'
    cones (with an angular ``margin``), else the middle of the widest free angular interval."""
    beta = _aid_cone(kind, R)
    ang = np.array([f[0] for f in feats_cones])
    cone = np.array([f[1] for f in feats_cones])
    order = np.argsort(ang)
    ang, cone = ang[order], cone[order]
    starts = (ang + cone) % (2 * math.pi)
    ends = np.roll(ang - cone, -1) % (2 * math.pi)
    free = (ends - starts) % (2 * math.pi)
    if len(ang) == 1:
        free = np.array([2 * math.pi - 2 * cone[0]])

    def fits(d):
        for s, f in zip(starts, free):
            off = (d - s) % (2 * math.pi)
            if off - beta >= margin and off + beta <= f - margin:
                return True
        return False

    if preferred is not None and fits(preferred):
        return preferred
    k = int(np.argmax(free))
    d = (starts[k] + free[k] / 2) % (2 * math.pi)
    if not fits(d):
        raise InputError(src, f"node {node}", f"no room for a {kind} between the bonds at this node "
                         f"(widest free angle {math.degrees(free[k]):.0f} deg, the {kind} needs "
                         f"{math.degrees(2 * beta + 2 * margin):.0f} deg); build without --{kind}s")
    return d


def _bond_end_segments(net: Network, L, U, R: float, ell: float) -> np.ndarray:
    """(n_bonds, 2, 6, 2, 2): for each bond end, the 6 side segments of the bond from that hub's rim
    to the bond's middle (rim -> neck end -> full width -> middle, both sides)."""
    W = net.widths_m
    h = W / 4
    s_rim = np.sqrt(np.maximum(R * R - h * h, 0.0))
    s1 = np.full_like(W, R + ell)
    s2 = s1 + W / 2
    prof_s = np.stack([s_rim, s1, s2, np.maximum(L / 2, s2)], axis=1)
    prof_h = np.stack([h, h, W / 2, W / 2], axis=1)
    out = np.empty((net.n_bonds, 2, 6, 2, 2))
    for end in (0, 1):
        x = net.nodes_m[net.bonds[:, end]]
        n = U * (1 if end == 0 else -1)
        p = np.stack([-n[:, 1], n[:, 0]], axis=1)
        sides = []
        for sgn in (-1, 1):
            pts = x[:, None, :] + prof_s[..., None] * n[:, None, :] + sgn * prof_h[..., None] * p[:, None, :]
            sides.append(np.stack([pts[:, :-1], pts[:, 1:]], axis=2))
        out[:, end] = np.concatenate(sides, axis=1)
    return out


def _aid_shape(aid: Aid, x, R: float):
    """Segments (k, 2, 2) and disks (m, 3) of an aid near its node."""
    n = _unit(aid.angle)
    p = np.array([-n[1], n[0]])
    h = aid.half_width_m
    s_rim = math.sqrt(R * R - h * h)
    if aid.kind == TAB:
        c = [x + s_rim * n - h * p, x + aid.reach_m * n - h * p, x + aid.reach_m * n + h * p, x + s_rim * n + h * p]
        return np.array([(c[0], c[1]), (c[1], c[2]), (c[2], c[3])]), np.zeros((0, 3))
    cen = x + aid.reach_m * n
    back = math.sqrt(aid.ring_radius_m**2 - h * h)
    segs = [(x + s_rim * n + sg * h * p, cen - back * n + sg * h * p) for sg in (-1, 1)]
    return np.array(segs), np.array([[cen[0], cen[1], aid.ring_radius_m]])


def _feature_distance(sa, da, sb, db) -> float:
    """Smallest distance between two features given as segments and disks."""
    best = math.inf
    if len(sa) and len(sb):
        A0, A1 = sa[:, None, 0], sa[:, None, 1]
        B0, B1 = sb[None, :, 0], sb[None, :, 1]
        best = min(best, float(segment_distance(A0, A1, B0, B1).min()))
    for segs, disks in ((sa, db), (sb, da)):
        for cx, cy, r in disks:
            if len(segs):
                d = _point_segment_distance(np.array([cx, cy]), segs[:, 0], segs[:, 1]) - r
                best = min(best, float(d.min()))
    for cx, cy, r in da:
        for ex, ey, q in db:
            best = min(best, math.hypot(cx - ex, cy - ey) - r - q)
    return best


def _describe(att: Attachment, net: Network) -> str:
    if att.kind == BOND:
        return f"bond {att.index} ({net.widths_m[att.index] * 1e3:.3g} mm)"
    return f"the {att.kind}"


def make_layout(network: Network, *, hub_radius_m: float | None = None, neck_length_m: float | None = None,
                clearance_m: float | None = None, fixed_nodes=None, load_nodes=None, output_nodes=None,
                load_directions: dict | None = None, tabs: bool = False, eyelets: bool = False,
                source: str | None = None) -> Layout:
    """Derive and validate the layout of ``network`` (its ``widths_m`` are the widths built).

    Parameters
    ----------
    hub_radius_m, neck_length_m : float, optional
        Defaults from the rule in the module docstring (from the width *bounds* and the angles).
    clearance_m : float, optional
        Rim clearance used by the defaults (``w_U / 8``).
    fixed_nodes, load_nodes, output_nodes : sequence of int, optional
        Roles of the hubs (fixed default: ``network.fixed``).
    load_directions : dict node -> angle (rad), optional
        Preferred eyelet directions (the load direction, so a weight hangs straight).
    tabs, eyelets : bool
        Add a mounting tab at every fixed node / an eyelet at every loaded node.

    Raises
    ------
    InputError
        Overlapping necks or features (with the hub radius that would fix it), a bond too short for
        its hubs and necks, a node without bonds, a neck wider than the hub.
    """
    net = network
    src = source or net.source
    c, R, ell, R_src, l_src = _sizes(net, src, hub_radius_m, neck_length_m, clearance_m)
    fixed = np.asarray(net.fixed if fixed_nodes is None else fixed_nodes, dtype=np.int64)
    loads = np.unique(np.asarray([] if load_nodes is None else load_nodes, dtype=np.int64))
    outs = np.unique(np.asarray([] if output_nodes is None else output_nodes, dtype=np.int64))
    aids = _place_aids(net, fixed, loads, tabs, eyelets, load_directions, R, ell, c, src)
    atts = _attachments(net, aids)
    gaps = _check_at_nodes(net, atts, aids, R, ell, src)
    gaps += _check_apart(net, aids, R, src)
    return _regions(net, R, ell, c, atts, aids, fixed, loads, outs, gaps, R_src, l_src)


def _sizes(net: Network, src: str, hub_radius_m, neck_length_m, clearance_m):
    """Step 1: check widths and degrees; the clearance, hub radius and neck length (given or default)."""
    if np.any(net.widths_m <= 0):
        b = int(np.flatnonzero(net.widths_m <= 0)[0])
        raise InputError(src, f"widths_m[{b}]", f"{net.widths_m[b]} m must be > 0")
    deg = np.bincount(net.bonds.ravel(), minlength=net.n_nodes)
    if np.any(deg == 0):
        a = int(np.flatnonzero(deg == 0)[0])
        raise InputError(src, f"node {a}", "has no bonds; its hub would float free of the part; remove the node")
    c = default_clearance(net) if clearance_m is None else float(clearance_m)
    R_src = "default" if hub_radius_m is None else "given"
    l_src = "default" if neck_length_m is None else "given"
    R = default_hub_radius(net, c) if hub_radius_m is None else float(hub_radius_m)
    ell = default_neck_length(net, R, c) if neck_length_m is None else float(neck_length_m)
    if not (R > 0 and math.isfinite(R)):
        raise InputError(src, "hub_radius", f"{R} m must be > 0")
    if not (ell >= 0 and math.isfinite(ell)):
        raise InputError(src, "neck_length", f"{ell} m must be >= 0")
    W, Lb = net.widths_m, net.lengths_m
    hmax = int(np.argmax(W))
    if W[hmax] / 4 >= R:
        raise InputError(src, f"widths_m[{hmax}]", f"neck half-width {W[hmax] / 4 * 1e3:.3g} mm is not smaller than "
                         f"the hub radius {R * 1e3:.3g} mm; use a larger hub radius")
    s2 = R + ell + W / 2
    short = np.flatnonzero(Lb <= 2 * s2)
    if short.size:
        b = int(short[np.argmin(Lb[short] - 2 * s2[short])])
        raise InputError(src, f"bonds[{b}]", f"length {Lb[b] * 1e3:.3g} mm is too short for hub radius {R * 1e3:.3g} mm, "
                         f"neck {ell * 1e3:.3g} mm and taper {W[b] / 2 * 1e3:.3g} mm at both ends "
                         f"(needs > {2 * s2[b] * 1e3:.3g} mm); use a smaller hub radius or neck length")
    return c, R, ell, R_src, l_src


def _place_aids(net: Network, fixed, loads, tabs: bool, eyelets: bool, load_directions, R, ell, c, src) -> list:
    """Step 2: the printing aids (a tab at every fixed node, an eyelet at every loaded node), each placed in
    the widest free angle between the bonds at its hub."""
    dirs = bond_directions(net)
    cones = bond_cone(net.widths_m, R, ell)
    margin = 2 * math.asin(min(c / (2 * R), 1.0))
    aids: list[Aid] = []
    for kind, nodes, on in ((TAB, fixed, tabs), (EYELET, loads, eyelets)):
        if not on:
            continue
        for a in nodes.tolist():
            fc = [(ang, float(cones[b])) for ang, b, _ in dirs[a]]
            pref = (load_directions or {}).get(a) if kind == EYELET else None
            d = _place_aid(kind, a, fc, pref, R, margin, src)
            if kind == TAB:
                aids.append(Aid(TAB, a, d, TAB_HALF_WIDTH_R * R, TAB_END_R * R))
            else:
                aids.append(Aid(EYELET, a, d, EYELET_STUB_HALF_WIDTH_R * R, EYELET_CENTRE_R * R,
                                EYELET_RING_RADIUS_R * R, EYELET_HOLE_RADIUS_R * R))
    return aids


def _attachments(net: Network, aids) -> list:
    """Step 3: what attaches to each hub rim (bond ends and aids), sorted by angle."""
    W = net.widths_m
    dirs = bond_directions(net)
    aids_by_node = {ad.node: ad for ad in aids}
    atts = []
    for a in range(net.n_nodes):
        lst = [Attachment(BOND, b, end, ang, float(W[b] / 4)) for ang, b, end in dirs[a]]
        if a in aids_by_node:
            ad = aids_by_node[a]
            lst.append(Attachment(ad.kind, a, 0, ad.angle, ad.half_width_m))
        atts.append(tuple(sorted(lst, key=lambda t: t.angle)))
    return atts


def _check_at_nodes(net: Network, atts, aids, R, ell, src) -> list:
    """Step 4: at every hub, neighbouring attachments must not overlap at the rim nor touch each other;
    returns the narrowest gap found there as [(gap_m, where)]."""
    W = net.widths_m
    aids_by_node = {ad.node: ad for ad in aids}
    L_all, U = net.lengths_m, net.unit_vectors
    bond_segs = _bond_end_segments(net, L_all, U, R, ell)

    def shape(att: Attachment, node: int):
        if att.kind == BOND:
            return bond_segs[att.index, att.end], np.zeros((0, 3))
        return _aid_shape(aids_by_node[node], net.nodes_m[node], R)

    pair_f, pair_g, pair_node, pair_theta = [], [], [], []
    for a, lst in enumerate(atts):
        if len(lst) < 2:
            continue
        pairs = [(k, (k + 1) % len(lst)) for k in range(len(lst))] if len(lst) > 2 else [(0, 1)]
        for k, m in pairs:
            f, g = lst[k], lst[m]
            theta = (g.angle - f.angle) % (2 * math.pi)
            if len(lst) == 2:
                theta = min(theta, 2 * math.pi - theta)
            pair_f.append(f); pair_g.append(g); pair_node.append(a); pair_theta.append(theta)
    theta = np.array(pair_theta)
    hf = np.array([f.rim_half_width_m for f in pair_f])
    hg = np.array([g.rim_half_width_m for g in pair_g])
    rim_span = theta - np.arcsin(np.minimum(hf / R, 1)) - np.arcsin(np.minimum(hg / R, 1))
    dist = np.full(len(pair_f), -1.0)
    both = np.array([f.kind == BOND and g.kind == BOND for f, g in zip(pair_f, pair_g)], dtype=bool)
    ok = rim_span > 0
    sel = np.flatnonzero(both & ok)
    if sel.size:
        Sf = np.array([bond_segs[pair_f[k].index, pair_f[k].end] for k in sel])
        Sg = np.array([bond_segs[pair_g[k].index, pair_g[k].end] for k in sel])
        dist[sel] = segment_distance(Sf[:, :, None, 0], Sf[:, :, None, 1], Sg[:, None, :, 0], Sg[:, None, :, 1]).min(axis=(1, 2))
    for k in np.flatnonzero(~both & ok):
        dist[k] = _feature_distance(*shape(pair_f[k], pair_node[k]), *shape(pair_g[k], pair_node[k]))
    bad = np.flatnonzero((rim_span <= 0) | (dist <= 1e-9 * R))
    if bad.size:
        k = int(bad[0])
        f, g, a, th = pair_f[k], pair_g[k], pair_node[k], theta[k]
        fix = ""
        if f.kind == BOND and g.kind == BOND:
            need = required_hub_radius(W[f.index], W[g.index], th, ell)
            fix = (f"; use a hub radius larger than {need * 1e3:.3g} mm (or the default, derived from the width bounds)"
                   if math.isfinite(need) else "; no hub radius separates them: narrow the bonds")
        raise InputError(src, f"node {a}", f"{_describe(f, net)} and {_describe(g, net)} are "
                         f"{math.degrees(th):.0f} deg apart and overlap at the hub rim with hub radius "
                         f"{R * 1e3:.3g} mm and neck length {ell * 1e3:.3g} mm{fix}")
    gaps = []
    if len(dist):
        k = int(np.argmin(dist))
        gaps.append((float(dist[k]), f"node {pair_node[k]}, between {_describe(pair_f[k], net)} and {_describe(pair_g[k], net)}"))
    return gaps


def _check_apart(net: Network, aids, R, src) -> list:
    """Step 5: features that share no node (capsules: segment and radius) must stay apart; returns the
    narrowest gap between them as [(gap_m, where)]."""
    W = net.widths_m
    gaps = []
    caps_a, caps_b, caps_r, caps_nodes, caps_name = [], [], [], [], []
    X = net.nodes_m
    U = net.unit_vectors
    for a in range(net.n_nodes):
        caps_a.append(X[a]); caps_b.append(X[a]); caps_r.append(R); caps_nodes.append((a,)); caps_name.append(f"hub {a}")
    for b, (i, j) in enumerate(net.bonds):
        caps_a.append(X[i] + R * U[b]); caps_b.append(X[j] - R * U[b]); caps_r.append(W[b] / 2)
        caps_nodes.append((int(i), int(j))); caps_name.append(f"bond {b}")
    for ad in aids:
        n = _unit(ad.angle)
        tip_r = ad.ring_radius_m if ad.kind == EYELET else ad.half_width_m
        caps_a.append(X[ad.node] + R * n); caps_b.append(X[ad.node] + ad.reach_m * n)
        caps_r.append(tip_r); caps_nodes.append((ad.node,)); caps_name.append(f"{ad.kind} at node {ad.node}")
    A, B, Rc = np.array(caps_a), np.array(caps_b), np.array(caps_r)
    mid = 0.5 * (A + B)
    reach = 0.5 * np.hypot(*(B - A).T) + Rc
    pairs = cKDTree(mid).query_pairs(2 * float(reach.max()), output_type="ndarray")
    if len(pairs):
        cn = np.array([t if len(t) == 2 else (t[0], -1) for t in caps_nodes])
        nu, nv = cn[pairs[:, 0]], cn[pairs[:, 1]]
        share = ((nu[:, :, None] == nv[:, None, :]) & (nu[:, :, None] >= 0)).any(axis=(1, 2))
        pairs = pairs[~share]
    if len(pairs):
        u, v = pairs[:, 0], pairs[:, 1]
        d = segment_distance(A[u], B[u], A[v], B[v]) - Rc[u] - Rc[v]
        k = int(np.argmin(d))
        if d[k] <= 0:
            raise InputError(src, f"{caps_name[u[k]]}", f"overlaps {caps_name[v[k]]} (they share no node); "
                             f"move the nodes apart, narrow the bonds or use a smaller hub radius")
        gaps.append((float(d[k]), f"between {caps_name[u[k]]} and {caps_name[v[k]]}"))
    return gaps


def _regions(net: Network, R, ell, c, atts, aids, fixed, loads, outs, gaps, R_src, l_src) -> Layout:
    """Step 6: the regions (hubs, bonds, aids) with their exact areas, the bounding box, the thinnest
    feature and the narrowest gap -> the :class:`Layout`."""
    W, L_all, U, X = net.widths_m, net.lengths_m, net.unit_vectors, net.nodes_m
    kinds = [HUB] * net.n_nodes + [BOND] * net.n_bonds + [ad.kind for ad in aids]
    idx = list(range(net.n_nodes)) + list(range(net.n_bonds)) + [ad.node for ad in aids]
    areas = [math.pi * R * R] * net.n_nodes
    lay_tmp = Layout(net, R, ell, c, tuple(atts), tuple(aids), fixed, loads, outs, tuple(kinds), np.array(idx),
                     np.zeros(len(kinds)), 0.0, np.zeros((2, 2)), 0.0, "", 0.0, "", bond_lengths_m=L_all, bond_units=U)
    pts_all = [X - R, X + R]
    seg = circular_segment_area(W / 4, R)
    for b in range(net.n_bonds):
        right, left = lay_tmp.bond_sides(b)
        poly = np.vstack([right, left])
        areas.append(polygon_area(poly) - 2 * float(seg[b]))
        pts_all.append(poly)
    for ad in aids:
        o = lay_tmp.aid_outline(ad)
        poly = np.array([o["rim_right"], o["end_right"], o["end_left"], o["rim_left"]])
        ar = polygon_area(poly) - float(circular_segment_area(ad.half_width_m, R))
        if ad.kind == EYELET:
            ro, ri = ad.ring_radius_m, ad.hole_radius_m
            ar += math.pi * ro * ro - float(circular_segment_area(ad.half_width_m, ro)) - math.pi * ri * ri
            pts_all += [o["centre"][None] - ro, o["centre"][None] + ro]
        pts_all.append(poly)
        areas.append(ar)
    P = np.vstack(pts_all)
    bbox = np.array([P.min(axis=0), P.max(axis=0)])

    necks = W / 2
    kmin = int(np.argmin(necks))
    neck_min, neck_where = float(necks[kmin]), f"bond {kmin} (width {W[kmin] * 1e3:.3g} mm)"
    for ad in aids:
        thin = 2 * ad.half_width_m if ad.kind == TAB else min(2 * ad.half_width_m, ad.ring_radius_m - ad.hole_radius_m)
        if thin < neck_min:
            neck_min, neck_where = thin, f"the {ad.kind} at node {ad.node}"
    gap_min, gap_where = (min(gaps, key=lambda g: g[0]) if gaps else (math.inf, ""))
    return Layout(net, R, ell, c, tuple(atts), tuple(aids), fixed, loads, outs, tuple(kinds), np.array(idx),
                  np.array(areas), float(np.sum(areas)), bbox, neck_min, neck_where, float(gap_min), gap_where,
                  hub_radius_source=R_src, neck_length_source=l_src, bond_lengths_m=L_all, bond_units=U)
