"""What a FEM model of the part produces: frozen numbers, and the fields kept apart from them."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from femnn.bars.result import freeze_arrays


@dataclass(frozen=True)
class FemResult:
    """A single-load task through the FEM of the printed part, reduced to bar quantities.

    ``u_m`` (n_nodes, 2) hub-mean displacements, ``elongation_m`` their bond elongations
    (n_bonds,), ``adjoint_u_m`` / ``adjoint_elongation_m`` the same for the adjoint load
    -∂L/∂ū solved on the SAME factorisation, ``gradient_k`` = e_adj ∘ e (the in situ rule on FEM
    elongations), ``gradient_s`` the FEM's exact ∂L/∂s_i (s_i scales Young's modulus of bond
    region i), ``loss`` L(ū). Mesh and solver facts: ``dofs``, ``degree``, ``solver``,
    ``hub_radius_m``, ``n_elements``, ``n_factorizations``, ``von_mises_max_Pa`` (the largest
    cell value in the whole part), timings in seconds."""

    name: str
    u_m: np.ndarray
    elongation_m: np.ndarray
    adjoint_u_m: np.ndarray
    adjoint_elongation_m: np.ndarray
    gradient_k: np.ndarray
    gradient_s: np.ndarray
    loss: float
    dofs: int
    degree: int
    solver: str
    hub_radius_m: float | None = None
    n_elements: int | None = None
    n_factorizations: int = 1
    von_mises_max_Pa: float | None = None
    seconds_mesh: float = 0.0
    seconds_assemble: float = 0.0
    seconds_forward: float = 0.0
    seconds_adjoint: float = 0.0

    def __post_init__(self):
        freeze_arrays(self)

    def to_dict(self) -> dict:
        """The ``results.json`` record (keys as femnn has always written them)."""
        return {"u": self.u_m, "elongation": self.elongation_m, "adjoint_elongation": self.adjoint_elongation_m,
                "gradient_k": self.gradient_k, "loss": self.loss, "gradient_s": self.gradient_s, "dofs": self.dofs,
                "degree": self.degree, "solver": self.solver, "hub_radius_m": self.hub_radius_m,
                "elements": self.n_elements, "n_factorizations": self.n_factorizations,
                "von_mises_max_Pa": self.von_mises_max_Pa, "seconds_mesh": self.seconds_mesh,
                "seconds_assemble": self.seconds_assemble, "seconds_forward": self.seconds_forward,
                "seconds_adjoint": self.seconds_adjoint}


@dataclass
class FemFields:
    """The live DOLFINx objects behind a :class:`FemResult`, for writers and further solves:
    ``u``, ``u_adj`` (Functions), ``von_mises`` (DG0 Function, Pa) and ``problem`` (the assembled,
    factorised :class:`~femnn.fem.elasticity.ElasticityProblem`; more load cases with
    :func:`femnn.fem.solve_loads`). Not serialised; collective objects on the mesh's communicator."""

    u: object
    u_adj: object
    von_mises: object
    problem: object
    extra: dict = field(default_factory=dict)
