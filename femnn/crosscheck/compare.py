"""Every model reduced to bar quantities, compared with a reference (numpy/scipy only).

Every model (bar, calibrated bar, FEM 2D/3D, an imported COMSOL/VTU file) is reduced to the same
bar quantities: hub displacements u (n_nodes, 2), bond elongations e = (u_j - u_i)·n (the change of
distance between hub centres, to first order: what the paper's camera measured), adjoint
elongations e_adj and the in situ gradient g = e_adj ∘ e. Each stage's own result type
(:class:`femnn.bars.BarResult`, :class:`femnn.fem.result.FemResult`, :class:`ImportedResult`)
carries these as ``u_m``, ``elongation_m``, ``adjoint_elongation_m``, ``gradient_k``, ``loss``.

:func:`compare` reports, against a reference model (FEM 3D if present, else FEM 2D): relative
displacement errors at the output nodes and over all free nodes, elongation errors, gradient sign
agreement on the bonds whose |g| exceeds 5 % of the largest, and the Spearman rank correlation of
the gradients, and turns them into checks with tolerances.

Calibration: a global factor c on every k makes the bar model's displacements u_bar / c; the c
that fits reference displacements in least squares is c = (u_b·u_b) / (u_b·u_ref)
(:func:`global_calibration`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.stats import spearmanr

from femnn.bars.result import freeze_arrays
from femnn.network import Task


@dataclass(frozen=True)
class ImportedResult:
    """Hub displacements (n_nodes, 2) m and elongations (n_bonds,) m read from another solver's file."""

    name: str
    u_m: np.ndarray
    elongation_m: np.ndarray
    source: str = ""
    points: int = 0
    adjoint_elongation_m: None = None
    gradient_k: None = None
    loss: None = None

    def __post_init__(self):
        freeze_arrays(self)

    def to_dict(self) -> dict:
        return {"u": self.u_m, "elongation": self.elongation_m, "adjoint_elongation": None, "gradient_k": None,
                "loss": None, "points": self.points, "source": self.source}


@dataclass(frozen=True)
class Tolerances:
    """Pass/fail limits of a cross-check (dimensionless). ``u``: bar vs reference output displacement
    (relative) before calibration; ``u_calibrated``: after the global calibration; ``spearman``: the
    least rank correlation of the gradients; ``sign_threshold``: bonds with |g| above this share of the
    largest must agree in sign; ``accuracy_drop``: the largest loss of classification accuracy of a FEM
    model against the bar model; ``error_increase``: the largest relative increase of a task error."""

    u: float = 0.25
    u_calibrated: float = 0.05
    spearman: float = 0.95
    sign_threshold: float = 0.05
    accuracy_drop: float = 0.02
    error_increase: float = 0.10


@dataclass(frozen=True)
class Check:
    """One pass/fail line of a report."""

    check: str
    value: float | None
    tolerance: float | None
    passed: bool

    def to_dict(self) -> dict:
        return {"check": self.check, "value": self.value, "tolerance": self.tolerance, "pass": bool(self.passed)}


@dataclass(frozen=True)
class CrossCheck:
    """Agreement of every model with ``reference`` (``rows[name]``: relative errors, Spearman, signs)
    and the checks derived from them."""

    reference: str
    rows: dict
    checks: tuple = field(default_factory=tuple)

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.checks)

    def to_dict(self) -> dict:
        return {"reference": self.reference, "models": self.rows, "checks": [c.to_dict() for c in self.checks],
                "pass": self.passed}


def elongations(task: Task, u: np.ndarray) -> np.ndarray:
    """e_b = (u_j - u_i)·n_b for hub displacements u (n_nodes, 2)."""
    net = task.network
    return np.einsum("bc,bc->b", u[net.bonds[:, 1]] - u[net.bonds[:, 0]], net.unit_vectors)


def global_calibration(u_bar: np.ndarray, u_ref: np.ndarray) -> float:
    """c minimising |u_bar / c - u_ref|²: c = (u_b·u_b) / (u_b·u_ref) (k -> c k scales u by 1/c).
    ``u_bar``, ``u_ref``: any matching shapes (one load case, or many stacked)."""
    ub, ur = np.ravel(u_bar), np.ravel(u_ref)
    return float(ub @ ub / (ub @ ur))


def _rel(a, b):
    nb = np.linalg.norm(b)
    return float(np.linalg.norm(np.asarray(a) - np.asarray(b)) / nb) if nb > 0 else None


def agreement(task: Task, m, ref, sign_threshold: float = 0.05, gradient_bonds=None) -> dict:
    """Relative errors of model ``m`` against ``ref`` (displacements, elongations, gradients).
    ``gradient_bonds``: the bonds whose gradients are compared (default all; a trained run passes the
    bonds not at a width bound, where the gradient still says something about the in situ rule)."""
    out_nodes = np.unique(task.output_nodes)
    free = np.setdiff1d(np.arange(task.network.n_nodes), task.network.fixed)
    ur, um = np.ravel(ref.u_m), np.ravel(m.u_m)
    r = {
        "u_outputs_rel_error": _rel(m.u_m[out_nodes], ref.u_m[out_nodes]),
        "u_free_nodes_rel_error": _rel(m.u_m[free], ref.u_m[free]),
        "u_output_dofs_rel_error": [abs(float(um[d] - ur[d])) / abs(ur[d]) if ur[d] else None for d in task.output_dofs],
        "elongation_rel_error": _rel(m.elongation_m, ref.elongation_m),
    }
    if m.gradient_k is not None and ref.gradient_k is not None:
        r.update(_gradient_agreement(np.asarray(m.gradient_k), np.asarray(ref.gradient_k), np.arange(task.network.n_bonds),
                                     sign_threshold))
        if gradient_bonds is not None:
            sel = np.asarray(gradient_bonds, dtype=np.int64)
            free = _gradient_agreement(np.asarray(m.gradient_k), np.asarray(ref.gradient_k), sel, sign_threshold)
            r.update({f"{k}_free_bonds": v for k, v in free.items()})
    return r


def _gradient_agreement(g_all, gr_all, sel, sign_threshold) -> dict:
    """Relative error, Spearman and sign agreement of gradients on the bonds ``sel`` (None values when
    fewer than 3 bonds are given: no ranking to speak of)."""
    if sel.size < 3:
        return {"gradient_rel_error": None, "gradient_spearman": None, "gradient_sign_agreement": None,
                "gradient_sign_disagreeing_bonds": [], "gradient_bonds_compared": 0, "gradient_bonds_ranked": int(sel.size)}
    g, gr = g_all[sel], gr_all[sel]
    big = np.abs(gr) > sign_threshold * np.abs(gr).max()
    agree = np.sign(g[big]) == np.sign(gr[big])
    return {"gradient_rel_error": _rel(g, gr), "gradient_spearman": float(spearmanr(g, gr).statistic),
            "gradient_sign_agreement": float(agree.mean()) if big.any() else None,
            "gradient_sign_disagreeing_bonds": sel[np.flatnonzero(big)[~agree]].tolist(),
            "gradient_bonds_compared": int(big.sum()), "gradient_bonds_ranked": int(sel.size)}


def compare(task: Task, models: dict, reference: str, tol: Tolerances = Tolerances(), gradient_bonds=None) -> CrossCheck:
    """Agreement rows of every model against ``reference`` and the checks of ``bar`` and
    ``bar_calibrated`` (see the module docstring); gradients compared on ``gradient_bonds`` (all)."""
    ref = models[reference]
    rows, checks = {}, []
    for name, m in models.items():
        if name == reference:
            continue
        r = rows[name] = agreement(task, m, ref, tol.sign_threshold, gradient_bonds)
        if name in ("bar", "bar_calibrated"):
            t = tol.u if name == "bar" else tol.u_calibrated
            checks.append(Check(f"{name}: output displacements within {t:.0%} of {reference}", r["u_outputs_rel_error"], t,
                                r["u_outputs_rel_error"] is not None and r["u_outputs_rel_error"] <= t))
            sfx = "" if gradient_bonds is None else "_free_bonds"
            if r.get("gradient_spearman" + sfx) is not None:
                which = "" if gradient_bonds is None else f" (the {r['gradient_bonds_ranked' + sfx]} bonds not at a width bound)"
                checks.append(Check(f"{name}: gradient signs agree on every bond with abs(g) > {tol.sign_threshold:.0%} of max{which}",
                                    r["gradient_sign_agreement" + sfx], 1.0, r["gradient_sign_agreement" + sfx] in (1.0, None)))
                checks.append(Check(f"{name}: Spearman rank correlation of gradients >= {tol.spearman}{which}",
                                    r["gradient_spearman" + sfx], tol.spearman, r["gradient_spearman" + sfx] >= tol.spearman))
    return CrossCheck(reference, rows, tuple(checks))
