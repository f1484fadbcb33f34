"""The files of a ``femnn train`` run, written only when the results exist and never half-way.

``write_train_run(out, result, removed)`` writes every file into a temporary directory inside
``out`` (``.staging-<random>``), then moves them into place one by one with ``os.replace`` (atomic
per file) and finally deletes files of an earlier run in ``out`` that this run does not produce
(e.g. ``split.json`` of a data-set run replaced by a single-load run). Until the first rename the
earlier run is untouched; a failure while staging removes the staging directory and leaves the
earlier run byte-identical.

Files: ``history.json`` (per epoch), ``widths.json`` (task, network, ``bonds`` as node pairs,
``widths_m``, ``k_N_per_m``, ``width_bounds_m``, ``removed_bonds``), ``split.json`` (data sets),
``network.toml`` (the trained network), ``summary.json`` (settings, final metrics, versions,
``fingerprint``), ``fem_history.json`` (physics-aware training: the FEM per step), and the plots ``loss.png``, ``accuracy.png``/``error.png``, ``network.png``.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from femnn.network import network_to_toml
from femnn.report.files import atomic_write_json, atomic_write_text, versions

RUN_FILES = ("history.json", "widths.json", "split.json", "network.toml", "summary.json", "loss.png", "accuracy.png",
             "error.png", "network.png", "fem_history.json")


def _stage(stage: Path, res, removed, plots: bool) -> None:
    task = res.task
    net = task.network
    atomic_write_json(stage / "history.json", res.history)
    if res.physical is not None:   # physics-aware training: the FEM's own per-step record
        atomic_write_json(stage / "fem_history.json", res.physical)
    atomic_write_json(stage / "widths.json", {
        "task": task.name, "network": net.name, "bonds": net.bonds, "widths_m": res.widths_m,
        "k_N_per_m": res.k_N_per_m, "width_bounds_m": net.width_bounds_m, "removed_bonds": removed,
    })
    if res.split is not None:
        atomic_write_json(stage / "split.json", res.split, indent=None)
    trained = net.with_widths(res.widths_m)
    atomic_write_text(stage / "network.toml", f"# trained on task {task.name!r} by femnn train\n" + network_to_toml(trained))
    loss = {"kind": task.loss}
    loss.update({"mse": {"weight": task.loss_weight}, "ce-ratio-softmax": {"temperature": task.temperature},
                 "ce-softmax": {"softmax_scale_per_m": task.softmax_scale_per_m}}.get(task.loss, {}))
    summary = {"task": task.name, "task_file": task.source, "loss": loss, "settings": res.settings, "stopped_by": res.stopped_by,
               "epochs": len(res.history), "seconds": res.seconds, "final": res.history[-1] if res.history else None,
               "removed_bonds": removed, "versions": versions(), "fingerprint": res.fingerprint}
    atomic_write_json(stage / "summary.json", summary)
    if plots:
        from femnn.report.plots import plot_history, plot_network

        plot_history(res.history, stage, title=task.name)
        plot_network(trained, stage / "network.png", input_nodes=task.input_nodes, output_nodes=task.output_nodes,
                     title=f"{task.name}: trained widths")


def write_train_run(out, res, removed=(), plots: bool = True) -> Path:
    """Write the run ``res`` (a :class:`femnn.train.TrainResult`) into ``out`` (see the module docstring)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob(".staging-*"):   # left by a run killed while writing (the caller holds --out's lock)
        shutil.rmtree(old, ignore_errors=True)
    stage = Path(tempfile.mkdtemp(prefix=".staging-", dir=out))
    try:
        _stage(stage, res, list(removed), plots)
        new = sorted(p.name for p in stage.iterdir())
        # summary.json last: a run is complete once its summary is in place
        for name in sorted(new, key=lambda n: n == "summary.json"):
            os.replace(stage / name, out / name)
        for name in RUN_FILES:
            if name not in new and (out / name).exists():
                (out / name).unlink()
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    return out
