"""femnn: mechanical neural networks, from exact bar-model training to printable, FEM-checked parts.

The core (``femnn.network``, ``femnn.bars``, ``femnn.train``) depends only on numpy and scipy.
The heavy stages must be imported explicitly (``import femnn.part``, ``import femnn.fem``), as
with ``dolfinx.fem.petsc``: importing ``femnn`` never loads gmsh, dolfinx, petsc4py or mpi4py.
"""

__version__ = "0.1.0"
