"""Task metrics of output displacements, the same code for every model (bar, calibrated bar, FEM).

``task_metrics(task, u_out, idx)`` scores outputs ``u_out`` (n_samples, n_outputs) m of the
samples ``idx`` of ``task`` (numpy only, so the bar model and the FEM are scored identically):

* every task: ``loss`` = (1/n) Σ_s l_s (the training loss, :func:`femnn.train.losses.loss_and_grad`),
  ``n_samples``;
* classification: ``accuracy`` = mean(argmax_c |u_c| == label), ``confusion`` (n_classes, n_classes)
  counts with rows the true class and columns the predicted one;
* regression / MSE: ``error`` = ||U - Y||_F / ||Y||_F (relative, as in training);
* single-load tasks also: ``u_out`` (n_outputs,) m, and ``targets`` (n_outputs,) m for MSE, or, for
  a classification loss (behaviour CE), ``ratio`` = |u_t| / max_{c≠t} |u_c| (dimensionless; > 1 means
  the chosen output t moves most) and ``label``.
"""

from __future__ import annotations

import numpy as np

from femnn.network import Task
from femnn.train.losses import loss_and_grad, predict, relative_error


def confusion_matrix(labels, predicted, n_classes: int) -> np.ndarray:
    """(n_classes, n_classes) int64 counts C[true, predicted]."""
    C = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(C, (np.asarray(labels, dtype=np.int64), np.asarray(predicted, dtype=np.int64)), 1)
    return C


def task_metrics(task: Task, u_out, idx=None) -> dict:
    """Metrics (plain JSON-ready dict) of outputs ``u_out`` (n, n_outputs) m for samples ``idx``
    (default: all samples; ``u_out`` row s belongs to sample ``idx[s]``)."""
    idx = np.arange(task.n_samples) if idx is None else np.asarray(idx, dtype=np.int64).reshape(-1)
    u_out = np.atleast_2d(np.asarray(u_out, dtype=float))
    if u_out.shape != (idx.size, task.output_dofs.size):
        raise ValueError(f"u_out has shape {u_out.shape}; expected ({idx.size}, {task.output_dofs.size}) "
                         "(one row per sample in idx, one column per output)")
    Y = task.Y[idx]
    losses, _ = loss_and_grad(task, u_out, Y)
    out = {"loss": float(losses.mean()) if idx.size else None, "n_samples": int(idx.size)}
    if task.is_classification:
        pred = predict(u_out)
        out["accuracy"] = float(np.mean(pred == Y)) if idx.size else None
        out["confusion"] = confusion_matrix(Y, pred, task.output_dofs.size).tolist()
    else:
        out["error"] = relative_error(u_out, Y) if idx.size else None
    if task.kind == "single" and idx.size == 1:
        u = u_out[0]
        out["u_out"] = u.tolist()
        if task.is_classification:
            t = int(Y[0])
            others = np.abs(np.delete(u, t))
            out["label"] = t
            out["ratio"] = float(abs(u[t]) / others.max()) if others.size and others.max() > 0 else None
        else:
            out["targets"] = Y[0].tolist()
    return out


def single_load_task_record(task: Task, u_m) -> dict:
    """``models.<name>.task`` of a single-load task: ``u_out`` (m), ``targets`` (MSE), ``error``
    (relative, as in training), ``ratio`` (behaviour CE: |u_chosen| / max |u_other|), ``loss``."""
    u_out = np.asarray(u_m).ravel()[task.output_dofs][None]
    return task_metrics(task, u_out, [0])


def data_task_record(task: Task, u_out_all, split) -> dict:
    """``models.<name>.task`` of a data task from the outputs of every sample (n_samples, n_outputs):
    with a split ``train_*``/``test_*`` (accuracy and confusion, or relative error) and ``loss`` (training
    set), else ``accuracy``/``error`` over all samples."""
    if split is None:
        m = task_metrics(task, u_out_all)
        rec = {"loss": m["loss"], "n_samples": m["n_samples"]}
        if task.is_classification:
            rec.update(accuracy=m["accuracy"], confusion=m["confusion"])
        else:
            rec["error"] = m["error"]
        return rec
    rec = {}
    for part in ("train", "test"):
        idx = np.asarray(split[part], dtype=np.int64)
        m = task_metrics(task, u_out_all[idx], idx)
        rec["loss" if part == "train" else "test_loss"] = m["loss"]
        rec[f"n_{part}"] = m["n_samples"]
        if task.is_classification:
            rec[f"{part}_accuracy"] = m["accuracy"]
            rec[f"confusion_{part}"] = m["confusion"]
        else:
            rec[f"{part}_error"] = m["error"]
    return rec
