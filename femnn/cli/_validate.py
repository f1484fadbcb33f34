"""``[mpiexec -n N] femnn validate [NETWORK_OR_TASK] [--widths RUN_DIR] --out DIR``: the whole chain.

geometry -> mesh -> FEM forward and adjoint in 2D and 3D -> reduction -> cross-check report ->
STL/3MF of the part. Exit 0 when every check passes, 1 when one fails (the report says which),
2 on bad input. ``femnn crosscheck`` is the same comparison without the printable export.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

DEFAULT = "fig1"


def add_args(p, export: bool = True):
    p.add_argument("task", nargs="?", default=DEFAULT, help=f"task or network file, or a built-in name (default {DEFAULT}: the paper's Fig. 1 network and load)")
    p.add_argument("--out", type=Path, required=True, help="output directory")
    p.add_argument("--widths", help="trained widths: a `femnn train` output directory or a widths JSON file")
    p.add_argument("--dims", type=int, nargs="+", default=[2, 3], choices=[2, 3], help="FEM models to run (default 2 3)")
    p.add_argument("--no-fem", action="store_true", help="no FEM models: compare the bar model with the --compare files only")
    p.add_argument("--degree", type=int, default=2, help="Lagrange degree (default 2; 1 locks at nu = 0.49)")
    p.add_argument("--refine", type=int, default=0, help="mesh refinement level (each level halves the element size)")
    p.add_argument("--solver", choices=["lu", "cg"], default="lu", help="MUMPS LU (default) or CG + GAMG")
    p.add_argument("--poisson", type=float, help="Poisson ratio (default: the network file's, 0.49 for Agilus30)")
    p.add_argument("--hub-radius-mm", type=float, help="node hub radius (default: derived from the width bounds and bond angles)")
    p.add_argument("--neck-length-mm", type=float, help="length of the thinned joints")
    p.add_argument("--quick", action="store_true", help="coarse meshes (tests, smoke runs)")
    p.add_argument("--compare", action="append", default=[], type=Path, metavar="FILE",
                   help="another solver's displacement field: COMSOL text export (.txt), VTU or XDMF; repeatable")
    p.add_argument("--compare-unit-mm", action="store_true", help="VTU/XDMF files are in millimetres (COMSOL files declare their unit)")
    p.add_argument("--tol-u", type=float, default=0.25, help="bar vs FEM output displacement tolerance before calibration (default 0.25)")
    p.add_argument("--tol-u-calibrated", type=float, default=0.05, help="after a global calibration (default 0.05)")
    p.add_argument("--tol-spearman", type=float, default=0.95, help="minimum Spearman rank correlation of the gradients (default 0.95)")
    p.add_argument("--no-per-bond", action="store_true",
                   help="skip the per-bond calibration of the bar model to the FEM (one FEM solve per free DOF on the same factorisation)")
    p.add_argument("--width-fd", type=int, nargs="+", default=[], metavar="BOND",
                   help="also compute dL/dw of these bonds by central differences with remeshing (2 FEM runs per bond)")
    p.add_argument("--width-fd-step", type=float, default=0.05, help="relative width step of --width-fd (default 0.05)")
    if export:
        p.add_argument("--no-export", action="store_true", help="skip the STL/3MF export of the part")


class _SelfComm:
    """Stand-in for a one-rank communicator when no FEM (hence no MPI) is needed."""

    rank, size = 0, 1

    def bcast(self, obj, root=0):
        return obj

    def Barrier(self):
        pass


def run(args, export: bool = True) -> int:
    from femnn.crosscheck import bar_result, calibrated_bar, compare
    from femnn.crosscheck.report import write_report
    from femnn.errors import InputError
    from femnn.pipeline import FemOptions, load_task_or_network
    from femnn.train.runs import apply_run_widths

    cmd = getattr(args, "command", "validate")
    dims = [] if args.no_fem else list(args.dims)
    if args.width_fd and not dims:
        raise InputError("--width-fd", "", "width gradients by remeshing need a FEM model; drop --no-fem")
    if not dims and not args.compare:
        raise InputError("--no-fem", "", "nothing to compare the bar model with; give --compare FILE or drop --no-fem")
    if dims:
        import dolfinx_solver  # noqa: F401  (before mpi4py/dolfinx: puts the wheel's MPI on the loader path)
        from mpi4py import MPI

        from femnn.pipeline import fem_model, write_fem_exports

        comm = MPI.COMM_WORLD
    else:
        comm = _SelfComm()
    say = (lambda *a: print(*a, file=sys.stderr, flush=True)) if comm.rank == 0 else (lambda *a: None)
    t0 = time.perf_counter()
    task = load_task_or_network(args.task)
    if task.kind != "single":
        raise InputError(str(args.task), "kind", "validate compares one load case; give a single-load task (fig1, behaviour-*)")
    if args.widths:
        task, _ = apply_run_widths(task, args.widths)
    bad = [b for b in args.width_fd if not 0 <= b < task.network.n_bonds]
    if bad:
        raise InputError("--width-fd", str(bad[0]), f"bond indices run from 0 to {task.network.n_bonds - 1}")
    if not 0 < args.width_fd_step < 0.25:
        raise InputError("--width-fd-step", str(args.width_fd_step), "give a relative step between 0 and 0.25 (default 0.05)")
    imported = []
    if args.compare:
        from femnn.crosscheck.imported import read_points_displacement

        for f in args.compare:
            imported.append((f, read_points_displacement(f, 1e-3 if args.compare_unit_mm else 1.0)))
    opts = FemOptions(degree=args.degree, refine=args.refine, solver=args.solver, poisson_ratio=args.poisson,
                      hub_radius_mm=args.hub_radius_mm, neck_length_mm=args.neck_length_mm, quick=args.quick)
    models = {"bar": bar_result(task)}
    say(f"[{cmd}] {task.name}: bar model u_y at outputs {models['bar'].u.ravel()[task.output_dofs] * 1e3} mm")
    for dim in dims:
        say(f"[{cmd}] fem{dim}d: geometry, mesh, forward and adjoint (P{args.degree}, {comm.size} rank(s)) ...")
        res = fem_model(comm, task, dim, opts)
        models[res.name] = res
        say(f"[{cmd}] {res.name}: {res.extra.get('dofs')} DOFs, forward {res.extra.get('seconds_forward', 0):.2f} s, "
            f"adjoint {res.extra.get('seconds_adjoint', 0):.2f} s")
    fem_ref = "fem3d" if "fem3d" in models else ("fem2d" if "fem2d" in models else None)
    hub_r = (models[fem_ref].extra.get("hub_radius_m") if fem_ref else None) or (args.hub_radius_mm or 1.25) * 1e-3
    for f, (pts, u) in imported:
        from femnn.crosscheck.imported import imported_result

        name = f.stem
        models[name] = imported_result(task, pts, u, hub_r, name)
    ref = fem_ref or Path(args.compare[0]).stem
    models["bar_calibrated"] = calibrated_bar(task, models[ref])
    sections, extra_results = [], {}
    if fem_ref and not args.no_per_bond:
        from femnn.pipeline import per_bond_calibration

        say(f"[{cmd}] per-bond calibration of the bar model to {fem_ref} ...")
        models["bar_calibrated_per_bond"] = per_bond_calibration(comm, task, models[fem_ref])
    if args.width_fd:
        from femnn.pipeline import width_gradients_fd

        fd_dim = dims[0]
        say(f"[{cmd}] width gradients of bonds {args.width_fd} by remeshing (fem{fd_dim}d, step {args.width_fd_step:.0%}) ...")
        rows = width_gradients_fd(comm, task, fd_dim, opts, args.width_fd, models[f"fem{fd_dim}d"], models["bar"],
                                  step=args.width_fd_step, say=say)
        extra_results["width_gradients"] = rows
        sections.append(("Width gradients by remeshing", _width_fd_md(rows)))
    out: Path = args.out
    extra_images = []
    for name in [f"fem{d}d" for d in dims]:
        if comm.rank == 0:
            out.mkdir(parents=True, exist_ok=True)
        comm.Barrier()
        extra_images += write_fem_exports(out, task, models[name], comm)
    result = None
    if comm.rank == 0:
        cmp = compare(task, models, ref, tol_u=args.tol_u, tol_u_calibrated=args.tol_u_calibrated, tol_spearman=args.tol_spearman)
        for m in models.values():
            for key in ("u_field", "u_adj_field", "problem", "von_mises_field"):
                m.extra.pop(key, None)
        settings = {k: v for k, v in vars(args).items() if k not in ("func",)}
        if "bar_calibrated_per_bond" in models:
            sections.insert(0, ("Calibration: effective bond stiffness", _calibration_md(models, cmp)))
        write_report(out, task, models, cmp, settings=settings, extra_images=[p for p in extra_images if str(p).endswith(".png")],
                     extra_results=extra_results, sections=sections)
        if export and not getattr(args, "no_export", False) and 3 in dims:
            from femnn.cli import main as femnn_main

            bargs = ["build", task.network.source, "--dim", "3", "--out", str(out / "part")]
            if args.widths:
                bargs += ["--widths", str(args.widths)]
            if args.hub_radius_mm:
                bargs += ["--hub-radius-mm", str(args.hub_radius_mm)]
            if args.neck_length_mm:
                bargs += ["--neck-length-mm", str(args.neck_length_mm)]
            say(f"[{cmd}] exporting the part (STL, 3MF) ...")
            if femnn_main(bargs) != 0:
                cmp["checks"].append({"check": "printable export", "value": None, "tolerance": None, "pass": False})
                cmp["pass"] = False
        failed = [c["check"] for c in cmp["checks"] if not c["pass"]]
        say(f"[{cmd}] {'PASS' if cmp['pass'] else 'FAIL'} in {time.perf_counter() - t0:.1f} s; report: {out / 'report.md'}"
            + ("" if cmp["pass"] else "; failed: " + "; ".join(failed)))
        result = 0 if cmp["pass"] else 1
    return comm.bcast(result, root=0)


def _calibration_md(models, cmp) -> list[str]:
    pb = models["bar_calibrated_per_bond"].extra
    rows = cmp["models"]
    ref = pb["calibrated_to"]
    gap = [pb["misfit_uncalibrated"], pb["misfit_global"], pb["misfit_per_bond"]]
    rms = [(2 * g) ** 0.5 for g in gap]
    f = pb["factor_per_bond"]
    import numpy as np

    order = np.argsort(np.abs(np.log(np.asarray(f) / pb["global_factor"])))[::-1][:3]
    lines = [f"The bar model's stiffnesses fitted to `{ref}`'s hub compliance ({pb['load_cases']} unit-force cases, one on "
             "each free DOF, all on the FEM's one factorisation). Misfit = relative RMS of the hub displacements over "
             "all cases.", "",
             "| bar model | stiffness | misfit (RMS) | gap removed | task outputs vs FEM |", "|---|---|---|---|---|",
             f"| `bar` | k = E w t / l | {rms[0]:.2%} | - | {rows['bar']['u_outputs_rel_error']:.2%} |",
             f"| `bar_calibrated` | one factor {pb['global_factor']:.4f} | {rms[1]:.2%} | {1 - rms[1] / rms[0]:.0%} | "
             f"{rows['bar_calibrated']['u_outputs_rel_error']:.2%} |",
             f"| `bar_calibrated_per_bond` | one factor per bond, {np.min(f):.3f} to {np.max(f):.3f} | {rms[2]:.2%} | "
             f"{1 - rms[2] / rms[0]:.0%} | {rows['bar_calibrated_per_bond']['u_outputs_rel_error']:.2%} |", "",
             "Bonds whose fitted factor departs most from the global one: "
             + ", ".join(f"bond {b} ({f[b]:.3f})" for b in order) + "."]
    return lines


def _width_fd_md(rows) -> list[str]:
    lines = ["dL/dw (loss per metre of width) by finite differences of the remeshed part, against chain rules at the "
             "base widths through k = E w t / l: the FEM's exact dL/ds / w, the in situ rule (e_adj e)_FEM k / w, and "
             "the bar model's (e_adj e)_bar k / w. The in situ rule uses hub-centre elongations, which include "
             "the hubs' and joints' compliance, so it exceeds the FEM's exact value by about 1/(phi c) (c: calibration factor, "
             "phi: the bond region's share of the compliance), nearly the same factor for every bond, which keeps signs and "
             "ranking. A bond region's modulus scale s is not exactly a width change (hubs "
             "and joins stay), so the first two differ from the remeshed difference by the geometry's share.", "",
             "| bond | nodes | w (mm) | scheme | remeshed FD ± spread (h vs 2h) | FEM dL/ds / w | in situ (FEM e) | bar | FEM s / FD |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        ratio = r["fem_gradient_s"] / r["fd"] if r["fd"] else float("nan")
        lines.append(f"| {r['bond']} | {r['nodes'][0]}-{r['nodes'][1]} | {r['width_m'] * 1e3:.4g} | {r['scheme']} | {r['fd']:.4g} ± {r['fd_spread']:.2g} | "
                     f"{r['fem_gradient_s']:.4g} | {r['fem_bar_form']:.4g} | {r['bar']:.4g} | {ratio:.3f} |")
    return lines
