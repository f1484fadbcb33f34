"""``femnn fdcheck [TASK] --out DIR``: forward (or central) differences vs the adjoint gradient (Fig. 1e)."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from femnn.bars.fdcheck import fd_study
from femnn.cli._out import args_fingerprint, prepare_out
from femnn.errors import InputError
from femnn.network.generators import check_size
from femnn.network import load_task, make_network
from femnn.report.tools import write_fdcheck
from femnn.train import TaskProblem
from femnn.train.runs import apply_run_widths


def add_args(p):
    p.add_argument("task", nargs="?", default="fig1", help="task (default fig1)")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--widths", help="bond widths (train output directory or JSON)")
    p.add_argument("--central", action="store_true", help="central instead of forward differences")
    p.add_argument("--scaling-rows", type=int, nargs="*", default=[4, 8, 16, 32],
                   help="triangular lattices (rows) for the cost-vs-bonds table")
    p.add_argument("--force", action="store_true", help="replace an earlier, different fdcheck result in --out")


def run(args) -> int:
    fp = args_fingerprint(args)
    prepare_out(args.out, "--out", args.force, marker="fdcheck.json", fingerprint=fp, what="an fdcheck result")
    for r in args.scaling_rows:
        if r < 2:
            raise InputError("--scaling-rows", "", f"{r}: a triangular lattice needs rows >= 2")
        check_size("triangular", {"rows": r}, "--scaling-rows", "")
    task = load_task(args.task)
    if args.widths:
        task, _ = apply_run_widths(task, args.widths)
    prob = TaskProblem(task)
    res = fd_study(prob, central=args.central)
    # cost of one gradient as the network grows: adjoint (1 factorisation + 2 solves) vs m+1 solves
    from femnn.bars import BarModel

    scaling = []
    for rows in args.scaling_rows:
        net = make_network("triangular", rows=rows)
        bm = BarModel(net)
        F = np.zeros((net.n_nodes, 2))
        F[-2, 1] = -0.01
        t0 = time.perf_counter()
        sol = bm.solve(F)
        dL = np.zeros_like(F)
        dL[-1, 1] = 1.0
        sol.gradient_k(dL)
        t_adj = time.perf_counter() - t0
        t0 = time.perf_counter()
        bm.solve(F, net.stiffness_N_per_m() * 1.001)
        t_one = time.perf_counter() - t0
        scaling.append({"rows": rows, "n_bonds": net.n_bonds, "adjoint_solves": 2, "fd_solves": net.n_bonds + 1,
                        "adjoint_seconds": t_adj, "fd_seconds_estimated": t_one * (net.n_bonds + 1)})
    res["scaling"] = scaling
    res["fingerprint"] = fp
    write_fdcheck(args.out, res, task.name)
    print(f"| step dk (N/m) | relative error ({res['scheme']}) |\n|---|---|")
    for h, e in zip(res["steps_N_per_m"], res["relative_error"]):
        print(f"| {h:.1e} | {e:.2e} |")
    print(f"\nbest step {res['best_step_N_per_m']:.1e} N/m, error {res['best_relative_error']:.2e}\n")
    print("| bonds | adjoint solves | FD solves | adjoint s | FD s (estimated) |\n|---|---|---|---|---|")
    for r in scaling:
        print(f"| {r['n_bonds']} | 2 | {r['fd_solves']} | {r['adjoint_seconds']:.4f} | {r['fd_seconds_estimated']:.4f} |")
    return 0
