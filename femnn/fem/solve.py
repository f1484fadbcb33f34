"""Task-level FEM: forward, adjoint, reductions (see :mod:`femnn.fem.elasticity`).

Region tags follow ``femnn.part.tags`` (hub j: 1_000_001 + j, bond i: 1 + i, mounting tab of
fixed node j: 2_000_001 + j); pass ``hub_tag`` / ``bond_tag`` / ``clamp_tags`` callables for any
other numbering. Fixed nodes are clamped on their tab region when the mesh has one (that is where
the lab grips the part), else on their whole hub region.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from femnn.crosscheck.compare import ModelResult, adjoint_load, elongations
from femnn.fem.elasticity import ElasticityProblem

HUB_TAG_OFFSET, BOND_TAG_OFFSET, TAB_TAG_OFFSET = 1_000_001, 1, 2_000_001  # = femnn.part.tags


def default_hub_tag(j: int) -> int:
    """Cell tag of the hub of node j (femnn.part.tags.hub_tag)."""
    return HUB_TAG_OFFSET + int(j)


def default_bond_tag(i: int) -> int:
    """Cell tag of bond i (femnn.part.tags.bond_tag)."""
    return BOND_TAG_OFFSET + int(i)


def default_tab_tag(j: int) -> int:
    """Cell tag of the mounting tab of fixed node j (femnn.part.tags, optional region)."""
    return TAB_TAG_OFFSET + int(j)


def _present_tags(comm, cell_tags) -> set:
    return set(np.unique(np.concatenate(comm.allgather(np.unique(cell_tags.values)))).tolist())


def make_problem(comm, task, mesh, cell_tags, *, degree=2, solver="lu", hub_tag=default_hub_tag, clamp_tags=None,
                 **kw) -> ElasticityProblem:
    """The assembled (not yet factorised) :class:`ElasticityProblem` of ``task``'s network on the mesh.

    ``clamp_tags(j)`` -> cell tags clamped for fixed node j; default: its tab region if the mesh has
    one, else its hub region."""
    net = task.network
    if clamp_tags is None:
        present = _present_tags(comm, cell_tags)

        def clamp_tags(j):
            return [default_tab_tag(j)] if default_tab_tag(j) in present else [hub_tag(j)]
    fixed = [int(t) for j in net.fixed for t in clamp_tags(j)]
    return ElasticityProblem(comm, mesh, cell_tags, net.material.youngs_modulus_Pa, net.material.poisson_ratio,
                             net.thickness_m, fixed, degree=degree, solver=solver, **kw)


def solve_task(comm, task, mesh, cell_tags, *, degree=2, solver="lu", hub_tag=default_hub_tag,
               bond_tag=default_bond_tag, clamp_tags=None, problem=None) -> ModelResult:
    """Forward and adjoint FEM of a single-load task -> ModelResult (collective on ``comm``).

    Forward: the task's load, each nodal force spread uniformly over its hub region. Reduction:
    hub-mean displacements u (n_nodes, 2), elongations e. Adjoint: the load -∂L/∂ū from
    :func:`femnn.crosscheck.compare.adjoint_load`, applied the same way, solved on the SAME
    factorisation. ``gradient_k`` = e_adj ∘ e (bar form on FEM elongations).

    extra: dofs, degree, solver, seconds_assemble, seconds_forward (first solve, includes the
    factorisation), seconds_adjoint (second solve on the same factors), gradient_s (exact ∂L/∂s_i
    per bond region, s_i scaling Young's modulus of bond i), n_factorizations, u_field / u_adj_field
    (dolfinx Functions, for writers), problem (the ElasticityProblem, reusable with solve_loads).
    """
    import dolfinx

    net = task.network
    loads = task.loads_N()
    if loads.shape[0] != 1:
        raise ValueError(f"solve_task needs a single-load task (got {loads.shape[0]} load cases); "
                         "use solve_loads for data-set tasks")
    prob = problem or make_problem(comm, task, mesh, cell_tags, degree=degree, solver=solver, hub_tag=hub_tag,
                                   clamp_tags=clamp_tags)
    t0 = time.perf_counter()
    u = prob.solve(loads[0], hub_tag)
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


def solve_loads(comm, problem, F, n_nodes=None, hub_tag=default_hub_tag) -> np.ndarray:
    """Hub displacements (n_cases, n_nodes, 2) for load cases F (n_cases, n_nodes, 2) N, all on the
    problem's one factorisation (collective)."""
    import dolfinx

    F = np.asarray(F, dtype=float)
    if F.ndim == 2:
        F = F[None]
    n_nodes = F.shape[1] if n_nodes is None else n_nodes
    w = dolfinx.fem.Function(problem.V)
    return np.stack([problem.hub_means(problem.solve(Fc, hub_tag, out=w), n_nodes, hub_tag) for Fc in F])


def write_fields(comm, path, result, fmt: str = "vtx") -> list[Path]:
    """Write u, u_adj and the von Mises stress (DG0, Pa) of a :func:`solve_task` result for ParaView
    (collective). ``fmt="vtx"``: ``<path>.bp`` (u, u_adj at full degree) and ``<path>_von_mises.bp``;
    ``fmt="xdmf"``: ``<path>.xdmf`` with u, u_adj interpolated to P1 (XDMF holds mesh-degree fields
    only) and the von Mises field. Also sets ``result.extra["von_mises_max_Pa"]`` and
    ``result.extra["von_mises_field"]`` (the DG0 Function)."""
    import dolfinx
    from dolfinx.io import VTXWriter, XDMFFile
    from mpi4py import MPI

    from femnn.fem import jit

    u, ua = result.extra["u_field"], result.extra["u_adj_field"]
    prob = result.extra["problem"]
    mesh = u.function_space.mesh
    path = Path(path)
    Q = dolfinx.fem.functionspace(mesh, ("DG", 0))
    vm = dolfinx.fem.Function(Q, name="von_mises_Pa")
    vm.interpolate(jit.expression(prob.von_mises(u), Q.element.interpolation_points))
    result.extra["von_mises_max_Pa"] = comm.allreduce(float(vm.x.array.max(initial=0.0)), op=MPI.MAX)
    result.extra["von_mises_field"] = vm
    written = []
    if fmt == "vtx":
        with VTXWriter(comm, str(path.with_suffix(".bp")), [u, ua], engine="BP4") as vtx:
            vtx.write(0.0)
        vpath = path.parent / (path.name + "_von_mises.bp")
        with VTXWriter(comm, str(vpath), [vm], engine="BP4") as vtx:
            vtx.write(0.0)
        written += [path.with_suffix(".bp"), vpath]
    elif fmt == "xdmf":
        gdim = mesh.geometry.dim
        V1 = dolfinx.fem.functionspace(mesh, ("Lagrange", 1, (gdim,)))
        fields = []
        for f in (u, ua):
            g = dolfinx.fem.Function(V1, name=f.name)
            g.interpolate(f)
            fields.append(g)
        xpath = path.with_suffix(".xdmf")
        with XDMFFile(comm, str(xpath), "w") as xf:
            xf.write_mesh(mesh)
            for g in fields + [vm]:
                xf.write_function(g, 0.0)
        written += [xpath, xpath.with_suffix(".h5")]
    else:
        raise ValueError(f"unknown field format {fmt!r}; expected 'vtx' or 'xdmf'")
    return written
