"""`femnn train --forward fem2d`: the same output files as femnn train plus fem_history.json."""

import json

import dolfinx_solver  # noqa: F401

from femnn.cli import main


def test_train_forward_fem2d_writes_the_run(tmp_path):
    """Two PAT iterations from the bar-trained widths: history.json has the physical and bar errors
    and the cosine per iteration; fem_history.json names the forward model, its DOFs and phase
    times; widths stay within the bounds."""
    out = tmp_path / "run"
    rc = main(["train", "behaviour-mse", "--forward", "fem2d", "--quick", "--init", "geometry/trained/behaviour-mse",
               "--epochs", "2", "--out", str(out), "--quiet", "--no-plots"])
    assert rc == 0
    for f in ("history.json", "widths.json", "summary.json", "network.toml", "fem_history.json"):
        assert (out / f).is_file(), f
    hist = json.loads((out / "history.json").read_text())
    assert len(hist) == 2 and {"train_error", "bar_train_error", "cosine", "n_at_bound"} <= set(hist[0])
    assert hist[0]["train_error"] > hist[0]["bar_train_error"]
    fh = json.loads((out / "fem_history.json").read_text())
    assert fh["forward"] == "fem2d" and fh["fem"]["dofs"] > 1000 and fh["fem"]["n_meshes"] == 3
    assert fh["final"]["train_error"] < hist[0]["train_error"]
    w = json.loads((out / "widths.json").read_text())
    lo, hi = w["width_bounds_m"]
    assert all(lo <= x <= hi for x in w["widths_m"])


def test_train_forward_bad_combination_is_exit_2(tmp_path, capsys):
    rc = main(["train", "behaviour-mse", "--forward", "bar-calibrated", "--backward", "fem", "--out", str(tmp_path / "r")])
    assert rc == 2
    err = capsys.readouterr().err
    assert "--backward" in err and "Traceback" not in err


def test_train_forward_under_mpi(tmp_path):
    """`mpiexec -n 2 femnn train --forward fem2d`: every rank runs the training (the FEM is collective),
    rank 0 alone locks --out and writes; exit 0 on both. Iteration 1 is evaluated at the --init widths,
    the same mesh as in serial: its physical error equals the serial one to the solver tolerance
    (MUMPS on 2 ranks, 1e-9). Later iterations may differ by remeshing noise: the widths after an update
    agree to ~1e-14 relative, but gmsh's mesh of the part is not continuous in the widths (a 1e-14
    change of a width can move a mesh node), which shows as ~1e-4 in the outputs; bounded here by 1e-2.
    The serial bar model under mpiexec (`--forward bar`) trains on rank 0 and ends the same way."""
    import subprocess
    import sys
    from pathlib import Path

    import numpy as np

    mpiexec = str(Path(sys.executable).parent / "mpiexec")
    argv = ["train", "behaviour-mse", "--forward", "fem2d", "--quick", "--init", "geometry/trained/behaviour-mse",
            "--epochs", "2", "--quiet", "--no-plots"]
    assert main(argv + ["--out", str(tmp_path / "serial")]) == 0
    r = subprocess.run([mpiexec, "-n", "2", sys.executable, "-m", "femnn", *argv, "--out", str(tmp_path / "mpi")],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    h1 = json.loads((tmp_path / "serial" / "history.json").read_text())
    h2 = json.loads((tmp_path / "mpi" / "history.json").read_text())
    assert len(h2) == 2
    np.testing.assert_allclose(h2[0]["train_error"], h1[0]["train_error"], rtol=1e-9)
    np.testing.assert_allclose(h2[1]["train_error"], h1[1]["train_error"], rtol=1e-2)
    assert sorted(p.name for p in (tmp_path / "mpi").iterdir()) == sorted(p.name for p in (tmp_path / "serial").iterdir())
    r = subprocess.run([mpiexec, "-n", "2", sys.executable, "-m", "femnn", "train", "iris", "--epochs", "2", "--quiet",
                        "--no-plots", "--out", str(tmp_path / "bar")], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0 and "in use" not in r.stderr, r.stderr[-2000:]
    assert (tmp_path / "bar" / "summary.json").is_file()
