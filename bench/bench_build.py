"""Build times of printable parts (Markdown tables): the paper's network (2D and 3D meshes at the
default size) and triangular lattices of ~100 to ~3,000 bonds (3D geometry, surface mesh, checks, STL).

Goals (issue 5): paper geometry + 2D mesh < 2 s, 3D mesh < 20 s; 1,000 bonds: 3D geometry, fuse and
STL < 60 s, growth close to linear. "Fuse" here is the conforming assembly of hubs and bonds (no
boolean; femnn/part/builder.py says why); the last column times OpenCASCADE's batched ``occ.fuse``
of the same primitives (2D only) for comparison.

    .venv/bin/python bench/bench_build.py [--rows 8 14 25 44] [--occ-max-bonds 350]
"""

from __future__ import annotations

import argparse
import math
import tempfile
import time
from pathlib import Path

import femnn.export as ex
import femnn.part as fp
from femnn.network import load_task, make_network
from femnn.part.csg import fused_reference


def paper_rows():
    task = load_task("fig1")
    rows = []
    for dim in (2, 3):
        t0 = time.perf_counter()
        part = fp.build(task, dim=dim)
        total = time.perf_counter() - t0
        ts = part.timings_s
        rows.append((dim, part.network.n_bonds, ts["layout_s"] + ts["geometry_s"], ts["mesh_s"], total, part.n_elements,
                     part.mesh.quality_min, part.mesh.quality_mean, "< 2 s (geometry + 2D mesh)" if dim == 2 else "< 20 s (3D mesh)"))
    print("### Paper network (fig1), default mesh (3 elements across the narrowest neck)\n")
    print("| dim | bonds | layout + geometry s | mesh s | total s | elements | quality min / mean (minSICN) | goal |")
    print("|---|---|---|---|---|---|---|---|")
    for dim, nb, tg, tm, tt, ne, qmin, qmean, goal in rows:
        print(f"| {dim}D | {nb} | {tg:.3f} | {tm:.2f} | {tt:.2f} | {ne} | {qmin:.3f} / {qmean:.3f} | {goal} |")
    print()


def lattice_rows(rows_list, occ_max_bonds):
    print("### Triangular lattices, 3D: geometry, print-resolution surface mesh, checks and binary STL\n")
    print("| rows | nodes | bonds | layout s | geometry s | surface mesh s | checks + STL s | total s | STL triangles "
          "| growth exponent | OCC fuse 2D s |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    prev = None
    with tempfile.TemporaryDirectory() as tmp:
        for rows in rows_list:
            net = make_network("triangular", rows=rows)
            t0 = time.perf_counter()
            part = fp.build(net, dim=3, surface_only=True)
            t1 = time.perf_counter()
            ex.export(part, [Path(tmp) / "part.stl"], tray_mm=None)  # the largest lattices exceed the J850 tray
            t2 = time.perf_counter()
            ts = part.timings_s
            total = t2 - t0
            growth = "" if prev is None else f"{math.log(total / prev[1]) / math.log(net.n_bonds / prev[0]):.2f}"
            occ = "skipped"
            if net.n_bonds <= occ_max_bonds:
                t3 = time.perf_counter()
                n, _ = fused_reference(part.layout, dim=2)
                occ = f"{time.perf_counter() - t3:.2f} ({n} face)"
            print(f"| {rows} | {net.n_nodes} | {net.n_bonds} | {ts['layout_s']:.2f} | {ts['geometry_s']:.2f} | "
                  f"{ts['mesh_s'] + ts['extract_s']:.2f} | {t2 - t1:.2f} | {total:.2f} | {part.mesh.n_triangles} | {growth} | {occ} |",
                  flush=True)
            prev = (net.n_bonds, total)
    print("\ngrowth exponent: log(t_n / t_prev) / log(bonds_n / bonds_prev) between consecutive rows (1 = linear)")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rows", type=int, nargs="+", default=[8, 14, 25, 44], help="lattice rows (106, 313, 973, 2968 bonds)")
    p.add_argument("--occ-max-bonds", type=int, default=350, help="time the OpenCASCADE fuse up to this many bonds")
    a = p.parse_args(argv)
    paper_rows()
    lattice_rows(a.rows, a.occ_max_bonds)


if __name__ == "__main__":
    main()
