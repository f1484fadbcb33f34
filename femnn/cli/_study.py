"""``[mpiexec -n N] femnn study SPEC --out DIR [--ranks-per-case R]``: parameter studies under MPI."""

from __future__ import annotations

import sys
from pathlib import Path

# Study exit codes: 0 all cases ok; 2 bad input (nothing ran); 100 + n when n cases failed (capped at 27).
FAILED_BASE = 100


def add_args(p):
    p.add_argument("spec", help="study file (TOML) or a built-in study: convergence, neck, poisson, prune")
    p.add_argument("--out", type=Path, required=True, help="output directory (the only path ranks must share)")
    p.add_argument("--ranks-per-case", type=int, default=1, help="MPI ranks per case (must divide the world size)")
    p.add_argument("--retry-failed", action="store_true", help="run again the cases recorded as failed")
    p.add_argument("--quiet", action="store_true")


def run(args) -> int:
    from femnn.study.spec import load_study

    study = load_study(args.spec)  # every rank validates: bad files are refused before any case runs
    import dolfinx_solver  # noqa: F401  (puts the wheel's libmpi on the loader path before mpi4py)
    from mpi4py import MPI

    from femnn.study.runner import read_records, run_study

    comm = MPI.COMM_WORLD
    summary = run_study(comm, study, args.out, args.ranks_per_case, args.retry_failed, progress=not args.quiet)
    if comm.rank == 0:
        from femnn.network import load_task
        from femnn.report.study import write_study_report

        write_study_report(study, read_records(args.out / "cases.jsonl"), args.out, load_task(study.base).output_dofs)
        print(f"femnn study {study.name}: {summary['ok']} ok, {summary['failed']} failed, {summary['skipped']} already done "
              f"({summary['seconds']:.1f} s on {comm.size} rank(s), {args.ranks_per_case} per case); results in {args.out}",
              file=sys.stdout, flush=True)
    failed = summary["failed"]
    return 0 if failed == 0 else FAILED_BASE + min(failed, 27)
