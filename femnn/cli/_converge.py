"""``[mpiexec -n N] femnn converge [TASK] --out DIR [--levels 0 1 2] [--dim 2]``: mesh convergence.

Runs the FEM at three or more refinement levels (element size halving per level) and reports, for
the output displacements, the loss and every bond's gradient, the observed order
p = log2((q1 - q0) / (q2 - q1)) and the Richardson value q_inf = q2 + (q2 - q1) / (2^p - 1) with
its error bar |q_inf - q2|: the error bar of each reported FEM number.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np


def add_args(p):
    p.add_argument("task", nargs="?", default="fig1")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--widths", help="trained widths (train output directory or JSON)")
    p.add_argument("--levels", type=int, nargs="+", default=[0, 1, 2], help="refinement levels (three or more)")
    p.add_argument("--dim", type=int, choices=[2, 3], default=2)
    p.add_argument("--degree", type=int, default=2)
    p.add_argument("--solver", choices=["lu", "cg"], default="lu")


def run(args) -> int:
    import dolfinx_solver  # noqa: F401
    from mpi4py import MPI

    from femnn.errors import InputError
    from femnn.pipeline import FemOptions, fem_model, load_task_or_network, richardson
    from femnn.report import atomic_write_json, atomic_write_text
    from femnn.train.runs import apply_run_widths

    if len(args.levels) < 3:
        raise InputError("--levels", "", f"{args.levels}: give three or more refinement levels")
    comm = MPI.COMM_WORLD
    task = load_task_or_network(args.task)
    if args.widths:
        task, _ = apply_run_widths(task, args.widths)
    rows = []
    for lev in sorted(args.levels):
        res = fem_model(comm, task, args.dim, FemOptions(degree=args.degree, refine=lev, solver=args.solver))
        rows.append({"level": lev, "dofs": res.extra.get("dofs"), "loss": res.loss,
                     "u_out": res.u.ravel()[task.output_dofs].tolist(), "gradient_k": np.asarray(res.gradient_k).tolist()})
        if comm.rank == 0:
            print(f"[converge] level {lev}: {res.extra.get('dofs')} DOFs, u_out {np.array(rows[-1]['u_out']) * 1e3} mm", file=sys.stderr, flush=True)
    if comm.rank == 0:
        summary = {"loss": richardson([r["loss"] for r in rows])}
        for c, d in enumerate(task.output_dofs):
            summary[f"u_{'xy'[d % 2]}[{d // 2}]"] = richardson([r["u_out"][c] for r in rows])
        summary["gradient_k"] = [richardson([r["gradient_k"][b] for r in rows]) for b in range(task.network.n_bonds)]
        atomic_write_json(args.out / "convergence.json", {"task": task.name, "dim": args.dim, "degree": args.degree, "levels": rows, "richardson": summary})
        md = [f"# Mesh convergence: {task.name}, {args.dim}D, P{args.degree}", "", "| level | DOFs | loss | " +
              " | ".join(f"u_{'xy'[d % 2]}[{d // 2}] (mm)" for d in task.output_dofs) + " |", "|---|---|---|" + "---|" * len(task.output_dofs)]
        for r in rows:
            md.append(f"| {r['level']} | {r['dofs']} | {r['loss']:.6g} | " + " | ".join(f"{v * 1e3:.6f}" for v in r["u_out"]) + " |")
        md += ["", "| quantity | observed order | Richardson value | error bar |", "|---|---|---|---|"]
        for k, v in summary.items():
            if k != "gradient_k":
                md.append(f"| {k} | {'-' if v['order'] is None else format(v['order'], '.2f')} | {v['extrapolated']:.8g} | {v['error_bar']:.2g} |")
        atomic_write_text(args.out / "convergence.md", "\n".join(md) + "\n")
        print("\n".join(md))
    return 0
