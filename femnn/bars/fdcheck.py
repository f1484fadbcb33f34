"""Finite differences against the adjoint gradient (the paper's Fig. 1e).

Forward differences g_i ≈ (L(k + h e_i) - L(k)) / h have a truncation error O(h) and a round-off
error O(ε L / h), so their error against the exact adjoint gradient is smallest near
h ≈ √(ε L / L''), and they cost one extra solve per bond (m + 1 solves). The adjoint gradient
costs one factorisation and two solves for any m.
"""

from __future__ import annotations

import numpy as np


def fd_study(problem, k=None, steps=None, central=False, idx=None) -> dict:
    """Relative error ||g_fd(h) - g_adj|| / ||g_adj|| for each step h (N/m), and the solve counts."""
    task = problem.task
    k = task.network.stiffness_N_per_m() if k is None else np.asarray(k, float)
    steps = np.logspace(-12, -1, 23) if steps is None else np.asarray(steps, float)
    ev = problem.evaluate(k, idx)
    g = ev.gradient_k
    m = k.size
    errors = []
    for h in steps:
        E = np.eye(m) * h
        fd = np.empty(m)
        for i in range(m):
            lp = problem.evaluate(k + E[i], idx, gradient=False).loss
            lm = problem.evaluate(k - E[i], idx, gradient=False).loss if central else ev.loss
            fd[i] = (lp - lm) / (2 * h if central else h)
        errors.append(float(np.linalg.norm(fd - g) / np.linalg.norm(g)))
    best = int(np.argmin(errors))
    return {
        "task": task.name, "loss": ev.loss, "gradient_k": g, "steps_N_per_m": steps, "relative_error": errors,
        "scheme": "central" if central else "forward", "best_step_N_per_m": float(steps[best]),
        "best_relative_error": errors[best], "n_bonds": m,
        "solves": {"adjoint": {"factorisations": 1, "solves": 2},
                   "finite_differences": {"factorisations": (2 * m if central else m + 1), "solves": (2 * m if central else m + 1)}},
    }
