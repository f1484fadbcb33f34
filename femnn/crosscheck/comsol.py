"""COMSOL plain-text data export ("Spreadsheet" format): read and write.

A COMSOL export of a displacement field looks like::

    % Model:              mnn.mph
    % Version:            COMSOL 6.2.0.290
    % Date:               Nov 23 2026, 10:00
    % Dimension:          3
    % Nodes:              12345
    % Expressions:        3
    % Description:        Displacement field, X component, Displacement field, Y component, ...
    % Length unit:        mm
    % x                       y                        z                        u (mm)                   v (mm)                   w (mm)
    -64.0                     0.0                      0.0                      0.0                      0.0                      0.0
    ...

Header lines start with ``%``; ``Key: value`` lines are metadata, the last other ``%`` line names
the columns (separated by two or more spaces), each optionally with a unit in parentheses (which
may contain ``*``, ``/``, ``^``, ``(``, ``)``) and a solution tag such as ``@ t=1`` or ``@ F=0.1``.
Coordinates are in the declared ``Length unit``; displacements in their column's unit. Everything
is converted to SI. A file whose row count differs from ``% Nodes`` or whose rows do not have one
value per column is refused (:class:`InputError`), as is a file with several solutions (a sweep)
unless one is chosen.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from femnn.errors import InputError

LENGTH = {"m": 1.0, "cm": 1e-2, "mm": 1e-3, "um": 1e-6, "µm": 1e-6, "\u03bcm": 1e-6, "nm": 1e-9, "in": 0.0254, "ft": 0.3048}
DISP_NAMES = {  # component -> names COMSOL uses for displacement expressions
    0: ("u", "solid.u", "u2", "ux", "solid.disp_x"),
    1: ("v", "solid.v", "v2", "uy", "solid.disp_y"),
    2: ("w", "solid.w", "w2", "uz", "solid.disp_z"),
}


@dataclass
class ComsolData:
    """Points (n, dim) in m and named columns in SI; ``header`` holds the ``%`` metadata."""

    points_m: np.ndarray
    columns: dict
    header: dict = field(default_factory=dict)
    source: str = ""

    def displacement_m(self, tag: str | None = None) -> np.ndarray:
        """(n, dim) displacement from the u, v (, w) columns (the only solution, or the one tagged ``tag``)."""
        dim = self.points_m.shape[1]
        comps = []
        for c in range(dim):
            hits = [k for k in self.columns if _base(k) in DISP_NAMES[c] and (tag is None or _tag(k) == tag)]
            if not hits:
                raise InputError(self.source, "columns", f"no {'uvw'[c]} displacement column; export u, v{', w' if dim == 3 else ''} (found {list(self.columns)})")
            if len(hits) > 1:
                tags = sorted({_tag(k) for k in hits})
                raise InputError(self.source, "columns", f"{len(hits)} solutions for {'uvw'[c]} ({', '.join(t or '-' for t in tags)}): a parameter sweep; export one solution")
            comps.append(self.columns[hits[0]])
        return np.column_stack(comps)


def _base(col: str) -> str:
    return col.split("@")[0].split("(")[0].strip()


def _tag(col: str) -> str:
    return col.split("@", 1)[1].strip() if "@" in col else ""


def _unit_of(col: str):
    m = re.search(r"\((.*)\)", col.split("@")[0])
    return m.group(1).strip() if m else None


def read_comsol_text(path) -> ComsolData:
    """Read a COMSOL spreadsheet-format export (see module docstring); SI on return."""
    path = Path(path)
    src = str(path)
    if not path.is_file():
        raise InputError(src, "", "file does not exist")
    header, col_line, rows = {}, None, []
    for ln, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
        s = line.strip()
        if not s:
            continue
        if s.startswith("%"):
            body = s[1:].strip()
            m = re.match(r"^([A-Za-z][A-Za-z ]*?):\s*(.*)$", body)
            if m and not body.lower().startswith(("x ", "r ")):
                header[m.group(1).strip().lower()] = m.group(2).strip()
            else:
                col_line = body
            continue
        rows.append((ln, s))
    if col_line is None:
        raise InputError(src, "header", "no column line (e.g. '% x  y  z  u (mm)  v (mm)  w (mm)'); export with headers")
    cols = [c.strip() for c in re.split(r"\s{2,}|\t", col_line) if c.strip()]
    dim = int(header.get("dimension", sum(c in ("x", "y", "z") for c in cols)))
    if dim not in (2, 3):
        raise InputError(src, "% Dimension", f"{dim}; expected 2 or 3")
    if cols[:dim] != ["x", "y", "z"][:dim]:
        raise InputError(src, "columns", f"the first columns are {cols[:dim]}, expected the coordinates {['x', 'y', 'z'][:dim]}")
    if "length unit" not in header:
        # COMSOL writes coordinates in the model's length unit (mm in most printed-part models): guessing
        # metres would scale the part by 1000 and match no hub; say what is missing instead
        raise InputError(src, "% Length unit", "missing: the file does not say the unit of its coordinates; export it "
                         "from COMSOL with the header on, or add a line '% Length unit:  mm' (or m) above the columns")
    lu = header["length unit"]
    if lu not in LENGTH:
        raise InputError(src, "% Length unit", f"{lu!r} is not a length unit femnn knows ({', '.join(LENGTH)})")
    data = []
    for ln, s in rows:
        vals = s.split()
        if len(vals) != len(cols):
            raise InputError(src, f"line {ln}", f"{len(vals)} values for {len(cols)} columns ({', '.join(cols)}); re-export the file")
        try:
            data.append([float(v) for v in vals])
        except ValueError:
            raise InputError(src, f"line {ln}", "holds a value that is not a number") from None
    arr = np.array(data, dtype=float).reshape(-1, len(cols))
    if "nodes" in header:
        n = int(header["nodes"])
        if n != arr.shape[0]:
            raise InputError(src, "% Nodes", f"declares {n} nodes but the file has {arr.shape[0]} data rows; the file is truncated or edited")
    if arr.shape[0] == 0:
        raise InputError(src, "", "no data rows")
    if not np.isfinite(arr).all():
        r, c = np.argwhere(~np.isfinite(arr))[0]
        raise InputError(src, f"row {r + 1}, column {cols[c]}", "is not finite (NaN: a point outside the geometry?)")
    points = arr[:, :dim] * LENGTH[lu]
    columns = {}
    for j, c in enumerate(cols[dim:], start=dim):
        unit = _unit_of(c)
        if unit is not None and unit in LENGTH:
            columns[c] = arr[:, j] * LENGTH[unit]
        elif unit is None and _base(c) in sum(DISP_NAMES.values(), ()):
            columns[c] = arr[:, j] * LENGTH[lu]  # displacements without a unit: the model's length unit
        else:
            columns[c] = arr[:, j]
    return ComsolData(points, columns, header, src)


def write_comsol_text(path, points_m, displacement_m, *, model: str = "femnn", description: str = "",
                      length_unit: str = "mm", extra: dict | None = None) -> Path:
    """Write points and displacements in COMSOL's spreadsheet format (so a COMSOL user can load femnn's FEM)."""
    from femnn import __version__
    from femnn.report.files import atomic_write_text

    pts = np.asarray(points_m, float)
    u = np.asarray(displacement_m, float)
    dim = pts.shape[1]
    s = LENGTH[length_unit]
    names = ["x", "y", "z"][:dim] + [f"{c} ({length_unit})" for c in "uvw"[:dim]]
    cols = [pts[:, i] / s for i in range(dim)] + [u[:, i] / s for i in range(dim)]
    for k, v in (extra or {}).items():
        names.append(k)
        cols.append(np.asarray(v, float))
    head = [
        f"% Model:              {model}",
        f"% Version:            femnn {__version__}",
        f"% Dimension:          {dim}",
        f"% Nodes:              {pts.shape[0]}",
        f"% Expressions:        {len(names) - dim}",
        f"% Description:        {description or ', '.join(f'Displacement field, {c} component' for c in 'XYZ'[:dim])}",
        f"% Length unit:        {length_unit}",
        "% " + "".join(f"{n:<26}" for n in names).rstrip(),
    ]
    body = np.column_stack(cols)
    lines = head + [" ".join(f"{v:< 25.16g}" for v in row).rstrip() for row in body]
    return atomic_write_text(path, "\n".join(lines) + "\n")
