"""Task-level FEM: forward, adjoint, reductions (see :mod:`femnn.fem.elasticity`)."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from femnn.crosscheck.compare import ModelResult, adjoint_load, elongations
from femnn.fem.elasticity import ElasticityProblem


def make_problem(comm, task, mesh, cell_tags, *, degree=2, solver="lu", hub_tag):
    net = task.network
    return ElasticityProblem(comm, mesh, cell_tags, net.material.youngs_modulus_Pa, net.material.poisson_ratio,
                             net.thickness_m, [hub_tag(j) for j in net.fixed], degree=degree, solver=solver)


def solve_task(comm, task, mesh, cell_tags, *, degree=2, solver="lu", hub_tag, bond_tag, problem=None) -> ModelResult:
    """Forward and adjoint FEM of a single-load task -> ModelResult (collective on ``comm``).

    extra: dofs, degree, solver, seconds_assemble, seconds_forward (first solve, includes the
    factorisation), seconds_adjoint (second solve on the same factors), gradient_s (∂L/∂s_i per
    bond region), n_factorizations, u_field / u_adj_field (dolfinx Functions, for writers).
    """
    import dolfinx

    net = task.network
    prob = problem or make_problem(comm, task, mesh, cell_tags, degree=degree, solver=solver, hub_tag=hub_tag)
    t0 = time.perf_counter()
    u = prob.solve(task.loads_N()[0], hub_tag)
    t1 = time.perf_counter()
    ubar = prob.hub_means(u, net.n_nodes, hub_tag)
    F_adj, loss = adjoint_load(task, ubar)
    u_adj = dolfinx.fem.Function(prob.V, name="u_adjoint")
    t2 = time.perf_counter()
    prob.solve(F_adj, hub_tag, out=u_adj)
    t3 = time.perf_counter()
    uadj_bar = prob.hub_means(u_adj, net.n_nodes, hub_tag)
    e, e_adj = elongations(task, ubar), elongations(task, uadj_bar)
    g_s = prob.region_energy(u, u_adj, [bond_tag(i) for i in range(net.n_bonds)])
    return ModelResult(f"fem{mesh.topology.dim}d", ubar, e, e_adj, e_adj * e, loss, {
        "dofs": prob.dofs, "degree": prob.degree, "solver": prob.solver_kind, "seconds_assemble": prob.seconds_assemble,
        "seconds_forward": t1 - t0, "seconds_adjoint": t3 - t2, "gradient_s": g_s,
        "n_factorizations": prob.n_factorizations, "u_field": u, "u_adj_field": u_adj, "problem": prob})


def solve_loads(comm, problem, F, n_nodes, hub_tag) -> np.ndarray:
    """Hub displacements (n_cases, n_nodes, 2) for load cases F (n_cases, n_nodes, 2), one factorisation."""
    import dolfinx

    w = dolfinx.fem.Function(problem.V)
    return np.stack([problem.hub_means(problem.solve(Fc, hub_tag, out=w), n_nodes, hub_tag) for Fc in np.asarray(F)])


def write_fields(comm, path, result) -> list[Path]:
    """u, u_adj (and von Mises stress, P0) as VTX (.bp) for ParaView; collective."""
    import dolfinx
    import ufl
    from dolfinx.io import VTXWriter

    u, ua = result.extra["u_field"], result.extra["u_adj_field"]
    prob = result.extra["problem"]
    mesh = u.function_space.mesh
    path = Path(path)
    written = []
    with VTXWriter(comm, str(path.with_suffix(".bp")), [u, ua], engine="BP4") as vtx:
        vtx.write(0.0)
    written.append(path.with_suffix(".bp"))
    gdim = mesh.geometry.dim
    s = prob._sigma(u)
    dev = s - ufl.tr(s) / gdim * ufl.Identity(gdim)
    vm_expr = ufl.sqrt(1.5 * ufl.inner(dev, dev))
    Q = dolfinx.fem.functionspace(mesh, ("DG", 0))
    vm = dolfinx.fem.Function(Q, name="von_mises_Pa")
    vm.interpolate(dolfinx.fem.Expression(vm_expr, Q.element.interpolation_points))
    vpath = path.parent / (path.name + "_von_mises.bp")
    with VTXWriter(comm, str(vpath), [vm], engine="BP4") as vtx:
        vtx.write(0.0)
    written.append(vpath)
    result.extra["von_mises_max_Pa"] = comm.allreduce(float(vm.x.array.max(initial=0.0)), op=__import__("mpi4py.MPI", fromlist=["MAX"]).MAX)
    return written
