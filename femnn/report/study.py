"""Study results to files: ``study.csv`` (one row per case), one PNG per axis, ``report.md``."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from femnn.report.files import atomic_write_text
from femnn.study.spec import Study, case_id

SCALARS = ("loss", "calibration", "accuracy", "error", "seconds", "dofs")


def _flat(study: Study, rec: dict, output_dofs) -> dict:
    row = {"case_id": rec["case_id"], "status": rec["status"], "seconds_case": rec.get("seconds")}
    for k in study.axes:
        row[k] = rec["params"].get(k)
    for m, out in (rec.get("outputs") or {}).items():
        for k in SCALARS:
            if k in out and out[k] is not None:
                row[f"{m}.{k}"] = out[k]
        if "u" in out:
            u = np.asarray(out["u"], float).ravel()
            for d in output_dofs:
                row[f"{m}.u_{'xy'[d % 2]}[{d // 2}]_m"] = u[d] if d < u.size else None
        if "gradient_k" in out:
            row[f"{m}.gradient_k_norm"] = float(np.linalg.norm(out["gradient_k"]))
    row["error"] = rec.get("error") or ""
    return row


def write_study_report(study: Study, records: dict, out: Path, output_dofs) -> list[Path]:
    recs = [records[case_id(c)] for c in study.cases if case_id(c) in records]
    rows = [_flat(study, r, output_dofs) for r in recs]
    cols = []
    for r in rows:
        for k in r:
            if k not in cols:
                cols.append(k)

    def cell(v):
        if v is None:
            return ""
        s = f"{v:.10g}" if isinstance(v, float) else str(v)
        return '"' + s.replace('"', "'") + '"' if ("," in s or "\n" in s) else s

    csv = ",".join(cols) + "\n" + "".join(",".join(cell(r.get(c)) for c in cols) + "\n" for r in rows)
    written = [atomic_write_text(out / "study.csv", csv)]
    from femnn.report.plots import new_figure, save_figure

    ycols = [c for c in cols if "." in c and not c.endswith("seconds") and not c.startswith("seconds")]
    for axis, values in study.axes.items():
        if not ycols:
            break
        numeric = all(isinstance(v, (int, float)) for v in values if v is not None)
        fig, axs = new_figure((6, 2.4 * len(ycols)), nrows=len(ycols), ncols=1, squeeze=False)
        for ax, yc in zip(axs[:, 0], ycols):
            pts = [(r.get(axis), r.get(yc)) for r in rows if r["status"] == "ok" and r.get(yc) is not None]
            if not pts:
                continue
            xs = [p[0] if numeric else str(p[0]) for p in pts]
            ax.plot(xs, [p[1] for p in pts], "o", label=yc)
            bar_col = "bar." + yc.split(".", 1)[1]
            if not yc.startswith("bar.") and bar_col in cols:
                bvals = [r.get(bar_col) for r in rows if r.get(bar_col) is not None]
                if bvals:
                    ax.axhline(float(np.median(bvals)), color="k", ls="--", lw=0.8, label="bar model")
            ax.set_ylabel(yc, fontsize=7)
            ax.legend(fontsize=7)
            ax.grid(alpha=0.3)
        axs[-1, 0].set_xlabel(axis)
        fig.suptitle(f"{study.name}: outputs vs {axis}")
        fig.tight_layout()
        p = out / f"axis_{axis}.png"
        save_figure(fig, p)
        written.append(p)
    n_ok = sum(r["status"] == "ok" for r in recs)
    md = [f"# Study `{study.name}`", "", f"- study file: `{study.source}`", f"- base task: `{study.base}`",
          f"- widths: `{study.widths or 'network file'}`", f"- models: {', '.join(study.models)}",
          f"- cases: {len(study.cases)} ({n_ok} ok, {len(recs) - n_ok} failed, {len(study.cases) - len(recs)} not run)", "",
          "| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for r in rows:
        md.append("| " + " | ".join(cell(r.get(c)) for c in cols) + " |")
    md += ["", "Plots: " + ", ".join(f"`{p.name}`" for p in written[1:]), ""]
    written.append(atomic_write_text(out / "report.md", "\n".join(md)))
    return written
