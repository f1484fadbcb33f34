"""Networks from earlier runs: widths (and removed bonds) from a ``femnn train`` output directory."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from femnn.errors import InputError
from femnn.network import Task
from femnn.report.files import read_widths


def removed_pairs(spec) -> list[list[int]]:
    """Node pairs of bonds removed in a train run (``widths.json: removed_bonds``), else []."""
    p = Path(spec)
    p = p / "widths.json" if p.is_dir() else p
    if p.is_file() and p.suffix == ".json":
        try:
            data = json.loads(p.read_text())
        except json.JSONDecodeError:
            return []
        if isinstance(data, dict):
            return [list(map(int, b)) for b in data.get("removed_bonds", [])]
    return []


def remove_bonds(task: Task, indices=(), pairs=(), src: str = "--remove-bond") -> tuple[Task, list[list[int]]]:
    """Task on the network without the given bonds (indices in the network's order, or node pairs)."""
    net = task.network
    idx = []
    for i in indices:
        if not 0 <= int(i) < net.n_bonds:
            raise InputError(src, "", f"bond {i} does not exist; the network has bonds 0..{net.n_bonds - 1}")
        idx.append(int(i))
    for a, b in pairs:
        try:
            idx.append(net.bond_index(int(a), int(b)))
        except KeyError:
            raise InputError(src, "", f"there is no bond between nodes {a} and {b}") from None
    if not idx:
        return task, []
    removed = [net.bonds[i].tolist() for i in sorted(set(idx))]
    return task.with_network(net.without_bonds(sorted(set(idx)))), removed


def apply_run_widths(task: Task, spec) -> tuple[Task, list[list[int]]]:
    """Set the task network's widths from ``spec`` (run dir or JSON); bonds the run removed are removed too."""
    pairs = removed_pairs(spec)
    task, removed = remove_bonds(task, pairs=pairs, src=str(spec))
    w = read_widths(spec)
    if w.size == task.network.n_bonds + len(removed) and removed:
        raise InputError(str(spec), "widths_m", "widths include removed bonds; expected one per remaining bond")
    if w.size != task.network.n_bonds:
        raise InputError(str(spec), "widths_m", f"{w.size} widths for a network of {task.network.n_bonds} bonds (network bond order expected)")
    lo, hi = task.network.width_bounds_m
    bad = np.flatnonzero((w < lo * (1 - 1e-9)) | (w > hi * (1 + 1e-9)))
    if bad.size:
        i = int(bad[0])
        raise InputError(str(spec), f"widths_m[{i}]", f"{w[i]:.6g} m is outside the network's bounds [{lo:.6g}, {hi:.6g}] m")
    return task.with_network(task.network.with_widths(np.clip(w, lo, hi))), removed
