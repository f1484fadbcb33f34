"""Study files (TOML): a base task, models, outputs and the axes to sweep; validated before any case runs.

Example (``geometry/studies/poisson.toml``)::

    name = "poisson"
    base = "fig1"                 # task name or file
    widths = ""                   # optional: a `femnn train` run directory or widths JSON
    models = ["bar", "fem2d"]     # bar | fem2d | fem3d
    outputs = ["u", "elongation", "gradient_k", "loss", "calibration", "seconds"]
    combine = "product"           # product of the axes, or "list" with [[cases]]

    [fixed]                       # parameters applied to every case
    degree = 2

    [axes]                        # each a non-empty list
    poisson_ratio = [0.45, 0.47, 0.49, 0.495, 0.499]

Parameters (``PARAMETERS``) carry their unit in the name; each is checked against its physical
range (e.g. ν in (-1, 0.5)). Every problem raises :class:`InputError` naming the file, the field
and the fix.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from femnn.errors import InputError
from femnn.network._reader import did_you_mean, unknown_key_error


def _num(lo=None, hi=None, lo_open=False, hi_open=False, integer=False, allow_none=False):
    def check(v):
        if v is None and allow_none:
            return None, None
        if isinstance(v, bool) or not isinstance(v, (int, float)) or (integer and not float(v).is_integer()):
            return None, f"{v!r} is not {'an integer' if integer else 'a number'}"
        v = int(v) if integer else float(v)
        if not math.isfinite(v):
            return None, f"{v!r} is not finite"
        if lo is not None and (v < lo or (lo_open and v == lo)):
            return None, f"{v!r} is below the physical range ({'>' if lo_open else '>='} {lo})"
        if hi is not None and (v > hi or (hi_open and v == hi)):
            return None, f"{v!r} is above the physical range ({'<' if hi_open else '<='} {hi})"
        return v, None

    return check


def _choice(*opts):
    def check(v):
        return (v, None) if v in opts else (None, f"{v!r} is not one of {list(opts)}")

    return check


# name -> (validator, what it changes)
PARAMETERS = {
    "neck_length_mm": (_num(0, lo_open=True), "geometry: length of the thinned joint at each bond end"),
    "hub_radius_mm": (_num(0, lo_open=True), "geometry: radius of the node hubs"),
    "poisson_ratio": (_num(-1, 0.5, lo_open=True), "material: Poisson ratio (FEM; 0.5 needs the mixed formulation)"),
    "formulation": (_choice("auto", "displacement", "mixed"), "FEM: displacement or mixed u-p (auto: mixed above 0.49)"),
    "youngs_modulus_Pa": (_num(0, lo_open=True), "material: Young's modulus"),
    "thickness_mm": (_num(0, lo_open=True), "geometry: out-of-plane thickness"),
    "refine": (_num(0, 8, integer=True), "mesh: refinement level (each level halves the element size)"),
    "degree": (_num(1, 3, integer=True), "FEM: Lagrange degree"),
    "load_scale": (_num(), "load: factor on every applied force"),
    "prune_bond": (_num(0, integer=True, allow_none=True), "network: remove this bond (index in the network's order)"),
    "width_seed": (_num(0, integer=True), "network: seed of a random relative width perturbation"),
    "width_perturbation": (_num(0, 1, hi_open=True), "network: relative amplitude of the width perturbation (default 0.05)"),
    "solver": (_choice("lu", "cg"), "FEM: direct (MUMPS LU) or iterative (CG + multigrid)"),
    "preconditioner": (_choice("auto", "gamg", "pmg"), "FEM, solver cg: p-multigrid (pmg), GAMG, or auto (pmg for degree >= 2)"),
}
MODELS = ("bar", "fem2d", "fem3d")
OUTPUTS = ("u", "elongation", "adjoint_elongation", "gradient_k", "gradient_s", "loss", "calibration", "accuracy",
           "seconds", "dofs")


@dataclass(frozen=True)
class Study:
    """A validated study: the base task (and widths), models, outputs and the list of cases."""

    name: str
    source: str
    base: str
    widths: str | None
    models: tuple
    outputs: tuple
    axes: dict
    fixed: dict
    cases: tuple = field(default_factory=tuple)  # tuple of param dicts (fixed merged in)


def case_id(params: dict) -> str:
    """Stable id of a case: hash of its parameters (canonical JSON)."""
    return hashlib.sha1(json.dumps(params, sort_keys=True).encode()).hexdigest()[:12]


def _check_param(src, fld, name, value):
    if name not in PARAMETERS:
        raise InputError(src, fld, f"unknown parameter {name!r}; {did_you_mean(name, PARAMETERS)}")
    v, err = PARAMETERS[name][0](value)
    if err:
        raise InputError(src, fld, f"{err}; fix the value ({PARAMETERS[name][1]})")
    return v


def _cases(data: dict, src: str, combine: str, fixed: dict) -> tuple[dict, list]:
    """The study's axes and its cases: the product of the ``[axes]`` (``combine = "product"``) or the
    ``[[cases]]`` as listed (``combine = "list"``), each with the ``[fixed]`` parameters merged in."""
    axes = {}
    cases = []
    if combine == "product":
        if "cases" in data:
            raise InputError(src, "cases", "only used with combine = \"list\"; remove it or set combine = \"list\"")
        raw = data.get("axes", {})
        if not raw:
            raise InputError(src, "axes", "missing or empty; give at least one axis, e.g. [axes] poisson_ratio = [0.45, 0.49]")
        for k, vals in raw.items():
            if not isinstance(vals, list):
                raise InputError(src, f"axes.{k}", f"{vals!r} is a single value, not an axis; give a list such as [{vals!r}] "
                                 f"(or put a constant in [fixed])")
            if not vals:
                raise InputError(src, f"axes.{k}", "is an empty axis; give a non-empty list of values")
            axes[k] = [_check_param(src, f"axes.{k}[{i}]", k, v) for i, v in enumerate(vals)]
            if k in fixed:
                raise InputError(src, f"axes.{k}", "is also in [fixed]; keep it in one place")
        for combo in itertools.product(*axes.values()):
            cases.append({**fixed, **dict(zip(axes, combo))})
    elif combine == "list":
        raw = data.get("cases")
        if not isinstance(raw, list) or not raw:
            raise InputError(src, "cases", "combine = \"list\" needs a non-empty [[cases]] list")
        for i, c in enumerate(raw):
            case = dict(fixed)
            for k, v in c.items():
                case[k] = _check_param(src, f"cases[{i}].{k}", k, v)
                axes.setdefault(k, [])
                if case[k] not in axes[k]:
                    axes[k].append(case[k])
            cases.append(case)
    else:
        raise InputError(src, "combine", f"{combine!r}; expected \"product\" or \"list\"")
    return axes, cases


def load_study(path) -> Study:
    """Read and validate a study file (or a built-in name from ``geometry/studies/``)."""
    from femnn.network import geometry_dir, load_task

    p = Path(path)
    if not p.exists() and p.suffix != ".toml":
        cand = geometry_dir() / "studies" / f"{p}.toml"
        if cand.is_file():
            p = cand
    src = str(p)
    if not p.is_file():
        known = sorted(q.stem for q in (geometry_dir() / "studies").glob("*.toml"))
        raise InputError(src, "", f"study file does not exist; give a path or a built-in study: {', '.join(known)}")
    try:
        data = tomllib.loads(p.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise InputError(src, "", f"not valid TOML ({exc})") from None
    known_keys = {"name", "description", "base", "widths", "models", "outputs", "combine", "fixed", "axes", "cases"}
    for k in data:
        if k not in known_keys:
            raise unknown_key_error(src, "", k, known_keys)
    if "base" not in data:
        raise InputError(src, "base", "missing; name the task to study (e.g. base = \"fig1\")")
    base = str(data["base"])
    base_path = (p.parent / base) if (p.parent / base).is_file() else base
    load_task(base_path)  # refuses a bad task now, before any case runs
    widths = data.get("widths") or None
    if widths:
        wp = Path(widths)
        if not wp.is_absolute() and not wp.exists() and (p.parent / wp).exists():
            widths = str(p.parent / wp)
        from femnn.train.runs import apply_run_widths

        apply_run_widths(load_task(base_path), widths)
    models = data.get("models", ["bar"])
    if not isinstance(models, list) or not models:
        raise InputError(src, "models", f"{models!r}: give a non-empty list of {list(MODELS)}")
    for i, m in enumerate(models):
        if m not in MODELS:
            raise InputError(src, f"models[{i}]", f"unknown model {m!r}; choose from {list(MODELS)}")
    outputs = data.get("outputs", ["u", "elongation", "gradient_k", "loss", "seconds"])
    for i, o in enumerate(outputs):
        if o not in OUTPUTS:
            raise InputError(src, f"outputs[{i}]", f"unknown output {o!r}; choose from {list(OUTPUTS)}")
    fixed = {}
    for k, v in data.get("fixed", {}).items():
        fixed[k] = _check_param(src, f"fixed.{k}", k, v)
    combine = data.get("combine", "product")
    axes, cases = _cases(data, src, combine, fixed)
    ids = [case_id(c) for c in cases]
    if len(set(ids)) != len(ids):
        raise InputError(src, "axes", "two cases have identical parameters; remove the duplicate value")
    net = load_task(base_path).network
    for i, c in enumerate(cases):
        b = c.get("prune_bond")
        if b is not None and b >= net.n_bonds:
            raise InputError(src, "prune_bond", f"bond {b} does not exist; the network has bonds 0..{net.n_bonds - 1}")
    needs_fem = any(m.startswith("fem") for m in models)
    if not needs_fem:
        fem_only = {"poisson_ratio", "neck_length_mm", "hub_radius_mm", "refine", "degree", "solver", "formulation",
                    "preconditioner"} & set(axes)
        if fem_only:
            raise InputError(src, f"axes.{sorted(fem_only)[0]}", "only changes FEM models; add \"fem2d\" or \"fem3d\" to models")
    return Study(name=str(data.get("name", p.stem)), source=src, base=str(base_path), widths=widths, models=tuple(models),
                 outputs=tuple(outputs), axes=axes, fixed=fixed, cases=tuple(cases))
