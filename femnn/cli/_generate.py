"""``femnn generate KIND --out FILE``: write a network file from a generator."""

from __future__ import annotations

from pathlib import Path

from femnn.errors import InputError
from femnn.network import make_network, write_network
from femnn.network.generators import GENERATORS


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


def run(args) -> int:
    a = args.spacing_mm * 1e-3
    params = {"triangular": dict(rows=args.rows, spacing_m=a),
              "square-diagonal": dict(nx=args.nx, ny=args.ny, spacing_m=a),
              "diluted-triangular": dict(rows=args.rows, spacing_m=a, remove_fraction=args.remove_fraction, seed=args.seed)}[args.kind]
    if args.out.suffix != ".toml":
        raise InputError(str(args.out), "", "network files end in .toml")
    try:
        net = make_network(args.kind, thickness_m=args.thickness_mm * 1e-3, width_m=args.width_mm * 1e-3,
                           width_bounds_m=[v * 1e-3 for v in args.width_bounds_mm], name=args.out.stem, **params)
    except ValueError as exc:
        raise InputError(args.kind, "", str(exc)) from None
    from femnn.network._io import check_network

    check_network(net, str(args.out))
    write_network(net, args.out)
    print(f"wrote {args.out}: {net.n_nodes} nodes, {net.n_bonds} bonds, fixed {net.fixed.tolist()}")
    return 0
