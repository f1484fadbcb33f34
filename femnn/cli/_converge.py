"""``[mpiexec -n N] femnn converge [TASK] --out DIR [--levels 0 1 2] [--dim 2]``: mesh convergence.

Runs the FEM at three or more refinement levels (element size halving per level) and reports, for
the output displacements, the loss and every bond's gradient, the observed order
p = log2((q1 - q0) / (q2 - q1)) and the Richardson value q_inf = q2 + (q2 - q1) / (2^p - 1) with
its error bar |q_inf - q2|: the error bar of each reported FEM number. The steps are those of
``femnn validate`` (:func:`femnn.validation.converge`).
"""

from __future__ import annotations

import logging
from pathlib import Path

from femnn.cli._validate import add_solver_args


log = logging.getLogger("femnn.converge")


def add_args(p):
    p.add_argument("task", nargs="?", default="fig1")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--widths", help="trained widths (train output directory or JSON)")
    p.add_argument("--levels", type=int, nargs="+", default=[0, 1, 2], help="refinement levels (three or more, distinct)")
    p.add_argument("--dim", "--dims", dest="dim", type=int, choices=[2, 3], default=2)
    p.add_argument("--degree", type=int, default=2)
    add_solver_args(p)
    p.add_argument("--poisson", type=float, help="Poisson ratio in (-1, 0.5] (default: the network file's)")
    p.add_argument("--formulation", choices=["auto", "displacement", "mixed"], default="auto",
                   help="displacement or mixed u-p; auto (default): mixed above nu = 0.49")


def run(args) -> int:
    from femnn.cli._out import prepare_out
    from femnn.validation import converge, fem_comm

    comm = fem_comm()
    if comm.rank != 0:
        logging.getLogger("femnn").setLevel(logging.ERROR)   # one voice: rank 0
    prepare_out(args.out)
    c = converge(args.task, widths=args.widths, levels=args.levels, dim=args.dim, degree=args.degree,
                 solver=args.solver, low_memory=args.low_memory, preconditioner=args.preconditioner,
                 poisson=args.poisson, formulation=args.formulation, comm=comm)
    if comm.rank == 0:
        c.write(args.out)
        log.info("wrote %s", args.out / "convergence.md")
    return 0
