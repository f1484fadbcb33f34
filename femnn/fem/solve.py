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

from femnn.bars.model import compatibility_matrix
from femnn.fem.elasticity import ElasticityProblem
from femnn.fem.result import FemFields, FemResult
from femnn.part import tags as _tags
from femnn.train.losses import output_adjoint_load


def default_hub_tag(j: int) -> int:
    """Cell tag of the hub of node j (femnn.part.tags.hub_tag)."""
    return _tags.hub_tag(j)


def default_bond_tag(i: int) -> int:
    """Cell tag of bond i (femnn.part.tags.bond_tag)."""
    return _tags.bond_tag(i)


def default_tab_tag(j: int) -> int:
    """Cell tag of the mounting tab of fixed node j (femnn.part.tags, optional region)."""
    return _tags.region_tag(_tags.TAB, j)


def _present_tags(comm, cell_tags) -> set:
    return set(np.unique(np.concatenate(comm.allgather(np.unique(cell_tags.values)))).tolist())


def make_problem(comm, task, mesh, cell_tags, *, degree=2, solver="lu", hub_tag=default_hub_tag, clamp_tags=None,
                 formulation: str = "displacement", **kw):
    """The assembled (not yet factorised) elasticity problem of ``task``'s network on the mesh.

    ``formulation``: ``"displacement"`` (:class:`ElasticityProblem`), ``"mixed"`` (Taylor-Hood u-p,
    :class:`femnn.fem.mixed.MixedElasticityProblem`, ν up to 0.5) or ``"auto"`` (mixed above ν = 0.49;
    :func:`femnn.fem.mixed.choose_formulation`). Both offer the same solve / hub_means /
    region_energy interface. ``clamp_tags(j)`` -> cell tags clamped for fixed node j; default: its tab
    region if the mesh has one, else its hub region. ``solver="cg"`` is CG + GAMG (displacement) or
    MINRES with a Schur-complement fieldsplit (mixed)."""
    from femnn.fem.mixed import MixedElasticityProblem, choose_formulation

    net = task.network
    kind = choose_formulation(net.material.poisson_ratio, formulation)
    if clamp_tags is None:
        present = _present_tags(comm, cell_tags)

        def clamp_tags(j):
            return [default_tab_tag(j)] if default_tab_tag(j) in present else [hub_tag(j)]
    fixed = [int(t) for j in net.fixed for t in clamp_tags(j)]
    args = (comm, mesh, cell_tags, net.material.youngs_modulus_Pa, net.material.poisson_ratio, net.thickness_m, fixed)
    if kind == "mixed":
        kw.pop("low_memory", None)   # the displacement CG's GAMG option; the mixed solver has no such product
        kw.pop("preconditioner", None)   # likewise: MINRES + fieldsplit has its own
        return MixedElasticityProblem(*args, degree=degree, solver={"cg": "minres"}.get(solver, solver), **kw)
    return ElasticityProblem(*args, degree=degree, solver=solver, **kw)


def make_mixed_problem(comm, task, mesh, cell_tags, degree=2, solver="lu", **kw):
    """:func:`make_problem` with the mixed u-p formulation (Taylor-Hood; ``solver``: "lu" or "minres")."""
    return make_problem(comm, task, mesh, cell_tags, degree=degree, solver={"minres": "cg"}.get(solver, solver),
                        formulation="mixed", **kw)


def solve_task(comm, task, mesh, cell_tags, *, degree=2, solver="lu", hub_tag=default_hub_tag,
               bond_tag=default_bond_tag, clamp_tags=None, problem=None, name=None) -> tuple[FemResult, FemFields]:
    """Forward and adjoint FEM of a single-load task (collective on ``comm``) -> (FemResult, FemFields).

    Forward: the task's load, each nodal force spread uniformly over its hub region. Reduction:
    hub-mean displacements ū (n_nodes, 2), elongations e = C ū. Adjoint: the load -∂L/∂ū
    (:func:`femnn.train.losses.output_adjoint_load`), applied the same way, solved on the SAME
    factorisation. ``gradient_k`` = e_adj ∘ e (bar form on FEM elongations); ``gradient_s`` the
    exact ∂L/∂s_i = t ∫_i σ(u) : ε(u_adj) dx per bond region. The von Mises field (DG0) is computed
    here so the result carries its maximum."""
    import dolfinx

    net = task.network
    loads = task.loads_N()
    if loads.shape[0] != 1:
        raise ValueError(f"solve_task needs a single-load task (got {loads.shape[0]} load cases); "
                         "use solve_loads or femnn.fem.transfer for data-set tasks")
    prob = problem or make_problem(comm, task, mesh, cell_tags, degree=degree, solver=solver, hub_tag=hub_tag,
                                   clamp_tags=clamp_tags)
    t0 = time.perf_counter()
    u = prob.solve(loads[0], hub_tag)
    t1 = time.perf_counter()
    ubar = prob.hub_means(u, net.n_nodes, hub_tag)
    F_adj, loss = output_adjoint_load(task, ubar)
    u_adj = dolfinx.fem.Function(prob.V, name="u_adjoint")
    t2 = time.perf_counter()
    prob.solve(F_adj, hub_tag, out=u_adj)
    t3 = time.perf_counter()
    uadj_bar = prob.hub_means(u_adj, net.n_nodes, hub_tag)
    C = compatibility_matrix(net)
    e, e_adj = C @ ubar.ravel(), C @ uadj_bar.ravel()
    g_s = prob.region_energy(u, u_adj, [bond_tag(i) for i in range(net.n_bonds)])
    vm, vm_max = von_mises_field(comm, prob, u)
    res = FemResult(name or f"fem{mesh.topology.dim}d", ubar, e, uadj_bar, e_adj, e_adj * e, np.asarray(g_s), loss,
                    int(prob.dofs), int(prob.degree), str(prob.solver_kind), n_factorizations=int(prob.n_factorizations),
                    von_mises_max_Pa=vm_max, seconds_assemble=float(prob.seconds_assemble),
                    seconds_forward=t1 - t0, seconds_adjoint=t3 - t2)
    return res, FemFields(u, u_adj, vm, prob)


def von_mises_field(comm, problem, u):
    """The von Mises stress of ``u`` as a DG0 Function (Pa) and its largest value in the part (collective)."""
    import dolfinx
    from mpi4py import MPI

    from femnn.fem import jit

    Q = dolfinx.fem.functionspace(u.function_space.mesh, ("DG", 0))
    vm = dolfinx.fem.Function(Q, name="von_mises_Pa")
    vm.interpolate(jit.expression(problem.von_mises(u), Q.element.interpolation_points))
    return vm, comm.allreduce(float(vm.x.array.max(initial=0.0)), op=MPI.MAX)


def part_problem(comm, task, dim: int, opts=None):
    """The printed part of ``task`` as an assembled elasticity problem (collective): ``opts``' material
    override applied, the part built and meshed (:func:`femnn.fem.mesh_task`), the problem made with
    ``opts``' degree, solver and formulation (:func:`make_problem`) -> (problem, MeshInfo, seconds_mesh)."""
    from femnn.fem.meshing import FemOptions, mesh_task, with_material

    opts = opts or FemOptions()
    task = with_material(task, opts)
    t0 = time.perf_counter()
    mesh, cell_tags, info = mesh_task(comm, task, dim, opts)
    t_mesh = time.perf_counter() - t0
    extra = {"low_memory": True} if getattr(opts, "low_memory", False) else {}
    prob = make_problem(comm, task, mesh, cell_tags, degree=opts.degree, solver=opts.solver, formulation=opts.formulation,
                        preconditioner=opts.preconditioner, **extra)
    return prob, info, t_mesh


def part_model(comm, task, dim: int, opts=None, name: str | None = None) -> tuple[FemResult, FemFields]:
    """The printed part of a single-load task through the FEM: build and mesh it
    (:func:`femnn.fem.mesh_task`), assemble, factorise once, forward and adjoint
    (:func:`solve_task`) -> (FemResult named ``fem2d``/``fem3d``, FemFields). Collective."""
    import dataclasses

    prob, info, t_mesh = part_problem(comm, task, dim, opts)
    # the material only enters through the problem: the task itself gives loads, outputs and loss
    res, fields = solve_task(comm, task, prob.mesh, prob.cell_tags, problem=prob, name=name)
    res = dataclasses.replace(res, seconds_mesh=t_mesh, hub_radius_m=info.hub_radius_m, n_elements=info.n_elements)
    return res, fields


def data_model(comm, task, dim: int, opts, idx) -> dict:
    """A data-set task's samples ``idx`` through the FEM of the part (one factorisation for every
    load case): mean loss and accuracy (classification) or relative output error (regression)."""
    from femnn.train.losses import loss_and_grad, predict, relative_error

    prob, _, _ = part_problem(comm, task, dim, opts)
    idx = np.asarray(idx)
    U = solve_loads(comm, prob, task.loads_N(task.X[idx]), task.network.n_nodes)
    u_out = U.reshape(idx.size, -1)[:, task.output_dofs]
    loss, _ = loss_and_grad(task, u_out, task.Y[idx])
    out = {"loss": float(loss.mean()), "dofs": prob.dofs}
    if task.is_classification:
        out["accuracy"] = float(np.mean(predict(u_out) == task.Y[idx]))
    else:
        out["error"] = relative_error(u_out, task.Y[idx])
    return out


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


def write_fields(comm, path, fields: FemFields, fmt: str = "vtx") -> list[Path]:
    """Write u, u_adj and the von Mises stress (DG0, Pa) of a :func:`solve_task` result for ParaView
    (collective). ``fmt="vtx"``: ``<path>.bp`` (u, u_adj at full degree) and ``<path>_von_mises.bp``;
    ``fmt="xdmf"``: ``<path>.xdmf`` with u, u_adj interpolated to P1 (XDMF holds mesh-degree fields
    only) and the von Mises field."""
    import dolfinx
    from dolfinx.io import VTXWriter, XDMFFile

    u, ua, vm = fields.u, fields.u_adj, fields.von_mises
    mesh = u.function_space.mesh
    path = Path(path)
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
        out_fields = []
        for f in (u, ua):
            g = dolfinx.fem.Function(V1, name=f.name)
            g.interpolate(f)
            out_fields.append(g)
        xpath = path.with_suffix(".xdmf")
        with XDMFFile(comm, str(xpath), "w") as xf:
            xf.write_mesh(mesh)
            for g in out_fields + [vm]:
                xf.write_function(g, 0.0)
        written += [xpath, xpath.with_suffix(".h5")]
    else:
        raise ValueError(f"unknown field format {fmt!r}; expected 'vtx' or 'xdmf'")
    return written
