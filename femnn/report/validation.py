"""The validation report: ``results.json``, ``report.md``, ``report.html``, pictures and FEM field files.

Everything a user opens after ``femnn validate``/``crosscheck``/``converge`` is written here, from
the frozen results of :mod:`femnn.validation`. The run is written into a hidden staging directory inside
``out`` and moved into place entry by entry at the end: a failed or killed write leaves an earlier
run in ``out`` as it was.
"""

from __future__ import annotations

import html
import os
import re
import shutil
import tempfile
from pathlib import Path

import numpy as np

from femnn.report.files import atomic_write_json, atomic_write_text, versions
from femnn.report.plots import new_figure, save_figure

#: readable model names for pictures and tables
LABELS = {"bar": "bar model", "bar_calibrated": "bar model, calibrated (one factor)",
          "bar_calibrated_per_bond": "bar model, calibrated per bond", "fem2d": "FEM 2D (plane stress)",
          "fem3d": "FEM 3D (solid)"}


def label(name: str) -> str:
    return LABELS.get(name, f"imported: {name}")


def fmt(v, spec=".4g") -> str:
    """A table cell: '-' for None, yes/no for booleans, ``spec`` for floats."""
    if v is None:
        return "-"
    if isinstance(v, (bool, np.bool_)):
        return "yes" if v else "no"
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    if isinstance(v, (float, np.floating)):
        return "-" if not np.isfinite(v) else format(float(v), spec)
    return str(v)


def cell(text) -> str:
    """Markdown table cell text: pipes escaped so a '|g|' never splits a row."""
    return str(text).replace("|", "\\|").replace("\n", " ")


def table(header, rows) -> list[str]:
    """A Markdown table (every row padded or checked to the header's cell count)."""
    n = len(header)
    out = ["| " + " | ".join(cell(h) for h in header) + " |", "|" + "---|" * n]
    for r in rows:
        r = list(r)
        if len(r) != n:
            raise ValueError(f"table row has {len(r)} cells, header {n}: {r}")
        out.append("| " + " | ".join(cell(c) for c in r) + " |")
    return out


# ---- HTML ------------------------------------------------------------------------------------------
_NUM = re.compile(r"^[-+−]?(\d[\d,]*\.?\d*|\.\d+)([eE][-+]?\d+)?\s*(%|mm|m|s|kPa|Pa|x)?$")
CSS = """body{font-family:system-ui,sans-serif;max-width:1150px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:1em 0}th,td{border:1px solid #ccc;padding:3px 8px;font-size:13px;text-align:left;
vertical-align:top}th{background:#f3f3f3}td.num{text-align:right;white-space:nowrap;font-variant-numeric:tabular-nums}
img{max-width:100%;border:1px solid #eee}p em{color:#555}code{background:#f5f5f5;padding:0 3px}
.pass{color:#176d2c;font-weight:bold}.fail{color:#b00020;font-weight:bold}pre{background:#f7f7f7;padding:.5em}"""


def markdown_to_html(md_text: str, title: str) -> str:
    """A self-contained HTML page from femnn's Markdown (markdown-it-py with tables; numeric cells
    right-aligned and never wrapped mid-number, text left-aligned)."""
    from markdown_it import MarkdownIt

    md = MarkdownIt("commonmark", {"html": False}).enable("table")

    def td_open(self, tokens, idx, options, env):
        tok = tokens[idx]
        nxt = tokens[idx + 1] if idx + 1 < len(tokens) else None
        if nxt is not None and nxt.type == "inline" and _NUM.match(nxt.content.strip().replace("**", "")):
            tok.attrSet("class", "num")
        return self.renderToken(tokens, idx, options, env)

    md.add_render_rule("td_open", td_open)
    body = md.render(md_text)
    body = body.replace("<strong>PASS</strong>", "<strong class='pass'>PASS</strong>").replace(
        "<strong>FAIL</strong>", "<strong class='fail'>FAIL</strong>")
    return (f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            f"<style>{CSS}</style></head><body>\n{body}</body></html>\n")


# ---- staging ---------------------------------------------------------------------------------------
def _stage(out: Path, comm) -> Path:
    """A private staging directory INSIDE ``out`` (created if missing): the only place a user surely may
    write (``--out /out`` in a container: the parent ``/`` is not writable)."""
    if comm is None or comm.rank == 0:
        if out.exists() and not out.is_dir():
            from femnn.errors import InputError

            raise InputError(str(out), "", "is a file; give a directory for --out")
        out.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".partial-", dir=out))
    else:
        staging = None
    return comm.bcast(staging, root=0) if comm is not None else staging


def _commit(staging: Path, out: Path) -> None:
    """Move every entry of ``staging`` into ``out`` (replacing same-named entries), then drop staging;
    stale staging directories of killed runs go too."""
    # results.json last: a reader that sees it sees a complete run
    entries = sorted(staging.iterdir(), key=lambda p: p.name == "results.json")
    for src in entries:
        dst = out / src.name
        if dst.is_dir() and not dst.is_symlink():
            old = out / f".{src.name}.old-{os.getpid()}"
            os.replace(dst, old)
            os.replace(src, dst)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(src, dst)
    shutil.rmtree(staging, ignore_errors=True)
    for stale in out.glob(".partial-*"):
        shutil.rmtree(stale, ignore_errors=True)


# ---- pictures --------------------------------------------------------------------------------------
def plot_gradients(task, models: dict, reference: str, path: Path) -> Path:
    """Per-bond grouped bars of the in situ gradient e_adj ∘ e of every model (loss per N/m), bonds
    labelled 'b (i-j)', on a symmetric-log axis so small and large gradients are both readable."""
    names = [n for n, m in models.items() if m.gradient_k is not None]
    net = task.network
    nb = net.n_bonds
    fig, ax = new_figure((max(8, 0.42 * nb + 3), 4.8))
    width = 0.8 / max(len(names), 1)
    x = np.arange(nb)
    gmax = max(float(np.abs(models[n].gradient_k).max()) for n in names) or 1.0
    for k, n in enumerate(names):
        ax.bar(x - 0.4 + width * (k + 0.5), np.asarray(models[n].gradient_k), width, label=label(n),
               color=f"C{k}", edgecolor="k" if n == reference else "none", linewidth=0.6)
    ax.set_yscale("symlog", linthresh=gmax * 1e-2)
    ax.axhline(0, color="k", lw=0.6)
    ax.set_xticks(x, [f"{b} ({i}-{j})" for b, (i, j) in enumerate(net.bonds)], rotation=90, fontsize=7)
    ax.set_xlim(-0.6, nb - 0.4)
    ax.set_xlabel("bond (nodes)")
    ax.set_ylabel("e_adj ∘ e = ∂L/∂k  (loss per N/m, symlog)")
    ax.set_title(f"In situ gradient per bond (reference, outlined: {label(reference)})", fontsize=10)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return save_figure(fig, path)


def plot_deformed(task, models: dict, path: Path) -> Path:
    """The undeformed network (grey), each model's deformed shape (own colour, line style and hub
    marker, magnified by one common factor), supports, the load arrow, the output node(s); the legend
    sits outside the drawing and names each model with its output displacement."""
    net = task.network
    x = net.nodes_m * 1e3
    umax = max(float(np.abs(m.u_m).max()) for m in models.values()) * 1e3
    span = float(np.ptp(x, axis=0).max())
    s = 0.12 * span / max(umax, 1e-30)
    fig, ax = new_figure((9.5, 6))
    for i, j in net.bonds:
        ax.plot(*x[[i, j]].T, color="0.82", lw=4, solid_capstyle="round", zorder=1)
    styles = ["-", "--", ":", "-.", (0, (5, 1)), (0, (1, 1))]
    colours = ["C0", "C1", "C2", "C4", "C5", "C6", "C8"]   # red is the load's
    markers = ["o", "s", "^", "D", "v", "P", "X"]
    out_dof = task.output_dofs[0]
    for k, (name, m) in enumerate(models.items()):
        y = x + s * m.u_m * 1e3
        for b, (i, j) in enumerate(net.bonds):
            ax.plot(*y[[i, j]].T, ls=styles[k % len(styles)], color=colours[k % len(colours)], lw=1.3, zorder=2)
        uo = m.u_m.ravel()[out_dof] * 1e3
        ax.plot(*y.T, ls="none", marker=markers[k % len(markers)], ms=5, mfc="none", mec=colours[k % len(colours)], zorder=3,
                label=f"{label(name)}: u_{'xy'[out_dof % 2]}[{out_dof // 2}] = {uo:.4f} mm")
    ax.scatter(*x[net.fixed].T, marker="s", s=90, c="k", zorder=4, label="fixed (clamped) hubs")
    F = task.loads_N()[0]
    fmax = float(np.abs(F).max()) or 1.0
    for j in task.input_nodes:
        f = F[j] / fmax * 0.12 * span
        ax.annotate("", xy=x[j] + f, xytext=x[j], arrowprops=dict(arrowstyle="-|>", color="tab:red", lw=2), zorder=5)
        ax.annotate(f"{np.linalg.norm(F[j]) * 1e3:.3g} mN", x[j] + f, color="tab:red", fontsize=8, xytext=(4, -4),
                    textcoords="offset points")
    ax.plot([], [], color="tab:red", lw=2, label="load")
    on = np.unique(task.output_nodes)
    ax.scatter(*x[on].T, s=260, facecolors="none", edgecolors="tab:blue", lw=1.5, zorder=4, label="output node")
    for n, p in enumerate(x):
        ax.annotate(str(n), p, textcoords="offset points", xytext=(5, 5), fontsize=7, color="0.35")
    ax.set_aspect("equal")
    ax.set_xlabel("x (mm)")
    ax.set_ylabel("y (mm)")
    ax.set_title(f"Deformed shapes, displacements magnified x{s:.3g} (grey: undeformed)", fontsize=10)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return save_figure(fig, path)


def plot_fem_3d(path: Path, surface, task, name: str, magnification: float | None = None) -> Path:
    """Off-screen pyvista picture of the deformed 3D part coloured by von Mises stress (kPa), the
    undeformed outline, the supports, the load and the location of the largest stress in the part.
    ``surface``: :func:`femnn.fem.gather.boundary_surface` on rank 0."""
    os.environ.setdefault("VTK_DEFAULT_OPENGL_WINDOW", "vtkEGLRenderWindow")
    import pyvista as pv

    tris, disp, vals, (vmax, vmax_xyz) = surface
    m = tris.shape[0]
    pts = tris.reshape(-1, 3) * 1e3
    d = disp.reshape(-1, 3) * 1e3
    faces = np.column_stack([np.full(m, 3), np.arange(3 * m).reshape(m, 3)]).ravel()
    span = float(np.ptp(pts, axis=0).max())
    dmax = float(np.abs(d).max()) or 1.0
    mag = magnification or max(1.0, round(0.06 * span / dmax))
    undeformed = pv.PolyData(pts, faces).clean()      # merged corners: only true outline edges remain
    deformed = pv.PolyData(pts + mag * d, faces)
    deformed.cell_data["von Mises (kPa)"] = vals * 1e-3
    pl = pv.Plotter(off_screen=True, window_size=(1600, 1100))
    pl.set_background("white")
    outline = undeformed.extract_feature_edges(feature_angle=60, boundary_edges=True, non_manifold_edges=False,
                                               manifold_edges=False)
    pl.add_mesh(outline, color="gray", line_width=1.5, label="undeformed")
    pl.add_mesh(deformed, scalars="von Mises (kPa)", cmap="viridis", clim=(0.0, vmax * 1e-3),
                scalar_bar_args=dict(title="von Mises stress (kPa)", color="black", vertical=True, position_x=0.88,
                                     position_y=0.15, height=0.7, fmt="%.1f"))
    net = task.network
    t = float(tris[..., 2].max()) * 1e3 if tris.size else 0.0
    fixed = np.column_stack([net.nodes_m[net.fixed] * 1e3, np.full(len(net.fixed), t)])
    pl.add_points(fixed, color="black", point_size=28, render_points_as_spheres=True, label="supports (clamped hubs)")
    F = task.loads_N()[0]
    fmax = float(np.abs(F).max()) or 1.0
    for j in task.input_nodes:
        start = np.r_[net.nodes_m[j] * 1e3, t]
        direction = np.r_[F[j] / fmax, 0.0]
        pl.add_mesh(pv.Arrow(start=start, direction=direction, scale=0.15 * span), color="red")
    pl.add_point_labels([np.asarray(vmax_xyz) * 1e3 + mag * 0], [f"max {vmax * 1e-3:.1f} kPa"], point_size=14,
                        point_color="magenta", font_size=22, text_color="black", always_visible=True,
                        shape_opacity=0.7)
    pl.add_text(f"{name}: deformed part (displacement x{mag:g}; grey: undeformed outline), von Mises stress; "
                f"max {vmax * 1e-3:.1f} kPa\nred arrow: load; black dots: supports (clamped hubs)", font_size=11,
                color="black", position="upper_left")
    pl.view_xy()
    pl.camera.elevation = -25
    pl.camera.azimuth = 0
    pl.reset_camera()
    pl.camera.zoom(1.1)
    tmp = path.with_name(f".{path.stem}.tmp.png")
    pl.screenshot(str(tmp))
    pl.close()
    tmp.replace(path)
    return path


def write_fem_files(out: Path, task, name: str, res, fields, comm) -> list[Path]:
    """Files of one FEM model (collective; rank 0 writes the non-parallel ones): ``<name>_fields.bp``
    and ``<name>_fields_von_mises.bp`` (VTX, ParaView), ``<name>_comsol.txt`` (displacement at the mesh
    vertices in COMSOL's text format, mm; ``femnn crosscheck --compare`` reads it back),
    ``<name>_von_mises.png`` (2D: every cell; 3D: the top face) and, in 3D, ``<name>_deformed_3d.png``."""
    import femnn.fem as fem
    from femnn.crosscheck.comsol import write_comsol_text
    from femnn.fem.gather import boundary_surface, surface_triangles, vertex_displacement
    from femnn.report.plots import plot_cell_field

    paths = list(fem.write_fields(comm, out / f"{name}_fields", fields) or [])
    g = vertex_displacement(comm, fields.u)
    tri = surface_triangles(comm, fields.von_mises)
    surf = boundary_surface(comm, fields.u, fields.von_mises) if fields.u.function_space.mesh.topology.dim == 3 else None
    if comm.rank == 0:
        is3d = g[0].shape[1] == 3
        paths.append(write_comsol_text(out / f"{name}_comsol.txt", g[0], g[1], model=f"femnn {name} {task.name}",
                                       description=f"Displacement field at the mesh vertices (femnn {name}, P{res.degree} "
                                                   f"Lagrange, {res.dofs} DOFs), X/Y{'/Z' if is3d else ''} components"))
        where = "top face z = t; the maximum may lie below it" if is3d else "plane stress"
        paths.append(plot_cell_field(tri[0], tri[1] * 1e-3, out / f"{name}_von_mises.png", label="von Mises stress (kPa)",
                                     title=f"{label(name)}: von Mises stress ({where});\nmax in the whole part "
                                           f"{res.von_mises_max_Pa * 1e-3:.3g} kPa", nodes=task.network.nodes_m))
        if surf is not None:
            paths.append(plot_fem_3d(out / f"{name}_deformed_3d.png", surf, task, label(name)))
    return paths


# ---- the report --------------------------------------------------------------------------------------
def _models_table(v) -> list[str]:
    rows = []
    for name, m in v.models.items():
        cal = getattr(m, "calibration_factor", None)
        if name == "bar_calibrated_per_bond" and v.calibration is not None and v.calibration.factor_per_bond is not None:
            f = v.calibration.factor_per_bond
            cal_s = f"per bond {np.min(f):.4f} to {np.max(f):.4f}"
        else:
            cal_s = fmt(cal, ".4f")
        rows.append([label(name), f"`{name}`", fmt(m.loss), fmt(getattr(m, "dofs", None)), fmt(getattr(m, "degree", None)),
                     fmt(getattr(m, "seconds_forward", None), ".3g"), fmt(getattr(m, "seconds_adjoint", None), ".3g"), cal_s,
                     getattr(m, "calibrated_to", None) or "-"])
    return table(["model", "name", "loss", "DOFs", "degree", "forward (s)", "adjoint (s)", "stiffness factor", "fitted to"],
                 rows)


def _calibration_section(v) -> list[str]:
    fit = v.calibration
    rows = v.crosscheck.rows
    f = fit.factor_per_bond
    lines = [f"The bar model's stiffnesses fitted to `{fit.calibrated_to}`'s hub compliance ({fit.load_cases} unit-force "
             "cases, one on each free DOF, all solved on the FEM's one factorisation). The global factor c = "
             "(u_bar·u_bar)/(u_bar·u_FEM) over all cases is the factor of `bar_calibrated` in the Models table (one "
             "fit, one number). Misfit: relative RMS of the hub displacements over all cases.", ""]
    body = [["`bar`", "k = E w t / l", fmt(fit.rms("uncalibrated"), ".2%"), "-", fmt(rows["bar"]["u_outputs_rel_error"], ".2%")],
            ["`bar_calibrated`", f"one factor {fit.global_factor:.4f}", fmt(fit.rms("global"), ".2%"),
             fmt(1 - fit.rms("global") / fit.rms("uncalibrated"), ".0%"),
             fmt(rows["bar_calibrated"]["u_outputs_rel_error"], ".2%")]]
    if f is not None:
        body.append(["`bar_calibrated_per_bond`", f"one factor per bond, {np.min(f):.3f} to {np.max(f):.3f}",
                     fmt(fit.rms("per_bond"), ".2%"), fmt(1 - fit.rms("per_bond") / fit.rms("uncalibrated"), ".0%"),
                     fmt(rows["bar_calibrated_per_bond"]["u_outputs_rel_error"], ".2%")])
    lines += table(["bar model", "stiffness", "misfit (RMS)", "gap removed", "task outputs vs reference"], body)
    if f is not None:
        order = np.argsort(np.abs(np.log(np.asarray(f) / fit.global_factor)))[::-1][:3]
        lines += ["", "Bonds whose fitted factor departs most from the global one: "
                  + ", ".join(f"bond {b} ({f[b]:.3f})" for b in order) + "."]
    return lines


def _width_fd_section(rows) -> list[str]:
    lines = ["dL/dw (loss per metre of width) by finite differences of the remeshed part, against chain rules at the "
             "base widths through k = E w t / l: the FEM's exact dL/ds / w, the in situ rule (e_adj e)_FEM k / w, and "
             "the bar model's (e_adj e)_bar k / w. The in situ rule uses hub-centre elongations, which include "
             "the hubs' and joints' compliance, so it exceeds the FEM's exact value by about 1/(phi c) (c: calibration "
             "factor, phi: the bond region's share of the compliance), nearly the same factor for every bond, which keeps "
             "signs and ranking. A bond region's modulus scale s is not exactly a width change (hubs and joins stay), so "
             "the first two differ from the remeshed difference by the geometry's share.", ""]
    body = []
    for r in rows:
        ratio = r["fem_gradient_s"] / r["fd"] if r["fd"] else float("nan")
        body.append([r["bond"], f"{r['nodes'][0]}-{r['nodes'][1]}", f"{r['width_m'] * 1e3:.4g}", r["scheme"],
                     f"{r['fd']:.4g} ± {r['fd_spread']:.2g}", f"{r['fem_gradient_s']:.4g}", f"{r['fem_bar_form']:.4g}",
                     f"{r['bar']:.4g}", fmt(ratio, ".3f")])
    return lines + table(["bond", "nodes", "w (mm)", "scheme", "remeshed FD ± spread (h vs 2h)", "FEM dL/ds / w",
                          "in situ (FEM e)", "bar", "FEM s / FD"], body)


def _tail(v, images, files) -> list[str]:
    """Pictures (captioned), the run's files (linked), the settings used and the provenance."""
    md = ["", "## Pictures", ""]
    for f, cap in images:
        md += [f"![{cap}]({f})", "", f"*{cap}*", ""]
    md += ["## Files of this run", ""]
    md += table(["file", "what it holds"], [[f"[{f}]({f})", what] for f, what in files])
    md += ["", "## Settings (the values used)", ""]
    md += table(["setting", "value"], [[k, fmt(val)] for k, val in v.settings.items() if k != "tolerances"])
    md += ["", "Tolerances: " + ", ".join(f"{k} = {val}" for k, val in v.settings.get("tolerances", {}).items()) + "."]
    md += ["", "## Provenance", ""] + table(["package", "version"], [[k, fmt(val)] for k, val in versions().items()])
    return md


def _single_task_table(v) -> list[str]:
    from femnn.train.metrics import single_load_task_record

    t = v.task
    labels = [f"u_{'xy'[d % 2]}[{d // 2}] (mm)" for d in t.output_dofs]
    rows = []
    for name, m in v.models.items():
        r = single_load_task_record(t, m.u_m)
        extra = [fmt(r.get("ratio"), ".4f")] if t.is_classification else [fmt(r.get("error"), ".4f")]
        rows.append([label(name)] + [f"{u * 1e3:.4f}" for u in r["u_out"]] + extra + [fmt(r["loss"])])
    head = ["model"] + labels + (["ratio chosen/other"] if t.is_classification else ["target error (relative)"]) + ["loss"]
    out = table(head, rows)
    if not t.is_classification:
        out += ["", "Targets: " + ", ".join(f"{lab} = {y * 1e3:.4f}" for lab, y in zip(labels, np.ravel(t.Y[0]))) + "."]
    if v.settings.get("widths"):
        out += ["", "A trained run: at the optimum most gradients are small or pinned at a width bound, so the gradient "
                "checks use only the bonds not at a bound and the verdict rests on the task metrics."]
    return out


def _promise_line(v) -> str:
    """Against what the FEM models' task metrics are checked: the bar model, or the forward model a
    physics-aware run was trained in (its recorded final metrics)."""
    src = (v.settings.get("promise") or {}).get("source", "the bar model")
    if src == "the bar model":
        return "The printed part's task metrics (FEM) are checked against the bar model's promise for these widths."
    return (f"These widths come from physics-aware training: the printed part's task metrics (FEM) are checked "
            f"against what that training promised, {src}'s metrics at the final widths (fem_history.json), not against the bar model.")


def data_report_markdown(v, images, files) -> str:
    """The report of a data task (regression, classification): task metrics of every model side by
    side, the transfer matrices' agreement, the checks."""
    t = v.task
    ref = v.reference
    md = [f"# femnn task validation: `{t.name}`", "",
          f"Verdict: **{'PASS' if v.passed else 'FAIL'}** (reference model: `{ref}`, {label(ref)}; "
          f"{v.settings.get('split', '')})", "",
          "Every model is a linear map from the inputs to the outputs: its transfer matrix T (outputs per unit input) "
          "comes from one factorisation and one solve per input column, and every sample's outputs are X Tᵀ.", "",
          _promise_line(v), "", "## Checks", ""]
    md += table(["check", "value", "tolerance", "result"],
                [[c.check, fmt(c.value), fmt(c.tolerance), "pass" if c.passed else "**FAIL**"] for c in v.checks])
    md += ["", "## The task, model by model", ""]
    recs = {n: m.record for n, m in v.models.items()}
    if t.is_classification:
        keys = [k for k in ("train_accuracy", "test_accuracy", "accuracy", "loss", "test_loss") if k in recs["bar"]]
    else:
        keys = [k for k in ("train_error", "test_error", "error", "loss", "test_loss") if k in recs["bar"]]
    md += table(["model", "DOFs"] + [k.replace("_", " ") for k in keys] + ["transfer vs reference"],
                [[label(n), fmt(v.models[n].dofs)] + [fmt(recs[n][k], ".4g") for k in keys]
                 + [fmt(v.crosscheck.rows.get(n, {}).get("transfer_rel_error"), ".2%") if n != ref else "reference"]
                 for n in v.models])
    if v.calibration is not None:
        fit = v.calibration
        md += ["", f"Calibration: the bar model's stiffness fitted to `{fit.calibrated_to}`'s hub compliance "
               f"({fit.load_cases} unit loads on its one factorisation): global factor {fit.global_factor:.4f} "
               f"(misfit {fmt(fit.rms('uncalibrated'), '.2%')} -> {fmt(fit.rms('global'), '.2%')}"
               + (f", per bond {fmt(fit.rms('per_bond'), '.2%')}" if fit.misfit_per_bond is not None else "") + ")."]
    return "\n".join(md + _tail(v, images, files)) + "\n"


def plot_task(v, path: Path) -> Path:
    """Classification: one confusion matrix per model (test set, or all samples); regression: every
    model's outputs against the targets (one panel per output)."""
    t = v.task
    names = list(v.models)
    if t.is_classification:
        keys = [k for k in ("confusion_train", "confusion_test", "confusion") if k in v.models["bar"].record]
        fig, axs = new_figure((2.9 * len(names) + 0.8, 2.9 * len(keys) + 0.6), nrows=len(keys), ncols=len(names),
                              squeeze=False)
        fig.set_layout_engine("constrained")
        names_c = list(t.class_names) or [str(i) for i in range(t.output_dofs.size)]
        for r, key in enumerate(keys):
            for c, n in enumerate(names):
                ax = axs[r][c]
                C = np.asarray(v.models[n].record[key])
                ax.imshow(C, cmap="Blues")
                for (i, j), cnt in np.ndenumerate(C):
                    ax.text(j, i, str(cnt), ha="center", va="center", fontsize=9,
                            color="white" if cnt > 0.6 * C.max() else "black")
                acc = np.trace(C) / max(C.sum(), 1)
                ax.set_title(f"{label(n)}\n{key.replace('confusion_', '').replace('confusion', 'all')}: accuracy {acc:.3f}",
                             fontsize=8)
                ax.set_xticks(range(C.shape[0]), names_c if r == len(keys) - 1 else [], fontsize=7, rotation=30)
                ax.set_yticks(range(C.shape[0]), names_c if c == 0 else [], fontsize=7)
                if r == len(keys) - 1:
                    ax.set_xlabel("predicted", fontsize=8)
                if c == 0:
                    ax.set_ylabel("true", fontsize=8)
        fig.suptitle(f"{t.name}: confusion matrices (rows: true class, columns: predicted)", fontsize=10)
    else:
        n_out = t.output_dofs.size
        fig, axs = new_figure((3.6 * n_out, 3.4), ncols=n_out, squeeze=False)
        for c, ax in enumerate(axs[0]):
            y = t.Y[:, c] * 1e3
            for k, n in enumerate(names):
                u = (t.X @ v.models[n].T.T)[:, c] * 1e3
                ax.plot(y, u, "o", ms=3, mfc="none", label=label(n), color=f"C{k}")
            lim = [min(y.min(), 0), max(y.max(), 0)] if y.size else [0, 1]
            ax.plot(lim, lim, "k--", lw=0.7)
            d = t.output_dofs[c]
            ax.set_xlabel(f"target u_{'xy'[d % 2]}[{d // 2}] (mm)")
            ax.set_ylabel("model output (mm)")
        axs[0][-1].legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
        fig.suptitle(f"{t.name}: outputs against targets, every sample", fontsize=10)
    return save_figure(fig, path)


def report_markdown(v, images: list[tuple[str, str]], files: list[tuple[str, str]]) -> str:
    """The report's Markdown. ``images``: (file, caption); ``files``: (path, what it holds)."""
    if v.task.kind != "single":
        return data_report_markdown(v, images, files)
    task, net = v.task, v.task.network
    ref = v.reference
    md = [f"# femnn cross-check: `{task.name}`", "",
          f"Verdict: **{'PASS' if v.passed else 'FAIL'}** (reference model: `{ref}`, {label(ref)})", "",
          _promise_line(v), "", "## Checks", ""]
    md += table(["check", "value", "tolerance", "result"],
                [[c.check, fmt(c.value), fmt(c.tolerance), "pass" if c.passed else "**FAIL**"] for c in v.checks])
    md += ["", "## Models", ""] + _models_table(v)
    md += ["", f"## Agreement with `{ref}`", ""]
    md += table(["model", "u at outputs", "u at free nodes", "elongations", "gradient", "Spearman", "signs agree"],
                [[label(n), fmt(r["u_outputs_rel_error"], ".2%"), fmt(r["u_free_nodes_rel_error"], ".2%"),
                  fmt(r["elongation_rel_error"], ".2%"), fmt(r.get("gradient_rel_error"), ".2%"),
                  fmt(r.get("gradient_spearman"), ".4f"), fmt(r.get("gradient_sign_agreement"), ".0%")]
                 for n, r in v.crosscheck.rows.items()])
    if v.calibration is not None:
        md += ["", "## Calibration: effective bond stiffness", ""] + _calibration_section(v)
    if v.width_gradients:
        md += ["", "## Width gradients by remeshing", ""] + _width_fd_section(v.width_gradients)
    md += ["", "## The task, model by model", ""] + _single_task_table(v)
    names = list(v.models)
    md += ["", "## Hub displacements (mm)", ""]
    body = []
    for i in range(net.n_nodes):
        tag = " (fixed)" if i in net.fixed else (" (output)" if i in task.output_nodes else (" (load)" if i in task.input_nodes else ""))
        body.append([f"{i}{tag}"] + [f"{v.models[n].u_m[i, c] * 1e3:.5f}" for n in names for c in (0, 1)])
    md += table(["node"] + [f"{n} u_{c}" for n in names for c in "xy"], body)
    md += ["", "## Bonds: elongation (mm) and in situ gradient e_adj ∘ e (loss per N/m)", ""]
    body = []
    for b, (i, j) in enumerate(net.bonds):
        row = [b, f"{i}-{j}"]
        for n in names:
            g = v.models[n].gradient_k
            row += [f"{v.models[n].elongation_m[b] * 1e3:.5f}", "-" if g is None else format(g[b], ".4g")]
        body.append(row)
    md += table(["bond", "nodes"] + [f"{n} {q}" for n in names for q in ("e", "g")], body)
    return "\n".join(md + _tail(v, images, files)) + "\n"


def results_dict(v) -> dict:
    """``results.json``: the :class:`~femnn.validation.Validation` plus provenance."""
    d = v.to_dict()
    d["versions"] = versions()
    return d


def write_validation(out: Path, v, comm=None) -> list[Path]:
    """Write a :class:`~femnn.validation.Validation` into ``out`` (see the module docstring)."""
    staging = _stage(out, comm)
    written: list[Path] = []
    images: list[tuple[str, str]] = []
    files: list[tuple[str, str]] = [("results.json", "every number of this report (SI units), settings, versions"),
                                    ("report.md", "this report as Markdown")]
    try:
        for name, flds in v.fields.items():
            res = v.models[name]
            ps = write_fem_files(staging, v.task, name, res, flds, comm)
            written += ps
            if comm is None or comm.rank == 0:
                for p in ps:
                    if p.suffix == ".png":
                        cap = (f"{label(name)}: deformed 3D part coloured by von Mises stress, its maximum labelled"
                               if "3d" in p.stem else f"{label(name)}: von Mises stress")
                        images.append((p.name, cap))
                    elif p.suffix == ".txt":
                        files.append((p.name, f"{name}: displacement at the mesh vertices, COMSOL text format (mm)"))
                    elif p.suffix == ".bp":
                        files.append((p.name, f"{name}: fields for ParaView (VTX/ADIOS2)"))
        if comm is not None:
            comm.Barrier()
        if comm is None or comm.rank == 0:
            if v.task.kind != "single":
                plot_task(v, staging / "task.png")
                images.insert(0, ("task.png", "The task in every model: " + ("confusion matrices" if v.task.is_classification
                                                                          else "outputs against the targets")))
            elif any(m.gradient_k is not None for m in v.models.values()):
                plot_gradients(v.task, v.models, v.reference, staging / "gradients.png")
                images.insert(0, ("gradients.png", "In situ gradient e_adj ∘ e per bond, every model (symlog axis)"))
            if v.task.kind == "single":
                plot_deformed(v.task, v.models, staging / "deformed.png")
                images.insert(0, ("deformed.png", "Deformed shapes of every model, one common magnification"))
            if v.export is not None and v.export.passed and v.export.staging_dir is not None:
                shutil.move(str(v.export.staging_dir), str(staging / "part"))
                os.chmod(staging / "part", 0o755)  # mkdtemp made it private
                files.append(("part/", "the printable part: part.stl, part.3mf (mm), mesh.msh, summary.json, preview.png"))
            text = report_markdown(v, images, files)
            written.append(atomic_write_text(staging / "report.md", text))
            written.append(atomic_write_text(staging / "report.html", markdown_to_html(text, f"femnn cross-check {v.task.name}")))
            written.append(atomic_write_json(staging / "results.json", results_dict(v)))
            _commit(staging, out)
    except BaseException:
        if comm is None or comm.rank == 0:
            shutil.rmtree(staging, ignore_errors=True)
            if out.is_dir() and not any(out.iterdir()):
                out.rmdir()   # nothing of an earlier run was there: leave nothing behind
        raise
    if comm is not None:
        comm.Barrier()
    return [out / p.name for p in written]


def write_convergence(out: Path, c) -> list[Path]:
    """``convergence.json`` (SI) and ``convergence.md`` (mm for displacements, stated in every header)."""
    t = c.task
    out.mkdir(parents=True, exist_ok=True)
    p1 = atomic_write_json(out / "convergence.json", c.to_dict())
    md = [f"# Mesh convergence: {t.name}, {c.dim}D, P{c.degree}", "",
          "Displacements in mm, the loss in its own units; the JSON file holds the same numbers in metres.", ""]
    md += table(["level", "DOFs", "loss"] + [f"u_{'xy'[d % 2]}[{d // 2}] (mm)" for d in t.output_dofs],
                [[r["level"], r["dofs"], f"{r['loss']:.6g}"] + [f"{u * 1e3:.6f}" for u in r["u_out"]] for r in c.levels])
    md += [""]
    rows = []
    for k, val in c.richardson.items():
        if k == "gradient_k":
            continue
        s = 1e3 if k.startswith("u_") else 1.0
        unit = " (mm)" if k.startswith("u_") else ""
        rows.append([k + unit, "-" if val["order"] is None else f"{val['order']:.2f}", f"{val['extrapolated'] * s:.8g}",
                     f"{val['error_bar'] * s:.2g}"])
    md += table(["quantity", "observed order", "Richardson value", "error bar"], rows)
    p2 = atomic_write_text(out / "convergence.md", "\n".join(md) + "\n")
    return [p1, p2]
