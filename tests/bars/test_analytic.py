"""The bar model against closed-form trusses."""

import numpy as np
import pytest

from femnn.bars import BarModel
from femnn.network import Material, Network, load_task

E, T = 5.5e5, 2e-3


def net(nodes, bonds, fixed, widths):
    w = np.asarray(widths, float)
    return Network(nodes, bonds, fixed, w, [w.min(), w.max()], T, Material(youngs_modulus_Pa=E))


@pytest.mark.parametrize("backend", ["dense", "splu", "pardiso"])
def test_single_bar(backend):
    """One bar along x, node 0 clamped, node 1 held in y by a stiff perpendicular bar:
    u_x = F L / (E A), A = w t."""
    L, w, F = 0.02, 2e-3, 0.05
    n = net([[0, 0], [L, 0], [L, -L]], [[0, 1], [1, 2]], [0, 2], [w, w])
    Fv = np.zeros((3, 2))
    Fv[1, 0] = F
    u = BarModel(n, backend=backend).solve(Fv).u
    assert np.isclose(u[1, 0], F * L / (E * w * T), rtol=1e-12)
    assert abs(u[1, 1]) < 1e-15


def test_springs_in_series_and_parallel():
    """Series: 1/k = 1/k1 + 1/k2 (two collinear bars); parallel: k = k1 + k2 (two bars side by side,
    here two collinear chains 0-1 and 1-2 pulled at the middle from both ends: k = k1 + k2)."""
    L, F = 0.016, 0.01
    w1, w2 = 1.5e-3, 2.5e-3
    k1, k2 = E * w1 * T / L, E * w2 * T / L
    # series: 0 (fixed) - 1 - 2, load at 2; y restrained by perpendicular bars to fixed nodes 3, 4
    n = net([[0, 0], [L, 0], [2 * L, 0], [L, -L], [2 * L, -L]], [[0, 1], [1, 2], [1, 3], [2, 4]], [0, 3, 4], [w1, w2, 2e-3, 2e-3])
    Fv = np.zeros((5, 2))
    Fv[2, 0] = F
    u = BarModel(n).solve(Fv).u
    assert np.isclose(u[2, 0], F * (1 / k1 + 1 / k2), rtol=1e-12)
    # parallel: 0 (fixed) - 1 - 2 (fixed), load at 1
    n = net([[0, 0], [L, 0], [2 * L, 0], [L, -L]], [[0, 1], [1, 2], [1, 3]], [0, 2, 3], [w1, w2, 2e-3])
    Fv = np.zeros((4, 2))
    Fv[1, 0] = F
    u = BarModel(n).solve(Fv).u
    assert np.isclose(u[1, 0], F / (k1 + k2), rtol=1e-12)


def test_symmetric_truss_stays_symmetric():
    """The paper's network is mirror-symmetric about x = -2a; a load at the mirror-symmetric node 10
    gives u_y[12] = u_y[13] and u_x[12] = -u_x[13] (the untrained behaviour network, Fig. 2)."""
    t = load_task("behaviour-ce")
    u = BarModel(t.network).solve(t.loads_N()[0]).u
    assert np.isclose(u[12, 1], u[13, 1], rtol=1e-12)
    assert np.isclose(u[12, 0], -u[13, 0], rtol=1e-9, atol=1e-18)
    x = t.network.nodes_m
    mirror = [int(np.argmin(np.linalg.norm(x - [-4 * 0.016 - p[0], p[1]], axis=1))) for p in x]
    assert np.allclose(u[:, 1], u[mirror, 1], rtol=1e-10, atol=1e-18)


def test_fig1_displacement():
    """Fig. 1: 0.098 N down on node 12 moves node 13 by about -0.81 mm (measured -0.82 mm)."""
    t = load_task("fig1")
    u = BarModel(t.network).solve(t.loads_N()[0]).u
    assert -0.83e-3 < u[13, 1] < -0.79e-3


def test_equilibrium_and_reactions():
    """Cᵀ t = F on the free DOFs (bar forces t = k e balance the applied loads) for a random load."""
    t = load_task("iris")
    bm = BarModel(t.network)
    F = np.random.default_rng(1).normal(size=(14, 2)) * 0.01
    F[t.network.fixed] = 0
    sol = bm.solve(F)
    internal = (bm.C.T @ sol.bar_force_N).reshape(14, 2)
    assert np.allclose(internal[bm.free // 2 if False else np.setdiff1d(np.arange(14), t.network.fixed)],
                       F[np.setdiff1d(np.arange(14), t.network.fixed)], atol=1e-14)


def test_backends_agree_on_large_lattice():
    """Dense Cholesky, SuperLU and PARDISO give the same displacements (1e-10 relative)."""
    from femnn.network import make_network

    n = make_network("triangular", rows=12)
    rng = np.random.default_rng(0)
    n = n.with_widths(rng.uniform(1.5e-3, 2.5e-3, n.n_bonds))
    F = rng.normal(size=(3, n.n_nodes, 2)) * 1e-3
    us = [BarModel(n, backend=b).solve(F).u for b in ("dense", "splu", "pardiso")]
    for u in us[1:]:
        assert np.linalg.norm(u - us[0]) < 1e-10 * np.linalg.norm(us[0])


def test_pardiso_factorisations_never_go_stale():
    """PARDISO keeps one set of factors per model: a solution made with k1 still solves with k1 after a
    factorisation with k2 (it refactorises itself), matching SuperLU for both."""
    from femnn.network import make_network

    n = make_network("triangular", rows=10)
    F = np.random.default_rng(3).normal(size=(n.n_nodes, 2)) * 1e-3
    k1, k2 = n.stiffness_N_per_m(), n.stiffness_N_per_m() * np.linspace(0.7, 1.3, n.n_bonds)
    bm = BarModel(n, backend="pardiso")
    f1 = bm.factorize(k1)
    f2 = bm.factorize(k2)
    ref = BarModel(n, backend="splu")
    for f, k in ((f1, k1), (f2, k2), (f1, k1)):
        assert np.allclose(f.solve(F), ref.factorize(k).solve(F), rtol=1e-10, atol=1e-16)
