"""Networks and tasks: files <-> :class:`Network` / :class:`Task` (numpy only)."""

from femnn.network._io import (
    builtin_networks,
    builtin_tasks,
    geometry_dir,
    load_network,
    load_task,
    network_to_toml,
    resolve,
    write_network,
)
from femnn.network._model import Material, Network, Task
from femnn.network.generators import make_network
from femnn.network.sniff import default_task_for, file_kind, load_network_or_task, load_task_or_network

__all__ = [
    "Material", "Network", "Task", "load_network", "load_task", "write_network", "network_to_toml",
    "make_network", "resolve", "geometry_dir", "builtin_tasks", "builtin_networks", "file_kind", "default_task_for",
    "load_network_or_task", "load_task_or_network",
]
