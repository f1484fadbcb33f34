"""Gather FEM fields to rank 0 for files a user opens: COMSOL text export and von Mises pictures.

Every function is collective on ``comm`` and returns the gathered arrays on rank 0 only (None
elsewhere). Each rank contributes only what it owns (no ghosts), and rank 0 sorts the result
lexicographically by coordinates, so the files are the same on 1 and N ranks.
"""

from __future__ import annotations

import numpy as np


def _sorted_by_points(points: np.ndarray, *cols):
    order = np.lexsort(points.T[::-1])
    return (points[order], *(c[order] for c in cols))


def vertex_displacement(comm, u):
    """Mesh-vertex coordinates (n, gdim) m and the displacement there (n, gdim) m.

    The field is interpolated into the degree-1 space of the same mesh, which is exact at the
    vertices (a Lagrange field of any degree takes its nodal values there)."""
    import dolfinx

    mesh = u.function_space.mesh
    gdim = mesh.geometry.dim
    V1 = dolfinx.fem.functionspace(mesh, ("Lagrange", 1, (gdim,)))
    u1 = dolfinx.fem.Function(V1)
    u1.interpolate(u)
    n = V1.dofmap.index_map.size_local
    pts = V1.tabulate_dof_coordinates()[:n, :gdim]
    vals = u1.x.array.reshape(-1, gdim)[:n]
    parts = comm.gather((pts, vals), root=0)
    if comm.rank != 0:
        return None
    P = np.concatenate([p for p, _ in parts])
    U = np.concatenate([v for _, v in parts])
    return _sorted_by_points(P, U)


def surface_triangles(comm, cell_values):
    """Triangles to draw a DG0 field: in 2D every cell, in 3D the exterior facets on the top face
    (z = max z). -> (triangles (m, 3, 2) in m, value per triangle) on rank 0."""
    import dolfinx

    Q = cell_values.function_space
    mesh = Q.mesh
    tdim = mesh.topology.dim
    vals_cell = cell_values.x.array[Q.dofmap.list[:, 0]]
    if tdim == 2:
        n = mesh.topology.index_map(2).size_local
        geo = dolfinx.mesh.entities_to_geometry(mesh, 2, np.arange(n, dtype=np.int32))[:, :3]
        tris = mesh.geometry.x[geo][:, :, :2]
        vals = vals_cell[:n]
    else:
        mesh.topology.create_connectivity(tdim - 1, tdim)
        facets = dolfinx.mesh.exterior_facet_indices(mesh.topology)
        facets = facets[facets < mesh.topology.index_map(tdim - 1).size_local]
        geo = dolfinx.mesh.entities_to_geometry(mesh, tdim - 1, facets)[:, :3]
        xyz = mesh.geometry.x[geo]
        from mpi4py import MPI

        zmax = comm.allreduce(float(mesh.geometry.x[:, 2].max(initial=-np.inf)), op=MPI.MAX)
        zmin = comm.allreduce(float(mesh.geometry.x[:, 2].min(initial=np.inf)), op=MPI.MIN)
        top = np.all(np.abs(xyz[:, :, 2] - zmax) <= 1e-6 * max(zmax - zmin, 1e-12), axis=1)
        f2c = mesh.topology.connectivity(tdim - 1, tdim)
        cells = f2c.array[f2c.offsets[facets[top]]]   # an exterior facet's one cell
        tris = xyz[top][:, :, :2]
        vals = vals_cell[cells] if cells.size else np.zeros(0)
    parts = comm.gather((tris, vals), root=0)
    if comm.rank != 0:
        return None
    T = np.concatenate([t for t, _ in parts])
    V = np.concatenate([v for _, v in parts])
    return T, V


def boundary_surface(comm, u, cell_values):
    """The part's outer surface for a 3D picture (collective): triangles (m, 3, 3) m, the displacement
    at their corners (m, 3, 3) m, the DG0 ``cell_values`` of each triangle's cell (m,), and the largest
    cell value anywhere in the part with its cell centroid (so a picture can label an interior maximum).
    Returns ``(tris, disp, vals, (max_value, max_xyz))`` on rank 0, None elsewhere. P1 geometry assumed
    (femnn meshes are order 1); higher-degree displacements are sampled at the vertices."""
    import dolfinx

    mesh = u.function_space.mesh
    tdim, gdim = mesh.topology.dim, mesh.geometry.dim
    V1 = dolfinx.fem.functionspace(mesh, ("Lagrange", 1, (gdim,)))
    u1 = dolfinx.fem.Function(V1)
    u1.interpolate(u)
    # geometry node -> P1 dof: cell by cell both follow the reference cell's vertex order
    gdm = mesh.geometry.dofmap
    g2d = np.empty(mesh.geometry.x.shape[0], dtype=np.int64)
    g2d[gdm.ravel()] = V1.dofmap.list[:, :gdm.shape[1]].ravel()
    U = u1.x.array.reshape(-1, gdim)
    mesh.topology.create_connectivity(tdim - 1, tdim)
    facets = dolfinx.mesh.exterior_facet_indices(mesh.topology)
    facets = facets[facets < mesh.topology.index_map(tdim - 1).size_local]
    geo = dolfinx.mesh.entities_to_geometry(mesh, tdim - 1, facets)[:, :3]
    f2c = mesh.topology.connectivity(tdim - 1, tdim)
    cells = f2c.array[f2c.offsets[facets]]
    Q = cell_values.function_space
    vals_cell = cell_values.x.array[Q.dofmap.list[:, 0]]
    n_cells = mesh.topology.index_map(tdim).size_local
    local_max = (-np.inf, None)
    if n_cells:
        c = int(np.argmax(vals_cell[:n_cells]))
        cg = dolfinx.mesh.entities_to_geometry(mesh, tdim, np.array([c], dtype=np.int32))[0]
        local_max = (float(vals_cell[c]), mesh.geometry.x[cg].mean(axis=0))
    parts = comm.gather((mesh.geometry.x[geo], U[g2d[geo]], vals_cell[cells] if cells.size else np.zeros(0), local_max),
                        root=0)
    if comm.rank != 0:
        return None
    best = max((p[3] for p in parts), key=lambda m: m[0])
    return (np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]),
            np.concatenate([p[2] for p in parts]), best)
