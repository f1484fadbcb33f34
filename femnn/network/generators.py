"""Network generators: the paper's triangular lattice at any size, and two more families.

All return ``(nodes_m, bonds, fixed)`` or a :class:`Network`; bonds are every nearest-neighbour
pair, found with a k-d tree (O(n log n)), sorted by (i, j) with i < j.

* :func:`triangular` - Li & Mao's trapezoid: ``rows`` rows holding rows+1, rows, ..., 2 nodes,
  node order row by row from the top, right to left inside a row; position
  ``p = -j a1 - i a2`` with ``a1 = (a, 0)``, ``a2 = (a/2, a sqrt(3)/2)``; the two top corners fixed.
  ``rows = 4`` is the paper's 14-node, 28-bond network.
* :func:`square_diagonal` - an nx-by-ny square lattice with one diagonal per cell (rigid); top row
  corners fixed.
* :func:`diluted_triangular` - the triangular trapezoid with a seeded random fraction of bonds
  removed (may create mechanisms: femnn reports them).
"""

from __future__ import annotations

import numpy as np
from scipy.spatial import cKDTree

from femnn.errors import InputError
from femnn.network._model import Material, Network


def nearest_neighbour_bonds(nodes_m: np.ndarray, spacing_m: float, tol: float = 1e-6) -> np.ndarray:
    """(n_bonds, 2) pairs of nodes at distance ``spacing_m`` (relative tolerance ``tol``), sorted."""
    tree = cKDTree(nodes_m)
    pairs = tree.query_pairs(spacing_m * (1 + tol), output_type="ndarray")
    d = np.linalg.norm(nodes_m[pairs[:, 1]] - nodes_m[pairs[:, 0]], axis=1)
    pairs = pairs[d > spacing_m * (1 - tol)]
    pairs = np.sort(pairs, axis=1)
    return pairs[np.lexsort((pairs[:, 1], pairs[:, 0]))].astype(np.int64)


def triangular(rows: int = 4, spacing_m: float = 0.016):
    """The paper's trapezoidal triangular lattice (see module docstring)."""
    if rows < 2:
        raise ValueError("a triangular lattice needs rows >= 2")
    a1 = np.array([spacing_m, 0.0])
    a2 = np.array([spacing_m / 2, spacing_m * np.sqrt(3) / 2])
    i = np.concatenate([np.full(rows + 1 - r, r) for r in range(rows)])
    j = np.concatenate([np.arange(rows + 1 - r) for r in range(rows)])
    nodes = -j[:, None] * a1 - i[:, None] * a2
    nodes[np.abs(nodes) < 1e-15 * spacing_m] = 0.0
    fixed = np.array([0, rows], dtype=np.int64)
    return nodes, nearest_neighbour_bonds(nodes, spacing_m), fixed


def square_diagonal(nx: int = 4, ny: int = 4, spacing_m: float = 0.016):
    """Square lattice of (nx+1) x (ny+1) nodes, one diagonal per cell; the two top corners fixed.

    Node (c, r) (column c from the left, row r from the top) has index r*(nx+1) + c at (c a, -r a).
    """
    c, r = np.meshgrid(np.arange(nx + 1), np.arange(ny + 1))
    nodes = np.column_stack([c.ravel() * spacing_m, -r.ravel() * spacing_m]).astype(float)
    nodes[nodes == 0] = 0.0
    bonds = nearest_neighbour_bonds(nodes, spacing_m)
    idx = lambda cc, rr: rr * (nx + 1) + cc  # noqa: E731
    cc, rr = np.meshgrid(np.arange(nx), np.arange(ny))
    diag = np.column_stack([idx(cc.ravel(), rr.ravel()), idx(cc.ravel() + 1, rr.ravel() + 1)])
    bonds = np.vstack([bonds, diag])
    bonds = bonds[np.lexsort((bonds[:, 1], bonds[:, 0]))]
    return nodes, bonds.astype(np.int64), np.array([0, nx], dtype=np.int64)


def diluted_triangular(rows: int = 6, spacing_m: float = 0.016, remove_fraction: float = 0.1, seed: int = 0):
    """Triangular trapezoid with ``round(remove_fraction * n_bonds)`` bonds removed at random (seeded)."""
    nodes, bonds, fixed = triangular(rows, spacing_m)
    rng = np.random.default_rng(seed)
    n_remove = int(round(remove_fraction * bonds.shape[0]))
    keep = np.sort(rng.permutation(bonds.shape[0])[n_remove:])
    return nodes, bonds[keep], fixed


GENERATORS = {"triangular": triangular, "square-diagonal": square_diagonal, "diluted-triangular": diluted_triangular}


def make_network(kind: str = "triangular", *, thickness_m=2e-3, width_m=2e-3, width_bounds_m=(1.5e-3, 2.5e-3),
                 material: Material | None = None, name: str | None = None, **params) -> Network:
    """A :class:`Network` from a generator (defaults: the paper's material, thickness and widths)."""
    if kind not in GENERATORS:
        raise ValueError(f"unknown generator {kind!r}; known: {sorted(GENERATORS)}")
    nodes, bonds, fixed = GENERATORS[kind](**params)
    return Network(nodes, bonds, fixed, np.full(bonds.shape[0], width_m), np.asarray(width_bounds_m), thickness_m,
                   material or Material(), name=name or kind)


# bytes per node of a generated network, measured loosely: coordinates and k-d tree (~100 B), three
# bonds per node (int64 pairs, widths, sorting copies: ~200 B) and the network file's text (~150 B)
BYTES_PER_NODE = 500


def n_nodes_of(kind: str, params: dict) -> int:
    """Number of nodes ``kind`` makes with ``params`` (without building it)."""
    if kind == "square-diagonal":
        return (int(params.get("nx", 4)) + 1) * (int(params.get("ny", 4)) + 1)
    rows = int(params.get("rows", 4 if kind == "triangular" else 6))
    return sum(rows + 1 - r for r in range(rows)) if rows < 10_000 else (rows + 1) * (rows + 2) // 2 - 1


def available_memory_bytes() -> int:
    """MemAvailable from /proc/meminfo (Linux), else 8 GiB."""
    try:
        for line in open("/proc/meminfo"):
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 8 << 30


def check_size(kind: str, params: dict, src: str, fld: str, fraction: float = 0.5) -> int:
    """Refuse a generated network whose estimated memory exceeds ``fraction`` of the available memory."""
    n = n_nodes_of(kind, params)
    need = n * BYTES_PER_NODE
    have = available_memory_bytes()
    if need > fraction * have:
        raise InputError(src, fld, f"{kind} with {params} has {n:.3g} nodes and needs about {need / 2**30:.3g} GiB of memory, "
                         f"more than half of the {have / 2**30:.3g} GiB available; choose a smaller lattice")
    return n


_PARAM_CHECKS = {
    "rows": dict(lo=2, integer=True), "nx": dict(lo=1, integer=True), "ny": dict(lo=1, integer=True),
    "seed": dict(lo=0, integer=True), "remove_fraction": dict(lo=0.0, hi=1.0, hi_open=True),
    "spacing": dict(lo=0.0, lo_open=True),
}


def from_spec(spec: dict, src: str, length_scale: float = 1.0, path: str = "generator"):
    """``[generator]`` table of a network file -> (nodes_m, bonds, fixed). Lengths in the file's unit."""
    import inspect

    from femnn.network._reader import Table

    kind = Table(spec, src, path).string("kind", choices=sorted(GENERATORS))
    allowed = (set(inspect.signature(GENERATORS[kind]).parameters) - {"spacing_m"}) | {"spacing", "kind"}
    tbl = Table(spec, src, path, sorted(allowed))
    params = {k: tbl.number(k, **_PARAM_CHECKS[k]) for k in spec if k != "kind"}
    if "spacing" in params:
        params["spacing_m"] = float(params.pop("spacing")) * length_scale
    check_size(kind, params, src, path)
    try:
        return GENERATORS[kind](**params)
    except (TypeError, ValueError) as exc:
        raise InputError(src, path, str(exc)) from None
