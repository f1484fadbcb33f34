"""The validation chain: network/task -> part -> mesh -> FEM forward/adjoint -> reduction -> comparison.

Heavy stages (gmsh, DOLFINx, MPI) are imported inside the functions that need them. Every
function that touches FEM takes ``comm`` first; gmsh builds the part on rank 0 only and DOLFINx
distributes the mesh; only rank 0 writes files.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import numpy as np

from femnn.fem.meshing import FemOptions, mesh_task, with_material as _with_material
from femnn.network import Network, Task, load_network, load_task
from femnn.network._io import _read_toml, resolve


def default_task_for(network: Network) -> Task:
    """The Fig. 1 experiment on any network: 0.098 N down on the lowest right-most node, loss
    (u_y + 0.025 m)² on the lowest left-most node (for the paper's network: nodes 12 and 13)."""
    fig1 = load_task("fig1")
    x = network.nodes_m
    low = np.flatnonzero(np.isclose(x[:, 1], x[:, 1].min(), atol=1e-9 * np.ptp(x)))
    load_node = int(low[np.argmax(x[low, 0])])
    out_node = int(low[np.argmin(x[low, 0])])
    if load_node == out_node or load_node in network.fixed or out_node in network.fixed:
        from femnn.errors import InputError

        raise InputError(network.source, "", "no default load case for this network; give a task file (see geometry/fig1.toml)")
    return dataclasses.replace(fig1, network=network, name=f"{network.name}-fig1", input_dofs=[2 * load_node, 2 * load_node + 1],
                               output_dofs=[2 * out_node + 1], source=network.source)


def load_task_or_network(name_or_path) -> Task:
    """A task file, or a network file with :func:`default_task_for`."""
    path = resolve(name_or_path)
    data = _read_toml(path)
    if "lattice" in data or "generator" in data:
        return default_task_for(load_network(path))
    return load_task(path)


def _mesh(comm, task: Task, dim: int, opts: FemOptions):
    mesh, tags, info = mesh_task(comm, task, dim, opts)
    return mesh, tags, {"hub_radius_m": info.hub_radius_m, "n_elements": info.n_elements}


def fem_model(comm, task: Task, dim: int, opts: FemOptions = FemOptions()):
    """Build the part (gmsh, rank 0), mesh it, convert to DOLFINx on ``comm``, solve forward and
    adjoint, reduce -> :class:`femnn.crosscheck.ModelResult` named ``fem2d``/``fem3d``."""
    import femnn.fem as fem

    task = _with_material(task, opts)
    net = task.network
    t0 = time.perf_counter()
    mesh, cell_tags, info = _mesh(comm, task, dim, opts)
    t_mesh = time.perf_counter() - t0
    res = fem.solve_task(comm, task, mesh, cell_tags, degree=opts.degree, solver=opts.solver)  # femnn.part's tags
    res.name = f"fem{dim}d"
    res.extra.update({"seconds_mesh": t_mesh, "hub_radius_m": info["hub_radius_m"], "elements": info["n_elements"]})
    return res


def fem_data_model(comm, task: Task, dim: int, opts: FemOptions, idx) -> dict:
    """A data-set task's samples ``idx`` through the FEM (one factorisation for all load cases):
    mean loss and accuracy (classification) or relative output error (regression)."""
    import femnn.fem as fem
    from femnn.train.losses import loss_and_grad, predict, relative_error

    task = _with_material(task, opts)
    mesh, cell_tags, _ = _mesh(comm, task, dim, opts)
    from femnn.fem.solve import make_problem

    prob = make_problem(comm, task, mesh, cell_tags, degree=opts.degree, solver=opts.solver)
    idx = np.asarray(idx)
    U = fem.solve_loads(comm, prob, task.loads_N(task.X[idx]), task.network.n_nodes)
    u_out = U.reshape(idx.size, -1)[:, task.output_dofs]
    loss, _ = loss_and_grad(task, u_out, task.Y[idx])
    out = {"loss": float(loss.mean()), "dofs": prob.dofs}
    if task.is_classification:
        out["accuracy"] = float(np.mean(predict(u_out) == task.Y[idx]))
    else:
        out["error"] = relative_error(u_out, task.Y[idx])
    return out


def richardson(values, ratio: float = 2.0) -> dict:
    """Observed order p = log2((q₁-q₀)/(q₂-q₁)) from the last three refinements (h halving) and the
    Richardson value q∞ = q₂ + (q₂-q₁)/(2^p - 1) with error bar |q∞ - q₂|."""
    q0, q1, q2 = (float(v) for v in values[-3:])
    d1, d2 = q1 - q0, q2 - q1
    if d2 == 0 or d1 == 0 or d1 / d2 <= 0:
        return {"order": None, "extrapolated": q2, "error_bar": abs(d2)}
    p = float(np.log(d1 / d2) / np.log(ratio))
    q_inf = q2 + d2 / (ratio ** p - 1)
    return {"order": p, "extrapolated": q_inf, "error_bar": abs(q_inf - q2)}


def write_fem_exports(out: Path, task: Task, res, comm) -> list[Path]:
    """Files of one FEM model (collective; rank 0 writes): ``<name>_fields.bp`` and
    ``<name>_fields_von_mises.bp`` (VTX, for ParaView), ``<name>_comsol.txt`` (the displacement at
    the mesh vertices in COMSOL's text export format, mm, so a COMSOL user can load it; femnn
    crosscheck --compare reads it back) and ``<name>_von_mises.png``."""
    import femnn.fem as fem
    from femnn.fem.gather import surface_triangles, vertex_displacement

    if "u_field" not in res.extra:
        return []
    paths = list(fem.write_fields(comm, out / f"{res.name}_fields", res) or [])
    g = vertex_displacement(comm, res.extra["u_field"])
    tri = surface_triangles(comm, res.extra["von_mises_field"])
    if comm.rank == 0:
        from femnn.crosscheck.comsol import write_comsol_text
        from femnn.report.plots import plot_cell_field

        deg = res.extra.get("degree")
        paths.append(write_comsol_text(out / f"{res.name}_comsol.txt", g[0], g[1], model=f"femnn {res.name} {task.name}",
                                       description=f"Displacement field at the mesh vertices (femnn {res.name}, P{deg} "
                                                   f"Lagrange, {res.extra.get('dofs')} DOFs), X/Y{'/Z' if g[0].shape[1] == 3 else ''}"
                                                   " components"))
        where = "top face z = t" if g[0].shape[1] == 3 else "plane stress"
        paths.append(plot_cell_field(tri[0], tri[1] * 1e-3, out / f"{res.name}_von_mises.png", label="von Mises stress (kPa)",
                                     title=f"{res.name}: von Mises stress ({where}); max in the part {res.extra['von_mises_max_Pa'] * 1e-3:.3g} kPa",
                                     nodes=task.network.nodes_m))
    return paths


def per_bond_calibration(comm, task: Task, ref):
    """The bar model with one stiffness per bond fitted to the FEM model ``ref``'s hub compliance.

    The FEM solves a unit force on every free DOF in turn on ``ref``'s ONE factorisation (24 extra
    solves for the paper network, each a pair of triangular solves), then
    :func:`femnn.crosscheck.calibrate.fit_bond_stiffness` fits k per bond (bar adjoint, L-BFGS-B).
    Collective; returns a ModelResult ``bar_calibrated_per_bond`` whose ``extra`` holds the factor per
    bond and the misfit (½|u_bar - u_fem|²/|u_fem|² over all cases) uncalibrated / global / per bond."""
    import femnn.fem as fem
    from femnn.crosscheck import bar_result
    from femnn.crosscheck.calibrate import fit_bond_stiffness, unit_load_cases

    net = task.network
    F = unit_load_cases(net)
    t0 = time.perf_counter()
    U = fem.solve_loads(comm, ref.extra["problem"], F, net.n_nodes)
    t1 = time.perf_counter()
    fit = fit_bond_stiffness(net, F, U)
    res = bar_result(task, fit["k_N_per_m"], name="bar_calibrated_per_bond")
    res.extra.update({"factor_per_bond": fit["factor_per_bond"], "global_factor": fit["global_factor"],
                      "misfit_uncalibrated": fit["misfit_uncalibrated"], "misfit_global": fit["misfit_global"],
                      "misfit_per_bond": fit["misfit_per_bond"], "calibrated_to": ref.name, "load_cases": int(F.shape[0]),
                      "seconds_fem_solves": t1 - t0})
    return res


def width_gradients_fd(comm, task: Task, dim: int, opts: FemOptions, bonds, base, bar, step: float = 0.05,
                       say=lambda *a: None) -> list[dict]:
    """∂L/∂w_b of the printed part by central differences with remeshing, for a few bonds.

    Each bond's width goes to w_b (1 ± step) and w_b (1 ± 2 step); the part is rebuilt and remeshed
    (same hub radius as the base part) and the FEM solved: fd = (L₊ - L₋) / (2 step w_b), and
    ``fd_spread`` = |fd(step) - fd(2 step)| estimates its truncation and remeshing noise (remeshing
    moves the loss by a mesh-dependent amount that matters for bonds with small gradients). Compared with three chain
    rules at the base widths, all through k_b = E w_b t / l_b (∂k/∂w = k/w):
      ``fem_gradient_s``: the FEM's exact ∂L/∂s_b / w_b (s_b scales the modulus of bond region b, which
        is what a width change does to a uniform bar; hubs and the neck-to-hub joins are not scaled),
      ``fem_bar_form``: (e_adj ∘ e)_b from FEM elongations times k_b / w_b (the in situ rule),
      ``bar``: the bar model's own (e_adj ∘ e)_b k_b / w_b.
    Remeshing adds discretisation noise to fd of order the FEM error's variation between meshes."""
    net = task.network
    k = net.stiffness_N_per_m()
    w = net.widths_m
    hub_mm = base.extra.get("hub_radius_m", None)
    o = dataclasses.replace(opts, hub_radius_mm=hub_mm * 1e3 if hub_mm else opts.hub_radius_mm)
    lo, hi = net.width_bounds_m
    cache = {}

    def loss_at(b, wv):
        if wv == w[b]:
            return float(base.loss)
        if (b, wv) not in cache:
            wb = np.array(w, float)
            wb[b] = wv
            say(f"  width FD: bond {b} ({net.bonds[b][0]}-{net.bonds[b][1]}) w = {wv * 1e3:.4g} mm ...")
            r = fem_model(comm, task.with_network(net.with_widths(wb)), dim, o)
            cache[(b, wv)] = float(r.loss)
            r.extra.clear()
        return cache[(b, wv)]

    def fd(b, h):
        # central difference inside the width bounds; one-sided (first order) at a bound
        pts, scheme = [w[b] + h, w[b] - h], "central"
        if pts[0] > hi * (1 + 1e-12):
            pts, scheme = [w[b], w[b] - h], "backward"
        elif pts[1] < lo * (1 - 1e-12):
            pts, scheme = [w[b] + h, w[b]], "forward"
        return (loss_at(b, pts[0]) - loss_at(b, pts[1])) / (pts[0] - pts[1]), scheme

    rows = []
    for b in bonds:
        b = int(b)
        h = step * w[b]
        g1, scheme = fd(b, h)
        g2, _ = fd(b, 2 * h)
        rows.append({"bond": b, "nodes": [int(v) for v in net.bonds[b]], "width_m": float(w[b]), "step_m": float(h),
                     "scheme": scheme, "fd": g1, "fd_2step": g2, "fd_spread": abs(g1 - g2),
                     "fem_gradient_s": float(base.extra["gradient_s"][b] / w[b]),
                     "fem_bar_form": float(base.gradient_k[b] * k[b] / w[b]),
                     "bar": float(bar.gradient_k[b] * k[b] / w[b]), "model": base.name})
    return rows
