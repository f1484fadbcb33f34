"""One benchmark case in a fresh ``mpiexec -n R`` process (shared by bench_memory.py and bench_large.py).

The case is Python source run with ``python -c``; its last stdout line is a JSON record. PETSc
options go through ``PETSC_OPTIONS`` (petsc4py is initialised without sys.argv, so PETSc reads
them from the environment at initialisation)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path


def run_case(code: str, args, ranks: int, petsc_options=(), timeout: float = 3600) -> dict:
    """Run ``code`` with ``args`` on ``ranks`` MPI processes -> its JSON record, or {"error": last stderr line}."""
    cmd = [str(Path(sys.executable).parent / "mpiexec"), "-n", str(ranks), sys.executable, "-c", code, *map(str, args)]
    env = dict(os.environ, PETSC_OPTIONS=" ".join(list(petsc_options) + ["-options_left", "0"]))
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    if r.returncode != 0:
        return {"error": r.stderr.strip().splitlines()[-1] if r.stderr.strip() else f"exit {r.returncode}"}
    return json.loads(r.stdout.strip().splitlines()[-1])
