"""A task on the bar model as a differentiable function of the spring constants.

:class:`TaskProblem` precomputes, on the free DOFs, the input matrix B (forces = B x) and the
output selection O (u_out = O u), then evaluates a batch with ONE factorisation of D(k) shared by
the forward solve (all samples as one multi-right-hand-side solve) and the adjoint solve:

    D U = B Xᵀ,   l_s = loss(O U_s, y_s),   L = (1/n) Σ_s l_s,
    D U_adj = -Oᵀ (∂L/∂u_out)ᵀ,   ∂L/∂k = Σ_s e_adj,s ∘ e_s   (e = C U).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from femnn.bars import BarModel, BarResult
from femnn.network import Task
from femnn.train.losses import loss_and_grad, output_adjoint_load, predict, relative_error


@dataclass
class Evaluation:
    """Result of one batch. Shapes: u_out (n_s, n_out); losses (n_s,); gradient_k (n_bonds,) or None."""

    loss: float
    losses: np.ndarray
    u_out: np.ndarray
    gradient_k: np.ndarray | None = None
    u: np.ndarray | None = None  # (n_s, n_nodes, 2) when requested


class TaskProblem:
    def __init__(self, task: Task, model: BarModel | None = None, backend: str = "auto"):
        self.task = task
        self.model = model or BarModel(task.network, backend=backend)
        free = self.model.free
        pos = -np.ones(2 * task.network.n_nodes, dtype=np.int64)
        pos[free] = np.arange(free.size)
        # B on the free DOFs: (n_free, n_inputs)
        B = np.zeros((free.size, task.n_inputs))
        np.add.at(B, (pos[task.input_dofs], task.input_columns), task.input_scale_N)
        self.B = B
        self.out_idx = pos[task.output_dofs]

    def output_gradient(self, g_out: np.ndarray, n: int) -> np.ndarray:
        """∂L/∂U on the free DOFs (n_free, n_s) of the batch mean L = (1/n) Σ l_s, from the loss
        gradients at the outputs ``g_out`` (n_s, n_out)."""
        G = np.zeros((self.model.free.size, g_out.shape[0]))
        G[self.out_idx] = g_out.T / n
        return G

    def forward_free(self, fac, idx) -> np.ndarray:
        """Free-DOF displacements (n_free, n_s) of samples ``idx`` on the factorisation ``fac``."""
        U = fac.solve_free(self.B @ self.task.X[np.asarray(idx)].T)
        return U[:, None] if U.ndim == 1 else U

    def evaluate(self, k, idx=None, *, gradient=True, full_u=False) -> Evaluation:
        """Mean loss over samples ``idx`` (default all) and, if asked, ∂L/∂k of that mean."""
        t = self.task
        idx = np.arange(t.n_samples) if idx is None else np.asarray(idx)
        fac = self.model.factorize(k)
        U = self.forward_free(fac, idx)  # (n_free, n_s)
        u_out = U[self.out_idx].T
        Y = t.Y[idx]
        losses, g = loss_and_grad(t, u_out, Y)
        n = idx.size
        grad = None
        if gradient:
            grad = fac.gradient_free(U, self.output_gradient(g, n))
        u = None
        if full_u:
            u = np.zeros((n, 2 * t.network.n_nodes))
            u[:, self.model.free] = U.T
            u = u.reshape(n, -1, 2)
        return Evaluation(float(losses.mean()), losses, u_out, grad, u)

    def metrics(self, ev: Evaluation, idx) -> dict:
        """Accuracy (classification) or relative output error (regression / MSE)."""
        Y = self.task.Y[np.asarray(idx)]
        if self.task.is_classification:
            return {"accuracy": float(np.mean(predict(ev.u_out) == Y))}
        return {"error": relative_error(ev.u_out, Y)}


def bar_result(task: Task, k=None, name: str = "bar", *, calibration_factor: float | None = None,
               calibrated_to: str | None = None, model: BarModel | None = None) -> BarResult:
    """Forward and adjoint bar solves of a single-load task on ONE factorisation -> :class:`BarResult`.

    D u = F, L = L(u_out), D u_adj = -(∂L/∂u)ᵀ (the same factors), ∂L/∂k = e_adj ∘ e. ``k``
    defaults to the network's k = E w t / l; ``calibration_factor`` and ``calibrated_to`` only
    label the result (pass the already scaled k)."""
    bm = model or BarModel(task.network)
    k = task.network.stiffness_N_per_m() if k is None else np.asarray(k, float)
    t0 = time.perf_counter()
    fac = bm.factorize(k)
    u = fac.solve(task.loads_N()[0])
    t1 = time.perf_counter()
    F_adj, loss = output_adjoint_load(task, u)
    u_adj, e_adj, g = fac.adjoint_state(u, -F_adj)
    t2 = time.perf_counter()
    return BarResult(name, u, bm.elongations(u), u_adj, e_adj, g, loss, k, t1 - t0, t2 - t1,
                     calibration_factor, calibrated_to)
