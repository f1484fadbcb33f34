"""``femnn linearity TASK --load-factors F ... --out DIR``: linear FEM vs hyperelastic FEM vs bar model.

Writes ``DIR/linearity.json`` (definitions in :mod:`femnn.fem.linearity`) and ``DIR/linearity.png``.
Exit 2 with one line on bad input or when Newton does not converge (naming the load factor reached).
"""

from __future__ import annotations

import sys
from pathlib import Path

from femnn.errors import InputError


def add_args(p):
    p.add_argument("task", help="task name or file (single-load tasks; data-set tasks use --sample)")
    p.add_argument("--widths", help="bond widths: a `femnn train` output directory or a widths JSON (m, network bond order)")
    p.add_argument("--load-factors", type=float, nargs="+", required=True, metavar="F",
                   help="multiples of the task's load to solve at (e.g. 0.1 1 3)")
    p.add_argument("--dim", "--dims", dest="dim", type=int, choices=(2, 3), default=2, help="2: plane stress plate (default); 3: solid part")
    p.add_argument("--material", choices=("neo-hookean", "mooney-rivlin", "yeoh"), default="neo-hookean",
                   help="hyperelastic law (default neo-hookean; small-strain limit = the network's E and ν)")
    p.add_argument("--coefficient", action="append", default=[], metavar="NAME=PA",
                   help="law coefficient in Pa (repeatable): C10, C01 (mooney-rivlin) or C10, C20, C30 (yeoh). "
                        "Small strain must give the network's μ = E/(2(1+ν)): 2(C10 + C01) = μ (MR), 2 C10 = μ (Yeoh); "
                        "a C10 left out is set so (e.g. --coefficient C01=2e4). Defaults: docs/nonlinear_hyperelastic.md")
    p.add_argument("--degree", type=int, choices=(1, 2), default=2, help="Lagrange degree (default 2)")
    p.add_argument("--solver", choices=("lu", "cg"), default="lu",
                   help="linear solves and Newton steps: MUMPS LU (default) or CG with the p-multigrid (large 3D "
                        "meshes: about 2 GiB per 10⁶ DOFs instead of an LU factor; needs --degree 2)")
    p.add_argument("--sample", type=int, default=0, help="data-set tasks: the load case (row) to use (default 0)")
    p.add_argument("--samples", nargs="+", metavar="ROW|all",
                   help="data-set tasks: also the task metric (accuracy / error) of the linear and the hyperelastic "
                        "FEM over these rows at every load factor ('all': every sample; one Newton load path each)")
    p.add_argument("--no-gradients", action="store_true", help="skip the tangent adjoint per factor")
    p.add_argument("--quick", action="store_true", help="coarse mesh (tests, smoke runs)")
    p.add_argument("--refine", type=int, default=0, help="mesh refinement level (as validate)")
    p.add_argument("--out", required=True, help="output directory")


def _coefficients(items) -> dict:
    out = {}
    for it in items:
        name, sep, val = it.partition("=")
        try:
            if not sep:
                raise ValueError
            out[name.strip()] = float(val)
        except ValueError:
            raise InputError("--coefficient", it, "expected NAME=VALUE_Pa, e.g. C10=8e4") from None
    return out


def _samples(items, task):
    """The rows of --samples (None without it): 'all' or 0-based row numbers of a data-set task."""
    if not items:
        return None
    if task.kind == "single":
        raise InputError("--samples", "", f"{task.name} is a single-load task (one load case); --samples needs a data-set "
                         "task (regression, classification)")
    if items == ["all"]:
        return list(range(task.n_samples))
    rows = []
    for it in items:
        if not it.isdigit() or not 0 <= int(it) < task.n_samples:
            raise InputError("--samples", it, f"give 'all' or row numbers 0..{task.n_samples - 1}")
        rows.append(int(it))
    return sorted(set(rows))


def run(args) -> int:
    import numpy as np

    from femnn.network import load_task

    factors = list(args.load_factors)
    if any(not np.isfinite(f) or f <= 0 for f in factors):
        raise InputError("--load-factors", "", f"{factors}: every factor must be a positive number")
    coeffs = _coefficients(args.coefficient)
    if args.solver == "cg" and args.degree < 2:
        raise InputError("--solver", "cg", "the CG's p-multigrid needs --degree 2")
    task = load_task(args.task)
    if args.widths:
        from femnn.train.runs import apply_run_widths

        task, _ = apply_run_widths(task, args.widths)
    if not 0 <= args.sample < task.n_samples:
        raise InputError("--sample", "", f"{args.sample} is outside 0..{task.n_samples - 1}")
    samples = _samples(args.samples, task)
    from femnn.fem.hyperelastic import make_law

    net = task.network
    make_law(args.material, net.material.youngs_modulus_Pa, net.material.poisson_ratio, coeffs,
             source="--coefficient" if coeffs else "--material")   # bad input: exit 2 before any meshing

    import femnn.fem as fem
    from femnn.fem.hyperelastic import NonlinearConvergenceError
    from femnn.fem.linearity import linearity_study
    from femnn.report.nonlinear import write_linearity
    from mpi4py import MPI

    comm = MPI.COMM_WORLD
    out = Path(args.out)
    def progress(f, r):
        if comm.rank == 0:
            print(f"linearity: factor {f:g}: Newton iterations {r['its']}, departure {r['departure']:.3%}, "
                  f"max principal strain {r['strain_nl']:.3f}, {r['seconds']:.1f} s", file=sys.stderr, flush=True)

    mesh, cell_tags, _ = fem.mesh_task(comm, task, args.dim, fem.FemOptions(degree=args.degree, refine=args.refine,
                                                                          quick=args.quick))
    try:
        rec = linearity_study(comm, task, mesh, cell_tags, factors, law=args.material, coefficients_Pa=coeffs,
                              degree=args.degree, gradients=not args.no_gradients, progress=progress, sample=args.sample,
                              solver=args.solver)
        if samples is not None:
            from femnn.fem.linearity import task_linearity

            def sample_progress(i, n):
                if comm.rank == 0 and (i == n or i % 10 == 0):
                    print(f"linearity: task metric, sample {i} of {n}", file=sys.stderr, flush=True)

            rec["task_level"] = task_linearity(comm, task, mesh, cell_tags, factors, samples=samples, law=args.material,
                                               coefficients_Pa=coeffs, degree=args.degree, progress=sample_progress,
                                               solver=args.solver)
    except NonlinearConvergenceError as exc:
        if comm.rank == 0:
            print(f"femnn linearity: error: {exc}", file=sys.stderr)
        return 2
    rec["ranks"] = comm.size
    rec["options"] = {"quick": args.quick, "refine": args.refine, "widths": args.widths, "sample": args.sample,
                      "samples": args.samples}
    if comm.rank == 0:
        write_linearity(out, rec)
        lim = lambda x: "not reached" if x is None else f"{x:.3g}"  # noqa: E731
        print(f"linearity: departure reaches 1 % at load factor {lim(rec['limit_1pct'])}, 5 % at {lim(rec['limit_5pct'])}; "
              f"wrote {out / 'linearity.json'} and {out / 'linearity.png'}", file=sys.stderr)
        tl = rec.get("task_level")
        if tl is not None:
            for i, f in enumerate(tl["load_factors"]):
                what = (f"accuracy {tl['accuracy_linear']:.3f} linear, {tl['accuracy_nonlinear'][i]:.3f} hyperelastic "
                        f"({tl['predictions_changed'][i]} of {len(tl['samples'])} predictions change)"
                        if "accuracy_linear" in tl else
                        f"relative error {tl['error_linear']:.4g} linear, {tl['error_nonlinear'][i]:.4g} hyperelastic")
                print(f"linearity: task at load factor {f:g}: {what}; output departure median "
                      f"{tl['departure_median'][i]:.2%}, max {tl['departure_max'][i]:.2%}", file=sys.stderr)
    return 0
