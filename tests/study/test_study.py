"""`femnn study`: validation before any case runs, MPI groups, dynamic dealing, kill and resume."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from femnn.cli import main
from femnn.network import make_network, write_network

MPIEXEC = str(Path(sys.executable).parent / "mpiexec")
FEMNN = [sys.executable, "-m", "femnn"]


def _records(out):
    return [json.loads(line) for line in (out / "cases.jsonl").read_text().splitlines()]


def _study(tmp_path, body, name="s.toml"):
    p = tmp_path / name
    p.write_text(body)
    return p


BAR_STUDY = """
name = "bar-sweep"
base = "fig1"
models = ["bar"]
outputs = ["u", "elongation", "gradient_k", "loss"]
[axes]
youngs_modulus_Pa = [4e5, 5.5e5, 7e5]
load_scale = [0.5, 1.0, 2.0]
"""


@pytest.mark.parametrize("n,r", [(1, 1), (2, 1), (2, 2)])
def test_records_equal_single_case_runs(tmp_path, n, r):
    """Each record's bar outputs equal a direct bar-model run of that case (u = D⁻¹F scales as
    load_scale / E): same numbers for N = 1 and 2 ranks and 1 or 2 ranks per case."""
    spec = _study(tmp_path, BAR_STUDY)
    out = tmp_path / "out"
    res = subprocess.run([MPIEXEC, "-n", str(n), *FEMNN, "study", str(spec), "--out", str(out), "--ranks-per-case", str(r),
                          "--quiet"], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    recs = _records(out)
    assert len(recs) == 9 and len({x["case_id"] for x in recs}) == 9
    from femnn.cli._gradient import gradient_record
    from femnn.study.cases import prepare_task
    from femnn.study.spec import load_study

    study = load_study(spec)
    for rec in recs:
        task, _ = prepare_task(study, rec["params"])
        ref = gradient_record(task)
        got = rec["outputs"]["bar"]
        assert np.allclose(got["u"], ref["u"], rtol=1e-10, atol=0)
        assert np.allclose(got["gradient_k"], ref["gradient_k"], rtol=1e-10, atol=1e-30)
        assert np.isclose(got["loss"], ref["loss"], rtol=1e-10)
    u0 = {json.dumps(x["params"], sort_keys=True): np.array(x["outputs"]["bar"]["u"]) for x in recs}
    a = u0[json.dumps({"load_scale": 1.0, "youngs_modulus_Pa": 5.5e5}, sort_keys=True)]
    b = u0[json.dumps({"load_scale": 2.0, "youngs_modulus_Pa": 4e5}, sort_keys=True)]
    assert np.allclose(b, a * 2.0 * 5.5e5 / 4e5, rtol=1e-10)
    for f in ("study.csv", "report.md", "axis_youngs_modulus_Pa.png", "axis_load_scale.png"):
        assert (out / f).is_file()


@pytest.mark.parametrize("body,field,words", [
    ('base = "fig1"\nmodels = ["bar"]\n[axes]\nfoo = [1]\n', "axes.foo", "unknown parameter"),
    ('base = "fig1"\nmodels = ["bar"]\n[axes]\nload_scale = []\n', "axes.load_scale", "empty axis"),
    ('base = "fig1"\nmodels = ["fem2d"]\n[axes]\npoisson_ratio = [0.45, 0.6]\n', "axes.poisson_ratio[1]", "physical range"),
    ('base = "fig1"\nmodels = ["fem9"]\n[axes]\nload_scale = [1]\n', "models[0]", "unknown model"),
    ('base = "nope"\nmodels = ["bar"]\n[axes]\nload_scale = [1]\n', "nope", "no such file"),
    ('base = "fig1"\nmodels = ["bar"]\n[axes]\nprune_bond = [3, 99]\n', "prune_bond", "does not exist"),
])
def test_bad_study_refused(tmp_path, body, field, words):
    """A bad study file is refused before any case runs: exit 2, one line with file, field and fix,
    and no output directory."""
    spec = _study(tmp_path, body)
    out = tmp_path / "out"
    res = subprocess.run([*FEMNN, "study", str(spec), "--out", str(out)], capture_output=True, text=True)
    assert res.returncode == 2
    line = res.stderr.strip()
    assert "\n" not in line and field in line and words in line
    assert not out.exists()


def test_failed_case_recorded_and_study_goes_on(tmp_path):
    """Pruning bond 0-5 makes a mechanism: that case is recorded as failed with the free nodes, the
    other cases succeed, and the exit code is 100 + the number of failures."""
    spec = _study(tmp_path, 'base = "fig1"\nmodels = ["bar"]\noutputs = ["loss"]\n[axes]\nprune_bond = [0, 1, 27]\n')
    out = tmp_path / "out"
    assert main(["study", str(spec), "--out", str(out), "--quiet"]) == 101
    recs = {r["params"]["prune_bond"]: r for r in _records(out)}
    assert recs[1]["status"] == "failed" and "mechanism" in recs[1]["error"]
    assert recs[0]["status"] == recs[27]["status"] == "ok"


def test_kill_and_resume(tmp_path):
    """SIGTERM to mpiexec mid-study, then the same command again: finished cases are not recomputed,
    every case is in cases.jsonl exactly once, and no temporary file is left behind."""
    net = make_network("triangular", rows=120)
    write_network(net, tmp_path / "big.toml")
    (tmp_path / "task.toml").write_text(
        'name = "big"\nnetwork = "big.toml"\nkind = "single"\n[units]\nlength = "m"\nforce = "N"\n'
        f'[[loads]]\nnode = {net.n_nodes - 2}\nforce = [0.0, -0.01]\n'
        f'[outputs]\nnodes = [{net.n_nodes - 1}]\ncomponents = ["y"]\n[loss]\nkind = "mse"\ntargets = [-0.01]\n')
    spec = _study(tmp_path, 'base = "task.toml"\nmodels = ["bar"]\noutputs = ["loss"]\n[axes]\nwidth_seed = ['
                  + ", ".join(map(str, range(40))) + "]\n")
    out = tmp_path / "out"
    cmd = [MPIEXEC, "-n", "2", *FEMNN, "study", str(spec), "--out", str(out), "--quiet"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.time() + 120
    while time.time() < deadline:
        n = len(list((out / ".records").glob("*.json"))) if (out / ".records").is_dir() else 0
        n += len((out / "cases.jsonl").read_text().splitlines()) if (out / "cases.jsonl").is_file() else 0
        if n >= 5:
            break
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGTERM)
    proc.wait(timeout=60)
    first = {r["case_id"]: r["run_id"] for r in _records(out)} if (out / "cases.jsonl").is_file() else {}
    n_left = len(list((out / ".records").glob("*.json")))
    assert 0 < len(first) + n_left < 40, "the kill came too late or too early to test anything"
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    recs = _records(out)
    ids = [r["case_id"] for r in recs]
    assert len(ids) == 40 and len(set(ids)) == 40
    later = {r["case_id"]: r["run_id"] for r in recs}
    assert all(later[c] == run for c, run in first.items())  # not recomputed
    assert not list(out.glob(".*.tmp")) and not list((out / ".records").glob("*"))
