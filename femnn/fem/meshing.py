"""The printed part as a DOLFINx mesh: gmsh builds and meshes it on rank 0, DOLFINx distributes it.

:class:`FemOptions` holds the FEM settings shared by validate, crosscheck, converge and studies
(mesh size, degree, solver, material overrides); :func:`mesh_task` turns a task's network into a
distributed mesh with femnn.part's cell tags (hub j: 1_000_001 + j, bond i: 1 + i, tab of fixed
node j: 2_000_001 + j).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from femnn.network import Task


@dataclass(frozen=True)
class FemOptions:
    """FEM settings shared by validate, crosscheck, converge and studies (mm only where named so)."""

    degree: int = 2
    refine: int = 0
    solver: str = "lu"
    poisson_ratio: float | None = None       # None: the network file's
    hub_radius_mm: float | None = None       # None: derived from the width bounds and bond angles
    neck_length_mm: float | None = None
    elements_across_neck: int = 3
    quick: bool = False                      # coarse meshes for tests and smoke runs
    formulation: str = "auto"                # displacement | mixed | auto (mixed above nu = 0.49)
    low_memory: bool = False                 # CG on > 1 rank: GAMG's all-at-once Galerkin product
    preconditioner: str = "auto"             # CG: gamg | pmg | auto (pmg for degree >= 2)


@dataclass(frozen=True)
class MeshInfo:
    """What the mesher decided: the hub radius used (m) and the number of elements."""

    hub_radius_m: float
    n_elements: int | None


def with_material(task: Task, opts: FemOptions) -> Task:
    """The task with ``opts.poisson_ratio`` applied to its network's material (if given)."""
    if opts.poisson_ratio is None:
        return task
    net = task.network
    mat = dataclasses.replace(net.material, poisson_ratio=float(opts.poisson_ratio))
    return task.with_network(dataclasses.replace(net, material=mat))


def mesh_task(comm, task: Task, dim: int, opts: FemOptions = FemOptions()):
    """gmsh part + mesh of ``task`` (gmsh on rank 0 of ``comm``), distributed by DOLFINx (collective).

    Returns ``(mesh, cell_tags, MeshInfo)``; the part is built from the task (load and output ports
    included) at the network's current widths."""
    import gmsh
    from dolfinx.io import gmsh as dgmsh

    import femnn.part as part

    with part.gmsh_session(comm):
        p = part.build(task.network, dim=dim, task=task, comm=comm,
                       hub_radius_m=None if opts.hub_radius_mm is None else opts.hub_radius_mm * 1e-3,
                       neck_length_m=None if opts.neck_length_mm is None else opts.neck_length_mm * 1e-3,
                       refine=opts.refine, order=1,
                       elements_across_neck=max(2, opts.elements_across_neck - (1 if opts.quick else 0)))
        md = dgmsh.model_to_mesh(gmsh.model, comm, 0, gdim=dim)
    info = None
    if comm.rank == 0:
        info = MeshInfo(float(p.layout.hub_radius_m), getattr(p, "n_elements", None))
    return md.mesh, md.cell_tags, comm.bcast(info, root=0)
