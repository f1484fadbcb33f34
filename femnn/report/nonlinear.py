"""Files of the nonlinear studies: ``linearity.json`` + ``linearity.png`` (``femnn linearity``) and
``buckling.json`` (``femnn buckling``). The numbers come from :mod:`femnn.fem.linearity` and
:mod:`femnn.fem.buckling`; this module only writes them (rank 0)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from femnn.report.files import atomic_write_json, versions


def write_linearity(out, rec: dict) -> list[Path]:
    """``linearity.json`` (the record plus the versions) and ``linearity.png``; rank 0 only."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    rec = {**rec, "versions": versions()}
    files = [atomic_write_json(out / "linearity.json", rec), plot_linearity(out / "linearity.png", rec)]
    if rec.get("task_level"):
        files.append(plot_task_linearity(out / "linearity_task.png", rec))
    return files


def _departure_axes(ax, xlabel: str, ylabel: str):
    """A departure (%) panel's frame: the 1 % and 5 % levels, labels, grid, legend."""
    for level in (1, 5):
        ax.axhline(level, color="grey", lw=0.8, ls=":")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)


def plot_task_linearity(path, rec) -> Path:
    """``--samples``: the output departure over the samples (median, max, every sample as a dot) and
    the task metric of the linear and the hyperelastic FEM against the load factor (rank 0 only)."""
    from femnn.report.plots import new_figure, save_figure

    tl = rec["task_level"]
    f = np.asarray(tl["load_factors"], float)
    dep = np.asarray(tl["departure"], float) * 100          # (factors, samples)
    fig, axes = new_figure((11, 4.2), nrows=1, ncols=2, squeeze=False)
    ax = axes[0][0]
    for i, fi in enumerate(f):
        ax.plot(np.full(dep.shape[1], fi), dep[i], ".", color="C0", alpha=0.25, ms=4,
                label="one sample" if i == 0 else None)
    ax.plot(f, np.median(dep, axis=1), "o-", color="C1", label="median")
    ax.plot(f, dep.max(axis=1), "^--", color="C3", label="max")
    _departure_axes(ax, "load factor (1 = the task's forces)", "output departure, hyperelastic vs linear FEM (%)")
    ax = axes[0][1]
    if "accuracy_linear" in tl:
        ax.plot(f, np.full(f.size, tl["accuracy_linear"]), "o--", color="C1", label="linear FEM")
        ax.plot(f, tl["accuracy_nonlinear"], "^-", color="C2", label="hyperelastic FEM")
        for fi, acc, n in zip(f, tl["accuracy_nonlinear"], tl["predictions_changed"]):
            ax.annotate(f"{n} predictions differ", (fi, acc), textcoords="offset points", xytext=(0, -14), ha="center",
                        fontsize=8)
        ax.margins(x=0.12, y=0.2)
        ax.set_ylabel(f"accuracy over {len(tl['samples'])} samples")
    else:
        ax.plot(f, np.full(f.size, tl["error_linear"]), "o--", color="C1", label="linear FEM")
        ax.plot(f, tl["error_nonlinear"], "^-", color="C2", label="hyperelastic FEM (u / factor)")
        ax.set_ylabel(f"relative error over {len(tl['samples'])} samples")
    ax.set_xlabel("load factor (1 = the task's forces)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.suptitle(f"{rec['task']}: the task through the linear and the hyperelastic FEM ({rec['dim']}D, "
                 f"{tl['dofs']} DOFs, {tl['material']['law']})", fontsize=9)
    fig.tight_layout()
    return save_figure(fig, path)


def write_buckling(out, rec: dict) -> Path:
    """``buckling.json`` (the record plus the versions); rank 0 only."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    return atomic_write_json(out / "buckling.json", {**rec, "versions": versions()})


def plot_linearity(path, rec) -> Path:
    """Output displacement (mm) against load (N, the largest nodal force times the factor) for the
    linear FEM, the hyperelastic FEM and the bar model, one panel per output, and a last panel with
    the departure (%) against load (rank 0 only)."""
    from femnn.report.plots import new_figure, save_figure

    f = np.asarray(rec["load_factors"], float)
    order = np.argsort(f)
    F1 = float(np.abs(np.asarray(rec["load_N_at_factor_1"])).max())
    load = np.concatenate([[0.0], f[order] * F1])
    n_out = len(rec["outputs"])
    fig, axes = new_figure((5.2 * (n_out + 1), 4.2), nrows=1, ncols=n_out + 1, squeeze=False)
    for k, ax in enumerate(axes[0][:n_out]):
        for key, style, label in (("u_out_bar_m", "s:", "bar model (linear)"), ("u_out_linear_m", "o--", "linear FEM"),
                                  ("u_out_nonlinear_m", "^-", f"hyperelastic FEM ({rec['material']['law']})")):
            u = np.concatenate([[0.0], np.asarray(rec[key], float)[order, k] * 1e3])
            ax.plot(load, u, style, label=label)
        for key, name in (("limit_1pct", "1 %"), ("limit_5pct", "5 %")):
            if rec.get(key) is not None:
                ax.axvline(rec[key] * F1, color="grey", lw=0.8, ls=":")
                ax.annotate(f"departure {name}", (rec[key] * F1, ax.get_ylim()[0]), rotation=90, fontsize=7,
                            va="bottom", ha="right", color="grey")
        ax.set_xlabel("load: largest nodal force (N)")
        ax.set_ylabel(f"{rec['outputs'][k]} (mm)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    ax = axes[0][n_out]
    dep = np.concatenate([[0.0], np.asarray(rec["departure"], float)[order] * 100])
    ax.plot(load, dep, "^-", color="C2", label="hyperelastic vs linear FEM")
    _departure_axes(ax, "load: largest nodal force (N)", "departure at the outputs (%)")
    fig.suptitle(f"{rec['task']}: {rec['dim']}D P{rec['degree']}, {rec['dofs']} DOFs; load factors {', '.join(f'{x:g}' for x in rec['load_factors'])}",
                 fontsize=9)
    fig.tight_layout()
    return save_figure(fig, path)


def plot_buckling_mode(path, surface, result, mode=0, task=None) -> Path:
    """PNG of a buckling mode (rank 0): 2D the deformed cells coloured by the mode's amplitude |φ| over
    the undeformed mesh; 3D the deformed outer surface (pyvista, off-screen). ``surface``:
    :func:`femnn.fem.buckling.mode_surface`."""
    import os

    X, U = surface
    tdim = 2 if X.shape[-1] == 2 else 3
    gdim = X.shape[-1]
    path = Path(path)
    tmp = path.with_name(f".{path.stem}.tmp.png")
    size = float(np.ptp(X.reshape(-1, gdim), axis=0).max())
    scale = 0.05 * size / max(float(np.abs(U).max()), 1e-300)
    amp = np.linalg.norm(U, axis=2).mean(axis=1)
    lam = float(result.load_factors[mode])
    title = (f"buckling mode {mode + 1}: load factor {lam:.3g}, bond {int(result.bonds[mode])} "
             f"({100 * result.energy_shares[mode, result.bonds[mode]]:.0f} % of the mode's strain energy)")
    if tdim == 2:
        from matplotlib.collections import PolyCollection

        from femnn.report.plots import new_figure

        fig, ax = new_figure((8, 6.5))
        ax.add_collection(PolyCollection(X * 1e3, facecolors="0.9", edgecolors="0.7", linewidths=0.2))
        pc = PolyCollection((X + scale * U) * 1e3, array=amp / amp.max(), cmap="viridis", edgecolors="face",
                            linewidths=0.1)
        ax.add_collection(pc)
        if task is not None:
            nodes = task.network.nodes_m * 1e3
            for i, (a, b) in enumerate(task.network.bonds):
                mid = 0.5 * (nodes[a] + nodes[b])
                ax.annotate(str(i), mid, fontsize=6, color="tab:red" if i == result.bonds[mode] else "0.4",
                            ha="center", va="center")
        ax.autoscale_view()
        ax.set_aspect("equal")
        ax.set_xlabel("x (mm)")
        ax.set_ylabel("y (mm)")
        ax.set_title(title, fontsize=9)
        fig.colorbar(pc, ax=ax, shrink=0.7, label="mode amplitude |φ| / max (grey: undeformed)")
        fig.tight_layout()
        fig.savefig(tmp, dpi=160, format="png")
    else:
        os.environ.setdefault("VTK_DEFAULT_OPENGL_WINDOW", "vtkEGLRenderWindow")
        import pyvista as pv

        pts = (X + scale * U).reshape(-1, 3) * 1e3
        faces = np.hstack([np.full((X.shape[0], 1), 3), np.arange(3 * X.shape[0]).reshape(-1, 3)]).ravel()
        surf = pv.PolyData(pts, faces)
        surf.point_data["amplitude"] = np.linalg.norm(U, axis=2).reshape(-1) / np.linalg.norm(U, axis=2).max()
        ref = pv.PolyData(X.reshape(-1, 3) * 1e3, faces)
        pl = pv.Plotter(off_screen=True, window_size=(1200, 900))
        pl.add_mesh(ref, color="lightgrey", opacity=0.25)
        pl.add_mesh(surf, scalars="amplitude", cmap="viridis", scalar_bar_args={"title": "|φ| / max"})
        pl.add_text(title, font_size=11)
        pl.view_isometric()
        pl.screenshot(str(tmp))
        pl.close()
    os.replace(tmp, path)   # atomic: a failed run never leaves a half-written picture
    return path
