"""`femnn linearity` speed (prints a Markdown table): per load factor the Newton iterations of each
accepted load step, rejected steps, seconds (Newton + tangent adjoint + linear rule), departure,
largest principal Green-Lagrange strain and the gradient Spearman.

    PYTHONPATH=. .venv/bin/python bench/bench_linearity.py [--task fig1] [--dim 2] [--quick]
        [--load-factors 0.1 0.5 1 2 4] [--material neo-hookean]

Goal (issue 15): fig1, 5 load factors, 2D at the default mesh: under 2 minutes in all.
"""

from __future__ import annotations

import argparse
import resource
import time


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--task", default="fig1")
    ap.add_argument("--dim", type=int, default=2)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--load-factors", type=float, nargs="+", default=[0.1, 0.5, 1.0, 2.0, 4.0])
    ap.add_argument("--material", default="neo-hookean")
    args = ap.parse_args(argv)

    import dolfinx_solver  # noqa: F401
    from mpi4py import MPI

    import femnn.fem as fem
    from femnn.fem.linearity import linearity_study
    from femnn.network import load_task

    comm = MPI.COMM_WORLD
    task = load_task(args.task)
    t0 = time.perf_counter()
    mesh, ct, _ = fem.mesh_task(comm, task, args.dim, fem.FemOptions(quick=args.quick))
    t_mesh = time.perf_counter() - t0
    import sys

    def progress(f, r):
        if comm.rank == 0:
            print(f"factor {f:g}: Newton {r['its']}, {r['seconds']:.1f} s", file=sys.stderr, flush=True)

    rec = linearity_study(comm, task, mesh, ct, args.load_factors, law=args.material, progress=progress)
    t_total = time.perf_counter() - t0
    if comm.rank:
        return
    F1 = abs(rec["load_N_at_factor_1"]).max()
    print(f"{args.task}, {args.dim}D P{rec['degree']} {'quick' if args.quick else 'default'} mesh, {rec['dofs']} DOFs, "
          f"{args.material}, {comm.size} rank(s); mesh {t_mesh:.1f} s, study {rec['seconds_total']:.1f} s, "
          f"total {t_total:.1f} s, peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB\n")
    print("| load factor | load (N) | Newton iterations per step | rejected steps | seconds | departure | "
          "max principal E (GL) | Spearman (nonlinear vs rule) |")
    print("|---|---|---|---|---|---|---|---|")
    for i, f in enumerate(rec["load_factors"]):
        sp = rec["gradient_spearman"][i]
        print(f"| {f:g} | {f * F1:.4g} | {', '.join(map(str, rec['newton_iterations'][i]))} | "
              f"{rec['load_steps_rejected'][i]} | {rec['seconds_per_factor'][i]:.1f} | {rec['departure'][i]:.3%} | "
              f"{rec['max_principal_strain_nonlinear'][i]:.3f} | {'—' if sp is None else f'{sp:.3f}'} |")
    lim = lambda x: "not reached" if x is None else f"{x:.3g}"  # noqa: E731
    print(f"\nlimit_1pct = {lim(rec['limit_1pct'])}, limit_5pct = {lim(rec['limit_5pct'])}, "
          f"Spearman < 0.95 from factor {lim(rec['gradient_spearman_below_0p95_from'])}")


if __name__ == "__main__":
    main()
