"""``[mpiexec -n N] femnn validate [NETWORK_OR_TASK] [--widths RUN_DIR] --out DIR``: the whole chain.

geometry -> mesh -> FEM forward and adjoint in 2D and 3D -> reduction -> calibration -> cross-check
report -> STL/3MF of the part. Exit 0 when every check passes, 1 when one fails (the report says
which), 2 on bad input. ``femnn crosscheck`` is the same comparison without the printable export.
This module only parses: the chain is :func:`femnn.validation.validate`, the files
:mod:`femnn.report.validation`.
"""

from __future__ import annotations

import logging
from pathlib import Path


DEFAULT = "fig1"
log = logging.getLogger("femnn.validate")


def add_solver_args(p):
    """--solver, --low-memory and --preconditioner: the FEM solver options of validate, crosscheck and converge."""
    p.add_argument("--solver", choices=["lu", "cg"], default="lu", help="MUMPS LU (default) or CG + multigrid (--preconditioner)")
    p.add_argument("--low-memory", action="store_true", help="with --solver cg on several MPI ranks: GAMG's all-at-once "
                   "Galerkin product, about 40 %% less memory, several times slower set-up (docs/nonlinear.md section 4)")
    p.add_argument("--preconditioner", choices=["auto", "gamg", "pmg"], default="auto",
                   help="with --solver cg: pmg (p-multigrid: the P2 level smoothed, GAMG on the P1 Galerkin operator; "
                        "about 2x faster and leaner on 3D parts) or gamg (GAMG on the operator itself); "
                        "auto (default): pmg for --degree 2 and up, gamg for 1")


def add_args(p, export: bool = True):
    p.add_argument("task", nargs="?", default=DEFAULT, help=f"task or network file, or a built-in name (default {DEFAULT}: the paper's Fig. 1 network and load)")
    p.add_argument("--out", type=Path, required=True, help="output directory")
    p.add_argument("--widths", help="trained widths: a `femnn train` output directory or a widths JSON file")
    p.add_argument("--dims", "--dim", dest="dims", type=int, nargs="+", default=[2, 3], choices=[2, 3],
                   help="FEM models to run (default 2 3; --dim is an alias)")
    p.add_argument("--no-fem", action="store_true", help="no FEM models: compare the bar model with the --compare files only")
    p.add_argument("--degree", type=int, default=2, help="Lagrange degree (default 2; 1 locks at nu = 0.49)")
    p.add_argument("--refine", type=int, default=0, help="mesh refinement level (each level halves the element size)")
    add_solver_args(p)
    p.add_argument("--poisson", type=float, help="Poisson ratio in (-1, 0.5] (default: the network file's, 0.49 for Agilus30)")
    p.add_argument("--formulation", choices=["auto", "displacement", "mixed"], default="auto",
                   help="displacement (P2) or mixed u-p (Taylor-Hood P2-P1, nu up to 0.5); auto (default): mixed above nu = 0.49")
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
                   help="skip the per-bond fit of the calibration (the global factor is still fitted to the FEM's hub compliance)")
    p.add_argument("--width-fd", type=int, nargs="+", default=[], metavar="BOND",
                   help="also compute dL/dw of these bonds by central differences with remeshing (2 FEM runs per bond)")
    p.add_argument("--width-fd-step", type=float, default=0.05, help="relative width step of --width-fd (default 0.05)")
    if export:
        p.add_argument("--no-export", action="store_true", help="skip the STL/3MF export of the part")


def run(args, export: bool = True) -> int:
    from femnn.crosscheck import Tolerances
    from femnn.validation import fem_comm, validate

    dims = [] if args.no_fem else list(args.dims)
    comm = fem_comm() if dims else None
    if comm is not None and comm.rank != 0:
        logging.getLogger("femnn").setLevel(logging.ERROR)   # one voice: rank 0
    from femnn.cli._out import prepare_out

    prepare_out(args.out)
    v = validate(args.task, widths=args.widths, dims=dims, quick=args.quick, comm=comm, compare_files=args.compare,
                 compare_unit_mm=args.compare_unit_mm, per_bond=not args.no_per_bond, width_fd=args.width_fd,
                 width_fd_step=args.width_fd_step,
                 tolerances=Tolerances(u=args.tol_u, u_calibrated=args.tol_u_calibrated, spearman=args.tol_spearman),
                 degree=args.degree, refine=args.refine, solver=args.solver, low_memory=args.low_memory,
                 preconditioner=args.preconditioner, poisson=args.poisson,
                 hub_radius_mm=args.hub_radius_mm, neck_length_mm=args.neck_length_mm, formulation=args.formulation,
                 export=export and not getattr(args, "no_export", False))
    v.write(args.out)
    failed = [c.check for c in v.checks if not c.passed]
    log.info("%s in %.1f s; report: %s%s", "PASS" if v.passed else "FAIL", v.seconds, args.out / "report.md",
             "" if v.passed else "; failed: " + "; ".join(failed))
    return 0 if v.passed else 1
