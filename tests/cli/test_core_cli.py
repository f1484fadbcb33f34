"""The bar-model commands as a user runs them: files written, JSON keys, exit codes."""

import json
import subprocess
import sys

import numpy as np

from femnn.cli import main
from femnn.network import load_network


def test_train_iris_outputs(tmp_path):
    """`femnn train iris --out DIR` writes history.json (epoch, loss, train/test accuracy per epoch),
    widths.json (widths_m, k_N_per_m = E w t / L), the trained network file and PNG plots."""
    out = tmp_path / "iris"
    assert main(["train", "iris", "--out", str(out), "--epochs", "5", "--quiet"]) == 0
    hist = json.loads((out / "history.json").read_text())
    assert [h["epoch"] for h in hist] == [1, 2, 3, 4, 5]
    assert all({"loss", "train_accuracy", "test_accuracy"} <= set(h) for h in hist)
    w = json.loads((out / "widths.json").read_text())
    net = load_network("paper")
    assert np.allclose(w["k_N_per_m"], net.stiffness_N_per_m(w["widths_m"]))
    assert all(1.5e-3 <= x <= 2.5e-3 for x in w["widths_m"])
    for f in ("loss.png", "accuracy.png", "network.png", "network.toml", "split.json", "summary.json"):
        assert (out / f).stat().st_size > 0, f
    assert np.allclose(load_network(out / "network.toml").widths_m, w["widths_m"])


def test_gradient_json(tmp_path, femnn_cli):
    """`femnn gradient fig1 --json`: loss, bonds, gradient_k, k, u; with --widths from a train run the
    k are E w t / L of those widths."""
    r = femnn_cli("gradient", "fig1", "--json")
    assert r.returncode == 0
    d = json.loads(r.stdout)
    assert len(d["bonds"]) == len(d["gradient_k"]) == len(d["k"]) == 28 and len(d["u"]) == 14
    assert np.isclose(d["loss"], (d["u"][13][1] + 0.025) ** 2)
    wfile = tmp_path / "w.json"
    widths = np.linspace(1.5e-3, 2.5e-3, 28)
    wfile.write_text(json.dumps(widths.tolist()))
    d2 = json.loads(femnn_cli("gradient", "fig1", "--json", "--widths", wfile).stdout)
    assert np.allclose(d2["k"], load_network("paper").stiffness_N_per_m(widths))
    bad = femnn_cli("gradient", "fig1", "--json", "--widths", "[0.002, 0.002]")
    assert bad.returncode == 2 and "2 widths for a network of 28 bonds" in bad.stderr


def test_cli_resume_and_split_replay(tmp_path):
    """--resume on a finished run gives the same history; --split replays train/test rows."""
    out = tmp_path / "r"
    assert main(["train", "iris", "--out", str(out), "--epochs", "4", "--quiet", "--seed", "3"]) == 0
    h1 = (out / "history.json").read_text()
    assert main(["train", "iris", "--out", str(out), "--epochs", "4", "--quiet", "--seed", "3", "--resume"]) == 0
    assert (out / "history.json").read_text() == h1
    out2 = tmp_path / "replay"
    assert main(["train", "iris", "--out", str(out2), "--epochs", "4", "--quiet", "--seed", "99",
                 "--split", str(out / "split.json")]) == 0
    a = json.loads(h1)
    b = json.loads((out2 / "history.json").read_text())
    # same rows, different shuffles (seed 99): same test-set size, not necessarily same history
    assert json.loads((out2 / "split.json").read_text())["test"] == json.loads((out / "split.json").read_text())["test"]
    assert len(a) == len(b)
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"train": [0, 1, 500], "test": [2]}))
    assert main(["train", "iris", "--out", str(tmp_path / "x"), "--split", str(bad), "--quiet"]) == 2


def test_prune_and_fdcheck(tmp_path):
    """The prune study lists every bond as critical, redundant or mechanism (bond 0-5 frees the
    network's rotation about node 4); fdcheck's best forward difference is within 1e-5 of the adjoint."""
    run = tmp_path / "iris"
    assert main(["train", "iris", "--out", str(run), "--epochs", "10", "--quiet", "--no-plots"]) == 0
    assert main(["prune", "iris", "--widths", str(run), "--out", str(tmp_path / "p"), "--quiet"]) == 0
    res = json.loads((tmp_path / "p" / "prune.json").read_text())
    assert len(res["bonds"]) == 28 and sum(res["counts"].values()) == 28
    by_pair = {tuple(r["nodes"]): r for r in res["bonds"]}
    assert by_pair[(0, 5)]["status"] == "mechanism"
    assert main(["fdcheck", "--out", str(tmp_path / "fd"), "--scaling-rows", "4", "6"]) == 0
    fd = json.loads((tmp_path / "fd" / "fdcheck.json").read_text())
    assert fd["best_relative_error"] < 1e-5
    assert fd["solves"]["finite_differences"]["solves"] == 29


def test_generate_and_check(tmp_path):
    """`femnn generate` writes a network file `femnn check` accepts (rigid, 6 rows = 27 nodes)."""
    p = tmp_path / "t6.toml"
    assert main(["generate", "triangular", "--rows", "6", "--out", str(p)]) == 0
    assert main(["check", str(p)]) == 0
    assert load_network(p).n_nodes == 27


def test_core_imports_no_heavy_stack():
    """Importing the bar core and training loads neither dolfinx, gmsh, petsc4py nor mpi4py."""
    code = ("import sys, femnn, femnn.network, femnn.bars, femnn.train, femnn.cli._train, femnn.cli._gradient;"
            "bad = [m for m in ('dolfinx', 'gmsh', 'petsc4py', 'mpi4py', 'pyvista') if m in sys.modules];"
            "print(bad); sys.exit(1 if bad else 0)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
