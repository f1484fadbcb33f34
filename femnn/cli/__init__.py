"""The ``femnn`` command: ``main(argv=None)`` with one module per subcommand.

Each subcommand module exposes ``add_args(parser)`` and ``run(args) -> int`` and is imported only
when its subcommand runs, so ``femnn train`` never loads gmsh or dolfinx. Exit codes: 0 success,
1 a check failed (e.g. a cross-check tolerance), 2 bad input (one line naming file, field and fix).
"""

from __future__ import annotations

import argparse
import importlib
import sys

from femnn import __version__
from femnn.errors import InputError, MechanismError

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
    "build": ("femnn.cli._build", "network -> printable part: gmsh mesh with named groups, STL/3MF (mm), summary, preview"),
    "protocol": ("femnn.cli._protocol", "lab sheet: weights to hang (g), expected displacements, camera px/mm, photos to take"),
    "calibrate": ("femnn.cli._calibrate", "refit the bar model (a factor per bond) to measured displacements: a calibrated network"),
}


def _parser_with(selected: str | None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="femnn", description="Mechanical neural networks: train, validate, print.")
    parser.add_argument("--version", action="version", version=f"femnn {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module, help_) in SUBCOMMANDS.items():
        p = sub.add_parser(name, help=help_, description=help_)
        if name == selected:
            mod = importlib.import_module(module)
            mod.add_args(p)
            p.set_defaults(func=mod.run)
    return parser


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    selected = next((a for a in argv if not a.startswith("-")), None)
    parser = _parser_with(selected if selected in SUBCOMMANDS else None)
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except InputError as exc:
        print(f"femnn {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except MechanismError as exc:
        print(f"femnn {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
