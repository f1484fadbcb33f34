"""The network and task objects handed between femnn's stages (frozen, read-only arrays)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np


def _freeze(obj, *names):
    for name in names:
        arr = getattr(obj, name)
        if isinstance(arr, np.ndarray):
            arr.flags.writeable = False


@dataclass(frozen=True)
class Material:
    """Isotropic linear-elastic material (SI).

    The default is the paper's Agilus30: E = 0.55 MPa (Li & Mao's value), ν = 0.49, ρ = 1145 kg/m³.
    """

    name: str = "Agilus30"
    youngs_modulus_Pa: float = 5.5e5
    poisson_ratio: float = 0.49
    density_kg_per_m3: float = 1145.0


@dataclass(frozen=True)
class Network:
    """A planar network of bars (SI units throughout).

    Parameters
    ----------
    nodes_m : (n_nodes, 2) float64
        Node positions.
    bonds : (n_bonds, 2) int64
        Node pairs (0-based); the order is the network's bond order everywhere in femnn.
    fixed : (n_fixed,) int64
        Clamped nodes (both in-plane DOFs fixed).
    widths_m : (n_bonds,) float64
        In-plane bond widths.
    width_bounds_m : (2,) float64
        Lower and upper printable width; training keeps widths inside.
    thickness_m : float
        Out-of-plane thickness t.
    material : Material
    name : str
    source : str
        File the network came from (for error messages), or ``"<generated>"``.
    """

    nodes_m: np.ndarray
    bonds: np.ndarray
    fixed: np.ndarray
    widths_m: np.ndarray
    width_bounds_m: np.ndarray
    thickness_m: float
    material: Material = field(default_factory=Material)
    name: str = "network"
    source: str = "<generated>"

    def __post_init__(self):
        object.__setattr__(self, "nodes_m", np.ascontiguousarray(self.nodes_m, dtype=np.float64).reshape(-1, 2))
        object.__setattr__(self, "bonds", np.ascontiguousarray(self.bonds, dtype=np.int64).reshape(-1, 2))
        object.__setattr__(self, "fixed", np.ascontiguousarray(self.fixed, dtype=np.int64).reshape(-1))
        object.__setattr__(self, "widths_m", np.ascontiguousarray(self.widths_m, dtype=np.float64).reshape(-1))
        object.__setattr__(self, "width_bounds_m", np.asarray(self.width_bounds_m, dtype=np.float64).reshape(2))
        _freeze(self, "nodes_m", "bonds", "fixed", "widths_m", "width_bounds_m")

    # -- derived quantities -------------------------------------------------------------
    @property
    def n_nodes(self) -> int:
        return self.nodes_m.shape[0]

    @property
    def n_bonds(self) -> int:
        return self.bonds.shape[0]

    @property
    def lengths_m(self) -> np.ndarray:
        """(n_bonds,) rest lengths L = |x_j - x_i|."""
        d = self.nodes_m[self.bonds[:, 1]] - self.nodes_m[self.bonds[:, 0]]
        return np.hypot(d[:, 0], d[:, 1])

    @property
    def unit_vectors(self) -> np.ndarray:
        """(n_bonds, 2) unit vectors n = (x_j - x_i) / L from the first to the second node."""
        d = self.nodes_m[self.bonds[:, 1]] - self.nodes_m[self.bonds[:, 0]]
        return d / np.hypot(d[:, 0], d[:, 1])[:, None]

    def stiffness_per_width(self) -> np.ndarray:
        """(n_bonds,) dk/dw = E t / L in N/m per m of width (k = E w t / L is linear in w)."""
        return self.material.youngs_modulus_Pa * self.thickness_m / self.lengths_m

    def stiffness_N_per_m(self, widths_m=None) -> np.ndarray:
        """(n_bonds,) bar spring constants k = E w t / L."""
        w = self.widths_m if widths_m is None else np.asarray(widths_m, dtype=float)
        return self.stiffness_per_width() * w

    def widths_from_stiffness(self, k_N_per_m) -> np.ndarray:
        """Inverse of :meth:`stiffness_N_per_m`: w = k L / (E t)."""
        return np.asarray(k_N_per_m, dtype=float) / self.stiffness_per_width()

    def stiffness_bounds_N_per_m(self) -> tuple[np.ndarray, np.ndarray]:
        """Per-bond (k_lower, k_upper) from the width bounds."""
        s = self.stiffness_per_width()
        return s * self.width_bounds_m[0], s * self.width_bounds_m[1]

    # -- copies -------------------------------------------------------------------------
    def with_widths(self, widths_m) -> "Network":
        w = np.asarray(widths_m, dtype=float).reshape(-1)
        if w.shape != (self.n_bonds,):
            raise ValueError(f"expected {self.n_bonds} widths, got {w.shape[0]}")
        return dataclasses.replace(self, widths_m=w)

    def without_bonds(self, bond_indices) -> "Network":
        """Copy with the given bonds removed (e.g. a damaged network); bond order otherwise kept."""
        keep = np.ones(self.n_bonds, dtype=bool)
        keep[np.asarray(bond_indices, dtype=int)] = False
        return dataclasses.replace(self, bonds=self.bonds[keep], widths_m=self.widths_m[keep])

    def bond_index(self, i: int, j: int) -> int:
        """Index of the bond joining nodes i and j (either order)."""
        a, b = min(i, j), max(i, j)
        lo = self.bonds.min(axis=1)
        hi = self.bonds.max(axis=1)
        hits = np.flatnonzero((lo == a) & (hi == b))
        if hits.size == 0:
            raise KeyError(f"no bond between nodes {i} and {j}")
        return int(hits[0])


@dataclass(frozen=True)
class Task:
    """A learning task on a network: how samples become loads, which DOFs are outputs, the loss, the data.

    Loads are linear in a sample's input vector x (n_inputs,): ``F = B x`` with ``B`` given by
    ``input_dofs`` / ``input_scale_N``: input column c puts ``input_scale_N[c] * x[c]`` newtons on
    global DOF ``input_dofs[c]`` (DOF 2*node + component). A single-load task (Fig. 1, behaviour
    learning) has one input column per load component and one sample with x = 1.

    Attributes
    ----------
    kind : {"single", "regression", "classification"}
    input_dofs : (n_terms,) int64       global DOF of each load term
    input_columns : (n_terms,) int64    which input column drives it
    input_scale_N : (n_terms,) float64  force per unit input
    output_dofs : (n_outputs,) int64    global DOFs read as outputs
    loss : str                          "mse", "ce-normalised" or "ce-softmax"
    loss_weight : float                 MSE: L = weight * sum (u - t)^2
    softmax_scale_per_m : float         ce-softmax: p = softmax(scale * |u|)
    temperature : float                 ce-ratio-softmax: p = softmax(τ |u| / Σ|u|), dimensionless
    X : (n_samples, n_inputs) float64   inputs (already normalised as the task file says)
    Y : (n_samples, n_outputs) float64 targets (m), or (n_samples,) int64 class labels
    training : dict                     hyper-parameters from the task file (see ``TRAINING_DEFAULTS``)
    """

    name: str
    network: Network
    kind: str
    input_dofs: np.ndarray
    input_columns: np.ndarray
    input_scale_N: np.ndarray
    output_dofs: np.ndarray
    loss: str
    X: np.ndarray
    Y: np.ndarray
    loss_weight: float = 0.5
    softmax_scale_per_m: float = 1.0
    temperature: float = 20.0
    training: dict = field(default_factory=dict)
    description: str = ""
    source: str = "<generated>"
    class_names: tuple = ()

    def __post_init__(self):
        object.__setattr__(self, "input_dofs", np.asarray(self.input_dofs, dtype=np.int64).reshape(-1))
        object.__setattr__(self, "input_columns", np.asarray(self.input_columns, dtype=np.int64).reshape(-1))
        object.__setattr__(self, "input_scale_N", np.asarray(self.input_scale_N, dtype=np.float64).reshape(-1))
        object.__setattr__(self, "output_dofs", np.asarray(self.output_dofs, dtype=np.int64).reshape(-1))
        object.__setattr__(self, "X", np.atleast_2d(np.asarray(self.X, dtype=np.float64)))
        y = np.asarray(self.Y)
        y = y.astype(np.int64) if self.is_classification else np.atleast_2d(y.astype(np.float64))
        object.__setattr__(self, "Y", y)
        _freeze(self, "input_dofs", "input_columns", "input_scale_N", "output_dofs", "X", "Y")

    @property
    def is_classification(self) -> bool:
        return self.loss in ("ce-normalised", "ce-softmax", "ce-ratio-softmax")

    @property
    def n_samples(self) -> int:
        return self.X.shape[0]

    @property
    def n_inputs(self) -> int:
        return self.X.shape[1]

    @property
    def output_nodes(self) -> np.ndarray:
        return self.output_dofs // 2

    @property
    def input_nodes(self) -> np.ndarray:
        return np.unique(self.input_dofs // 2)

    def loads_N(self, X=None) -> np.ndarray:
        """(n_samples, n_nodes, 2) nodal forces F = B x for each sample (default: all of ``X``)."""
        X = self.X if X is None else np.atleast_2d(X)
        F = np.zeros((X.shape[0], 2 * self.network.n_nodes))
        np.add.at(F.T, self.input_dofs, (X[:, self.input_columns] * self.input_scale_N).T)
        return F.reshape(X.shape[0], -1, 2)

    def with_network(self, network: Network) -> "Task":
        return dataclasses.replace(self, network=network)
