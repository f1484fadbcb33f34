"""``femnn calibrate TASK --measured DIR [...] --out DIR``: the bar model refitted to measured displacements."""

from __future__ import annotations

from pathlib import Path


def add_args(p):
    p.add_argument("task", help="task name or file (the part that was measured)")
    p.add_argument("--measured", action="append", required=True, metavar="DIR",
                   help="a `femnn measure` output directory (or its measurement.json); repeatable. Every state with "
                        "load_N (the applied forces) is fitted")
    p.add_argument("--widths", help="the widths the part was printed with: a `femnn train` output directory or a widths JSON file")
    p.add_argument("--protocol", metavar="DIR", help="a `femnn protocol` output directory: states measured without "
                   "load_N take the forces of the photo state of the same name (forward, adjoint_neg, sample3, ...)")
    p.add_argument("--hold-out", action="append", default=[], metavar="STATE",
                   help="do not fit this state (name, or DIR:name); report how well the calibrated model predicts it")
    p.add_argument("--out", required=True, type=Path, help="output directory")


def run(args) -> int:
    from femnn.lab import read_measurement
    from femnn.lab.calibrate import calibrate, collect_states
    from femnn.report.lab import write_calibration
    from femnn.network import load_task
    from femnn.train.runs import apply_run_widths

    task = load_task(args.task)
    if args.widths:
        task, _ = apply_run_widths(task, args.widths)
    ms = [(read_measurement(d), str(d)) for d in args.measured]
    loads = None
    if args.protocol:
        from femnn.lab.protocol import read_photo_loads

        loads = read_photo_loads(args.protocol)
    fitted, held, skipped = collect_states(task, ms, args.hold_out, loads, loads_source=str(args.protocol))
    cal = calibrate(task, fitted, held)
    write_calibration(args.out, cal, task, args.measured, skipped)
    m = cal.misfit
    held_txt = "".join(f"; held out {r['state']}: {100 * r['per_bond']['relative']:.3g} %" for r in cal.per_state
                       if r["role"] == "held_out")
    print(f"femnn calibrate {task.name}: {len(fitted)} state(s), global factor {cal.global_factor:.4g}; misfit "
          f"{100 * m['uncalibrated']['relative']:.3g} % -> {100 * m['global']['relative']:.3g} % (global) -> "
          f"{100 * m['per_bond']['relative']:.3g} % (per bond){held_txt}; "
          f"{len(cal.undetermined)} undetermined bond(s); results in {args.out}")
    return 0
