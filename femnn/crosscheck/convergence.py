"""Observed order and Richardson extrapolation of a FEM quantity over mesh refinements (numpy only)."""

from __future__ import annotations

import numpy as np


def richardson(values, ratio: float = 2.0) -> dict:
    """Observed order p = log_r((q₁-q₀)/(q₂-q₁)) from the last three refinements (h divided by
    ``ratio`` each time) and the Richardson value q∞ = q₂ + (q₂-q₁)/(r^p - 1) with error bar |q∞ - q₂|.
    When the differences do not shrink monotonically (no asymptotic range), ``order`` is None and the
    error bar is the last change |q₂ - q₁|."""
    q0, q1, q2 = (float(v) for v in values[-3:])
    d1, d2 = q1 - q0, q2 - q1
    if d2 == 0 or d1 == 0 or d1 / d2 <= 0:
        return {"order": None, "extrapolated": q2, "error_bar": abs(d2)}
    p = float(np.log(d1 / d2) / np.log(ratio))
    q_inf = q2 + d2 / (ratio ** p - 1)
    return {"order": p, "extrapolated": q_inf, "error_bar": abs(q_inf - q2)}
