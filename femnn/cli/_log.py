"""Messages of the CLI: ``logging`` on stderr, ``--quiet`` (warnings only) and ``-v`` (debug), rank 0 only."""

from __future__ import annotations

import logging
import sys


def add_verbosity(p):
    """``--quiet`` / ``-q`` and ``-v`` / ``--verbose`` on a subcommand's parser."""
    p.add_argument("-q", "--quiet", action="store_true", help="only warnings and errors on stderr")
    p.add_argument("-v", "--verbose", action="count", default=0, help="more detail (-v: debug messages)")


def setup_logging(args, rank: int = 0, prefix: str | None = None) -> None:
    """Route femnn's loggers to stderr as ``[command] message``; silent on ranks other than 0."""
    level = logging.WARNING if getattr(args, "quiet", False) else (logging.DEBUG if getattr(args, "verbose", 0) else logging.INFO)
    if rank != 0:
        level = logging.ERROR
    name = prefix or getattr(args, "command", "femnn")
    root = logging.getLogger("femnn")
    for h in list(root.handlers):
        if getattr(h, "_femnn_cli", False):
            root.removeHandler(h)
    h = logging.StreamHandler(sys.stderr)
    h._femnn_cli = True
    h.setFormatter(logging.Formatter(f"[{name}] %(message)s"))
    root.addHandler(h)
    root.setLevel(level)
    root.propagate = False
