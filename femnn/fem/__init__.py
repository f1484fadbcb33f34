"""FEM of the printed part with DOLFINx (must be imported explicitly: ``import femnn.fem``).

``solve_task(comm, task, mesh, cell_tags, ...)`` runs the forward and the adjoint load on ONE
factorisation and reduces both fields to bar quantities (hub-mean displacements, elongations,
e_adj ∘ e, and the FEM's exact ∂L/∂s_i). See :mod:`femnn.fem.elasticity` for the formulation.

dolfinx, ufl, basix, petsc4py, slepc4py and mpi4py all come inside the ``dolfinx-solver-real`` wheel
(requirements.txt); ``import dolfinx_solver`` must run first so their MPI/PETSc libraries load.
"""

import dolfinx_solver  # noqa: F401  (before dolfinx/petsc4py/mpi4py: puts the wheel's libmpi on the path)

from femnn.fem.elasticity import ElasticityProblem
from femnn.fem.meshing import FemOptions, MeshInfo, mesh_task
from femnn.fem.result import FemFields, FemResult
from femnn.fem.solve import (data_model, default_bond_tag, default_hub_tag, make_problem, part_model, part_problem,
                             solve_loads,
                             solve_task, write_fields)

__all__ = ["ElasticityProblem", "FemFields", "FemOptions", "FemResult", "MeshInfo", "mesh_task", "make_problem",
           "part_model", "part_problem", "data_model", "solve_task", "solve_loads", "write_fields", "default_hub_tag",
           "default_bond_tag"]
