"""One study case: apply its parameters to the base task, run each model, collect the outputs.

Parameters act as follows (SI inside; the ``_mm`` ones are converted here):
``youngs_modulus_Pa``/``thickness_mm``/``poisson_ratio`` replace the material and thickness,
``load_scale`` multiplies every applied force, ``prune_bond`` removes a bond (a mechanism makes the
case fail with the free nodes named), ``width_seed`` perturbs every width by a factor
``1 + width_perturbation * N(0, 1)`` (seeded, clipped to the bounds); geometry, mesh and solver
parameters go to the FEM models only.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import time
from pathlib import Path

import numpy as np

from femnn.crosscheck.compare import global_calibration
from femnn.network import Task, load_task


@functools.lru_cache(maxsize=4)
def _base(base: str, widths: str | None) -> tuple[Task, dict | None]:
    """The study's base task (and the run's split), read once per process: tasks are immutable."""
    task = load_task(base)
    split = None
    if widths:
        from femnn.train.runs import apply_run_widths

        task, _ = apply_run_widths(task, widths)
        sp = Path(widths) / "split.json"
        if sp.is_file():
            split = json.loads(sp.read_text())
    return task, split


def prepare_task(study, params: dict) -> tuple[Task, dict | None]:
    """The base task with this case's network/material/load parameters applied, and the test split."""
    task, split = _base(study.base, study.widths)
    net = task.network
    mat = net.material
    if "youngs_modulus_Pa" in params:
        mat = dataclasses.replace(mat, youngs_modulus_Pa=float(params["youngs_modulus_Pa"]))
    if "poisson_ratio" in params:
        mat = dataclasses.replace(mat, poisson_ratio=float(params["poisson_ratio"]))
    net = dataclasses.replace(net, material=mat)
    if "thickness_mm" in params:
        net = dataclasses.replace(net, thickness_m=float(params["thickness_mm"]) * 1e-3)
    if params.get("width_seed") is not None:
        rel = float(params.get("width_perturbation", 0.05))
        rng = np.random.default_rng(int(params["width_seed"]))
        lo, hi = net.width_bounds_m
        net = net.with_widths(np.clip(net.widths_m * (1 + rel * rng.standard_normal(net.n_bonds)), lo, hi))
    if params.get("prune_bond") is not None:
        net = net.without_bonds([int(params["prune_bond"])])
    task = task.with_network(net)
    if "load_scale" in params:
        task = dataclasses.replace(task, input_scale_N=task.input_scale_N * float(params["load_scale"]))
    return task, split


def eval_indices(task: Task, split) -> np.ndarray:
    """Samples a case reports on: the run's test split if there is one, else every sample."""
    if task.kind != "single" and split and split.get("test"):
        return np.asarray(split["test"])
    return np.arange(task.n_samples)


def run_bar(task: Task, split, outputs) -> dict:
    """The bar model of one case: the validation chain's bar step (single-load tasks) or the task's
    samples on one factorisation (data tasks)."""
    from femnn.train import TaskProblem, bar_result

    t0 = time.perf_counter()
    idx = eval_indices(task, split)
    if task.kind == "single":
        r = bar_result(task)
        out = {"loss": r.loss, "u": r.u_m, "elongation": r.elongation_m, "adjoint_elongation": r.adjoint_elongation_m,
               "gradient_k": r.gradient_k}
    else:
        prob = TaskProblem(task)
        ev = prob.evaluate(task.network.stiffness_N_per_m(), idx)
        out = {"loss": ev.loss, "gradient_k": ev.gradient_k, **prob.metrics(ev, idx)}
    out["seconds"] = time.perf_counter() - t0
    return {k: v for k, v in out.items() if k in outputs or k in ("accuracy", "error") and "accuracy" in outputs}


def run_fem(comm, task: Task, split, params: dict, dim: int, outputs) -> dict:
    """One FEM model of a case on the group's communicator, with the validation chain's FEM step
    (:func:`femnn.fem.part_model`; data tasks: :func:`femnn.fem.data_model`)."""
    import femnn.fem as fem
    from femnn.validation import fem_options

    opts = fem_options(degree=int(params.get("degree", 2)), refine=int(params.get("refine", 0)),
                       solver=params.get("solver", "lu"), poisson=params.get("poisson_ratio"),
                       hub_radius_mm=params.get("hub_radius_mm"), neck_length_mm=params.get("neck_length_mm"),
                       formulation=params.get("formulation", "auto"),
                       preconditioner=params.get("preconditioner", "auto"), source="study parameter")
    t0 = time.perf_counter()
    if task.kind != "single":
        out = fem.data_model(comm, task, dim, opts, eval_indices(task, split))
        out["seconds"] = time.perf_counter() - t0
        return out
    res, _ = fem.part_model(comm, task, dim, opts)
    out = {"u": res.u_m, "elongation": res.elongation_m, "adjoint_elongation": res.adjoint_elongation_m,
           "gradient_k": res.gradient_k, "gradient_s": res.gradient_s, "loss": res.loss, "dofs": res.dofs,
           "seconds": time.perf_counter() - t0}
    return {k: (np.asarray(v).tolist() if isinstance(v, np.ndarray) else v) for k, v in out.items() if k in outputs or k == "dofs"}


def run_case(comm, study, params: dict) -> dict:
    """All models of one case -> ``{"outputs": {model: {...}}, "seconds": s}`` (raises on failure)."""
    t0 = time.perf_counter()
    task, split = prepare_task(study, params)
    res = {}
    for m in study.models:
        if m == "bar":
            res[m] = run_bar(task, split, study.outputs)
        else:
            res[m] = run_fem(comm, task, split, params, 2 if m == "fem2d" else 3, study.outputs)
    if "calibration" in study.outputs and "bar" in res:
        for m, r in res.items():
            if m != "bar" and "u" in r and "u" in res["bar"]:
                ub, uf = np.asarray(res["bar"]["u"]), np.asarray(r["u"])
                r["calibration"] = global_calibration(ub, uf) if np.ravel(ub) @ np.ravel(uf) else None
    return {"outputs": res, "seconds": time.perf_counter() - t0}
