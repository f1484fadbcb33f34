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


def from_spec(spec: dict, src: str, length_scale: float = 1.0):
    """``[generator]`` table of a network file -> (nodes_m, bonds, fixed). Lengths in the file's unit."""
    kind = spec.get("kind")
    if kind not in GENERATORS:
        raise InputError(src, "generator.kind", f"{kind!r}; expected one of {sorted(GENERATORS)}")
    params = {k: v for k, v in spec.items() if k != "kind"}
    if "spacing" in params:
        params["spacing_m"] = float(params.pop("spacing")) * length_scale
    import inspect

    allowed = set(inspect.signature(GENERATORS[kind]).parameters)
    for k in params:
        if k not in allowed:
            raise InputError(src, f"generator.{k}", f"unknown parameter for {kind!r}; known: {sorted(allowed - {'spacing_m'}) + ['spacing']}")
    try:
        return GENERATORS[kind](**params)
    except (TypeError, ValueError) as exc:
        raise InputError(src, "generator", str(exc)) from None
