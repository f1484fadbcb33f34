"""Meshes for the FEM engine tests: a 3D strip and a gmsh plane part with necked ends."""

import numpy as np


def box_bar_mesh(comm, L=0.032, w=2e-3, t=2e-3, a=2e-3, n=(32, 2, 2), n_bonds=1):
    """3D strip [0, L] x [0, w] x [0, t]: hub 1 = x < a (fixed node 0), hub 2 = x > L - a (node 1),
    ``n_bonds`` equal bond regions in between (tags 3, 4, ...)."""
    import dolfinx
    from dolfinx.mesh import create_box, meshtags

    mesh = create_box(comm, [[0, 0, 0], [L, w, t]], list(n))
    N = mesh.topology.index_map(3).size_local + mesh.topology.index_map(3).num_ghosts
    mid = dolfinx.mesh.compute_midpoints(mesh, 3, np.arange(N, dtype=np.int32))
    seg = np.clip(((mid[:, 0] - a) / ((L - 2 * a) / n_bonds)).astype(int), 0, n_bonds - 1)
    vals = np.where(mid[:, 0] < a, 1, np.where(mid[:, 0] > L - a, 2, 3 + seg)).astype(np.int32)
    return mesh, meshtags(mesh, 3, np.arange(N, dtype=np.int32), vals)


def necked_bar_mesh(comm, L=0.03, hub=4e-3, w=2e-3, w_neck=0.8e-3, l_neck=3e-3, h=0.25e-3, part_tags=False,
                    tab=False):
    """gmsh (OCC) plane part: two square hubs of side ``hub`` (centres at x = 0 and x = L) joined by
    a bar of width ``w`` whose ends (length ``l_neck`` at each hub) are thinned to ``w_neck``.
    Disjoint physical groups as femnn.part makes them: hub_0 = 1, hub_1 = 2, bond_0 = 3 (the bar
    with its necks). ``part_tags``: femnn.part's numbering instead (hub_j = 1_000_001 + j, bond_0 = 1);
    ``tab``: a mounting tab (hub/2 x hub/2) left of hub 0, tagged tab_0 = 2_000_001.
    Built on rank 0 and distributed by dolfinx.io.gmsh.model_to_mesh."""
    import gmsh
    from dolfinx.io.gmsh import model_to_mesh

    gmsh.initialize(["", "-v", "0"])  # quiet; Python-side args for the test only
    try:
        if comm.rank == 0:
            occ = gmsh.model.occ
            gmsh.model.add("necked")
            r = hub / 2
            h0 = occ.addRectangle(-r, -r, 0, hub, hub)
            h1 = occ.addRectangle(L - r, -r, 0, hub, hub)
            n0 = occ.addRectangle(r, -w_neck / 2, 0, l_neck, w_neck)
            mid = occ.addRectangle(r + l_neck, -w / 2, 0, L - hub - 2 * l_neck, w)
            n1 = occ.addRectangle(L - r - l_neck, -w_neck / 2, 0, l_neck, w_neck)
            tools = [(2, n0), (2, mid), (2, n1)]
            if tab:
                tools.append((2, occ.addRectangle(-r - hub / 2, -hub / 4, 0, hub / 2, hub / 2)))
            out, m = occ.fragment([(2, h0), (2, h1)], tools)
            occ.synchronize()
            t_h0, t_h1, t_b = (1_000_001, 1_000_002, 1) if part_tags else (1, 2, 3)
            groups = {t_h0: [e[1] for e in m[0]], t_h1: [e[1] for e in m[1]],
                      t_b: [e[1] for k in (2, 3, 4) for e in m[k]]}
            if tab:
                groups[2_000_001] = [e[1] for e in m[5]]
            for tag, ents in groups.items():
                gmsh.model.addPhysicalGroup(2, ents, tag)
            gmsh.option.setNumber("Mesh.MeshSizeMax", h)
            gmsh.model.mesh.generate(2)
        md = model_to_mesh(gmsh.model, comm, 0, gdim=2)
    finally:
        gmsh.finalize()
    return md.mesh, md.cell_tags
