"""Meshes and tasks shared by the FEM tests (a module of its own: conftest is not importable)."""

import numpy as np


def bar_mesh(comm, n_bonds=1, L=0.016, w=2e-3, a=1e-3, nx=120, ny=16):
    """A straight strip [0, L] x [-w/2, w/2] cut into regions by cell midpoint: hub 1 = [0, a]
    (fixed node 0), hub 2 = [L - a, L] (node 1), and ``n_bonds`` equal bond regions in between
    (tags 3, 4, ...)."""
    import dolfinx
    from dolfinx.mesh import create_rectangle, meshtags

    mesh = create_rectangle(comm, [[0, -w / 2], [L, w / 2]], [nx, ny])
    tdim = 2
    n = mesh.topology.index_map(tdim).size_local + mesh.topology.index_map(tdim).num_ghosts
    mid = dolfinx.mesh.compute_midpoints(mesh, tdim, np.arange(n, dtype=np.int32))
    seg = np.clip(((mid[:, 0] - a) / ((L - 2 * a) / n_bonds)).astype(int), 0, n_bonds - 1)
    vals = np.where(mid[:, 0] < a, 1, np.where(mid[:, 0] > L - a, 2, 3 + seg)).astype(np.int32)
    return mesh, meshtags(mesh, tdim, np.arange(n, dtype=np.int32), vals)


def bar_task(L=0.016, w=2e-3, force=(0.01, 0.0), target=1e-3, n_bonds=1):
    """Two nodes at the hub centres, node 0 fixed, a force on node 1, MSE on u_x of node 1."""
    from femnn.network import Material, Network, Task

    nodes = [[0.5e-3, 0.0], [L - 0.5e-3, 0.0]]
    net = Network(nodes, [[0, 1]], [0], [w], [w, w], 2e-3, Material())
    return Task(name="strip", network=net, kind="single", input_dofs=[2, 3], input_columns=[0, 0],
                input_scale_N=list(force), output_dofs=[2], loss="mse", X=[[1.0]], Y=[[target]], loss_weight=0.5)
