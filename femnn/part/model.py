"""The result of the part stage: :class:`Part` (geometry facts, group tags) and :class:`PartMesh`."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from femnn.network import Network
from femnn.network._model import _freeze
from femnn.part.layout import Layout


@dataclass(frozen=True)
class PartMesh:
    """A mesh of the part as plain arrays (0-based indices, SI coordinates).

    Attributes
    ----------
    points_m : (n_points, 3) float64
    cell_type : str                 meshio name: "triangle", "triangle6", "tetra", "tetra10" ("" if
                                    only the surface was meshed)
    cells : (n_cells, k) int64      gmsh node order
    cell_tags : (n_cells,) int32    region tag of each cell (:mod:`femnn.part.tags`)
    facet_type : str                "line"/"line3" (2D) or "triangle"/"triangle6" (3D)
    facets : (n_facets, k) int64    facets of the facet groups (clamp, ports)
    facet_tags : (n_facets,) int32
    surface_triangles : (n_tri, 3) int64
        3D: the closed outer surface (corner nodes), counter-clockwise seen from outside; 2D: empty.
    quality_min, quality_mean : float
        gmsh's ``minSICN`` quality (1 ideal, <= 0 inverted) over the cells.
    size_min_m, size_max_m : float  target element sizes of the size field
    order : int                     geometry order (1 or 2)
    """

    points_m: np.ndarray
    cell_type: str
    cells: np.ndarray
    cell_tags: np.ndarray
    facet_type: str
    facets: np.ndarray
    facet_tags: np.ndarray
    surface_triangles: np.ndarray
    quality_min: float
    quality_mean: float
    size_min_m: float
    size_max_m: float
    order: int

    def __post_init__(self):
        _freeze(self, "points_m", "cells", "cell_tags", "facets", "facet_tags", "surface_triangles")

    @property
    def n_cells(self) -> int:
        return int(self.cells.shape[0])

    @property
    def n_triangles(self) -> int:
        """Triangles of the printable surface (3D) or of the planar mesh (2D)."""
        return int(self.surface_triangles.shape[0]) if self.surface_triangles.size else self.n_cells

    def measure_m(self) -> np.ndarray:
        """(n_cells,) area (2D) or volume (3D) of each cell from its corner nodes (straight-sided)."""
        x = self.points_m
        c = self.cells
        if self.cell_type.startswith("triangle"):
            a, b, d = x[c[:, 0]], x[c[:, 1]], x[c[:, 2]]
            return 0.5 * np.abs(np.cross(b - a, d - a)[:, 2])
        a, b, d, e = x[c[:, 0]], x[c[:, 1]], x[c[:, 2]], x[c[:, 3]]
        return np.abs(np.einsum("ij,ij->i", np.cross(b - a, d - a), e - a)) / 6


@dataclass(frozen=True)
class Part:
    """A printable part built from a network: its layout, its physical groups and (optionally) its mesh.

    Attributes
    ----------
    layout : Layout
        The planar geometry (hub radius, necks, aids, exact areas, minimum feature and gap).
    dim : int                      2 (planar face) or 3 (extruded solid)
    thickness_m : float            out-of-plane thickness t (the extrusion in 3D)
    groups : dict name -> (dim, tag)
        Every physical group in the mesh: ``bond_i``, ``hub_j`` (and ``tab_j``, ``eyelet_j``) at
        dimension ``dim``; ``clamp``, ``load_port``, ``output_port`` at ``dim - 1``.
    bond_tag : (n_bonds,) int64    cell tag of each bond (``1 + i``)
    hub_tag : (n_nodes,) int64     cell tag of each hub (``1_000_001 + j``)
    aid_tag : dict node -> int     cell tag of each tab/eyelet
    fixed_nodes, load_nodes, output_nodes : (k,) int64
    mesh : PartMesh or None        None when not meshed (or on MPI ranks other than the builder)
    timings_s : dict               seconds per step (layout, geometry, mesh, extract)
    """

    layout: Layout
    dim: int
    thickness_m: float
    groups: dict
    bond_tag: np.ndarray
    hub_tag: np.ndarray
    aid_tag: dict
    fixed_nodes: np.ndarray
    load_nodes: np.ndarray
    output_nodes: np.ndarray
    mesh: PartMesh | None = None
    timings_s: dict = field(default_factory=dict)

    def __post_init__(self):
        _freeze(self, "bond_tag", "hub_tag", "fixed_nodes", "load_nodes", "output_nodes")

    @property
    def network(self) -> Network:
        return self.layout.network

    @property
    def hub_radius_m(self) -> float:
        return self.layout.hub_radius_m

    @property
    def neck_length_m(self) -> float:
        return self.layout.neck_length_m

    @property
    def area_m2(self) -> float:
        """Exact area of the planar part (polygons and circular segments, no mesh error)."""
        return self.layout.area_m2

    @property
    def volume_m3(self) -> float:
        """Exact volume of the printed part: ``area_m2 * thickness_m``."""
        return self.layout.area_m2 * self.thickness_m

    @property
    def bbox_m(self) -> np.ndarray:
        """(2, 3) exact bounding box [[xmin, ymin, zmin], [xmax, ymax, zmax]] (z in [0, t] in 3D, 0 in 2D)."""
        b = self.layout.bbox_m
        z = self.thickness_m if self.dim == 3 else 0.0
        return np.array([[b[0, 0], b[0, 1], 0.0], [b[1, 0], b[1, 1], z]])

    @property
    def n_elements(self) -> int:
        """Cells of the mesh (0 if not meshed or only the surface was meshed)."""
        return self.mesh.n_cells if self.mesh is not None else 0

    @property
    def min_feature_m(self) -> float:
        """Thinnest material feature: the narrowest neck (half the narrowest bond width) or aid."""
        return self.layout.min_neck_width_m

    @property
    def min_gap_m(self) -> float:
        """Narrowest gap between two features (the notch between neighbouring necks at a hub rim)."""
        return self.layout.min_gap_m

    def region_tags(self) -> dict:
        """name -> tag of the cell regions only."""
        return {k: t for k, (d, t) in self.groups.items() if d == self.dim}

    def facet_group_tags(self) -> dict:
        return {k: t for k, (d, t) in self.groups.items() if d == self.dim - 1}

    def without_mesh(self) -> "Part":
        import dataclasses

        return dataclasses.replace(self, mesh=None)
