"""Network and task files (TOML) <-> :class:`Network` / :class:`Task`.

A network file declares its units and holds the lattice; a task file refers to a network and adds
loads, outputs, loss, data and hyper-parameters. Everything is converted to SI on reading. Every
problem raises :class:`femnn.errors.InputError` naming the file, the field, the value and the fix.

Network file (``geometry/networks/paper.toml`` is a complete example)::

    name = "paper"
    [units]
    length = "m"            # m | cm | mm
    stress = "Pa"           # Pa | kPa | MPa
    density = "kg/m^3"      # kg/m^3 | g/cm^3
    [material]
    name = "Agilus30"
    youngs_modulus = 5.5e5
    poisson_ratio = 0.49
    density = 1145.0
    [bonds_geometry]        # out-of-plane thickness, width bounds and widths (one value or one per bond)
    thickness = 2e-3
    width_bounds = [1.5e-3, 2.5e-3]
    widths = 2e-3
    [lattice]
    nodes = [[0.0, 0.0], ...]
    bonds = [[0, 1], ...]
    fixed = [0, 4]

Instead of ``[lattice]`` a file may give ``[generator]`` (``kind``, ``rows`` ... see
:mod:`femnn.network.generators`).
"""

from __future__ import annotations

import os
import tempfile
import tomllib
from pathlib import Path

import numpy as np

from femnn.errors import InputError
from femnn.network._model import Material, Network, Task
from femnn.network._reader import Table, type_name

LENGTH_UNITS = {"m": 1.0, "cm": 1e-2, "mm": 1e-3}
STRESS_UNITS = {"Pa": 1.0, "kPa": 1e3, "MPa": 1e6}
DENSITY_UNITS = {"kg/m^3": 1.0, "kg/m3": 1.0, "g/cm^3": 1e3, "g/cm3": 1e3}
FORCE_UNITS = {"N": 1.0, "mN": 1e-3}
COMPONENTS = {"x": 0, "y": 1}
LOSSES = ("mse", "ce-normalised", "ce-softmax", "ce-ratio-softmax")
TRAINING_DEFAULTS = {
    "learning_rate": 0.005,
    "beta": 10.0,
    "batch_size": 16,
    "epochs": 100,
    "train_fraction": 0.7,
    "max_iter": 10000,
    "k_tol": 1e-8,
    "u_tol": 0.0,
}


def geometry_dir() -> Path:
    """The folder of built-in networks and tasks (``$FEMNN_GEOMETRY`` or the repository's ``geometry/``)."""
    env = os.environ.get("FEMNN_GEOMETRY")
    return Path(env) if env else Path(__file__).resolve().parents[2] / "geometry"


def builtin_tasks() -> list[str]:
    return sorted(p.stem for p in geometry_dir().glob("*.toml"))


def builtin_networks() -> list[str]:
    return sorted(p.stem for p in (geometry_dir() / "networks").glob("*.toml"))


# field -> checks of femnn.network._reader.check_number (shared with femnn.train.TrainConfig)
TRAINING_CHECKS = {
    "learning_rate": dict(lo=0.0, lo_open=True),
    "beta": dict(lo=0.0, hi=1e4, lo_open=True),   # the sigmoid's slope; task files use 5-10
    "batch_size": dict(lo=1, integer=True),
    "epochs": dict(lo=1, integer=True),
    "train_fraction": dict(lo=0.0, hi=1.0, lo_open=True),
    "max_iter": dict(lo=1, integer=True),
    "k_tol": dict(lo=0.0),
    "u_tol": dict(lo=0.0),
}
MAX_SAMPLES = 10_000_000
NETWORK_KEYS = ("name", "description", "units", "material", "bonds_geometry", "lattice", "generator")
TASK_KEYS = ("name", "description", "network", "kind", "units", "loads", "inputs", "outputs", "loss", "data", "training")


def _read_toml(path: Path) -> dict:
    path = Path(path)
    if not path.exists():
        raise InputError(str(path), "", "file does not exist (give a path or a built-in name)")
    if not path.is_file():
        kind = "a directory" if path.is_dir() else "not a regular file"
        raise InputError(str(path), "", f"is {kind}; give a .toml file")
    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise InputError(str(path), "", f"not valid TOML ({exc})") from None
    except UnicodeDecodeError:
        raise InputError(str(path), "", "not a text (TOML) file") from None
    except OSError as exc:
        raise InputError(str(path), "", f"cannot be read ({exc.strerror})") from None


def is_task_data(data: dict) -> bool:
    """True when a parsed TOML file is a task (it names a network and holds no lattice/generator)."""
    return "network" in data and "lattice" not in data and "generator" not in data


def _unit(units: Table, key: str, table: dict, default=None) -> float:
    if key not in units:
        if default is not None:
            return table[default]
        raise InputError(units.src, f"units.{key}", f"missing units; declare e.g. {key} = \"{next(iter(table))}\" in [units]")
    return table[units.string(key, choices=list(table))]


def _close_nodes(nodes_m: np.ndarray, tol_m: float) -> tuple[int, int] | None:
    """The first pair of nodes closer than ``tol_m`` (k-d tree, O(n log n)), else None."""
    from scipy.spatial import cKDTree

    pairs = cKDTree(nodes_m).query_pairs(tol_m, output_type="ndarray")
    if pairs.size == 0:
        return None
    pairs = np.sort(pairs, axis=1)
    i, j = pairs[np.lexsort((pairs[:, 1], pairs[:, 0]))][0]
    return int(i), int(j)


def check_network(net: Network, src: str) -> None:
    """Structural checks shared by files and generators (indices, duplicates, positions, lengths, widths)."""
    n = net.n_nodes
    if n < 2:
        raise InputError(src, "lattice.nodes", f"{n} node(s); a network needs at least 2")
    if net.n_bonds == 0:
        raise InputError(src, "lattice.bonds", "no bonds; list node pairs [i, j]")
    if not np.all(np.isfinite(net.nodes_m)):
        i = int(np.argwhere(~np.isfinite(net.nodes_m))[0][0])
        raise InputError(src, f"lattice.nodes[{i}]", "is not finite; give real coordinates")
    for b, (i, j) in enumerate(net.bonds):
        for v in (i, j):
            if not 0 <= v < n:
                raise InputError(src, f"lattice.bonds[{b}]", f"unknown node index {int(v)}; the network has nodes 0..{n - 1}")
        if i == j:
            raise InputError(src, f"lattice.bonds[{b}]", f"[{i}, {j}] joins a node to itself; give two different nodes")
    key = np.sort(net.bonds, axis=1)
    _, first, counts = np.unique(key, axis=0, return_index=True, return_counts=True)
    if np.any(counts > 1):
        dup = key[first[np.argmax(counts > 1)]]
        where = np.flatnonzero((key == dup).all(axis=1))
        raise InputError(src, f"lattice.bonds[{where[1]}]", f"duplicate bond {dup.tolist()} (same as bonds[{where[0]}]); remove one")
    lengths = net.lengths_m
    typical = float(np.median(lengths))
    if typical > 0:
        # a node far from the rest (a typo such as 1e200, or a wrong unit) before "zero-length" confusion
        centre = np.median(net.nodes_m, axis=0)
        dist = np.hypot(*(net.nodes_m - centre).T)
        far = int(np.argmax(dist))
        if dist[far] > 1e6 * typical:
            raise InputError(src, f"lattice.nodes[{far}]", f"{net.nodes_m[far].tolist()} m lies {dist[far] / typical:.3g} "
                             "typical bond lengths from the other nodes; fix the coordinate (or the length unit)")
    scale = typical if typical > 0 else (float(np.ptp(net.nodes_m, axis=0).max()) or 1.0)
    short = np.flatnonzero(lengths <= 1e-9 * scale)
    if short.size:
        b = int(short[0])
        raise InputError(src, f"lattice.bonds[{b}]", f"zero-length bond {net.bonds[b].tolist()}: its nodes coincide; move a node or drop the bond")
    close = _close_nodes(net.nodes_m, 1e-9 * scale)
    if close is not None:
        i, j = close
        raise InputError(src, f"lattice.nodes[{j}]", f"nodes {i} and {j} are at the same position {net.nodes_m[i].tolist()} m; "
                         "move one or merge them")
    for f, v in enumerate(net.fixed):
        if not 0 <= v < n:
            raise InputError(src, f"lattice.fixed[{f}]", f"unknown node index {int(v)}; the network has nodes 0..{n - 1}")
    if len(set(net.fixed.tolist())) != net.fixed.size:
        raise InputError(src, "lattice.fixed", f"{net.fixed.tolist()} lists a node twice")
    lo, hi = net.width_bounds_m
    if not (np.isfinite(lo) and np.isfinite(hi) and 0 < lo <= hi):
        raise InputError(src, "bonds_geometry.width_bounds", f"[{lo}, {hi}] must satisfy 0 < lower <= upper")
    tol = 1e-12 * hi
    out = np.flatnonzero(~np.isfinite(net.widths_m) | (net.widths_m < lo - tol) | (net.widths_m > hi + tol))
    if out.size:
        b = int(out[0])
        raise InputError(src, f"bonds_geometry.widths[{b}]", f"width {net.widths_m[b]:.6g} m is outside its bounds [{lo:.6g}, {hi:.6g}] m; change the width or the bounds")
    if not (np.isfinite(net.thickness_m) and net.thickness_m > 0):
        raise InputError(src, "bonds_geometry.thickness", f"{net.thickness_m} must be > 0")
    nu = net.material.poisson_ratio
    if not (np.isfinite(nu) and -1.0 < nu <= 0.5):
        raise InputError(src, "material.poisson_ratio", f"{nu!r} is outside (-1, 0.5]; an isotropic solid needs -1 < nu <= 0.5 "
                         "(0.5: incompressible, solved with the mixed u-p formulation)")
    if not (np.isfinite(net.material.youngs_modulus_Pa) and net.material.youngs_modulus_Pa > 0):
        raise InputError(src, "material.youngs_modulus", f"{net.material.youngs_modulus_Pa!r} must be > 0")


def parse_network(data: dict, src: str, name: str = "network", path: str = "") -> Network:
    """Build a :class:`Network` from a parsed TOML table (see the module docstring).

    ``path`` is the table's place in the file ("" for a network file, "network" when a task holds
    its network inline); every field goes through :class:`femnn.network._reader.Table`.
    """
    top = Table(data, src, path, NETWORK_KEYS)
    sub = lambda key: f"{path}.{key}" if path else key  # noqa: E731
    if "units" not in top:
        raise InputError(src, sub("units"), "missing units; add a [units] table with length, stress and density")
    units = top.table("units", ("length", "stress", "density"))
    ls = _unit(units, "length", LENGTH_UNITS)
    ss = _unit(units, "stress", STRESS_UNITS)
    ds = _unit(units, "density", DENSITY_UNITS, default="kg/m^3")
    mat = top.table("material", ("name", "youngs_modulus", "poisson_ratio", "density"))
    material = Material(
        name=mat.string("name", "Agilus30"),
        youngs_modulus_Pa=ss * mat.number("youngs_modulus", lo=0.0, lo_open=True),
        poisson_ratio=mat.number("poisson_ratio", 0.49, lo=-1.0, hi=0.5, lo_open=True),
        density_kg_per_m3=ds * mat.number("density", 1145.0, lo=0.0, lo_open=True),
    )
    bg = top.table("bonds_geometry", ("thickness", "width_bounds", "widths"))
    thickness = ls * bg.number("thickness", lo=0.0, lo_open=True)
    bounds = bg.numbers("width_bounds", length=2) * ls
    if not 0 < bounds[0] <= bounds[1]:
        raise InputError(src, bg.fld("width_bounds"), f"{(bounds / ls).tolist()} must be [lower, upper] with 0 < lower <= upper")

    if "generator" in top:
        from femnn.network.generators import from_spec

        if "lattice" in top:
            raise InputError(src, sub("generator"), "a network has either [lattice] or [generator], not both; remove one")
        nodes, bonds, fixed = from_spec(top.raw("generator"), src, length_scale=ls, path=sub("generator"))
    else:
        lat = top.table("lattice", ("nodes", "bonds", "fixed"))
        nodes = lat.numbers("nodes", shape_tail=(2,)) * ls
        n = nodes.shape[0]
        pairs = lat.list("bonds")
        for b, pair in enumerate(pairs):
            if not (isinstance(pair, list) and len(pair) == 2):
                raise InputError(src, f"{lat.fld('bonds')}[{b}]", f"{pair!r} is not a node pair [i, j]")
            for v in pair:
                lat.index("bonds", n, value=v, fld=f"{lat.fld('bonds')}[{b}]")
        bonds = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
        fixed = np.asarray(lat.indices("fixed", n, nonempty=False), dtype=np.int64)

    w_raw = bg.raw("widths")
    if isinstance(w_raw, list):
        widths = bg.numbers("widths") * ls
        if widths.shape[0] != bonds.shape[0]:
            raise InputError(src, bg.fld("widths"), f"{widths.shape[0]} widths for {bonds.shape[0]} bonds; give one per bond or a single number")
    else:
        widths = np.full(bonds.shape[0], ls * bg.number("widths", lo=0.0, lo_open=True))
    net = Network(nodes, bonds, fixed, widths, bounds, thickness, material, name=top.string("name", name), source=src)
    check_network(net, src)
    return net


def resolve(name_or_path, kind: str = "task") -> Path:
    """A path, or a built-in name: ``fig1`` -> ``geometry/fig1.toml``, ``paper`` -> ``geometry/networks/paper.toml``."""
    if not isinstance(name_or_path, (str, os.PathLike)):
        raise InputError(str(name_or_path), "", f"{name_or_path!r} is {type_name(name_or_path)}; expected a file path or a built-in name")
    p = Path(name_or_path)
    if p.suffix == ".toml" or p.exists():
        return p
    base = geometry_dir()
    for cand in ((base / f"{p}.toml", base / "networks" / f"{p}.toml") if kind == "task" else (base / "networks" / f"{p}.toml", base / f"{p}.toml")):
        if cand.is_file():
            return cand
    known = builtin_tasks() + builtin_networks()
    raise InputError(str(name_or_path), "", f"no such file or built-in name; built-ins: {', '.join(known)}")


def load_network(name_or_path, _chain: tuple = ()) -> Network:
    """Read a network file (or a task file, returning its network)."""
    path = resolve(name_or_path, kind="network")
    data = _read_toml(path)
    if is_task_data(data):
        return load_task(path, _chain=_chain).network
    return parse_network(data, str(path), name=path.stem)


def _components(tbl: Table, key: str, n: int) -> list[int]:
    raw = tbl.raw(key)
    fld = tbl.fld(key)
    if isinstance(raw, str):
        raw = [raw] * n
    if not isinstance(raw, list) or len(raw) != n:
        raise InputError(tbl.src, fld, f"{raw!r}: give one of 'x'/'y' per node ({n})")
    out = []
    for c, v in enumerate(raw):
        if not isinstance(v, str) or v not in COMPONENTS:
            raise InputError(tbl.src, f"{fld}[{c}]", f"{v!r} is not a component; expected 'x' or 'y'")
        out.append(COMPONENTS[v])
    return out


def _iris_data():
    from importlib import resources

    text = resources.files("femnn.data").joinpath("iris.csv").read_text()
    rows = [r.split(",") for r in text.strip().splitlines()[1:]]
    X = np.array([[float(v) for v in r[:4]] for r in rows])
    names = ("setosa", "versicolor", "virginica")
    y = np.array([names.index(r[4].strip()) for r in rows], dtype=np.int64)
    return X, y, names


def _csv_data(path: Path, src: str, n_in: int):
    if not path.is_file():
        raise InputError(src, "data.file", f"{path} does not exist or is not a file; give the CSV file's path (relative to the task file)")
    try:
        arr = np.loadtxt(path, delimiter=",", skiprows=1, ndmin=2)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InputError(str(path), "", f"not a numeric CSV with a header line ({exc})") from None
    if arr.shape[0] == 0:
        raise InputError(str(path), "", "holds no data rows; give a header line and at least one row")
    if arr.shape[1] <= n_in:
        raise InputError(str(path), "", f"{arr.shape[1]} columns; expected {n_in} input columns then the target column(s)")
    if not np.isfinite(arr).all():
        r, c = np.argwhere(~np.isfinite(arr))[0]
        raise InputError(str(path), f"row {r + 2}, column {c + 1}", "is not finite (NaN/inf)")
    return arr[:, :n_in], arr[:, n_in:]


def _task_network(top: Table, path: Path, chain: tuple) -> Network:
    src = top.src
    net_ref = top.raw("network")
    if isinstance(net_ref, dict):
        return parse_network(net_ref, src, name=path.stem, path="network")
    if not isinstance(net_ref, str) or not net_ref:
        raise InputError(src, "network", f"{net_ref!r} is {type_name(net_ref)}; name a network file or built-in (e.g. network = \"paper\")")
    net_path = Path(net_ref)
    if not net_path.is_absolute() and (path.parent / net_path).exists():
        net_path = path.parent / net_path
    target = resolve(net_path if net_path.exists() else net_ref, kind="network")
    me = path.resolve()
    if target.resolve() == me or target.resolve() in chain:
        raise InputError(src, "network", f"{net_ref!r} refers back to this task file; name a network file (e.g. network = \"paper\")")
    return load_network(target, _chain=chain + (me,))


def _single_loads(top: Table, n_nodes, fixed, fs):
    dofs, cols, scales = [], [], []
    for c, ld in enumerate(top.tables("loads", ("node", "force"))):
        node = ld.index("node", n_nodes)
        force = ld.numbers("force", length=2) * fs
        if node in fixed:
            raise InputError(top.src, ld.fld("node"), f"node {node} is fixed; a load on a fixed node does nothing; load a free node")
        for comp in (0, 1):
            dofs.append(2 * node + comp)
            cols.append(0)
            scales.append(force[comp])
    return dofs, cols, scales


def _data_set(top: Table, path: Path, kind: str, n_in: int, n_out: int, fs: float, ls: float):
    src = top.src
    dt = top.table("data", ("kind", "n_samples", "input_range", "slopes", "noise_std", "seed", "file"))
    dk = dt.string("kind", choices=("iris", "linear", "csv"))
    class_names: tuple = ()
    if dk == "iris":
        X, Y, class_names = _iris_data()
    elif dk == "linear":
        n_s = dt.integer("n_samples", lo=2, hi=MAX_SAMPLES)
        lo, hi = (dt.numbers("input_range", length=2) * fs).tolist()
        if not lo < hi:
            raise InputError(src, dt.fld("input_range"), f"[{lo / fs:g}, {hi / fs:g}] must be [low, high] with low < high")
        slopes = dt.numbers("slopes", length=n_out) * (ls / fs)
        noise = ls * dt.number("noise_std", 0.0, lo=0.0)
        seed = dt.integer("seed", 0, lo=0)
        rng = np.random.default_rng(seed)
        x = rng.uniform(lo, hi, size=n_s)
        X = (x / fs)[:, None] if n_in == 1 else np.repeat((x / fs)[:, None], n_in, axis=1)
        Y = x[:, None] * slopes[None, :]
        if noise > 0:
            Y = Y + rng.normal(0.0, noise, size=Y.shape)
    else:
        X, Y = _csv_data(path.parent / dt.string("file"), src, n_in)
        if kind == "classification":
            labels = Y[:, 0]
            frac = np.flatnonzero(labels != np.round(labels))
            if frac.size:
                r = int(frac[0])
                raise InputError(str(path.parent / dt.data["file"]), f"row {r + 2}, column {n_in + 1}",
                                 f"class label {labels[r]!r} is not an integer; give 0-based class numbers")
            Y = labels.astype(np.int64)
        else:
            Y = Y * ls
    return X, Y, class_names


def _data_inputs(top, n_nodes: int, fixed: set, fs: float, src: str):
    """``[inputs]`` of a data-set task: its table and, per input column, the loaded DOF, the column and the
    force per unit input (N)."""
    dofs, cols, scales = [], [], []
    inp = top.table("inputs", ("nodes", "components", "scale", "normalise"))
    nodes = inp.indices("nodes", n_nodes)
    comps = _components(inp, "components", len(nodes))
    scale = fs * inp.number("scale", 1.0, nonzero=True)
    for c, (node, comp) in enumerate(zip(nodes, comps)):
        if node in fixed:
            raise InputError(src, f"inputs.nodes[{c}]", f"node {node} is fixed; a load on a fixed node does nothing; load a free node")
        dofs.append(2 * node + comp)
        cols.append(c)
        scales.append(scale)
    if len(set(dofs)) != len(dofs):
        raise InputError(src, "inputs", "lists the same node and component twice")
    return inp, dofs, cols, scales


def _outputs(top, n_nodes: int, fixed: set, src: str) -> list:
    """``[outputs]``: the output DOFs (2 node + component), free and distinct."""
    out = top.table("outputs", ("nodes", "components"))
    onodes = out.indices("nodes", n_nodes)
    ocomps = _components(out, "components", len(onodes))
    for c, node in enumerate(onodes):
        if node in fixed:
            raise InputError(src, f"outputs.nodes[{c}]", f"node {node} is fixed and never moves; choose a free node")
    output_dofs = [2 * n + c for n, c in zip(onodes, ocomps)]
    if len(set(output_dofs)) != len(output_dofs):
        raise InputError(src, "outputs", "lists the same node and component twice")
    return output_dofs


def load_task(name_or_path, _chain: tuple = ()) -> Task:
    """Read a task file (TOML) and the network it refers to; see ``geometry/*.toml``."""
    path = resolve(name_or_path, kind="task")
    src = str(path)
    data = _read_toml(path)
    if "network" not in data:
        if "lattice" in data or "generator" in data:
            raise InputError(src, "network", "this is a network file, not a task; give a task (e.g. fig1, iris)")
        raise InputError(src, "network", "missing; name the network file (e.g. network = \"paper\")")
    top = Table(data, src, "", TASK_KEYS)
    network = _task_network(top, path, _chain)
    if "units" not in top:
        raise InputError(src, "units", "missing units; add [units] with length = \"m\" and force = \"N\"")
    units = top.table("units", ("length", "force"))
    ls = _unit(units, "length", LENGTH_UNITS)
    fs = _unit(units, "force", FORCE_UNITS)
    n_nodes = network.n_nodes
    fixed = set(network.fixed.tolist())
    kind = top.string("kind", choices=("single", "regression", "classification"))
    for key, needs in (("loads", "single"), ("inputs", "regression/classification"), ("data", "regression/classification")):
        if key in top and (kind == "single") != (needs == "single"):
            raise InputError(src, key, f"is only used by kind = {needs} tasks, this one is {kind!r}; remove it")

    # ---- loads (inputs) ----
    if kind == "single":
        dofs, cols, scales = _single_loads(top, n_nodes, fixed, fs)
        X = np.ones((1, 1))
    else:
        inp, dofs, cols, scales = _data_inputs(top, n_nodes, fixed, fs, src)
    output_dofs = _outputs(top, n_nodes, fixed, src)
    # ---- loss ----
    lt = top.table("loss", ("kind", "weight", "softmax_scale_per_m", "temperature", "targets", "target"))
    loss = lt.string("kind", choices=LOSSES)
    weight = lt.number("weight", 0.5, lo=0.0, lo_open=True)
    sm_scale = lt.number("softmax_scale_per_m", 1.0, lo=0.0, lo_open=True) / ls
    temperature = lt.number("temperature", 20.0, lo=0.0, lo_open=True)
    n_out = len(output_dofs)
    class_names: tuple = ()
    # ---- data ----
    if kind == "single":
        if loss == "mse":
            Y = (lt.numbers("targets", length=n_out) * ls)[None, :]
        else:
            tgt = lt.raw("target")
            if isinstance(tgt, bool) or not isinstance(tgt, int) or not 0 <= tgt < n_out:
                raise InputError(src, "loss.target", f"{tgt!r}; expected the index (0..{n_out - 1}) of the output that should move most")
            Y = np.array([tgt])
    else:
        n_in = len(dofs)
        X, Y, class_names = _data_set(top, path, kind, n_in, n_out, fs, ls)
        if X.shape[1] != n_in:
            raise InputError(src, "inputs.nodes", f"{n_in} input nodes for {X.shape[1]} data features")
        if inp.string("normalise", "none", choices=("max", "none")) == "max":
            peak = np.abs(X).max(axis=0)
            if np.any(peak == 0):
                raise InputError(src, "inputs.normalise", f"feature {int(np.flatnonzero(peak == 0)[0])} is zero in every sample; "
                                 "'max' cannot scale it: use normalise = \"none\" or fix the data")
            X = X / peak
        if kind == "classification":
            if loss == "mse":
                raise InputError(src, "loss.kind", "classification needs a cross-entropy loss ('ce-normalised', 'ce-ratio-softmax' or 'ce-softmax')")
            if Y.min() < 0 or Y.max() >= n_out:
                raise InputError(src, "data", f"class labels {int(Y.min())}..{int(Y.max())} do not fit {n_out} outputs")
        elif loss != "mse":
            raise InputError(src, "loss.kind", f"{loss!r}: regression needs 'mse'")
        elif Y.shape[1] != n_out:
            raise InputError(src, "data", f"{Y.shape[1]} target columns for {n_out} outputs")
    tr = dict(TRAINING_DEFAULTS)
    trt = top.table("training", tuple(TRAINING_DEFAULTS), default=None)
    for key in trt.data:
        tr[key] = trt.number(key, **TRAINING_CHECKS[key])
    return Task(
        name=top.string("name", path.stem), network=network, kind=kind,
        input_dofs=dofs, input_columns=cols, input_scale_N=scales, output_dofs=output_dofs,
        loss=loss, X=X, Y=Y, loss_weight=weight, softmax_scale_per_m=sm_scale, temperature=temperature, training=tr,
        description=top.string("description", ""), source=src, class_names=class_names,
    )


def network_to_toml(net: Network) -> str:
    """Serialise a network (SI units) as a network file that :func:`load_network` reads back exactly."""
    def num(v):
        return repr(float(v))

    lines = [
        f"name = {net.name!r}".replace("'", '"'),
        "",
        "[units]",
        'length = "m"',
        'stress = "Pa"',
        'density = "kg/m^3"',
        "",
        "[material]",
        f'name = "{net.material.name}"',
        f"youngs_modulus = {num(net.material.youngs_modulus_Pa)}",
        f"poisson_ratio = {num(net.material.poisson_ratio)}",
        f"density = {num(net.material.density_kg_per_m3)}",
        "",
        "[bonds_geometry]",
        f"thickness = {num(net.thickness_m)}",
        f"width_bounds = [{num(net.width_bounds_m[0])}, {num(net.width_bounds_m[1])}]",
    ]
    w = net.widths_m
    if np.all(w == w[0]):
        lines.append(f"widths = {num(w[0])}")
    else:
        lines.append("widths = [" + ", ".join(num(v) for v in w) + "]")
    lines += ["", "[lattice]", "# node positions [x, y] (m)", "nodes = ["]
    lines += [f"  [{num(x)}, {num(y)}],  # {i}" for i, (x, y) in enumerate(net.nodes_m)]
    lines += ["]", "bonds = ["]
    lines += ["  " + ", ".join(f"[{i}, {j}]" for i, j in net.bonds[s:s + 8]) + "," for s in range(0, net.n_bonds, 8)]
    lines += ["]", f"fixed = {net.fixed.tolist()}", ""]
    return "\n".join(lines)


def write_network(net: Network, path) -> Path:
    """Write a network file atomically (temporary name, then rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = network_to_toml(net)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
