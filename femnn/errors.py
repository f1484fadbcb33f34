"""Errors a user can fix: one line naming the file, the field, the value and the fix (exit code 2)."""

from __future__ import annotations


class InputError(ValueError):
    """Bad user input. ``str(err)`` is the single line the CLI prints before exiting with code 2.

    Parameters
    ----------
    source : str
        The file (or command-line option) the bad value came from.
    field : str
        The field inside it, e.g. ``bonds[3]``.
    problem : str
        What is wrong, including the offending value and what was expected.
    """

    def __init__(self, source: str, field: str, problem: str):
        self.source, self.field, self.problem = str(source), field, problem
        where = f"{self.source}: {field}" if field else self.source
        super().__init__(f"{where}: {problem}")

    def __reduce__(self):  # picklable (MPI broadcasts a refusal from rank 0 to every rank)
        return (type(self), (self.source, self.field, self.problem))


class MemoryBudgetError(MemoryError):
    """A solve refused before it starts because it would not fit in the memory free here (the direct
    solver's own estimate against the available memory, :mod:`femnn.fem.memory`). ``str(err)`` is the
    single line the CLI prints (exit code 2): what it needs, what is free, and what to do instead."""

    def __reduce__(self):
        return (type(self), self.args)


class MechanismError(RuntimeError):
    """The network has zero modes (a mechanism): D = Cᵀ K C is singular and must not be solved.

    Attributes
    ----------
    n_modes : int
        Dimension of the null space of the compatibility matrix on the free DOFs.
    free_nodes : list of int
        Nodes (0-based) that move in some zero-energy mode.
    """

    def __init__(self, n_modes: int, free_nodes, context: str = ""):
        self.n_modes = int(n_modes)
        self.free_nodes = [int(i) for i in free_nodes]
        self.context = context
        shown = ", ".join(map(str, self.free_nodes[:20])) + (" ..." if len(self.free_nodes) > 20 else "")
        pre = f"{context}: " if context else ""
        super().__init__(
            f"{pre}the network is a mechanism: {self.n_modes} zero mode(s); nodes that move freely: [{shown}]"
        )

    def __reduce__(self):
        return (type(self), (self.n_modes, self.free_nodes, self.context))
