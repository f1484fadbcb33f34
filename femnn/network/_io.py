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

import math
import os
import tomllib
from pathlib import Path

import numpy as np

from femnn.errors import InputError
from femnn.network._model import Material, Network, Task

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


def _read_toml(path: Path) -> dict:
    if not path.is_file():
        raise InputError(str(path), "", "file does not exist (give a path or a built-in name)")
    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise InputError(str(path), "", f"not valid TOML ({exc})") from None
    except UnicodeDecodeError:
        raise InputError(str(path), "", "not a text (TOML) file") from None


def _get(d: dict, key: str, src: str, prefix: str = "", default=KeyError):
    if key in d:
        return d[key]
    if default is KeyError:
        raise InputError(src, prefix + key, "missing; add it to the file")
    return default


def _unit(units: dict, key: str, table: dict, src: str, default=None) -> float:
    if key not in units:
        if default is not None:
            return table[default]
        raise InputError(src, f"units.{key}", f"missing units; declare e.g. {key} = \"{next(iter(table))}\" in [units]")
    name = units[key]
    if name not in table:
        raise InputError(src, f"units.{key}", f"unknown unit {name!r}; expected one of {sorted(table)}")
    return table[name]


def _number(value, src, fld, positive=False, lo=None, hi=None) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InputError(src, fld, f"{value!r} is not a number")
    v = float(value)
    if not math.isfinite(v):
        raise InputError(src, fld, f"{value!r} is not finite; give a real number")
    if positive and v <= 0:
        raise InputError(src, fld, f"{v!r} must be > 0")
    if lo is not None and v < lo or hi is not None and v > hi:
        raise InputError(src, fld, f"{v!r} is outside the allowed range [{lo}, {hi}]")
    return v


def _array(value, src, fld, shape_tail=(), dtype=float) -> np.ndarray:
    try:
        arr = np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        raise InputError(src, fld, "must be a (nested) list of numbers") from None
    if arr.ndim != 1 + len(shape_tail) or arr.shape[1:] != tuple(shape_tail):
        want = "[" + ", ".join(["n"] + [str(s) for s in shape_tail]) + "]"
        raise InputError(src, fld, f"has shape {list(arr.shape)}, expected {want}")
    bad = np.argwhere(~np.isfinite(arr))
    if bad.size:
        idx = tuple(int(i) for i in bad[0])
        raise InputError(src, f"{fld}{list(idx)}", f"{arr[idx]!r} is not finite (NaN/inf); give a real number")
    if dtype is int:
        if np.any(arr != np.round(arr)):
            idx = tuple(int(i) for i in np.argwhere(arr != np.round(arr))[0])
            raise InputError(src, f"{fld}{list(idx)}", f"{arr[idx]!r} is not an integer index")
        return arr.astype(np.int64)
    return arr


def _node_index(v, n_nodes, src, fld) -> int:
    if isinstance(v, bool) or not isinstance(v, int):
        raise InputError(src, fld, f"{v!r} is not a node index (0-based integer)")
    if not 0 <= v < n_nodes:
        raise InputError(src, fld, f"unknown node index {v}; the network has nodes 0..{n_nodes - 1}")
    return v


def check_network(net: Network, src: str) -> None:
    """Structural checks shared by files and generators (indices, duplicates, lengths, widths)."""
    n = net.n_nodes
    if n < 2:
        raise InputError(src, "lattice.nodes", f"{n} node(s); a network needs at least 2")
    if net.n_bonds == 0:
        raise InputError(src, "lattice.bonds", "no bonds; list node pairs [i, j]")
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
    scale = float(np.ptp(net.nodes_m, axis=0).max()) or 1.0
    short = np.flatnonzero(lengths <= 1e-9 * scale)
    if short.size:
        b = int(short[0])
        raise InputError(src, f"lattice.bonds[{b}]", f"zero-length bond {net.bonds[b].tolist()}: its nodes coincide; move a node or drop the bond")
    for f, v in enumerate(net.fixed):
        if not 0 <= v < n:
            raise InputError(src, f"lattice.fixed[{f}]", f"unknown node index {int(v)}; the network has nodes 0..{n - 1}")
    if len(set(net.fixed.tolist())) != net.fixed.size:
        raise InputError(src, "lattice.fixed", f"{net.fixed.tolist()} lists a node twice")
    lo, hi = net.width_bounds_m
    if not (0 < lo <= hi):
        raise InputError(src, "bonds_geometry.width_bounds", f"[{lo}, {hi}] must satisfy 0 < lower <= upper")
    tol = 1e-12 * hi
    out = np.flatnonzero((net.widths_m < lo - tol) | (net.widths_m > hi + tol))
    if out.size:
        b = int(out[0])
        raise InputError(src, f"bonds_geometry.widths[{b}]", f"width {net.widths_m[b]:.6g} m is outside its bounds [{lo:.6g}, {hi:.6g}] m; change the width or the bounds")
    if net.thickness_m <= 0:
        raise InputError(src, "bonds_geometry.thickness", f"{net.thickness_m} must be > 0")


def parse_network(data: dict, src: str, name: str = "network") -> Network:
    """Build a :class:`Network` from a parsed TOML table (see the module docstring)."""
    units = data.get("units")
    if not isinstance(units, dict):
        raise InputError(src, "units", "missing units; add a [units] table with length, stress and density")
    ls = _unit(units, "length", LENGTH_UNITS, src)
    ss = _unit(units, "stress", STRESS_UNITS, src)
    ds = _unit(units, "density", DENSITY_UNITS, src, default="kg/m^3")
    mat = data.get("material", {})
    material = Material(
        name=str(mat.get("name", "Agilus30")),
        youngs_modulus_Pa=ss * _number(_get(mat, "youngs_modulus", src, "material."), src, "material.youngs_modulus", positive=True),
        poisson_ratio=_number(mat.get("poisson_ratio", 0.49), src, "material.poisson_ratio", lo=-1.0, hi=0.4999999),
        density_kg_per_m3=ds * _number(mat.get("density", 1145.0), src, "material.density", positive=True),
    )
    bg = _get(data, "bonds_geometry", src)
    thickness = ls * _number(_get(bg, "thickness", src, "bonds_geometry."), src, "bonds_geometry.thickness", positive=True)
    bounds = _array(_get(bg, "width_bounds", src, "bonds_geometry."), src, "bonds_geometry.width_bounds") * ls
    if bounds.shape != (2,):
        raise InputError(src, "bonds_geometry.width_bounds", f"{bounds.tolist()} must be [lower, upper]")

    if "generator" in data:
        from femnn.network.generators import from_spec

        nodes, bonds, fixed = from_spec(data["generator"], src, length_scale=ls)
    else:
        lat = _get(data, "lattice", src)
        nodes = _array(_get(lat, "nodes", src, "lattice."), src, "lattice.nodes", (2,)) * ls
        bonds_raw = _get(lat, "bonds", src, "lattice.")
        if not isinstance(bonds_raw, list):
            raise InputError(src, "lattice.bonds", "must be a list of node pairs [i, j]")
        for b, pair in enumerate(bonds_raw):
            if not (isinstance(pair, list) and len(pair) == 2):
                raise InputError(src, f"lattice.bonds[{b}]", f"{pair!r} is not a node pair [i, j]")
            for v in pair:
                _node_index(v, nodes.shape[0], src, f"lattice.bonds[{b}]")
        bonds = np.asarray(bonds_raw, dtype=np.int64).reshape(-1, 2)
        fixed_raw = _get(lat, "fixed", src, "lattice.")
        if not isinstance(fixed_raw, list):
            raise InputError(src, "lattice.fixed", "must be a list of node indices")
        fixed = np.asarray([_node_index(v, nodes.shape[0], src, f"lattice.fixed[{f}]") for f, v in enumerate(fixed_raw)], dtype=np.int64)

    w_raw = _get(bg, "widths", src, "bonds_geometry.")
    if isinstance(w_raw, list):
        widths = _array(w_raw, src, "bonds_geometry.widths") * ls
        if widths.shape[0] != bonds.shape[0]:
            raise InputError(src, "bonds_geometry.widths", f"{widths.shape[0]} widths for {bonds.shape[0]} bonds; give one per bond or a single number")
    else:
        widths = np.full(bonds.shape[0], ls * _number(w_raw, src, "bonds_geometry.widths", positive=True))
    net = Network(nodes, bonds, fixed, widths, bounds, thickness, material, name=str(data.get("name", name)), source=src)
    check_network(net, src)
    return net


def resolve(name_or_path, kind: str = "task") -> Path:
    """A path, or a built-in name: ``fig1`` -> ``geometry/fig1.toml``, ``paper`` -> ``geometry/networks/paper.toml``."""
    p = Path(name_or_path)
    if p.suffix == ".toml" or p.exists():
        return p
    base = geometry_dir()
    for cand in ((base / f"{p}.toml", base / "networks" / f"{p}.toml") if kind == "task" else (base / "networks" / f"{p}.toml", base / f"{p}.toml")):
        if cand.is_file():
            return cand
    known = builtin_tasks() + builtin_networks()
    raise InputError(str(name_or_path), "", f"no such file or built-in name; built-ins: {', '.join(known)}")


def load_network(name_or_path) -> Network:
    """Read a network file (or a task file, returning its network)."""
    path = resolve(name_or_path, kind="network")
    data = _read_toml(path)
    if "network" in data and "lattice" not in data and "generator" not in data:
        return load_task(path).network
    return parse_network(data, str(path), name=path.stem)


def _components(raw, n, src, fld) -> list[int]:
    if isinstance(raw, str):
        raw = [raw] * n
    if not isinstance(raw, list) or len(raw) != n:
        raise InputError(src, fld, f"{raw!r}: give one of 'x'/'y' per node ({n})")
    out = []
    for c, v in enumerate(raw):
        if v not in COMPONENTS:
            raise InputError(src, f"{fld}[{c}]", f"{v!r} is not a component; expected 'x' or 'y'")
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
        raise InputError(src, "data.file", f"{path} does not exist")
    try:
        arr = np.loadtxt(path, delimiter=",", skiprows=1, ndmin=2)
    except ValueError as exc:
        raise InputError(str(path), "", f"not a numeric CSV with a header line ({exc})") from None
    if arr.shape[1] <= n_in:
        raise InputError(str(path), "", f"{arr.shape[1]} columns; expected {n_in} input columns then the target column(s)")
    if not np.isfinite(arr).all():
        r, c = np.argwhere(~np.isfinite(arr))[0]
        raise InputError(str(path), f"row {r + 2}, column {c + 1}", "is not finite (NaN/inf)")
    return arr[:, :n_in], arr[:, n_in:]


def load_task(name_or_path) -> Task:
    """Read a task file (TOML) and the network it refers to; see ``geometry/*.toml``."""
    path = resolve(name_or_path, kind="task")
    src = str(path)
    data = _read_toml(path)
    if "network" not in data:
        if "lattice" in data or "generator" in data:
            raise InputError(src, "network", "this is a network file, not a task; give a task (e.g. fig1, iris)")
        raise InputError(src, "network", "missing; name the network file (e.g. network = \"paper\")")
    net_ref = data["network"]
    if isinstance(net_ref, dict):
        network = parse_network(net_ref, src, name=path.stem)
    else:
        net_path = Path(net_ref)
        if not net_path.is_absolute() and (path.parent / net_path).exists():
            net_path = path.parent / net_path
        network = load_network(net_path if net_path.exists() else net_ref)
    units = data.get("units")
    if not isinstance(units, dict):
        raise InputError(src, "units", "missing units; add [units] with length = \"m\" and force = \"N\"")
    ls = _unit(units, "length", LENGTH_UNITS, src)
    fs = _unit(units, "force", FORCE_UNITS, src)
    n_nodes = network.n_nodes
    fixed = set(network.fixed.tolist())
    kind = _get(data, "kind", src)
    if kind not in ("single", "regression", "classification"):
        raise InputError(src, "kind", f"{kind!r}; expected 'single', 'regression' or 'classification'")

    def node_list(tbl, key, prefix):
        raw = _get(tbl, key, src, prefix)
        if not isinstance(raw, list) or not raw:
            raise InputError(src, prefix + key, "must be a non-empty list of node indices")
        return [_node_index(v, n_nodes, src, f"{prefix}{key}[{c}]") for c, v in enumerate(raw)]

    # ---- loads (inputs) ----
    dofs, cols, scales = [], [], []
    if kind == "single":
        loads = _get(data, "loads", src)
        if not isinstance(loads, list) or not loads:
            raise InputError(src, "loads", "must be a list of [[loads]] tables with node and force")
        for c, ld in enumerate(loads):
            node = _node_index(_get(ld, "node", src, f"loads[{c}]."), n_nodes, src, f"loads[{c}].node")
            force = _array(_get(ld, "force", src, f"loads[{c}]."), src, f"loads[{c}].force") * fs
            if force.shape != (2,):
                raise InputError(src, f"loads[{c}].force", f"{force.tolist()} must be [Fx, Fy]")
            if node in fixed:
                raise InputError(src, f"loads[{c}].node", f"node {node} is fixed; a load on a fixed node does nothing; load a free node")
            for comp in (0, 1):
                dofs.append(2 * node + comp)
                cols.append(0)
                scales.append(force[comp])
        X = np.ones((1, 1))
    else:
        inp = _get(data, "inputs", src)
        nodes = node_list(inp, "nodes", "inputs.")
        comps = _components(_get(inp, "components", src, "inputs."), len(nodes), src, "inputs.components")
        scale = fs * _number(inp.get("scale", 1.0), src, "inputs.scale")
        for c, (node, comp) in enumerate(zip(nodes, comps)):
            if node in fixed:
                raise InputError(src, f"inputs.nodes[{c}]", f"node {node} is fixed; a load on a fixed node does nothing; load a free node")
            dofs.append(2 * node + comp)
            cols.append(c)
            scales.append(scale)
    # ---- outputs ----
    out = _get(data, "outputs", src)
    onodes = node_list(out, "nodes", "outputs.")
    ocomps = _components(_get(out, "components", src, "outputs."), len(onodes), src, "outputs.components")
    for c, node in enumerate(onodes):
        if node in fixed:
            raise InputError(src, f"outputs.nodes[{c}]", f"node {node} is fixed and never moves; choose a free node")
    output_dofs = [2 * n + c for n, c in zip(onodes, ocomps)]
    if len(set(output_dofs)) != len(output_dofs):
        raise InputError(src, "outputs", "lists the same node and component twice")
    # ---- loss ----
    lt = _get(data, "loss", src)
    loss = _get(lt, "kind", src, "loss.")
    if loss not in LOSSES:
        raise InputError(src, "loss.kind", f"{loss!r}; expected one of {list(LOSSES)}")
    weight = _number(lt.get("weight", 0.5), src, "loss.weight", positive=True)
    sm_scale = _number(lt.get("softmax_scale_per_m", 1.0), src, "loss.softmax_scale_per_m", positive=True) / ls
    temperature = _number(lt.get("temperature", 20.0), src, "loss.temperature", positive=True)
    n_out = len(output_dofs)
    class_names: tuple = ()
    # ---- data ----
    if kind == "single":
        if loss == "mse":
            t = _array(_get(lt, "targets", src, "loss."), src, "loss.targets") * ls
            if t.shape != (n_out,):
                raise InputError(src, "loss.targets", f"{t.size} targets for {n_out} outputs")
            Y = t[None, :]
        else:
            tgt = _get(lt, "target", src, "loss.")
            if isinstance(tgt, bool) or not isinstance(tgt, int) or not 0 <= tgt < n_out:
                raise InputError(src, "loss.target", f"{tgt!r}; expected the index (0..{n_out - 1}) of the output that should move most")
            Y = np.array([tgt])
    else:
        dt = _get(data, "data", src)
        dk = _get(dt, "kind", src, "data.")
        n_in = len(dofs)
        if dk == "iris":
            X, Y, class_names = _iris_data()
        elif dk == "linear":
            n_s = int(_number(_get(dt, "n_samples", src, "data."), src, "data.n_samples", positive=True))
            lo, hi = (_array(_get(dt, "input_range", src, "data."), src, "data.input_range") * fs).tolist()
            slopes = _array(_get(dt, "slopes", src, "data."), src, "data.slopes") * (ls / fs)
            if slopes.shape != (n_out,):
                raise InputError(src, "data.slopes", f"{slopes.size} slopes for {n_out} outputs")
            noise = ls * _number(dt.get("noise_std", 0.0), src, "data.noise_std", lo=0.0)
            seed = int(_number(dt.get("seed", 0), src, "data.seed"))
            rng = np.random.default_rng(seed)
            x = rng.uniform(lo, hi, size=n_s)
            X = (x / fs)[:, None] if n_in == 1 else np.repeat((x / fs)[:, None], n_in, axis=1)
            Y = x[:, None] * slopes[None, :]
            if noise > 0:
                Y = Y + rng.normal(0.0, noise, size=Y.shape)
        elif dk == "csv":
            X, Y = _csv_data((path.parent / _get(dt, "file", src, "data.")), src, n_in)
            if kind == "classification":
                Y = Y[:, 0].astype(np.int64)
            else:
                Y = Y * ls
        else:
            raise InputError(src, "data.kind", f"{dk!r}; expected 'iris', 'linear' or 'csv'")
        if X.shape[1] != n_in:
            raise InputError(src, "inputs.nodes", f"{n_in} input nodes for {X.shape[1]} data features")
        norm = inp.get("normalise", "none")
        if norm == "max":
            X = X / np.abs(X).max(axis=0)
        elif norm != "none":
            raise InputError(src, "inputs.normalise", f"{norm!r}; expected 'max' or 'none'")
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
    for key, val in data.get("training", {}).items():
        if key not in TRAINING_DEFAULTS:
            raise InputError(src, f"training.{key}", f"unknown hyper-parameter; known: {sorted(TRAINING_DEFAULTS)}")
        tr[key] = _number(val, src, f"training.{key}", lo=0.0)
    for key in ("batch_size", "epochs", "max_iter"):
        tr[key] = int(tr[key])
    return Task(
        name=str(data.get("name", path.stem)), network=network, kind=kind,
        input_dofs=dofs, input_columns=cols, input_scale_N=scales, output_dofs=output_dofs,
        loss=loss, X=X, Y=Y, loss_weight=weight, softmax_scale_per_m=sm_scale, temperature=temperature, training=tr,
        description=str(data.get("description", "")), source=src, class_names=class_names,
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
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(network_to_toml(net))
    os.replace(tmp, path)
    return path
