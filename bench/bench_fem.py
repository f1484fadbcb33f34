"""FEM speed (prints a Markdown table): DOFs vs time for assembly, forward (incl. factorisation) and
adjoint (same factors), MUMPS LU vs CG + GAMG, on P2 bar-like boxes (3D) or strips (2D, plane stress)
with hub regions at both ends.

    .venv/bin/python bench/bench_fem.py [--sizes 8 12 16] [--ranks 1 2] [--dim 3]

Each size runs in a fresh `mpiexec -n R` process; memory is the peak RSS per rank. Goals (issue 6):
3D P2 at ~6e5 DOFs forward + adjoint < 60 s on 2 cores, adjoint <= 15 % of forward.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

CASE = r"""
import dolfinx_solver, json, resource, sys, time
import numpy as np
from mpi4py import MPI
import dolfinx
from dolfinx.mesh import create_box, create_rectangle, meshtags
from femnn.fem.elasticity import ElasticityProblem
n, solver, dim = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
comm = MPI.COMM_WORLD
L, w, t, a = 0.064, 0.008, 0.002, 0.004
if dim == 3:
    mesh = create_box(comm, [[0, 0, 0], [L, w, t]], [8 * n, n, max(1, n // 4)])
else:
    mesh = create_rectangle(comm, [[0, 0], [L, w]], [8 * n, n])
N = mesh.topology.index_map(dim).size_local + mesh.topology.index_map(dim).num_ghosts
mid = dolfinx.mesh.compute_midpoints(mesh, dim, np.arange(N, dtype=np.int32))
vals = np.where(mid[:, 0] < a, 1, np.where(mid[:, 0] > L - a, 2, 3)).astype(np.int32)
ct = meshtags(mesh, dim, np.arange(N, dtype=np.int32), vals)
t0 = time.perf_counter()
p = ElasticityProblem(comm, mesh, ct, 5.5e5, 0.49, t, [1], degree=2, solver=solver)
t1 = time.perf_counter()
hub = lambda j: 1 + j
u = p.solve(np.array([[0, 0], [0.0, -0.01]]), hub)
t2 = time.perf_counter()
ua = dolfinx.fem.Function(p.V)
p.solve(np.array([[0, 0], [0.0, 1.0]]), hub, out=ua)
t3 = time.perf_counter()
mem = comm.allreduce(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, op=MPI.MAX) / 1024
if comm.rank == 0:
    print(json.dumps({"dofs": p.dofs, "assemble": t1 - t0, "forward": t2 - t1, "adjoint": t3 - t2, "mem_mib": mem, "its": p.iterations}))
"""


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="+", default=[6, 10, 14])
    ap.add_argument("--ranks", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--solvers", nargs="+", default=["lu", "cg"])
    ap.add_argument("--dim", type=int, default=3, choices=[2, 3])
    a = ap.parse_args()
    mpiexec = str(Path(sys.executable).parent / "mpiexec")
    script = Path(__file__).with_name(".bench_fem_case.py")
    script.write_text(CASE)
    print(f"{a.dim}D P2, nu = 0.49, strip with a clamped hub and a loaded hub\n")
    print("| solver | ranks | DOFs | assemble s | forward s (incl. factorisation) | adjoint s | adjoint / forward | CG iterations | peak MiB/rank |")
    print("|---|---|---|---|---|---|---|---|---|")
    try:
        for solver in a.solvers:
            for r in a.ranks:
                for n in a.sizes:
                    out = subprocess.run([mpiexec, "-n", str(r), sys.executable, str(script), str(n), solver, str(a.dim)],
                                         capture_output=True, text=True)
                    if out.returncode:
                        print(f"| {solver} | {r} | n={n} | failed: {out.stderr.strip().splitlines()[-1][:80]} |||||")
                        continue
                    d = json.loads(out.stdout.strip().splitlines()[-1])
                    print(f"| {solver} | {r} | {d['dofs']} | {d['assemble']:.2f} | {d['forward']:.2f} | {d['adjoint']:.2f} | "
                          f"{d['adjoint'] / d['forward']:.2f} | {d['its'] if solver == 'cg' else '-'} | {d['mem_mib']:.0f} |", flush=True)
    finally:
        script.unlink()


if __name__ == "__main__":
    main()
