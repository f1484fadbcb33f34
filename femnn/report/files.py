"""Atomic file writing and the readers of femnn's own outputs (e.g. ``widths.json``)."""

from __future__ import annotations

import functools
import json
import math
import os
import platform
from pathlib import Path

import numpy as np

from femnn.errors import InputError


def _clean(obj):
    if isinstance(obj, dict):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _clean(obj.tolist())
    if isinstance(obj, (np.floating, float)):
        v = float(obj)
        return v if math.isfinite(v) else None
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.bool_):
        return bool(obj)
    if isinstance(obj, Path):
        return str(obj)
    return obj


def atomic_write_text(path, text: str) -> Path:
    """Write to ``path.tmp`` then rename: readers never see a half-written file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
    return path


def atomic_write_json(path, obj, indent=1) -> Path:
    return atomic_write_text(path, json.dumps(_clean(obj), indent=indent) + "\n")


@functools.lru_cache(maxsize=4)
def _versions(verbose: bool, load_petsc: bool) -> tuple:
    return tuple(_read_versions(verbose, load_petsc).items())


def versions(verbose: bool = True, load_petsc: bool = False) -> dict:
    """Provenance (see :func:`_read_versions`), read once per process: a run's report and its results.json
    ask for it more than once, and each read runs git."""
    return dict(_versions(verbose, load_petsc))


def _read_versions(verbose: bool = True, load_petsc: bool = False) -> dict:
    """Provenance: the versions of femnn, Python, numpy, scipy and, when installed, dolfinx, PETSc,
    gmsh, MPI (the library's own version string) and matplotlib, plus the git commit of the femnn
    checkout when there is one. Only packages already importable are asked (nothing is installed)."""
    import importlib.metadata as md

    import scipy

    from femnn import __version__

    v = {"femnn": __version__, "python": platform.python_version(), "numpy": np.__version__, "scipy": scipy.__version__}
    if not verbose:
        return v
    for name, dist in (("dolfinx", "dolfinx-solver-real"), ("petsc", None), ("gmsh", "gmsh"), ("mpi", "mpich"),
                       ("matplotlib", "matplotlib"), ("pyvista", "pyvista")):
        try:
            if name == "petsc":
                v[name] = _petsc_version(load_petsc)
            else:
                v[name] = md.version(dist)
        except Exception:  # not installed, or not loadable here: say so rather than fail a report
            v[name] = None
    if v.get("dolfinx"):
        v["dolfinx"] = f"{v['dolfinx']} (wheel dolfinx-solver-real)"
    if v.get("mpi"):
        v["mpi"] = f"MPICH {v['mpi']} (wheel mpich)"
    v["git_commit"] = git_commit()
    return v


def _petsc_version(load: bool = False) -> str | None:
    """PETSc's version from the DOLFINx wheel's petsc4py, without initialising MPI/PETSc twice."""
    import importlib.metadata as md

    for dist in ("petsc4py", "petsc"):
        try:
            return md.version(dist)
        except md.PackageNotFoundError:
            continue
    import sys

    if "petsc4py" in sys.modules or load:
        import dolfinx_solver  # noqa: F401  (the wheel's PETSc on the loader path first)
        from petsc4py import PETSc

        return ".".join(map(str, PETSc.Sys.getVersion()))
    return None


def git_commit() -> str | None:
    """The commit of the femnn source tree (``-dirty`` when it has uncommitted changes), or None."""
    import subprocess

    here = Path(__file__).resolve().parents[2]
    if not (here / ".git").exists():
        return None
    try:
        rev = subprocess.run(["git", "-C", str(here), "rev-parse", "--short=12", "HEAD"], capture_output=True, text=True,
                             timeout=5)
        if rev.returncode != 0:
            return None
        dirty = subprocess.run(["git", "-C", str(here), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=5)
        return rev.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return None


def read_result_json(path, name: str, command: str) -> tuple[dict, str]:
    """The JSON object a femnn command wrote: ``path`` is its output directory (holding ``name``) or the
    file itself -> (data, the file's path as a string). Refused with one line when missing, not JSON or
    not an object, naming the command to run again."""
    src = str(path)
    p = Path(path)
    if p.is_dir():
        p = p / name
        if not p.is_file():
            raise InputError(src, name, f"not found in this directory; give a `{command}` output directory")
    if not p.is_file():
        raise InputError(src, "", f"no such file or directory (expected a `{command}` output directory or its {name})")
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(str(p), "", f"not valid JSON ({exc}); re-run `{command}`") from None
    if not isinstance(data, dict):
        raise InputError(str(p), "", f"expected a JSON object as written by `{command}`")
    return data, str(p)


def read_widths(spec, n_bonds: int | None = None) -> np.ndarray:
    """Bond widths (m) from a ``femnn train`` output directory (its ``widths.json``), a JSON file
    holding a list of widths in metres or an object with ``widths_m``, or an inline JSON list."""
    src = str(spec)
    p = Path(spec)
    if p.is_dir():
        p = p / "widths.json"
        if not p.is_file():
            raise InputError(src, "widths.json", "not found in this directory; give a `femnn train` output directory or a JSON file")
    if p.is_file():
        try:
            data = json.loads(p.read_text())
        except json.JSONDecodeError as exc:
            raise InputError(str(p), "", f"not valid JSON ({exc})") from None
        src = str(p)
    else:
        try:
            data = json.loads(src)
        except json.JSONDecodeError:
            raise InputError(src, "", "no such file or directory (expected a train output directory or a widths JSON file)") from None
    if isinstance(data, dict):
        if "widths_m" not in data:
            raise InputError(src, "widths_m", "missing; expected a list of bond widths in metres")
        data = data["widths_m"]
    if not isinstance(data, list) or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in data):
        raise InputError(src, "widths_m", "must be a list of numbers (bond widths in metres)")
    w = np.asarray(data, dtype=float)
    if not np.all(np.isfinite(w)):
        i = int(np.flatnonzero(~np.isfinite(w))[0])
        raise InputError(src, f"widths_m[{i}]", "is not finite")
    if n_bonds is not None and w.size != n_bonds:
        raise InputError(src, "widths_m", f"{w.size} widths for a network of {n_bonds} bonds (network bond order expected)")
    if np.any(w <= 0):
        i = int(np.flatnonzero(w <= 0)[0])
        raise InputError(src, f"widths_m[{i}]", f"{w[i]} must be > 0 (metres)")
    if np.any(w > 0.5):
        raise InputError(src, "widths_m", f"max width {w.max()} m looks like millimetres; widths are in metres")
    return w
