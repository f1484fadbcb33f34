"""The Python API of the validation chain equals the CLI, and the report is well-formed HTML."""

import json
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

import femnn
from femnn.cli import main


def _strip(obj):
    """Drop what legitimately differs between two runs: wall-clock timings and provenance."""
    if isinstance(obj, dict):
        return {k: _strip(v) for k, v in obj.items() if not k.startswith("seconds") and k not in ("versions",)}
    if isinstance(obj, list):
        return [_strip(v) for v in obj]
    return obj


def _close(a, b, path="results"):
    """Equal structure; numbers equal to 1e-12 relative (|a - b| <= 1e-12 max(|a|, |b|, 1e-300))."""
    if isinstance(a, dict):
        assert isinstance(b, dict) and set(a) == set(b), (path, sorted(set(a) ^ set(b)))
        for k in a:
            _close(a[k], b[k], f"{path}.{k}")
    elif isinstance(a, list):
        assert isinstance(b, list) and len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b)):
            _close(x, y, f"{path}[{i}]")
    elif isinstance(a, float) or isinstance(b, float):
        assert a is not None and b is not None, (path, a, b)
        assert abs(a - b) <= 1e-12 * max(abs(a), abs(b), 1e-300), (path, a, b)
    else:
        assert a == b, (path, a, b)


@pytest.fixture(scope="module")
def api_and_cli(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("api")
    v = femnn.validate("fig1", dims=[2], quick=True)
    v.write(tmp / "api")
    assert main(["validate", "fig1", "--dims", "2", "--quick", "--out", str(tmp / "cli")]) == 0
    return v, tmp


def test_api_equals_cli(api_and_cli):
    """femnn.validate('fig1', dims=[2], quick=True) returns a Validation with the bar and fem2d models whose
    numbers equal the CLI's results.json to 1e-12 (timings and versions aside)."""
    from femnn.report.files import _clean
    from femnn.validation import Validation

    v, tmp = api_and_cli
    assert isinstance(v, Validation) and {"bar", "fem2d", "bar_calibrated"} <= set(v.models)
    assert v.passed and all(c.passed for c in v.checks)
    cli = json.loads((tmp / "cli" / "results.json").read_text())
    api = json.loads(json.dumps(_clean(v.to_dict())))
    _close(_strip(api), _strip({k: val for k, val in cli.items()}))
    assert cli["versions"]["femnn"] == femnn.__version__ and "dolfinx" in cli["versions"]


def test_one_calibration_factor(api_and_cli):
    """bar_calibrated's factor is THE global factor of the calibration (one fit, one number) and the report
    shows the same value in the Models table and the Calibration section."""
    v, tmp = api_and_cli
    c = v.models["bar_calibrated"].calibration_factor
    assert c == v.calibration.global_factor
    md = (tmp / "api" / "report.md").read_text(encoding="utf-8")
    assert md.count(f"{c:.4f}") >= 2


class _Tables(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tables, self.imgs, self.links = [], [], []
        self._row = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "table":
            self.tables.append([])
        elif tag == "tr":
            self._row = []
            self.tables[-1].append(self._row)
        elif tag in ("td", "th"):
            self._row.append(tag)
        elif tag == "img":
            self.imgs.append(a["src"])
        elif tag == "a":
            self.links.append(a["href"])


def test_html_report_is_well_formed(api_and_cli):
    """Every table row has its header's cell count (a '|' inside a cell does not split it), every <img> and
    every linked file of the run exists, and every picture has a caption."""
    _, tmp = api_and_cli
    out = tmp / "cli"
    p = _Tables()
    p.feed((out / "report.html").read_text(encoding="utf-8"))
    assert len(p.tables) >= 5
    for t in p.tables:
        n = len(t[0])
        assert all(len(r) == n for r in t), [len(r) for r in t]
    assert p.imgs and all((out / s).is_file() for s in p.imgs), p.imgs
    assert all((out / h).exists() for h in p.links if not h.startswith("http")), p.links
    md = (out / "report.md").read_text(encoding="utf-8")
    for s in p.imgs:
        assert f"]({s})" in md
    assert not list(out.glob(".partial-*")) and not list(out.parent.glob(".*partial*"))


def test_failed_run_keeps_the_earlier_result(api_and_cli, tmp_path):
    """A run that fails on bad input leaves an earlier good run in the same --out byte-identical."""
    _, tmp = api_and_cli
    out = tmp / "cli"
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    assert main(["validate", "fig1", "--dims", "2", "--quick", "--poisson", "0.7", "--out", str(out)]) == 2
    after = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    assert before == after
