"""Network -> printable part: hubs, thinned joints, named regions, mesh (gmsh). Import explicitly.

Typical FEM use (gmsh lives on rank 0 of ``comm``; the mesh is distributed by DOLFINx)::

    import dolfinx_solver  # noqa: F401  (before dolfinx / petsc4py)
    import gmsh
    from dolfinx.io import gmsh as dgmsh
    import femnn.part as fp

    with fp.gmsh_session(comm):
        part = fp.build(task, dim=2, comm=comm, order=2)
        mesh_data = dgmsh.model_to_mesh(gmsh.model, comm, 0, gdim=2)
    hub12 = mesh_data.cell_tags.find(part.hub_tag[12])          # or fp.tags.hub_tag(12)
    clamp = mesh_data.facet_tags.find(mesh_data.physical_groups["clamp"].tag)

or read a written ``mesh.msh`` with ``dolfinx.io.gmsh.read_from_msh(path, comm, 0, gdim=dim)``.
"""

from __future__ import annotations

import math

import numpy as np

from femnn.network import Network, Task
from femnn.part import tags
from femnn.part.builder import gmsh_session, topology
from femnn.part.layout import (
    Aid,
    Attachment,
    Layout,
    bond_cone,
    default_clearance,
    default_hub_radius,
    default_neck_length,
    make_layout,
    smallest_angles,
)
from femnn.part.model import Part, PartMesh

__all__ = [
    "build", "build_layout_for", "gmsh_session", "write_msh", "Part", "PartMesh", "Layout", "Aid", "Attachment",
    "make_layout", "default_hub_radius", "default_neck_length", "default_clearance", "bond_cone",
    "smallest_angles", "load_directions", "tags", "topology",
]


def load_directions(task: Task, share: float = 0.5) -> dict:
    """node -> direction (rad) of the mean load on each loaded node, where the load keeps one
    direction (|mean F| >= ``share`` * mean |F| over the samples); used to hang eyelets straight."""
    F = task.loads_N()
    out = {}
    for a in task.input_nodes.tolist():
        f = F[:, a, :]
        mean = f.mean(axis=0)
        if np.hypot(*mean) >= share * np.hypot(f[:, 0], f[:, 1]).mean() > 0:
            out[a] = math.atan2(mean[1], mean[0]) % (2 * math.pi)
    return out


def build_layout_for(source, *, widths_m=None, task: Task | None = None, hub_radius_m=None, neck_length_m=None,
                     clearance_m=None, tabs=False, eyelets=False) -> Layout:
    """The validated :class:`Layout` of a network or task (no gmsh involved)."""
    if isinstance(source, Task):
        task = source if task is None else task
        network = source.network
    else:
        network = source
    if not isinstance(network, Network):
        raise TypeError(f"expected a Network or Task, got {type(source).__name__}")
    if widths_m is not None:
        network = network.with_widths(widths_m)
    return make_layout(network, hub_radius_m=hub_radius_m, neck_length_m=neck_length_m, clearance_m=clearance_m,
                       load_nodes=None if task is None else task.input_nodes,
                       output_nodes=None if task is None else task.output_nodes,
                       load_directions=None if task is None else load_directions(task), tabs=tabs, eyelets=eyelets)


def build(source, dim: int = 3, *, widths_m=None, task: Task | None = None, hub_radius_m: float | None = None,
          neck_length_m: float | None = None, thickness_m: float | None = None, clearance_m: float | None = None,
          elements_across_neck: int = 3, refine: int = 0, order: int = 1, mesh: bool = True,
          surface_only: bool = False, tabs: bool = False, eyelets: bool = False, comm=None) -> Part:
    """Build the printable part of a network (or a task's network) and mesh it.

    Parameters
    ----------
    source : Network or Task
        A task also sets the loaded (``input_nodes``) and output hubs and the eyelet directions.
    dim : {2, 3}
        2: one planar layer of triangles (z = 0); 3: extruded through ``thickness_m``, tetrahedra.
    widths_m : (n_bonds,) array, optional
        Bond widths to build (e.g. trained ones); default: the network's.
    hub_radius_m, neck_length_m : float, optional
        Default from the width bounds and bond angles so that neighbouring necks never touch
        (rule in :mod:`femnn.part.layout` and docs/geometry.md). Given values are checked exactly.
    thickness_m : float, optional
        Default ``network.thickness_m``.
    elements_across_neck : int
        N: the size field puts N elements across the narrowest neck, ``h_min = w_min / 2 / N``,
        and N across the narrowest bond, ``h_max = w_min / N``.
    refine : int
        Each level halves both sizes (``/ 2**refine``), for convergence studies.
    order : {1, 2}
        Geometry order of the elements (2: mid-side nodes on the arcs).
    mesh : bool
        False: geometry and groups only.
    surface_only : bool
        3D: mesh only the outer surfaces at print resolution (arcs in 5-degree segments, flat faces
        up to max(t, w_min)), enough for STL/3MF; no tetrahedra and no FEM size field.
    tabs, eyelets : bool
        Printing aids: a mounting tab at each fixed node, an eyelet at each loaded node.
    comm : MPI communicator, optional
        gmsh runs on rank 0 only; the other ranks get the same Part without the mesh.

    Returns
    -------
    Part
        Inside :func:`gmsh_session` the gmsh model stays current (for ``model_to_mesh`` or
        :func:`write_msh`); otherwise gmsh is initialised and finalised here.

    Raises
    ------
    femnn.errors.InputError
        Geometry that cannot be built (overlapping necks, bonds too short, ...), naming where.
    """
    if dim not in (2, 3):
        raise ValueError(f"dim must be 2 or 3, got {dim!r}")
    if order not in (1, 2):
        raise ValueError(f"order must be 1 or 2, got {order!r}")
    if int(elements_across_neck) != elements_across_neck or elements_across_neck < 1:
        raise ValueError(f"elements_across_neck must be an integer >= 1, got {elements_across_neck!r}")
    if int(refine) != refine or refine < 0:
        raise ValueError(f"refine must be an integer >= 0, got {refine!r}")
    root = comm is None or comm.rank == 0
    part = None
    if root:
        import time

        from femnn.part.builder import build_layout

        t0 = time.perf_counter()
        lay = build_layout_for(source, widths_m=widths_m, task=task, hub_radius_m=hub_radius_m,
                               neck_length_m=neck_length_m, clearance_m=clearance_m, tabs=tabs, eyelets=eyelets)
        t_lay = time.perf_counter() - t0
        t = lay.network.thickness_m if thickness_m is None else float(thickness_m)
        if not t > 0:
            raise ValueError(f"thickness_m must be > 0, got {t!r}")
        kw = dict(elements_across_neck=int(elements_across_neck), refine=int(refine), order=order, mesh=mesh,
                  surface_only=surface_only, model_name=f"femnn_{lay.network.name}_{dim}d")
        import gmsh

        if gmsh.isInitialized():
            part = build_layout(lay, dim, t, **kw)
        else:
            with gmsh_session():
                part = build_layout(lay, dim, t, **kw)
        part.timings_s["layout_s"] = t_lay
    if comm is not None and comm.size > 1:
        meta = comm.bcast(part.without_mesh() if root else None, root=0)
        if not root:
            part = meta
    return part


def write_msh(path, comm=None) -> None:
    """Write gmsh's current model (inside :func:`gmsh_session`, after :func:`build`) as MSH 4.1 with
    its physical groups (only elements in physical groups are saved: every cell, and the facets of
    the clamp and port groups). Rank 0 of ``comm`` writes."""
    if comm is not None and comm.rank != 0:
        return
    import gmsh

    gmsh.option.setNumber("Mesh.SaveAll", 0)
    gmsh.option.setNumber("Mesh.MshFileVersion", 4.1)
    gmsh.write(str(path))
