"""Hostile input for the FEM commands (issue 12): validate, crosscheck, converge, build.

Every bad option or file is refused BEFORE any meshing or solving: exit 2, exactly one line on stderr
naming the option (or file), the problem and the fix, no traceback, no output directory left behind,
and a check-failed exit code (1) is never used for bad input. Each case runs in a subprocess with a
time limit, so a fault that starts the FEM instead of refusing fails the test rather than hanging it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
GEOM = ROOT / "geometry"
FAST = ["--quick", "--dims", "2", "--no-per-bond"]


def femnn(*args, timeout=120):
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    try:
        return subprocess.run([sys.executable, "-m", "femnn", *map(str, args)], capture_output=True, text=True,
                              cwd=ROOT, env=env, timeout=timeout)
    except subprocess.TimeoutExpired:
        pytest.fail(f"femnn {' '.join(map(str, args))}: not refused within {timeout} s (it started working)")


def assert_refused(r, command, *words):
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 2, (r.returncode, r.stderr[-2000:])
    assert "Traceback" not in r.stderr
    assert len(lines) == 1, r.stderr[-2000:]
    assert lines[0].startswith(f"femnn {command}: error: "), lines[0]
    for w in words:
        assert w in lines[0], (w, lines[0])


OPTION_CASES = [
    ("validate", ["--poisson", "0.6"], "--poisson"),
    ("validate", ["--poisson", "nan"], "--poisson"),
    ("validate", ["--poisson", "-1"], "--poisson"),
    ("validate", ["--formulation", "displacement", "--poisson", "0.5"], "--formulation"),
    ("validate", ["--formulation", "mixed", "--poisson", "-0.2"], "--formulation"),
    ("validate", ["--degree", "0"], "--degree"),
    ("validate", ["--degree", "-2"], "--degree"),
    ("validate", ["--refine", "-1"], "--refine"),
    ("validate", ["--tol-u", "nan"], "--tol-u"),
    ("validate", ["--tol-u", "-0.1"], "--tol-u"),
    ("validate", ["--tol-u-calibrated", "inf"], "--tol-u-calibrated"),
    ("validate", ["--tol-spearman", "2"], "--tol-spearman"),
    ("validate", ["--tol-spearman", "nan"], "--tol-spearman"),
    ("validate", ["--hub-radius-mm", "-1"], "--hub-radius-mm"),
    ("validate", ["--neck-length-mm", "nan"], "--neck-length-mm"),
    ("validate", ["--width-fd-step", "0"], "--width-fd-step"),
    ("crosscheck", ["--poisson", "0.6"], "--poisson"),
    ("crosscheck", ["--degree", "0"], "--degree"),
    ("crosscheck", ["--refine", "-1"], "--refine"),
]


@pytest.mark.parametrize("command,extra,option", OPTION_CASES)
def test_validate_family_bad_options(tmp_path, command, extra, option):
    """Out-of-range or non-finite FEM options are refused naming the option; nothing is written."""
    out = tmp_path / "o"
    r = femnn(command, "fig1", "--out", out, *FAST, *extra)
    assert_refused(r, command, option)
    assert not out.exists()


@pytest.mark.parametrize("levels", [["-1", "0", "1"], ["0", "0", "0"], ["0", "1", "1"], ["0", "1"]])
def test_converge_bad_levels(tmp_path, levels):
    """--levels must be three or more DISTINCT levels >= 0 (equal levels give a Richardson error bar of 0)."""
    out = tmp_path / "o"
    r = femnn("converge", "fig1", "--out", out, "--levels", *levels)
    assert_refused(r, "converge", "--levels")
    assert not out.exists()


@pytest.mark.parametrize("extra,option", [(["--degree", "0"], "--degree"), (["--levels", "0", "1", "nan"], "--levels")])
def test_converge_other_options(tmp_path, extra, option):
    r = femnn("converge", "fig1", "--out", tmp_path / "o", *extra)
    if "usage:" in r.stderr:      # argparse's own refusal of a non-integer: exit 2, no traceback
        assert r.returncode == 2 and "Traceback" not in r.stderr
    else:
        assert_refused(r, "converge", option)


@pytest.mark.parametrize("content", [b"", b"<VTKFile this is not a mesh", os.urandom(4000)])
def test_compare_corrupt_vtu(tmp_path, content):
    """A corrupt or empty .vtu given to --compare is bad input (exit 2 naming the file), not a failed
    check (exit 1) with meshio's own text."""
    f = tmp_path / "bad.vtu"
    f.write_bytes(content)
    r = femnn("validate", "fig1", "--out", tmp_path / "o", "--no-fem", "--compare", f)
    assert_refused(r, "validate", str(f))


@pytest.mark.parametrize("command", ["validate", "crosscheck", "converge", "build"])
@pytest.mark.parametrize("where", ["file", "under-file"])
def test_out_is_a_file_or_under_one(tmp_path, command, where):
    """--out a regular file or a path under one: refused before any work, naming --out; the file is kept."""
    f = tmp_path / "plain.txt"
    f.write_text("keep me\n")
    out = f if where == "file" else f / "sub"
    args = [command, "fig1", "--out", out] + (FAST if command in ("validate", "crosscheck") else [])
    r = femnn(*args, timeout=30)
    assert_refused(r, command, "--out")
    assert f.read_text() == "keep me\n"


@pytest.mark.parametrize("old,new,field", [
    ("poisson_ratio = 0.49", "poisson_ratio = -1.0", "material.poisson_ratio"),
    ("  [-0.064, 0.0],  # 4", "  [0.0, 0.0],  # 4", "lattice.nodes[4]"),
])
@pytest.mark.parametrize("command", ["validate", "build"])
def test_files_check_calls_valid_are_valid(tmp_path, command, old, new, field):
    """Issue 12 #6: inputs `check` accepted then crashed validate/build (ν = -1: ZeroDivisionError; two nodes
    at one position). They are now refused at load time by every command, naming the file and the field."""
    text = (GEOM / "networks" / "paper.toml").read_text()
    assert old in text
    p = tmp_path / "net.toml"
    p.write_text(text.replace(old, new, 1))
    args = [command, p, "--out", tmp_path / "o"] + (FAST if command == "validate" else [])
    r = femnn(*args, timeout=60)
    assert_refused(r, command, str(p), field)
    assert not (tmp_path / "o").exists()
