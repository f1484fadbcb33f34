"""Checking an output place before any work: ``prepare_out(path, option="--out", force=False)``.

A command calls it first, so a bad ``--out`` costs nothing (not 16 s of work and then a
traceback). It refuses, with one line naming the option:

* a path that is a regular file (or anything but a directory), or that lies under a file;
* a place the user cannot write (the nearest existing parent is not writable);
* a directory holding an earlier, different result of the command (its marker file, e.g.
  ``summary.json``, records another fingerprint), unless ``force`` -- then the earlier result is
  replaced only once the new one exists.

Nothing is created here; the command creates the directory when it starts writing.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from femnn.errors import InputError


def _nearest_existing(path: Path) -> Path:
    p = path
    while not p.exists() and not p.is_symlink():
        if p.parent == p:
            break
        p = p.parent
    return p


def recorded_fingerprint(marker: Path):
    """The ``fingerprint`` recorded in a JSON marker file, or None (unreadable, none recorded)."""
    try:
        data = json.loads(marker.read_text())
    except (OSError, ValueError):
        return None
    return data.get("fingerprint") if isinstance(data, dict) else None


def prepare_out(path, option: str = "--out", force: bool = False, *, marker: str | None = None,
                fingerprint: str | None = None, what: str = "an earlier run") -> Path:
    """Check the output directory ``path`` before any work (see the module docstring); returns it.

    ``marker`` names the file that shows ``path`` already holds a result; with ``fingerprint`` an
    identical earlier result (same fingerprint) is not "different" and may be rewritten.
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        kind = "a regular file" if path.is_file() else "not a directory"
        raise InputError(option, "", f"{path} is {kind}; give a directory (new or one of this command's)")
    base = _nearest_existing(path)
    if not base.is_dir():
        raise InputError(option, "", f"{path} lies under {base}, which is a file, not a directory; choose another {option}")
    if not os.access(base, os.W_OK | os.X_OK):
        raise InputError(option, "", f"{base} is not writable; choose another {option}")
    if path.is_dir() and marker and (path / marker).exists() and not force:
        old = recorded_fingerprint(path / marker)
        if fingerprint is None or old != fingerprint:
            raise InputError(option, "", f"{path} already holds {what} ({marker}) made with other inputs or settings; "
                             f"add --force to replace it, or choose another {option}")
    return path


def args_fingerprint(args, exclude=("out", "force", "quiet", "verbose", "func", "command")) -> str:
    """A short hash of a command's arguments (for commands whose result depends only on them)."""
    d = {k: str(v) for k, v in sorted(vars(args).items()) if k not in exclude}
    return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()[:16]
