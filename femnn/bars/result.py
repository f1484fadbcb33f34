"""The bar model's result for one load case: forward and adjoint on one factorisation (frozen)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def freeze_arrays(obj) -> None:
    """Make every numpy array field of a frozen dataclass read-only (``frozen`` does not freeze contents)."""
    for name in getattr(obj, "__dataclass_fields__", {}):
        a = getattr(obj, name)
        if isinstance(a, np.ndarray):
            a.flags.writeable = False


@dataclass(frozen=True)
class BarResult:
    """One single-load task through the bar model.

    ``u_m`` (n_nodes, 2) forward displacements, ``elongation_m`` e = C u (n_bonds,),
    ``adjoint_u_m`` / ``adjoint_elongation_m`` the adjoint state D u_adj = -(∂L/∂u)ᵀ,
    ``gradient_k`` = e_adj ∘ e = ∂L/∂k (loss per N/m), ``loss`` L(u), ``k_N_per_m`` the spring
    constants used; ``calibration_factor`` the global factor c applied to k = E w t / l (None for
    the plain model), ``calibrated_to`` what c (or the per-bond k) was fitted to."""

    name: str
    u_m: np.ndarray
    elongation_m: np.ndarray
    adjoint_u_m: np.ndarray
    adjoint_elongation_m: np.ndarray
    gradient_k: np.ndarray
    loss: float
    k_N_per_m: np.ndarray
    seconds_forward: float = 0.0
    seconds_adjoint: float = 0.0
    calibration_factor: float | None = None
    calibrated_to: str | None = None

    def __post_init__(self):
        freeze_arrays(self)

    def to_dict(self) -> dict:
        """The ``results.json`` record (keys as femnn has always written them)."""
        return {"u": self.u_m, "elongation": self.elongation_m, "adjoint_elongation": self.adjoint_elongation_m,
                "gradient_k": self.gradient_k, "loss": self.loss, "k_N_per_m": self.k_N_per_m,
                "seconds_forward": self.seconds_forward, "seconds_adjoint": self.seconds_adjoint,
                **({"calibration_factor": self.calibration_factor} if self.calibration_factor is not None else {}),
                **({"calibrated_to": self.calibrated_to} if self.calibrated_to is not None else {})}
