"""Bounded width parameterisation and Adam (the authors' variant, as in REFERENCE_SETUPS.md).

Width map (per bond): w(θ) = w_L + (w_U - w_L) σ(β θ), σ(z) = 1 / (1 + e^{-z}); θ = 0 is mid-range.
Since k = (E t / L) w is linear in w this is the authors' k(θ) = k_L + (k_U - k_L) σ(β θ).

Two updates:

* ``exact`` (default): Adam on ∂L/∂θ = ∂L/∂k · (E t / L)(w_U - w_L) β σ(1 - σ), the chain rule.
* ``authors``: Adam fed ∂L/∂k directly, as in Li & Mao's code (replays their runs).
"""

from __future__ import annotations

import numpy as np
from scipy.special import expit

EPS_AUTHORS = float(np.sqrt(np.finfo(float).eps))


class WidthMap:
    def __init__(self, network, beta: float):
        self.lo, self.hi = (float(v) for v in network.width_bounds_m)
        self.beta = float(beta)
        self.dk_dw = network.stiffness_per_width()

    def widths(self, theta):
        return self.lo + (self.hi - self.lo) * expit(self.beta * theta)

    def k(self, theta):
        return self.dk_dw * self.widths(theta)

    def theta(self, widths_m):
        """Inverse map; widths at (or beyond) a bound map to a large finite θ."""
        if self.hi == self.lo:
            return np.zeros_like(np.asarray(widths_m, dtype=float))
        r = np.clip((np.asarray(widths_m, dtype=float) - self.lo) / (self.hi - self.lo), 1e-12, 1 - 1e-12)
        return np.log(r / (1 - r)) / self.beta

    def dk_dtheta(self, theta):
        s = expit(self.beta * theta)
        return self.dk_dw * (self.hi - self.lo) * self.beta * s * (1 - s)


class Adam:
    """m = b1 m + (1-b1) g; v = b2 v + (1-b2) g²; θ -= lr m̂ / (√v̂ + eps), t counted from 1."""

    def __init__(self, n, lr, b1=0.9, b2=0.999, eps=EPS_AUTHORS):
        self.lr, self.b1, self.b2, self.eps = float(lr), b1, b2, eps
        self.m = np.zeros(n)
        self.v = np.zeros(n)
        self.t = 0

    def step(self, theta, g):
        self.t += 1
        self.m = self.b1 * self.m + (1 - self.b1) * g
        self.v = self.b2 * self.v + (1 - self.b2) * g * g
        mhat = self.m / (1 - self.b1 ** self.t)
        vhat = self.v / (1 - self.b2 ** self.t)
        return theta - self.lr * mhat / (np.sqrt(vhat) + self.eps)

    def state(self) -> dict:
        return {"adam_m": self.m, "adam_v": self.v, "adam_t": np.array(self.t)}

    def load(self, st):
        self.m, self.v, self.t = np.array(st["adam_m"]), np.array(st["adam_v"]), int(st["adam_t"])
