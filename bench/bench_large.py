"""The largest 3D P2 solve of the paper part that fits (issue 15, section 4): ONE forward solve of the
fig1 part (the paper's Fig. 1 network, as `femnn validate fig1` builds it) with CG (femnn's p-multigrid,
or GAMG on the P2 operator for the variants that tune GAMG) at a given refinement, in a fresh ``mpiexec -n R`` per option set. Prints a Markdown table.

    .venv/bin/python bench/bench_large.py [--refine 0] [--quick] [--ranks 1 2] [--variants default sor ...]
    .venv/bin/python bench/bench_large.py --refine 1 --ranks 1 --variants default      # the 5e6-DOF run
    .venv/bin/python bench/bench_large.py --quick --rtol-study                          # output error vs rtol

Per run: DOFs, CG iterations, seconds per phase (geometry + mesh, assembly, preconditioner setup = KSPSetUp,
CG solve), peak RSS per rank after each phase (resource.getrusage; max over ranks), MiB per 10⁶ DOFs
(sum over ranks of the final peak, less the per-rank baseline of Python + PETSc loaded), and the
output hub displacement of the task (the hub mean of u at the output node, m), with its relative
difference to the first variant of the table (or to the "lu" variant when it is listed: MUMPS LU,
the direct reference, affordable at --quick size only).

Options are passed as PETSc command-line options (PETSC_OPTIONS, read when PETSc initialises) under
the solver's ``femnn_forward_`` prefix; the Galerkin-product options carry no prefix (GAMG's products
read the global database). ``--rtol-study`` solves once to rtol 1e-12 and records, as the true
residual first falls below each decade 1e-3 ... 1e-12, the iteration and the output hub displacement
of the current CG iterate: what rtol the OUTPUT needs, against a tight solve, in one run.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _mpi_case  # noqa: E402

P = "-femnn_forward_"
VARIANTS = {
    # femnn's CG as it stands: p-multigrid (P2 level: one Chebyshev/Jacobi step; coarse: the Galerkin P1
    # operator, one GAMG V-cycle with threshold 0.05 and Richardson + SSOR levels)
    "default": [],
    # the p-multigrid's P2 level smoothed by one SSOR sweep (Richardson + SOR) / two Chebyshev steps
    "pmg-sor": [P + "mg_levels_ksp_type", "richardson", P + "mg_levels_pc_type", "sor", P + "mg_levels_ksp_max_it", "1"],
    "pmg-cheb2": [P + "mg_levels_ksp_type", "chebyshev", P + "mg_levels_pc_type", "jacobi", P + "mg_levels_ksp_max_it", "2"],
    # GAMG on the P2 operator itself, femnn's CG before the p-multigrid (threshold 0.05; Richardson + SSOR)
    # -- and below, the options tried on it
    "gamg": [],
    # PETSc's level smoother, femnn's default before this bench: Chebyshev(2)/Jacobi
    "cheb-jacobi": [P + "mg_levels_pc_type", "jacobi"],
    # SOR (one symmetric Gauss-Seidel sweep) inside the level Chebyshev instead of point Jacobi
    "sor": [P + "mg_levels_pc_type", "sor"],
    "sor-cheb1": [P + "mg_levels_pc_type", "sor", P + "mg_levels_ksp_max_it", "1"],
    "sor-rich": [P + "mg_levels_pc_type", "sor", P + "mg_levels_ksp_type", "richardson", P + "mg_levels_ksp_max_it", "1"],
    "sor-rich2": [P + "mg_levels_pc_type", "sor", P + "mg_levels_ksp_type", "richardson", P + "mg_levels_ksp_max_it", "2"],
    "sor-rich+ptap-allatonce": ["-matptap_via", "allatonce", P + "mg_levels_pc_type", "sor",
                                P + "mg_levels_ksp_type", "richardson", P + "mg_levels_ksp_max_it", "1"],
    "cheb1": [P + "mg_levels_pc_type", "jacobi", P + "mg_levels_ksp_max_it", "1"],
    "cheb3": [P + "mg_levels_pc_type", "jacobi", P + "mg_levels_ksp_max_it", "3"],
    "thr0.02": [P + "pc_gamg_threshold", "0.02"],
    "thr0.1": [P + "pc_gamg_threshold", "0.1"],
    "agg2": [P + "pc_gamg_aggressive_coarsening", "2"],
    "mis2": [P + "pc_gamg_aggressive_square_graph", "false"],
    # memory-scalable Galerkin product (MPIAIJ only: >= 2 ranks)
    "ptap-allatonce": ["-matptap_via", "allatonce"],
    "ptap-merged": ["-matptap_via", "allatonce_merged"],
    "ptap-scalable": ["-matptap_via", "scalable"],
    # sequential Galerkin product as R = Pᵀ formed explicitly, then R A P (1 rank)
    "ptap-rap": ["-matptap_via", "rap"],
    "ptap-allatonce+sor": ["-matptap_via", "allatonce", P + "mg_levels_pc_type", "sor"],
    "lu": [],
}
# the CG preconditioner of each variant (ElasticityProblem(preconditioner=...)): GAMG on P2 for the GAMG
# option studies, femnn's choice ("auto": the p-multigrid for P2) otherwise
PRECONDITIONER = {v: "gamg" for v in VARIANTS if v not in ("default", "pmg-sor", "pmg-cheb2", "lu")}
PARALLEL_ONLY = {"ptap-allatonce", "ptap-merged", "ptap-scalable", "ptap-allatonce+sor", "sor-rich+ptap-allatonce"}

CASE = r"""
import dolfinx_solver, json, resource, sys, time
import numpy as np
from mpi4py import MPI
from petsc4py import PETSc
import dolfinx
import femnn.fem as fem
from femnn.fem.meshing import FemOptions, mesh_task
from femnn.fem.solve import make_problem, default_hub_tag
from femnn.network import load_task
refine, quick, variant, rtol, study = int(sys.argv[1]), sys.argv[2] == "1", sys.argv[3], float(sys.argv[4]), sys.argv[5] == "1"
across, precond = int(sys.argv[6]), sys.argv[7]
comm = MPI.COMM_WORLD
rss = lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
mem, t = {"baseline": comm.allgather(rss())}, {}
task = load_task("fig1")
out_node = int(task.output_dofs[0]) // 2
comm.Barrier(); t0 = time.perf_counter()
mesh, ct, info = mesh_task(comm, task, 3, FemOptions(refine=refine, quick=quick, solver="cg", elements_across_neck=across))
comm.Barrier(); t["mesh"] = time.perf_counter() - t0; mem["mesh"] = comm.allgather(rss())
t0 = time.perf_counter()
solver = "lu" if variant == "lu" else "cg"
# the solve's sanity check (true residual <= max_residual, default 1e-6) must admit the CG tolerance asked for
kw = {} if solver == "lu" else {"rtol": rtol, "max_residual": max(1e-6, 10 * rtol), "preconditioner": precond}
prob = make_problem(comm, task, mesh, ct, degree=2, solver=solver, **kw)
comm.Barrier(); t["assemble"] = time.perf_counter() - t0; mem["assemble"] = comm.allgather(rss())
t0 = time.perf_counter()
prob.setup()
comm.Barrier(); t["setup"] = time.perf_counter() - t0; mem["setup"] = comm.allgather(rss())
F = task.loads_N()[0]
hist = []
if study:
    w = dolfinx.fem.Function(prob.V)
    rhs_norm = []
    marks = [10.0 ** -k for k in range(3, 13)]
    def monitor(ksp, it, rnorm):
        if it == 0:
            rhs_norm.append(rnorm)   # x0 = 0: the first true residual is |b|
            return
        rel = rnorm / rhs_norm[0]
        while marks and rel < marks[0]:
            marks.pop(0)
            w.x.petsc_vec.array[:] = ksp.buildSolution().array_r
            w.x.scatter_forward()
            u = prob.hub_means(w, task.network.n_nodes, default_hub_tag)
            hist.append({"rtol": 10 * marks[0] if marks else 1e-12, "its": it, "rel": rel, "u_out_m": u[out_node].tolist()})
    prob.ksp.setMonitor(monitor)
t0 = time.perf_counter()
prob.solve(F, default_hub_tag)
comm.Barrier(); t["solve"] = time.perf_counter() - t0; mem["solve"] = comm.allgather(rss())
u = prob.hub_means(prob.u_h, task.network.n_nodes, default_hub_tag)
levels = []
if solver == "cg":
    pc = prob.ksp.getPC()
    if prob.preconditioner == "pmg":   # the P1 coarse level's GAMG hierarchy, after the P2 level
        levels.append([prob.A.getSize()[0], prob.A.getInfo(PETSc.Mat.InfoType.GLOBAL_SUM)["nz_used"]])
        pc = pc.getMGCoarseSolve().getPC()
    for l in range(pc.getMGLevels()):
        A = pc.getMGSmoother(l).getOperators()[0]
        levels.append([A.getSize()[0], A.getInfo(PETSc.Mat.InfoType.GLOBAL_SUM)["nz_used"]])
if comm.rank == 0:
    print(json.dumps({"dofs": int(prob.dofs), "its": int(prob.iterations[-1]), "mem": mem, "t": t,
                      "u_out_m": u[out_node].tolist(), "residual": float(prob.last_residual), "levels": levels,
                      "hist": hist, "n_elements": info.n_elements}))
"""

# --interleave: every variant on ONE assembled operator in ONE process, alternating rounds (A B A B ...),
# so that a busy shared machine slows all variants alike; per variant the median wall and CPU seconds
INTERLEAVE = r"""
import dolfinx_solver, json, sys, time
import numpy as np
from mpi4py import MPI
from petsc4py import PETSc
from femnn.fem.meshing import FemOptions, mesh_task
from femnn.fem.solve import make_problem, default_hub_tag
from femnn.network import load_task
refine, quick, rtol, rounds = int(sys.argv[1]), sys.argv[2] == "1", float(sys.argv[3]), int(sys.argv[4])
variants = json.loads(sys.argv[5])
comm = MPI.COMM_WORLD
task = load_task("fig1")
out_node = int(task.output_dofs[0]) // 2
precond = json.loads(sys.argv[6])
mesh, ct, _ = mesh_task(comm, task, 3, FemOptions(refine=refine, quick=quick, solver="cg"))
prob = make_problem(comm, task, mesh, ct, degree=2, solver="cg", rtol=rtol)
F = task.loads_N()[0]
res = {name: [] for name in variants}
glob = PETSc.Options()
for _ in range(rounds):
    for name, opts in variants.items():
        keys = [k.lstrip("-") for k in opts[::2]]
        for k, v in zip(keys, opts[1::2]):
            glob[k] = v
        prob.ksp.destroy()
        comm.Barrier(); w0, c0 = time.perf_counter(), time.process_time()
        prob.preconditioner = precond.get(name, "pmg")
        prob.ksp = prob._solver("cg", rtol)
        prob.setup()
        comm.Barrier(); w1, c1 = time.perf_counter(), time.process_time()
        for k in keys:
            glob.delValue(k)
        prob.solve(F, default_hub_tag)
        comm.Barrier(); w2, c2 = time.perf_counter(), time.process_time()
        u = prob.hub_means(prob.u_h, task.network.n_nodes, default_hub_tag)[out_node]
        res[name].append({"its": prob.iterations[-1], "setup": w1 - w0, "solve": w2 - w1, "setup_cpu": c1 - c0,
                          "solve_cpu": c2 - c1, "u": u.tolist()})
if comm.rank == 0:
    print(json.dumps({"dofs": int(prob.dofs), "res": res}))
"""


def run_interleaved(refine, quick, ranks, variants, rtol, rounds, timeout=3600):
    exe = Path(sys.executable).parent
    sel = {v: VARIANTS[v] for v in variants}
    cmd = [str(exe / "mpiexec"), "-n", str(ranks), sys.executable, "-c", INTERLEAVE, str(refine), str(int(quick)),
           repr(rtol), str(rounds), json.dumps(sel), json.dumps({v: PRECONDITIONER.get(v, "pmg") for v in variants})]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if r.returncode != 0:
        raise SystemExit(r.stderr.strip()[-2000:])
    return json.loads(r.stdout.strip().splitlines()[-1])


def run_case(refine, quick, ranks, variant, rtol, study=False, across=3, timeout=3600):
    return _mpi_case.run_case(CASE, [refine, int(quick), variant, repr(rtol), int(study), across,
                                     PRECONDITIONER.get(variant, "auto")], ranks, VARIANTS[variant], timeout)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--refine", type=int, default=0, help="mesh refinement level (each level ~8x the DOFs; 1 -> ~6e6)")
    ap.add_argument("--elements-across-neck", type=int, default=3,
                    help="mesh density (FemOptions.elements_across_neck; the element size scales as 1/(N 2^refine)): "
                         "3 and --refine 1 -> 4.1e6 DOFs, 7 and --refine 0 -> 6.1e6")
    ap.add_argument("--quick", action="store_true", help="the coarse test mesh (elements across the neck - 1)")
    ap.add_argument("--ranks", type=int, nargs="+", default=[1])
    ap.add_argument("--variants", nargs="+", default=["default"], choices=sorted(VARIANTS))
    ap.add_argument("--rtol", type=float, default=1e-8, help="CG tolerance on the true residual")
    ap.add_argument("--rtol-study", action="store_true", help="one solve to 1e-12, output displacement per decade")
    ap.add_argument("--json", type=Path, help="also write every run's raw record here")
    ap.add_argument("--interleave", type=int, metavar="ROUNDS", default=0,
                    help="time only: all variants on one operator in one process, ROUNDS alternating rounds")
    args = ap.parse_args(argv)
    size = f"refine={args.refine}, {args.elements_across_neck} elements across the neck{' (quick: one fewer)' if args.quick else ''}"
    records = []
    if args.interleave:
        import statistics

        for R in args.ranks:
            vs = [v for v in args.variants if v != "lu" and (R > 1 or v not in PARALLEL_ONLY)]
            r = run_interleaved(args.refine, args.quick, R, vs, args.rtol, args.interleave)
            records.append(r)
            print(f"\nInterleaved timing ({size}, {r['dofs']:,} DOFs, {R} rank(s), rtol {args.rtol:g}, "
                  f"{args.interleave} rounds; medians; ratios to {vs[0]}):\n")
            print("| variant | its | setup s | CG solve s | setup + solve s | CPU s (rank 0) | ratio (setup + solve) | "
                  "s per CG it | u_out rel. diff. |")
            print("|---|---|---|---|---|---|---|---|---|")
            med = lambda v, k: statistics.median(x[k] for x in r["res"][v])
            base = med(vs[0], "setup") + med(vs[0], "solve")
            u0 = r["res"][vs[0]][0]["u"]
            for v in vs:
                st, so = med(v, "setup"), med(v, "solve")
                u = r["res"][v][0]["u"]
                rel = max(abs(u[0] - u0[0]), abs(u[1] - u0[1])) / max(abs(u0[0]), abs(u0[1]))
                its = r["res"][v][0]["its"]
                print(f"| {v} | {its} | {st:.1f} | {so:.1f} | {st + so:.1f} | {med(v, 'setup_cpu') + med(v, 'solve_cpu'):.1f} | "
                      f"{(st + so) / base:.2f} | {so / its:.3f} | {rel:.1e} |", flush=True)
        if args.json:
            args.json.write_text(json.dumps(records, indent=1))
        return
    if args.rtol_study:
        for R in args.ranks:
            r = run_case(args.refine, args.quick, R, args.variants[0], 1e-12, study=True, across=args.elements_across_neck)
            records.append(r)
            if "error" in r:
                print(f"{args.variants[0]} on {R} rank(s) failed: {r['error']}")
                continue
            ref = r["u_out_m"]
            mag = max(abs(ref[0]), abs(ref[1]))
            print(f"\nOutput displacement vs CG tolerance ({size}, {r['dofs']:,} DOFs, variant {args.variants[0]}, "
                  f"{R} rank(s)); reference: the rtol 1e-12 solve, u_out = ({ref[0]:.9e}, {ref[1]:.9e}) m\n")
            print("| rtol (true residual) | CG its | max relative error of u_out vs rtol 1e-12 |")
            print("|---|---|---|")
            for h in r["hist"]:
                err = max(abs(h["u_out_m"][0] - ref[0]), abs(h["u_out_m"][1] - ref[1])) / mag
                print(f"| {h['rtol']:.0e} | {h['its']} | {err:.2e} |")
            print(f"| 1e-12 (final) | {r['its']} | 0 |")
        if args.json:
            args.json.write_text(json.dumps(records, indent=1))
        return
    print(f"\nfig1 part, 3D P2, ν = 0.49, {size}, CG to rtol {args.rtol:g} on the true residual "
          f"(default: femnn's p-multigrid; gamg and the GAMG option variants: GAMG on P2; lu: MUMPS LU)\n")
    print("| variant | ranks | DOFs | its | mesh s | assemble s | setup s | solve s | total s | peak MiB/rank after mesh | "
          "after assembly | after setup | after solve | MiB per 10⁶ DOFs (all ranks, less baseline) | "
          "u_out x (m) | u_out y (m) | rel. diff. |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    ref = None
    order = sorted(args.variants, key=lambda v: v != "lu")   # the direct reference first when listed
    for variant in order:
        for R in args.ranks:
            if R == 1 and variant in PARALLEL_ONLY:
                continue
            r = run_case(args.refine, args.quick, R, variant, args.rtol, across=args.elements_across_neck)
            r.update(variant=variant, ranks=R)
            records.append(r)
            if "error" in r:
                print(f"| {variant} | {R} | failed: {r['error'][:100]} |||||||||||||||", flush=True)
                continue
            m, t = r["mem"], r["t"]
            peak = [max(m[k]) for k in ("mesh", "assemble", "setup", "solve")]
            per = (sum(m["solve"]) - sum(m["baseline"])) / (r["dofs"] / 1e6)
            u = r["u_out_m"]
            ref = ref or u
            rel = max(abs(u[0] - ref[0]), abs(u[1] - ref[1])) / max(abs(ref[0]), abs(ref[1]))
            print(f"| {variant} | {R} | {r['dofs']:,} | {r['its']} | {t['mesh']:.1f} | {t['assemble']:.1f} | "
                  f"{t['setup']:.1f} | {t['solve']:.1f} | {sum(t.values()):.1f} | {peak[0]:,.0f} | {peak[1]:,.0f} | "
                  f"{peak[2]:,.0f} | {peak[3]:,.0f} | {per:,.0f} | {u[0]:.9e} | {u[1]:.9e} | {rel:.1e} |", flush=True)
            if args.json:
                args.json.write_text(json.dumps(records, indent=1))


if __name__ == "__main__":
    main()
