"""``femnn measure TASK --reference PHOTO --state NAME=PHOTO [...] --out DIR``: hubs tracked in photos.

Displacements (m, network frame, y up), elongations (change of hub-centre distance) and, for the
states ``forward`` and ``adjoint``, the in situ gradient e_adj ∘ e -> DIR/measurement.json,
DIR/overlay_<state>.png, DIR/report.md (compared with the bar model). ``--tracks FILE.csv``
(node,state,x,y; a state named reference) replaces the photos. A bad photo is refused (exit 2, one
line) and nothing is written.
"""

from __future__ import annotations

import sys


def add_args(p):
    p.add_argument("task", help="task name or file")
    p.add_argument("--widths", help="trained widths of the printed part: a `femnn train` output directory or a widths JSON file")
    p.add_argument("--reference", help="photo of the unloaded part (PNG, JPEG or TIFF)")
    p.add_argument("--state", action="append", default=[], metavar="NAME=PHOTO",
                   help="a photo of a load state (forward, adjoint or any name); repeat a name for repeated photos")
    p.add_argument("--tracks", help="CSV of tracked hub positions (columns node,state,x,y; state 'reference' required) "
                   "instead of photos")
    p.add_argument("--tracks-unit", default="px", help="unit of --tracks positions: px (x = column, y = row down; needs "
                   "--px-per-mm) or mm (y up)")
    p.add_argument("--px-per-mm", type=float, help="camera scale of pixel tracks (px per mm)")
    p.add_argument("--sample", type=int, default=0, help="data-set tasks: the sample whose load the forward photo shows")
    p.add_argument("--adjoint-scale", type=float, default=1.0, help="the adjoint photo shows this many times -dL/du "
                   "(e.g. the render's adjoint_scale); used for the recorded load_N and the bar comparison")
    p.add_argument("--fem", type=int, choices=(2, 3), help="also compare with the FEM of the printed part (2D or 3D) "
                   "under the same loads (one factorisation for every state)")
    p.add_argument("--fem-quick", action="store_true", help="with --fem: coarse mesh")
    p.add_argument("--out", required=True, help="output directory")


def _parse_states(specs):
    from femnn.errors import InputError

    out = []
    for s in specs:
        name, sep, path = s.partition("=")
        if not sep or not name.strip() or not path.strip():
            raise InputError("--state", "", f"{s!r}; expected NAME=PHOTO, e.g. forward=forward.png")
        if name.strip() == "reference":
            raise InputError("--state", "", "'reference' is the unloaded photo: give it with --reference")
        out.append((name.strip(), path.strip()))
    return out


def run(args) -> int:
    from femnn.errors import InputError
    from femnn.lab import measure as M
    from femnn.network import load_task

    task = load_task(args.task)
    if args.widths:
        from femnn.train.runs import apply_run_widths

        task, _ = apply_run_widths(task, args.widths)

    def say(msg):
        print(f"femnn measure: {msg}", file=sys.stderr, flush=True)

    if args.tracks:
        if args.reference or args.state:
            raise InputError("--tracks", "", "give either --tracks or photos (--reference/--state), not both")
        an = M.measure_tracks(task, args.tracks, args.tracks_unit, args.px_per_mm, args.adjoint_scale, args.sample)
    else:
        if not args.reference:
            raise InputError("--reference", "", "missing: give the photo of the unloaded part (or --tracks FILE.csv)")
        states = _parse_states(args.state)
        if not states:
            raise InputError("--state", "", "missing: give at least one NAME=PHOTO, e.g. --state forward=forward.png")
        an = M.measure_photos(task, args.reference, states, progress=say, adjoint_scale=args.adjoint_scale,
                              sample=args.sample)
    fem = None
    if args.fem:
        import dolfinx_solver  # noqa: F401  (the wheel's MPI before mpi4py)
        from mpi4py import MPI

        import femnn.fem as F

        say(f"FEM {args.fem}D of the part under the measured states' loads ...")
        fem = {"name": f"fem{args.fem}d", "states": M.fem_states(MPI.COMM_SELF, task, an.measurement, args.fem,
                                                                  F.FemOptions(quick=args.fem_quick))}
    from femnn.report.lab import write_outputs

    written, cmp = write_outputs(args.out, task, an, fem=fem)
    m = an.measurement
    import numpy as np

    for name, s in m.states.items():
        say(f"{name}: max |u| {np.max(np.linalg.norm(s.u_m, axis=1)) * 1e3:.3f} mm over {s.n_photos} photo(s)")
    if "accuracy" in cmp:
        say(f"gradient accuracy vs bar model {cmp['accuracy']:.3f}, sign agreement {100 * cmp['sign_agreement']:.0f} %, "
            f"Spearman {cmp['spearman']:.3f}")
    if "accuracy" in cmp.get("fem", {}):
        f = cmp["fem"]
        say(f"gradient accuracy vs {f['name']} {f['accuracy']:.3f}, sign agreement {100 * f['sign_agreement']:.0f} %, "
            f"Spearman {f['spearman']:.3f}")
    print("\n".join(str(p) for p in written))
    return 0
