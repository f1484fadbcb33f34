"""femnn: mechanical neural networks, from exact bar-model training to printable, FEM-checked parts.

The core (``femnn.network``, ``femnn.bars``, ``femnn.train``) depends only on numpy and scipy.
The heavy stages must be imported explicitly (``import femnn.part``, ``import femnn.fem``), as
with ``dolfinx.fem.petsc``: importing ``femnn`` never loads gmsh, dolfinx, petsc4py or mpi4py.

The validation chain has a Python API: ``femnn.validate(task, *, widths=None, dims=(2, 3),
quick=False, comm=None, **options) -> femnn.validation.Validation`` (see :mod:`femnn.validation`).
"""

__version__ = "0.1.0"


def validate(task="fig1", **options):
    """Run femnn's validation chain on ``task`` (a built-in name, a task or network file, or a Task)
    and return a :class:`femnn.validation.Validation` (``.models``, ``.checks``, ``.passed``,
    ``.write(out_dir)``). Options: those of :func:`femnn.validation.validate`."""
    from femnn.validation import validate as _validate

    return _validate(task, **options)
