"""Is this file a task or a network? Decided here, once, for every command that takes either."""

from __future__ import annotations

import dataclasses

import numpy as np

from femnn.errors import InputError
from femnn.network._io import _read_toml, load_network, load_task, resolve
from femnn.network._model import Network, Task


def file_kind(name_or_path) -> str:
    """``"network"`` for a network file (it has ``[lattice]`` or ``[generator]``), else ``"task"``."""
    data = _read_toml(resolve(name_or_path))
    return "network" if ("lattice" in data or "generator" in data) else "task"


def default_task_for(network: Network) -> Task:
    """The Fig. 1 experiment on any network: 0.098 N down on the lowest right-most node, loss
    (u_y + 0.025 m)² on the lowest left-most node (for the paper's network: nodes 12 and 13)."""
    fig1 = load_task("fig1")
    x = network.nodes_m
    low = np.flatnonzero(np.isclose(x[:, 1], x[:, 1].min(), atol=1e-9 * np.ptp(x)))
    load_node = int(low[np.argmax(x[low, 0])])
    out_node = int(low[np.argmin(x[low, 0])])
    if load_node == out_node or load_node in network.fixed or out_node in network.fixed:
        raise InputError(network.source, "", "no default load case for this network; give a task file (see geometry/fig1.toml)")
    return dataclasses.replace(fig1, network=network, name=f"{network.name}-fig1", input_dofs=[2 * load_node, 2 * load_node + 1],
                               output_dofs=[2 * out_node + 1], source=network.source)


def load_network_or_task(name_or_path) -> tuple[Network, Task | None]:
    """(network, task or None): a task file gives its network and itself, a network file itself."""
    path = resolve(name_or_path)
    if file_kind(path) == "network":
        return load_network(path), None
    task = load_task(path)
    return task.network, task


def load_task_or_network(name_or_path) -> Task:
    """A task file, or a network file with :func:`default_task_for`."""
    net, task = load_network_or_task(name_or_path)
    return task if task is not None else default_task_for(net)
