"""``femnn buckling TASK [--widths RUN] [--dim 2|3] [--modes N] [--quick] --out DIR``: linearised buckling.

Solves the part under the task's forward load (linear FEM, P2), builds the geometric stiffness of
that pre-stress and finds the lowest positive load factors λ of (K + λ K_σ) φ = 0 with SLEPc
(:mod:`femnn.fem.buckling`). DIR gets ``buckling.json`` (``load_factor``: the lowest λ, ``bond``:
the 0-based bond holding the largest share of that mode's strain energy, ``modes``: every mode
found with its load factor, bond and energy share, and whether that bond is in compression under
the task's load) and ``buckling_mode.png`` (2D: the deformed mesh coloured by the mode's
amplitude over the undeformed outline; 3D: the deformed outer surface).

Exit codes: 0 (λ > 1: the task's load does not buckle the part), 1 (λ <= 1: it does), 2 bad input.
Runs under ``mpiexec -n N`` (rank 0 writes).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from femnn.errors import InputError


def add_args(p):
    p.add_argument("task", metavar="TASK", help="task or network file, or a built-in name (fig1, behaviour-mse, ...)")
    p.add_argument("--widths", metavar="RUN", help="bond widths from a `femnn train` output directory or a widths JSON")
    p.add_argument("--dim", "--dims", dest="dim", type=int, choices=(2, 3), default=2,
                   help="2: plane stress, in-plane modes only (default); 3: solid, also out-of-plane modes")
    p.add_argument("--modes", type=int, default=4, metavar="N", help="number of buckling modes to compute (default 4)")
    p.add_argument("--case", type=int, default=0, metavar="I", help="load case (data-set tasks: sample row; default 0)")
    p.add_argument("--quick", action="store_true", help="coarse mesh (smoke runs, tests)")
    p.add_argument("--refine", type=int, default=0, metavar="R", help="mesh refinement level (each halves the element size)")
    p.add_argument("--out", required=True, metavar="DIR", help="output directory")
    p.add_argument("--no-picture", action="store_true", help="skip buckling_mode.png")


def load_target(name_or_path):
    """Task or network file -> Task (networks get the Fig. 1 load case), through the
    one place that decides task or network (femnn.network.sniff)."""
    from femnn.network import load_task_or_network

    return load_task_or_network(name_or_path)


def run(args) -> int:
    import dolfinx_solver  # noqa: F401
    from mpi4py import MPI

    import femnn.fem as fem
    from femnn.fem.buckling import buckling_record, linear_buckling, mode_surface
    from femnn.report.nonlinear import plot_buckling_mode, write_buckling

    comm = MPI.COMM_WORLD
    if args.modes < 1:
        raise InputError("--modes", "", f"{args.modes}: need at least 1 mode")
    if args.refine < 0:
        raise InputError("--refine", "", f"{args.refine} must be >= 0")
    task = load_target(args.task)
    if args.widths:
        from femnn.train.runs import apply_run_widths

        task, _ = apply_run_widths(task, args.widths)
    n_cases = task.loads_N().shape[0]
    if not 0 <= args.case < n_cases:
        raise InputError("--case", "", f"{args.case} is outside 0..{n_cases - 1}")
    out = Path(args.out)

    def say(msg):
        if comm.rank == 0:
            print(f"femnn buckling: {msg}", file=sys.stderr, flush=True)

    t0 = time.perf_counter()
    opts = fem.FemOptions(quick=args.quick, refine=args.refine)
    say(f"meshing {task.name} ({args.dim}D{', quick' if args.quick else ''})")
    mesh, cell_tags, info = fem.mesh_task(comm, task, args.dim, opts)
    say("solving the forward load and the buckling eigenproblem (SLEPc)")
    res = linear_buckling(comm, task, mesh, cell_tags, n_modes=args.modes, case=args.case)
    seconds = time.perf_counter() - t0
    rec = buckling_record(task, res, dim=args.dim, case=args.case, widths=args.widths, hub_radius_m=info.hub_radius_m,
                          n_processes=comm.size, seconds=seconds, picture=not args.no_picture)
    b0, modes = rec["bond"], rec["modes"]
    if not args.no_picture:
        surface = mode_surface(comm, res, mode=0)
        if comm.rank == 0:
            out.mkdir(parents=True, exist_ok=True)
            plot_buckling_mode(out / "buckling_mode.png", surface, res, mode=0, task=task)
    if comm.rank == 0:
        write_buckling(out, rec)
        lam = rec["load_factor"]
        print(f"femnn buckling: lowest load factor {lam:.4g} (bond {b0}, "
              f"{'compressed' if rec['bond_in_compression'] else 'NOT compressed'} under the load; "
              f"{100 * modes[0]['energy_share']:.0f} % of the mode's strain energy) -> {out / 'buckling.json'}")
        if lam <= 1:
            print("femnn buckling: the task's load exceeds the linearised buckling load (load factor <= 1)",
                  file=sys.stderr)
    return 0 if res.load_factors[0] > 1 else 1
