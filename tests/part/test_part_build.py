"""The gmsh part of the paper's network: one connected face/solid, every group, exact area and
volume, widths visible in the mesh, second-order nodes on the arcs, aids, DOLFINx conversion."""

import math

import gmsh
import numpy as np
import pytest

import femnn.part as fp
from femnn.network import load_network, load_task
from femnn.part import tags
from femnn.part.csg import fused_reference

MM = 1e-3


@pytest.fixture(scope="module")
def fig1():
    return load_task("fig1")


@pytest.fixture(scope="module")
def part2d(fig1):
    return fp.build(fig1, dim=2)


@pytest.fixture(scope="module")
def part3d(fig1):
    return fp.build(fig1, dim=3, elements_across_neck=2)


def _regions_connected(pm) -> int:
    """Number of connected components of the region graph (regions sharing a mesh node)."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    uniq, reg = np.unique(pm.cell_tags, return_inverse=True)
    nodes = pm.cells.ravel()
    regs = np.repeat(reg, pm.cells.shape[1])
    node_region = coo_matrix((np.ones(nodes.size), (nodes, regs)), shape=(pm.points_m.shape[0], uniq.size)).tocsr()
    node_region.data[:] = 1
    adj = (node_region.T @ node_region).tocoo()
    return connected_components(adj, directed=False)[0]


def test_paper_2d_is_one_face_with_every_group(part2d, fig1):
    """The OpenCASCADE union of the primitives is ONE face of area A (exact layout area: disks +
    bond polygons - circular segments); the conforming build partitions it into n_nodes + n_bonds
    regions, connected into one piece, with one physical group each, and the triangles cover A
    within the chord error of the arcs (< 0.2 %)."""
    n_faces, area = fused_reference(part2d.layout, dim=2)
    assert n_faces == 1
    assert area == pytest.approx(part2d.area_m2, rel=1e-9)
    net = fig1.network
    regions = part2d.region_tags()
    assert set(regions) == {f"bond_{i}" for i in range(net.n_bonds)} | {f"hub_{j}" for j in range(net.n_nodes)}
    assert all(regions[tags.bond_name(i)] == tags.bond_tag(i) == part2d.bond_tag[i] for i in range(net.n_bonds))
    assert all(regions[tags.hub_name(j)] == tags.hub_tag(j) == part2d.hub_tag[j] for j in range(net.n_nodes))
    pm = part2d.mesh
    assert set(np.unique(pm.cell_tags)) == set(regions.values())
    assert _regions_connected(pm) == 1
    assert pm.measure_m().sum() == pytest.approx(part2d.area_m2, rel=2e-3)
    assert pm.cell_type == "triangle" and pm.quality_min > 0.5


def test_role_facets_lie_on_their_hub_rims(part2d, fig1):
    """clamp / load_port / output_port are curves on the outer rim of the fixed (0, 4), loaded (12)
    and output (13) hubs: every facet node is at distance R from one of those nodes."""
    pm = part2d.mesh
    R = part2d.hub_radius_m
    x = fig1.network.nodes_m
    for name, nodes in ((tags.CLAMP, [0, 4]), (tags.LOAD_PORT, [12]), (tags.OUTPUT_PORT, [13])):
        dim, tag = part2d.groups[name]
        assert dim == 1
        pts = pm.points_m[np.unique(pm.facets[pm.facet_tags == tag]), :2]
        assert len(pts) > 10
        d = np.min(np.linalg.norm(pts[:, None, :] - x[nodes][None], axis=2), axis=1)
        assert np.allclose(d, R, rtol=1e-9)
    assert np.array_equal(part2d.fixed_nodes, [0, 4])
    assert part2d.load_nodes.tolist() == [12] and part2d.output_nodes.tolist() == [13]


def test_paper_3d_volume_is_area_times_thickness(part3d, part2d):
    """3D: the union is ONE solid of volume A t; the tetrahedra fill A t within 0.5 %, where A is the
    2D part's exact area and t = 2 mm; the outer surface is a closed, outward-oriented shell of
    the same volume (divergence theorem V = sum a.(b x c)/6)."""
    t = part3d.thickness_m
    assert t == pytest.approx(2 * MM)
    n_solids, volume = fused_reference(part3d.layout, dim=3)
    assert n_solids == 1
    assert volume == pytest.approx(part2d.area_m2 * t, rel=1e-9)
    pm = part3d.mesh
    assert pm.cell_type == "tetra"
    assert pm.measure_m().sum() == pytest.approx(part2d.area_m2 * t, rel=5e-3)
    assert part3d.volume_m3 == pytest.approx(part2d.area_m2 * t, rel=1e-12)
    x = pm.points_m
    a, b, c = (x[pm.surface_triangles[:, k]] for k in range(3))
    shell = np.einsum("ij,ij->i", a, np.cross(b, c)).sum() / 6
    assert shell == pytest.approx(pm.measure_m().sum(), rel=1e-9)
    assert _regions_connected(pm) == 1
    assert set(part3d.region_tags()) == set(part2d.region_tags())
    assert part3d.groups[tags.CLAMP][0] == 2


def test_trained_widths_show_up_in_the_mesh(fig1):
    """Bond 7 built 2.5 mm wide and bond 20 1.5 mm: across the middle of each bond the mesh nodes
    span exactly w in the normal direction p, and across its neck (between the rim and R + l)
    exactly w/2."""
    w = np.full(28, 2.0 * MM)
    w[7], w[20] = 2.5 * MM, 1.5 * MM
    part = fp.build(fig1, dim=2, widths_m=w, elements_across_neck=2)
    net, pm, R, ell = part.network, part.mesh, part.hub_radius_m, part.neck_length_m
    for b in (7, 20, 0):
        i, j = net.bonds[b]
        n = net.unit_vectors[b]
        p = np.array([-n[1], n[0]])
        nodes = np.unique(pm.cells[pm.cell_tags == tags.bond_tag(b)])
        rel = pm.points_m[nodes, :2] - net.nodes_m[i]
        s, q = rel @ n, rel @ p
        L = net.lengths_m[b]
        mid = np.abs(s - L / 2) < L / 8
        assert q[mid].max() - q[mid].min() == pytest.approx(w[b], abs=1e-9)
        neck = (s > R + 1e-4) & (s < R + ell - 1e-4)
        assert q[neck].max() - q[neck].min() == pytest.approx(w[b] / 2, abs=1e-9)


def test_second_order_nodes_sit_on_the_hub_circles(fig1):
    """order=2: the mid-edge node of every facet on a hub rim is at distance R from the node (on
    the arc), not on the chord (which is R cos(phi/2) < R away)."""
    part = fp.build(fig1, dim=2, order=2, elements_across_neck=1)
    pm = part.mesh
    assert pm.cell_type == "triangle6" and pm.facet_type == "line3"
    dim, tag = part.groups[tags.CLAMP]
    f = pm.facets[pm.facet_tags == tag]
    x = part.network.nodes_m
    mids = pm.points_m[f[:, 2], :2]
    ends = pm.points_m[f[:, 0], :2]
    nearest = np.argmin(np.linalg.norm(mids[:, None] - x[None], axis=2), axis=1)
    assert np.allclose(np.linalg.norm(mids - x[nearest], axis=1), part.hub_radius_m, rtol=1e-9)
    chord_mid = 0.5 * (ends + pm.points_m[f[:, 1], :2])
    assert np.all(np.linalg.norm(chord_mid - x[nearest], axis=1) < part.hub_radius_m * (1 - 1e-6))


def _median_edge(part, cells_mask):
    x, c = part.mesh.points_m, part.mesh.cells[cells_mask]
    return float(np.median(np.linalg.norm(x[c[:, 0]] - x[c[:, 1]], axis=1)))


def test_refine_halves_the_element_size(fig1):
    """The size field gives edges of h_min = w_min / 2 / N / 2^refine in the hubs and
    h_max = w_min / N / 2^refine in the middle of the bonds (median edge within 20 %); each refine
    level halves both."""
    for refine in (0, 1):
        part = fp.build(fig1, dim=2, elements_across_neck=2, refine=refine)
        pm, net = part.mesh, part.network
        assert pm.size_min_m == pytest.approx(2 * MM / 2 / 2 / 2**refine)
        assert pm.size_max_m == pytest.approx(2 * MM / 2 / 2**refine)
        hub = pm.cell_tags >= tags.hub_tag(0)
        cen = pm.points_m[pm.cells].mean(axis=1)[:, :2]
        mid = np.zeros(pm.n_cells, dtype=bool)
        for b in range(net.n_bonds):
            sel = np.flatnonzero(pm.cell_tags == tags.bond_tag(b))
            s = (cen[sel] - net.nodes_m[net.bonds[b, 0]]) @ net.unit_vectors[b]
            mid[sel[np.abs(s - net.lengths_m[b] / 2) < 2 * MM]] = True
        assert _median_edge(part, hub) == pytest.approx(pm.size_min_m, rel=0.2)
        assert _median_edge(part, mid) == pytest.approx(pm.size_max_m, rel=0.2)


def test_tabs_and_eyelets(fig1):
    """Tabs on the fixed nodes (0, 4) and an eyelet on the loaded node 12, hanging along the load
    (straight down, 270 deg): their own cell groups; the union is still one face (OpenCASCADE) of the
    exact area, which now includes the tabs and the eyelet ring pi (r_o^2 - r_i^2) - segment; no
    mesh node falls inside the eyelet hole."""
    part = fp.build(fig1, dim=2, tabs=True, eyelets=True, elements_across_neck=2)
    lay = part.layout
    assert {(a.kind, a.node) for a in lay.aids} == {("tab", 0), ("tab", 4), ("eyelet", 12)}
    eyelet = next(a for a in lay.aids if a.kind == "eyelet")
    assert math.degrees(eyelet.angle) == pytest.approx(270)
    assert {"tab_0", "tab_4", "eyelet_12"} <= set(part.region_tags())
    assert part.aid_tag == {0: 2_000_001, 4: 2_000_005, 12: 3_000_013}
    n_faces, area = fused_reference(lay, dim=2)
    assert n_faces == 1 and area == pytest.approx(lay.area_m2, rel=1e-9)
    assert lay.area_m2 > fp.build_layout_for(fig1).area_m2
    pm = part.mesh
    assert pm.measure_m().sum() == pytest.approx(lay.area_m2, rel=3e-3)
    c = lay.aid_outline(eyelet)["centre"]
    assert np.linalg.norm(pm.points_m[:, :2] - c, axis=1).min() >= eyelet.hole_radius_m * (1 - 1e-9)


def test_session_keeps_the_model_and_build_alone_finalises(fig1):
    """Outside a session, build() initialises and finalises gmsh; inside gmsh_session the model stays
    current, with one physical group per region plus the three facet groups."""
    fp.build(fig1, dim=2, mesh=False)
    assert not gmsh.isInitialized()
    with fp.gmsh_session():
        part = fp.build(fig1, dim=2, mesh=False)
        groups = gmsh.model.getPhysicalGroups()
        assert len(groups) == len(part.groups) == 14 + 28 + 3
        assert len(gmsh.model.getEntities(2)) == 14 + 28
    assert not gmsh.isInitialized()
    assert part.mesh is None


def test_dolfinx_reads_the_model_and_the_msh(fig1, tmp_path):
    """DOLFINx: model_to_mesh on the live 2D model and read_from_msh on a written 3D mesh give every
    cell a region tag (all bond and hub tags present, cells counted once) and the clamp facets."""
    import dolfinx_solver  # noqa: F401
    from dolfinx.io import gmsh as dgmsh
    from mpi4py import MPI

    comm = MPI.COMM_SELF
    with fp.gmsh_session(comm):
        p2 = fp.build(fig1, dim=2, elements_across_neck=1, comm=comm)
        md = dgmsh.model_to_mesh(gmsh.model, comm, 0, gdim=2)
        p3 = fp.build(fig1, dim=3, elements_across_neck=1, comm=comm)
        fp.write_msh(tmp_path / "m.msh")
    want = set(p2.bond_tag.tolist()) | set(p2.hub_tag.tolist())
    assert md.mesh.topology.index_map(2).size_global == p2.n_elements
    assert set(np.unique(md.cell_tags.values).tolist()) == want
    assert md.facet_tags.find(md.physical_groups["clamp"].tag).size > 0
    md3 = dgmsh.read_from_msh(tmp_path / "m.msh", comm, 0, gdim=3)
    assert md3.mesh.topology.index_map(3).size_global == p3.n_elements
    assert set(np.unique(md3.cell_tags.values).tolist()) == want
    assert md3.physical_groups["hub_12"].tag == tags.hub_tag(12)
    assert md3.facet_tags.find(md3.physical_groups["output_port"].tag).size > 0


def test_network_without_task_has_only_clamp():
    """A plain network (no task): hubs and bonds, and the clamp on its fixed nodes; no ports."""
    part = fp.build(load_network("paper"), dim=2, mesh=False)
    facet = part.facet_group_tags()
    assert facet == {tags.CLAMP: tags.FACET_TAGS[tags.CLAMP]}


MPI_SCRIPT = """
import dolfinx_solver  # noqa: F401
import gmsh
import numpy as np
from dolfinx.io import gmsh as dgmsh
from mpi4py import MPI

import femnn.part as fp
from femnn.network import load_task

comm = MPI.COMM_WORLD
with fp.gmsh_session(comm):
    part = fp.build(load_task("fig1"), dim=2, elements_across_neck=1, comm=comm)
    md = dgmsh.model_to_mesh(gmsh.model, comm, 0, gdim=2)
local = md.cell_tags.values[md.cell_tags.indices < md.mesh.topology.index_map(2).size_local]
n12 = comm.allreduce(int(np.sum(local == part.hub_tag[12])))
total = comm.allreduce(md.mesh.topology.index_map(2).size_local)
if comm.rank == 0:
    print("RESULT", total, part.n_elements, n12, int(np.sum(part.mesh.cell_tags == part.hub_tag[12])))
else:
    assert part.mesh is None and not gmsh.isInitialized() and part.hub_tag[12] == 1_000_013
"""


@pytest.mark.mpi
def test_gmsh_on_rank_0_dolfinx_on_two_ranks(tmp_path):
    """mpiexec -n 2: gmsh runs on rank 0 only (rank 1 gets the Part without mesh and never
    initialises gmsh); model_to_mesh distributes the cells: the ranks together own every cell of
    the gmsh mesh, and hub 12's cells, exactly once."""
    import subprocess
    import sys
    from pathlib import Path

    script = tmp_path / "mpi_part.py"
    script.write_text(MPI_SCRIPT)
    mpiexec = str(Path(sys.executable).parent / "mpiexec")
    r = subprocess.run([mpiexec, "-n", "2", sys.executable, str(script)], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    line = next(ln for ln in r.stdout.splitlines() if ln.startswith("RESULT"))
    total, n_gmsh, n12, n12_gmsh = map(int, line.split()[1:])
    assert total == n_gmsh > 0 and n12 == n12_gmsh > 0
