"""Study throughput: a 16-case study at N = 1 and N = 2 ranks, --ranks-per-case 1 (Markdown table).

    .venv/bin/python bench/bench_study.py [--model bar|fem2d]

Goal (issue 7): wall time at N = 2 at most 0.55 of N = 1 on 2 cores. Both runs use the same study
file and a fresh output directory; the wall time includes MPI and Python start-up.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from femnn.network import make_network, write_network


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="bar", choices=["bar", "fem2d"])
    ap.add_argument("--rows", type=int, default=150, help="bar model: triangular lattice rows (case cost)")
    a = ap.parse_args()
    mpiexec = str(Path(sys.executable).parent / "mpiexec")
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        if a.model == "bar":
            net = make_network("triangular", rows=a.rows)
            write_network(net, d / "net.toml")
            (d / "task.toml").write_text(
                'network = "net.toml"\nkind = "single"\n[units]\nlength = "m"\nforce = "N"\n'
                f'[[loads]]\nnode = {net.n_nodes - 2}\nforce = [0.0, -0.01]\n'
                f'[outputs]\nnodes = [{net.n_nodes - 1}]\ncomponents = ["y"]\n[loss]\nkind = "mse"\ntargets = [-0.01]\n')
            base, axes = "task.toml", "width_seed = [" + ", ".join(map(str, range(16))) + "]"
        else:
            base, axes = "fig1", "load_scale = [" + ", ".join(str(0.5 + 0.1 * i) for i in range(16)) + "]"
        (d / "s.toml").write_text(f'base = "{base}"\nmodels = ["{a.model}"]\noutputs = ["loss", "u"]\n[axes]\n{axes}\n')
        rows = []
        for n in (1, 2):
            t0 = time.perf_counter()
            subprocess.run([mpiexec, "-n", str(n), sys.executable, "-m", "femnn", "study", str(d / "s.toml"),
                            "--out", str(d / f"out{n}"), "--quiet"], check=True, stdout=subprocess.DEVNULL)
            rows.append((n, time.perf_counter() - t0))
    print(f"## 16-case study ({a.model}), --ranks-per-case 1\n")
    print("| ranks | wall s | ratio to N=1 | goal |\n|---|---|---|---|")
    for n, t in rows:
        print(f"| {n} | {t:.2f} | {t / rows[0][1]:.3f} | {'<= 0.55' if n == 2 else ''} |")


if __name__ == "__main__":
    main()
