"""The validation chain, in one place: task -> part -> mesh -> FEM forward/adjoint -> reduction ->
calibration -> comparison (-> printable export).

``femnn.validate(task, ...)`` (this module's :func:`validate`) runs it and returns a frozen :class:`Validation`; ``.write(out_dir)``
hands it to the report layer (:mod:`femnn.report.validation`). ``femnn validate``,
``femnn crosscheck``, ``femnn converge`` and ``femnn study`` all call the steps defined here.

Steps (each one function, each producing one result type):

1. :func:`resolve_task` -- a name, a path or a :class:`~femnn.network.Task`, with trained widths applied.
2. ``bar``: :func:`femnn.train.bar_result` (forward and adjoint on one factorisation).
3. ``fem2d``/``fem3d``: :func:`femnn.fem.part_model` (gmsh on rank 0, DOLFINx on ``comm``).
4. imported files (COMSOL text, VTU/XDMF): :func:`femnn.crosscheck.imported.imported_result`.
5. :func:`calibrate` -- the bar model's stiffness fitted to the reference: with a FEM reference, to its
   hub compliance (a unit force on every free DOF, all on the FEM's one factorisation): one global
   factor (``bar_calibrated``) and, unless ``per_bond=False``, one factor per bond
   (``bar_calibrated_per_bond``); with only an imported reference, one global factor fitted to its
   displacements under the task's load.
6. :func:`width_gradients_fd` (optional): dL/dw by remeshed central differences.
7. :func:`femnn.crosscheck.compare` -> checks; the printable export (optional) adds its own check.

Heavy stages (gmsh, DOLFINx, MPI) are imported inside the functions that need them; every
function that touches the FEM takes ``comm``; only rank 0 writes.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from femnn.crosscheck.compare import Check, CrossCheck, Tolerances, compare, global_calibration
from femnn.errors import InputError
from femnn.network import Task
from femnn.train.metrics import data_task_record, single_load_task_record

log = logging.getLogger("femnn.validate")

#: the built-in default of ``femnn validate``: the paper's Fig. 1 network and load
DEFAULT_TASK = "fig1"


class SelfComm:
    """Stand-in for a one-rank communicator when no FEM (hence no MPI) is needed."""

    rank, size = 0, 1

    def bcast(self, obj, root=0):
        return obj

    def Barrier(self):
        pass


def fem_comm(comm=None):
    """``comm`` or MPI.COMM_WORLD (imports the DOLFINx wheel's MPI first)."""
    if comm is not None:
        return comm
    import dolfinx_solver  # noqa: F401  (before mpi4py: puts the wheel's libmpi on the loader path)
    from mpi4py import MPI

    return MPI.COMM_WORLD


# ---- options -------------------------------------------------------------------------------------
def fem_options(*, degree: int = 2, refine: int = 0, solver: str = "lu", poisson: float | None = None,
                hub_radius_mm: float | None = None, neck_length_mm: float | None = None, quick: bool = False,
                formulation: str = "auto", low_memory: bool = False, preconditioner: str = "auto",
                source: str = "option"):
    """Checked :class:`femnn.fem.FemOptions` (ranges, finiteness); ``source`` names where a bad value came from."""
    from femnn.fem.meshing import FemOptions

    def bad(name, value, why):
        raise InputError(f"--{name.replace('_', '-')}" if source == "option" else source, "" if source == "option" else name,
                         f"{value!r}: {why}")

    if isinstance(degree, bool) or not isinstance(degree, (int, np.integer)) or not 1 <= degree <= 4:
        bad("degree", degree, "the Lagrange degree must be an integer from 1 to 4 (default 2)")
    if isinstance(refine, bool) or not isinstance(refine, (int, np.integer)) or not 0 <= refine <= 6:
        bad("refine", refine, "the refinement level must be an integer from 0 to 6 (each level halves the element size)")
    if solver not in ("lu", "cg"):
        bad("solver", solver, "expected 'lu' (MUMPS) or 'cg' (CG + multigrid)")
    from femnn.fem.elasticity import PRECONDITIONERS

    if preconditioner not in PRECONDITIONERS:
        bad("preconditioner", preconditioner, f"expected one of {', '.join(PRECONDITIONERS)}")
    if preconditioner == "pmg" and isinstance(degree, (int, np.integer)) and degree < 2:
        bad("preconditioner", preconditioner, "the p-multigrid needs --degree 2 or more (its coarse level is P1); "
            "use gamg or auto")
    if poisson is not None and not (isinstance(poisson, (int, float)) and math.isfinite(poisson) and -1 < poisson <= 0.5):
        bad("poisson", poisson, "Poisson's ratio must be a finite number in (-1, 0.5] (0.5: incompressible, mixed formulation)")
    from femnn.fem.mixed import FORMULATIONS, choose_formulation

    if formulation not in FORMULATIONS:
        bad("formulation", formulation, f"expected one of {', '.join(FORMULATIONS)}")
    if poisson is not None:
        choose_formulation(poisson, formulation, "--formulation" if source == "option" else source)
    for name, v in (("hub_radius_mm", hub_radius_mm), ("neck_length_mm", neck_length_mm)):
        if v is not None and not (isinstance(v, (int, float)) and math.isfinite(v) and v > 0 and v < 1e3):
            bad(name, v, "give a positive length in millimetres")
    return FemOptions(degree=int(degree), refine=int(refine), solver=solver,
                      poisson_ratio=None if poisson is None else float(poisson), hub_radius_mm=hub_radius_mm,
                      neck_length_mm=neck_length_mm, quick=bool(quick), formulation=formulation,
                      low_memory=bool(low_memory), preconditioner=preconditioner)


def check_tolerances(tol: Tolerances) -> Tolerances:
    """Refuse tolerances that make no sense (NaN, negative, a Spearman limit outside [-1, 1])."""
    for name in ("u", "u_calibrated", "sign_threshold", "accuracy_drop", "error_increase"):
        v = getattr(tol, name)
        if not (isinstance(v, (int, float)) and math.isfinite(v) and v >= 0):
            raise InputError(f"--tol-{name.replace('_', '-')}", "", f"{v!r}: give a finite number >= 0")
    if not (isinstance(tol.spearman, (int, float)) and math.isfinite(tol.spearman) and -1 <= tol.spearman <= 1):
        raise InputError("--tol-spearman", "", f"{tol.spearman!r}: a rank correlation lies in [-1, 1] (default 0.95)")
    return tol


# ---- steps ---------------------------------------------------------------------------------------
def resolve_task(task, widths=None) -> Task:
    """A :class:`Task` from a built-in name, a task or network file (the Fig. 1 load on a network), or
    a Task; with the widths of a ``femnn train`` run (or widths JSON) applied."""
    from femnn.network import load_task_or_network

    t = task if isinstance(task, Task) else load_task_or_network(task)
    if widths is not None:
        from femnn.train.runs import apply_run_widths

        t, _ = apply_run_widths(t, widths)
    return t


def calibrate(comm, task: Task, reference, fields=None, *, per_bond: bool = True):
    """The bar model's stiffness fitted to ``reference`` (see the module docstring, step 5).

    With FEM ``fields`` (the reference's factorised problem): a unit force on every free DOF solved
    on that ONE factorisation, then :func:`femnn.crosscheck.calibrate.fit_bond_stiffness`. Returns
    (StiffnessFit or None, calibrated bar models by name)."""
    from femnn.crosscheck.calibrate import fit_bond_stiffness, unit_load_cases
    from femnn.train import bar_result

    net = task.network
    k0 = net.stiffness_N_per_m()
    if fields is None:   # an imported reference: only its displacements under the task's load
        c = global_calibration(bar_result(task).u_m, reference.u_m)
        return None, {"bar_calibrated": bar_result(task, k0 * c, "bar_calibrated", calibration_factor=c,
                                                   calibrated_to=f"{reference.name}: the task's load case")}
    import femnn.fem as fem

    F = unit_load_cases(net)
    t0 = time.perf_counter()
    U = fem.solve_loads(comm, fields.problem, F, net.n_nodes)
    fit = fit_bond_stiffness(net, F, U, per_bond=per_bond, calibrated_to=reference.name,
                             seconds_reference_solves=time.perf_counter() - t0)
    c = fit.global_factor
    what = f"{reference.name}: hub compliance ({fit.load_cases} unit loads)"
    models = {"bar_calibrated": bar_result(task, k0 * c, "bar_calibrated", calibration_factor=c, calibrated_to=what)}
    if per_bond:
        models["bar_calibrated_per_bond"] = bar_result(task, fit.k_N_per_m, "bar_calibrated_per_bond", calibrated_to=what)
    return fit, models


def width_gradients_fd(comm, task: Task, dim: int, opts, bonds, base, bar, step: float = 0.05) -> list[dict]:
    """∂L/∂w_b of the printed part by central differences with remeshing, for a few bonds.

    Each bond's width goes to w_b (1 ± step) and w_b (1 ± 2 step); the part is rebuilt and remeshed
    (same hub radius as the base part) and the FEM solved: fd = (L₊ - L₋) / (2 step w_b), and
    ``fd_spread`` = |fd(step) - fd(2 step)| estimates its truncation and remeshing noise. Compared
    with three chain rules at the base widths, all through k_b = E w_b t / l_b (∂k/∂w = k/w):
      ``fem_gradient_s``: the FEM's exact ∂L/∂s_b / w_b (s_b scales the modulus of bond region b, which
        is what a width change does to a uniform bar; hubs and the neck-to-hub joins are not scaled),
      ``fem_bar_form``: (e_adj ∘ e)_b from FEM elongations times k_b / w_b (the in situ rule),
      ``bar``: the bar model's own (e_adj ∘ e)_b k_b / w_b.
    One-sided (first order) at a width bound."""
    import femnn.fem as fem

    net = task.network
    k = net.stiffness_N_per_m()
    w = net.widths_m
    o = dataclasses.replace(opts, hub_radius_mm=base.hub_radius_m * 1e3 if base.hub_radius_m else opts.hub_radius_mm)
    lo, hi = net.width_bounds_m
    cache = {}

    def loss_at(b, wv):
        if wv == w[b]:
            return float(base.loss)
        if (b, wv) not in cache:
            wb = np.array(w, float)
            wb[b] = wv
            log.info("  width FD: bond %d (%d-%d) w = %.4g mm ...", b, net.bonds[b][0], net.bonds[b][1], wv * 1e3)
            r, _ = fem.part_model(comm, task.with_network(net.with_widths(wb)), dim, o)
            cache[(b, wv)] = float(r.loss)
        return cache[(b, wv)]

    def fd(b, h):
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
                     "fem_gradient_s": float(base.gradient_s[b] / w[b]),
                     "fem_bar_form": float(base.gradient_k[b] * k[b] / w[b]),
                     "bar": float(bar.gradient_k[b] * k[b] / w[b]), "model": base.name})
    return rows


@dataclass(frozen=True)
class PartExport:
    """The printable export of the validated part, built into a staging directory until written."""

    passed: bool
    message: str
    staging_dir: Path | None = None
    summary: dict = field(default_factory=dict)


def export_part(task: Task, *, hub_radius_mm=None, neck_length_mm=None) -> PartExport:
    """Build the 3D part of ``task`` (load and output ports as groups) and its STL/3MF into a staging
    directory; the print checks run before any file is written (rank 0 only)."""
    import tempfile

    import femnn.export as ex
    from femnn.export.build import build_files

    staging = Path(tempfile.mkdtemp(prefix="femnn-part-"))
    try:
        res = build_files(task, staging, dim=3, hub_radius_m=None if hub_radius_mm is None else hub_radius_mm * 1e-3,
                          neck_length_m=None if neck_length_mm is None else neck_length_mm * 1e-3,
                          extra={"task": task.name})
    except ex.ExportCheckError as exc:
        return PartExport(False, str(exc))
    return PartExport(True, f"{len(res.files)} files (STL, 3MF, mesh, summary)", staging, res.summary)


def run_split(task: Task, widths) -> dict | None:
    """The train/test split of a ``femnn train`` run directory (its ``split.json``), or None."""
    if widths is None or task.kind == "single":
        return None
    p = Path(widths)
    sp = p / "split.json" if p.is_dir() else None
    if sp is None or not sp.is_file():
        return None
    import json

    from femnn.train.loop import check_split

    try:
        data = json.loads(sp.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(str(sp), "", f"not valid JSON ({exc})") from None
    return check_split(data, task.n_samples, str(sp))


@dataclass(frozen=True)
class TaskModel:
    """A data task through one model: its transfer matrix T (n_outputs, n_inputs; m per unit input,
    u_out = X Tᵀ for every sample, from one factorisation and one solve per input column) and the
    task record (:func:`data_task_record`)."""

    name: str
    T: np.ndarray
    record: dict
    dofs: int | None = None
    degree: int | None = None
    calibration_factor: float | None = None
    calibrated_to: str | None = None
    seconds: float = 0.0

    def __post_init__(self):
        from femnn.bars.result import freeze_arrays

        freeze_arrays(self)

    def to_dict(self) -> dict:
        d = {"transfer_m_per_input": self.T, "task": self.record, "dofs": self.dofs, "degree": self.degree,
             "seconds": self.seconds}
        if self.calibration_factor is not None:
            d["calibration_factor"] = self.calibration_factor
        if self.calibrated_to is not None:
            d["calibrated_to"] = self.calibrated_to
        return d


@dataclass(frozen=True)
class Promise:
    """What the training promised for the widths: the task metrics of the model they were trained in.

    ``source``: "the bar model" (bar-trained widths, or no run) or the physics-aware run's forward
    model; ``record``: its metrics under the keys of the task records (``accuracy`` / ``error`` for
    single-load tasks, ``train_accuracy``, ``test_accuracy``, ``train_error``, ``test_error`` for data
    tasks)."""

    source: str
    record: dict


def run_promise(task: Task, widths) -> Promise | None:
    """The promise of a physics-aware ``femnn train --forward ...`` run directory: the physical metrics
    at its final widths (fem_history.json; the part was trained to do what ITS forward model says, not
    what the bar model says). None for bar-trained runs, widths files, and a summary that cannot be read."""
    import json

    if widths is None or not Path(widths).is_dir():
        return None
    try:
        st = json.loads((Path(widths) / "summary.json").read_text())["settings"]
        if not (isinstance(st, dict) and st.get("physics_aware")):
            return None
        # fem_history.json's final: the physical metrics AT the final widths (history's last record is
        # taken before the last update)
        final = json.loads((Path(widths) / "fem_history.json").read_text())["final"]
        if not isinstance(final, dict):
            return None
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if task.kind == "single":
        rec = {new: float(final[old]) for old, new in (("train_error", "error"), ("train_accuracy", "accuracy"))
               if isinstance(final.get(old), (int, float))}
    else:
        rec = {k: float(final[k]) for k in ("train_accuracy", "test_accuracy", "train_error", "test_error")
               if isinstance(final.get(k), (int, float))}
    if not rec:
        return None
    forward = str(st.get("forward", "physical model"))
    mesh = " (quick mesh)" if st.get("fem_quick") and forward.startswith("fem") else ""
    return Promise(f"the physics-aware run's {forward}{mesh}", rec)


def single_load_task_checks(task: Task, models: dict, tol: Tolerances, promise: Promise | None = None) -> list[Check]:
    """Each FEM model's task metric against the promise (default: the bar model's) for a single-load
    task: the behaviour kept (classification loss: the chosen output still moves most) or the target
    error at most ``tol.error_increase`` (relative) above the promised one (MSE)."""
    bar = single_load_task_record(task, models["bar"].u_m)
    ref = promise.record if promise is not None else bar
    who = f"what {promise.source} promised" if promise is not None else "the bar model's"
    checks = []
    for name, m in models.items():
        if not name.startswith("fem"):
            continue
        rec = single_load_task_record(task, m.u_m)
        if task.is_classification and "accuracy" in ref:
            drop = ref["accuracy"] - rec["accuracy"]
            checks.append(Check(f"{name}: the behaviour is kept (chosen output moves most; ratio {fmt_ratio(rec)})",
                                drop, tol.accuracy_drop, drop <= tol.accuracy_drop))
        elif not task.is_classification and ref.get("error"):
            inc = rec["error"] / ref["error"] - 1
            checks.append(Check(f"{name}: target error at most {tol.error_increase:.0%} above {who} "
                                f"({ref['error']:.4g})", inc, tol.error_increase, inc <= tol.error_increase))
    return checks


def fmt_ratio(rec) -> str:
    r = rec.get("ratio")
    return "-" if r is None else f"{r:.3f}"


def bar_transfer(task: Task, k=None) -> np.ndarray:
    """The bar model's transfer matrix T = O D⁻¹ B (n_outputs, n_inputs): one factorisation, one solve
    per input column (``TaskProblem.B``'s columns)."""
    from femnn.train import TaskProblem

    prob = TaskProblem(task)
    fac = prob.model.factorize(task.network.stiffness_N_per_m() if k is None else k)
    U = fac.solve_free(prob.B)
    U = U[:, None] if U.ndim == 1 else U
    return U[prob.out_idx]


def data_task_checks(task: Task, models: dict, tol: Tolerances, promise: Promise | None = None) -> list[Check]:
    """Each FEM model's task metric against the promise (default: the bar model's): accuracy drop <=
    ``tol.accuracy_drop`` on the train and test sets (or all samples), or relative error increase <=
    ``tol.error_increase``."""
    bar = models["bar"].record if hasattr(models["bar"], "record") else None
    who = "the bar model's"
    if promise is not None:
        bar, who = promise.record, f"what {promise.source} promised"
    checks = []
    for name, m in models.items():
        if not name.startswith("fem"):
            continue
        rec = m.record if hasattr(m, "record") else None
        if bar is None or rec is None:
            continue
        if task.is_classification:
            for key in [k for k in ("train_accuracy", "test_accuracy", "accuracy") if k in rec and k in bar]:
                drop = bar[key] - rec[key]
                checks.append(Check(f"{name}: {key.replace('_', ' ')} at most {tol.accuracy_drop:g} below {who} "
                                    f"({bar[key]:.3f})", drop, tol.accuracy_drop, drop <= tol.accuracy_drop))
        else:
            for key in [k for k in ("train_error", "test_error", "error") if k in rec and k in bar]:
                inc = rec[key] / bar[key] - 1 if bar[key] else float("inf")
                checks.append(Check(f"{name}: {key.replace('_', ' ')} at most {tol.error_increase:.0%} above {who} "
                                    f"({bar[key]:.4g})", inc, tol.error_increase, inc <= tol.error_increase))
    return checks


def validate_data_task(comm, t: Task, dims, opts, split, tol: Tolerances, per_bond: bool, promise: Promise | None = None):
    """The chain for data tasks (regression, classification): transfer matrices of the bar model, the
    FEM models (one factorisation each, one solve per input column, plus the unit loads of the
    calibration on the same factors) and the calibrated bar models; the task metrics of every model on
    the run's split; checks on the task metrics and on the transfer matrices."""
    from femnn.crosscheck.calibrate import fit_bond_stiffness, unit_load_cases

    X = t.X
    k0 = t.network.stiffness_N_per_m()
    t0 = time.perf_counter()
    T = bar_transfer(t)
    models = {"bar": TaskModel("bar", T, data_task_record(t, X @ T.T, split), seconds=time.perf_counter() - t0)}
    fit = None
    for dim in dims:
        import femnn.fem as fem
        from femnn.fem.transfer import transfer_from_problem

        log.info("fem%dd: geometry, mesh, one factorisation, %d input solves (P%d, %d rank(s)) ...", dim, t.n_inputs,
                 opts.degree, comm.size)
        t1 = time.perf_counter()
        prob, _, t_mesh = fem.part_problem(comm, t, dim, opts)
        tr = transfer_from_problem(comm, t, prob, seconds_mesh=t_mesh)
        name = f"fem{dim}d"
        models[name] = TaskModel(name, tr.T, data_task_record(t, X @ tr.T.T, split), dofs=tr.dofs, degree=opts.degree,
                                 seconds=time.perf_counter() - t1)
        if dim == max(dims):   # calibrate to the finest model on ITS factorisation
            F = unit_load_cases(t.network)
            t2 = time.perf_counter()
            U = fem.solve_loads(comm, prob, F, t.network.n_nodes)
            fit = fit_bond_stiffness(t.network, F, U, per_bond=per_bond, calibrated_to=name,
                                     seconds_reference_solves=time.perf_counter() - t2)
        log.info("%s: %d DOFs, %.2f s", name, tr.dofs, models[name].seconds)
    ref = f"fem{max(dims)}d"
    what = f"{ref}: hub compliance ({fit.load_cases} unit loads)"
    Tc = bar_transfer(t, k0 * fit.global_factor)
    models["bar_calibrated"] = TaskModel("bar_calibrated", Tc, data_task_record(t, X @ Tc.T, split),
                                         calibration_factor=fit.global_factor, calibrated_to=what)
    if per_bond:
        Tp = bar_transfer(t, fit.k_N_per_m)
        models["bar_calibrated_per_bond"] = TaskModel("bar_calibrated_per_bond", Tp, data_task_record(t, X @ Tp.T, split),
                                                      calibrated_to=what)
    Tref = models[ref].T
    rows, checks = {}, []
    for name, m in models.items():
        if name == ref:
            continue
        rel = float(np.linalg.norm(m.T - Tref) / np.linalg.norm(Tref))
        rows[name] = {"transfer_rel_error": rel}
        if name in ("bar", "bar_calibrated"):
            lim = tol.u if name == "bar" else tol.u_calibrated
            checks.append(Check(f"{name}: transfer matrix (outputs per input) within {lim:.0%} of {ref}", rel, lim,
                                rel <= lim))
    checks += data_task_checks(t, models, tol, promise)
    return models, fit, CrossCheck(ref, rows, tuple(checks))


# ---- the result ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Validation:
    """What :func:`validate` found.

    ``models``: model name -> its result (:class:`femnn.bars.BarResult`,
    :class:`femnn.fem.FemResult`, :class:`femnn.crosscheck.ImportedResult`); ``crosscheck``: the
    agreement with the reference model and its checks; ``calibration``: the stiffness fit to the FEM
    (None without a FEM reference); ``width_gradients``: rows of :func:`width_gradients_fd`;
    ``export``: the printable export (None unless asked); ``settings``: the values used (SI, and mm
    where named so). ``fields``: the live FEM fields by model name (not compared, not serialised)."""

    task: Task
    models: dict
    crosscheck: CrossCheck
    settings: dict
    calibration: object = None
    width_gradients: tuple = ()
    export: PartExport | None = None
    seconds: float = 0.0
    fields: dict = field(default_factory=dict, compare=False, repr=False)
    comm: object = field(default=None, compare=False, repr=False)

    @property
    def reference(self) -> str:
        return self.crosscheck.reference

    @property
    def checks(self) -> tuple:
        """Every check: the cross-check's and, when exported, the printable export's."""
        extra = ()
        if self.export is not None:
            extra = (Check(f"printable export: {self.export.message}", None, None, self.export.passed),)
        return tuple(self.crosscheck.checks) + extra

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.checks)

    def to_dict(self) -> dict:
        """The ``results.json`` content (without the provenance block the writer adds)."""
        net = self.task.network
        cmp = self.crosscheck.to_dict()
        cmp["checks"] = [c.to_dict() for c in self.checks]
        cmp["pass"] = self.passed
        out = {
            "task": self.task.name,
            "units": {"nodes": "m", "u": "m", "elongation": "m", "gradient_k": "loss per N/m",
                      "gradient_s": "loss per unit stiffness scale", "seconds": "s", "k_N_per_m": "N/m"},
            "nodes": net.nodes_m, "bonds": net.bonds, "fixed": net.fixed, "widths_m": net.widths_m,
            "models": {name: self._model_record(name, m) for name, m in self.models.items()},
            "comparison": cmp, "pass": self.passed, "settings": self.settings,
        }
        if self.calibration is not None:
            out["calibration"] = self.calibration.to_dict()
        if self.width_gradients:
            out["width_gradients"] = list(self.width_gradients)
        if self.export is not None:
            out["export"] = {"pass": self.export.passed, "message": self.export.message}
        return out

    def _model_record(self, name, m) -> dict:
        d = m.to_dict()
        if self.task.kind == "single":
            d["task"] = single_load_task_record(self.task, m.u_m)
        if name == "bar_calibrated_per_bond" and self.calibration is not None:
            # the fit that made this model, where femnn has always put it
            c = self.calibration.to_dict()
            d.update({k: c[k] for k in ("factor_per_bond", "global_factor", "misfit_uncalibrated", "misfit_global",
                                        "misfit_per_bond", "load_cases", "seconds_reference_solves")})
        return d

    def write(self, out_dir) -> list[Path]:
        """Write the run into ``out_dir`` (collective when FEM fields are present; rank 0 writes):
        results.json, report.md/html, pictures, FEM field files, and ``part/`` when exported. The
        files are written into a staging directory and moved into place at the end, so a failed or
        killed write leaves an earlier run in ``out_dir`` untouched."""
        from femnn.report.validation import write_validation

        return write_validation(Path(out_dir), self, comm=self.comm)


def single_load_models(comm, t: Task, dims, opts, imported, hub_radius_mm=None):
    """Steps 2-4 for a single-load task: the bar model, the FEM models of ``dims`` (their live fields kept
    apart) and the imported files -> (models, fields, reference FEM name or None, hub radius used, m)."""
    from femnn.train import bar_result

    models, fields = {"bar": bar_result(t)}, {}
    log.info("%s: bar model u at outputs %s mm", t.name, np.round(models["bar"].u_m.ravel()[t.output_dofs] * 1e3, 6))
    if dims:
        import femnn.fem as fem

        for dim in dims:
            log.info("fem%dd: geometry, mesh, forward and adjoint (P%d, %d rank(s)) ...", dim, opts.degree, comm.size)
            res, flds = fem.part_model(comm, t, dim, opts)
            models[res.name], fields[res.name] = res, flds
            log.info("%s: %d DOFs, forward %.2f s, adjoint %.2f s", res.name, res.dofs, res.seconds_forward,
                     res.seconds_adjoint)
    fem_ref = "fem3d" if "fem3d" in models else ("fem2d" if "fem2d" in models else None)
    hub_r = models[fem_ref].hub_radius_m if fem_ref else (hub_radius_mm or 1.25) * 1e-3
    if imported:
        from femnn.crosscheck.imported import imported_result

        for f, (pts, u) in imported:
            models[f.stem] = imported_result(t, pts, u, hub_r, f.stem, source=str(f))
    return models, fields, fem_ref, hub_r


def bonds_off_bounds(network, rel: float = 1e-6) -> np.ndarray:
    """Bonds whose width is not at a width bound (within ``rel``): where a trained gradient still ranks."""
    lo, hi = network.width_bounds_m
    w = network.widths_m
    return np.flatnonzero((w > lo * (1 + rel)) & (w < hi * (1 - rel)))


def validate(task=DEFAULT_TASK, *, widths=None, dims=(2, 3), quick: bool = False, comm=None, compare_files=(),
             compare_unit_mm: bool = False, per_bond: bool = True, width_fd=(), width_fd_step: float = 0.05,
             tolerances: Tolerances = Tolerances(), degree: int = 2, refine: int = 0, solver: str = "lu",
             poisson: float | None = None, hub_radius_mm: float | None = None, neck_length_mm: float | None = None,
             formulation: str = "auto", export: bool = False, low_memory: bool = False,
             preconditioner: str = "auto") -> Validation:
    """Run the validation chain (module docstring) and return a :class:`Validation`.

    ``task``: a built-in name, a task or network file, or a :class:`Task`; ``widths``: a ``femnn
    train`` run directory or widths JSON; ``dims``: FEM models to run (``()`` for none: then
    ``compare_files`` must name another solver's result); ``export``: also build the 3D print files
    (its check joins the verdict). Collective on ``comm`` (default MPI.COMM_WORLD when a FEM runs)."""
    t_start = time.perf_counter()
    dims = tuple(int(d) for d in dims)
    if any(d not in (2, 3) for d in dims):
        raise InputError("--dims", "", f"{list(dims)}: FEM models are 2 (plane stress) or 3 (solid)")
    tolerances = check_tolerances(tolerances)
    opts = fem_options(degree=degree, refine=refine, solver=solver, poisson=poisson, hub_radius_mm=hub_radius_mm,
                       neck_length_mm=neck_length_mm, quick=quick, formulation=formulation, low_memory=low_memory,
                       preconditioner=preconditioner)
    width_fd = [int(b) for b in width_fd]
    if width_fd and not dims:
        raise InputError("--width-fd", "", "width gradients by remeshing need a FEM model; drop --no-fem")
    if not dims and not compare_files:
        raise InputError("--no-fem", "", "nothing to compare the bar model with; give --compare FILE or drop --no-fem")
    if not (isinstance(width_fd_step, (int, float)) and 0 < width_fd_step < 0.25):
        raise InputError("--width-fd-step", str(width_fd_step), "give a relative step between 0 and 0.25 (default 0.05)")
    comm = fem_comm(comm) if dims else (comm or SelfComm())
    t = resolve_task(task, widths)
    if dims:
        from femnn.fem.mixed import choose_formulation

        choose_formulation(t.network.material.poisson_ratio if poisson is None else poisson, formulation)
    if t.kind != "single":
        if not dims:
            raise InputError("--no-fem", "", f"{t.name} is a data task: its validation needs a FEM model; drop --no-fem")
        for opt, val in (("--compare", compare_files), ("--width-fd", width_fd)):
            if val:
                raise InputError(opt, "", f"{t.name} is a data task; {opt} works on single-load tasks (fig1, behaviour-*)")
        split = run_split(t, widths)
        promise = run_promise(t, widths)
        models, fit, cmp = validate_data_task(comm, t, dims, opts, split, tolerances, per_bond, promise)
        settings = _settings(t, widths, dims, quick, opts, poisson, None, hub_radius_mm, neck_length_mm, per_bond, (),
                             False, (), width_fd_step, tolerances, comm, False)
        settings["split"] = "split.json of the run" if split else "all samples"
        settings["promise"] = _promise_setting(promise)
        return Validation(t, models, cmp, settings, fit, (), None, time.perf_counter() - t_start, {}, comm)
    bad = [b for b in width_fd if not 0 <= b < t.network.n_bonds]
    if bad:
        raise InputError("--width-fd", str(bad[0]), f"bond indices run from 0 to {t.network.n_bonds - 1}")
    imported = []
    if compare_files:
        from femnn.crosscheck.imported import read_points_displacement

        for f in compare_files:
            imported.append((Path(f), read_points_displacement(f, 1e-3 if compare_unit_mm else 1.0)))

    models, fields, fem_ref, hub_r = single_load_models(comm, t, dims, opts, imported, hub_radius_mm)
    ref = fem_ref or Path(compare_files[0]).stem
    if fem_ref:
        log.info("calibration of the bar model to %s (%s) ...", fem_ref, "global and per bond" if per_bond else "global")
    fit, cal_models = calibrate(comm, t, models[ref], fields.get(ref), per_bond=per_bond and fem_ref is not None)
    models.update(cal_models)
    fd_rows = ()
    if width_fd:
        fd_dim = dims[0]
        log.info("width gradients of bonds %s by remeshing (fem%dd, step %.0f%%) ...", width_fd, fd_dim, width_fd_step * 100)
        fd_rows = tuple(width_gradients_fd(comm, t, fd_dim, opts, width_fd, models[f"fem{fd_dim}d"], models["bar"],
                                           step=width_fd_step))
    # a trained run: judge the in situ rule on the bonds not at a width bound
    free_bonds = bonds_off_bounds(t.network) if widths is not None else None
    cmp = compare(t, models, ref, tolerances, gradient_bonds=free_bonds)
    promise = run_promise(t, widths)
    task_checks = single_load_task_checks(t, models, tolerances, promise)
    cmp = dataclasses.replace(cmp, checks=tuple(cmp.checks) + tuple(task_checks))
    part = None
    if export and 3 in dims:
        part = comm.bcast(export_part(t, hub_radius_mm=hub_radius_mm, neck_length_mm=neck_length_mm)
                          if comm.rank == 0 else None, root=0)
    settings = _settings(t, widths, dims, quick, opts, poisson, hub_r if fem_ref or hub_radius_mm else None, hub_radius_mm,
                         neck_length_mm, per_bond and fem_ref is not None, compare_files, compare_unit_mm, width_fd,
                         width_fd_step, tolerances, comm, export and 3 in dims)
    settings["promise"] = _promise_setting(promise)
    return Validation(t, models, cmp, settings, fit, fd_rows, part, time.perf_counter() - t_start, fields, comm)


def _promise_setting(promise: Promise | None) -> dict:
    """settings.promise of results.json: what the FEM models' task metrics are checked against."""
    if promise is None:
        return {"source": "the bar model"}
    return {"source": promise.source, **promise.record}


def _formulation_used(t, poisson, formulation) -> str:
    from femnn.fem.mixed import choose_formulation

    return choose_formulation(t.network.material.poisson_ratio if poisson is None else poisson, formulation)


def _preconditioner_used(opts) -> str | None:
    """The CG preconditioner the displacement problem uses (None for MUMPS LU)."""
    from femnn.fem.elasticity import choose_preconditioner

    return choose_preconditioner(opts.degree, opts.preconditioner) if opts.solver == "cg" else None


def _settings(t, widths, dims, quick, opts, poisson, hub_r, hub_radius_mm, neck_length_mm, per_bond, compare_files,
              compare_unit_mm, width_fd, width_fd_step, tolerances, comm, export) -> dict:
    """The values a run used (not the options as typed: None becomes what was used)."""
    return {"task": t.name, "task_source": t.source, "widths": None if widths is None else str(widths),
            "dims": list(dims), "quick": bool(quick), "degree": opts.degree, "refine": opts.refine,
            "solver": opts.solver, "low_memory": bool(opts.low_memory), "preconditioner": _preconditioner_used(opts),
            "formulation": _formulation_used(t, poisson, opts.formulation),
            "poisson_ratio": float(t.network.material.poisson_ratio if poisson is None else poisson),
            "poisson_ratio_source": "network file" if poisson is None else "option",
            "youngs_modulus_Pa": float(t.network.material.youngs_modulus_Pa), "thickness_m": float(t.network.thickness_m),
            "hub_radius_mm": float(hub_r * 1e3) if hub_r else None,
            "hub_radius_source": "option" if hub_radius_mm else ("derived from the width bounds and bond angles"
                                                                 if hub_r else "FEM part default"),
            "neck_length_mm": neck_length_mm, "per_bond_calibration": bool(per_bond),
            "compare_files": [str(f) for f in compare_files], "compare_unit_mm": bool(compare_unit_mm),
            "width_fd": list(width_fd), "width_fd_step": float(width_fd_step),
            "tolerances": dataclasses.asdict(tolerances), "ranks": int(comm.size), "export": bool(export)}


# ---- mesh convergence (femnn converge) ---------------------------------------------------------------
@dataclass(frozen=True)
class Convergence:
    """FEM results at several refinement levels and the Richardson value and error bar of each output."""

    task: Task
    dim: int
    degree: int
    levels: tuple
    richardson: dict

    def to_dict(self) -> dict:
        return {"task": self.task.name, "dim": self.dim, "degree": self.degree, "levels": list(self.levels),
                "richardson": self.richardson, "units": {"u_out": "m", "loss": "loss", "gradient_k": "loss per N/m"}}

    def write(self, out_dir) -> list[Path]:
        from femnn.report.validation import write_convergence

        return write_convergence(Path(out_dir), self)


def converge(task=DEFAULT_TASK, *, widths=None, levels=(0, 1, 2), dim: int = 2, degree: int = 2, solver: str = "lu",
             poisson: float | None = None, formulation: str = "auto", comm=None, low_memory: bool = False,
             preconditioner: str = "auto") -> Convergence:
    """The FEM of the part at refinement ``levels`` (element size halving per level) with the same
    step as :func:`validate` (:func:`femnn.fem.part_model`), and for the output displacements, the
    loss and every bond's gradient the observed order and Richardson value with its error bar."""
    from femnn.crosscheck.convergence import richardson

    levels = list(levels)
    if any(isinstance(v, bool) or not isinstance(v, (int, np.integer)) or not 0 <= v <= 6 for v in levels):
        raise InputError("--levels", "", f"{levels}: refinement levels are integers from 0 to 6")
    if len(levels) < 3:
        raise InputError("--levels", "", f"{levels}: give three or more refinement levels")
    if len(set(levels)) != len(levels):
        raise InputError("--levels", "", f"{levels}: the levels must be distinct (a repeated level gives a zero error bar)")
    if dim not in (2, 3):
        raise InputError("--dim", "", f"{dim}: 2 or 3")
    opts = [fem_options(degree=degree, refine=lev, solver=solver, poisson=poisson, formulation=formulation,
                        low_memory=low_memory, preconditioner=preconditioner)
            for lev in sorted(levels)]
    comm = fem_comm(comm)
    t = resolve_task(task, widths)
    if t.kind != "single":
        raise InputError(str(task), "kind", "converge follows one load case; give a single-load task (fig1, behaviour-*)")
    import femnn.fem as fem

    rows = []
    for o in opts:
        res, _ = fem.part_model(comm, t, dim, o)
        rows.append({"level": o.refine, "dofs": res.dofs, "loss": res.loss,
                     "u_out": res.u_m.ravel()[t.output_dofs].tolist(), "gradient_k": np.asarray(res.gradient_k).tolist()})
        log.info("level %d: %d DOFs, u_out %s mm", o.refine, res.dofs, np.round(np.array(rows[-1]["u_out"]) * 1e3, 6))
    summary = {"loss": richardson([r["loss"] for r in rows])}
    for c, d in enumerate(t.output_dofs):
        summary[f"u_{'xy'[d % 2]}[{d // 2}]"] = richardson([r["u_out"][c] for r in rows])
    summary["gradient_k"] = [richardson([r["gradient_k"][b] for r in rows]) for b in range(t.network.n_bonds)]
    return Convergence(t, dim, degree, tuple(rows), summary)
