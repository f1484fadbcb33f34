"""The FEM of the printed part as a linear map from a task's inputs to its outputs (transfer matrix).

A task's loads are linear in a sample's inputs, F(x) = Σ_c x_c F_c with F_c the load of input
column c at unit input (``task.loads_N(e_c)``: the columns and scales of
:class:`femnn.train.TaskProblem`'s B), and linear elasticity is linear in the load. So ONE mesh,
ONE assembly, ONE factorisation and one solve per input column give

    hub_T[:, c] = ū(F_c)  (hub-mean displacements, flattened to DOF 2*node + component),
    T = hub_T[output_dofs]  (n_outputs, n_inputs),

and every sample's outputs follow without another solve: u_out = X @ Tᵀ (n_samples, n_outputs).
Never one solve per sample.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from femnn.fem.meshing import FemOptions
from femnn.network import Task


@dataclass(frozen=True)
class FemTransfer:
    """Outputs and hub displacements of the FEM per unit input (metres per unit of x).

    Attributes
    ----------
    T : (n_outputs, n_inputs) float64      output displacements per unit input; u_out = X @ T.T
    hub_T : (2 n_nodes, n_inputs) float64  hub-mean displacements per unit input (row 2 j + c)
    dofs : int                             global number of FEM unknowns
    dim : int                              2 (plane stress) or 3
    n_solves : int                         solves done (= n_inputs), all on one factorisation
    n_factorizations : int                 numeric LU factorisations (1 with LU, 0 with CG)
    seconds_mesh, seconds_assemble, seconds_factorize, seconds_solve : float
        wall times of the phases (mesh 0 when a problem was passed in; factorize 0 with CG)
    """

    T: np.ndarray
    hub_T: np.ndarray
    dofs: int
    dim: int
    n_solves: int
    n_factorizations: int
    seconds_mesh: float = 0.0
    seconds_assemble: float = 0.0
    seconds_factorize: float = 0.0
    seconds_solve: float = 0.0

    def __post_init__(self):
        for name in ("T", "hub_T"):
            a = np.array(getattr(self, name), dtype=float)
            a.flags.writeable = False
            object.__setattr__(self, name, a)

    def outputs(self, X) -> np.ndarray:
        """u_out (n_samples, n_outputs) m for inputs X (n_samples, n_inputs): X @ Tᵀ."""
        return np.atleast_2d(np.asarray(X, dtype=float)) @ self.T.T

    def hub_displacements(self, X) -> np.ndarray:
        """Hub-mean displacements (n_samples, n_nodes, 2) m for inputs X."""
        X = np.atleast_2d(np.asarray(X, dtype=float))
        return (X @ self.hub_T.T).reshape(X.shape[0], -1, 2)

    @property
    def seconds(self) -> float:
        return self.seconds_mesh + self.seconds_assemble + self.seconds_factorize + self.seconds_solve


def unit_loads(task: Task) -> np.ndarray:
    """(n_inputs, n_nodes, 2) N: the load of each input column at unit input, F_c = loads_N(e_c)."""
    return task.loads_N(np.eye(task.n_inputs))


def transfer_from_problem(comm, task: Task, problem, *, hub_tag=None, seconds_mesh: float = 0.0) -> FemTransfer:
    """:class:`FemTransfer` on an assembled :class:`~femnn.fem.ElasticityProblem` of ``task``'s part
    (collective): one factorisation (timed on its own), one solve per input column."""
    from femnn.fem.solve import default_hub_tag, solve_loads

    hub_tag = hub_tag or default_hub_tag
    n_fac0 = problem.n_factorizations
    t0 = time.perf_counter()
    if problem.solver_kind == "lu" and problem._factor_stale:
        problem.ksp.setUp()   # the numeric LU factorisation, so that the solve time is solves only
    t1 = time.perf_counter()
    U = solve_loads(comm, problem, unit_loads(task), task.network.n_nodes, hub_tag=hub_tag)  # (n_in, n_nodes, 2)
    t2 = time.perf_counter()
    hub_T = U.reshape(task.n_inputs, -1).T
    return FemTransfer(T=hub_T[task.output_dofs], hub_T=hub_T, dofs=int(problem.dofs), dim=int(problem.tdim),
                       n_solves=int(task.n_inputs), n_factorizations=int(problem.n_factorizations - n_fac0),
                       seconds_mesh=float(seconds_mesh), seconds_assemble=float(problem.seconds_assemble),
                       seconds_factorize=t1 - t0, seconds_solve=t2 - t1)


def fem_transfer(comm, task: Task, dim: int, opts: FemOptions = FemOptions()) -> FemTransfer:
    """The FEM transfer matrix of ``task``'s printed part at its network's current widths (collective).

    Meshes the part once (:func:`femnn.fem.mesh_task`), assembles and factorises once
    (:func:`femnn.fem.make_problem`), and solves once per input column
    (:func:`femnn.fem.solve_loads`); ``opts`` gives the mesh, degree, solver and material override.
    """
    from femnn.fem.solve import part_problem

    if dim not in (2, 3):
        raise ValueError(f"dim must be 2 or 3 (got {dim})")
    problem, _, seconds_mesh = part_problem(comm, task, dim, opts)
    return transfer_from_problem(comm, task, problem, seconds_mesh=seconds_mesh)
