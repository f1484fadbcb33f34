"""Measured hub displacements of a printed part, and ``measurement.json``.

``measurement.json`` (SI units, the network's frame with y up; written by ``femnn measure``):

- ``nodes``: design node positions (n_nodes, 2) m; ``bonds``: 0-based node pairs in the network's order
- ``task``: the task name; ``network_source``: the network file
- ``px_per_mm``: the fitted camera scale; ``camera``: the fitted map (e.g. ``homography`` 3x3, design mm ->
  px) and its ``residuals_px`` per hub / ``residual_rms_px``
- ``states`` -> NAME -> ``u_m`` (n_nodes, 2) m (mean over repeated photos), ``u_std_m`` (n_nodes, 2) m
  (standard error of the mean; null with one photo), ``n_photos``, ``elongation_m`` (n_bonds,) m (change of
  hub-centre distance), ``hub_px`` (n_nodes, 2) [col, row] in the state's (first) photo, optional
  ``load_N`` (n_nodes, 2) N: the forces applied in that state (what ``femnn calibrate`` fits against)
- ``gradient_m2`` (n_bonds,): e_adj ∘ e from the states ``forward`` and ``adjoint`` when both exist
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from femnn.errors import InputError


def _ro(a, shape_tail, src, name, dtype=float):
    arr = np.asarray(a, dtype=dtype)
    if arr.ndim != len(shape_tail) + 1 or tuple(arr.shape[1:]) != tuple(shape_tail):
        raise InputError(src, name, f"has shape {arr.shape}; expected (n, {', '.join(map(str, shape_tail))})" if shape_tail
                         else f"has shape {arr.shape}; expected a list")
    if arr.dtype.kind == "f" and not np.all(np.isfinite(arr)):
        raise InputError(src, name, "holds a non-finite value (NaN or inf)")
    arr = arr.copy()
    arr.flags.writeable = False
    return arr


@dataclass(frozen=True)
class StateMeasurement:
    """One load state: hub displacements (n_nodes, 2) m, their standard error, elongations (n_bonds,) m."""

    u_m: np.ndarray
    elongation_m: np.ndarray
    hub_px: np.ndarray | None = None
    u_std_m: np.ndarray | None = None
    n_photos: int = 1
    load_N: np.ndarray | None = None

    def __post_init__(self):
        for name in ("u_m", "elongation_m", "hub_px", "u_std_m", "load_N"):
            a = getattr(self, name)
            if isinstance(a, np.ndarray):
                a.flags.writeable = False


@dataclass(frozen=True)
class Measurement:
    """Everything measured on one part (see the module docstring for the file)."""

    nodes_m: np.ndarray
    bonds: np.ndarray
    states: dict
    task: str = ""
    network_source: str = ""
    px_per_mm: float | None = None
    camera: dict = field(default_factory=dict)
    source: str = "<memory>"

    @property
    def gradient_m2(self) -> np.ndarray | None:
        """e_adj ∘ e from the ``forward`` and ``adjoint`` states (None unless both were measured)."""
        if "forward" in self.states and "adjoint" in self.states:
            return self.states["adjoint"].elongation_m * self.states["forward"].elongation_m
        return None

    def to_dict(self) -> dict:
        def lst(a):
            return None if a is None else np.asarray(a).tolist()

        d = {"task": self.task, "network_source": self.network_source, "nodes": lst(self.nodes_m),
             "bonds": lst(self.bonds), "px_per_mm": self.px_per_mm, "camera": self.camera,
             "units": {"nodes": "m", "u_m": "m", "elongation_m": "m", "gradient_m2": "m^2", "hub_px": "px [col, row]",
                       "load_N": "N"},
             "states": {name: {"u_m": lst(s.u_m), "u_std_m": lst(s.u_std_m), "n_photos": int(s.n_photos),
                               "elongation_m": lst(s.elongation_m), "hub_px": lst(s.hub_px), "load_N": lst(s.load_N)}
                        for name, s in self.states.items()}}
        g = self.gradient_m2
        d["gradient_m2"] = lst(g)
        return d

    def check_network(self, network, src: str | None = None):
        """Refuse a measurement of another network (node positions or bond list differ)."""
        src = src or self.source
        if self.nodes_m.shape != network.nodes_m.shape or not np.allclose(self.nodes_m, network.nodes_m, atol=1e-9, rtol=1e-6):
            raise InputError(src, "nodes", f"the measured part has {len(self.nodes_m)} nodes at other places than the "
                             f"network {network.name!r} ({network.n_nodes} nodes); measure with the same network or task")
        if self.bonds.shape != network.bonds.shape or not np.array_equal(np.sort(self.bonds, axis=1), np.sort(network.bonds, axis=1)):
            raise InputError(src, "bonds", f"the bond list differs from the network {network.name!r}'s; give the task "
                             "the part was measured with")


def write_measurement(path, m: Measurement) -> Path:
    """Write ``measurement.json`` atomically."""
    from femnn.report.files import atomic_write_json

    return atomic_write_json(Path(path), m.to_dict())


def read_measurement(path) -> Measurement:
    """Read a ``femnn measure`` result: a directory holding ``measurement.json`` or the file itself."""
    from femnn.report.files import read_result_json

    d, src = read_result_json(path, "measurement.json", "femnn measure")
    for key in ("nodes", "bonds", "states"):
        if key not in d:
            raise InputError(src, key, "missing; this is not a `femnn measure` result")
    nodes = _ro(d["nodes"], (2,), src, "nodes")
    bonds = _ro(d["bonds"], (2,), src, "bonds", dtype=np.int64)
    if not isinstance(d["states"], dict) or not d["states"]:
        raise InputError(src, "states", "must map state names to their measurements (none found)")
    states = {}
    for name, s in d["states"].items():
        f = f"states.{name}"
        if not isinstance(s, dict) or "u_m" not in s or "elongation_m" not in s:
            raise InputError(src, f, "needs u_m and elongation_m")
        u = _ro(s["u_m"], (2,), src, f + ".u_m")
        if u.shape[0] != nodes.shape[0]:
            raise InputError(src, f + ".u_m", f"{u.shape[0]} nodes; the measurement has {nodes.shape[0]}")
        e = np.asarray(s["elongation_m"], dtype=float)
        if e.shape != (bonds.shape[0],) or not np.all(np.isfinite(e)):
            raise InputError(src, f + ".elongation_m", f"expected {bonds.shape[0]} finite values")
        opt = {k: _ro(s[k], (2,), src, f"{f}.{k}") for k in ("hub_px", "u_std_m", "load_N") if s.get(k) is not None}
        states[name] = StateMeasurement(u, e, n_photos=int(s.get("n_photos", 1)), **opt)
    return Measurement(nodes, bonds, states, task=str(d.get("task", "")), network_source=str(d.get("network_source", "")),
                       px_per_mm=d.get("px_per_mm"), camera=d.get("camera") or {}, source=src)
