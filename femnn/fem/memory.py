"""The memory guard of the direct solver: MUMPS is refused, before it factorises, a factorisation
that would not fit in the memory this machine has free.

Why: a 3D P2 part of 10⁶ DOFs needs several GiB for its LU factors (the full-mesh Iris validation
peaks at 15.5 GiB), and a factorisation that outgrows the memory ends in the kernel's OOM killer
(no message) or in hours of swapping. MUMPS estimates its own need in its analysis phase (INFO(15),
MB per process), and its control ICNTL(23) caps the working memory per process: with the cap set,
MUMPS stops right after the analysis with INFOG(1) = -19 when its estimate exceeds the cap, having
allocated nothing for the factors. The cap is this node's available memory (``MemAvailable`` of
/proc/meminfo) shared among the ranks on the node. The factorisation that fits is unchanged: the
pages MUMPS touches are the same (measured: 2,237 MiB peak with and without the cap on the 3D quick
part; MUMPS reserves the cap as address space, not as memory).

``FEMNN_MEMORY_LIMIT_MB=N`` caps MUMPS at N MB per rank (a share of a shared machine);
``FEMNN_MEMORY_LIMIT_MB=off`` switches the guard off (MUMPS then tries, as before).
"""

from __future__ import annotations

import os

from femnn.errors import MemoryBudgetError

ENV = "FEMNN_MEMORY_LIMIT_MB"
MUMPS_OUT_OF_BUDGET = -19   # INFOG(1): the estimate exceeds ICNTL(23)


def available_mb() -> float | None:
    """This machine's available memory in MB (``MemAvailable``; None where /proc/meminfo has none)."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        return None
    return None


def mumps_limit_mb(comm) -> int | None:
    """Per-rank MUMPS working-memory cap in MB (collective): the node's available memory divided by
    the ranks on the node, or ``FEMNN_MEMORY_LIMIT_MB`` if smaller; None when the guard is off or the
    available memory is unknown."""
    from mpi4py import MPI

    env = os.environ.get(ENV, "").strip().lower()
    if env in ("off", "0", "none", "no"):
        return None
    node = comm.Split_type(MPI.COMM_TYPE_SHARED)
    try:
        avail = node.bcast(available_mb() if node.rank == 0 else None, root=0)
        share = None if avail is None else avail / node.size
    finally:
        node.Free()
    if env:
        import math

        try:
            cap = float(env)
        except ValueError:
            cap = math.nan
        if not (math.isfinite(cap) and cap > 0):
            from femnn.errors import InputError

            raise InputError(ENV, "", f"{env!r}: give a positive number of megabytes per rank, or 'off'")
        share = cap if share is None else min(share, cap)
    return None if share is None else max(1, int(share))


def guard_lu(pc, comm) -> int | None:
    """Set the cap on the MUMPS factor of ``pc`` (an LU PC with solver MUMPS; collective).
    Returns the cap set (MB per rank) or None."""
    limit = mumps_limit_mb(comm)
    if limit is not None:
        pc.setFactorSetUpSolverType()
        pc.getFactorMatrix().setMumpsIcntl(23, limit)
    return limit


def _size(mb: float) -> str:
    return f"{mb / 1024.0:.1f} GiB" if mb >= 1024 else f"{mb:.0f} MB"


def check_lu_failure(pc, dofs: int, what: str, limit_mb: int | None):
    """After a failed LU solve: raise :class:`MemoryBudgetError` if MUMPS stopped on the memory cap."""
    if limit_mb is None:
        return
    F = pc.getFactorMatrix()
    if F.getMumpsInfog(1) != MUMPS_OUT_OF_BUDGET:
        return
    need, per_rank = F.getMumpsInfog(17), F.getMumpsInfog(16)   # MB: summed over the ranks, the largest rank
    raise MemoryBudgetError(
        f"the MUMPS LU factorisation of {what} ({dofs:,} DOFs) needs about {_size(need)} (MUMPS's estimate; "
        f"{_size(per_rank)} on its largest rank), more than the {_size(limit_mb)} per rank free here: "
        f"use --solver cg (CG with the p-multigrid, about 1.8 GiB per 10⁶ DOFs), --quick or a lower --refine, "
        f"or a machine with more memory ({ENV}=off lets MUMPS try anyway)")
