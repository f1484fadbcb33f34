"""PNG plots with matplotlib: Figure objects on an Agg canvas, never pyplot, so femnn neither needs a
screen nor switches the backend of a user's session (Jupyter, a GUI)."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def new_figure(figsize=(6, 4), dpi: int = 130, **subplots):
    """(fig, ax) on an Agg canvas (no pyplot state). ``subplots``: arguments of ``fig.subplots``."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize, dpi=dpi)
    FigureCanvasAgg(fig)
    return fig, fig.subplots(**subplots) if subplots else fig.add_subplot()


def save_figure(fig, path) -> Path:
    """Write ``fig`` as PNG through a temporary name (readers never see half a picture)."""
    path = Path(path)
    tmp = path.with_name(f".{path.stem}.tmp{path.suffix}")
    fig.savefig(tmp, dpi=fig.dpi, bbox_inches="tight")
    tmp.replace(path)
    return path


def colormap(name: str):
    import matplotlib

    return matplotlib.colormaps[name]


def plot_history(history: list, out_dir, title: str = "") -> list[Path]:
    """``loss.png`` (log scale) and, if present, ``accuracy.png`` / ``error.png`` (train and test)."""
    out_dir = Path(out_dir)
    ep = [h["epoch"] for h in history]
    written = []
    fig, ax = new_figure((6, 4))
    ax.semilogy(ep, [max(h["loss"], 1e-300) for h in history], label="train loss")
    if any(h.get("test_loss") is not None for h in history):
        ax.semilogy(ep, [h.get("test_loss") or np.nan for h in history], label="test loss")
    ax.set_xlabel("epoch" if len(history) and "k_error" not in history[0] else "iteration")
    ax.set_ylabel("loss")
    ax.set_title(title)
    ax.legend()
    ax.grid(alpha=0.3)
    save_figure(fig, out_dir / "loss.png")
    written.append(out_dir / "loss.png")
    for key, fname, lab in (("accuracy", "accuracy.png", "accuracy"), ("error", "error.png", "relative output error")):
        if any(f"train_{key}" in h for h in history):
            fig, ax = new_figure((6, 4))
            for split in ("train", "test"):
                vals = [h.get(f"{split}_{key}") for h in history]
                if any(v is not None for v in vals):
                    y = [np.nan if v is None else v for v in vals]
                    (ax.semilogy if key == "error" else ax.plot)(ep, y, label=split)
            ax.set_xlabel("epoch")
            ax.set_ylabel(lab)
            ax.set_title(title)
            ax.legend()
            ax.grid(alpha=0.3)
            save_figure(fig, out_dir / fname)
            written.append(out_dir / fname)
    return written


def plot_network(network, path, *, widths_m=None, input_nodes=(), output_nodes=(), title: str = "",
                 displacement_m=None, scale: float | None = None) -> Path:
    """The network with bonds drawn as rectangles of their true width (to scale), fixed nodes as
    black squares, input (loaded) nodes red, output nodes blue; optionally the deformed shape."""
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize
    from matplotlib.patches import Polygon

    w = network.widths_m if widths_m is None else np.asarray(widths_m)
    x = network.nodes_m * 1e3
    fig, ax = new_figure((7, 5.5))
    lo, hi = network.width_bounds_m
    cmap = colormap("viridis")
    for (i, j), wb, n in zip(network.bonds, w, network.unit_vectors):
        perp = np.array([-n[1], n[0]]) * wb * 1e3 / 2
        poly = [x[i] + perp, x[j] + perp, x[j] - perp, x[i] - perp]
        c = cmap(0.5 if hi == lo else (wb - lo) / (hi - lo))
        ax.add_patch(Polygon(poly, closed=True, fc=c, ec="none", alpha=0.9))
    if displacement_m is not None:
        d = np.asarray(displacement_m)
        s = scale or (0.15 * np.ptp(x, axis=0).max() / max(np.abs(d).max() * 1e3, 1e-30))
        y = x + s * d * 1e3
        for i, j in network.bonds:
            ax.plot(*y[[i, j]].T, color="tab:orange", lw=1.2)
        ax.plot([], [], color="tab:orange", label=f"deformed (x{s:.3g})")
    ax.scatter(*x.T, s=12, c="k", zorder=3)
    ax.scatter(*x[network.fixed].T, s=90, marker="s", c="k", label="fixed", zorder=4)
    if len(input_nodes):
        ax.scatter(*x[np.asarray(input_nodes)].T, s=80, c="tab:red", label="input (load)", zorder=5)
    if len(output_nodes):
        ax.scatter(*x[np.asarray(output_nodes)].T, s=80, facecolors="none", edgecolors="tab:blue", lw=2,
                   label="output", zorder=5)
    for n_, p in enumerate(x):
        ax.annotate(str(n_), p, textcoords="offset points", xytext=(4, 4), fontsize=7, color="0.3")
    sm = ScalarMappable(cmap=cmap, norm=Normalize(lo * 1e3, hi * 1e3))
    fig.colorbar(sm, ax=ax, label="bond width (mm)", shrink=0.8)
    ax.set_aspect("equal")
    ax.set_xlabel("x (mm)")
    ax.set_ylabel("y (mm)")
    ax.set_title(title)
    ax.legend(loc="lower left", fontsize=8)
    ax.autoscale_view()
    return save_figure(fig, path)


def plot_cell_field(triangles, values, path, *, label: str, title: str = "", nodes=None) -> Path:
    """A piecewise-constant field on triangles (m, 3, 2) in metres, drawn in mm with a colour bar;
    ``nodes`` (n, 2) m are marked for orientation."""
    from matplotlib.collections import PolyCollection

    tri = np.asarray(triangles, float) * 1e3
    fig, ax = new_figure((7, 6))
    pc = PolyCollection(tri, array=np.asarray(values, float), cmap="viridis", edgecolors="face", linewidths=0.05,
                        rasterized=True)
    ax.add_collection(pc)
    if nodes is not None:
        x = np.asarray(nodes, float) * 1e3
        ax.plot(x[:, 0], x[:, 1], "k+", ms=6, mew=0.8)
    ax.autoscale_view()
    ax.set_aspect("equal")
    ax.set_xlabel("x (mm)")
    ax.set_ylabel("y (mm)")
    ax.set_title(title, fontsize=10)
    fig.colorbar(pc, ax=ax, label=label, shrink=0.8)
    return save_figure(fig, path)
