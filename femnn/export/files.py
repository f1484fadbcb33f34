"""The other files of a build: ``summary.json`` (mm keys) and the mesh as XDMF (meshio, XML data)."""

from __future__ import annotations

import os
import platform
from pathlib import Path

import numpy as np

from femnn.export.checks import PrintReport
from femnn.report.files import atomic_write_json


def summary(part, report: PrintReport, *, files=(), extra: dict | None = None) -> dict:
    """The ``summary.json`` dictionary: geometry in mm, mesh facts, groups, roles, timings, versions.

    ``volume_mm3`` is the volume of the exported closed surface in 3D (what is printed) and
    ``area_mm2 * thickness_mm`` in 2D; ``volume_exact_mm3`` is always the exact ``area x thickness``.
    """
    import gmsh

    from femnn import __version__

    lay = part.layout
    net = lay.network
    pm = part.mesh
    W = net.widths_m
    d = {
        "network": net.name,
        "source": net.source,
        "dim": part.dim,
        "units": "mm (SI inside femnn; mm only in print files and *_mm keys)",
        "area_mm2": lay.area_m2 * 1e6,
        "volume_mm3": report.volume_mm3,
        "volume_exact_mm3": part.volume_m3 * 1e9,
        "volume_rel_error": report.volume_rel_error,
        "mass_g": report.volume_mm3 * 1e-9 * net.material.density_kg_per_m3 * 1e3,
        "material": net.material.name,
        "density_kg_per_m3": net.material.density_kg_per_m3,
        "bbox_mm": np.asarray(report.bbox_mm).tolist(),
        "min_feature_mm": report.min_feature_mm,
        "min_feature_where": report.min_feature_where,
        "min_gap_mm": report.min_gap_mm,
        "min_gap_where": report.min_gap_where,
        "printer_min_feature_mm": report.printer_min_feature_mm,
        "triangles": int(report.triangles),
        "elements": pm.n_cells if pm is not None else 0,
        "element_type": pm.cell_type if pm is not None else "",
        "order": pm.order if pm is not None else None,
        "quality_min": pm.quality_min if pm is not None and pm.n_cells else None,
        "quality_mean": pm.quality_mean if pm is not None and pm.n_cells else None,
        "quality_measure": "gmsh minSICN (1 ideal, <= 0 inverted)",
        "size_min_mm": pm.size_min_m * 1e3 if pm is not None else None,
        "size_max_mm": pm.size_max_m * 1e3 if pm is not None else None,
        "points": int(pm.points_m.shape[0]) if pm is not None else 0,
        "hub_radius_mm": lay.hub_radius_m * 1e3,
        "hub_radius_source": lay.hub_radius_source,
        "neck_length_mm": lay.neck_length_m * 1e3,
        "neck_length_source": lay.neck_length_source,
        "clearance_mm": lay.clearance_m * 1e3,
        "thickness_mm": part.thickness_m * 1e3,
        "n_nodes": net.n_nodes,
        "n_bonds": net.n_bonds,
        "widths_mm": (W * 1e3).tolist(),
        "width_bounds_mm": (net.width_bounds_m * 1e3).tolist(),
        "aids": [{"kind": a.kind, "node": a.node, "angle_deg": float(np.degrees(a.angle))} for a in lay.aids],
        "fixed_nodes": part.fixed_nodes.tolist(),
        "load_nodes": part.load_nodes.tolist(),
        "output_nodes": part.output_nodes.tolist(),
        "physical_groups": {k: list(v) for k, v in part.groups.items()},
        "tag_rule": "bond_i = 1 + i, hub_j = 1000001 + j, tab_j = 2000001 + j, eyelet_j = 3000001 + j; "
                    "facets: clamp 1, load_port 2, output_port 3 (femnn/part/tags.py)",
        "files": sorted(str(f) for f in files),
        "timings_s": dict(part.timings_s),
        "versions": {"femnn": __version__, "gmsh": gmsh.__version__, "python": platform.python_version(),
                     "numpy": np.__version__},
    }
    if extra:
        d.update(extra)
    return d


def write_summary(path, data: dict) -> Path:
    return atomic_write_json(path, data)


#: gmsh/meshio cell type -> (XDMF topology type, node permutation from gmsh order, or None)
XDMF_TYPES = {"triangle": ("Triangle", None), "triangle6": ("Triangle_6", None), "tetra": ("Tetrahedron", None),
              "tetra10": ("Tetrahedron_10", [0, 1, 2, 3, 4, 5, 6, 7, 9, 8]), "line": ("Polyline", None),
              "line3": ("Edge_3", None)}


def _xml_array(a, fmt) -> str:
    import io

    buf = io.StringIO()
    np.savetxt(buf, a, fmt=fmt)
    return buf.getvalue()


def _xdmf_text(points, cell_type, cells, tags, grid_name) -> str:
    topo, perm = XDMF_TYPES[cell_type]
    cells = cells if perm is None else cells[:, perm]
    n, k = cells.shape
    extra = f' NodesPerElement="{k}"' if topo == "Polyline" else ""
    gdim = points.shape[1]
    return (
        '<?xml version="1.0"?>\n<Xdmf Version="3.0">\n<Domain>\n'
        f'<Grid Name="{grid_name}" GridType="Uniform">\n'
        f'<Topology TopologyType="{topo}" NumberOfElements="{n}"{extra}>\n'
        f'<DataItem DataType="Int" Dimensions="{n} {k}" Format="XML" Precision="8">\n{_xml_array(cells, "%d")}</DataItem>\n'
        "</Topology>\n"
        f'<Geometry GeometryType="{"XY" if gdim == 2 else "XYZ"}">\n'
        f'<DataItem DataType="Float" Dimensions="{points.shape[0]} {gdim}" Format="XML" Precision="8">\n'
        f'{_xml_array(points, "%.17g")}</DataItem>\n</Geometry>\n'
        '<Attribute Name="region" AttributeType="Scalar" Center="Cell">\n'
        f'<DataItem DataType="Int" Dimensions="{n}" Format="XML" Precision="4">\n{_xml_array(tags, "%d")}</DataItem>\n'
        "</Attribute>\n</Grid>\n</Domain>\n</Xdmf>\n"
    )


def write_xdmf(path, part) -> list[Path]:
    """``path`` (cells with their ``region`` tag, grid "mesh") and ``<stem>_facets.xdmf`` (clamp/port
    facets with their group tag, grid "facets"), XDMF 3 with XML data (no HDF5 needed; ParaView and
    meshio read it). Coordinates in metres; quadratic nodes reordered from gmsh to XDMF/VTK order."""
    pm = part.mesh
    if pm is None or pm.n_cells == 0:
        return []
    path = Path(path)
    pts = pm.points_m if part.dim == 3 else pm.points_m[:, :2]
    out = []
    for p, name, ctype, cells, tags in ((path, "mesh", pm.cell_type, pm.cells, pm.cell_tags),
                                        (path.with_name(f"{path.stem}_facets.xdmf"), "facets", pm.facet_type, pm.facets,
                                         pm.facet_tags)):
        if cells.size == 0:
            continue
        tmp = p.with_name(f".{p.name}.tmp")
        tmp.write_text(_xdmf_text(pts, ctype, cells, tags, name))
        os.replace(tmp, p)
        out.append(p)
    return out
