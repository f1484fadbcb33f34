"""The output place of a command, checked before any work is done."""

from __future__ import annotations

import os
from pathlib import Path

from femnn.errors import InputError


def check_out(path, option: str = "--out") -> Path:
    """Refuse an output directory that cannot be one: a regular file, a path under a file, or a
    place that cannot be written. Nothing is created here."""
    p = Path(path)
    if p.exists() and not p.is_dir():
        raise InputError(option, str(p), "is a file, not a directory; give a directory (it is created if missing)")
    q = p
    while not q.exists():
        q = q.parent
    if not q.is_dir():
        raise InputError(option, str(p), f"lies under {q}, which is a file; give a directory path")
    if not os.access(q, os.W_OK | os.X_OK):
        raise InputError(option, str(p), f"{q} is not writable; choose another --out")
    return p
