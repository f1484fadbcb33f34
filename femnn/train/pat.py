"""Physics-aware training (Wright et al., Nature 2022) for mechanical networks.

The forward pass runs the *physical* (high-fidelity) system: FEM of the printed part, or a
measurement. The backward pass runs the bar model's exact adjoint at the same widths and inputs,
fed with the loss gradient evaluated at the *physical* outputs:

    u_phys = f_phys(w, x),   g_u = ∂l/∂u (u_phys),   D(w) u_adj = -Oᵀ g_u,   ∂L/∂k ≈ e_adj ∘ e

where e and e_adj are the bar model's elongations. When the bar model is exact this is the exact
gradient; when it is not, the update still follows the physical loss, since the loss value and
its output gradient come from the physical system (the digital model only supplies the Jacobian).

``physical(widths_m, X) -> u_out`` (n_samples, n_outputs) is any callable: a FEM model, a lab
measurement, or (in tests) a bar model with hidden stiffness errors.
"""

from __future__ import annotations

import time
from typing import Callable

import numpy as np

from femnn.network import Task
from femnn.train.loop import Progress, TrainConfig, TrainResult, make_split
from femnn.train.losses import loss_and_grad, predict, relative_error
from femnn.train.optim import Adam, WidthMap
from femnn.train.problem import TaskProblem


def train_pat(task: Task, physical: Callable, config: TrainConfig = TrainConfig(), *, init_widths_m=None,
              split: dict | None = None, progress: bool = False) -> TrainResult:
    """Adam on bounded widths with physical forward passes and bar-model backward passes."""
    st = config.resolved(task)
    prob = TaskProblem(task)
    wm = WidthMap(task.network, st["beta"])
    theta = wm.theta(task.network.widths_m if init_widths_m is None else init_widths_m)
    adam = Adam(task.network.n_bonds, st["learning_rate"])
    exact = st["update"] == "exact"
    single = task.kind == "single"
    if single:
        batches_per_epoch = lambda e: [np.arange(task.n_samples)]  # noqa: E731
        n_epochs = int(config.epochs or st["max_iter"])
        split = None
        tr = te = np.arange(task.n_samples)
    else:
        split = split or make_split(task.n_samples, st["train_fraction"], st["seed"])
        tr, te = np.asarray(split["train"]), np.asarray(split["test"])
        B = int(st["batch_size"])

        def batches_per_epoch(epoch):
            order = np.random.default_rng([st["seed"], epoch]).permutation(tr.size)
            return [tr[order[i:i + B]] for i in range(0, tr.size, B)]

        n_epochs = int(st["epochs"])
    history = []
    t0 = time.perf_counter()
    bar = Progress(n_epochs, f"pat {task.name}", progress)
    for epoch in range(1, n_epochs + 1):
        for idx in batches_per_epoch(epoch):
            w = wm.widths(theta)
            k = wm.k(theta)
            u_phys = np.atleast_2d(physical(w, task.X[idx]))
            _, g = loss_and_grad(task, u_phys, task.Y[idx])
            fac = prob.model.factorize(k)
            grad_k = fac.gradient_free(prob.forward_free(fac, idx), prob.output_gradient(g, idx.size))
            theta = adam.step(theta, grad_k * wm.dk_dtheta(theta) if exact else grad_k)
        w = wm.widths(theta)
        rec = {"epoch": epoch}
        sets = (("train", np.asarray(tr)),) if single else (("train", tr), ("test", te))
        for label, ids in sets:
            u_phys = np.atleast_2d(physical(w, task.X[ids]))
            loss, _ = loss_and_grad(task, u_phys, task.Y[ids])
            key = "loss" if label == "train" else "test_loss"
            rec[key] = float(loss.mean())
            if task.is_classification:
                rec[f"{label}_accuracy"] = float(np.mean(predict(u_phys) == task.Y[ids]))
            else:
                rec[f"{label}_error"] = relative_error(u_phys, task.Y[ids])
        history.append(rec)
        bar.update(epoch, f"physical loss {rec['loss']:.4g}")
    bar.close()
    w = wm.widths(theta)
    return TrainResult(task, w, task.network.stiffness_N_per_m(w), history, {**st, "physics_aware": True}, split,
                       "epochs", time.perf_counter() - t0)
