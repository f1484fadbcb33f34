"""Shared fixtures. The FEM tests import dolfinx_solver in tests/fem/conftest.py, not here, so the
core tests run without loading MPI."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def femnn_cli():
    """Run ``femnn ARGS`` in a subprocess (as a user would) -> CompletedProcess with text output."""

    def run(*args, check=False):
        return subprocess.run([sys.executable, "-m", "femnn", *map(str, args)], capture_output=True, text=True,
                              cwd=ROOT, check=check)

    return run
