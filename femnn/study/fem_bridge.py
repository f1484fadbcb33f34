"""FEM models inside a study case (imports DOLFINx only when a study asks for fem2d/fem3d)."""

from __future__ import annotations

import time

import numpy as np


def run_fem_case(comm, task, split, params: dict, dim: int, outputs) -> dict:
    """One FEM model of a case on the group's communicator -> output dict (same keys as the bar model)."""
    from femnn.pipeline import FemOptions, fem_model

    opts = FemOptions(degree=int(params.get("degree", 2)), refine=int(params.get("refine", 0)),
                      solver=params.get("solver", "lu"), poisson_ratio=params.get("poisson_ratio"),
                      hub_radius_mm=params.get("hub_radius_mm"), neck_length_mm=params.get("neck_length_mm"))
    t0 = time.perf_counter()
    if task.kind != "single":
        from femnn.pipeline import fem_data_model
        from femnn.study.cases import eval_indices

        out = fem_data_model(comm, task, dim, opts, eval_indices(task, split))
        out["seconds"] = time.perf_counter() - t0
        return out
    res = fem_model(comm, task, dim, opts)
    out = {"u": res.u, "elongation": res.elongation, "adjoint_elongation": res.adjoint_elongation,
           "gradient_k": res.gradient_k, "gradient_s": res.extra.get("gradient_s"), "loss": res.loss,
           "dofs": res.extra.get("dofs"), "seconds": time.perf_counter() - t0}
    return {k: (np.asarray(v).tolist() if isinstance(v, np.ndarray) else v) for k, v in out.items() if k in outputs or k == "dofs"}
