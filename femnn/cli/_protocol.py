"""``femnn protocol TASK --out DIR``: the lab sheet (weights to hang, expected displacements, camera, photos)."""

from __future__ import annotations

from pathlib import Path


def add_args(p):
    p.add_argument("task", help="task name or file")
    p.add_argument("--widths", help="the printed widths: a `femnn train` output directory or a widths JSON file")
    p.add_argument("--weight-step-g", type=float, default=1.0, help="smallest step of your weight set in grams (default 1)")
    p.add_argument("--fem", type=int, choices=(2, 3), help="also give the FEM's expected displacements (2D or 3D)")
    p.add_argument("--fem-quick", action="store_true", help="coarse FEM mesh (seconds instead of a minute in 3D)")
    p.add_argument("--target-accuracy-um", type=float, default=10.0, help="hub position accuracy you want, µm (default 10)")
    p.add_argument("--tracker-px", type=float, default=0.05, help="your tracker's hub accuracy in pixels, 1 sigma (default 0.05)")
    p.add_argument("--repeats", type=int, default=3, help="photos per state (default 3)")
    p.add_argument("--adjoint-scale", default="1", metavar="N_PER_M",
                   help="λ in F_adj = λ (-∂L/∂u), N/m (default 1, the paper's), or 'auto' (the heaviest adjoint weight as "
                        "heavy as the heaviest forward one); the lab then measures λ ∂L/∂k")
    p.add_argument("--forward-measured", metavar="DIR", help="a `femnn measure` result with a 'forward' state: the adjoint "
                   "weights from the measured displacements (the paper's -0.82 mm -> 5 g step)")
    p.add_argument("--sample", type=int, action="append", help="data tasks: only these samples (0-based rows); repeatable")
    p.add_argument("--out", required=True, type=Path, help="output directory")


def run(args) -> int:
    from femnn.lab import read_measurement
    from femnn.lab.protocol import ProtocolOptions, build_protocol
    from femnn.report.lab import write_protocol
    from femnn.network import load_task
    from femnn.train.runs import apply_run_widths

    from femnn.errors import InputError

    try:
        scale = None if args.adjoint_scale == "auto" else float(args.adjoint_scale)
    except ValueError:
        raise InputError("--adjoint-scale", "", f"{args.adjoint_scale!r} is not a number (N/m) or 'auto'") from None
    task = load_task(args.task)
    if args.widths:
        task, _ = apply_run_widths(task, args.widths)
    fwd = read_measurement(args.forward_measured) if args.forward_measured else None
    opts = ProtocolOptions(weight_step_g=args.weight_step_g, target_accuracy_um=args.target_accuracy_um,
                           tracker_accuracy_px=args.tracker_px, repeats=args.repeats,
                           adjoint_scale=scale, fem_dim=args.fem, fem_quick=args.fem_quick,
                           samples=tuple(args.sample) if args.sample else None)
    comm = None
    if args.fem:
        import dolfinx_solver  # noqa: F401  (before mpi4py)
        from mpi4py import MPI

        comm = MPI.COMM_WORLD
    rec = build_protocol(comm, task, opts, forward_measured=fwd, widths_source=args.widths)
    if comm is None or comm.rank == 0:
        write_protocol(args.out, rec, task.network)
        cam = rec["camera"]
        if task.kind == "single":
            w = "; ".join(f"{name}: " + ", ".join(f"{r['mass_rounded_g']:g} g {r['direction']} on node {r['node']}"
                                                 for r in rec["states"][name]["weights"]) for name in ("forward", "adjoint"))
        else:
            w = f"{rec['summary']['n_samples']} samples"
        print(f"femnn protocol {task.name}: {w}; camera >= {cam['required_px_per_mm']:.3g} px/mm; "
              f"{len(rec['photos'])} photos; sheet in {args.out / 'protocol.html'}")
    return 0
