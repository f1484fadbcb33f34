"""A PNG preview of a part (matplotlib, Agg canvas: no display, no global backend switch)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np


def write_preview(path, part, *, mesh_edges_max: int = 60000, title: str | None = None) -> Path:
    """Top view in mm: bonds coloured by width, hubs grey (fixed dark, loaded red rim, outputs blue
    rim), printing aids, and the mesh edges (2D mesh or the top face of the 3D surface) when the
    mesh is small enough to read."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.collections import PatchCollection, PolyCollection
    from matplotlib.colors import Normalize
    from matplotlib.figure import Figure
    from matplotlib.patches import Circle, Wedge

    lay = part.layout
    net = lay.network
    fig = Figure(figsize=(10, 7), dpi=120)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    # the colour scale spans the widths actually present (all equal: one colour, said in the colour bar)
    w_mm = net.widths_m * 1e3
    lo, hi = float(w_mm.min()), float(w_mm.max())
    uniform = hi - lo <= 1e-9 * max(hi, 1e-12)
    norm = Normalize(lo - 0.5, hi + 0.5) if uniform else Normalize(lo, hi)
    polys = [np.vstack(lay.bond_sides(b)) * 1e3 for b in range(net.n_bonds)]
    pc = PolyCollection(polys, array=net.widths_m * 1e3, cmap="viridis", norm=norm, edgecolors="none")
    ax.add_collection(pc)
    aid_polys, rings = [], []
    for ad in lay.aids:
        o = lay.aid_outline(ad)
        aid_polys.append(np.array([o["rim_right"], o["end_right"], o["end_left"], o["rim_left"]]) * 1e3)
        if ad.kind == "eyelet":
            c = o["centre"] * 1e3
            rings.append(Wedge(c, ad.ring_radius_m * 1e3, 0, 360, width=(ad.ring_radius_m - ad.hole_radius_m) * 1e3))
    ax.add_collection(PolyCollection(aid_polys, facecolors="0.55", edgecolors="none"))
    ax.add_collection(PatchCollection(rings, facecolors="0.55", edgecolors="none"))
    R = lay.hub_radius_m * 1e3
    fixed, loads, outs = set(part.fixed_nodes.tolist()), set(part.load_nodes.tolist()), set(part.output_nodes.tolist())
    hubs = [Circle(x * 1e3, R) for x in net.nodes_m]
    face = ["0.2" if a in fixed else "0.6" for a in range(net.n_nodes)]
    edge = ["tab:red" if a in loads else "tab:blue" if a in outs else "none" for a in range(net.n_nodes)]
    ax.add_collection(PatchCollection(hubs, facecolors=face, edgecolors=edge, linewidths=1.5))
    pm = part.mesh
    if pm is not None:
        if part.dim == 2 and 0 < pm.n_cells <= mesh_edges_max:
            tri = pm.cells[:, :3]
        elif part.dim == 3 and pm.surface_triangles.size:
            z = pm.points_m[:, 2]
            st = pm.surface_triangles
            tri = st[np.all(np.isclose(z[st], part.thickness_m), axis=1)]
            tri = tri if len(tri) <= mesh_edges_max else tri[:0]
        else:
            tri = np.zeros((0, 3), dtype=int)
        if len(tri):
            x, y = pm.points_m[:, 0] * 1e3, pm.points_m[:, 1] * 1e3
            ax.triplot(x, y, tri, color="k", lw=0.15, alpha=0.35)
    if net.n_nodes <= 60:
        for a, x in enumerate(net.nodes_m * 1e3):
            ax.annotate(str(a), x, color="w", fontsize=7, ha="center", va="center")
    lbl = {"fixed": fixed, "load": loads, "output": outs}
    legend = ", ".join(f"{k}: {sorted(v)}" for k, v in lbl.items() if v)
    bb = part.bbox_m * 1e3
    size = bb[1] - bb[0]
    if pm is None:
        mesh_txt = "not meshed"
    elif pm.n_cells:
        mesh_txt = f"{pm.n_cells} {pm.cell_type} elements"
    else:
        mesh_txt = f"surface only, {pm.n_triangles} triangles"
    ax.set_title(title or (f"{net.name}: {part.dim}D part, {net.n_bonds} bonds, hub R {R:.3g} mm, neck "
                           f"{lay.neck_length_m * 1e3:.3g} mm\n{size[0]:.1f} x {size[1]:.1f} x {size[2]:.1f} mm, "
                           f"{part.volume_m3 * 1e9:.0f} mm$^3$, {mesh_txt}; {legend}"),
                 fontsize=9)
    if uniform:
        cb = fig.colorbar(pc, ax=ax, label=f"bond width (mm): every bond {lo:.3g} mm", shrink=0.7)
        cb.set_ticks([lo])
    else:
        fig.colorbar(pc, ax=ax, label=f"bond width (mm), {lo:.3g} to {hi:.3g}", shrink=0.7)
    from matplotlib.lines import Line2D

    roles = [Line2D([], [], ls="none", marker="o", ms=9, mfc="0.2", mec="none", label="fixed hub"),
             Line2D([], [], ls="none", marker="o", ms=9, mfc="0.6", mec="none", label="free hub")]
    if loads:
        roles.append(Line2D([], [], ls="none", marker="o", ms=9, mfc="0.6", mec="tab:red", mew=1.5, label="loaded hub"))
    if outs:
        roles.append(Line2D([], [], ls="none", marker="o", ms=9, mfc="0.6", mec="tab:blue", mew=1.5, label="output hub"))
    ax.legend(handles=roles, fontsize=8, loc="upper left", bbox_to_anchor=(0.0, -0.08), ncol=len(roles), frameon=False)
    pad = R
    ax.set_xlim(bb[0, 0] - pad, bb[1, 0] + pad)
    ax.set_ylim(bb[0, 1] - pad, bb[1, 1] + pad)
    ax.set_aspect("equal")
    ax.set_xlabel("x (mm)")
    ax.set_ylabel("y (mm)")
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp.png")
    fig.savefig(tmp, format="png", bbox_inches="tight")
    os.replace(tmp, path)
    return path
