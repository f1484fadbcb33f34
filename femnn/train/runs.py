"""Networks from earlier runs: widths (and removed bonds) from a ``femnn train`` output directory.

Widths are matched to the network by NODE PAIRS when the run recorded them (``widths.json:
bonds``), so a network whose bond list is ordered differently gets the right width on every bond;
a run whose bonds are not the network's bonds is refused. A bare list of widths is taken in the
network's bond order.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from femnn.errors import InputError
from femnn.network import Task
from femnn.report.files import read_widths


def _run_json(spec) -> tuple[str, dict | None]:
    """(path, parsed widths JSON object) of a run directory or widths file; (spec, None) otherwise."""
    p = Path(spec)
    p = p / "widths.json" if p.is_dir() else p
    if p.is_file() and p.suffix == ".json":
        try:
            data = json.loads(p.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError, OSError):
            return str(p), None
        return str(p), data if isinstance(data, dict) else None
    return str(spec), None


def _pairs(value, src, fld) -> list[tuple[int, int]]:
    if not isinstance(value, list):
        raise InputError(src, fld, "must be a list of node pairs [i, j]")
    out = []
    for b, pair in enumerate(value):
        if not (isinstance(pair, list) and len(pair) == 2 and all(isinstance(v, int) and not isinstance(v, bool) for v in pair)):
            raise InputError(src, f"{fld}[{b}]", f"{pair!r} is not a node pair [i, j] of integers")
        out.append((min(pair), max(pair)))
    return out


def removed_pairs(spec) -> list[list[int]]:
    """Node pairs of bonds removed in a train run (``widths.json: removed_bonds``), else []."""
    src, data = _run_json(spec)
    if data is None or "removed_bonds" not in data:
        return []
    return [list(p) for p in _pairs(data["removed_bonds"], src, "removed_bonds")]


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
            raise InputError(src, "removed_bonds", f"there is no bond between nodes {a} and {b} in network {net.name!r}; "
                             "this run belongs to another network") from None
    if not idx:
        return task, []
    removed = [net.bonds[i].tolist() for i in sorted(set(idx))]
    if len(removed) >= net.n_bonds:
        raise InputError(src, "", "would remove every bond; keep at least one")
    return task.with_network(net.without_bonds(sorted(set(idx)))), removed


def match_bonds(network, pairs, src: str) -> np.ndarray:
    """Permutation ``perm`` with ``network.bonds[i] ~ pairs[perm[i]]`` (node pairs, either order), or refuse."""
    key = {p: i for i, p in enumerate(pairs)}
    if len(key) != len(pairs):
        raise InputError(src, "bonds", "lists a bond twice")
    perm = np.empty(network.n_bonds, dtype=np.int64)
    for i, (a, b) in enumerate(network.bonds.tolist()):
        j = key.get((min(a, b), max(a, b)))
        if j is None:
            raise InputError(src, "bonds", f"has no width for the network's bond {i} [{a}, {b}]: the widths belong to another "
                             f"network (not {network.name!r}); use that network or widths recorded for this one")
        perm[i] = j
    if len(pairs) != network.n_bonds:
        extra = sorted(set(pairs) - {(min(a, b), max(a, b)) for a, b in network.bonds.tolist()})
        raise InputError(src, "bonds", f"bond {list(extra[0])} is not in network {network.name!r}: the widths belong to another network")
    return perm


def apply_run_widths(task: Task, spec) -> tuple[Task, list[list[int]]]:
    """Set the task network's widths from ``spec`` (run dir or JSON); bonds the run removed are removed too.

    With recorded ``bonds`` (a ``femnn train`` run) the widths are matched by node pairs; a bare
    list is taken in the network's bond order.
    """
    src, data = _run_json(spec)
    pairs = removed_pairs(spec)
    task, removed = remove_bonds(task, pairs=pairs, src=src)
    w = read_widths(spec)
    if data is not None and "bonds" in data:
        bonds = _pairs(data["bonds"], src, "bonds")
        if len(bonds) != w.size:
            raise InputError(src, "bonds", f"{len(bonds)} bonds for {w.size} widths; the file is inconsistent")
        w = w[match_bonds(task.network, bonds, src)]
    else:
        if w.size == task.network.n_bonds + len(removed) and removed:
            raise InputError(src, "widths_m", "widths include removed bonds; expected one per remaining bond")
        if w.size != task.network.n_bonds:
            raise InputError(src, "widths_m", f"{w.size} widths for a network of {task.network.n_bonds} bonds (network bond order expected)")
    lo, hi = task.network.width_bounds_m
    bad = np.flatnonzero((w < lo * (1 - 1e-9)) | (w > hi * (1 + 1e-9)))
    if bad.size:
        i = int(bad[0])
        raise InputError(src, f"widths_m[{i}]", f"{w[i]:.6g} m is outside the network's bounds [{lo:.6g}, {hi:.6g}] m")
    return task.with_network(task.network.with_widths(np.clip(w, lo, hi))), removed


def run_task_name(spec) -> str | None:
    """The task a ``femnn train`` run was made for (``widths.json: task``), if recorded."""
    _, data = _run_json(spec)
    name = data.get("task") if data else None
    return name if isinstance(name, str) else None


@contextmanager
def lock_directory(path: Path, option: str = "--out"):
    """Hold an exclusive lock on directory ``path`` (flock on the directory itself: no lock file is
    left behind, and a killed process releases it). A second holder is refused at once."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise InputError(option, "", f"{path} is in use by another running femnn command; wait for it to finish "
                                 f"or choose another {option}") from None
            raise
        yield
    finally:
        os.close(fd)
