"""``femnn check FILE``: read a network or task file and report what it holds (exit 2 if it is bad)."""

from __future__ import annotations

from femnn.bars import BarModel
from femnn.errors import InputError, MechanismError
from femnn.network import load_network, load_task, resolve
from femnn.network._io import _read_toml, is_task_data


def add_args(p):
    p.add_argument("file", help="network or task file, or a built-in name")


def run(args) -> int:
    path = resolve(args.file)
    data = _read_toml(path)
    task = load_task(path) if is_task_data(data) else None
    net = task.network if task else load_network(path)
    try:
        n_modes, free = BarModel(net).zero_modes()
    except MechanismError as exc:
        n_modes, free = exc.n_modes, exc.free_nodes
    k = net.stiffness_N_per_m()
    print(f"{path}: network {net.name!r}: {net.n_nodes} nodes, {net.n_bonds} bonds, fixed {net.fixed.tolist()}, "
          f"E = {net.material.youngs_modulus_Pa:.4g} Pa, t = {net.thickness_m * 1e3:.3g} mm, "
          f"widths {net.widths_m.min() * 1e3:.3g}-{net.widths_m.max() * 1e3:.3g} mm, k {k.min():.4g}-{k.max():.4g} N/m")
    if task:
        print(f"task {task.name!r}: {task.kind}, {task.n_samples} sample(s), inputs at nodes {task.input_nodes.tolist()}, "
              f"outputs {task.output_nodes.tolist()}, loss {task.loss}")
    if n_modes:
        raise InputError(str(net.source), "lattice", f"the network is a mechanism: {n_modes} zero mode(s); nodes that move "
                         f"freely: {free}; add bonds or fixed nodes so every node is held")
    print("no zero modes")
    return 0
