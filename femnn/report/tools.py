"""Files of the smaller commands: ``femnn fdcheck`` (fdcheck.json, fdcheck.png), ``femnn prune``
(prune.json, prune.csv) and ``femnn render`` (the synthetic photo and its ground truth). The
commands compute; these functions write (atomically)."""

from __future__ import annotations

from pathlib import Path

from femnn.report.files import atomic_write_json, atomic_write_text


def write_fdcheck(out, res: dict, task_name: str) -> list[Path]:
    """``fdcheck.json`` and ``fdcheck.png`` (relative error of finite differences against the adjoint, per step)."""
    from femnn.report.plots import new_figure, save_figure

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    written = [atomic_write_json(out / "fdcheck.json", res)]
    fig, ax = new_figure((6, 4))
    ax.loglog(res["steps_N_per_m"], res["relative_error"], "o-", label=f"{res['scheme']} differences")
    ax.axhline(1e-16, color="k", lw=0.5)
    ax.set_xlabel("step dk (N/m)")
    ax.set_ylabel("|g_FD - g_adjoint| / |g_adjoint|")
    ax.set_title(f"{task_name}: finite differences vs adjoint")
    ax.grid(alpha=0.3, which="both")
    ax.legend()
    written.append(save_figure(fig, out / "fdcheck.png"))
    return written


def write_prune(out, res: dict) -> list[Path]:
    """``prune.json`` and ``prune.csv`` (one row per bond: status, metric after removal and retraining)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    lines = ["bond,node_i,node_j,status,metric_after_removal,metric_after_retraining,free_nodes"]
    for r in res["bonds"]:
        lines.append(",".join(str(v) for v in (r["bond"], *r["nodes"], r["status"], r.get("metric_after_removal", ""),
                                                r.get("metric_after_retraining", ""), " ".join(map(str, r.get("free_nodes", []))))))
    return [atomic_write_json(out / "prune.json", res), atomic_write_text(out / "prune.csv", "\n".join(lines) + "\n")]


def write_render(path, rgb, truth: dict) -> list[Path]:
    """The synthetic photo ``path`` (PNG) and its ground truth ``path.with_suffix('.json')``."""
    from femnn.lab.render import write_png

    path = Path(path)
    write_png(path, rgb)
    return [path, atomic_write_json(path.with_suffix(".json"), truth)]
