"""Bar-model speed, measured side by side in one run (prints Markdown tables).

    .venv/bin/python bench/bench_bars.py [--max-rows 446] [--quick]

1. Iris, 100 epochs at the paper's settings, in process (goal: < 0.1 s; the authors' closed-form
   MATLAB code takes ~41 s in Octave, their symbolic original ~18.6 h, as reported in the issue).
2. One gradient on triangular lattices from 28 bonds to ~3e5 bonds (1e5 nodes): adjoint
   (1 factorisation + 2 solves) vs finite differences (one solve per bond; extrapolated from one
   timed solve where running them all is too slow). Goal: the 1e5-node gradient in < 1 s.
3. A batch of 64 load cases: one multi-RHS solve vs 64 separate factorise-and-solve calls.
4. Backends on small and mid-size networks (why dense Cholesky below 300 DOFs).
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from femnn.bars import BarModel
from femnn.network import load_task, make_network
from femnn.train import TaskProblem, TrainConfig, train


def best_of(fn, n=3):
    ts = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return min(ts)


def iris_table(repeats):
    t = load_task("iris")
    prob = TaskProblem(t)
    train(t, TrainConfig(epochs=2), problem=prob)  # warm-up
    rows = []
    for upd in ("exact", "authors"):
        ts = [best_of(lambda s=s: train(t, TrainConfig(seed=s, update=upd), problem=prob), 1) for s in range(repeats)]
        rows.append((upd, np.median(ts), np.min(ts)))
    print("## Iris, 100 epochs, paper settings (in process, one core)\n")
    print("| update | median s | best s | goal s | median / goal |\n|---|---|---|---|---|")
    for upd, med, mn in rows:
        print(f"| {upd} | {med:.4f} | {mn:.4f} | 0.1 | {med / 0.1:.2f} |")
    print()


def gradient_table(rows_list):
    print("## One gradient: adjoint vs finite differences (triangular lattices)\n")
    print("| rows | nodes | bonds | backend | setup s (model, ordering, zero-mode check) | gradient s (factorise + 2 solves) | one solve s | FD s (bonds+1 solves) | FD / adjoint |")
    print("|---|---|---|---|---|---|---|---|---|")
    for rows in rows_list:
        net = make_network("triangular", rows=rows)
        F = np.zeros((net.n_nodes, 2))
        F[-2, 1] = -0.01
        dL = np.zeros_like(F)
        dL[-1, 1] = 1.0
        t0 = time.perf_counter()
        bm = BarModel(net)
        bm.factorize(net.stiffness_N_per_m())  # first factorisation also checks for zero modes
        setup = time.perf_counter() - t0
        k = net.stiffness_N_per_m() * 1.01
        n_rep = 3 if net.n_bonds < 50000 else 1

        def grad():
            sol = bm.solve(F, k)
            sol.gradient_k(dL)

        t_adj = best_of(grad, n_rep)
        fac = bm.factorize(k)
        t_solve = best_of(lambda: fac.solve(F), n_rep)
        # FD: each bond needs its own factorisation and solve (D changes with every k_i)
        t_fd_one = best_of(lambda: bm.solve(F, k), n_rep)
        t_fd = t_fd_one * (net.n_bonds + 1)
        print(f"| {rows} | {net.n_nodes} | {net.n_bonds} | {bm.backend} | {setup:.3f} | {t_adj:.4f} | {t_solve:.4f} | "
              f"{t_fd:.3g}{' (extrapolated)' if net.n_bonds > 30 else ''} | {t_fd / t_adj:.3g} |")
    print()


def batch_table(rows_list):
    print("## 64 load cases: one multi-RHS solve vs 64 separate solves\n")
    print("| rows | DOFs | batch s | 64 x (factorise+solve) s | ratio | 64 solves on one factorisation s |\n|---|---|---|---|---|---|")
    for rows in rows_list:
        net = make_network("triangular", rows=rows)
        bm = BarModel(net)
        F = np.random.default_rng(0).normal(size=(64, net.n_nodes, 2)) * 1e-3
        k = net.stiffness_N_per_m()
        bm.factorize(k)
        t_batch = best_of(lambda: bm.solve(F, k))
        t_sep = best_of(lambda: [bm.solve(F[s], k) for s in range(64)], 1)
        fac = bm.factorize(k)
        t_same = best_of(lambda: [fac.solve(F[s]) for s in range(64)], 1)
        print(f"| {rows} | {2 * net.n_nodes} | {t_batch:.4f} | {t_sep:.4f} | {t_sep / t_batch:.1f} | {t_same:.4f} |")
    print()


def backend_table(rows_list):
    print("## Backends: factorise + 2 solves\n")
    print("| rows | free DOFs | dense s | splu s | pardiso s | auto |\n|---|---|---|---|---|---|")
    for rows in rows_list:
        net = make_network("triangular", rows=rows)
        F = np.zeros((net.n_nodes, 2))
        F[-2, 1] = -0.01
        k = net.stiffness_N_per_m()
        cells = []
        for be in ("dense", "splu", "pardiso"):
            bm = BarModel(net, backend=be)
            if be == "dense" and bm.free.size > 4000:
                cells.append("-")
                continue
            bm.factorize(k)
            cells.append(f"{best_of(lambda: bm.solve(F, k).gradient_k(F), 5):.5f}")
        print(f"| {rows} | {BarModel(net, backend='splu').free.size} | " + " | ".join(cells) + f" | {BarModel(net).backend} |")
    print()


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--max-rows", type=int, default=446)
    ap.add_argument("--quick", action="store_true", help="small sizes only (for a smoke run)")
    a = ap.parse_args()
    rows = [r for r in (4, 10, 30, 100, 200, 446) if r <= (30 if a.quick else a.max_rows)]
    iris_table(3 if a.quick else 10)
    gradient_table(rows)
    batch_table([4, 30] if a.quick else [4, 30, 100])
    backend_table([4, 8, 12, 20, 30] if a.quick else [4, 8, 12, 16, 20, 30, 60])
