"""Network or task -> the printable part's files: gmsh mesh with named groups, STL/3MF (mm), summary, preview.

:func:`build_files` is what ``femnn build`` runs and what ``femnn validate`` calls for its printable
export. Every check (:func:`femnn.export.check_part`) runs before the first file is written, so a
failed check writes nothing and raises :class:`~femnn.export.ExportCheckError`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class BuildResult:
    """The files written (paths) and the ``summary.json`` content (geometry in mm, mesh facts, checks)."""

    out_dir: Path
    files: tuple
    summary: dict


def build_files(target, out, *, dim: int = 3, hub_radius_m=None, neck_length_m=None, thickness_m=None,
                elements_across_neck: int = 3, refine: int = 0, order: int = 1, surface_only: bool = False,
                tabs: bool = False, eyelets: bool = False, min_feature_m: float | None = 0.3e-3, preview: bool = True,
                extra: dict | None = None) -> BuildResult:
    """Build the part of ``target`` (a :class:`~femnn.network.Task`, whose loaded and output hubs become
    the ``load_port``/``output_port`` groups, or a :class:`~femnn.network.Network`) and write its files
    into ``out``: ``mesh.msh`` (physical groups), ``mesh.xdmf``, ``summary.json``, ``preview.png`` and,
    in 3D, ``part.stl`` and ``part.3mf`` (mm)."""
    import femnn.export as ex
    import femnn.part as fp

    t_start = time.perf_counter()
    out = Path(out)
    with fp.gmsh_session():
        part = fp.build(target, dim=dim, hub_radius_m=hub_radius_m, neck_length_m=neck_length_m,
                        thickness_m=thickness_m, elements_across_neck=elements_across_neck, refine=refine,
                        order=order, surface_only=surface_only, tabs=tabs, eyelets=eyelets)
        report = ex.check_part(part, min_feature_m)
        out.mkdir(parents=True, exist_ok=True)
        files = []
        if not (dim == 3 and surface_only):
            msh = out / "mesh.msh"
            tmp = out / ".mesh.msh.tmp.msh"
            fp.write_msh(tmp)
            tmp.replace(msh)
            files.append(msh)
    if dim == 3:
        prints = [out / "part.stl", out / "part.3mf"]
        ex.export(part, prints, report=report)
        files += prints
    files += ex.write_xdmf(out / "mesh.xdmf", part)
    if preview:
        files.append(ex.write_preview(out / "preview.png", part))
    files.append(out / "summary.json")
    data = ex.summary(part, report, files=[f.name for f in files], extra=extra)
    data["timings_s"]["total_s"] = time.perf_counter() - t_start
    ex.write_summary(out / "summary.json", data)
    return BuildResult(out, tuple(files), data)
