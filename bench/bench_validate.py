"""FEM speed on the real printed part (prints a Markdown table): the paper network's Fig. 1 load,
`femnn validate` in 2D and 3D (P2, MUMPS LU), at mesh levels and rank counts side by side.

    .venv/bin/python bench/bench_validate.py [--levels quick 0 1] [--ranks 1 2] [--dims 2 3]

Each row is one `mpiexec -n R femnn validate --dims D --no-export --no-per-bond` run in a fresh
process; times come from its results.json (assembly, forward = factorisation + solve, adjoint =
solve on the same factors), memory is the peak RSS of the largest rank. Issue 6 goals: 2D forward +
adjoint (incl. assembly) < 5 s; 3D at ~6e5 DOFs forward + adjoint < 60 s on 2 cores; adjoint at
most 15 % of the forward.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path


# a fresh process per run, so that RUSAGE_CHILDREN's peak is this run's (largest rank's) peak RSS
PEAK = ("import resource, subprocess, sys; r = subprocess.run(sys.argv[1:]); "
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss); sys.exit(r.returncode)")


def run(level: str, ranks: int, dim: int, task: str) -> dict:
    exe = Path(sys.executable).parent
    with tempfile.TemporaryDirectory() as d:
        args = [str(exe / "mpiexec"), "-n", str(ranks), str(exe / "femnn"), "validate", task, "--dims", str(dim),
                "--no-export", "--no-per-bond", "--out", d]
        args += ["--quick"] if level == "quick" else ["--refine", level]
        t0 = time.perf_counter()
        p = subprocess.run([sys.executable, "-c", PEAK, *args], capture_output=True, text=True)
        wall = time.perf_counter() - t0
        peak = int(p.stdout.strip().splitlines()[-1])
        if p.returncode not in (0, 1):
            return {"error": p.stderr.strip().splitlines()[-1][:100]}
        m = json.loads((Path(d) / "results.json").read_text())["models"][f"fem{dim}d"]
    m["wall"] = wall
    m["peak_mib"] = peak / 1024
    return m


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--levels", nargs="+", default=["quick", "0"], help="'quick' or a refinement level (default: quick 0)")
    ap.add_argument("--ranks", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--dims", type=int, nargs="+", default=[2, 3], choices=[2, 3])
    ap.add_argument("--task", default="fig1")
    a = ap.parse_args()
    print(f"`femnn validate {a.task}`, P2, MUMPS LU; 2 cores shared with whatever else runs (times are indicative)\n")
    print("| dim | mesh | ranks | DOFs | mesh s | assemble s | forward s | adjoint s | fwd + adj s | adjoint / forward | "
          "whole run s | peak MiB (largest rank) |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for dim in a.dims:
        for level in a.levels:
            for r in a.ranks:
                m = run(level, r, dim, a.task)
                if "error" in m:
                    print(f"| {dim}D | {level} | {r} | failed: {m['error']} |||||||||")
                    continue
                f, ad = m["seconds_forward"], m["seconds_adjoint"]
                print(f"| {dim}D | {level} | {r} | {m['dofs']} | {m.get('seconds_mesh', float('nan')):.2f} | "
                      f"{m.get('seconds_assemble', float('nan')):.2f} | {f:.2f} | {ad:.3f} | {f + ad:.2f} | {ad / f:.3f} | "
                      f"{m['wall']:.1f} | {m['peak_mib']:.0f} |", flush=True)


if __name__ == "__main__":
    main()
