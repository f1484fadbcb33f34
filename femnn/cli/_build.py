"""``femnn build NETWORK_OR_TASK [--widths RUN_DIR] [--dim 2|3] --out DIR``: part, mesh and print files.

DIR then holds ``mesh.msh`` (MSH 4.1 with the physical groups), ``mesh.xdmf`` (+ ``mesh_facets.xdmf``),
``summary.json``, ``preview.png`` and, in 3D, ``part.stl`` and ``part.3mf`` (mm). Every check runs
before the first file is written; a failed check writes nothing (exit 2 for input the user can
fix, 1 for a defective surface).
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

from femnn.errors import InputError


def add_args(p):
    p.add_argument("target", metavar="NETWORK_OR_TASK", help="network or task file, or a built-in name (paper, fig1, iris)")
    p.add_argument("--widths", metavar="RUN_DIR", help="bond widths from a `femnn train` output directory (its widths.json), "
                   "a JSON file (list of widths in m, or an object with widths_m)")
    p.add_argument("--dim", "--dims", dest="dim", type=int, choices=(2, 3), default=3, help="2: planar mesh (no print files); 3: solid (default)")
    p.add_argument("--out", required=True, metavar="DIR", help="output directory")
    g = p.add_argument_group("geometry (mm; defaults from the width bounds and bond angles, docs/geometry.md)")
    g.add_argument("--hub-radius-mm", type=float, help="radius of the node hubs")
    g.add_argument("--neck-length-mm", type=float, help="length of the thinned joint (half the bond width) beyond the hub rim")
    g.add_argument("--thickness-mm", type=float, help="out-of-plane thickness (default: the network file's)")
    g.add_argument("--tabs", action="store_true", help="add a mounting tab at every fixed node")
    g.add_argument("--eyelets", action="store_true", help="add an eyelet (hole for a string) at every loaded node")
    m = p.add_argument_group("mesh")
    m.add_argument("--elements-across-neck", type=int, default=3, metavar="N",
                   help="elements across the narrowest neck (default 3); N across the narrowest bond elsewhere")
    m.add_argument("--refine", type=int, default=0, metavar="R", help="refinement level: each level halves the element size")
    m.add_argument("--order", type=int, choices=(1, 2), default=1, help="geometry order of the elements")
    m.add_argument("--surface-only", action="store_true", help="3D: mesh only the surface (print files, no tetrahedra)")
    e = p.add_argument_group("printing")
    e.add_argument("--min-feature-mm", type=float, default=0.3, help="printer minimum wall and gap (PolyJet: 0.3 mm)")
    e.add_argument("--no-preview", action="store_true", help="skip preview.png")
    p.add_argument("--quiet", action="store_true")


def _positive(value, option, allow_zero=False):
    if value is None:
        return None
    if not math.isfinite(value) or value < 0 or (value == 0 and not allow_zero):
        raise InputError(option, "", f"{value} must be {'>= 0' if allow_zero else '> 0'}")
    return value * 1e-3


def _load(target, widths_spec):
    """(network, task or None) with the widths applied; a task also names loaded and output hubs."""
    from femnn.network import load_network_or_task

    net, task = load_network_or_task(target)
    if widths_spec:
        if task is not None:
            from femnn.train.runs import apply_run_widths

            task, _ = apply_run_widths(task, widths_spec)
            net = task.network
        else:
            import numpy as np

            from femnn.report.files import read_widths

            w = read_widths(widths_spec, net.n_bonds)
            lo, hi = net.width_bounds_m
            bad = np.flatnonzero((w < lo * (1 - 1e-9)) | (w > hi * (1 + 1e-9)))
            if bad.size:
                i = int(bad[0])
                raise InputError(str(widths_spec), f"widths_m[{i}]", f"{w[i]:.6g} m is outside the network's bounds "
                                 f"[{lo:.6g}, {hi:.6g}] m")
            net = net.with_widths(w)
    return net, task


def run(args) -> int:
    import femnn.export as ex
    from femnn.export.build import build_files

    from femnn.cli._out import prepare_out

    say = (lambda *a: None) if args.quiet else (lambda *a: print(*a, flush=True))
    prepare_out(args.out)
    hub = _positive(args.hub_radius_mm, "--hub-radius-mm")
    neck = _positive(args.neck_length_mm, "--neck-length-mm", allow_zero=True)
    thick = _positive(args.thickness_mm, "--thickness-mm")
    min_feat = _positive(args.min_feature_mm, "--min-feature-mm", allow_zero=True)
    if args.elements_across_neck < 1:
        raise InputError("--elements-across-neck", "", f"{args.elements_across_neck} must be >= 1")
    if not 0 <= args.refine <= 8:
        raise InputError("--refine", "", f"{args.refine} must be in 0..8 (each level halves the element size)")
    if args.surface_only and args.dim != 3:
        raise InputError("--surface-only", "", "only for --dim 3 (the print files); drop it for 2D")
    net, task = _load(args.target, args.widths)
    extra = {"task": task.name if task is not None else None, "widths_from": args.widths,
             "elements_across_neck": args.elements_across_neck, "refine": args.refine,
             "command": "femnn build " + " ".join(sys.argv[2:]) if sys.argv[1:2] == ["build"] else None}
    try:
        res = build_files(task if task is not None else net, Path(args.out), dim=args.dim, hub_radius_m=hub,
                          neck_length_m=neck, thickness_m=thick, elements_across_neck=args.elements_across_neck,
                          refine=args.refine, order=args.order, surface_only=args.surface_only, tabs=args.tabs,
                          eyelets=args.eyelets, min_feature_m=min_feat, preview=not args.no_preview, extra=extra)
    except ex.ExportCheckError as exc:
        print(f"femnn build: check failed, nothing written: {exc}", file=sys.stderr)
        return 1
    data = res.summary
    say(f"{net.name}: {args.dim}D part, {net.n_bonds} bonds, hub radius {data.get('hub_radius_mm', float('nan')):.4g} mm, "
        f"volume {data['volume_mm3']:.1f} mm3 ({data['mass_g']:.2f} g), "
        f"bbox {[[round(v, 2) for v in r] for r in data['bbox_mm']]} mm")
    say(f"thinnest feature {data['min_feature_mm']:.3g} mm ({data['min_feature_where']}); narrowest gap "
        f"{data['min_gap_mm']:.3g} mm ({data['min_gap_where']}); wrote {', '.join(f.name for f in res.files)} to {args.out}")
    return 0
