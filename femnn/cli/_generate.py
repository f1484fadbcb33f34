"""``femnn generate KIND --out FILE``: write a network file from a generator."""

from __future__ import annotations

from pathlib import Path

import logging

from femnn.cli._out import prepare_out
from femnn.errors import InputError, MechanismError
from femnn.network import make_network, write_network
from femnn.network._reader import check_number
from femnn.network.generators import GENERATORS, check_size

log = logging.getLogger("femnn.generate")


def add_args(p):
    p.add_argument("kind", choices=sorted(GENERATORS), help="lattice family")
    p.add_argument("--out", type=Path, required=True, help="network file to write (.toml)")
    p.add_argument("--rows", type=int, default=4, help="triangular: rows (4 = the paper's network)")
    p.add_argument("--nx", type=int, default=4, help="square-diagonal: cells across")
    p.add_argument("--ny", type=int, default=4, help="square-diagonal: cells down")
    p.add_argument("--spacing-mm", type=float, default=16.0, help="lattice constant in mm (default 16)")
    p.add_argument("--remove-fraction", type=float, default=0.1, help="diluted-triangular: fraction of bonds removed")
    p.add_argument("--seed", type=int, default=0, help="diluted-triangular: seed")
    p.add_argument("--width-mm", type=float, default=2.0)
    p.add_argument("--width-bounds-mm", type=float, nargs=2, default=[1.5, 2.5])
    p.add_argument("--thickness-mm", type=float, default=2.0)


def _check_options(args) -> None:
    """Every option by its own name, before anything is built."""
    def num(opt, v, lo=0.0, lo_open=True, hi=None, hi_open=False, integer=False):
        check_number(v, opt, "", lo=lo, lo_open=lo_open, hi=hi, hi_open=hi_open, integer=integer)

    if args.kind in ("triangular", "diluted-triangular"):
        num("--rows", args.rows, lo=2, lo_open=False, integer=True)
    else:
        num("--nx", args.nx, lo=1, lo_open=False, integer=True)
        num("--ny", args.ny, lo=1, lo_open=False, integer=True)
    if args.kind == "diluted-triangular":
        num("--remove-fraction", args.remove_fraction, lo=0.0, lo_open=False, hi=1.0, hi_open=True)
        num("--seed", args.seed, lo=0, lo_open=False, integer=True)
    for opt, v in (("--spacing-mm", args.spacing_mm), ("--width-mm", args.width_mm), ("--thickness-mm", args.thickness_mm)):
        num(opt, v)
    lo, hi = args.width_bounds_mm
    num("--width-bounds-mm", lo)
    num("--width-bounds-mm", hi)
    if lo > hi:
        raise InputError("--width-bounds-mm", "", f"{lo:g} {hi:g}: give LOWER UPPER with lower <= upper")
    if not lo <= args.width_mm <= hi:
        raise InputError("--width-mm", "", f"{args.width_mm:g} mm is outside --width-bounds-mm [{lo:g}, {hi:g}]; change one of them")


def run(args) -> int:
    out: Path = args.out
    if out.suffix != ".toml":
        raise InputError("--out", "", f"{out}: network files end in .toml")
    if out.is_dir():
        raise InputError("--out", "", f"{out} is a directory; give the path of the .toml file to write")
    prepare_out(out.parent, "--out")
    _check_options(args)
    a = args.spacing_mm * 1e-3
    params = {"triangular": dict(rows=args.rows, spacing_m=a),
              "square-diagonal": dict(nx=args.nx, ny=args.ny, spacing_m=a),
              "diluted-triangular": dict(rows=args.rows, spacing_m=a, remove_fraction=args.remove_fraction, seed=args.seed)}[args.kind]
    check_size(args.kind, params, "--rows" if "rows" in params else "--nx/--ny", "")
    try:
        net = make_network(args.kind, thickness_m=args.thickness_mm * 1e-3, width_m=args.width_mm * 1e-3,
                           width_bounds_m=[v * 1e-3 for v in args.width_bounds_mm], name=out.stem, **params)
    except ValueError as exc:
        raise InputError(args.kind, "", str(exc)) from None
    from femnn.network._io import check_network

    check_network(net, f"femnn generate {args.kind}")
    from femnn.bars import BarModel

    try:
        n_modes, free = BarModel(net).zero_modes()
    except MechanismError as exc:
        n_modes, free = exc.n_modes, exc.free_nodes
    write_network(net, out)
    log.info(f"wrote {out}: {net.n_nodes} nodes, {net.n_bonds} bonds, fixed {net.fixed.tolist()}")
    if n_modes:
        log.warning(f"warning: {out} is a mechanism: {n_modes} zero mode(s), nodes that move freely: {free[:20]}"
                    f"{' ...' if len(free) > 20 else ''}; femnn will refuse to solve it (try a lower --remove-fraction or another --seed)")
    return 0
