"""Where the linear models stop being true: the task's load times a factor, solved with the linear
FEM, the hyperelastic FEM (:mod:`femnn.fem.hyperelastic`) and the bar model, on ONE mesh.

:class:`NonlinearTask` couples a task to a :class:`~femnn.fem.hyperelastic.HyperelasticProblem`
that shares the linear problem's function space, clamp and hub loads (``femnn.fem.make_problem``):
the linear and nonlinear FEM differ only in the constitutive law and the kinematics.

Definitions (``linearity.json``):

* ``departure[f] = ||u_nl(f) - u_lin(f)||₂ / ||u_lin(f)||₂`` over the output DOFs, u = hub means.
  u_lin(f) = f u_lin(1) (linear). departure → 0 as f → 0 (the laws share E and ν).
* ``limit_1pct`` / ``limit_5pct``: the first load factor where the departure reaches 0.01 / 0.05,
  linearly interpolated between consecutive factors run (with (0, 0) prepended); null if not reached.
* ``gradient_spearman[f]``: Spearman rank correlation over bonds of the exact nonlinear gradient
  dL/ds_i (tangent adjoint) and the linear in situ rule k_i (e_adj ∘ e)_i, with e the elongations of
  the NONLINEAR forward state (what the lab measures under the load) and e_adj those of the linear
  FEM's response to the adjoint load -∂L/∂ū (the lab's adjoint experiment, applied alone).
  dL/ds_i = k_i dL/dk_i, so both rank the same quantity.
"""

from __future__ import annotations

import time

import numpy as np

from femnn.fem.hyperelastic import HyperelasticProblem, make_law
from femnn.fem.solve import default_bond_tag, default_hub_tag


def _linear_problem(comm, task, mesh, cell_tags, degree, hub_tag, clamp_tags, solver="lu"):
    """The linear FEM of the task (femnn.fem.make_problem: its clamp rule and hub loads)."""
    from femnn.fem import make_problem

    return make_problem(comm, task, mesh, cell_tags, degree=degree, solver=solver, hub_tag=hub_tag,
                        clamp_tags=clamp_tags)


def _hub_body_force(lin, F_nodes, hub_tag, out):
    """Fill the DG0 vector Function ``out`` with F_j / (t |H_j|) on hub j's cells, as the linear
    problem spreads its loads (one place to change if ElasticityProblem's API moves)."""
    lin._set_body_force(F_nodes, hub_tag)
    out.x.array[:] = lin.b.x.array
    out.x.scatter_forward()


def output_labels(task) -> list[str]:
    """'u_x[12]', 'u_y[13]', ... for the task's output DOFs (DOF = 2 node + component)."""
    return [f"u_{'xy'[d % 2]}[{d // 2}]" for d in task.output_dofs]


def crossing(factors, values, level) -> float | None:
    """First load factor where ``values`` reaches ``level``, linearly interpolated between consecutive
    (factor, value) points sorted by factor, with (0, 0) prepended; None if never reached."""
    f = np.concatenate([[0.0], np.asarray(factors, float)])
    v = np.concatenate([[0.0], np.asarray(values, float)])
    order = np.argsort(f, kind="stable")
    f, v = f[order], v[order]
    for i in range(1, f.size):
        if v[i] >= level:
            if v[i - 1] >= level:
                return float(f[i - 1])
            return float(f[i - 1] + (level - v[i - 1]) * (f[i] - f[i - 1]) / (v[i] - v[i - 1]))
    return None


class NonlinearTask:
    """A single-load task on a mesh: linear FEM and hyperelastic FEM sharing space, clamp and loads.

    Parameters
    ----------
    comm, task, mesh, cell_tags : as for ``femnn.fem.make_problem``
    law : 'neo-hookean' | 'mooney-rivlin' | 'yeoh' or a HyperelasticLaw
    coefficients_Pa : law coefficients (see :func:`femnn.fem.hyperelastic.make_law`)
    sample : which load case of a data-set task (default 0)
    solver : "lu" (MUMPS, default) or "cg" (CG with the p-multigrid) for the linear FEM and for every
        Newton step and tangent adjoint (:class:`femnn.fem.hyperelastic.HyperelasticProblem`)
    """

    def __init__(self, comm, task, mesh, cell_tags, law="neo-hookean", coefficients_Pa=None, degree=2,
                 hub_tag=default_hub_tag, bond_tag=default_bond_tag, clamp_tags=None, sample=0,
                 prefix="femnn_hyper_", solver="lu"):
        import dolfinx
        import ufl

        from femnn.fem import jit

        net = task.network
        self.comm, self.task, self.hub_tag = comm, task, hub_tag
        self.n_nodes = net.n_nodes
        self.bond_tags = [bond_tag(i) for i in range(net.n_bonds)]
        if isinstance(law, str):
            law = make_law(law, net.material.youngs_modulus_Pa, net.material.poisson_ratio, coefficients_Pa)
        self.law = law
        self.lin = _linear_problem(comm, task, mesh, cell_tags, degree, hub_tag, clamp_tags, solver)
        lin = self.lin
        self.F_nodes = np.asarray(task.loads_N()[sample], float)
        self.Y = task.Y[sample:sample + 1]
        W0v = lin.W0v
        self.b_load = dolfinx.fem.Function(W0v)
        self.b_adj = dolfinx.fem.Function(W0v)
        _hub_body_force(lin, self.F_nodes, hub_tag, self.b_load)
        t_c = dolfinx.fem.Constant(mesh, float(lin.t))
        self.hyper = HyperelasticProblem(comm, lin.V, law, lin.t, [lin.bc],
                                         lambda v: t_c * ufl.inner(self.b_load, v) * ufl.dx, scale=lin.s,
                                         prefix=prefix, solver=solver)
        self._adj_rhs = jit.form(t_c * ufl.inner(self.b_adj, ufl.TestFunction(lin.V)) * ufl.dx)
        self._u_lin_unit = None

    @property
    def dofs(self) -> int:
        return self.lin.dofs

    def set_sample(self, sample: int):
        """Load the task's data-set row ``sample`` instead (its forces, target or label) and start the
        nonlinear state again from the undeformed part: nonlinear responses do not superpose, so every
        sample needs its own load path."""
        if not hasattr(self, "_loads_all"):
            self._loads_all = np.asarray(self.task.loads_N(), float)
        self.set_loads(self._loads_all[sample])
        self.Y = self.task.Y[sample:sample + 1]

    def set_loads(self, F_nodes):
        """Apply the nodal forces ``F_nodes`` (n_nodes, 2) N at load factor 1 instead, from the undeformed part."""
        self.F_nodes = np.asarray(F_nodes, float)
        _hub_body_force(self.lin, self.F_nodes, self.hub_tag, self.b_load)
        self._u_lin_unit = None
        self.hyper.reset()

    # ---- states ----------------------------------------------------------------------------------
    def hub_means(self, u) -> np.ndarray:
        return self.lin.hub_means(u, self.n_nodes, self.hub_tag)

    def outputs(self, ubar) -> np.ndarray:
        return np.asarray(ubar).reshape(-1)[self.task.output_dofs]

    def linear_unit(self):
        """(linear FEM field, hub means) at load factor 1 (cached; the linear response scales with f)."""
        if self._u_lin_unit is None:
            import dolfinx

            u = dolfinx.fem.Function(self.lin.V, name="u_linear")
            self.lin.solve(self.F_nodes, self.hub_tag, out=u)
            self._u_lin_unit = (u, self.hub_means(u))
        return self._u_lin_unit

    def solve(self, factor: float) -> list[int]:
        """Nonlinear state at ``factor`` (load stepping from the last converged one) -> Newton its."""
        return self.hyper.solve_to(factor)

    def set_bond_scale(self, s):
        """Modulus scale s_i of every bond region (1 = the network's E); the state is NOT re-solved."""
        self.lin.set_scale(dict(zip(self.bond_tags, np.asarray(s, float))), update=False)

    # ---- loss and gradients ----------------------------------------------------------------------
    def loss_and_load(self, ubar):
        """(L, F_adj) with F_adj = -∂L/∂ū as nodal forces (n_nodes, 2), for the task's loss."""
        from femnn.train.losses import loss_and_grad

        loss, g = loss_and_grad(self.task, self.outputs(ubar)[None], self.Y)
        F = np.zeros(2 * self.n_nodes)
        F[self.task.output_dofs] = -g[0]
        return float(loss[0]), F.reshape(-1, 2)

    def _region_sums(self, form) -> np.ndarray:
        import dolfinx.fem.petsc as fpetsc
        from petsc4py import PETSc

        vec = fpetsc.assemble_vector(form)
        vec.ghostUpdate(addv=PETSc.InsertMode.ADD, mode=PETSc.ScatterMode.REVERSE)
        per_cell = vec.array_r[: self.lin.n_owned].copy()
        vec.destroy()
        tags = self.lin.cell_tag_of
        local = np.array([per_cell[tags == t].sum() for t in self.bond_tags])
        return self.comm.allreduce(local)

    def nonlinear_gradient(self):
        """At the converged nonlinear state: (L, ū, dL/ds per bond) by the tangent adjoint
        Jᵀ λ = -∂L/∂u, dL/ds_i = t ∫_{bond i} P(F) : ∇λ dX (see femnn.fem.hyperelastic)."""
        ubar = self.hub_means(self.hyper.u)
        loss, F_adj = self.loss_and_load(ubar)
        return loss, ubar, self.adjoint_gradient(F_adj)

    def adjoint_gradient(self, F_adj) -> np.ndarray:
        """dL/ds per bond at the current (converged) nonlinear state for the adjoint load F_adj = -∂L/∂ū
        (nodal forces, n_nodes x 2): Jᵀ λ = F_adj applied as hub loads, dL/ds_i = t ∫_{bond i} P(F) : ∇λ dX."""
        _hub_body_force(self.lin, F_adj, self.hub_tag, self.b_adj)
        lam = self.hyper.tangent_adjoint(self._adj_rhs)
        return self._region_sums(self.hyper.cell_sensitivity_form(lam))

    def linear_rule(self, ubar_forward):
        """k_i (e_adj ∘ e)_i: e from ``ubar_forward``, e_adj from the linear FEM under -∂L/∂ū(ubar_forward)."""
        import dolfinx

        _, F_adj = self.loss_and_load(ubar_forward)
        w = dolfinx.fem.Function(self.lin.V)
        self.lin.solve(F_adj, self.hub_tag, out=w)
        uadj = self.hub_means(w)
        e = _elong(self.task, ubar_forward)
        e_adj = _elong(self.task, uadj)
        return self.task.network.stiffness_N_per_m() * e_adj * e, w

    def linear_gradient(self, factor):
        """Exact linear-FEM dL/ds at load factor ``factor`` (t ∫ σ(u) : ε(u_adj)) and the rule on it."""
        u1, ubar1 = self.linear_unit()
        ubar = factor * ubar1
        rule, w = self.linear_rule(ubar)
        import dolfinx

        u = dolfinx.fem.Function(self.lin.V)
        u.x.array[:] = factor * u1.x.array
        g = self.lin.region_energy(u, w, self.bond_tags)
        return g, rule

    def max_principal_strain_linear(self, factor) -> float:
        """Largest principal small strain ε = sym ∇u of the linear FEM at ``factor`` (in-plane in 2D)."""
        import dolfinx
        import ufl
        from mpi4py import MPI

        from femnn.fem import jit

        u1, _ = self.linear_unit()
        V = self.lin.V
        gdim = V.mesh.geometry.dim
        deg = max(V.ufl_element().embedded_superdegree - 1, 0)
        T = dolfinx.fem.functionspace(V.mesh, ("DG", deg, (gdim, gdim)))
        Eh = dolfinx.fem.Function(T)
        Eh.interpolate(jit.expression(ufl.sym(ufl.grad(u1)), T.element.interpolation_points))
        vals = Eh.x.array.reshape(-1, gdim, gdim)
        m = float(np.linalg.eigvalsh(vals).max(initial=-np.inf)) if vals.size else -np.inf
        m1 = self.comm.allreduce(m, op=MPI.MAX)
        mn = float(np.linalg.eigvalsh(vals).min(initial=np.inf)) if vals.size else np.inf
        mn1 = self.comm.allreduce(mn, op=MPI.MIN)
        # ε scales with f: the largest principal value at f > 0 is f·max, at f < 0 it is f·min
        return float(factor * m1 if factor >= 0 else factor * mn1)


def _elong(task, u):
    net = task.network
    return np.einsum("bc,bc->b", u[net.bonds[:, 1]] - u[net.bonds[:, 0]], net.unit_vectors)


def _spearman(a, b) -> float | None:
    from scipy.stats import spearmanr

    a, b = np.asarray(a, float), np.asarray(b, float)
    if a.size < 2 or np.ptp(a) == 0 or np.ptp(b) == 0:
        return None
    return float(spearmanr(a, b).statistic)


def linearity_study(comm, task, mesh, cell_tags, load_factors, *, law="neo-hookean", coefficients_Pa=None,
                    degree=2, gradients=True, progress=None, sample=0, solver="lu") -> dict:
    """Linear FEM, hyperelastic FEM and bar model at ``task``'s load times each factor (collective).

    Returns the ``linearity.json`` record (see the module docstring for the definitions). Raises
    :class:`femnn.fem.hyperelastic.NonlinearConvergenceError` if Newton fails even after step cutting."""
    from femnn.bars import BarModel

    factors = [float(f) for f in load_factors]
    t0 = time.perf_counter()
    nt = NonlinearTask(comm, task, mesh, cell_tags, law=law, coefficients_Pa=coefficients_Pa, degree=degree,
                       sample=sample, solver=solver)
    net = task.network
    _, ubar_lin1 = nt.linear_unit()
    u_bar1 = BarModel(net).factorize(net.stiffness_N_per_m()).solve(nt.F_nodes)
    out_lin1, out_bar1 = nt.outputs(ubar_lin1), nt.outputs(u_bar1)
    rec = {"task": task.name, "dim": int(mesh.topology.dim), "degree": int(degree), "solver": solver, "dofs": int(nt.dofs),
           "material": nt.law.describe(), "youngs_modulus_Pa": net.material.youngs_modulus_Pa,
           "poisson_ratio": net.material.poisson_ratio, "thickness_m": net.thickness_m,
           "plane_model": "plane stress (exact zero out-of-plane stress)" if mesh.topology.dim == 2 else "3D",
           "load_factors": factors, "outputs": output_labels(task), "output_dofs": list(map(int, task.output_dofs)),
           "load_N_at_factor_1": nt.F_nodes, "u_out_linear_m": [], "u_out_nonlinear_m": [], "u_out_bar_m": [],
           "departure": [], "departure_bar": [], "newton_iterations": [], "load_steps_rejected": [],
           "strain_measure": "largest principal Green-Lagrange strain E = (C - I)/2 (nonlinear, in-plane in 2D); "
                             "largest principal small strain sym(grad u) (linear)",
           "max_principal_strain_nonlinear": [], "max_principal_strain_linear": [], "loss_nonlinear": [],
           "gradient_s_nonlinear": [], "gradient_s_rule": [], "gradient_s_linear_fem": [],
           "gradient_spearman": [], "gradient_spearman_linear_fem": [], "gradient_spearman_nonlinear_vs_linear_fem": [],
           "seconds_per_factor": []}
    order = np.argsort(factors, kind="stable")
    results = [None] * len(factors)
    for i in order:
        f = factors[i]
        t1 = time.perf_counter()
        n_before = len(nt.hyper.steps)
        its = nt.solve(f)
        rejected = sum(1 for s in nt.hyper.steps[n_before:] if not s["converged"])
        r = {"its": its, "rejected": rejected}
        ubar = nt.hub_means(nt.hyper.u)
        u_nl, u_lin, u_b = nt.outputs(ubar), f * out_lin1, f * out_bar1
        nl = np.linalg.norm(u_lin)
        r.update(u_nl=u_nl, u_lin=u_lin, u_bar=u_b,
                 departure=float(np.linalg.norm(u_nl - u_lin) / nl) if nl > 0 else 0.0,
                 departure_bar=float(np.linalg.norm(u_b - u_lin) / nl) if nl > 0 else 0.0,
                 strain_nl=nt.hyper.max_principal_green_lagrange(), strain_lin=nt.max_principal_strain_linear(f))
        if gradients:
            loss, _, g_nl = nt.nonlinear_gradient()
            rule, _ = nt.linear_rule(ubar)
            g_lin, rule_lin = nt.linear_gradient(f)
            r.update(loss=loss, g_nl=g_nl, rule=rule, g_lin=g_lin, sp=_spearman(g_nl, rule),
                     sp_lin=_spearman(g_lin, rule_lin), sp_nl_lin=_spearman(g_nl, g_lin))
        r["seconds"] = time.perf_counter() - t1
        results[i] = r
        if progress:
            progress(f, r)
    for r in results:
        rec["u_out_linear_m"].append(r["u_lin"])
        rec["u_out_nonlinear_m"].append(r["u_nl"])
        rec["u_out_bar_m"].append(r["u_bar"])
        rec["departure"].append(r["departure"])
        rec["departure_bar"].append(r["departure_bar"])
        rec["newton_iterations"].append(r["its"])
        rec["load_steps_rejected"].append(r["rejected"])
        rec["max_principal_strain_nonlinear"].append(r["strain_nl"])
        rec["max_principal_strain_linear"].append(r["strain_lin"])
        rec["seconds_per_factor"].append(r["seconds"])
        if gradients:
            rec["loss_nonlinear"].append(r["loss"])
            rec["gradient_s_nonlinear"].append(r["g_nl"])
            rec["gradient_s_rule"].append(r["rule"])
            rec["gradient_s_linear_fem"].append(r["g_lin"])
            rec["gradient_spearman"].append(r["sp"])
            rec["gradient_spearman_linear_fem"].append(r["sp_lin"])
            rec["gradient_spearman_nonlinear_vs_linear_fem"].append(r["sp_nl_lin"])
    rec["limit_1pct"] = crossing(factors, rec["departure"], 0.01)
    rec["limit_5pct"] = crossing(factors, rec["departure"], 0.05)
    below = [f for f, s in sorted(zip(factors, rec["gradient_spearman"])) if s is not None and s < 0.95]
    rec["gradient_spearman_below_0p95_from"] = below[0] if below else None
    rec["seconds_total"] = time.perf_counter() - t0
    rec["units"] = {"u_out_*": "m", "load_N_at_factor_1": "N", "gradient_s_*": "loss per unit modulus scale s_i",
                    "departure*": "dimensionless", "max_principal_strain_*": "dimensionless",
                    "load_factors": "dimensionless multiple of the task's load"}
    return rec


def task_linearity(comm, task, mesh, cell_tags, load_factors, *, samples=None, law="neo-hookean",
                   coefficients_Pa=None, degree=2, progress=None, solver="lu") -> dict:
    """The task metric of a data-set task through the linear and the hyperelastic FEM at each load
    factor, over ``samples`` (default: every row), on ONE mesh (collective).

    Linear: the transfer matrix T (one solve per input column, :mod:`femnn.fem.transfer`), outputs
    f X Tᵀ. Nonlinear: one load path per sample from the undeformed part through the sorted factors
    (the responses do not superpose). Classification compares the predicted class (largest |u|) of
    the two, which is scale-free; regression compares u/f with the targets (the task is linear in the
    load only for the linear models). Returns the ``task_level`` record of ``linearity.json``."""
    from femnn.fem.solve import solve_loads
    from femnn.fem.transfer import unit_loads
    from femnn.train.losses import predict, relative_error

    factors = sorted(float(f) for f in load_factors)
    rows = np.arange(task.n_samples) if samples is None else np.asarray(samples, dtype=np.int64)
    t0 = time.perf_counter()
    nt = NonlinearTask(comm, task, mesh, cell_tags, law=law, coefficients_Pa=coefficients_Pa, degree=degree,
                       sample=int(rows[0]), solver=solver)
    U1 = solve_loads(comm, nt.lin, unit_loads(task), task.network.n_nodes)        # (n_inputs, n_nodes, 2)
    T = U1.reshape(task.n_inputs, -1).T[task.output_dofs]                          # (n_outputs, n_inputs)
    u_lin1 = task.X[rows] @ T.T                                                    # (n_s, n_outputs) at f = 1
    u_nl = np.zeros((len(factors), rows.size, task.output_dofs.size))
    newton = np.zeros((len(factors), rows.size), dtype=np.int64)
    for j, k in enumerate(rows):
        nt.set_sample(int(k))
        for i, f in enumerate(factors):
            newton[i, j] = sum(nt.solve(f))
            u_nl[i, j] = nt.outputs(nt.hub_means(nt.hyper.u))
        if progress:
            progress(j + 1, rows.size)
    dep = np.linalg.norm(u_nl - np.array(factors)[:, None, None] * u_lin1, axis=2) / np.maximum(
        np.linalg.norm(u_lin1, axis=1), 1e-300)[None, :] / np.array(factors)[:, None]
    rec = {"samples": rows.tolist(), "load_factors": factors, "transfer_linear_m_per_input": T,
           "departure": dep.tolist(), "departure_max": dep.max(axis=1).tolist(),
           "departure_median": np.median(dep, axis=1).tolist(),
           "newton_iterations_total": newton.sum(axis=1).tolist(), "dofs": int(nt.dofs), "material": nt.law.describe()}
    if task.is_classification:
        labels = np.asarray(task.Y)[rows]
        p_lin = predict(u_lin1)
        rec["accuracy_linear"] = float(np.mean(p_lin == labels))
        rec["accuracy_nonlinear"] = [float(np.mean(predict(u) == labels)) for u in u_nl]
        rec["predictions_changed"] = [int(np.sum(predict(u) != p_lin)) for u in u_nl]
        rec["changed_samples"] = [rows[predict(u) != p_lin].tolist() for u in u_nl]
    else:
        Y = np.atleast_2d(task.Y)[rows]
        rec["error_linear"] = relative_error(u_lin1, Y)
        rec["error_nonlinear"] = [relative_error(u / f, Y) for u, f in zip(u_nl, factors)]
    rec["seconds"] = time.perf_counter() - t0
    return rec
