"""``femnn render TASK [--widths RUN] --state forward|adjoint|none --out FILE.png``: a synthetic photo.

The 3D FEM of the printed part deformed at true scale under the state's load, rendered off-screen
(dark part, light background) by an orthographic camera at ``--px-per-mm``, then the camera effects
(roll, tilt, radial distortion, blur, noise, uneven lighting; seeded). Writes FILE.png and FILE.json
(the ground truth: design mm -> px map, FEM hub-mean displacements, hub pixel positions).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path


def add_args(p):
    p.add_argument("task", help="task name or file")
    p.add_argument("--widths", help="trained widths: a `femnn train` output directory or a widths JSON file")
    p.add_argument("--state", default="none", help="none (unloaded), forward (the task's load) or adjoint "
                   "(-dL/du at the FEM's forward output); default none")
    p.add_argument("--sample", type=int, default=0, help="data-set tasks: the sample whose load is applied (default 0)")
    p.add_argument("--out", required=True, help="the photo to write (PNG); the ground truth goes next to it as .json")
    p.add_argument("--px-per-mm", type=float, default=40.0, help="camera resolution on the part (default 40)")
    p.add_argument("--roll-deg", type=float, default=0.0, help="camera roll about its axis (degrees)")
    p.add_argument("--tilt-deg", type=float, default=0.0, help="camera tilt about the image's horizontal axis (degrees)")
    p.add_argument("--distortion", type=float, default=0.0, metavar="K1", help="radial lens distortion k1 (e.g. -0.02)")
    p.add_argument("--blur-px", type=float, default=0.0, help="Gaussian blur sigma (px)")
    p.add_argument("--noise", type=float, default=0.0, help="Gaussian noise sigma, full scale = 1 (e.g. 0.02)")
    p.add_argument("--lighting-gradient", type=float, default=0.0, help="uneven lighting: relative ramp amplitude (e.g. 0.15)")
    p.add_argument("--seed", type=int, default=0, help="seed of the noise and of the lighting direction")
    p.add_argument("--adjoint-max-force-N", type=float, help="adjoint state: scale -dL/du so that its largest nodal force is "
                   "this (needed for cross-entropy losses, whose -dL/du is in 1/m); the scale goes to the .json")
    p.add_argument("--quick", action="store_true", help="coarse 3D mesh and 2x supersampling (tests, previews)")


def run(args) -> int:
    os.environ.setdefault("VTK_DEFAULT_OPENGL_WINDOW", "vtkEGLRenderWindow")
    from femnn.errors import InputError
    from femnn.network import load_task

    if args.state not in ("none", "forward", "adjoint"):
        raise InputError("--state", "", f"{args.state!r}; expected none, forward or adjoint")
    out = Path(args.out)
    if out.suffix.lower() != ".png":
        raise InputError("--out", "", f"{out.name}: give a .png file name")
    if not 2 <= args.px_per_mm <= 400:
        raise InputError("--px-per-mm", "", f"{args.px_per_mm}: expected 2 to 400 px per mm")
    task = load_task(args.task)
    if args.widths:
        from femnn.train.runs import apply_run_widths

        task, _ = apply_run_widths(task, args.widths)
    if not 0 <= args.sample < max(task.n_samples, 1):
        raise InputError("--sample", "", f"{args.sample} is outside 0..{task.n_samples - 1}")

    import dolfinx_solver  # noqa: F401
    from mpi4py import MPI

    import femnn.fem as F
    from femnn.lab.render import Camera, render_states
    from femnn.report.tools import write_render

    cam = Camera(px_per_mm=args.px_per_mm, roll_deg=args.roll_deg, tilt_deg=args.tilt_deg, distortion_k1=args.distortion,
                 blur_px=args.blur_px, noise=args.noise, lighting_gradient=args.lighting_gradient, seed=args.seed,
                 supersample=2 if args.quick else 3)
    comm = MPI.COMM_WORLD

    def say(msg):
        if comm.rank == 0:
            print(f"femnn render: {msg}", file=sys.stderr, flush=True)

    say(f"{task.name}: 3D FEM ({'quick' if args.quick else 'default'} mesh) ...")
    res = render_states(comm, task, [args.state], cam, F.FemOptions(quick=args.quick), sample=args.sample, progress=say,
                        adjoint_max_force_N=args.adjoint_max_force_N)
    rgb, truth = res[args.state]
    if comm.rank == 0:
        write_render(out, rgb, truth)
        print(f"{out} ({rgb.shape[1]} x {rgb.shape[0]} px) and {out.with_suffix('.json')}")
    return 0
