"""FEM tests: the DOLFINx wheel needs ``import dolfinx_solver`` before dolfinx, petsc4py or mpi4py."""

import dolfinx_solver  # noqa: F401
import pytest


@pytest.fixture
def comm():
    from mpi4py import MPI

    return MPI.COMM_WORLD
