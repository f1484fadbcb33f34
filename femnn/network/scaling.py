"""The paper's tasks on larger triangular lattices (and with other width bounds).

Node (i, j) of a trapezoid with R rows (row i from the top, j from the right) has index
``Σ_{r<i} (R + 1 - r) + j``. A paper-network node in the two bottom rows keeps its row counted
from the bottom and its j; a node in the top rows keeps its row and is shifted by (R - 4) // 2 in j,
so inputs stay at the bottom, outputs stay near the top centre, as in the paper's layout.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from femnn.network._model import Task
from femnn.network.generators import make_network


def _ij(rows: int) -> np.ndarray:
    return np.array([(i, j) for i in range(rows) for j in range(rows + 1 - i)])


def _index(rows: int, i: int, j: int) -> int:
    return sum(rows + 1 - r for r in range(i)) + j


def map_paper_node(node: int, rows: int) -> int:
    """Index on an R-row lattice of the paper (4-row) node ``node``."""
    i, j = _ij(4)[node]
    if i >= 2:
        return _index(rows, rows - (4 - i), j)
    return _index(rows, i, j + (rows - 4) // 2)


def scale_task(task: Task, rows: int | None = None, width_bounds_m=None, width_m=None) -> Task:
    """``task`` (defined on the paper network) on an R-row lattice and/or with other width bounds."""
    net = task.network
    rows = rows or 4
    if rows != 4:
        if net.n_nodes != 14:
            raise ValueError("scale_task maps tasks defined on the paper's 14-node network")
        new = make_network("triangular", rows=rows, spacing_m=float(net.lengths_m[0]), thickness_m=net.thickness_m,
                           width_m=float(net.widths_m[0]), width_bounds_m=net.width_bounds_m, material=net.material,
                           name=f"triangular-{rows}")
        m = np.array([map_paper_node(n, rows) for n in range(14)])
        remap = lambda dofs: 2 * m[np.asarray(dofs) // 2] + np.asarray(dofs) % 2  # noqa: E731
        task = dataclasses.replace(task, network=new, input_dofs=remap(task.input_dofs), output_dofs=remap(task.output_dofs),
                                   name=f"{task.name}-rows{rows}")
        net = new
    if width_bounds_m is not None:
        lo, hi = map(float, width_bounds_m)
        w = np.full(net.n_bonds, (lo + hi) / 2 if width_m is None else width_m)
        net = dataclasses.replace(net, width_bounds_m=np.array([lo, hi]), widths_m=w)
        task = dataclasses.replace(task, network=net, name=f"{task.name}-w{lo * 1e3:g}-{hi * 1e3:g}mm")
    return task
