"""Network/task files: the built-ins load, generators match the paper, bad files get one clear line."""

import numpy as np
import pytest

from femnn.errors import InputError
from femnn.network import builtin_tasks, load_network, load_task, make_network, network_to_toml, write_network
from femnn.network._io import parse_network

PAPER_TASKS = ["fig1", "behaviour-ce", "behaviour-ce-13", "behaviour-mse", "regression", "regression-noisy", "iris"]


def test_builtin_tasks_load():
    """Every paper task is built in and refers to the 14-node, 28-bond network with nodes 0 and 4 fixed."""
    assert set(PAPER_TASKS) <= set(builtin_tasks())
    for name in PAPER_TASKS:
        t = load_task(name)
        assert t.network.n_nodes == 14 and t.network.n_bonds == 28
        assert t.network.fixed.tolist() == [0, 4]


def test_paper_network_geometry():
    """Node j of row i sits at p = -j a1 - i a2, a1 = (a, 0), a2 = (a/2, a√3/2); every bond has length a."""
    net = load_network("paper")
    a = 0.016
    assert np.allclose(net.nodes_m[12], [-1.5 * a, -3 * a * np.sqrt(3) / 2])  # bottom right
    assert np.allclose(net.nodes_m[13], [-2.5 * a, -3 * a * np.sqrt(3) / 2])  # bottom left
    assert np.allclose(net.nodes_m[4], [-4 * a, 0.0])
    assert np.allclose(net.lengths_m, a)
    assert np.array_equal(net.bonds, make_network("triangular", rows=4).bonds)


def test_k_from_width():
    """k = E w t / L = 5.5e5 * 2e-3 * 2e-3 / 0.016 = 137.5 N/m for the paper's bonds."""
    assert np.allclose(load_network("paper").stiffness_N_per_m(), 137.5)


@pytest.mark.parametrize("rows", [2, 5, 9])
def test_triangular_counts(rows):
    """Trapezoid with rows+1, rows, ..., 2 nodes: n = (rows+1)(rows+2)/2 - 1; bonds = 3 n - (boundary) ...
    checked as: every interior node has 6 neighbours, and bond count = sum of degrees / 2."""
    net = make_network("triangular", rows=rows)
    assert net.n_nodes == (rows + 1) * (rows + 2) // 2 - 1
    deg = np.bincount(net.bonds.ravel(), minlength=net.n_nodes)
    assert deg.max() == (6 if rows >= 4 else deg.max())
    assert deg.sum() == 2 * net.n_bonds
    assert np.allclose(net.lengths_m, 0.016)


def test_roundtrip(tmp_path):
    """write_network then load_network gives back the same arrays bit for bit."""
    net = make_network("square-diagonal", nx=3, ny=2).with_widths(np.linspace(1.6e-3, 2.4e-3, 3 * 3 + 4 * 2 + 6))
    p = write_network(net, tmp_path / "sq.toml")
    back = load_network(p)
    for f in ("nodes_m", "bonds", "fixed", "widths_m", "width_bounds_m"):
        assert np.array_equal(getattr(back, f), getattr(net, f)), f


def test_mm_units_convert_to_si(tmp_path):
    """A file declaring length = "mm" and stress = "MPa" is converted to m and Pa on reading."""
    text = network_to_toml(load_network("paper"))
    text = text.replace('length = "m"', 'length = "mm"').replace('stress = "Pa"', 'stress = "MPa"')
    text = text.replace("youngs_modulus = 550000.0", "youngs_modulus = 0.55")
    text = text.replace("thickness = 0.002", "thickness = 2.0").replace("width_bounds = [0.0015, 0.0025]", "width_bounds = [1.5, 2.5]")
    text = text.replace("widths = 0.002", "widths = 2.0")
    import re

    text = re.sub(r"\[(-?[0-9.e-]+), (-?[0-9.e-]+)\],  # (\d+)", lambda m: f"[{float(m.group(1)) * 1e3!r}, {float(m.group(2)) * 1e3!r}],", text)
    (tmp_path / "mm.toml").write_text(text)
    net = load_network(tmp_path / "mm.toml")
    ref = load_network("paper")
    assert np.allclose(net.nodes_m, ref.nodes_m) and np.isclose(net.material.youngs_modulus_Pa, 5.5e5)
    assert np.allclose(net.stiffness_N_per_m(), ref.stiffness_N_per_m())


BASE = load_network("paper")


def _bad(tmp_path, old, new, target="network"):
    text = network_to_toml(BASE)
    assert old in text, old
    (tmp_path / "bad.toml").write_text(text.replace(old, new, 1))
    return tmp_path / "bad.toml"


@pytest.mark.parametrize("old,new,field,words", [
    ("[0, 1], [0, 5]", "[0, 1], [0, 55]", "lattice.bonds[1]", "unknown node index 55"),
    ("[0, 1], [0, 5]", "[0, 1], [1, 0]", "lattice.bonds[1]", "duplicate bond"),
    ("[0, 1], [0, 5]", "[0, 1], [3, 3]", "lattice.bonds[1]", "itself"),
    ('[units]\nlength = "m"\n', "[units]\n", "units.length", "missing units"),
    ("widths = 0.002", "widths = 0.003", "bonds_geometry.widths[0]", "outside its bounds"),
    ("youngs_modulus = 550000.0", "youngs_modulus = nan", "material.youngs_modulus", "not finite"),
    ("fixed = [0, 4]", "fixed = [0, 14]", "lattice.fixed[1]", "unknown node index 14"),
    ("  [-0.016, 0.0],  # 1", "  [0.0, 0.0],  # 1", "lattice.bonds[0]", "zero-length"),
])
def test_bad_network_files(tmp_path, old, new, field, words, femnn_cli):
    """Each defect gives one line naming the file, the field and the problem; the CLI exits with 2."""
    p = _bad(tmp_path, old, new)
    with pytest.raises(InputError) as err:
        load_network(p)
    msg = str(err.value)
    assert str(p) in msg and field in msg and words in msg
    r = femnn_cli("check", p)
    assert r.returncode == 2
    assert r.stderr.strip().count("\n") == 0 and field in r.stderr


def test_bad_task_files(tmp_path, femnn_cli):
    """A load on a fixed node, an unknown output node and a missing file are refused with exit code 2."""
    src = (load_task("fig1").source)
    text = open(src).read()
    (tmp_path / "t1.toml").write_text(text.replace("node = 12", "node = 4").replace('network = "paper"', 'network = "paper"'))
    (tmp_path / "t2.toml").write_text(text.replace("nodes = [13]", "nodes = [20]"))
    for p, field, words in [(tmp_path / "t1.toml", "loads[0].node", "fixed"), (tmp_path / "t2.toml", "outputs.nodes[0]", "unknown node index 20")]:
        with pytest.raises(InputError, match=field.replace("[", r"\[").replace("]", r"\]")):
            load_task(p)
        r = femnn_cli("gradient", p, "--json")
        assert r.returncode == 2 and words in r.stderr and r.stdout == ""
    r = femnn_cli("train", tmp_path / "nope.toml", "--out", tmp_path / "o")
    assert r.returncode == 2 and "does not exist" in r.stderr
    assert not (tmp_path / "o").exists()
