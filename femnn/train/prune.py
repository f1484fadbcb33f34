"""Damage studies: remove each bond of a trained network in turn.

Each bond is classified as
* ``mechanism`` - removing it leaves zero modes (the nodes that move freely are listed; nothing
  is solved);
* ``critical`` - the metric (test accuracy, or relative output error) gets worse by more than
  ``threshold`` (default 0.1 in accuracy, or a doubling of the error);
* ``redundant`` - otherwise.
Optionally each damaged network is retrained (``retrain_epochs``) from the trained widths.
"""

from __future__ import annotations

import numpy as np

from femnn.bars import BarModel
from femnn.errors import MechanismError
from femnn.train.loop import TrainConfig, train
from femnn.train.problem import TaskProblem


def _metric(task, prob, idx):
    ev = prob.evaluate(task.network.stiffness_N_per_m(), idx, gradient=False)
    m = prob.metrics(ev, idx)
    return m.get("accuracy", m.get("error")), ev.loss


def prune_study(task, split=None, threshold=None, retrain_epochs: int = 0, seed: int = 0, progress=None) -> dict:
    """Per-bond removal results for ``task`` (its network carries the trained widths)."""
    idx = np.asarray(split["test"] if split and split.get("test") else np.arange(task.n_samples))
    acc_metric = task.is_classification
    base, base_loss = _metric(task, TaskProblem(task), idx)
    thr = threshold if threshold is not None else (0.1 if acc_metric else 1.0)
    rows = []
    for b in range(task.network.n_bonds):
        pair = task.network.bonds[b].tolist()
        dam = task.with_network(task.network.without_bonds([b]))
        rec = {"bond": b, "nodes": pair}
        try:
            prob = TaskProblem(dam, BarModel(dam.network))
            val, loss = _metric(dam, prob, idx)
        except MechanismError as exc:
            rec.update(status="mechanism", zero_modes=exc.n_modes, free_nodes=exc.free_nodes)
            rows.append(rec)
            continue
        worse = (base - val) > thr if acc_metric else (val - base) > thr * base
        rec.update(status="critical" if worse else "redundant", metric_after_removal=val, loss_after_removal=loss)
        if retrain_epochs:
            res = train(dam, TrainConfig(epochs=retrain_epochs, seed=seed), split=split, problem=prob)
            rt = dam.with_network(dam.network.with_widths(res.widths_m))
            rec["metric_after_retraining"] = _metric(rt, TaskProblem(rt, prob.model), idx)[0]
        rows.append(rec)
        if progress:
            progress(b + 1)
    return {"task": task.name, "metric": "test_accuracy" if acc_metric else "test_error", "baseline": base,
            "baseline_loss": base_loss, "threshold": thr, "bonds": rows,
            "counts": {s: sum(r["status"] == s for r in rows) for s in ("critical", "redundant", "mechanism")}}
