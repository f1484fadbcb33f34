"""``femnn prune TASK --widths RUN_DIR --out DIR``: remove each bond in turn (critical/redundant/mechanism)."""

from __future__ import annotations

import json
from pathlib import Path

from femnn.errors import InputError
from femnn.network import load_task
from femnn.report import atomic_write_json, atomic_write_text
from femnn.train.loop import Progress
from femnn.train.prune import prune_study
from femnn.train.runs import apply_run_widths


def add_args(p):
    p.add_argument("task", help="task name or file (e.g. iris)")
    p.add_argument("--widths", required=True, help="the trained network: a `femnn train` output directory")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--threshold", type=float, help="metric drop that makes a bond critical (default 0.1 accuracy, or a doubled error)")
    p.add_argument("--retrain", type=int, default=0, metavar="EPOCHS", help="retrain every damaged network this many epochs")
    p.add_argument("--quiet", action="store_true")


def run(args) -> int:
    task = load_task(args.task)
    task, _ = apply_run_widths(task, args.widths)
    split = None
    sp = Path(args.widths) / "split.json"
    if sp.is_file():
        split = json.loads(sp.read_text())
    elif task.kind != "single":
        raise InputError(str(args.widths), "split.json", "missing; prune needs the run's test split")
    bar = Progress(task.network.n_bonds, "prune", not args.quiet)
    res = prune_study(task, split, args.threshold, args.retrain, progress=bar.update)
    bar.close()
    args.out.mkdir(parents=True, exist_ok=True)
    atomic_write_json(args.out / "prune.json", res)
    lines = ["bond,node_i,node_j,status,metric_after_removal,metric_after_retraining,free_nodes"]
    for r in res["bonds"]:
        lines.append(",".join(str(v) for v in (r["bond"], *r["nodes"], r["status"], r.get("metric_after_removal", ""),
                                                r.get("metric_after_retraining", ""), " ".join(map(str, r.get("free_nodes", []))))))
    atomic_write_text(args.out / "prune.csv", "\n".join(lines) + "\n")
    print(f"baseline {res['metric']} {res['baseline']:.3f}; " + ", ".join(f"{k}: {v}" for k, v in res["counts"].items()))
    print("| bond | nodes | status | after removal | after retraining |\n|---|---|---|---|---|")
    for r in res["bonds"]:
        a = r.get("metric_after_removal")
        rt = r.get("metric_after_retraining")
        extra = f"free nodes {r['free_nodes']}" if r["status"] == "mechanism" else ""
        print(f"| {r['bond']} | {r['nodes']} | {r['status']} | {'' if a is None else f'{a:.3f}'} {extra}| {'' if rt is None else f'{rt:.3f}'} |")
    return 0
