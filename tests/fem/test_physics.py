"""The elasticity formulation against exact solutions and beam theory."""

import numpy as np
import pytest
import ufl

import dolfinx
import dolfinx.fem.petsc
from dolfinx.mesh import create_rectangle, meshtags

from femnn.fem.elasticity import ElasticityProblem, _lame

E, NU, T = 5.5e5, 0.49, 2e-3


def _solve_dirichlet(comm, n, degree, u_exact_expr, f_expr=None):
    """Plane-stress elasticity with femnn's constitutive law, u = u_exact on the whole boundary."""
    mesh = create_rectangle(comm, [[0, 0], [1, 1]], [n, n])
    V = dolfinx.fem.functionspace(mesh, ("Lagrange", degree, (2,)))
    mu, lam = _lame(E, NU, True)
    x = ufl.SpatialCoordinate(mesh)
    eps = lambda w: ufl.sym(ufl.grad(w))  # noqa: E731
    sig = lambda w: 2 * mu * eps(w) + lam * ufl.tr(eps(w)) * ufl.Identity(2)  # noqa: E731
    ue = u_exact_expr(x)
    f = -ufl.div(sig(ue)) if f_expr is None else f_expr
    u, v = ufl.TrialFunction(V), ufl.TestFunction(V)
    g = dolfinx.fem.Function(V)
    g.interpolate(dolfinx.fem.Expression(ue, V.element.interpolation_points))
    mesh.topology.create_connectivity(1, 2)
    facets = dolfinx.mesh.exterior_facet_indices(mesh.topology)
    bc = dolfinx.fem.dirichletbc(g, dolfinx.fem.locate_dofs_topological(V, 1, facets))
    prob = dolfinx.fem.petsc.LinearProblem(ufl.inner(sig(u), eps(v)) * ufl.dx, ufl.inner(f, v) * ufl.dx, bcs=[bc],
                                           petsc_options_prefix="femnn_test_", petsc_options={"ksp_type": "preonly", "pc_type": "lu",
                                                                                             "pc_factor_mat_solver_type": "mumps"})
    uh = prob.solve()
    err = dolfinx.fem.form(ufl.inner(uh - ue, uh - ue) * ufl.dx)
    return np.sqrt(comm.allreduce(dolfinx.fem.assemble_scalar(err))), uh, g


@pytest.mark.parametrize("degree", [1, 2])
def test_patch_test(comm, degree):
    """A uniform strain field u = A x + c (no body force) is reproduced exactly: ||u_h - u||_L2 < 1e-12."""
    A = np.array([[1e-3, 2e-4], [-5e-4, 3e-4]])
    err, uh, g = _solve_dirichlet(comm, 6, degree, lambda x: ufl.as_vector([A[0, 0] * x[0] + A[0, 1] * x[1] + 1e-4,
                                                                           A[1, 0] * x[0] + A[1, 1] * x[1] - 2e-4]))
    assert err < 1e-12
    assert np.allclose(uh.x.array, g.x.array, atol=1e-13)


@pytest.mark.parametrize("degree", [1, 2])
def test_manufactured_convergence(comm, degree):
    """u = (sin πx sin πy, x² y) with f = -div σ(u): the L2 error falls as h^(p+1); the observed rate
    log2(e_h / e_{h/2}) is within 0.2 of p + 1 on the finest pair (n = 16 -> 32)."""
    errs = [_solve_dirichlet(comm, n, degree, lambda x: ufl.as_vector([ufl.sin(ufl.pi * x[0]) * ufl.sin(ufl.pi * x[1]),
                                                                      x[0] ** 2 * x[1]]))[0] for n in (8, 16, 32)]
    rate = np.log2(errs[1] / errs[2])
    assert abs(rate - (degree + 1)) < 0.2, (errs, rate)


def _cantilever(comm, degree, nx, ny, nu=NU):
    """Clamped at x in [0, c], a total downward force F spread over the end region x in [L - c, L]."""
    L, h, c, F = 0.04, 2e-3, 0.2e-3, 1e-3
    mesh = create_rectangle(comm, [[-c, -h / 2], [L + c, h / 2]], [nx, ny])
    n = mesh.topology.index_map(2).size_local + mesh.topology.index_map(2).num_ghosts
    mid = dolfinx.mesh.compute_midpoints(mesh, 2, np.arange(n, dtype=np.int32))
    vals = np.where(mid[:, 0] < 0, 1, np.where(mid[:, 0] > L, 2, 3)).astype(np.int32)
    ct = meshtags(mesh, 2, np.arange(n, dtype=np.int32), vals)
    prob = ElasticityProblem(comm, mesh, ct, E, nu, T, [1], degree=degree)
    u = prob.solve(np.array([[0.0, 0.0], [0.0, -F]]), lambda j: 1 + j)
    tip = prob.hub_means(u, 2, lambda j: 1 + j)[1, 1]
    I = T * h ** 3 / 12  # noqa: E741
    return tip, -F * L ** 3 / (3 * E * I)


def test_cantilever_beam_theory(comm):
    """P2 tip deflection of a slender (L/h = 20) plane-stress cantilever matches Euler-Bernoulli
    δ = F L³ / (3 E I), I = t h³ / 12, within 3 % (shear and end-region effects are O((h/L)²) ~ 0.3 %,
    the averaged loaded end adds ~1 %)."""
    tip, eb = _cantilever(comm, 2, 84, 4)
    assert abs(tip / eb - 1) < 0.03, tip / eb


def test_p1_locks_p2_does_not(comm):
    """At ν = 0.49 in bending on the same coarse mesh (2 elements through the thickness), P1 is
    over-stiff (δ < 0.7 δ_EB: locking; measured 0.56) while P2 is within 3 % of beam theory (0.995)."""
    tip1, eb = _cantilever(comm, 1, 84, 2)
    tip2, _ = _cantilever(comm, 2, 84, 2)
    assert tip1 / eb < 0.7 and abs(tip2 / eb - 1) < 0.03, (tip1 / eb, tip2 / eb)
