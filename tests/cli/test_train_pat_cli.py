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
