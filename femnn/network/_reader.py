"""The typed reader every field of a network or task file goes through.

A :class:`Table` wraps one TOML table together with its file and its dotted place in the file.
Opening it refuses unknown keys (naming the closest valid key, ``did you mean poisson_ratio?``);
each getter checks the type, finiteness and range of one field. So a wrong type or value is
always one :class:`~femnn.errors.InputError` line naming the file, the field and the fix, never a
``TypeError`` from deeper down.
"""

from __future__ import annotations

import difflib
import math

import numpy as np

from femnn.errors import InputError

MISSING = object()

_TYPE_NAMES = {str: "a string", bool: "a boolean", int: "an integer", float: "a number", list: "a list", dict: "a table"}


def type_name(value) -> str:
    """'a string', 'a list', ... (the TOML kind of ``value``, for messages)."""
    for t, name in _TYPE_NAMES.items():
        if isinstance(value, t):
            return name
    return type(value).__name__


def did_you_mean(key: str, known) -> str:
    """' did you mean X?' for the closest of ``known`` (difflib), or the list of known keys."""
    close = difflib.get_close_matches(str(key), sorted(known), n=1, cutoff=0.6)
    if close:
        return f"did you mean {close[0]}?"
    return f"known keys: {', '.join(sorted(known))}" if known else "this table takes no keys"


def unknown_key_error(src: str, table: str, key: str, known) -> InputError:
    where = f"[{table}]" if table else "the top level"
    return InputError(src, f"{table}.{key}" if table else key, f"unknown key {key!r} in {where}; {did_you_mean(key, known)}")


def check_number(value, src, fld, *, lo=None, hi=None, lo_open=False, hi_open=False, integer=False, nonzero=False):
    """``value`` as float (or int with ``integer``) after type, finiteness and range checks."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InputError(src, fld, f"{value!r} is {type_name(value)}; expected {'an integer' if integer else 'a number'}")
    v = float(value)
    if not math.isfinite(v):
        raise InputError(src, fld, f"{value!r} is not finite; give a real number")
    if integer:
        if not v.is_integer():
            raise InputError(src, fld, f"{value!r} is not an integer; give a whole number")
        v = int(value)
    if nonzero and v == 0:
        raise InputError(src, fld, f"{value!r} must not be zero")
    lo_bad = lo is not None and (v < lo or (lo_open and v == lo))
    hi_bad = hi is not None and (v > hi or (hi_open and v == hi))
    if lo_bad or hi_bad:
        if lo is not None and hi is not None:
            rng = f"{'(' if lo_open else '['}{lo:g}, {hi:g}{')' if hi_open else ']'}"
            raise InputError(src, fld, f"{value!r} is outside {rng}; give a value in that range")
        if lo_bad:
            raise InputError(src, fld, f"{value!r} must be {'>' if lo_open else '>='} {lo:g}")
        raise InputError(src, fld, f"{value!r} must be {'<' if hi_open else '<='} {hi:g}")
    return v


def _check_nested(value, src, fld, depth):
    """Refuse anything but (nested) lists of numbers, naming the first bad element."""
    if depth == 0:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise InputError(src, fld, f"{value!r} is {type_name(value)}; expected a number")
        return
    if not isinstance(value, list):
        raise InputError(src, fld, f"{value!r} is {type_name(value)}; expected a list")
    for i, v in enumerate(value):
        _check_nested(v, src, f"{fld}[{i}]", depth - 1)


def number_array(value, src, fld, shape_tail=(), length=None) -> np.ndarray:
    """(n, *shape_tail) float array from a (nested) TOML list of finite numbers."""
    _check_nested(value, src, fld, 1 + len(shape_tail))
    for i, row in enumerate(value):
        if shape_tail and len(row) != shape_tail[0]:
            raise InputError(src, f"{fld}[{i}]", f"{row!r} has {len(row)} values; expected {shape_tail[0]}")
    arr = np.asarray(value, dtype=float).reshape((len(value),) + tuple(shape_tail))
    bad = np.argwhere(~np.isfinite(arr))
    if bad.size:
        idx = tuple(int(i) for i in bad[0])
        raise InputError(src, f"{fld}{list(idx)}", f"{arr[idx]!r} is not finite (NaN/inf); give a real number")
    if length is not None and arr.shape[0] != length:
        raise InputError(src, fld, f"{arr.shape[0]} value(s); expected {length}")
    return arr


class Table:
    """One TOML table of a file: ``Table(data, src, "material", known_keys)``.

    ``path`` is the dotted place of the table in the file ("" for the top level); ``known`` the
    keys it may hold (``None``: any). Getters name fields as ``path.key``.
    """

    def __init__(self, data, src: str, path: str = "", known=None):
        if not isinstance(data, dict):
            raise InputError(src, path, f"{data!r} is {type_name(data)}; expected a table ([{path}] with keys)")
        self.data, self.src, self.path = data, str(src), path
        self.known = None if known is None else tuple(known)
        if known is not None:
            for k in data:
                if k not in known:
                    raise unknown_key_error(self.src, path, k, known)

    def fld(self, key) -> str:
        return f"{self.path}.{key}" if self.path else str(key)

    def __contains__(self, key) -> bool:
        return key in self.data

    def raw(self, key, default=MISSING):
        if key in self.data:
            return self.data[key]
        if default is MISSING:
            raise InputError(self.src, self.fld(key), "missing; add it to the file")
        return default

    def number(self, key, default=MISSING, **checks):
        v = self.raw(key, default)
        if key not in self.data:
            return v
        return check_number(v, self.src, self.fld(key), **checks)

    def integer(self, key, default=MISSING, **checks) -> int:
        return self.number(key, default, integer=True, **checks)

    def string(self, key, default=MISSING, choices=None) -> str:
        v = self.raw(key, default)
        if key not in self.data:
            return v
        if not isinstance(v, str):
            raise InputError(self.src, self.fld(key), f"{v!r} is {type_name(v)}; expected a string"
                             + (f", one of {list(choices)}" if choices else ""))
        if choices is not None and v not in choices:
            close = difflib.get_close_matches(v, list(choices), n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise InputError(self.src, self.fld(key), f"{v!r} is not valid; {hint}expected one of {list(choices)}")
        return v

    def numbers(self, key, default=MISSING, shape_tail=(), length=None) -> np.ndarray:
        v = self.raw(key, default)
        if key not in self.data:
            return v
        return number_array(v, self.src, self.fld(key), shape_tail, length)

    def list(self, key, default=MISSING, nonempty=True) -> list:
        v = self.raw(key, default)
        if key not in self.data:
            return v
        if not isinstance(v, list):
            raise InputError(self.src, self.fld(key), f"{v!r} is {type_name(v)}; expected a list")
        if nonempty and not v:
            raise InputError(self.src, self.fld(key), "is empty; give at least one value")
        return v

    def table(self, key, known=None, default=MISSING) -> "Table":
        if key not in self.data and default is not MISSING:
            return Table({} if default is None else default, self.src, self.fld(key), known)
        return Table(self.raw(key), self.src, self.fld(key), known)

    def tables(self, key, known=None) -> list["Table"]:
        """An array of tables ``[[key]]``."""
        items = self.list(key)
        out = []
        for i, item in enumerate(items):
            if not isinstance(item, dict):
                raise InputError(self.src, f"{self.fld(key)}[{i}]", f"{item!r} is {type_name(item)}; expected a table "
                                 f"([[{self.fld(key)}]] with keys)")
            out.append(Table(item, self.src, f"{self.fld(key)}[{i}]", known))
        return out

    def index(self, key, n: int, what: str = "node", value=MISSING, fld=None) -> int:
        """A 0-based index below ``n``."""
        v = self.raw(key) if value is MISSING else value
        fld = fld or self.fld(key)
        if isinstance(v, bool) or not isinstance(v, int):
            raise InputError(self.src, fld, f"{v!r} is {type_name(v)}; expected a {what} index (0-based integer)")
        if not 0 <= v < n:
            raise InputError(self.src, fld, f"unknown {what} index {v}; the network has {what}s 0..{n - 1}")
        return v

    def indices(self, key, n: int, what: str = "node", default=MISSING, nonempty=True) -> list[int]:
        raw = self.list(key, default, nonempty=nonempty)
        if key not in self.data:
            return raw
        return [self.index(key, n, what, value=v, fld=f"{self.fld(key)}[{i}]") for i, v in enumerate(raw)]
