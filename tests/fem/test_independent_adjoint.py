"""An independent check of femnn's hand-written adjoint with dolfinx-adjoint (pyadjoint), a test-only extra.

dolfinx-adjoint records the forward solve on a tape and differentiates it by its own adjoint; it knows
nothing of femnn's load operator, hub means or region energies. Both see the same physics, written
twice: plane stress, P2, a strip clamped on hub 1, a body force F/(t A₂) on hub 2, per-bond stiffness
scales s_i (a DG0 field), and J = ½ (ū_x − target)², ū = the mean of u_x over hub 2.
"""

import numpy as np
import pytest

from fem_helpers import bar_mesh

dolfinx_adjoint = pytest.importorskip("dolfinx_adjoint", reason="test-only extra: pip install -r requirements-test.txt")

E, NU, T, F, TARGET = 5.5e5, 0.49, 2e-3, np.array([0.01, 0.003]), 1e-3
TAGS = [3, 4, 5]


def _femnn_gradient(comm, mesh, ct):
    """femnn: forward on the factorisation, adjoint load −∂J/∂ū on hub 2, ∂J/∂s_i = t ∫_i σ(u):ε(u_adj)."""
    import dolfinx

    from femnn.fem.elasticity import ElasticityProblem

    prob = ElasticityProblem(comm, mesh, ct, E, NU, T, [1], degree=2)
    hub = lambda j: 1 + j  # noqa: E731
    u = prob.solve(np.array([[0.0, 0.0], F]), hub)
    ubar = prob.hub_means(u, 2, hub)
    J = 0.5 * (ubar[1, 0] - TARGET) ** 2
    ua = dolfinx.fem.Function(prob.V)
    prob.solve(np.array([[0.0, 0.0], [-(ubar[1, 0] - TARGET), 0.0]]), hub, out=ua)
    return J, prob.region_energy(u, ua, TAGS)


def _pyadjoint_gradient(comm, mesh, ct):
    """dolfinx-adjoint: the same problem in plain UFL; dJ/ds per cell from the tape, summed per region."""
    import dolfinx
    import pyadjoint
    import ufl
    from dolfinx.fem import functionspace

    import dolfinx_adjoint as da

    pyadjoint.set_working_tape(pyadjoint.Tape())
    pyadjoint.continue_annotation()
    V = functionspace(mesh, ("Lagrange", 2, (2,)))
    W0 = functionspace(mesh, ("DG", 0))
    s = da.Function(W0, name="s")
    s.x.array[:] = 1.0
    mu = E / (2 * (1 + NU))
    lam = 2 * mu * (E * NU / ((1 + NU) * (1 - 2 * NU))) / ((E * NU / ((1 + NU) * (1 - 2 * NU))) + 2 * mu)  # plane stress λ*
    eps = lambda w: ufl.sym(ufl.grad(w))  # noqa: E731
    sigma = lambda w: 2 * mu * eps(w) + lam * ufl.tr(eps(w)) * ufl.Identity(2)  # noqa: E731
    dx = ufl.Measure("dx", domain=mesh, subdomain_data=ct)
    one = dolfinx.fem.Constant(mesh, 1.0)
    A2 = comm.allreduce(dolfinx.fem.assemble_scalar(dolfinx.fem.form(one * dx(2))))
    f = dolfinx.fem.Constant(mesh, F / (T * A2))
    u, v = ufl.TrialFunction(V), ufl.TestFunction(V)
    a = T * s * ufl.inner(sigma(u), eps(v)) * dx
    L = T * ufl.inner(f, v) * dx(2)
    mesh.topology.create_connectivity(2, 2)
    clamp = dolfinx.fem.locate_dofs_topological(V, 2, ct.find(1))
    bc = da.dirichletbc(dolfinx.fem.Constant(mesh, np.zeros(2)), clamp, V)
    lu = {"ksp_type": "preonly", "pc_type": "lu", "pc_factor_mat_solver_type": "mumps"}
    problem = da.LinearProblem(a, L, bcs=[bc], petsc_options=lu, petsc_options_prefix="femnn_test_pyadjoint_",
                               adjoint_petsc_options=lu)
    uh = problem.solve()
    ubar = da.assemble_scalar(uh[0] * dx(2)) / A2
    J = 0.5 * (ubar - TARGET) ** 2
    Jhat = pyadjoint.ReducedFunctional(J, pyadjoint.Control(s))
    dJ = Jhat.derivative(apply_riesz=False)
    arr = dJ.x.array if hasattr(dJ, "x") else np.asarray(dJ.vector)
    n = mesh.topology.index_map(2).size_local
    cell_tag = np.zeros(n, dtype=np.int64)
    sel = ct.indices < n
    cell_tag[ct.indices[sel]] = ct.values[sel]
    dofs = W0.dofmap.list[:n, 0]
    g = np.array([comm.allreduce(float(arr[dofs[cell_tag == tag]].sum())) for tag in TAGS])
    h = dolfinx_adjoint.Function(W0)
    h.x.array[:] = np.random.default_rng(0).uniform(-1, 1, h.x.array.size)
    rate = pyadjoint.taylor_test(Jhat, s, h)
    pyadjoint.pause_annotation()
    return float(J), g, rate


def test_femnn_adjoint_equals_dolfinx_adjoint(comm):
    """femnn's ∂J/∂s_i (one factorisation, hub-mean adjoint load, region energies) equals the gradient
    dolfinx-adjoint derives from its own tape to 1e-8 relative, on the same mesh; pyadjoint's own Taylor
    test of its gradient converges at rate ≥ 1.9 (so the reference itself is verified)."""
    mesh, ct = bar_mesh(comm, n_bonds=3)
    J1, g1 = _femnn_gradient(comm, mesh, ct)
    J2, g2, rate = _pyadjoint_gradient(comm, mesh, ct)
    assert rate >= 1.9
    assert abs(J1 - J2) <= 1e-10 * abs(J2)
    assert np.abs(g1 - g2).max() <= 1e-8 * np.abs(g2).max(), (g1, g2)
    assert np.all(np.abs(g2) > 1e-3 * np.abs(g2).max())   # every region contributes: not a trivial match
