"""MPI scaling of the iterative 3D solver (prints Markdown tables): (a) one large 3D P2 solve with CG +
GAMG (rigid-body near-nullspace) at 1 and 2 ranks, and (c) a weak-scaling ESTIMATE toward hundreds
of ranks from the measured per-rank throughput and communication volume; plus the issue-6 goal line
(5·10⁶ DOFs within 10 minutes), measured when the run is that large, otherwise extrapolated.

    .venv/bin/python bench/bench_scaling.py [--n 28] [--ranks 1 2] [--small N]
    .venv/bin/python bench/bench_scaling.py --n 48 --ranks 2 --small 0     # the 5.6·10⁶-DOF goal run

The problem is bench_fem.py's: a P2 box of 8n x n x n/4 cells (64 x 8 x 2 mm, a slender bond),
ν = 0.49, clamped hub at one end, loaded hub (body force) at the other; CG to rtol 1e-8 on the true
residual. Each run is a fresh `mpiexec -n R` (after a tiny 1-rank warm-up that fills the JIT cache).
Measured per run: mesh creation, assembly, GAMG setup (KSPSetUp) and CG solve times, peak RSS per rank
after each phase, index-map ghost DOFs and neighbours per rank, the GAMG hierarchy (rows, nonzeros,
active ranks per level) and, from PETSc's log, MPI messages, bytes and reductions during the solve.
A second, smaller size (--small, default n/2) on the fewest ranks gives the measured growth of the
iteration count with the problem size that the estimate uses.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
from pathlib import Path

CASE = r"""
import dolfinx_solver, json, resource, sys, time
import numpy as np
from mpi4py import MPI
from petsc4py import PETSc
import dolfinx
from dolfinx.mesh import create_box, meshtags
from femnn.fem.elasticity import ElasticityProblem
n = int(sys.argv[1])
comm = MPI.COMM_WORLD
PETSc.Log.begin()
rss = lambda: comm.allreduce(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, op=MPI.MAX) / 1024
mem = {"baseline": rss()}
L, w, t, a = 0.064, 0.008, 0.002, 0.004
comm.Barrier(); t0 = time.perf_counter()
mesh = create_box(comm, [[0, 0, 0], [L, w, t]], [8 * n, n, max(1, n // 4)])
N = mesh.topology.index_map(3).size_local + mesh.topology.index_map(3).num_ghosts
mid = dolfinx.mesh.compute_midpoints(mesh, 3, np.arange(N, dtype=np.int32))
ct = meshtags(mesh, 3, np.arange(N, dtype=np.int32), np.where(mid[:, 0] < a, 1, np.where(mid[:, 0] > L - a, 2, 3)).astype(np.int32))
comm.Barrier(); t1 = time.perf_counter(); mem["mesh"] = rss()
p = ElasticityProblem(comm, mesh, ct, 5.5e5, 0.49, t, [1], degree=2, solver="cg", rtol=1e-8)
comm.Barrier(); t2 = time.perf_counter(); mem["assemble"] = rss()
stage_setup = PETSc.Log.Stage("gamg_setup"); stage_setup.push()
p.ksp.setUp()
stage_setup.pop()
comm.Barrier(); t3 = time.perf_counter(); mem["setup"] = rss()
stage = PETSc.Log.Stage("cg_solve"); stage.push()
p.solve(np.array([[0, 0], [0.0, -0.01]]), lambda j: 1 + j)
stage.pop()
comm.Barrier(); t4 = time.perf_counter(); mem["solve"] = rss()
im, bs = p.V.dofmap.index_map, p.V.dofmap.index_map_bs
pc = p.ksp.getPC()
levels = []
for l in range(pc.getMGLevels()):          # PETSc numbering: level 0 is the coarsest
    k = pc.getMGSmoother(l)
    A = k.getOperators()[0]
    levels.append({"rows": A.getSize()[0], "nnz": A.getInfo(PETSc.Mat.InfoType.GLOBAL_SUM)["nz_used"],
                   "active_ranks": comm.allreduce(int(A.getLocalSize()[0] > 0)),
                   "smoother": f"{k.getType()}/{k.getPC().getType()}({k.getTolerances()[3] if k.getType() != 'preonly' else 1})"})
ks = PETSc.Log.Event("KSPSolve").getPerfInfo(stage)
red = sum(PETSc.Log.Event(e).getPerfInfo(stage)["count"] for e in ("VecTDot", "VecDot", "VecNorm", "VecMDot", "VecMTDot"))
su = PETSc.Log.Event("PCSetUp").getPerfInfo(stage_setup)
out = {"ranks": comm.size, "n": n, "dofs": p.dofs, "its": p.iterations[-1],
       "mesh": t1 - t0, "assemble": t2 - t1, "setup": t3 - t2, "solve": t4 - t3, "mem": mem,
       "owned": comm.allgather(im.size_local * bs), "ghosts": comm.allgather(im.num_ghosts * bs),
       "neighbours": comm.allgather(int(np.unique(im.owners).size)),
       "levels": levels,
       # per rank, max over ranks: MPI messages (sends + receives) and bytes in KSPSolve, collective reductions
       "solve_msgs": comm.allreduce(ks["numMessages"], op=MPI.MAX), "solve_bytes": comm.allreduce(ks["messageLength"], op=MPI.MAX),
       "solve_reductions": red,
       "setup_msgs": comm.allreduce(su["numMessages"], op=MPI.MAX), "setup_bytes": comm.allreduce(su["messageLength"], op=MPI.MAX)}
if comm.rank == 0:
    print(json.dumps(out))
"""

# Stated assumptions of the estimate (not measured here: one machine, no network)
LATENCY_S = 2e-6           # per point-to-point message and per allreduce stage (InfiniBand/Omni-Path class)
BANDWIDTH_B_PER_S = 10e9   # per rank and direction
# near-cubic process grids for the model; the slowest rank is the most interior subdomain
PROC_GRIDS = {1: (1, 1, 1), 2: (2, 1, 1), 8: (2, 2, 2), 32: (4, 4, 2), 128: (8, 4, 4), 512: (8, 8, 8)}
GOAL_DOFS, GOAL_S, MACHINE_GIB = 5e6, 600.0, 24.0
ITS_GROWTH_ASSUMED = 0.05  # sensitivity columns: iterations +5 % per doubling of the global problem (ASSUMED)


def box_dofs(n: int) -> int:
    return 3 * (16 * n + 1) * (2 * n + 1) * (2 * max(1, n // 4) + 1)


def run(n: int, ranks: int) -> dict:
    exe = Path(sys.executable).parent
    script = Path(__file__).with_name(f".bench_scaling_case_{os.getpid()}_{n}_{ranks}.py")
    script.write_text(CASE)
    try:
        p = subprocess.run([str(exe / "mpiexec"), "-n", str(ranks), sys.executable, str(script), str(n)],
                           capture_output=True, text=True)
    finally:
        script.unlink()
    if p.returncode:
        tail = p.stderr.strip().splitlines()[-1] if p.stderr.strip() else f"exit code {p.returncode}"
        raise SystemExit(f"n={n} on {ranks} rank(s) failed: {tail}")
    return json.loads(p.stdout.strip().splitlines()[-1])


def gib(mib: float) -> str:
    return f"{mib / 1024:.2f}"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=28, help=f"mesh size parameter: DOFs = 3 (16n+1)(2n+1)(2⌊n/4⌋+1), "
                    f"e.g. 16 -> {box_dofs(16):.2g}, 28 -> {box_dofs(28):.2g}, 32 -> {box_dofs(32):.2g}, 48 -> {box_dofs(48):.2g}")
    ap.add_argument("--ranks", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--small", type=int, default=None,
                    help="smaller size run on the fewest ranks for the measured iteration growth (default n/2; 0: none)")
    a = ap.parse_args()
    small = a.n // 2 if a.small is None else a.small
    load0 = os.getloadavg()[0]
    run(2, 1)  # warm-up: fills the FFCx JIT cache, so that no run's assembly time includes a compile
    rows = {r: run(a.n, r) for r in sorted(a.ranks)}
    r_lo, r_hi = min(rows), max(rows)
    sm = run(small, r_lo) if small and small < a.n else None
    load1 = os.getloadavg()[0]

    print(f"NOTE: measured on a shared 2-core, 24 GiB machine (load average {load0:.2f} before, {load1:.2f} after the "
          f"runs); another user's work can slow any run, so the timings are noisy (a few to ~20 %).\n")
    # --- (a) measured ------------------------------------------------------------------------
    print(f"(a) MEASURED: 3D P2 CG + GAMG (rigid-body near-nullspace), ν = 0.49, rtol 1e-8 on the true residual, "
          f"n = {a.n}\n")
    print("| ranks | DOFs | CG its | mesh s | assemble s | GAMG setup s | CG solve s | setup + solve s | total s | "
          "efficiency (setup + solve) | efficiency (total) | CG efficiency per iteration | peak MiB/rank | "
          "throughput DOF·it/s per rank |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    b = rows[r_lo]
    ss = lambda d: d["setup"] + d["solve"]
    tot = lambda d: d["mesh"] + d["assemble"] + d["setup"] + d["solve"]
    thr = lambda d: d["dofs"] * d["its"] / d["solve"] / d["ranks"]
    for r, d in rows.items():
        e1 = ss(b) * r_lo / (r * ss(d))
        e2 = tot(b) * r_lo / (r * tot(d))
        e3 = b["solve"] / b["its"] * r_lo / (r * d["solve"] / d["its"])
        print(f"| {r} | {d['dofs']:,} | {d['its']} | {d['mesh']:.2f} | {d['assemble']:.2f} | {d['setup']:.2f} | "
              f"{d['solve']:.2f} | {ss(d):.2f} | {tot(d):.2f} | {e1:.2f} | {e2:.2f} | {e3:.2f} | {d['mem']['solve']:,.0f} | {thr(d):.3g} |")
    print(f"\nEfficiency = T({r_lo}) · {r_lo} / (R · T(R)), e.g. T1 / (2·T2); per iteration: the same with the CG "
          "solve time per iteration (GAMG's aggregates, hence the iteration count, depend on the partition). Peak RSS per rank (max over ranks) "
          "after each phase, MiB:\n")
    print("| ranks | baseline (Python, PETSc) | after mesh | after assembly | after GAMG setup | after solve |")
    print("|---|---|---|---|---|---|")
    for r, d in rows.items():
        m = d["mem"]
        print(f"| {r} | {m['baseline']:,.0f} | {m['mesh']:,.0f} | {m['assemble']:,.0f} | {m['setup']:,.0f} | {m['solve']:,.0f} |")
    print("\nCommunication and GAMG hierarchy (measured; per rank = max over ranks; messages count sends and receives):\n")
    print("| ranks | owned DOFs/rank | ghost DOFs/rank (index map × bs) | neighbours | MPI messages per CG it | "
          "bytes per CG it (sent + received) | reductions per CG it | GAMG levels | rows per level (fine → coarse) | operator complexity | "
          "ranks on coarsest |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    runs = list(rows.values()) + ([sm] if sm else [])
    for d in runs:
        lv = d["levels"]
        oc = sum(x["nnz"] for x in lv) / lv[-1]["nnz"]
        print(f"| {d['ranks']}{'' if d is not sm else f' (n = {small})'} | {max(d['owned']):,} | {max(d['ghosts']):,} | "
              f"{max(d['neighbours'])} | {d['solve_msgs'] / d['its']:.1f} | {d['solve_bytes'] / d['its']:,.0f} | "
              f"{d['solve_reductions'] / d['its']:.1f} | {len(lv)} | {' → '.join(format(x['rows'], ',') for x in reversed(lv))} | "
              f"{oc:.2f} | {lv[0]['active_ranks']} |")
    print(f"\nSmoothers (fine → coarse): {', '.join(x['smoother'] for x in reversed(b['levels']))}.")

    # --- (c) the estimate ------------------------------------------------------------------
    if r_hi < 2:
        print("\n(c) needs a run on >= 2 ranks (ghosts, messages): skipped")
    else:
        d2 = rows[r_hi]
        D = max(d2["owned"])                                   # DOFs per rank held fixed
        t_it = d2["solve"] / d2["its"]                        # s per CG iteration per rank at D DOFs (measured)
        ref = rows[r_lo]
        if sm:
            gamma = math.log(ref["its"] / sm["its"]) / math.log(ref["dofs"] / sm["dofs"])
            its_src = (f"its ∝ DOFs^{gamma:.3f} ({2 ** gamma - 1:+.1%} per doubling), measured from {sm['its']} its at "
                       f"{sm['dofs']:,} DOFs and {ref['its']} at {ref['dofs']:,} on {r_lo} rank(s)")
            if gamma < 0:
                its_src += "; negative growth is not extrapolated: the model uses 0 (constant iterations)"
            gamma = max(gamma, 0.0)
        else:
            gamma = math.log2(1.05)
            its_src = "ASSUMED +5 % iterations per doubling of the problem (no --small run)"
        its_at = lambda dofs: d2["its"] * (dofs / d2["dofs"]) ** gamma
        # GAMG levels: measured coarsening ratio per level; one more level per that factor of global DOFs
        lv = d2["levels"]
        ratio = (lv[-1]["rows"] / lv[0]["rows"]) ** (1 / max(len(lv) - 1, 1))
        lev_at = lambda dofs: len(lv) + max(0.0, math.log(dofs / d2["dofs"]) / math.log(ratio))
        # measured at 2 ranks, one cut through the 8 x 2 mm cross-section: messages and bytes per iteration
        msgs_it, bytes_it, red_it = d2["solve_msgs"] / d2["its"], d2["solve_bytes"] / d2["its"], d2["solve_reductions"] / d2["its"]
        exch_per_level = msgs_it / 2 / len(lv)                # one exchange = 1 send + 1 receive with the 1 neighbour
        cut_nodes = (2 * a.n + 1) * (2 * max(1, a.n // 4) + 1)  # ideal planar cut at 2 ranks (P2 nodes)
        face_nodes = (D / 3) ** (2 / 3)                        # one face of a cubic subdomain holding D DOFs
        print(f"\n(c) ESTIMATE (model, not measured): weak scaling at {D:,} DOFs per rank, CG solve phase\n")
        print(f"Measured inputs (at {r_hi} ranks unless stated): {t_it * 1e3:.0f} ms per CG iteration per rank at {D:,} DOFs "
              f"per rank ({t_it / D * 1e9:.0f} ns per DOF and iteration; {thr(d2):.3g} DOF·it/s per rank, "
              f"{thr(rows[r_lo]):.3g} at {r_lo} rank); {msgs_it:.0f} MPI messages, {bytes_it / 1e3:.1f} kB (sent + received) and "
              f"{red_it:.1f} reductions per CG iteration per rank with one neighbour across a cut of ~{cut_nodes:,} P2 nodes "
              f"({max(d2['ghosts']):,} index-map ghost DOFs); GAMG {len(lv)} levels, coarsening ×{ratio:.1f} per level; "
              f"{its_src}.\n")
        print(f"Model: T(P) = its(P) · [t_it + e · L(P) · n_nbr(P) · λ + bytes(P) / β + r · λ · ⌈log₂ P⌉], with "
              f"λ = {LATENCY_S * 1e6:.0f} µs latency and β = {BANDWIDTH_B_PER_S / 1e9:.0f} GB/s (ASSUMED network), "
              f"compute t_it per rank constant (measured), e = {exch_per_level:.1f} halo exchanges per level and iteration "
              f"and r = {red_it:.0f} reductions per iteration (measured), L(P) GAMG levels (one more per ×{ratio:.1f} "
              f"global DOFs), bytes(P) = measured bytes × (faces(P) · face nodes of a cubic subdomain ≈ {face_nodes:,.0f}) "
              f"/ measured cut nodes, on near-cubic process grids (slowest = most interior rank: up to 6 faces, 26 neighbours). "
              f"Not modelled: GAMG setup (its coarse levels gather onto few ranks), the memory bandwidth shared by the cores "
              f"of a node, load imbalance, network contention.\n")
        print("ESTIMATE (model, not measured)\n")
        print("| ranks | process grid | global DOFs | GAMG levels | CG its | neighbours | halo kB/it | compute s | halo s | "
              f"allreduce s | total s | weak efficiency | total s, its +{ITS_GROWTH_ASSUMED:.0%}/doubling | weak efficiency, "
              f"its +{ITS_GROWTH_ASSUMED:.0%}/doubling |")
        print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
        t_ref = t_ref_s = None
        for P, grid in PROC_GRIDS.items():
            c = [0 if k == 1 else (1 if k == 2 else 2) for k in grid]
            faces, nbrs = sum(c), math.prod(1 + x for x in c) - 1
            G = D * P
            its, L = its_at(G), lev_at(G)
            bts = bytes_it * faces * face_nodes / cut_nodes if P > 2 else (bytes_it if P == 2 else 0.0)
            comp = its * t_it
            halo = its * (exch_per_level * L * nbrs * LATENCY_S + bts / BANDWIDTH_B_PER_S)
            allr = its * red_it * LATENCY_S * math.ceil(math.log2(P))
            T = comp + halo + allr
            t_ref = t_ref or T
            Ts = T * (1 + ITS_GROWTH_ASSUMED) ** math.log2(P) / P ** gamma   # every term ∝ its: swap the growth law
            t_ref_s = t_ref_s or Ts
            print(f"| {P} | {'x'.join(map(str, grid))} | {G:.2g} | {L:.1f} | {its:.0f} | {nbrs} | {bts / 1e3:.1f} | "
                  f"{comp:.1f} | {halo:.3f} | {allr:.4f} | {T:.1f} | {t_ref / T:.2f} | {Ts:.1f} | {t_ref_s / Ts:.2f} |")

    # --- goal line ---------------------------------------------------------------------------
    g = rows[r_hi]
    if g["dofs"] >= GOAL_DOFS:
        verdict = "met" if tot(g) <= GOAL_S else "NOT met"
        print(f"\nGoal (issue 6: a 5·10⁶-DOF 3D solve within 10 minutes with the iterative solver): MEASURED at "
              f"{g['dofs']:,} DOFs on {r_hi} ranks: {tot(g) / 60:.1f} min in all (mesh {g['mesh']:.0f} s, assembly "
              f"{g['assemble']:.0f} s, GAMG setup {g['setup']:.0f} s, CG {g['solve']:.0f} s, {g['its']} its), peak "
              f"{gib(g['mem']['solve'])} GiB per rank, {gib(g['mem']['solve'] * r_hi)} GiB in all: {verdict}.")
    else:
        gam = gamma if r_hi >= 2 else math.log2(1.05)
        print(f"\nGoal (issue 6: a 5·10⁶-DOF 3D solve within 10 minutes with the iterative solver): EXTRAPOLATION (not "
              f"measured), time linear in DOFs except CG time × the iteration growth DOFs^{gam:.3f}, peak RSS above the "
              f"baseline linear in DOFs:")
        for r, d in rows.items():
            k = GOAL_DOFS / d["dofs"]
            t_goal = (d["mesh"] + d["assemble"] + d["setup"]) * k + d["solve"] * k ** (1 + gam)
            m = d["mem"]
            mem_goal = ((m["solve"] - m["baseline"]) * k + m["baseline"]) * r
            fits = mem_goal / 1024 < 0.9 * MACHINE_GIB
            print(f"- {r} rank(s), from {d['dofs']:,} DOFs: ~{t_goal / 60:.1f} min in all "
                  f"({'within' if t_goal <= GOAL_S else 'NOT within'} 10 min), ~{mem_goal / 1024:.1f} GiB in all "
                  f"({'fits' if fits else 'does NOT fit'} this machine's {MACHINE_GIB:.0f} GiB)")
        print(f"\n`--n 48 --ranks R --small 0` ({box_dofs(48):,} DOFs) measures it where the memory fits.")

if __name__ == "__main__":
    main()
