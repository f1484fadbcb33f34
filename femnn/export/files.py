"""The other files of a build: ``summary.json`` (mm keys) and the mesh as XDMF (meshio, XML data)."""

from __future__ import annotations

import contextlib
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


def region_names(tags) -> dict:
    """{tag: name} of the cell or facet tags present (``bond_3``, ``hub_12``, ``clamp``, ...)."""
    from femnn.part import tags as T

    facet = {v: k for k, v in T.FACET_TAGS.items()}
    out = {}
    for t in np.unique(np.asarray(tags, dtype=np.int64)).tolist():
        if t in facet and t < T.REGION_TAG_OFFSET[T.BOND]:
            out[int(t)] = facet[t]
        else:
            kind, idx = T.region_of_tag(int(t))
            out[int(t)] = T.region_name(kind, idx)
    return out


def write_xdmf(path, part) -> list[Path]:
    """The part's mesh for ParaView/pyvista/meshio, written by meshio (XDMF 3 + HDF5, metres, one time
    step so that VTK-based readers open it; ``meshio.xdmf.TimeSeriesReader`` reads it back):
    ``path`` (cells, grid "mesh") and ``<stem>_facets.xdmf`` (clamp/port facets). Each cell carries
    ``region`` (its tag, femnn.part.tags), ``region_kind`` (0 bond, 1 hub, 2 tab, 3 eyelet; for facets
    the group tag) and ``region_index`` (the bond or node number), so a ParaView threshold picks
    "bond 7" without a lookup table; ``<stem>_regions.json`` maps every tag to its name."""
    import meshio

    from femnn.part import tags as T
    from femnn.report.files import atomic_write_json

    pm = part.mesh
    if pm is None or pm.n_cells == 0:
        return []
    path = Path(path)
    pts = pm.points_m if part.dim == 3 else pm.points_m[:, :2]
    kinds = [T.BOND, T.HUB, T.TAB, T.EYELET]
    out, names = [], {}
    for p, ctype, cells, tags, is_facet in ((path, pm.cell_type, pm.cells, pm.cell_tags, False),
                                            (path.with_name(f"{path.stem}_facets.xdmf"), pm.facet_type, pm.facets,
                                             pm.facet_tags, True)):
        if cells.size == 0:
            continue
        tags = np.asarray(tags, dtype=np.int64)
        if is_facet:
            kind, index = tags.astype(np.int32), np.zeros(tags.size, dtype=np.int32)
        else:
            ki = [T.region_of_tag(int(t)) for t in tags]
            kind = np.array([kinds.index(k) for k, _ in ki], dtype=np.int32)
            index = np.array([i for _, i in ki], dtype=np.int32)
        names.update({("facet " if is_facet else "") + str(t): n for t, n in region_names(tags).items()})
        tmp = p.with_name(f".tmp-{p.name}")
        # a one-step temporal collection: ParaView/pyvista (VTK's XDMF reader) want a time value, which
        # meshio's plain XDMF lacks; meshio reads it back with meshio.xdmf.TimeSeriesReader. meshio 5.3
        # opens the HDF5 file relative to the working directory (not the XDMF's), hence the chdir.
        with contextlib.chdir(tmp.parent), meshio.xdmf.TimeSeriesWriter(tmp.name) as w:
            w.write_points_cells(pts, [(ctype, cells)])
            w.write_data(0.0, cell_data={"region": [tags.astype(np.int32)], "region_kind": [kind], "region_index": [index]})
        os.replace(tmp, p)
        h5 = tmp.with_suffix(".h5")
        if h5.exists():  # meshio names the heavy data after the XDMF file: keep the pair together
            os.replace(h5, p.with_suffix(".h5"))
            text = p.read_text(encoding="utf-8").replace(h5.name, p.with_suffix(".h5").name)
            p.write_text(text, encoding="utf-8")
            out.append(p.with_suffix(".h5"))
        out.append(p)
    out.append(atomic_write_json(path.with_name(f"{path.stem}_regions.json"),
                                 {"tags": names, "region_kind": {str(i): k for i, k in enumerate(kinds)},
                                  "facet_groups": T.FACET_TAGS}))
    return out
