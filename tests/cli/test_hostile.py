"""Hostile input and faults (issue 12), the bar-model commands: every bad input is ONE line on stderr
naming the file/option, the field and the fix, exit code 2, no traceback, no file left behind, and an
earlier good result stays byte-identical. Also: unknown keys in every table of network and task files
are refused with the closest valid key (issue 11), widths are applied by node pairs, checkpoints are
validated, concurrent runs on one --out are refused, and runs resume exactly after a kill.

The validate/crosscheck/converge/build options are in test_hostile_validate.py.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from femnn.cli import main
from femnn.network import load_task, network_to_toml
from femnn.network._io import TASK_KEYS

ROOT = Path(__file__).resolve().parents[2]
GEOM = ROOT / "geometry"


# ---------------------------------------------------------------- helpers
def snapshot(d: Path) -> dict:
    """name -> bytes of every file under d (hidden ones included)."""
    return {str(p.relative_to(d)): p.read_bytes() for p in sorted(d.rglob("*")) if p.is_file()}


def refused(capsys, argv, *words):
    """Run ``femnn ARGV`` in-process: exit 2, exactly one line on stderr holding every word, nothing on stdout."""
    rc = main([str(a) for a in argv])
    cap = capsys.readouterr()
    lines = cap.err.strip().splitlines()
    assert rc == 2, (argv, rc, cap.err)
    assert len(lines) == 1, (argv, cap.err)
    assert "Traceback" not in cap.err
    line = lines[0]
    assert line.startswith(f"femnn {argv[0]}: error: "), line
    for w in words:
        assert w in line, (w, line)
    assert cap.out == ""
    return line


def ok(capsys, argv):
    rc = main([str(a) for a in argv])
    cap = capsys.readouterr()
    assert rc == 0, cap.err
    return cap


def edit(text: str, old: str, new: str) -> str:
    """Replace ``old`` by ``new``; ``TOP:new`` drops ``old`` and puts ``new`` first (a top-level key)."""
    assert old in text, old
    if new.startswith("TOP:"):
        return new[4:] + text.replace(old, "", 1)
    return text.replace(old, new, 1)


def paper_text() -> str:
    return (GEOM / "networks" / "paper.toml").read_text()


def task_text(name: str) -> str:
    return (GEOM / f"{name}.toml").read_text()


def write(tmp: Path, name: str, text: str) -> Path:
    p = tmp / name
    p.write_text(text)
    return p


def local_task(tmp: Path, name: str, text: str) -> Path:
    """A copy of a built-in task next to its own copy of the paper network (so it can be edited)."""
    if not (tmp / "paper.toml").exists():
        write(tmp, "paper.toml", paper_text())
    return write(tmp, name, text.replace('network = "paper"', 'network = "paper.toml"'))


@pytest.fixture(scope="module")
def iris_run(tmp_path_factory):
    """A good 3-epoch iris run (the "earlier good result")."""
    d = tmp_path_factory.mktemp("good") / "run"
    assert main(["train", "iris", "--out", str(d), "--epochs", "3", "--quiet", "--no-plots"]) == 0
    return d


# ---------------------------------------------------------------- train: bad hyper-parameters
BAD_TRAIN = [
    (["--epochs", "0"], "--epochs", ">= 1"),
    (["--epochs", "-1"], "--epochs", ">= 1"),
    (["--lr", "inf"], "--lr", "not finite"),
    (["--lr", "nan"], "--lr", "not finite"),
    (["--lr", "-0.1"], "--lr", "> 0"),
    (["--lr", "0"], "--lr", "> 0"),
    (["--beta", "-5"], "--beta", "(0, 10000]"),
    (["--beta", "0"], "--beta", "(0, 10000]"),
    (["--beta", "1e308"], "--beta", "(0, 10000]"),
    (["--beta", "nan"], "--beta", "not finite"),
    (["--seed", "-1"], "--seed", ">= 0"),
    (["--train-fraction", "1.5"], "--train-fraction", "(0, 1]"),
    (["--train-fraction", "0"], "--train-fraction", "(0, 1]"),
    (["--train-fraction", "0.001"], "--train-fraction", "no training sample"),
    (["--train-fraction", "nan"], "--train-fraction", "not finite"),
    (["--batch-size", "0"], "--batch-size", ">= 1"),
    (["--max-iter", "0"], "--max-iter", ">= 1"),
    (["--remove-bond", "1"], "--remove-bond", "zero mode"),
    (["--remove-bond", "99"], "--remove-bond", "does not exist"),
]


@pytest.mark.parametrize("extra,option,words", BAD_TRAIN)
def test_train_bad_options_leave_no_directory(tmp_path, capsys, extra, option, words):
    """A refused run creates nothing: --out does not exist afterwards."""
    out = tmp_path / "o"
    refused(capsys, ["train", "iris", "--out", out, *extra], option, words)
    assert not out.exists()


@pytest.mark.parametrize("extra,option,words", BAD_TRAIN + [(["--epochs", "4"], "--out", "--force")])
def test_failed_run_keeps_earlier_run_byte_identical(iris_run, capsys, extra, option, words):
    """Issue 12 #1: a bad second run in the same --out (or a different run without --force) is refused
    and the earlier run's files (widths, history, summary, network, checkpoint) stay byte-identical."""
    before = snapshot(iris_run)
    refused(capsys, ["train", "iris", "--out", iris_run, "--epochs", "3", *extra], option, words)
    assert snapshot(iris_run) == before


def test_force_replaces_only_after_success_and_stale_files_go(tmp_path, capsys):
    """--force replaces a different run; a single-load run replacing a data-set run leaves no stale split.json,
    and the new widths.json belongs to the new task."""
    out = tmp_path / "r"
    ok(capsys, ["train", "iris", "--out", out, "--epochs", "2", "--quiet", "--no-plots"])
    assert (out / "split.json").exists()
    ok(capsys, ["train", "fig1", "--out", out, "--epochs", "3", "--quiet", "--no-plots", "--force"])
    assert not (out / "split.json").exists()
    assert json.loads((out / "widths.json").read_text())["task"] == "fig1"
    assert json.loads((out / "summary.json").read_text())["epochs"] == 3
    assert not [p for p in out.iterdir() if p.name.startswith(".")]


def test_forced_run_killed_leaves_old_run_whole(tmp_path, capsys):
    """--force: a replacing run that dies mid-way leaves the earlier run (checkpoint included) byte-identical;
    the same command with --resume then continues it and replaces the earlier run only at the end."""
    out = tmp_path / "r"
    ok(capsys, ["train", "iris", "--out", out, "--epochs", "2", "--quiet", "--no-plots"])
    before = snapshot(out)
    cmd = [sys.executable, "-m", "femnn", "train", "iris", "--out", str(out), "--epochs", "60", "--seed", "1", "--force",
           "--quiet", "--no-plots"]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        t0 = time.time()
        while not list(out.glob(".checkpoint-*.npz")) and time.time() - t0 < 60:
            time.sleep(0.02)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert {k: v for k, v in snapshot(out).items() if not k.startswith(".")} == before
    ok(capsys, ["train", "iris", "--out", out, "--epochs", "60", "--seed", "1", "--force", "--resume", "--quiet", "--no-plots"])
    assert json.loads((out / "summary.json").read_text())["settings"]["seed"] == 1
    assert not [p for p in out.iterdir() if p.name.startswith(".")]
    ok(capsys, ["train", "iris", "--out", out, "--epochs", "60", "--seed", "1", "--resume", "--quiet", "--no-plots"])


def test_train_fraction_one_trains_without_test_set(tmp_path, capsys):
    """--train-fraction 1.0 (inside the documented (0, 1]) trains on every sample; the test metrics are null."""
    out = tmp_path / "all"
    ok(capsys, ["train", "iris", "--out", out, "--epochs", "2", "--train-fraction", "1.0", "--quiet", "--no-plots"])
    hist = json.loads((out / "history.json").read_text())
    assert hist[-1]["test_accuracy"] is None and len(json.loads((out / "split.json").read_text())["train"]) == 150


# ---------------------------------------------------------------- checkpoints
def _ck_with(path: Path, **changes):
    with np.load(path) as ck:
        arrays = {k: np.array(ck[k]) for k in ck.files}
    arrays.update(changes)
    with open(path, "wb") as fh:
        np.savez(fh, **arrays)


@pytest.mark.parametrize("damage,field", [
    ("nan", "theta"), ("shape", "theta"), ("truncated", "truncated"), ("garbage", "truncated"), ("empty", "truncated"),
    ("adam_nan", "adam_m"), ("history", "history"),
])
def test_resume_refuses_bad_checkpoints(tmp_path, capsys, damage, field):
    """Issue 12 #3: a NaN, wrong-shape, truncated, garbage or empty checkpoint is refused (exit 2, one
    line naming checkpoint.npz and the fix); nothing is written, the run's files are unchanged."""
    out = tmp_path / "r"
    ok(capsys, ["train", "iris", "--out", out, "--epochs", "3", "--quiet", "--no-plots"])
    ck = out / "checkpoint.npz"
    with np.load(ck) as c:
        theta = np.array(c["theta"])
    if damage == "nan":
        _ck_with(ck, theta=np.full_like(theta, np.nan))
    elif damage == "shape":
        _ck_with(ck, theta=np.zeros(theta.size + 1))
    elif damage == "adam_nan":
        _ck_with(ck, adam_m=np.full_like(theta, np.inf))
    elif damage == "history":
        _ck_with(ck, history=np.array("[1, 2"))
    elif damage == "truncated":
        ck.write_bytes(ck.read_bytes()[: ck.stat().st_size // 2])
    elif damage == "garbage":
        ck.write_bytes(os.urandom(2000))
    else:
        ck.write_bytes(b"")
    before = snapshot(out)
    line = refused(capsys, ["train", "iris", "--out", out, "--epochs", "3", "--resume"], "checkpoint.npz")
    assert field in line and ("--resume" in line or "delete" in line)
    assert snapshot(out) == before


def test_resume_refuses_other_settings(tmp_path, capsys):
    """A checkpoint of other settings (another seed) is refused with --resume, not continued."""
    out = tmp_path / "r"
    ok(capsys, ["train", "iris", "--out", out, "--epochs", "3", "--quiet", "--no-plots"])
    (out / "summary.json").unlink()          # a killed run: checkpoint only
    refused(capsys, ["train", "iris", "--out", out, "--epochs", "3", "--seed", "5", "--resume"], "fingerprint")


def test_temperature_option(tmp_path, capsys):
    """--temperature sets τ of the ce-ratio-softmax loss l = -log softmax(τ |u|/Σ|u|)_t: recorded in
    summary.json; refused (exit 2, one line) for a loss without one, for τ <= 0, and on --resume of a
    checkpoint trained at another τ (the loss parameter is part of the run's fingerprint)."""
    refused(capsys, ["train", "iris", "--out", tmp_path / "a", "--temperature", "40"], "--temperature", "ce-normalised")
    refused(capsys, ["train", "iris-sharp", "--out", tmp_path / "b", "--temperature", "0"], "--temperature", "positive")
    out = tmp_path / "r"
    ok(capsys, ["train", "iris-sharp", "--out", out, "--epochs", "2", "--temperature", "40", "--quiet", "--no-plots"])
    assert json.loads((out / "summary.json").read_text())["loss"] == {"kind": "ce-ratio-softmax", "temperature": 40.0}
    (out / "summary.json").unlink()          # a killed run: checkpoint only
    refused(capsys, ["train", "iris-sharp", "--out", out, "--epochs", "2", "--resume"], "fingerprint")
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_kill_and_resume_cli_byte_identical(tmp_path, capsys):
    """`femnn train` killed with SIGKILL mid-run, then `--resume`: history.json and widths.json are
    byte-identical to those of an uninterrupted run (the checkpoint is written atomically every epoch)."""
    full = tmp_path / "full"
    # long enough that the kill lands mid-run on an idle machine too (an Iris epoch takes milliseconds)
    ok(capsys, ["train", "iris", "--out", full, "--epochs", "400", "--quiet", "--no-plots"])
    out = tmp_path / "killed"
    cmd = [sys.executable, "-m", "femnn", "train", "iris", "--out", str(out), "--epochs", "400", "--quiet", "--no-plots"]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        t0 = time.time()
        while not (out / "checkpoint.npz").exists() and time.time() - t0 < 60:
            time.sleep(0.02)
        time.sleep(0.2)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert not (out / "summary.json").exists(), "the run finished before the kill; make it longer"
    ok(capsys, ["train", "iris", "--out", out, "--epochs", "400", "--quiet", "--no-plots", "--resume"])
    for f in ("history.json", "widths.json"):
        assert (out / f).read_bytes() == (full / f).read_bytes(), f
    assert not [p for p in out.iterdir() if p.name.startswith(".")]


def test_concurrent_runs_on_one_out(tmp_path, capsys):
    """While one `femnn train` runs in --out, a second run there (same or other settings) is refused at
    once (the directory is locked; no shared temp names); the first finishes normally."""
    out = tmp_path / "busy"
    cmd = [sys.executable, "-m", "femnn", "train", "iris", "--out", str(out), "--epochs", "150", "--quiet", "--no-plots"]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        t0 = time.time()
        while not (out / "checkpoint.npz").exists() and time.time() - t0 < 60:
            time.sleep(0.02)
        for extra in ([], ["--seed", "7"], ["--seed", "7", "--force"]):
            refused(capsys, ["train", "iris", "--out", out, "--epochs", "150", "--no-plots", *extra], "--out", "in use")
    finally:
        _, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    assert len(json.loads((out / "history.json").read_text())) == 150


# ---------------------------------------------------------------- --out places
@pytest.mark.parametrize("cmd", [
    ["train", "fig1", "--epochs", "2"],
    ["fdcheck", "--scaling-rows", "4"],
    ["prune", "iris", "--widths", "RUN"],
])
@pytest.mark.parametrize("where", ["file", "under-file"])
def test_out_is_a_file_or_under_one(tmp_path, capsys, iris_run, cmd, where):
    """--out naming a regular file, or a path under one, is refused before any work, naming --out."""
    f = write(tmp_path, "plain.txt", "keep me\n")
    out = f if where == "file" else f / "sub"
    argv = [str(iris_run) if a == "RUN" else a for a in cmd]
    t0 = time.perf_counter()
    refused(capsys, [*argv, "--out", out], "--out", "file")
    assert time.perf_counter() - t0 < 5
    assert f.read_text() == "keep me\n"


def test_generate_out_faults(tmp_path, capsys):
    """generate: --out an existing directory, under a file, not .toml, a huge lattice (memory estimated
    first), bad options named as options, not as fields of a file never written; no X.toml.tmp left."""
    d = tmp_path / "X.toml"
    d.mkdir()
    refused(capsys, ["generate", "triangular", "--out", d], "--out", "directory")
    f = write(tmp_path, "f.txt", "")
    refused(capsys, ["generate", "triangular", "--out", f / "n.toml"], "--out", "file")
    refused(capsys, ["generate", "triangular", "--out", tmp_path / "n.txt"], "--out", ".toml")
    t0 = time.perf_counter()
    refused(capsys, ["generate", "triangular", "--rows", "100000", "--out", tmp_path / "big.toml"], "--rows", "GiB")
    refused(capsys, ["generate", "square-diagonal", "--nx", "200000", "--ny", "200000", "--out", tmp_path / "big.toml"], "--nx", "GiB")
    assert time.perf_counter() - t0 < 5
    for opt, val, words in [("--rows", "1", ">= 2"), ("--spacing-mm", "0", "> 0"), ("--spacing-mm", "nan", "not finite"),
                            ("--width-mm", "3", "--width-bounds-mm"), ("--thickness-mm", "-1", "> 0")]:
        refused(capsys, ["generate", "triangular", opt, val, "--out", tmp_path / "n.toml"], opt, words)
    refused(capsys, ["generate", "diluted-triangular", "--remove-fraction", "1", "--out", tmp_path / "n.toml"], "--remove-fraction")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["X.toml", "f.txt"]


def test_generate_warns_about_zero_modes(tmp_path, capsys):
    """A diluted lattice with zero modes is written, with a warning naming the free nodes."""
    cap = ok(capsys, ["generate", "diluted-triangular", "--rows", "4", "--remove-fraction", "0.3", "--out", tmp_path / "d.toml"])
    assert "mechanism" in cap.err and "zero mode" in cap.err


# ---------------------------------------------------------------- prune, gradient
def test_prune_bad_inputs(tmp_path, capsys, iris_run):
    """prune: --threshold nan/-1, --retrain -1, a run of another task (its split does not fit) are refused."""
    for opt, val in (("--threshold", "nan"), ("--threshold", "-1"), ("--threshold", "inf"), ("--retrain", "-1")):
        refused(capsys, ["prune", "iris", "--widths", iris_run, "--out", tmp_path / "p", opt, val], opt)
    reg = tmp_path / "reg"
    ok(capsys, ["train", "regression", "--out", reg, "--epochs", "1", "--quiet", "--no-plots"])
    refused(capsys, ["prune", "iris", "--widths", reg, "--out", tmp_path / "p"], "--widths", "regression")
    refused(capsys, ["prune", "regression", "--widths", iris_run, "--out", tmp_path / "p"], "--widths", "iris")
    assert not (tmp_path / "p").exists()


def test_prune_rerun_needs_force(tmp_path, capsys, iris_run):
    """A second prune with other settings into the same --out is refused without --force."""
    p = tmp_path / "p"
    ok(capsys, ["prune", "iris", "--widths", iris_run, "--out", p, "--quiet"])
    before = snapshot(p)
    refused(capsys, ["prune", "iris", "--widths", iris_run, "--out", p, "--threshold", "0.5"], "--out", "--force")
    assert snapshot(p) == before


def test_gradient_bad_widths_and_samples(tmp_path, capsys):
    for widths, words in (("[0.002, 0.002]", "2 widths"), ("[0.002, NaN]", "widths_m"), (str(tmp_path), "widths.json"),
                          ("not json", "no such file")):
        refused(capsys, ["gradient", "fig1", "--widths", widths], *words.split("|"))
    refused(capsys, ["gradient", "iris", "--sample", "150"], "--sample")


# ---------------------------------------------------------------- widths by node pairs
def test_widths_follow_node_pairs_not_positions(tmp_path, capsys):
    """Issue 12 #2: a run's widths applied to the same network with its bond list reversed give the same
    loss (the bar model depends on the width of each node pair, not on the order of the list), to 1e-12;
    a network lacking one of the run's bonds is refused."""
    run = tmp_path / "run"
    ok(capsys, ["train", "fig1", "--out", run, "--epochs", "30", "--quiet", "--no-plots"])
    base = json.loads(ok(capsys, ["gradient", "fig1", "--widths", run]).out)
    net = load_task("fig1").network
    rev = net.__class__(net.nodes_m, net.bonds[::-1, ::-1], net.fixed, net.widths_m[::-1], net.width_bounds_m,
                        net.thickness_m, net.material, name="paper-reversed")
    write(tmp_path, "rev.toml", network_to_toml(rev))
    task = write(tmp_path, "t.toml", task_text("fig1").replace('network = "paper"', 'network = "rev.toml"'))
    other = json.loads(ok(capsys, ["gradient", task, "--widths", run]).out)
    assert abs(other["loss"] - base["loss"]) <= 1e-12 * abs(base["loss"])
    w_run = json.loads((run / "widths.json").read_text())
    assert not np.allclose(w_run["widths_m"], w_run["widths_m"][::-1])   # the test can fail
    # a network without bond [0, 1]: the run's widths do not belong to it
    cut = net.without_bonds([net.bond_index(0, 1)])
    write(tmp_path, "cut.toml", network_to_toml(cut))
    t2 = write(tmp_path, "t2.toml", task_text("fig1").replace('network = "paper"', 'network = "cut.toml"'))
    refused(capsys, ["gradient", t2, "--widths", run], "widths.json", "bonds")


# ---------------------------------------------------------------- network files
NET_CASES = [
    ('length = "m"', 'length = ["m"]', "units.length", "expected a string"),
    ('length = "m"', 'length = "inch"', "units.length", "expected one of"),
    ("[bonds_geometry]\nthickness = 0.002\nwidth_bounds = [0.0015, 0.0025]\nwidths = 0.002\n", "TOP:bonds_geometry = 5\n",
     "bonds_geometry", "expected a table"),
    ('[material]\nname = "Agilus30"\nyoungs_modulus = 550000.0\npoisson_ratio = 0.49\ndensity = 1145.0\n', 'TOP:material = "x"\n',
     "material", "expected a table"),
    ("poisson_ratio = 0.49", "poisson_ration = 0.3", "material.poisson_ration", "did you mean poisson_ratio?"),
    ("poisson_ratio = 0.49", "poisson_ratio = -1.0", "material.poisson_ratio", "(-1, 0.5]"),
    ("poisson_ratio = 0.49", "poisson_ratio = 0.51", "material.poisson_ratio", "(-1, 0.5]"),
    ("poisson_ratio = 0.49", "poisson_ratio = nan", "material.poisson_ratio", "not finite"),
    ("poisson_ratio = 0.49", 'poisson_ratio = "0.49"', "material.poisson_ratio", "expected a number"),
    ("youngs_modulus = 550000.0", "youngs_modulus = -5.0", "material.youngs_modulus", "> 0"),
    ("thickness = 0.002", "thickness = true", "bonds_geometry.thickness", "expected a number"),
    ("width_bounds = [0.0015, 0.0025]", "width_bounds = [0.0025, 0.0015]", "bonds_geometry.width_bounds", "lower <= upper"),
    ("width_bounds = [0.0015, 0.0025]", "width_bounds = [0.0015]", "bonds_geometry.width_bounds", "expected 2"),
    ("widths = 0.002", 'widths = ["a"]', "bonds_geometry.widths[0]", "expected a number"),
    ("fixed = [0, 4]", "fixed = 0", "lattice.fixed", "expected a list"),
    ("fixed = [0, 4]", 'fixed = [0, "4"]', "lattice.fixed[1]", "node index"),
    ("fixed = [0, 4]", "fixed = [0, 4.0]", "lattice.fixed[1]", "node index"),
    ("  [-0.016, 0.0],  # 1", "  [-0.016, 0.0, 1.0],  # 1", "lattice.nodes[1]", "expected 2"),
    ("  [-0.016, 0.0],  # 1", "  [1e200, 0.0],  # 1", "lattice.nodes[1]", "bond lengths from the other nodes"),
    ("  [-0.064, 0.0],  # 4", "  [0.0, 0.0],  # 4", "lattice.nodes[4]", "same position"),
    ('name = "paper"', 'name = "paper"\ncolour = "red"', "colour", "unknown key"),
]


@pytest.mark.parametrize("old,new,field,words", NET_CASES)
def test_bad_network_files(tmp_path, capsys, old, new, field, words):
    """Wrongly typed values, misspelled keys, out-of-range or non-finite values and coincident or far-away
    nodes: one line naming the file and the field, through `check` and through a task using the network."""
    text = paper_text()
    assert old in text
    p = write(tmp_path, "net.toml", edit(text, old, new))
    line = refused(capsys, ["check", p], str(p), field, words)
    assert "Traceback" not in line
    task = write(tmp_path, "task.toml", task_text("fig1").replace('network = "paper"', f'network = "{p}"'))
    refused(capsys, ["gradient", task], str(p), field)


TASK_CASES = [
    ("fig1", '[training]\nlearning_rate = 0.005\nbeta = 10.0\nmax_iter = 10000\n', "TOP:training = 5\n", "training", "expected a table"),
    ("fig1", "[[loads]]\nnode = 12\nforce = [0.0, -0.098]\n", "TOP:loads = [5]\n", "loads[0]", "expected a table"),
    ("fig1", "force = [0.0, -0.098]", 'force = [0.0, "down"]', "loads[0].force[1]", "expected a number"),
    ("fig1", "node = 12", "node = 12.5", "loads[0].node", "node index"),
    ("fig1", 'components = ["y"]', 'components = [["y"]]', "outputs.components[0]", "not a component"),
    ("fig1", 'network = "paper.toml"', "network = 5", "network", "network file"),
    ("fig1", 'network = "paper.toml"', 'network = "self.toml"', "network", "refers back"),
    ("fig1", "weight = 1.0", "wieght = 1.0", "loss.wieght", "did you mean weight?"),
    ("fig1", "weight = 1.0", "weight = -1.0", "loss.weight", "> 0"),
    ("fig1", 'kind = "mse"', 'kind = "mse2"', "loss.kind", "did you mean 'mse'?"),
    ("fig1", 'kind = "single"', 'kind = 1', "kind", "expected a string"),
    ("fig1", "learning_rate = 0.005", "learning_rate = -0.1", "training.learning_rate", "> 0"),
    ("fig1", "learning_rate = 0.005", "learning_rte = 0.1", "training.learning_rte", "did you mean learning_rate?"),
    ("fig1", "max_iter = 10000", "max_iter = 0.5", "training.max_iter", "not an integer"),
    ("fig1", 'force = "N"', 'force = "kN"', "units.force", "expected one of"),
    ("regression", "input_range = [-0.196, 0.196]", "input_range = [-0.196, 0.0, 0.196]", "data.input_range", "expected 2"),
    ("regression", "input_range = [-0.196, 0.196]", "input_range = [0.196, -0.196]", "data.input_range", "low < high"),
    ("regression", "seed = 0", "seed = -1", "data.seed", ">= 0"),
    ("regression", "n_samples = 100", "n_samples = 0.5", "data.n_samples", "not an integer"),
    ("regression", "n_samples = 100", "n_samples = 1", "data.n_samples", "outside [2,"),
    ("regression", "n_samples = 100", "n_samples = 1e12", "data.n_samples", "outside"),
    ("regression", "scale = 1.0", "scale = 0", "inputs.scale", "zero"),
    ("regression", "slopes = [0.0, 0.016, 0.004, 0.016]", "slopes = [0.0, 0.016]", "data.slopes", "expected 4"),
    ("regression", "noise_std = 0.0", "noise_std = -1.0", "data.noise_std", ">= 0"),
    ("regression", "epochs = 5000", "epochs = 0", "training.epochs", ">= 1"),
    ("regression", "train_fraction = 0.7", "train_fraction = 1.5", "training.train_fraction", "(0, 1]"),
    ("regression", "batch_size = 16", "batch_size = 0", "training.batch_size", ">= 1"),
    ("iris", 'normalise = "max"', 'normalise = "maximum"', "inputs.normalise", "did you mean 'max'?"),
    ("iris", 'kind = "iris"', 'kind = "iris"\nseeds = 3', "data.seeds", "did you mean seed?"),
]


@pytest.mark.parametrize("base,old,new,field,words", TASK_CASES)
def test_bad_task_files(tmp_path, capsys, base, old, new, field, words):
    """Wrongly typed task values, misspelled keys, data fields out of range, a task that is its own
    network: one line naming the task file and the field (never a RecursionError or TypeError)."""
    text = task_text(base).replace('network = "paper"', 'network = "paper.toml"')
    assert old in text, old
    write(tmp_path, "paper.toml", paper_text())
    p = write(tmp_path, "self.toml", edit(text, old, new))
    refused(capsys, ["check", p], str(p), field, words)
    refused(capsys, ["train", p, "--out", tmp_path / "o", "--epochs", "1"], str(p), field)
    assert not (tmp_path / "o").exists()


def test_task_network_cycle(tmp_path, capsys):
    """Task A names task B as its network, B names A: refused (no RecursionError)."""
    write(tmp_path, "paper.toml", paper_text())
    text = task_text("fig1")
    write(tmp_path, "a.toml", text.replace('network = "paper"', 'network = "b.toml"'))
    write(tmp_path, "b.toml", text.replace('network = "paper"', 'network = "a.toml"'))
    refused(capsys, ["check", tmp_path / "a.toml"], "network", "refers back")


def test_csv_labels_must_be_integers(tmp_path, capsys):
    """Issue 12 #5: a CSV class label of 1.7 is refused naming the row, not truncated to class 1."""
    rows = ["a,b,c,d,label"] + [f"{1 + i % 3},{2 + i % 5},{3 + i % 7},{1 + i % 2},{i % 3}" for i in range(20)]
    rows[5] = "1,2,3,1,1.7"
    write(tmp_path, "d.csv", "\n".join(rows) + "\n")
    text = task_text("iris").replace('[data]\nkind = "iris"', '[data]\nkind = "csv"\nfile = "d.csv"')
    p = local_task(tmp_path, "t.toml", text)
    refused(capsys, ["check", p], "d.csv", "row 6", "1.7", "not an integer")


MISSPELT = {  # table -> (a valid key of it, a misspelling)
    "": ("name", "nmae"), "units": ("length", "lenght"), "material": ("poisson_ratio", "poisson_ration"),
    "bonds_geometry": ("thickness", "thicknes"), "lattice": ("fixed", "fixd"),
}


@pytest.mark.parametrize("table", sorted(MISSPELT))
def test_misspelled_key_in_each_network_table(tmp_path, capsys, table):
    """Issue 11 §3: a misspelled key in each table of a network file is refused with the suggestion."""
    good, bad = MISSPELT[table]
    text = paper_text()
    header = f"[{table}]\n" if table else ""
    start = text.index(header) + len(header) if table else 0
    idx = text.index(f"{good} = ", start)
    p = write(tmp_path, "n.toml", text[:idx] + bad + text[idx + len(good):])
    where = f"[{table}]" if table else "top level"
    refused(capsys, ["check", p], str(p), f"{table + '.' if table else ''}{bad}", where, f"did you mean {good}?")


def test_misspelled_generator_key(tmp_path, capsys):
    text = paper_text()
    i = text.index("[lattice]")
    gen = text[:i] + '[generator]\nkind = "triangular"\nrowz = 4\nspacing = 0.016\n'
    p = write(tmp_path, "g.toml", gen)
    refused(capsys, ["check", p], "generator.rowz", "did you mean rows?")
    p = write(tmp_path, "g2.toml", gen.replace("rowz = 4", "rows = 100000"))
    refused(capsys, ["check", p], "generator", "GiB")
    p = write(tmp_path, "g3.toml", gen.replace("rowz = 4", 'rows = "4"'))
    refused(capsys, ["check", p], "generator.rows", "expected an integer")


TASK_TABLE_KEYS = {  # (task, table) -> (valid key, misspelling)
    ("fig1", ""): ("description", "descriptoin"), ("fig1", "units"): ("force", "forse"),
    ("fig1", "loads"): ("node", "nod"), ("fig1", "outputs"): ("components", "component"),
    ("fig1", "loss"): ("targets", "tragets"), ("fig1", "training"): ("beta", "betta"),
    ("iris", "inputs"): ("scale", "scal"), ("regression", "data"): ("slopes", "slope"),
}


@pytest.mark.parametrize("task,table", sorted(TASK_TABLE_KEYS))
def test_misspelled_key_in_each_task_table(tmp_path, capsys, task, table):
    """Issue 11 §3: a misspelled key in each table of a task file is refused with the suggestion."""
    good, bad = TASK_TABLE_KEYS[(task, table)]
    text = task_text(task)
    header = ("[[loads]]\n" if table == "loads" else f"[{table}]\n") if table else ""
    start = text.index(header) + len(header) if table else 0
    idx = text.index(f"{good} = ", start)
    p = local_task(tmp_path, "t.toml", text[:idx] + bad + text[idx + len(good):])
    fld = {"": bad, "loads": f"loads[0].{bad}"}.get(table, f"{table}.{bad}")
    refused(capsys, ["check", p], str(p), fld, f"did you mean {good}?")


def test_known_task_keys_cover_the_builtins():
    """The top-level keys the reader knows are exactly those the built-in tasks use (plus optional ones)."""
    import tomllib

    used = set()
    for f in GEOM.glob("*.toml"):
        used |= set(tomllib.loads(f.read_text()))
    assert used <= set(TASK_KEYS)


@pytest.mark.parametrize("target", ["dir", "devnull"])
def test_task_path_not_a_file(tmp_path, capsys, target):
    """A directory or /dev/null as the task is named as such, not as 'file does not exist'."""
    p = tmp_path if target == "dir" else Path("/dev/null")
    line = refused(capsys, ["check", p], str(p))
    assert "does not exist" not in line


# ---------------------------------------------------------------- study
def test_study_second_run_refused_while_first_holds_the_directory(tmp_path, capsys):
    """Two `femnn study` runs on one --out: the second is refused (exit 2, one line naming --out) and the
    first run's claim directory is untouched."""
    from femnn.train.runs import lock_directory

    spec = write(tmp_path, "s.toml", 'base = "fig1"\nmodels = ["bar"]\noutputs = ["loss"]\n[axes]\nwidth_seed = [0, 1]\n')
    out = tmp_path / "study"
    (out / ".claims" / "running").mkdir(parents=True)
    (out / ".claims" / "running" / "abc").write_text("")
    with lock_directory(out):
        refused(capsys, ["study", spec, "--out", out], "--out", "in use")
    assert (out / ".claims" / "running" / "abc").exists()
    refused(capsys, ["study", spec, "--out", spec], "--out", "not a directory")


def test_study_scalar_axis_is_not_called_empty(tmp_path, capsys):
    spec = write(tmp_path, "s.toml", 'base = "fig1"\nmodels = ["bar"]\n[axes]\nwidth_seed = 3\n')
    line = refused(capsys, ["study", spec, "--out", tmp_path / "o"], "axes.width_seed", "single value")
    assert "empty" not in line
    spec = write(tmp_path, "s2.toml", 'base = "fig1"\nmodel = ["bar"]\n[axes]\nwidth_seed = [3]\n')
    refused(capsys, ["study", spec, "--out", tmp_path / "o"], "did you mean models?")


# ---------------------------------------------------------------- messages, logging, progress
def test_quiet_and_progress_without_carriage_returns(tmp_path):
    """Off a terminal the progress bar writes whole lines (no carriage returns); --quiet writes nothing on
    stderr; -v is accepted by every subcommand."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    r = subprocess.run([sys.executable, "-m", "femnn", "train", "iris", "--out", str(tmp_path / "a"), "--epochs", "5",
                        "--no-plots"], capture_output=True, text=True, cwd=ROOT, env=env)
    assert r.returncode == 0 and "\r" not in r.stderr and "5/5" in r.stderr
    r = subprocess.run([sys.executable, "-m", "femnn", "train", "iris", "--out", str(tmp_path / "b"), "--epochs", "5",
                        "--no-plots", "--quiet"], capture_output=True, text=True, cwd=ROOT, env=env)
    assert r.returncode == 0 and r.stderr == ""
    for cmd in ("train", "gradient", "fdcheck", "prune", "generate", "check", "study", "validate", "build", "converge",
                "crosscheck"):
        from femnn.cli import SUBCOMMANDS, _parser_with

        assert cmd in SUBCOMMANDS
        parser = _parser_with(cmd)
        sub = parser._subparsers._group_actions[0].choices[cmd]
        opts = sub._option_string_actions
        assert "--quiet" in opts and "-v" in opts, cmd


def test_no_traceback_for_unreadable_out(tmp_path, capsys):
    """A --out inside a directory the user cannot write is refused before any work (skipped for root,
    who can write anywhere, by checking the permission the way the command does)."""
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        if os.access(ro, os.W_OK):
            out = tmp_path / "plain"
            out.write_text("")
            refused(capsys, ["train", "fig1", "--out", out / "x"], "--out")
        else:
            refused(capsys, ["train", "fig1", "--out", ro / "x"], "--out", "not writable")
    finally:
        ro.chmod(0o700)


def test_mechanism_message_names_the_file_and_fix(tmp_path, capsys):
    """A network with zero modes is refused naming its file and the fix (not just the network's name)."""
    text = paper_text().replace("fixed = [0, 4]", "fixed = [0]")
    p = write(tmp_path, "loose.toml", text)
    task = write(tmp_path, "t.toml", task_text("fig1").replace('network = "paper"', f'network = "{p}"'))
    refused(capsys, ["train", task, "--out", tmp_path / "o", "--epochs", "1"], str(p), "zero mode", "add bonds or fixed nodes")
    assert not (tmp_path / "o").exists()


# ---------------------------------------------------------------- property-based: mutated files and options
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


def _toml_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return "nan" if v != v else ("inf" if v == float("inf") else "-inf" if v == float("-inf") else repr(v))
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, list):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{json.dumps(str(k))} = {_toml_value(x)}" for k, x in v.items()) + "}"
    raise TypeError(v)


def to_toml(d: dict) -> str:
    """A minimal TOML writer: top-level scalars, then [tables] and [[arrays of tables]] (inline below)."""
    head, body = [], []
    for k, v in d.items():
        key = json.dumps(str(k))
        if isinstance(v, dict):
            body.append(f"[{key}]")
            body += [f"{json.dumps(str(kk))} = {_toml_value(vv)}" for kk, vv in v.items()]
        elif isinstance(v, list) and v and all(isinstance(x, dict) for x in v):
            for x in v:
                body.append(f"[[{key}]]")
                body += [f"{json.dumps(str(kk))} = {_toml_value(vv)}" for kk, vv in x.items()]
        else:
            head.append(f"{key} = {_toml_value(v)}")
    return "\n".join(head + body) + "\n"


SCALARS = st.one_of(
    st.integers(-5, 30), st.integers(-10**15, 10**15), st.floats(allow_nan=True, allow_infinity=True),
    st.floats(-1.0, 1.0), st.booleans(), st.text("xymNaPm_ ", max_size=6),
    st.sampled_from(["m", "mm", "Pa", "N", "x", "y", "mse", "ce-normalised", "iris", "linear", "single", "max", "paper"]),
)
VALUES = st.recursive(SCALARS, lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(
    st.sampled_from(["kind", "nodes", "node", "force", "scale", "seed", "x"]), inner, max_size=3)), max_leaves=8)


def _paths(d, prefix=()):
    """Every (path to a value) in a nested dict/list structure."""
    out = []
    items = d.items() if isinstance(d, dict) else enumerate(d)
    for k, v in items:
        out.append(prefix + (k,))
        if isinstance(v, (dict, list)) and len(out) < 400:
            out += _paths(v, prefix + (k,))
    return out


@st.composite
def mutations(draw, base: dict):
    """1-3 edits of ``base``: replace a value (any type), delete a key or element, or add a stray key."""
    import copy

    d = copy.deepcopy(base)
    for _ in range(draw(st.integers(1, 3))):
        paths = _paths(d)
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent = d
        for k in path[:-1]:
            parent = parent[k]
        op = draw(st.sampled_from(["replace", "replace", "delete", "add"]))
        if op == "replace":
            parent[path[-1]] = draw(VALUES)
        elif op == "delete":
            del parent[path[-1]]
        elif isinstance(parent, dict):
            parent[draw(st.sampled_from(["extra", "poisson", "wieght", "seeds", "nodes"]))] = draw(SCALARS)
    return d


def _check_file(text: str, tmp: Path, name: str) -> None:
    """`femnn check` on the file: 0 (loads) or 2 (refused) with one line on stderr; never a traceback."""
    p = tmp / name
    p.write_text(text)
    import contextlib
    import io

    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        rc = main(["check", str(p)])
    assert rc in (0, 2), (rc, text)
    if rc == 2:
        lines = err.getvalue().strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("femnn check: error: "), (err.getvalue(), text)


def _base(path: Path) -> dict:
    import tomllib

    return tomllib.loads(path.read_text())


PROP = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                       HealthCheck.too_slow])


@PROP
@given(data=st.data())
def test_any_mutated_network_file_loads_or_is_refused(tmp_path, data):
    """Property: any 1-3 mutations (types, keys, values) of the paper network file either load or are
    refused with exit 2 and one line; never a traceback."""
    d = data.draw(mutations(_base(GEOM / "networks" / "paper.toml")))
    _check_file(to_toml(d), tmp_path, "net.toml")


@PROP
@given(data=st.data(), name=st.sampled_from(["fig1", "regression", "iris", "behaviour-ce"]))
def test_any_mutated_task_file_loads_or_is_refused(tmp_path, data, name):
    """Property: mutations of a built-in task file (with its network inline or by name) either load or are
    refused with exit 2 and one line; never a traceback."""
    base = _base(GEOM / f"{name}.toml")
    if data.draw(st.booleans()):
        base["network"] = _base(GEOM / "networks" / "paper.toml")      # inline network table: mutate it too
    d = data.draw(mutations(base))
    _check_file(to_toml(d), tmp_path, f"{name}.toml")


OPTION_VALUES = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-3, 3),
                          st.sampled_from(["nan", "inf", "-inf", "0", "-0", "1e308", "1e-320", "x", ""]))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(opts=st.dictionaries(st.sampled_from(["--lr", "--beta", "--epochs", "--seed", "--train-fraction", "--batch-size",
                                             "--max-iter"]), OPTION_VALUES, min_size=1, max_size=3),
       task=st.sampled_from(["fig1", "regression"]))
def test_any_train_options_run_or_are_refused(tmp_path_factory, opts, task):
    """Property: `femnn train` with arbitrary values of its numeric options either trains (exit 0) or is
    refused (exit 2: one line naming an option; argparse's usage error for a non-number); never a
    traceback. Epoch counts stay small (the strategy draws -3..3 or floats, which are refused)."""
    import contextlib
    import io

    out = tmp_path_factory.mktemp("opt") / "o"
    argv = ["train", task, "--out", str(out), "--quiet", "--no-plots"]
    if "--epochs" not in opts:
        argv += ["--epochs", "2"]
    for k, v in opts.items():
        if k == "--max-iter" and "--epochs" not in opts:
            continue
        argv += [f"{k}={v}"]
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            rc = main(argv)
        except SystemExit as exc:          # argparse: "invalid int value" etc. (its own usage message)
            rc = exc.code
    assert rc in (0, 2), (argv, err.getvalue())
    if rc == 2 and "usage:" not in err.getvalue():
        lines = err.getvalue().strip().splitlines()
        assert len(lines) == 1 and "--" in lines[0], (argv, err.getvalue())
        assert not out.exists()
    if rc == 0:
        w = json.loads((out / "widths.json").read_text())["widths_m"]
        assert all(isinstance(x, float) and 1.5e-3 <= x <= 2.5e-3 for x in w)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(kind=st.sampled_from(["triangular", "square-diagonal", "diluted-triangular"]),
       opts=st.dictionaries(st.sampled_from(["--rows", "--nx", "--ny", "--spacing-mm", "--remove-fraction", "--seed",
                                             "--width-mm", "--thickness-mm"]),
                            st.one_of(st.integers(-3, 12), st.floats(allow_nan=True, allow_infinity=True),
                                      st.sampled_from(["nan", "1e9", "-0"])), max_size=3))
def test_any_generate_options_write_or_are_refused(tmp_path_factory, kind, opts):
    """Property: `femnn generate` with arbitrary option values writes a network that loads back, or is
    refused with one line naming an option (argparse refuses non-integers itself); never a traceback,
    never a temporary file left behind."""
    import contextlib
    import io

    from femnn.network import load_network

    d = tmp_path_factory.mktemp("gen")
    out = d / "n.toml"
    argv = ["generate", kind, "--out", str(out)] + [f"{k}={v}" for k, v in opts.items()]
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            rc = main(argv)
        except SystemExit as exc:
            rc = exc.code
    assert rc in (0, 2), (argv, err.getvalue())
    if rc == 0:
        assert load_network(out).n_bonds > 0
    elif "usage:" not in err.getvalue():
        lines = err.getvalue().strip().splitlines()
        assert len(lines) == 1 and "--" in lines[0], (argv, err.getvalue())
    assert [p.name for p in d.iterdir()] in ([], ["n.toml"])


def test_task_file_training_values_are_named_as_file_fields(tmp_path, capsys):
    """A task file's own train_fraction that leaves no training sample is reported as the file's field
    (training.train_fraction), not as the --train-fraction option the user never gave."""
    text = task_text("iris").replace("train_fraction = 0.7", "train_fraction = 0.001")
    p = local_task(tmp_path, "t.toml", text)
    line = refused(capsys, ["train", p, "--out", tmp_path / "o", "--epochs", "1"], str(p), "training.train_fraction")
    assert "--train-fraction" not in line
    refused(capsys, ["train", p, "--out", tmp_path / "o", "--epochs", "1", "--train-fraction", "0.002"], "--train-fraction")
