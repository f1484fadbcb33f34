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

    def allgather(self, obj):
        return [obj]


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
        bad("solver", solver, "expected 'lu' (MUMPS) or 'cg' (CG + GAMG)")
    if poisson is not None and not (isinstance(poisson, (int, float)) and math.isfinite(poisson) and -1 < poisson < 0.5):
        bad("poisson", poisson, "Poisson's ratio must be a finite number in (-1, 0.5) for the displacement formulation")
    for name, v in (("hub_radius_mm", hub_radius_mm), ("neck_length_mm", neck_length_mm)):
        if v is not None and not (isinstance(v, (int, float)) and math.isfinite(v) and v > 0 and v < 1e3):
            bad(name, v, "give a positive length in millimetres")
    return FemOptions(degree=int(degree), refine=int(refine), solver=solver,
                      poisson_ratio=None if poisson is None else float(poisson), hub_radius_mm=hub_radius_mm,
                      neck_length_mm=neck_length_mm, quick=bool(quick))


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


def validate(task=DEFAULT_TASK, *, widths=None, dims=(2, 3), quick: bool = False, comm=None, compare_files=(),
             compare_unit_mm: bool = False, per_bond: bool = True, width_fd=(), width_fd_step: float = 0.05,
             tolerances: Tolerances = Tolerances(), degree: int = 2, refine: int = 0, solver: str = "lu",
             poisson: float | None = None, hub_radius_mm: float | None = None, neck_length_mm: float | None = None,
             export: bool = False) -> Validation:
    """Run the validation chain (module docstring) and return a :class:`Validation`.

    ``task``: a built-in name, a task or network file, or a :class:`Task`; ``widths``: a ``femnn
    train`` run directory or widths JSON; ``dims``: FEM models to run (``()`` for none: then
    ``compare_files`` must name another solver's result); ``export``: also build the 3D print files
    (its check joins the verdict). Collective on ``comm`` (default MPI.COMM_WORLD when a FEM runs)."""
    from femnn.train import bar_result

    t_start = time.perf_counter()
    dims = tuple(int(d) for d in dims)
    if any(d not in (2, 3) for d in dims):
        raise InputError("--dims", "", f"{list(dims)}: FEM models are 2 (plane stress) or 3 (solid)")
    tolerances = check_tolerances(tolerances)
    opts = fem_options(degree=degree, refine=refine, solver=solver, poisson=poisson, hub_radius_mm=hub_radius_mm,
                       neck_length_mm=neck_length_mm, quick=quick)
    width_fd = [int(b) for b in width_fd]
    if width_fd and not dims:
        raise InputError("--width-fd", "", "width gradients by remeshing need a FEM model; drop --no-fem")
    if not dims and not compare_files:
        raise InputError("--no-fem", "", "nothing to compare the bar model with; give --compare FILE or drop --no-fem")
    if not (isinstance(width_fd_step, (int, float)) and 0 < width_fd_step < 0.25):
        raise InputError("--width-fd-step", str(width_fd_step), "give a relative step between 0 and 0.25 (default 0.05)")
    comm = fem_comm(comm) if dims else (comm or SelfComm())
    t = resolve_task(task, widths)
    if t.kind != "single":
        raise InputError(str(task), "kind", "validate compares one load case; give a single-load task (fig1, behaviour-*)")
    bad = [b for b in width_fd if not 0 <= b < t.network.n_bonds]
    if bad:
        raise InputError("--width-fd", str(bad[0]), f"bond indices run from 0 to {t.network.n_bonds - 1}")
    imported = []
    if compare_files:
        from femnn.crosscheck.imported import read_points_displacement

        for f in compare_files:
            imported.append((Path(f), read_points_displacement(f, 1e-3 if compare_unit_mm else 1.0)))

    models, fields = {"bar": bar_result(t)}, {}
    log.info("%s: bar model u at outputs %s mm", t.name, np.round(models["bar"].u_m.ravel()[t.output_dofs] * 1e3, 6))
    import_fem = None
    for dim in dims:
        import femnn.fem as fem

        log.info("fem%dd: geometry, mesh, forward and adjoint (P%d, %d rank(s)) ...", dim, opts.degree, comm.size)
        res, flds = fem.part_model(comm, t, dim, opts)
        models[res.name], fields[res.name] = res, flds
        log.info("%s: %d DOFs, forward %.2f s, adjoint %.2f s", res.name, res.dofs, res.seconds_forward, res.seconds_adjoint)
        import_fem = fem
    fem_ref = "fem3d" if "fem3d" in models else ("fem2d" if "fem2d" in models else None)
    hub_r = models[fem_ref].hub_radius_m if fem_ref else (hub_radius_mm or 1.25) * 1e-3
    for f, (pts, u) in imported:
        from femnn.crosscheck.imported import imported_result

        models[f.stem] = imported_result(t, pts, u, hub_r, f.stem, source=str(f))
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
    cmp = compare(t, models, ref, tolerances)
    part = None
    if export and 3 in dims:
        part = comm.bcast(export_part(t, hub_radius_mm=hub_radius_mm, neck_length_mm=neck_length_mm)
                          if comm.rank == 0 else None, root=0)
    del import_fem
    settings = {"task": t.name, "task_source": t.source, "widths": None if widths is None else str(widths),
                "dims": list(dims), "quick": bool(quick), "degree": opts.degree, "refine": opts.refine,
                "solver": opts.solver, "poisson_ratio": float(t.network.material.poisson_ratio if poisson is None else poisson),
                "poisson_ratio_source": "network file" if poisson is None else "option",
                "youngs_modulus_Pa": float(t.network.material.youngs_modulus_Pa), "thickness_m": float(t.network.thickness_m),
                "hub_radius_mm": float(hub_r * 1e3) if hub_r else None,
                "hub_radius_source": "option" if hub_radius_mm else ("derived from the width bounds and bond angles" if fem_ref else "default"),
                "neck_length_mm": neck_length_mm, "per_bond_calibration": bool(per_bond and fem_ref is not None),
                "compare_files": [str(f) for f in compare_files], "compare_unit_mm": bool(compare_unit_mm),
                "width_fd": width_fd, "width_fd_step": float(width_fd_step),
                "tolerances": dataclasses.asdict(tolerances), "ranks": int(comm.size), "export": bool(export and 3 in dims)}
    return Validation(t, models, cmp, settings, fit, fd_rows, part, time.perf_counter() - t_start, fields, comm)


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

    def _model_record(self, name, m) -> dict:
        d = m.to_dict()
        if name == "bar_calibrated_per_bond" and self.calibration is not None:
            # the fit that made this model, where femnn has always put it
            c = self.calibration.to_dict()
            d.update({k: c[k] for k in ("factor_per_bond", "global_factor", "misfit_uncalibrated", "misfit_global",
                                        "misfit_per_bond", "load_cases", "seconds_reference_solves")})
        return d

    def write(self, out_dir) -> list[Path]:
        from femnn.report.validation import write_convergence

        return write_convergence(Path(out_dir), self)


def converge(task=DEFAULT_TASK, *, widths=None, levels=(0, 1, 2), dim: int = 2, degree: int = 2, solver: str = "lu",
             poisson: float | None = None, comm=None) -> Convergence:
    """The FEM of the part at refinement ``levels`` (element size halving per level) with the same
    step as :func:`validate` (:func:`femnn.fem.part_model`), and for the output displacements, the
    loss and every bond's gradient the observed order and Richardson value with its error bar."""
    from femnn.crosscheck.convergence import richardson

    levels = list(levels)
    if len(levels) < 3:
        raise InputError("--levels", "", f"{levels}: give three or more refinement levels")
    if len(set(levels)) != len(levels):
        raise InputError("--levels", "", f"{levels}: the levels must be distinct (a repeated level gives a zero error bar)")
    if dim not in (2, 3):
        raise InputError("--dim", "", f"{dim}: 2 or 3")
    opts = [fem_options(degree=degree, refine=lev, solver=solver, poisson=poisson) for lev in sorted(levels)]
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
