"""`femnn study` with FEM cases: records equal single `femnn crosscheck` runs, on 1 and 2 ranks and 1 or 2
ranks per case; kill and resume with FEM cases in flight."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

MPIEXEC = str(Path(sys.executable).parent / "mpiexec")
FEMNN = [sys.executable, "-m", "femnn"]
NUS = [0.45, 0.49]
FEM_STUDY = """
name = "fem-poisson"
base = "fig1"
models = ["bar", "fem2d"]
outputs = ["u", "elongation", "adjoint_elongation", "gradient_s", "gradient_k", "loss", "dofs"]
[fixed]
degree = 2
[axes]
poisson_ratio = [0.45, 0.49]
"""


def _records(out):
    return [json.loads(line) for line in (out / "cases.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def crosscheck_alone(tmp_path_factory):
    """Each case run alone: `femnn crosscheck fig1 --dims 2 --poisson NU` (serial) -> its fem2d model."""
    ref = {}
    for nu in NUS:
        out = tmp_path_factory.mktemp("cc") / "c"
        res = subprocess.run([*FEMNN, "crosscheck", "fig1", "--dims", "2", "--poisson", str(nu), "--no-per-bond",
                              "--out", str(out)], capture_output=True, text=True, timeout=300)
        assert res.returncode in (0, 1), res.stderr[-2000:]
        ref[nu] = json.loads((out / "results.json").read_text())["models"]["fem2d"]
    return ref


@pytest.mark.parametrize("n,r", [(1, 1), (2, 1), (2, 2)])
def test_fem_records_equal_crosscheck_runs(tmp_path, crosscheck_alone, n, r):
    """A study's fem2d records (hub displacements, elongations, adjoint elongations, exact gradient_s, loss)
    equal those of `femnn crosscheck` run on the same case alone, to 1e-10 relative (max |Δ| over the
    vector against max |x|): same part, same mesh, same DOFs, whether the case ran on the world's only
    rank, on one of two groups, or distributed over a group of two ranks."""
    spec = tmp_path / "s.toml"
    spec.write_text(FEM_STUDY)
    out = tmp_path / "out"
    res = subprocess.run([MPIEXEC, "-n", str(n), *FEMNN, "study", str(spec), "--out", str(out), "--ranks-per-case", str(r),
                          "--quiet"], capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-2000:]
    recs = _records(out)
    assert sorted(x["params"]["poisson_ratio"] for x in recs) == NUS
    for rec in recs:
        got = rec["outputs"]["fem2d"]
        ref = crosscheck_alone[rec["params"]["poisson_ratio"]]
        assert rec["ranks"] == r and got["dofs"] == ref["dofs"]
        for key in ("u", "elongation", "adjoint_elongation", "gradient_s"):
            a, b = np.asarray(got[key]), np.asarray(ref[key])
            assert np.abs(a - b).max() <= 1e-10 * np.abs(b).max(), (key, np.abs(a - b).max() / np.abs(b).max())
        assert abs(got["loss"] - ref["loss"]) <= 1e-10 * abs(ref["loss"])
    # physics, not only bookkeeping: the two Poisson ratios give different FEM answers, the bar model none
    by_nu = {x["params"]["poisson_ratio"]: x["outputs"] for x in recs}
    assert by_nu[0.45]["fem2d"]["u"] != by_nu[0.49]["fem2d"]["u"]
    assert by_nu[0.45]["bar"]["u"] == by_nu[0.49]["bar"]["u"]


def test_kill_and_resume_with_fem_cases(tmp_path):
    """SIGTERM to `mpiexec -n 2 femnn study` while FEM cases run, then the same command again: the cases
    finished before the kill keep their run id (not recomputed), every case is in cases.jsonl exactly
    once, each FEM record is complete, and no temporary file or pending record is left behind."""
    nus = [0.40, 0.42, 0.44, 0.45, 0.46, 0.47, 0.48, 0.49]
    spec = tmp_path / "s.toml"
    spec.write_text('base = "fig1"\nmodels = ["fem2d"]\noutputs = ["u", "loss"]\n[axes]\npoisson_ratio = ['
                    + ", ".join(map(str, nus)) + "]\n")
    out = tmp_path / "out"
    cmd = [MPIEXEC, "-n", "2", *FEMNN, "study", str(spec), "--out", str(out), "--quiet"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)

    def finished():
        pending = [json.loads(p.read_text()) for p in (out / ".records").glob("*.json")] if (out / ".records").is_dir() else []
        done = _records(out) if (out / "cases.jsonl").is_file() else []
        return {r["case_id"]: r["run_id"] for r in pending + done}

    deadline = time.time() + 240
    while time.time() < deadline and len(finished()) < 3:
        time.sleep(0.1)
    os.kill(proc.pid, signal.SIGTERM)
    proc.wait(timeout=60)
    first = finished()
    assert 0 < len(first) < len(nus), "the kill came too late or too early to test anything"
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-2000:]
    recs = _records(out)
    ids = [r["case_id"] for r in recs]
    assert len(ids) == len(nus) and len(set(ids)) == len(nus)
    later = {r["case_id"]: r["run_id"] for r in recs}
    assert all(later[c] == run for c, run in first.items())
    assert any(later[c] != run for c, run in later.items() if c not in first) or len(first) < len(nus)
    for r in recs:
        assert r["status"] == "ok" and np.asarray(r["outputs"]["fem2d"]["u"]).shape == (14, 2)
    assert not list(out.glob(".*.tmp")) and not list(out.glob("*.tmp")) and not list((out / ".records").glob("*"))
