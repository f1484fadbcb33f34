"""Memory per DOF of the iterative 3D P2 solve (issue 15, section 4): where GAMG's memory goes and
which PETSc options cut it. Prints a Markdown table; measures only (femnn/fem/elasticity.py is not
changed: the options are passed on the command line under the solver's prefix).

    .venv/bin/python bench/bench_memory.py [--n 16] [--ranks 1 2] [--variants default mis2 lowmem ...]

The problem is bench_scaling.py's (a P2 box of 8n x n x n/4 cells, 64 x 8 x 2 mm, ν = 0.49, clamped
hub at one end, loaded hub at the other; CG + GAMG to rtol 1e-8 on the true residual). Each run is
a fresh ``mpiexec -n R``; peak RSS (max over ranks, and the sum over ranks) after assembly, after
the GAMG setup (KSPSetUp) and after the solve; MiB per 10⁶ DOFs excludes the ~150 MiB per-rank
baseline (Python + PETSc loaded). The "mixed" variant solves the same part with the Taylor-Hood
MixedElasticityProblem (MINRES + fieldsplit Schur, GAMG on the displacement block) for comparison.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _mpi_case  # noqa: E402

VARIANTS = {
    "default": [],
    # MIS(2) aggregation on the graph instead of the squared graph A² on the first level
    "mis2": ["-femnn_forward_pc_gamg_aggressive_square_graph", "false"],
    # threshold filter of the graph without forming a filtered copy of the matrix
    "lowmem": ["-femnn_forward_pc_gamg_low_memory_threshold_filter", "true"],
    "mis2+lowmem": ["-femnn_forward_pc_gamg_aggressive_square_graph", "false",
                    "-femnn_forward_pc_gamg_low_memory_threshold_filter", "true"],
    # no aggressive coarsening at all (docs/cluster.md: tripled the memory; kept as a reference)
    "no-aggressive": ["-femnn_forward_pc_gamg_aggressive_coarsening", "0"],
    # parallel Galerkin product PᵀAP without the kept intermediate products (MPIAIJ only: on 1 rank
    # PETSc refuses the name, so this variant runs on >= 2 ranks only). Global option: the only
    # PtAP in femnn is GAMG's, and the product matrices carry no femnn prefix
    "ptap-allatonce": ["-matptap_via", "allatonce"],
    "ptap-allatonce+mis2": ["-matptap_via", "allatonce", "-femnn_forward_pc_gamg_aggressive_square_graph", "false"],
    "mixed": [],
}
PARALLEL_ONLY = {"ptap-allatonce", "ptap-allatonce+mis2"}

CASE = r"""
import dolfinx_solver, json, resource, sys, time
import numpy as np
from mpi4py import MPI
from petsc4py import PETSc
import dolfinx
from dolfinx.mesh import create_box, meshtags
n, variant = int(sys.argv[1]), sys.argv[2]
comm = MPI.COMM_WORLD
rss_rank = lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
mem = {"baseline": comm.allgather(rss_rank())}
L, w, t, a = 0.064, 0.008, 0.002, 0.004
mesh = create_box(comm, [[0, 0, 0], [L, w, t]], [8 * n, n, max(1, n // 4)])
N = mesh.topology.index_map(3).size_local + mesh.topology.index_map(3).num_ghosts
mid = dolfinx.mesh.compute_midpoints(mesh, 3, np.arange(N, dtype=np.int32))
ct = meshtags(mesh, 3, np.arange(N, dtype=np.int32), np.where(mid[:, 0] < a, 1, np.where(mid[:, 0] > L - a, 2, 3)).astype(np.int32))
comm.Barrier(); t0 = time.perf_counter()
if variant == "mixed":
    from femnn.fem.mixed import MixedElasticityProblem
    p = MixedElasticityProblem(comm, mesh, ct, 5.5e5, 0.49, t, [1], degree=2, solver="minres", rtol=1e-8)
else:
    from femnn.fem.elasticity import ElasticityProblem
    p = ElasticityProblem(comm, mesh, ct, 5.5e5, 0.49, t, [1], degree=2, solver="cg", rtol=1e-8)
comm.Barrier(); t1 = time.perf_counter(); mem["assemble"] = comm.allgather(rss_rank())
p.ksp.setUp()
comm.Barrier(); t2 = time.perf_counter(); mem["setup"] = comm.allgather(rss_rank())
p.solve(np.array([[0, 0], [0.0, -0.01]]), lambda j: 1 + j)
comm.Barrier(); t3 = time.perf_counter(); mem["solve"] = comm.allgather(rss_rank())
u = p.hub_means(p.u_h, 2, lambda j: 1 + j)
if comm.rank == 0:
    print(json.dumps({"dofs": int(p.dofs), "its": int(p.iterations[-1]), "mem": mem, "u_y_m": float(u[1, 1]),
                      "t_assemble": t1 - t0, "t_setup": t2 - t1, "t_solve": t3 - t2}))
"""


def run_case(n, ranks, variant, timeout=3600):
    return _mpi_case.run_case(CASE, [n, variant], ranks, VARIANTS[variant], timeout)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=16, help="box size parameter (DOFs ~ 3 (16n+1)(2n+1)(n/2+1))")
    ap.add_argument("--ranks", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--variants", nargs="+", default=["default", "mis2", "lowmem", "mis2+lowmem", "ptap-allatonce", "mixed"],
                    choices=sorted(VARIANTS))
    args = ap.parse_args(argv)
    print("| variant | ranks | DOFs | its | assemble s | setup s | solve s | peak MiB/rank after assembly | after GAMG setup | "
          "after solve | MiB per 10⁶ DOFs (all ranks, less baseline) | u_y hub 1 (m) |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for variant in args.variants:
        for R in args.ranks:
            if R == 1 and variant in PARALLEL_ONLY:
                continue
            r = run_case(args.n, R, variant)
            if "error" in r:
                print(f"| {variant} | {R} | failed: {r['error'][:80]} |||||||||")
                continue
            m = r["mem"]
            peak = [max(v) for v in (m["assemble"], m["setup"], m["solve"])]
            per = (sum(m["solve"]) - sum(m["baseline"])) / (r["dofs"] / 1e6)
            print(f"| {variant} | {R} | {r['dofs']:,} | {r['its']} | {r['t_assemble']:.1f} | {r['t_setup']:.1f} | "
                  f"{r['t_solve']:.1f} | {peak[0]:,.0f} | {peak[1]:,.0f} | {peak[2]:,.0f} | {per:,.0f} | {r['u_y_m']:.6e} |",
                  flush=True)


if __name__ == "__main__":
    main()
