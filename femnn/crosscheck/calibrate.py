"""Effective bond stiffness: the bar model calibrated to another model's hub displacements.

Global: one factor c on every k (see :func:`femnn.crosscheck.compare.global_calibration`).
Per bond: given the reference model's hub displacements U_ref for a set of load cases F_c (for
instance a unit force on every free DOF in turn: the reference's hub compliance matrix), find the
k that minimise

    J(k) = ½ Σ_c |u_bar(k; F_c) - u_ref,c|² / Σ_c |u_ref,c|²

over the free DOFs, with k = c k₀ exp(z) and L-BFGS-B on z ∈ [-log 10, log 10]. The gradient is
the bar model's own adjoint: D u_adj,c = -(u_bar,c - u_ref,c) / Σ|u_ref|², ∂J/∂k = Σ_c e_adj,c ∘ e_c,
every case on one factorisation per iterate.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize

from femnn.bars import BarModel
from femnn.bars.result import freeze_arrays
from femnn.crosscheck.compare import global_calibration
from femnn.network import Network


@dataclass(frozen=True)
class StiffnessFit:
    """The bar model's stiffness fitted to reference hub displacements under ``load_cases`` loads.

    ``global_factor`` c: one factor on every k = E w t / l, c = (u_b·u_b)/(u_b·u_ref) over all cases;
    ``k_N_per_m`` / ``factor_per_bond``: one k per bond (None when only the global factor was
    fitted); misfits J = ½ Σ|u_bar - u_ref|² / Σ|u_ref|² (relative RMS = sqrt(2 J)) of the plain,
    globally and per-bond calibrated bar models; ``calibrated_to``: the reference model's name."""

    global_factor: float
    misfit_uncalibrated: float
    misfit_global: float
    load_cases: int
    calibrated_to: str = ""
    k_N_per_m: np.ndarray | None = None
    factor_per_bond: np.ndarray | None = None
    misfit_per_bond: float | None = None
    iterations: int = 0
    converged: bool = True
    seconds_reference_solves: float = 0.0

    def __post_init__(self):
        freeze_arrays(self)

    def rms(self, which: str) -> float | None:
        """Relative RMS misfit sqrt(2 J) of ``uncalibrated``, ``global`` or ``per_bond``."""
        J = getattr(self, f"misfit_{which}")
        return None if J is None else float(np.sqrt(2 * J))

    def to_dict(self) -> dict:
        return {"global_factor": self.global_factor, "factor_per_bond": self.factor_per_bond,
                "k_N_per_m": self.k_N_per_m, "misfit_uncalibrated": self.misfit_uncalibrated,
                "misfit_global": self.misfit_global, "misfit_per_bond": self.misfit_per_bond,
                "load_cases": self.load_cases, "calibrated_to": self.calibrated_to, "iterations": self.iterations,
                "converged": self.converged, "seconds_reference_solves": self.seconds_reference_solves}


def unit_load_cases(network: Network, force_N: float = 0.01) -> np.ndarray:
    """(2 n_free_nodes, n_nodes, 2): a force of ``force_N`` on each free DOF in turn."""
    free_nodes = np.setdiff1d(np.arange(network.n_nodes), network.fixed)
    F = np.zeros((2 * free_nodes.size, network.n_nodes, 2))
    for c, (n, comp) in enumerate((n, comp) for n in free_nodes for comp in (0, 1)):
        F[c, n, comp] = force_N
    return F


def fit_bond_stiffness(network: Network, F: np.ndarray, U_ref: np.ndarray, k0=None, max_factor: float = 10.0, *,
                       per_bond: bool = True, calibrated_to: str = "", seconds_reference_solves: float = 0.0) -> StiffnessFit:
    """Global (and, if ``per_bond``, per-bond) k reproducing ``U_ref`` (n_cases, n_nodes, 2) under
    loads ``F`` (same shape) in least squares; see the module docstring."""
    bm = BarModel(network)
    k0 = network.stiffness_N_per_m() if k0 is None else np.asarray(k0, float)
    free = bm.free
    Fr = F.reshape(F.shape[0], -1)[:, free].T
    Ur = U_ref.reshape(U_ref.shape[0], -1)[:, free].T
    scale = float(np.sum(Ur * Ur))
    ub0 = bm.factorize(k0).solve_free(Fr)
    c = global_calibration(ub0, Ur)  # the global factor, also the per-bond fit's starting point
    J0 = 0.5 * float(np.sum((ub0 - Ur) ** 2)) / scale
    Jc = 0.5 * float(np.sum((ub0 / c - Ur) ** 2)) / scale
    common = dict(global_factor=c, misfit_uncalibrated=J0, misfit_global=Jc, load_cases=int(F.shape[0]),
                  calibrated_to=calibrated_to, seconds_reference_solves=seconds_reference_solves)
    if not per_bond:
        return StiffnessFit(**common)

    def J(z):
        k = c * k0 * np.exp(z)
        fac = bm.factorize(k)
        U = fac.solve_free(Fr)
        R = U - Ur
        g_k = fac.gradient_free(U, R / scale)
        return 0.5 * float(np.sum(R * R)) / scale, g_k * k

    lim = np.log(max_factor)
    res = minimize(J, np.zeros(network.n_bonds), jac=True, method="L-BFGS-B", bounds=[(-lim, lim)] * network.n_bonds,
                   options=dict(maxiter=2000, ftol=1e-14, gtol=1e-12))
    k = c * k0 * np.exp(res.x)
    return StiffnessFit(**common, k_N_per_m=k, factor_per_bond=k / k0, misfit_per_bond=float(res.fun),
                        iterations=int(res.nit), converged=bool(res.success))
