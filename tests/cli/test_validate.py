"""`femnn validate` end to end on the paper network (quick meshes, 2D only to keep the suite fast)."""

import json

import numpy as np

from femnn.cli import main


def test_validate_quick_2d(tmp_path):
    """Default network and load (Fig. 1), 2D P2 FEM: the report passes its checks (bar within 25 % of FEM
    at the outputs, within 5 % after one global calibration, gradient signs agree, Spearman >= 0.95),
    results.json has the documented keys and the FEM's gradient_s per bond."""
    out = tmp_path / "v"
    assert main(["validate", "--quick", "--dims", "2", "--out", str(out)]) == 0
    r = json.loads((out / "results.json").read_text())
    assert {"nodes", "bonds", "models"} <= set(r)
    fem = r["models"]["fem2d"]
    for key in ("u", "elongation", "adjoint_elongation", "gradient_k", "loss", "dofs", "degree",
                "seconds_forward", "seconds_adjoint", "gradient_s"):
        assert key in fem, key
    assert len(fem["gradient_s"]) == 28 and fem["degree"] == 2
    assert np.array(fem["u"]).shape == (14, 2)
    assert r["pass"] is True
    assert (out / "report.md").is_file() and (out / "gradients.png").is_file()


def test_validate_bad_input(tmp_path):
    """A missing network file and a data-set task are refused with exit code 2."""
    assert main(["validate", str(tmp_path / "nope.toml"), "--out", str(tmp_path / "o")]) == 2
    assert main(["validate", "iris", "--quick", "--dims", "2", "--out", str(tmp_path / "o")]) == 2
