"""The ``femnn`` command: ``main(argv=None)`` with one module per subcommand.

Each subcommand module exposes ``add_args(parser)`` and ``run(args) -> int`` and is imported only
when its subcommand runs, so ``femnn train`` never loads gmsh or dolfinx. Exit codes: 0 success,
1 a check failed (e.g. a cross-check tolerance), 2 bad input (one line naming file, field and fix).
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from femnn import __version__
from femnn.errors import InputError, MechanismError, MemoryBudgetError

# name -> (module, one-line help). Add a line here for a new subcommand.
SUBCOMMANDS = {
    "train": ("femnn.cli._train", "train a network on a task (bar model, exact adjoint gradients, Adam)"),
    "gradient": ("femnn.cli._gradient", "loss, displacements and the adjoint gradient dL/dk of one task"),
    "fdcheck": ("femnn.cli._fdcheck", "finite differences vs the adjoint gradient (the paper's Fig. 1e)"),
    "prune": ("femnn.cli._prune", "remove each bond of a trained network in turn: critical, redundant or mechanism"),
    "generate": ("femnn.cli._generate", "write a network file from a generator (triangular, square-diagonal, diluted)"),
    "validate": ("femnn.cli._validate", "the whole chain on a network: part, mesh, FEM 2D/3D forward+adjoint, cross-check report, STL/3MF"),
    "converge": ("femnn.cli._converge", "mesh convergence of the FEM: observed order, Richardson values and error bars"),
    "crosscheck": ("femnn.cli._crosscheck", "bar vs calibrated bar vs FEM vs COMSOL-equivalent files: report.md/html, results.json, plots"),
    "study": ("femnn.cli._study", "parameter studies (bar, FEM) under MPI: mpiexec -n N femnn study SPEC --out DIR"),
    "check": ("femnn.cli._check", "read a network or task file and report what it holds, or what is wrong"),
    "buckling": ("femnn.cli._buckling", "linearised buckling under the task's load: lowest load factors, the bond that buckles, a picture"),
    "linearity": ("femnn.cli._linearity", "linear FEM vs hyperelastic FEM vs bar model under growing load: where the linear models stop being true"),
    "render": ("femnn.cli._render", "synthetic photo of the part: 3D FEM deformed at true scale, camera roll/tilt/blur/noise"),
    "measure": ("femnn.cli._measure", "hub displacements, elongations and the in situ gradient from photos of the part"),
    "build": ("femnn.cli._build", "network -> printable part: gmsh mesh with named groups, STL/3MF (mm), summary, preview"),
    "protocol": ("femnn.cli._protocol", "lab sheet: weights to hang (g), expected displacements, camera px/mm, photos to take"),
    "calibrate": ("femnn.cli._calibrate", "refit the bar model (a factor per bond) to measured displacements: a calibrated network"),
}


def _add_common(p: argparse.ArgumentParser) -> None:
    """``--quiet`` and ``-v`` on every subcommand (unless its module defines them itself)."""
    have = p._option_string_actions
    if "--quiet" not in have:
        p.add_argument("--quiet", "-q", action="store_true", help="only warnings and errors; no progress bars")
    if "-v" not in have and "--verbose" not in have:
        p.add_argument("-v", "--verbose", action="count", default=0, help="more messages (-vv for debugging detail)")


def _parser_with(selected: str | None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="femnn", description="Mechanical neural networks: train, validate, print.")
    parser.add_argument("--version", action="store_true", help="print the version (with --verbose: of every library femnn uses, and the git commit)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module, help_) in SUBCOMMANDS.items():
        p = sub.add_parser(name, help=help_, description=help_)
        if name == selected:
            mod = importlib.import_module(module)
            mod.add_args(p)
            _add_common(p)
            p.set_defaults(func=mod.run)
    return parser


class _OneLine(logging.Formatter):
    def format(self, record):
        return f"femnn {record.name.split('.')[-1]}: " + record.getMessage().replace("\n", " ")


def setup_logging(quiet: bool = False, verbose: int = 0) -> None:
    """Messages of femnn's loggers to stderr: warnings only with --quiet, info by default, debug with -v."""
    level = logging.WARNING if quiet else (logging.DEBUG if verbose else logging.INFO)
    logger = logging.getLogger("femnn")
    for h in list(logger.handlers):
        if getattr(h, "_femnn_cli", False):
            logger.removeHandler(h)
    handler = logging.StreamHandler(sys.stderr)
    handler._femnn_cli = True
    handler.setFormatter(_OneLine())
    logger.addHandler(handler)
    logger.setLevel(level)
    logger.propagate = False


def _error(command: str, text: str) -> int:
    print(f"femnn {command}: error: {text}", file=sys.stderr)
    return 2


def main(argv=None) -> int:
    """Run one subcommand; known error classes become ONE line on stderr and exit code 2.

    Caught: :class:`InputError` (bad file, field or option), :class:`MechanismError` (a network
    with zero modes), ``OSError`` (a place that cannot be written or read, a full disk),
    :class:`MemoryBudgetError` (a factorisation that would not fit, refused before it starts),
    ``MemoryError``; Ctrl-C exits with 130. Anything else is a bug and keeps its traceback.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "--version":
        print(f"femnn {__version__}")
        if any(a in ("--verbose", "-v") for a in argv[1:]):
            from femnn.report.files import versions

            for k, v in versions(verbose=True, load_petsc=True).items():
                print(f"  {k}: {v if v is not None else 'not installed'}")
        return 0
    selected = next((a for a in argv if not a.startswith("-")), None)
    parser = _parser_with(selected if selected in SUBCOMMANDS else None)
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    setup_logging(getattr(args, "quiet", False), getattr(args, "verbose", 0) or 0)
    cmd = args.command
    try:
        return int(args.func(args) or 0)
    except InputError as exc:
        return _error(cmd, str(exc))
    except MechanismError as exc:
        return _error(cmd, f"{exc}; add bonds or fixed nodes so every node is held (`femnn check FILE` lists the zero modes)")
    except OSError as exc:
        where = f"{exc.filename}: " if exc.filename else ""
        return _error(cmd, f"{where}{exc.strerror or exc}; check the path, its permissions and the free space")
    except MemoryBudgetError as exc:
        return _error(cmd, str(exc))
    except MemoryError:
        return _error(cmd, "out of memory; choose a smaller network, mesh or data set")
    except KeyboardInterrupt:
        print(f"femnn {cmd}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
