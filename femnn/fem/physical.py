"""The FEM of the printed part as the physical system of physics-aware training (collective on comm).

:class:`FemForward` is a ``physical(widths_m, X) -> u_out`` callable for
:func:`femnn.train.pat.train_pat`: at new widths it rebuilds and meshes the part, assembles and
factorises once, and solves once per input column (the transfer matrix T of
:mod:`femnn.fem.transfer`); every sample's outputs are then X Tᵀ, and later calls at the same
widths (the rest of the epoch's evaluation, the next batch) cost nothing.

Its ``exact_gradient_w`` is the FEM's own gradient. For a batch with output gradients G
(n_samples, n_outputs) of L = Σ_s G_s·u_out,s the adjoint of sample s is a combination of the unit
output adjoints a_o (K a_o = -Pᵀ e_o, one solve per output on the same factorisation), so

    ∂L/∂s_i = Σ_s t∫_i σ(u_s):ε(u_adj,s) dx = Σ_c t∫_i σ(u_c):ε(Σ_o M_co a_o) dx,   M = Xᵀ G,

with u_c the unit-input fields and s_i a stiffness scale of bond region i (the exact discrete
adjoint of :mod:`femnn.fem.elasticity`). It is chained to widths through the stiffness law: scaling
bond i's modulus by s scales its spring constant k_i by s, so ∂L/∂w_i ≈ ∂L/∂s_i · k_i'(w)/k_i(w)
(exact only in so far as the bond region carries the bond's whole compliance: hubs and necks do
not scale; the study in docs/pat.md measures it against widths finite differences).

:func:`calibrate_law` fits the bar model's stiffness law k_i(w) = a_i + b_i w_i to the FEM: at a
few width sets (all bonds at the lower bound, mid-range, upper bound, plus random sets) it solves
the part under a unit force on every free DOF (the FEM's hub compliance), fits per-bond spring
constants reproducing it (:func:`femnn.crosscheck.calibrate.fit_bond_stiffness`), and fits a line
per bond through (w_i, k_i) over the sets. :func:`law_accuracy` reports how close the calibrated
bar model comes to the FEM at widths it was not fitted at.
"""

from __future__ import annotations

import dataclasses
import time

import numpy as np

from femnn.fem.meshing import FemOptions, mesh_task, with_material
from femnn.fem.transfer import FemTransfer, unit_loads
from femnn.network import Task
from femnn.train.pat import StiffnessLaw


def _fit_bond_stiffness(network, F, U_ref):
    """Per-bond k fitted to reference hub displacements (one call into crosscheck, which is moving)."""
    from femnn.crosscheck.calibrate import fit_bond_stiffness

    return fit_bond_stiffness(network, F, U_ref)


def _unit_load_cases(network):
    from femnn.crosscheck.calibrate import unit_load_cases

    return unit_load_cases(network)


def _chain_to_widths(model, widths_m, X, G, law: StiffnessLaw | None) -> np.ndarray:
    """``model.exact_gradient_s`` chained to widths through the stiffness law (module docstring):
    ∂L/∂w_i ≈ ∂L/∂s_i k_i'(w) / k_i(w), the bar law k = (E t/L) w by default."""
    law = law or StiffnessLaw.bar(model.task.network)
    w = np.asarray(widths_m, float)
    return model.exact_gradient_s(w, X, G) * law.dk_dw(w) / law.k(w)


class FemForward:
    """FEM forward model of ``task``'s part (2D plane stress or 3D) at any widths; see module docstring.

    Timings accumulate in ``seconds`` (keys mesh, assemble, factorize, solve, adjoint, energy) and
    ``n_meshes`` counts rebuilds.
    """

    def __init__(self, comm, task: Task, dim: int, opts: FemOptions = FemOptions()):
        if dim not in (2, 3):
            raise ValueError(f"dim must be 2 or 3 (got {dim})")
        self.comm, self.dim, self.opts = comm, int(dim), opts
        self.task = with_material(task, opts)
        self.name = f"fem{dim}d"
        self.seconds = dict.fromkeys(("mesh", "assemble", "factorize", "solve", "adjoint", "energy"), 0.0)
        self.n_meshes = 0
        self.dofs = None
        self._key = None
        self._state = None

    # ---- state at one width set -----------------------------------------------------------
    def _release(self):
        if self._state is not None:
            prob = self._state["problem"]
            prob.ksp.destroy()
            prob.A.destroy()
            self._state = None

    def _at(self, widths_m):
        import dolfinx

        from femnn.fem.solve import default_hub_tag, make_problem

        w = np.ascontiguousarray(np.asarray(widths_m, dtype=float))
        key = w.tobytes()
        if key == self._key:
            return self._state
        self._release()
        task = self.task.with_network(self.task.network.with_widths(w))
        t0 = time.perf_counter()
        mesh, tags, _ = mesh_task(self.comm, task, self.dim, self.opts)
        t1 = time.perf_counter()
        prob = make_problem(self.comm, task, mesh, tags, degree=self.opts.degree, solver=self.opts.solver,
                            formulation=self.opts.formulation, preconditioner=self.opts.preconditioner)
        t2 = time.perf_counter()
        if prob.solver_kind == "lu":
            prob.ksp.setUp()
        t3 = time.perf_counter()
        n = task.network.n_nodes
        fields, cols = [], []
        for F in unit_loads(task):
            u = dolfinx.fem.Function(prob.V)
            prob.solve(F, default_hub_tag, out=u)
            fields.append(u)
            cols.append(prob.hub_means(u, n, default_hub_tag).reshape(-1))
        t4 = time.perf_counter()
        hub_T = np.array(cols).T
        self.seconds["mesh"] += t1 - t0
        self.seconds["assemble"] += t2 - t1
        self.seconds["factorize"] += t3 - t2
        self.seconds["solve"] += t4 - t3
        self.n_meshes += 1
        self.dofs = int(prob.dofs)
        tr = FemTransfer(T=hub_T[task.output_dofs], hub_T=hub_T, dofs=int(prob.dofs), dim=self.dim,
                         n_solves=len(fields), n_factorizations=int(prob.n_factorizations), seconds_mesh=t1 - t0,
                         seconds_assemble=t2 - t1, seconds_factorize=t3 - t2, seconds_solve=t4 - t3)
        self._key = key
        self._state = {"problem": prob, "fields": fields, "adjoints": None, "transfer": tr, "task": task}
        return self._state

    def transfer(self, widths_m) -> FemTransfer:
        """The :class:`FemTransfer` of the part at ``widths_m`` (cached for the last width set)."""
        return self._at(widths_m)["transfer"]

    def __call__(self, widths_m, X) -> np.ndarray:
        """u_out (n_samples, n_outputs) m = X Tᵀ(w)."""
        return self.transfer(widths_m).outputs(X)

    def exact_gradient_s(self, widths_m, X, G) -> np.ndarray:
        """∂L/∂s_i (n_bonds,) J of L = Σ_s G_s·u_out,s (see module docstring)."""
        import dolfinx

        from femnn.fem.solve import default_bond_tag, default_hub_tag

        st = self._at(widths_m)
        prob, task = st["problem"], st["task"]
        net = task.network
        if st["adjoints"] is None:   # one solve per output on the same factorisation
            t0 = time.perf_counter()
            adj = []
            for d in task.output_dofs:
                F = np.zeros((net.n_nodes, 2))
                F[d // 2, d % 2] = -1.0
                a = dolfinx.fem.Function(prob.V)
                prob.solve(F, default_hub_tag, out=a)
                adj.append(a)
            st["adjoints"] = adj
            self.seconds["adjoint"] += time.perf_counter() - t0
        t0 = time.perf_counter()
        M = np.atleast_2d(X).T @ np.atleast_2d(G)   # (n_inputs, n_outputs)
        tags = [default_bond_tag(i) for i in range(net.n_bonds)]
        g = np.zeros(net.n_bonds)
        comb = dolfinx.fem.Function(prob.V)
        for c, u_c in enumerate(st["fields"]):
            if not np.any(M[c]):
                continue
            comb.x.array[:] = sum(M[c, o] * a.x.array for o, a in enumerate(st["adjoints"]))
            g += prob.region_energy(u_c, comb, tags)
        self.seconds["energy"] += time.perf_counter() - t0
        return g

    def exact_gradient_w(self, widths_m, X, G, law: StiffnessLaw | None = None) -> np.ndarray:
        """∂L/∂w_i ≈ ∂L/∂s_i k_i'(w) / k_i(w) (m⁻¹ J) with the bar law k = (E t/L) w by default."""
        return _chain_to_widths(self, widths_m, X, G, law)

    def info(self) -> dict:
        return {"model": self.name, "dofs": self.dofs, "n_meshes": self.n_meshes, "quick": self.opts.quick,
                "degree": self.opts.degree, "solver": self.opts.solver,
                "seconds": {f"{k}_s": v for k, v in self.seconds.items()}}

    def close(self):
        self._release()


class HyperelasticForward:
    """The hyperelastic (large-deformation) FEM of ``task``'s part as the forward pass of PAT.

    Nonlinear responses do not superpose, so there is no transfer matrix: every sample's loads are
    applied from the undeformed part and followed by Newton with load stepping
    (:class:`femnn.fem.linearity.NonlinearTask`, one mesh per width set, outputs cached per sample
    at that width set). ``load_factor`` scales the task's loads (1: as the task file says).

    ``exact_gradient_s`` / ``exact_gradient_w`` are the hyperelastic FEM's own gradient, by the tangent
    adjoint at each sample's converged state u_s (dead loads: the tangent J depends on u_s only):

        J(u_s)ᵀ λ_s = -Pᵀ G_s,   ∂L/∂s_i = Σ_s t ∫_{bond i} P(F(u_s)) : ∇λ_s dX,

    one J factorisation per sample with a non-zero G_s (the converged states are kept per sample at
    the width set). With them PAT records the cosine of the bar estimator against the exact
    nonlinear gradient, and ``--backward fem`` trains on it."""

    def __init__(self, comm, task: Task, dim: int, opts: FemOptions = FemOptions(), law: str = "neo-hookean",
                 load_factor: float = 1.0):
        if dim not in (2, 3):
            raise ValueError(f"dim must be 2 or 3 (got {dim})")
        self.comm, self.dim, self.opts, self.law = comm, int(dim), opts, law
        self.load_factor = float(load_factor)
        self.task = with_material(task, opts)
        self.name = f"hyper{dim}d"
        self.seconds = dict.fromkeys(("mesh", "setup", "newton", "adjoint"), 0.0)
        self.n_meshes = 0
        self.n_newton = 0
        self.dofs = None
        self._key, self._nt, self._cache, self._states = None, None, {}, {}

    def _at(self, widths_m):
        from femnn.fem.linearity import NonlinearTask

        w = np.ascontiguousarray(np.asarray(widths_m, dtype=float))
        if w.tobytes() != self._key:
            task = self.task.with_network(self.task.network.with_widths(w))
            t0 = time.perf_counter()
            mesh, tags, _ = mesh_task(self.comm, task, self.dim, self.opts)
            t1 = time.perf_counter()
            self._nt = NonlinearTask(self.comm, task, mesh, tags, law=self.law, degree=self.opts.degree,
                                     solver=self.opts.solver)
            self.seconds["mesh"] += t1 - t0
            self.seconds["setup"] += time.perf_counter() - t1
            self.n_meshes += 1
            self.dofs = int(self._nt.dofs)
            self._key, self._cache, self._states = w.tobytes(), {}, {}
        return self._nt

    def __call__(self, widths_m, X) -> np.ndarray:
        """u_out (n_samples, n_outputs) m: each row of X through the hyperelastic FEM at ``widths_m``."""
        nt = self._at(widths_m)
        X = np.atleast_2d(np.asarray(X, dtype=float))
        out = np.zeros((X.shape[0], self.task.output_dofs.size))
        for i, x in enumerate(X):
            key = x.tobytes()
            if key not in self._cache:
                t0 = time.perf_counter()
                nt.set_loads(self.task.loads_N(x[None, :])[0])
                self.n_newton += sum(nt.solve(self.load_factor))
                self._cache[key] = nt.outputs(nt.hub_means(nt.hyper.u))
                self._states[key] = nt.hyper.u.x.array.copy()
                self.seconds["newton"] += time.perf_counter() - t0
            out[i] = self._cache[key]
        return out

    def exact_gradient_s(self, widths_m, X, G) -> np.ndarray:
        """∂L/∂s_i (n_bonds,) J of L = Σ_s G_s·u_out,s through the hyperelastic FEM (class docstring)."""
        X = np.atleast_2d(np.asarray(X, dtype=float))
        G = np.atleast_2d(np.asarray(G, dtype=float))
        self(widths_m, X)   # every sample's converged state at these widths
        nt = self._nt
        t0 = time.perf_counter()
        g = np.zeros(self.task.network.n_bonds)
        for x, Gs in zip(X, G):
            if not np.any(Gs):
                continue
            nt.hyper.u.x.array[:] = self._states[x.tobytes()]
            F = np.zeros(2 * self.task.network.n_nodes)
            F[self.task.output_dofs] = -Gs
            g += nt.adjoint_gradient(F.reshape(-1, 2))
        self.seconds["adjoint"] += time.perf_counter() - t0
        return g

    def exact_gradient_w(self, widths_m, X, G, law: StiffnessLaw | None = None) -> np.ndarray:
        """∂L/∂w_i ≈ ∂L/∂s_i k_i'(w) / k_i(w), chained as :meth:`FemForward.exact_gradient_w`."""
        return _chain_to_widths(self, widths_m, X, G, law)

    def info(self) -> dict:
        return {"model": self.name, "law": self.law, "load_factor": self.load_factor, "dofs": self.dofs,
                "n_meshes": self.n_meshes, "newton_iterations": self.n_newton, "quick": self.opts.quick,
                "degree": self.opts.degree, "seconds": {f"{k}_s": v for k, v in self.seconds.items()}}

    def close(self):
        self._nt, self._cache, self._states, self._key = None, {}, {}, None


# ---- calibrated stiffness law -----------------------------------------------------------------

def calibration_widths(network, n_random: int = 3, seed: int = 0) -> np.ndarray:
    """(3 + n_random, n_bonds) m: all bonds at the lower bound, mid-range, upper bound, then seeded
    uniform random width sets."""
    lo, hi = (float(v) for v in network.width_bounds_m)
    rng = np.random.default_rng(seed)
    sets = [np.full(network.n_bonds, v) for v in (lo, 0.5 * (lo + hi), hi)]
    sets += [rng.uniform(lo, hi, network.n_bonds) for _ in range(n_random)]
    return np.array(sets)


def fem_bond_stiffness(comm, task: Task, dim: int, opts: FemOptions, widths_m) -> dict:
    """Per-bond spring constants (N/m) of the bar model best reproducing the FEM hub compliance at
    ``widths_m`` (unit force on every free DOF in turn; one mesh, one factorisation)."""
    from femnn.fem.solve import part_problem, solve_loads

    task = task.with_network(task.network.with_widths(widths_m))
    net = task.network
    prob, _, _ = part_problem(comm, task, dim, opts)
    F = _unit_load_cases(net)
    U = solve_loads(comm, prob, F, net.n_nodes)
    prob.ksp.destroy()
    prob.A.destroy()
    return _fit_bond_stiffness(net, F, U)


def calibrate_law(comm, task: Task, dim: int, opts: FemOptions = FemOptions(), *, n_random: int = 3, seed: int = 0,
                  progress=None) -> tuple[StiffnessLaw, dict]:
    """Fit k_i(w) = a_i + b_i w_i to the FEM (see module docstring) -> (law, info).

    info: widths_m (n_sets, n_bonds), k_N_per_m (n_sets, n_bonds) fitted per set, misfit_per_bond per
    set (the least-squares hub-compliance misfit left by per-bond k), line_residual (relative RMS of
    the per-bond line through the fitted k), seconds."""
    t0 = time.perf_counter()
    W = calibration_widths(task.network, n_random, seed)
    K, misfit = [], []
    for j, w in enumerate(W):
        r = fem_bond_stiffness(comm, task, dim, opts, w)
        K.append(r.k_N_per_m)
        misfit.append(r.misfit_per_bond)
        if progress:
            progress(j + 1, len(W))
    K = np.array(K)
    a = np.zeros(W.shape[1])
    b = np.zeros(W.shape[1])
    for i in range(W.shape[1]):
        A = np.column_stack([np.ones(W.shape[0]), W[:, i]])
        (a[i], b[i]), *_ = np.linalg.lstsq(A, K[:, i], rcond=None)
    fit = a + b * W
    law = StiffnessLaw(a, b, f"fem{dim}d-calibrated")
    info = {"dim": dim, "quick": opts.quick, "widths_m": W.tolist(), "k_N_per_m": K.tolist(), "misfit_per_bond": misfit,
            "line_residual": float(np.linalg.norm(fit - K) / np.linalg.norm(K)),
            "law": law.as_dict(), "seconds": time.perf_counter() - t0}
    return law, info


def law_accuracy(comm, task: Task, dim: int, opts: FemOptions, law: StiffnessLaw, widths_sets) -> list[dict]:
    """How close the bar model (plain law and ``law``) comes to the FEM at each width set: relative
    Frobenius error of the task's transfer matrix, ||T_bar - T_fem|| / ||T_fem||, and of the outputs
    over all samples, ||U_bar - U_fem|| / ||U_fem||."""
    from femnn.train.pat import BarPhysical

    fem = FemForward(comm, task, dim, opts)
    plain = BarPhysical(task)
    cal = BarPhysical(task, law)
    eye = np.eye(task.n_inputs)
    rows = []
    for w in np.atleast_2d(widths_sets):
        Tf = fem.transfer(w).T
        Uf = fem(w, task.X)
        row = {}
        for name, m in (("bar", plain), ("bar_calibrated", cal)):
            Tb = m(w, eye).T
            row[f"{name}_transfer_error"] = float(np.linalg.norm(Tb - Tf) / np.linalg.norm(Tf))
            row[f"{name}_output_error"] = float(np.linalg.norm(m(w, task.X) - Uf) / np.linalg.norm(Uf))
        rows.append(row)
    fem.close()
    return rows


# ---- orchestration for `femnn train --forward ...` ---------------------------------------------

FORWARDS = ("fem2d", "fem3d", "bar-calibrated", "hyper2d", "hyper3d")


def world_comm():
    """MPI.COMM_WORLD (for the CLI, which owns the choice of communicator)."""
    from mpi4py import MPI

    return MPI.COMM_WORLD


def held_out_widths(network, init_widths_m, n_random: int = 2, seed: int = 12345) -> np.ndarray:
    """Width sets the calibration did not see: the starting widths and seeded random sets."""
    lo, hi = (float(v) for v in network.width_bounds_m)
    rng = np.random.default_rng(seed)
    return np.array([np.asarray(init_widths_m, float)] + [rng.uniform(lo, hi, network.n_bonds) for _ in range(n_random)])


def train_physics_aware(comm, task: Task, config, *, forward: str, backward: str = "bar", param: str | None = None,
                        opts: FemOptions = FemOptions(), calibrate_on: str = "fem2d", split=None, checkpoint=None,
                        calibration_file=None, resume: bool = False, progress: bool = False):
    """Physics-aware training of ``task`` from its network's current widths (collective).

    forward : ``"fem2d"`` / ``"fem3d"`` (the part's FEM at every step, :class:`FemForward`) or
        ``"bar-calibrated"`` (the bar model with the stiffness law fitted to ``calibrate_on``'s FEM,
        at bar speed; the FEM runs only for the calibration and its held-out check)
    backward : ``"bar"`` (the PAT estimator) or ``"fem"`` (the FEM's exact ∂L/∂s chained to widths)
    param : ``"box"`` (default: projected Adam in width space, with Adam's ε = 1e-300 so that
        its step stays normalised for MSE losses in m², whose width gradients fall below the default
        ε = 1.5e-8; docs/pat.md measures the difference) or ``"sigmoid"`` (femnn train's map and ε)
    calibration_file : where the calibration is kept (JSON); reused when ``resume`` and present

    Returns the :class:`~femnn.train.TrainResult` of :func:`femnn.train.pat.train_pat`, with
    ``extra["physical"]``: the forward model, its FEM sizes and phase timings, the final physical and
    bar metrics, and for ``bar-calibrated`` the calibration and its accuracy at held-out widths.
    """
    import json
    from pathlib import Path

    from femnn.errors import InputError
    from femnn.report.files import atomic_write_json
    from femnn.train.pat import _Progress as Progress
    from femnn.train.pat import BarPhysical, train_pat

    if forward not in FORWARDS:
        raise InputError("--forward", "", f"{forward!r}; expected one of bar, {', '.join(FORWARDS)}")
    if backward not in ("bar", "fem"):
        raise InputError("--backward", "", f"{backward!r}; expected 'bar' or 'fem'")
    if forward == "bar-calibrated" and backward == "fem":
        raise InputError("--backward", "", "fem needs an FEM forward (--forward fem2d, fem3d, hyper2d or hyper3d); "
                         "bar-calibrated trains on its own exact gradient")
    if calibrate_on not in ("fem2d", "fem3d"):
        raise InputError("--calibrate-on", "", f"{calibrate_on!r}; expected fem2d or fem3d")
    param = param or "box"
    adam_eps = 1e-300 if param == "box" else None
    w0 = task.network.widths_m
    settings = {"forward": forward, "fem_quick": opts.quick, "fem_degree": opts.degree}
    if opts.solver != "lu":   # recorded (and fingerprinted) only when not the default, so LU runs resume as before
        settings["fem_solver"] = opts.solver
    info: dict = {"forward": forward, "backward": backward, "param": param}
    law = None
    if forward == "bar-calibrated":
        dim = int(calibrate_on[3])
        cal = None
        if calibration_file is not None and resume and Path(calibration_file).is_file():
            cal = json.loads(Path(calibration_file).read_text())
        if cal is None:
            bar = Progress(6, f"calibrate k(w) on {calibrate_on}", progress)
            law, cal = calibrate_law(comm, task, dim, opts, progress=lambda i, n: bar.update(i, force=True))
            bar.close()
            cal["held_out"] = law_accuracy(comm, task, dim, opts, law, held_out_widths(task.network, w0))
            if calibration_file is not None and comm.rank == 0:
                atomic_write_json(Path(calibration_file), cal)
        law = StiffnessLaw.from_dict(cal["law"])
        physical = BarPhysical(task, law, name="bar-calibrated")
        settings["calibrated_on"] = calibrate_on
        info["calibration"] = cal
        res = train_pat(task, physical, config, law=law, param=param, checkpoint=checkpoint, resume=resume,
                        write_checkpoint=comm.rank == 0,
                        progress=progress, split=split, cosine=False, settings=settings, adam_eps=adam_eps)
    elif forward.startswith("hyper"):
        physical = HyperelasticForward(comm, task, int(forward[5]), opts)
        res = train_pat(task, physical, config, param=param, backward="physical" if backward == "fem" else "bar",
                        checkpoint=checkpoint, resume=resume, progress=progress,
                        split=split, settings=settings, write_checkpoint=comm.rank == 0, adam_eps=adam_eps)
        info["fem"] = physical.info()
        physical.close()
    else:
        physical = FemForward(comm, task, int(forward[3]), opts)
        res = train_pat(task, physical, config, param=param, backward="physical" if backward == "fem" else "bar",
                        checkpoint=checkpoint, resume=resume, progress=progress, split=split, settings=settings,
                        write_checkpoint=comm.rank == 0,
                        adam_eps=adam_eps)
        info["fem"] = physical.info()
        physical.close()
    info["final"] = res.final
    return dataclasses.replace(res, physical=info)
