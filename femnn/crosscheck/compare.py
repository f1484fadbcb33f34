"""Model results reduced to bar quantities, and their comparison (numpy/scipy only).

Every model (bar, calibrated bar, FEM 2D/3D, an imported COMSOL/VTU file) is reduced to the same
bar quantities: hub displacements u (n_nodes, 2), bond elongations e = (u_j - u_i)·n (the change of
distance between hub centres, to first order: what the paper's camera measured), adjoint
elongations e_adj and the in situ gradient g = e_adj ∘ e. The comparison reports, against a
reference model (FEM 3D if present, else FEM 2D): relative displacement errors at the output
nodes and over all free nodes, elongation errors, gradient sign agreement on the bonds whose
|g| exceeds 5 % of the largest, and the Spearman rank correlation of the gradients.

Calibration: a global factor c on every k makes the bar model's displacements u_bar / c; the c
that fits the reference displacements in least squares is c = (u_b·u_b) / (u_b·u_ref).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.stats import spearmanr

from femnn.network import Task


@dataclass
class ModelResult:
    """Reduced quantities of one model. Shapes: u (n_nodes, 2) m; elongation, adjoint_elongation,
    gradient_k (n_bonds,); ``extra`` holds model-specific values (dofs, degree, seconds_forward, ...)."""

    name: str
    u: np.ndarray
    elongation: np.ndarray
    adjoint_elongation: np.ndarray | None = None
    gradient_k: np.ndarray | None = None
    loss: float | None = None
    extra: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        d = {"u": self.u, "elongation": self.elongation, "adjoint_elongation": self.adjoint_elongation,
             "gradient_k": self.gradient_k, "loss": self.loss}
        d.update(self.extra)
        return d


def elongations(task: Task, u: np.ndarray) -> np.ndarray:
    """e_b = (u_j - u_i)·n_b for hub displacements u (n_nodes, 2)."""
    net = task.network
    return np.einsum("bc,bc->b", u[net.bonds[:, 1]] - u[net.bonds[:, 0]], net.unit_vectors)


def adjoint_load(task: Task, u: np.ndarray) -> np.ndarray:
    """-(∂L/∂u) at the output DOFs for hub displacements u (single-load tasks), as (n_nodes, 2) forces."""
    from femnn.train.losses import loss_and_grad

    u_out = u.reshape(1, -1)[:, task.output_dofs]
    loss, g = loss_and_grad(task, u_out, task.Y[:1])
    F = np.zeros(2 * task.network.n_nodes)
    F[task.output_dofs] = -g[0]
    return F.reshape(-1, 2), float(loss[0])


def bar_result(task: Task, k=None, name: str = "bar") -> ModelResult:
    """Forward and adjoint bar solves (one factorisation) for a single-load task."""
    import time

    from femnn.bars import BarModel

    bm = BarModel(task.network)
    k = task.network.stiffness_N_per_m() if k is None else np.asarray(k, float)
    t0 = time.perf_counter()
    fac = bm.factorize(k)
    u = fac.solve(task.loads_N()[0])
    t1 = time.perf_counter()
    F_adj, loss = adjoint_load(task, u)
    u_adj = fac.solve(F_adj)
    t2 = time.perf_counter()
    e = bm.elongations(u)
    e_adj = bm.elongations(u_adj)
    return ModelResult(name, u, e, e_adj, e_adj * e, loss,
                       {"k_N_per_m": k, "u_adjoint": u_adj, "seconds_forward": t1 - t0, "seconds_adjoint": t2 - t1})


def global_calibration(u_bar: np.ndarray, u_ref: np.ndarray) -> float:
    """c minimising |u_bar / c - u_ref|²: c = (u_b·u_b) / (u_b·u_ref) (k -> c k scales u by 1/c)."""
    ub, ur = np.ravel(u_bar), np.ravel(u_ref)
    return float(ub @ ub / (ub @ ur))


def calibrated_bar(task: Task, reference: ModelResult) -> ModelResult:
    """The bar model with every k multiplied by the global factor fitted to ``reference``."""
    bar = bar_result(task)
    c = global_calibration(bar.u, reference.u)
    res = bar_result(task, bar.extra["k_N_per_m"] * c, name="bar_calibrated")
    res.extra["calibration_factor"] = c
    return res


def _rel(a, b):
    nb = np.linalg.norm(b)
    return float(np.linalg.norm(np.asarray(a) - np.asarray(b)) / nb) if nb > 0 else None


def compare(task: Task, models: dict, reference: str, *, tol_u: float = 0.25, tol_u_calibrated: float = 0.05,
            sign_threshold: float = 0.05, tol_spearman: float = 0.95) -> dict:
    """Tables and pass/fail of every model against ``reference`` (see module docstring)."""
    ref = models[reference]
    out_nodes = np.unique(task.output_nodes)
    free = np.setdiff1d(np.arange(task.network.n_nodes), task.network.fixed)
    rows = {}
    checks = []
    for name, m in models.items():
        if name == reference:
            continue
        r = {
            "u_outputs_rel_error": _rel(m.u[out_nodes], ref.u[out_nodes]),
            "u_free_nodes_rel_error": _rel(m.u[free], ref.u[free]),
            "u_output_dofs_rel_error": [abs(float(m.u.ravel()[d] - ref.u.ravel()[d]) / abs(ref.u.ravel()[d]))
                                        if ref.u.ravel()[d] else None for d in task.output_dofs],
            "elongation_rel_error": _rel(m.elongation, ref.elongation),
        }
        if m.gradient_k is not None and ref.gradient_k is not None:
            g, gr = np.asarray(m.gradient_k), np.asarray(ref.gradient_k)
            big = np.abs(gr) > sign_threshold * np.abs(gr).max()
            agree = np.sign(g[big]) == np.sign(gr[big])
            r.update({
                "gradient_rel_error": _rel(g, gr),
                "gradient_spearman": float(spearmanr(g, gr).statistic),
                "gradient_sign_agreement": float(agree.mean()) if big.any() else None,
                "gradient_sign_disagreeing_bonds": np.flatnonzero(big)[~agree].tolist(),
                "gradient_bonds_compared": int(big.sum()),
            })
        rows[name] = r
        if name in ("bar", "bar_calibrated"):
            tol = tol_u if name == "bar" else tol_u_calibrated
            checks.append({"check": f"{name}: output displacements within {tol:.0%} of {reference}",
                           "value": r["u_outputs_rel_error"], "tolerance": tol,
                           "pass": r["u_outputs_rel_error"] is not None and r["u_outputs_rel_error"] <= tol})
            if "gradient_spearman" in r:
                checks.append({"check": f"{name}: gradient signs agree on every bond with |g| > {sign_threshold:.0%} of max",
                               "value": r["gradient_sign_agreement"], "tolerance": 1.0,
                               "pass": r["gradient_sign_agreement"] == 1.0})
                checks.append({"check": f"{name}: Spearman rank correlation of gradients >= {tol_spearman}",
                               "value": r["gradient_spearman"], "tolerance": tol_spearman,
                               "pass": r["gradient_spearman"] >= tol_spearman})
    return {"reference": reference, "models": rows, "checks": checks, "pass": all(c["pass"] for c in checks)}
