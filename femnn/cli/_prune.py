"""``femnn prune TASK --widths RUN_DIR --out DIR``: remove each bond in turn (critical/redundant/mechanism)."""

from __future__ import annotations

import json
import math
from pathlib import Path

from femnn.cli._out import args_fingerprint, prepare_out
from femnn.train.loop import check_split
from femnn.train.runs import run_task_name

from femnn.errors import InputError
from femnn.network import load_task
from femnn.report.tools import write_prune
from femnn.train.loop import Progress
from femnn.train.prune import prune_study
from femnn.train.runs import apply_run_widths


def add_args(p):
    p.add_argument("task", help="task name or file (e.g. iris)")
    p.add_argument("--widths", required=True, help="the trained network: a `femnn train` output directory")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--threshold", type=float, help="metric drop that makes a bond critical (default 0.1 accuracy, or a doubled error)")
    p.add_argument("--retrain", type=int, default=0, metavar="EPOCHS", help="retrain every damaged network this many epochs")
    p.add_argument("--force", action="store_true", help="replace an earlier, different prune result in --out")


def run(args) -> int:
    if args.threshold is not None and not (math.isfinite(args.threshold) and args.threshold >= 0):
        raise InputError("--threshold", "", f"{args.threshold!r} must be a finite number >= 0 (a metric drop)")
    if args.retrain < 0:
        raise InputError("--retrain", "", f"{args.retrain} must be >= 0 epochs")
    fp = args_fingerprint(args)
    prepare_out(args.out, "--out", args.force, marker="prune.json", fingerprint=fp, what="a prune result")
    task = load_task(args.task)
    run_task = run_task_name(args.widths)
    if run_task is not None and run_task != task.name:
        raise InputError("--widths", "", f"{args.widths} is a run of task {run_task!r}, not {task.name!r}; "
                         f"give a run of {task.name!r} (its split and widths belong to its own task)")
    task, _ = apply_run_widths(task, args.widths)
    split = None
    sp = Path(args.widths) / "split.json"
    if sp.is_file():
        try:
            split = check_split(json.loads(sp.read_text()), task.n_samples, str(sp))
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise InputError(str(sp), "", "not valid JSON; rerun `femnn train`") from None
    elif task.kind != "single":
        raise InputError(str(args.widths), "split.json", "missing; prune needs the run's test split (give a `femnn train` output directory)")
    bar = Progress(task.network.n_bonds, "prune", not args.quiet)
    res = prune_study(task, split, args.threshold, args.retrain, progress=bar.update)
    bar.close()
    res["fingerprint"] = fp
    write_prune(args.out, res)
    print(f"baseline {res['metric']} {res['baseline']:.3f}; " + ", ".join(f"{k}: {v}" for k, v in res["counts"].items()))
    print("| bond | nodes | status | after removal | after retraining |\n|---|---|---|---|---|")
    for r in res["bonds"]:
        a = r.get("metric_after_removal")
        rt = r.get("metric_after_retraining")
        extra = f"free nodes {r['free_nodes']}" if r["status"] == "mechanism" else ""
        print(f"| {r['bond']} | {r['nodes']} | {r['status']} | {'' if a is None else f'{a:.3f}'} {extra}| {'' if rt is None else f'{rt:.3f}'} |")
    return 0
