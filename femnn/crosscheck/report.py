"""The cross-check report: ``results.json``, ``report.md``, ``report.html`` and PNG plots."""

from __future__ import annotations

import html
from pathlib import Path

import numpy as np

from femnn.crosscheck.compare import ModelResult
from femnn.network import Task
from femnn.report.files import atomic_write_json, atomic_write_text, versions


def _fmt(v, spec=".4g"):
    if v is None:
        return "-"
    if isinstance(v, (bool, np.bool_)):
        return "yes" if v else "no"
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    if isinstance(v, (float, np.floating)):
        return format(float(v), spec)
    return str(v)


def plot_gradients(models: dict, reference: str, path: Path):
    from femnn.report.plots import _plt, _save

    plt = _plt()
    ref = models[reference]
    fig, ax = plt.subplots(figsize=(5.5, 5))
    g_ref = np.asarray(ref.gradient_k)
    lim = np.abs(g_ref).max() * 1.15
    for name, m in models.items():
        if name == reference or m.gradient_k is None:
            continue
        g = np.asarray(m.gradient_k)
        ax.scatter(g_ref, g, s=22, label=name)
        lim = max(lim, np.abs(g).max() * 1.15)
    ax.plot([-lim, lim], [-lim, lim], "k--", lw=0.7, label="equal")
    ax.set_xlim(-lim, lim)
    ax.set_ylim(-lim, lim)
    ax.set_xlabel(f"{reference}: e_adj ∘ e per bond")
    ax.set_ylabel("model: e_adj ∘ e per bond")
    ax.set_title("In situ gradient, bond by bond")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    _save(fig, path)
    plt.close(fig)


def plot_deformed(task: Task, models: dict, path: Path):
    """Undeformed network (grey) and each model's deformed hub positions, one common magnification."""
    from femnn.report.plots import _plt, _save

    plt = _plt()
    net = task.network
    x = net.nodes_m * 1e3
    umax = max(np.abs(m.u).max() for m in models.values()) * 1e3
    s = 0.2 * np.ptp(x, axis=0).max() / max(umax, 1e-30)
    fig, ax = plt.subplots(figsize=(7, 5))
    for i, j in net.bonds:
        ax.plot(*x[[i, j]].T, color="0.8", lw=3, zorder=1)
    styles = ["-", "--", ":", "-."]
    for k, (name, m) in enumerate(models.items()):
        y = x + s * m.u * 1e3
        for b, (i, j) in enumerate(net.bonds):
            ax.plot(*y[[i, j]].T, ls=styles[k % 4], color=f"C{k}", lw=1.2, label=name if b == 0 else None, zorder=2)
    ax.scatter(*x[net.fixed].T, marker="s", s=70, c="k", zorder=3, label="fixed")
    ax.set_aspect("equal")
    ax.set_xlabel("x (mm)")
    ax.set_ylabel("y (mm)")
    ax.set_title(f"Deformed shapes, displacements magnified x{s:.3g}")
    ax.legend(fontsize=8, loc="lower left")
    _save(fig, path)
    plt.close(fig)


def write_report(out: Path, task: Task, models: dict, comparison: dict, *, settings: dict | None = None,
                 extra_images: list | None = None, extra_results: dict | None = None,
                 sections: list | None = None) -> list[Path]:
    """Write results.json, report.md, report.html, gradients.png, deformed.png into ``out``.

    ``extra_results``: more top-level keys of results.json; ``sections``: (title, markdown lines)
    pairs appended to the report before the pictures."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    net = task.network
    ref = comparison["reference"]
    images = []
    if models[ref].gradient_k is not None:
        plot_gradients(models, ref, out / "gradients.png")
        images.append("gradients.png")
    plot_deformed(task, models, out / "deformed.png")
    images.append("deformed.png")
    images += [Path(p).name for p in (extra_images or []) if Path(p).exists()]
    results = {
        "task": task.name, "units": {"nodes": "m", "u": "m", "elongation": "m", "gradient_k": "loss per N/m",
                                     "gradient_s": "loss per unit stiffness scale", "seconds": "s"},
        "nodes": net.nodes_m, "bonds": net.bonds, "fixed": net.fixed, "widths_m": net.widths_m,
        "models": {name: {k: v for k, v in m.as_dict().items() if k not in ("u_adjoint",)} for name, m in models.items()},
        "comparison": comparison, "pass": comparison["pass"], "settings": settings or {}, "versions": versions(),
        **(extra_results or {}),
    }
    written = [atomic_write_json(out / "results.json", results)]
    md = [f"# femnn cross-check: `{task.name}`", "",
          f"Verdict: **{'PASS' if comparison['pass'] else 'FAIL'}** (reference model: `{ref}`)", ""]
    md += ["## Checks", "", "| check | value | tolerance | result |", "|---|---|---|---|"]
    for c in comparison["checks"]:
        md.append(f"| {c['check']} | {_fmt(c['value'])} | {_fmt(c['tolerance'])} | {'pass' if c['pass'] else '**FAIL**'} |")
    md += ["", "## Models", "", "| model | loss | DOFs | degree | forward s | adjoint s | calibration |", "|---|---|---|---|---|---|---|"]
    for name, m in models.items():
        e = m.extra
        md.append(f"| {name} | {_fmt(m.loss)} | {_fmt(e.get('dofs'))} | {_fmt(e.get('degree'))} | {_fmt(e.get('seconds_forward'), '.3g')} | "
                  f"{_fmt(e.get('seconds_adjoint'), '.3g')} | {_fmt(e.get('calibration_factor'))} |")
    md += ["", f"## Agreement with `{ref}`", "",
           "| model | u at outputs | u at free nodes | elongations | gradient | Spearman | signs agree |", "|---|---|---|---|---|---|---|"]
    for name, r in comparison["models"].items():
        md.append(f"| {name} | {_fmt(r['u_outputs_rel_error'], '.2%')} | {_fmt(r['u_free_nodes_rel_error'], '.2%')} | "
                  f"{_fmt(r['elongation_rel_error'], '.2%')} | {_fmt(r.get('gradient_rel_error'), '.2%')} | "
                  f"{_fmt(r.get('gradient_spearman'), '.4f')} | {_fmt(r.get('gradient_sign_agreement'), '.0%')} |")
    names = list(models)
    md += ["", "## Hub displacements (mm)", "", "| node | " + " | ".join(f"{n} u_x | {n} u_y" for n in names) + " |",
           "|---|" + "---|---|" * len(names)]
    for i in range(net.n_nodes):
        tag = " (fixed)" if i in net.fixed else (" (output)" if i in task.output_nodes else (" (load)" if i in task.input_nodes else ""))
        md.append(f"| {i}{tag} | " + " | ".join(f"{models[n].u[i, 0] * 1e3:.5f} | {models[n].u[i, 1] * 1e3:.5f}" for n in names) + " |")
    md += ["", "## Bonds: elongation (mm) and in situ gradient e_adj ∘ e", "",
           "| bond | nodes | " + " | ".join(f"{n} e | {n} g" for n in names) + " |", "|---|---|" + "---|---|" * len(names)]
    for b, (i, j) in enumerate(net.bonds):
        cells = []
        for n in names:
            g = models[n].gradient_k
            cells.append(f"{models[n].elongation[b] * 1e3:.5f} | {'-' if g is None else format(g[b], '.4g')}")
        md.append(f"| {b} | {i}-{j} | " + " | ".join(cells) + " |")
    for title, lines in sections or []:
        md += ["", f"## {title}", "", *lines]
    md += ["", "## Pictures", ""] + [f"![{im}]({im})" for im in images]
    if settings:
        md += ["", "## Settings", "", "```", *(f"{k} = {v}" for k, v in settings.items()), "```"]
    text = "\n".join(md) + "\n"
    written.append(atomic_write_text(out / "report.md", text))
    written.append(atomic_write_text(out / "report.html", _md_to_html(text, task.name)))
    return written


def _md_to_html(md: str, title: str) -> str:
    """The report's Markdown as a self-contained HTML page (tables, headings, images)."""
    out = [f"<!doctype html><html><head><meta charset='utf-8'><title>femnn cross-check {html.escape(title)}</title>",
           "<style>body{font-family:sans-serif;max-width:1100px;margin:2em auto}table{border-collapse:collapse;margin:1em 0}"
           "td,th{border:1px solid #ccc;padding:2px 8px;font-size:13px;text-align:right}img{max-width:48%}</style></head><body>"]
    in_table = in_code = False
    for line in md.splitlines():
        if line.startswith("```"):
            out.append("</pre>" if in_code else "<pre>")
            in_code = not in_code
            continue
        if in_code:
            out.append(html.escape(line))
            continue
        if line.startswith("|"):
            cells = [c.strip() for c in line.strip("|").split("|")]
            if all(set(c) <= set("-:") for c in cells):
                continue
            if not in_table:
                out.append("<table>")
                in_table = True
                out.append("<tr>" + "".join(f"<th>{html.escape(c)}</th>" for c in cells) + "</tr>")
                continue
            out.append("<tr>" + "".join(f"<td>{_inline(c)}</td>" for c in cells) + "</tr>")
            continue
        if in_table:
            out.append("</table>")
            in_table = False
        if line.startswith("#"):
            level = len(line) - len(line.lstrip("#"))
            out.append(f"<h{level}>{_inline(line[level:].strip())}</h{level}>")
        elif line.startswith("!["):
            src = line[line.index("(") + 1:-1]
            out.append(f"<img src='{html.escape(src)}' alt='{html.escape(src)}'>")
        elif line.strip():
            out.append(f"<p>{_inline(line)}</p>")
    if in_table:
        out.append("</table>")
    out.append("</body></html>")
    return "\n".join(out) + "\n"


def _inline(s: str) -> str:
    s = html.escape(s)
    import re

    s = re.sub(r"\*\*(.+?)\*\*", r"<b>\1</b>", s)
    return re.sub(r"`(.+?)`", r"<code>\1</code>", s)
