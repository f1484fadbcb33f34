"""The lab bench's human-facing files: the lab sheet (``femnn protocol``), the measurement report and
overlays (``femnn measure``) and the calibration report and twin files (``femnn calibrate``).

The numbers come from :mod:`femnn.lab` (protocol records, :class:`~femnn.lab.measurement.Measurement`,
:class:`~femnn.lab.calibrate.Calibration`); this module only turns them into files a user opens.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from femnn.network import Task

if TYPE_CHECKING:
    from femnn.lab.calibrate import Calibration
    from femnn.lab.measure import Analysis


# ---- the lab sheet (femnn protocol) ------------------------------------------------------------------
def plot_state(network, rows, path, *, title: str = "", u_m=None, output_nodes=()) -> "Path":
    """The part as the lab sees it (y up, node numbers), where to hang what: an arrow per weight in its
    direction labelled with the grams to hang (dashed: not a plain hanging weight, see the sheet), fixed
    nodes as glued squares, outputs circled; optionally the expected deformed shape, magnified."""
    from pathlib import Path

    from femnn.report.plots import new_figure

    x = network.nodes_m * 1e3
    span = float(np.ptp(x, axis=0).max())
    fig, ax = new_figure((7, 5.5))
    for (i, j), w in zip(network.bonds, network.widths_m):
        ax.plot(*x[[i, j]].T, color="0.55", lw=1.5 + 2.5 * w / network.width_bounds_m[1], solid_capstyle="round", zorder=1)
    if u_m is not None:
        u = np.asarray(u_m) * 1e3
        mag = 0.12 * span / max(np.abs(u).max(), 1e-12)
        y = x + mag * u
        for i, j in network.bonds:
            ax.plot(*y[[i, j]].T, color="tab:orange", lw=1.0, zorder=2)
        ax.plot([], [], color="tab:orange", label=f"expected shape (displacements x{mag:.3g})")
    ax.scatter(*x.T, s=30, c="k", zorder=3)
    ax.scatter(*x[network.fixed].T, s=140, marker="s", c="k", label="glued to the frame", zorder=4)
    if len(output_nodes):
        ax.scatter(*x[np.asarray(output_nodes)].T, s=160, facecolors="none", edgecolors="tab:blue", lw=2, label="output",
                   zorder=5)
    for n, p in enumerate(x):
        ax.annotate(str(n), p, textcoords="offset points", xytext=(5, 5), fontsize=10, weight="bold", color="0.15")
    L = 0.22 * span
    pts = [x, x + 0.12 * span, x - 0.12 * span]
    for r in rows:
        if r["mass_rounded_g"] == 0:
            continue
        d = {"down": (0, -1), "up": (0, 1), "left": (-1, 0), "right": (1, 0)}[r["direction"]]
        p0 = x[r["node"]]
        plain = r["direction"] == "down"
        ax.annotate("", xy=p0 + L * np.array(d), xytext=p0, zorder=6,
                    arrowprops=dict(arrowstyle="-|>", color="tab:red", lw=2.2, ls="-" if plain else "--", mutation_scale=18))
        pts.append((p0 + 1.45 * L * np.array(d))[None])
        label = f"{r['mass_rounded_g']:g} g" + ("" if plain else f" ({r['direction']})")
        # below a downward arrow; beside the others (an upward label would sit on the lattice's node numbers)
        at, ha, va = ((p0 + 1.1 * L * np.array(d), "center", "top") if plain else
                      (p0 + 0.6 * L * np.array(d) + np.array([0.02 * span, 0.0]), "left", "center"))
        ax.text(*at, label, color="tab:red", fontsize=12, weight="bold", ha=ha, va=va, zorder=7,
                bbox=dict(fc="white", ec="none", alpha=0.85, pad=1))
    allp = np.concatenate(pts)
    ax.set_xlim(allp[:, 0].min(), allp[:, 0].max())
    ax.set_ylim(allp[:, 1].min(), allp[:, 1].max())
    ax.set_aspect("equal")
    ax.set_xlabel("x (mm)")
    ax.set_ylabel("y (mm), up")
    ax.set_title(title)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=3, fontsize=8, frameon=False)
    path = Path(path)
    tmp = path.with_name(f".{path.stem}.tmp{path.suffix}")
    fig.savefig(tmp, dpi=130, bbox_inches="tight")
    tmp.replace(path)
    return path


def _g(x, nd=3) -> str:
    return "-" if x is None else f"{x:.{nd}g}"


def _pct(x) -> str:
    return "-" if x is None else f"{100 * x:.3g} %"


def _weights_table(rows) -> list:
    L = ["| node | direction | force (N) | exact (g) | hang (g) |", "|---|---|---|---|---|"]
    L += [f"| {r['node']} | {r['direction']} | {r['force_N']:.4g} | {r['mass_g']:.3f} | **{r['mass_rounded_g']:g}** |" for r in rows]
    return L


def _single_sheet(rec: dict) -> list:
    """The steps of a single-load task: forward and adjoint states, expected displacements,
    elongations and gradient, the effect of rounding."""
    L = []
    st = rec["states"]
    for i, name in enumerate(("forward", "adjoint"), 1):
        s = st[name]
        L += [f"## Step {i}: {name} state", ""]
        if rec.get("pictures", {}).get(name):
            L += [f"![{name} state: where to hang what]({rec['pictures'][name]})", ""]
        if name == "adjoint":
            units = ("L in m², -∂L/∂u in m, so λ in N/m; the paper's λ = 1 N/m" if s["loss"] == "mse" else
                     "L is dimensionless, -∂L/∂u in 1/m, so λ in N m")
            L.append(f"Adjoint force F_adj = λ (-∂L/∂u) at the outputs, λ = {s['adjoint_scale']:.4g} ({units}), "
                     f"from the {s['source']} forward state (loss {s['loss']}, L = {s['loss_value']:.4g}). The "
                     "measured e_adj ∘ e is then λ ∂L/∂k: the gradient's direction for any λ > 0.")
            L.append("")
            L += ["| output | u (mm) | target (mm) | ∂L/∂u | F_adj (N) |", "|---|---|---|---|---|"]
            L += [f"| node {o['node']} {o['component']} | {o['u_m'] * 1e3:.4g}"
                  + (f" ± {o['u_std_m'] * 1e3:.2g}" if "u_std_m" in o else "") + " | "
                  f"{'-' if o['target_m'] is None else f'{o['target_m'] * 1e3:.4g}'} | {o['dL_du']:.4g} | {o['adjoint_force_N']:.4g}"
                  + (f" ± {o['adjoint_force_std_N']:.2g} ({o['mass_std_g']:.2g} g)" if "adjoint_force_std_N" in o else "") + " |"
                  for o in s["outputs"]]
            L.append("")
        L += _weights_table(s["weights"]) + ["", f"How: {s['how']}."]
        L += [f"- **Flag**: {f}" for f in s["flags"]]
        L.append("")
    exp_keys = [k for k in st["forward"]["expected"]]
    L += ["## Expected displacements (rounded weights)", "",
          "| node | " + " | ".join(f"{k} forward u_x, u_y (mm) | {k} adjoint u_x, u_y (mm)" for k in exp_keys) + " |",
          "|---|" + "---|---|" * len(exp_keys)]
    for j in range(len(rec["nodes_m"])):
        cells = []
        for k in exp_keys:
            for name in ("forward", "adjoint"):
                u = np.asarray(st[name]["expected"][k]["u_m"])[j] * 1e3
                cells.append(f"{u[0]:.3f}, {u[1]:.3f}")
        L.append(f"| {j} | " + " | ".join(cells) + " |")
    L += ["", "## Expected elongations and gradient (bar model)", "",
          "| bond | nodes | e forward (µm) | e adjoint (µm) | e_adj ∘ e (µm²) |", "|---|---|---|---|---|"]
    ef, ea = np.asarray(st["forward"]["expected"]["bar"]["elongation_m"]), np.asarray(st["adjoint"]["expected"]["bar"]["elongation_m"])
    for b, (i, j) in enumerate(rec["bonds"]):
        L.append(f"| {b} | {i}-{j} | {ef[b] * 1e6:.1f} | {ea[b] * 1e6:.1f} | {ef[b] * ea[b] * 1e12:.1f} |")
    r = rec["rounding"]
    L += ["", "## Effect of rounding the weights", "",
          f"- forward outputs change by {_pct(r['forward_outputs_rel_change'])}, forward elongations by "
          f"{_pct(r['forward_elongations_rel_change'])}",
          f"- the adjoint weights' rounding changes the measured gradient by {_pct(r['adjoint_gradient_rel_change'])}"]
    if r.get("gradient_rel_change") is not None:
        L.append(f"- both together: gradient {_pct(r['gradient_rel_change'])} (relative norm) from the exact forces' "
                 f"e_adj ∘ e, signs agree on {_pct(r['gradient_sign_agreement'])} of the bonds; loss {_pct(r['loss_rel_change'])}")
    L.append("")
    return L


def _data_sheet(rec: dict) -> list:
    """The weights of a data task per sample, the expected outputs and what rounding changes."""
    L = []
    sm = rec["summary"]
    for name, pic in rec.get("pictures", {}).items():
        L += [f"![{name}: where to hang what]({pic})", ""]
    L += ["## Weights per sample", "", f"{sm['n_samples']} sample(s); the expected outputs are the bar model's "
          f"(transfer matrix: {rec['transfer_solves']} solves, one per loaded DOF).", ""]
    cls = "accuracy_rounded" in sm
    head = "| sample | " + " | ".join(f"node {r['node']} {r['direction']} (g)" for r in rec["samples"][0]["weights"]) \
        if rec["samples"] and rec["samples"][0]["weights"] else "| sample | weights (g)"
    fem_key = next((k for k in (rec["samples"][0] if rec["samples"] else {}) if k.startswith("expected_u_out_fem")), None)
    L += [head + (" | class | predicted | |" if cls else " | expected outputs (mm) | target (mm) |"),
          "|---|" + "---|" * max(len(rec["samples"][0]["weights"]) if rec["samples"] else 1, 1) + ("---|---|---|" if cls else "---|---|")]
    for s in rec["samples"]:
        w = " | ".join(f"{r['mass_rounded_g']:g}" for r in s["weights"])
        if cls:
            ok = "ok" if s["predicted"] == s["label"] else "wrong"
            names = rec.get("class_names") or []
            pred = names[s["predicted"]] if s["predicted"] < len(names) else s["predicted"]
            L.append(f"| {s['sample']} | {w} | {s['class']} | {pred} | {ok} |")
        else:
            L.append(f"| {s['sample']} | {w} | {', '.join(f'{v * 1e3:.3f}' for v in s['expected_u_out_m'])} | "
                     f"{', '.join(f'{v * 1e3:.3f}' for v in s['target_m'])} |")
    L.append("")
    if cls:
        L.append(f"Bar-model accuracy with the rounded weights {_pct(sm['accuracy_rounded'])} (exact forces "
                 f"{_pct(sm['accuracy_exact'])}); rounding changes {sm['predictions_changed_by_rounding']} prediction(s).")
    else:
        L.append(f"Relative output error with the rounded weights {_pct(sm['relative_error_rounded'])} (exact forces "
                 f"{_pct(sm['relative_error_exact'])}).")
    L.append(f"Rounding changes the outputs by {_pct(sm['outputs_rel_change_by_rounding'])} (relative norm over the samples).")
    if fem_key:
        key = fem_key.split("_")[-2]
        acc = sm.get(f"accuracy_{key}")
        L.append(f"The FEM ({key}) of the printed part under the same weights"
                 + (f" classifies {_pct(acc)} correctly" if acc is not None else "") + "; its outputs per sample are in protocol.json.")
    flagged = [s for s in rec["samples"] if s["flags"]]
    for s in flagged[:20]:
        L.append(f"- **Flag**, sample {s['sample']}: " + "; ".join(s["flags"]))
    if len(flagged) > 20:
        L.append(f"- ... {len(flagged) - 20} more flagged samples in protocol.json")
    L += ["", "Adjoint (training) states of data tasks are not part of this sheet: it measures the forward "
          "outputs per sample.", ""]
    return L


def _camera_sheet(rec: dict) -> list:
    """The camera requirements and the photos to take, in order."""
    cam = rec["camera"]
    L = []
    L += ["## Camera", "", f"Assumption: {cam['assumption']}.", ""]
    if "hub_accuracy_for_gradient_um" in cam:
        L.append(f"- gradient to {_pct(cam['gradient_accuracy'])} (relative norm) needs hub positions to "
                 f"{cam['hub_accuracy_for_gradient_um']:.3g} µm; your target: {cam['target_accuracy_um']:g} µm")
    L += [f"- smallest elongation that matters (≥ 10 % of the largest): {cam['smallest_significant_elongation_um']:.3g} µm "
          f"(to resolve every such elongation to 10 %, not just the gradient as a whole: "
          f"{cam['px_per_mm_every_elongation_10pct']:.3g} px/mm)",
          f"- hub accuracy needed: {cam['hub_accuracy_needed_um']:.3g} µm → at least **{cam['required_px_per_mm']:.3g} px/mm** "
          f"with {cam['repeats']} photos per state ({cam['required_px_per_mm_single_photo']:.3g} px/mm with one)",
          f"- field of view {cam['field_of_view_mm'][0]:.0f} x {cam['field_of_view_mm'][1]:.0f} mm → at least "
          f"{cam['sensor_px_needed'][0]} x {cam['sensor_px_needed'][1]} px on the part",
          "- camera on a tripod, perpendicular to the part and level with it; remote release; fixed focus and exposure; "
          "dark part against a light background", "", "## Photos to take, in this order", ""]
    L += [f"{i}. `{p['file']}`: {p['state']}, {p['what']}" for i, p in enumerate(rec["photos"], 1)]
    L += ["", "Then:", "", "```", rec["measure_command"], "```", ""]
    return L


def protocol_markdown(rec: dict) -> str:
    """The lab sheet as Markdown (mm, µm and g for the bench; the JSON keeps SI)."""
    L = [f"# Lab protocol: {rec['task']}", "", rec.get("description") or "", "",
         f"Network `{rec['network']}` ({rec['network_source']}"
         + (f", widths from {rec['widths_source']}" if rec.get("widths_source") else ", as designed") + "). "
         f"Fixed (glued) nodes: {list(map(int, rec['fixed_nodes']))}. Weights: mass = |F| / g with g = {rec['g_m_per_s2']} m/s², "
         f"rounded to {rec['weight_step_g']:g} g steps. Node numbers as in `femnn check` / the network file "
         "(y up; \"down\" is the direction of gravity).", ""]
    L += _single_sheet(rec) if rec["kind"] == "single" else _data_sheet(rec)
    L += _camera_sheet(rec)
    return "\n".join(L)


def protocol_html(md: str, title: str) -> str:
    """The Markdown sheet as a standalone HTML page (markdown-it-py, CommonMark + tables)."""
    from markdown_it import MarkdownIt

    body = MarkdownIt("commonmark").enable("table").render(md)
    style = ("body{font-family:sans-serif;max-width:60em;margin:2em auto;line-height:1.4}"
             "table{border-collapse:collapse}td,th{border:1px solid #999;padding:2px 6px;text-align:right}"
             "code,pre{background:#f4f4f4}@media print{body{margin:0}}")
    return (f"<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{title}</title><style>{style}</style></head>"
            f"<body>\n{body}</body></html>\n")


def write_protocol(out, rec: dict, network=None) -> list:
    """protocol.json, protocol.md, protocol.html and (given the network) one picture per state: where to
    hang what (``<state>.png``; for data tasks the first sample's). Atomic writes."""
    from pathlib import Path

    from femnn.report.files import atomic_write_json, atomic_write_text

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    if network is not None:
        pics = {}
        outs = np.unique(np.asarray(rec["output_dofs"]) // 2)
        if rec["kind"] == "single":
            for name in ("forward", "adjoint"):
                st = rec["states"][name]
                paths.append(plot_state(network, st["weights"], out / f"{name}.png", u_m=st["expected"]["bar"]["u_m"],
                                        output_nodes=outs, title=f"{rec['task']}: {name} state ({st['application']})"))
                pics[name] = f"{name}.png"
        elif rec["samples"]:
            s0 = rec["samples"][0]
            name = f"sample{s0['sample']}"
            paths.append(plot_state(network, s0["weights"], out / f"{name}.png", output_nodes=outs,
                                    title=f"{rec['task']}: sample {s0['sample']} (the others: same nodes, table)"))
            pics[name] = f"{name}.png"
        rec["pictures"] = pics
    md = protocol_markdown(rec)
    return paths + [atomic_write_json(out / "protocol.json", rec), atomic_write_text(out / "protocol.md", md),
                    atomic_write_text(out / "protocol.html", protocol_html(md, f"femnn protocol {rec['task']}"))]


# ---- the measurement (femnn measure) --------------------------------------------------------------
def write_report(path, task, an: Analysis, cmp: dict):
    from femnn.report.files import atomic_write_text

    m = an.measurement
    L = [f"# femnn measure: {task.name}", ""]
    cam = m.camera
    L += [f"Network `{task.network.name}` ({task.network.n_nodes} nodes, {task.network.n_bonds} bonds). "
          + (f"Reference photo `{an.reference_path}`; camera scale {m.px_per_mm:.3f} px/mm (fitted homography), "
             f"hub radius {an.radius_px:.1f} px." if an.reference_path else f"Tracks `{cam.get('tracks')}` ({cam.get('tracks_unit')})."),
          "", f"Camera fit (homography design mm -> px on all {task.network.n_nodes} hubs): residual RMS "
          f"{cam['residual_rms_px']:.3f} px, max {max(cam['residuals_px']):.3f} px (node {int(np.argmax(cam['residuals_px']))}). "
          "A radial pattern in the residuals means lens distortion (calibrate the lens with a checkerboard).", ""]
    for name, s in m.states.items():
        L += [f"## State `{name}` ({s.n_photos} photo{'s' if s.n_photos > 1 else ''})", ""]
        model = cmp["states"].get(name)
        hdr = "| node | u_x (µm) | u_y (µm) |" + (" ± (µm) |" if s.u_std_m is not None else "")
        hdr += " bar u_x (µm) | bar u_y (µm) |" if model else ""
        L += [hdr, "|" + "---|" * (hdr.count("|") - 1)]
        for j in range(len(s.u_m)):
            row = f"| {j} | {s.u_m[j, 0] * 1e6:.1f} | {s.u_m[j, 1] * 1e6:.1f} |"
            if s.u_std_m is not None:
                row += f" {np.hypot(*s.u_std_m[j]) * 1e6:.1f} |"
            if model:
                row += f" {model['u_m'][j, 0] * 1e6:.1f} | {model['u_m'][j, 1] * 1e6:.1f} |"
            L.append(row)
        if model:
            d = s.u_m - model["u_m"]
            L += ["", f"Measured - bar: RMS {np.sqrt(np.mean(np.sum(d ** 2, 1))) * 1e6:.1f} µm over the nodes "
                  f"(bar load: {'the task load' if name == 'forward' else '-∂L/∂ū at the measured forward output'})."]
        fem = cmp.get("fem", {}).get("states", {}).get(name)
        if fem:
            L += [f"Measured - {cmp['fem']['name']} (the FEM of the printed part, same load): RMS "
                  f"{fem['rms_m'] * 1e6:.1f} µm over the nodes."]
        lin = task.network.unit_vectors
        e_lin = np.sum((s.u_m[m.bonds[:, 1]] - s.u_m[m.bonds[:, 0]]) * lin, axis=1)
        L += ["", "| bond | nodes | elongation (µm) | linearised (u_j - u_i)·n (µm) |" + (" bar (µm) |" if model else ""),
              "|---|---|---|---|" + ("---|" if model else "")]
        for i, (a, b) in enumerate(m.bonds):
            row = f"| {i} | {a}-{b} | {s.elongation_m[i] * 1e6:.2f} | {e_lin[i] * 1e6:.2f} |"
            if model:
                row += f" {model['e_m'][i] * 1e6:.2f} |"
            L.append(row)
        L.append("")
    g = m.gradient_m2
    if g is not None:
        L += ["## The in situ gradient e_adj ∘ e", ""]
        if "accuracy" in cmp:
            L += [f"Accuracy 1 - ||g_meas - g_bar|| / ||g_bar|| = **{cmp['accuracy']:.3f}**; sign agreement "
                  f"{100 * cmp['sign_agreement']:.0f} % of the bonds; Spearman rank correlation {cmp['spearman']:.3f}. "
                  f"With linearised measured elongations: accuracy {cmp['accuracy_linear']:.3f}, sign agreement "
                  f"{100 * cmp['sign_agreement_linear']:.0f} %, Spearman {cmp['spearman_linear']:.3f}. "
                  "The bar model here is the design's (uncalibrated); its difference from the printed part (or the "
                  "3D FEM) is part of these numbers: `femnn calibrate` fits it to the measurement.", "",
                  "| bond | measured (µm²) | measured, linearised (µm²) | bar (µm²) |", "|---|---|---|---|"]
            for i in range(len(g)):
                L.append(f"| {i} | {g[i] * 1e12:.1f} | {cmp['gradient_linear_m2'][i] * 1e12:.1f} | "
                         f"{cmp['gradient_model_m2'][i] * 1e12:.1f} |")
        else:
            L += ["| bond | measured (µm²) |", "|---|---|"] + [f"| {i} | {g[i] * 1e12:.1f} |" for i in range(len(g))]
        if "accuracy" in cmp.get("fem", {}):
            f = cmp["fem"]
            L += ["", f"Against {f['name']} (the FEM of the printed part): accuracy 1 - ||g_meas - g_FEM|| / ||g_FEM|| = "
                  f"**{f['accuracy']:.3f}**; sign agreement {100 * f['sign_agreement']:.0f} %; Spearman {f['spearman']:.3f}."]
        L.append("")
    L += ["Elongation = change of hub-centre distance (as the paper measured); the linearised column is what the "
          "bar model's gradient uses; they differ by the rotation term |Δu⊥|²/(2l).", ""]
    if an.seconds:
        L += [f"Time: reference {an.seconds['reference_s']:.2f} s, states "
              + ", ".join(f"{t:.2f} s" for t in an.seconds["states_s"]) + f"; total {an.seconds['total_s']:.2f} s.", ""]
    return atomic_write_text(path, "\n".join(L))


def write_overlay(path, photo_path, hub_ref_px, hub_state_px, radius_px, title=""):
    """The photo with the hubs circled and the displacements as arrows, magnified (written atomically)."""
    import cv2

    from femnn.lab.render import write_png

    img = cv2.imread(str(photo_path), cv2.IMREAD_COLOR)
    d = hub_state_px - hub_ref_px
    spacing = np.min(np.linalg.norm(hub_ref_px[:, None] - hub_ref_px[None] + np.eye(len(hub_ref_px))[..., None] * 1e9, axis=2))
    dmax = float(np.max(np.linalg.norm(d, axis=1))) or 1.0
    target = 0.9 * spacing / dmax
    if target <= 1:
        mag = 1.0
    else:
        e10 = 10 ** np.floor(np.log10(target))
        mag = max(k * e10 for k in (1, 2, 5) if k * e10 <= target)
    th = max(2, int(radius_px / 15))
    for j, (p, q) in enumerate(zip(hub_ref_px, hub_state_px)):
        cv2.circle(img, tuple(int(v) for v in np.rint(q)), int(radius_px), (60, 200, 60), th, cv2.LINE_AA)
        tip = p + mag * (q - p)
        cv2.arrowedLine(img, tuple(int(v) for v in np.rint(p)), tuple(int(v) for v in np.rint(tip)), (40, 40, 230), th,
                        cv2.LINE_AA, tipLength=0.15)
        cv2.putText(img, str(j), tuple(int(v) for v in np.rint(q + [radius_px, -radius_px])), cv2.FONT_HERSHEY_SIMPLEX,
                    radius_px / 40, (200, 60, 20), th, cv2.LINE_AA)
    cv2.putText(img, f"{title}  arrows x{mag:g}", (20, int(30 + radius_px / 2)), cv2.FONT_HERSHEY_SIMPLEX, radius_px / 35,
                (200, 60, 20), th, cv2.LINE_AA)
    write_png(path, img[..., ::-1])


def write_outputs(out_dir, task, an: Analysis, progress=None, fem: dict | None = None):
    """measurement.json, report.md, overlay_<state>.png (only after every check passed); ``fem``: FEM
    states (:func:`femnn.lab.measure.fem_states`) to compare with besides the bar model."""
    from femnn.lab.measure import model_comparison
    from femnn.lab.measurement import write_measurement

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    cmp = model_comparison(task, an.measurement, fem)
    written = [write_measurement(out / "measurement.json", an.measurement)]
    for name, prs in an.photos.items():
        pr = prs[0]
        write_overlay(out / f"overlay_{name}.png", pr.path, pr.ref_px, pr.hub_px, an.radius_px, title=f"{name}: {Path(pr.path).name}")
        written.append(out / f"overlay_{name}.png")
    written.append(write_report(out / "report.md", task, an, cmp))
    return written, cmp


# ---- the calibrated twin (femnn calibrate) ----------------------------------------------------------
def _task_file_text(task: Task, network_file: str) -> str | None:
    """The task's own file with its ``network = ...`` line pointing at ``network_file`` (None if the
    task has no such top-level line, e.g. an inline network table)."""
    import re
    from pathlib import Path

    src = Path(task.source)
    if not src.is_file():
        return None
    text = src.read_text()
    pat = re.compile(r'^network\s*=\s*"[^"\n]*"[^\n]*$', re.M)
    if len(pat.findall(text)) != 1:
        return None
    text = pat.sub(f'network = "{network_file}"  # calibrated by femnn calibrate (effective widths)', text)

    def absolute(m):  # a CSV data file named relative to the task file must still be found from the new place
        p = Path(m.group(2))
        return m.group(0) if p.is_absolute() else f'{m.group(1)}"{(src.parent / p).resolve()}"'
    return re.sub(r'^(file\s*=\s*)"([^"\n]*)"', absolute, text, flags=re.M)


def calibration_record(cal: Calibration, task: Task, sources, skipped) -> dict:
    """calibration.json content (SI; factors dimensionless; uncertainties relative standard)."""
    net = cal.base_network
    return {
        "task": task.name, "network_source": net.source, "measured": [str(s) for s in sources],
        "states_fitted": cal.states_fitted, "states_held_out": cal.states_held_out,
        "states_skipped": [{"state": n, "reason": r} for n, r in skipped],
        "noise_model": cal.noise_model,
        "global_factor": cal.global_factor, "global_factor_rel_std": cal.global_factor_rel_std,
        "bonds": net.bonds, "factor_per_bond": cal.factor_per_bond, "factor_rel_std": cal.factor_rel_std,
        "undetermined_bonds": cal.undetermined,
        "k0_N_per_m": net.stiffness_N_per_m(), "k_N_per_m": net.stiffness_N_per_m() * cal.factor_per_bond,
        "widths_m": net.widths_m, "effective_widths_m": cal.network.widths_m,
        "width_bounds_widened": cal.bounds_widened, "width_bounds_m": cal.network.width_bounds_m,
        "singular_values": cal.singular_values, "misfit": cal.misfit, "per_state": cal.per_state, "fit": cal.fit_info,
        "units": {"factor_per_bond": "dimensionless (k = f k0)", "factor_rel_std": "relative standard uncertainty (null: undetermined)",
                  "misfit.rms_m": "m (RMS over free DOFs)", "misfit.relative": "|u_model - u_meas| / |u_meas|",
                  "singular_values": "of the (weighted) sensitivity d u / d log k, m (or dimensionless with u_std_m)"},
    }


def calibration_markdown(cal: Calibration, task: Task, skipped) -> str:
    """``calibration.md``: what was fitted, the misfits, the factor per bond with its uncertainty."""
    from femnn.lab.calibrate import MAX_REL_STD

    net = cal.base_network
    L = [f"# Calibrated bar model: {task.name}", "",
         f"Fitted to {len(cal.states_fitted)} measured state(s): {', '.join(cal.states_fitted)}."]
    if cal.states_held_out:
        L.append(f"Held out (predicted, not fitted): {', '.join(cal.states_held_out)}.")
    for n, r in skipped:
        L.append(f"Skipped {n}: {r}.")
    L += ["", f"Noise model: {cal.noise_model} ({cal.fit_info['noise_note']}). Global factor c = {cal.global_factor:.4g} "
          f"(± {100 * cal.global_factor_rel_std:.2g} %).", "",
          "## Misfit (fitted states, RMS over free DOFs)", "", "| model | RMS (µm) | relative |", "|---|---|---|"]
    for name, m in cal.misfit.items():
        L.append(f"| {name.replace('_', ' ')} | {m['rms_m'] * 1e6:.3g} | {100 * m['relative']:.3g} % |")
    L += ["", "## Per state", "", "| state | role | uncalibrated | global | per bond | per bond at the outputs |", "|---|---|---|---|---|---|"]
    for r in cal.per_state:
        o = r["per_bond"].get("outputs_relative")
        L.append(f"| {r['state']} | {r['role'].replace('_', ' ')} | {100 * r['uncalibrated']['relative']:.3g} % | "
                 f"{100 * r['global']['relative']:.3g} % | {100 * r['per_bond']['relative']:.3g} % | "
                 f"{'-' if o is None else f'{100 * o:.3g} %'} |")
    L += ["", "## Factor per bond", "", "| bond | nodes | factor | ± (relative) | width (mm) | effective width (mm) | |",
          "|---|---|---|---|---|---|---|"]
    for b in range(net.n_bonds):
        s = cal.factor_rel_std[b]
        L.append(f"| {b} | {net.bonds[b][0]}-{net.bonds[b][1]} | {cal.factor_per_bond[b]:.4g} | "
                 f"{'undetermined' if not np.isfinite(s) else f'{100 * s:.2g} %'} | {net.widths_m[b] * 1e3:.4g} | "
                 f"{cal.network.widths_m[b] * 1e3:.4g} | {'**undetermined**' if b in cal.undetermined else ''} |")
    L.append("")
    if cal.undetermined:
        L.append(f"Bonds the measurements cannot determine: {cal.undetermined} (relative uncertainty above "
                 f"{100 * MAX_REL_STD:.0f} % or in a null direction of the sensitivity); their factors stay near the "
                 "global factor. Measure more load states (weights on other nodes) to pin them down.")
    else:
        L.append("Every bond's factor is determined by the measurements.")
    lo, hi = cal.fit_info["width_bounds_m_original"]
    if cal.bounds_widened:
        nlo, nhi = cal.network.width_bounds_m
        L.append(f"\nThe effective widths leave the printable bounds [{lo * 1e3:.4g}, {hi * 1e3:.4g}] mm, so network.toml's "
                 f"width_bounds were WIDENED to [{nlo * 1e3:.4g}, {nhi * 1e3:.4g}] mm (nothing was clipped).")
    L += ["", "network.toml holds effective widths w_eff = f w (the bar model's k = E w t / L is linear in w): it is a "
          "model of the printed part, not a part to print. To retrain: `femnn train task.toml --out RUN` (or "
          "`--init` this directory). To reprint a retrained network divide its widths by the factors "
          "(`femnn.lab.calibrate.printed_widths`).", ""]
    return "\n".join(L)


def write_calibration(out, cal: Calibration, task: Task, sources, skipped) -> list:
    """Write network.toml, widths.json, task.toml (if the task file allows), calibration.json/.md."""
    from pathlib import Path

    from femnn.network import write_network
    from femnn.report.files import atomic_write_json, atomic_write_text

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = [write_network(cal.network, out / "network.toml"),
             atomic_write_json(out / "widths.json", {"widths_m": cal.network.widths_m,
                                                     "k_N_per_m": cal.network.stiffness_N_per_m(),
                                                     "note": "effective widths of the calibrated bar model"})]
    text = _task_file_text(task, "network.toml")
    if text is not None:
        paths.append(atomic_write_text(out / "task.toml", text))
    paths.append(atomic_write_json(out / "calibration.json", calibration_record(cal, task, sources, skipped)))
    paths.append(atomic_write_text(out / "calibration.md", calibration_markdown(cal, task, skipped)))
    return paths
