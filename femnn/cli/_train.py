"""``femnn train TASK --out DIR``: train a network on a task and write its results."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from femnn.errors import InputError
from femnn.network import load_task, network_to_toml
from femnn.report import atomic_write_json, atomic_write_text, versions
from femnn.report.plots import plot_history, plot_network
from femnn.train import TrainConfig, train
from femnn.train.runs import apply_run_widths, remove_bonds


def add_args(p):
    p.add_argument("task", help="task name in geometry/ (fig1, behaviour-ce, behaviour-ce-13, behaviour-mse, regression, regression-noisy, iris) or a task file")
    p.add_argument("--out", required=True, type=Path, help="output directory")
    p.add_argument("--seed", type=int, default=0, help="seed of the split and the per-epoch shuffles (default 0)")
    p.add_argument("--epochs", type=int, help="epochs (data sets) or iterations (single-load tasks; without it they stop by the authors' rule)")
    p.add_argument("--update", choices=["exact", "authors"], default="exact", help="exact chain rule (default) or the authors' update (dL/dk fed to the training variable)")
    p.add_argument("--conventions", choices=["femnn", "authors"], default="femnn", help="per-epoch bookkeeping: metrics at the end of the epoch (femnn) or the authors' (mean batch loss, k of the last batch)")
    p.add_argument("--lr", type=float, dest="learning_rate", help="Adam learning rate (default: the task file's)")
    p.add_argument("--beta", type=float, help="steepness of the width map (default: the task file's)")
    p.add_argument("--batch-size", type=int, help="mini-batch size (default: the task file's)")
    p.add_argument("--train-fraction", type=float, help="fraction of samples used for training (default 0.7)")
    p.add_argument("--max-iter", type=int, help="iteration cap of single-load tasks")
    p.add_argument("--split", type=Path, help="JSON file with 'train', 'test' (0-based rows) and optional 'shuffles' to replay a recorded run")
    p.add_argument("--init", help="start from these widths: a `femnn train` output directory or a widths JSON file (retraining, task switch)")
    p.add_argument("--remove-bond", type=int, action="append", default=[], metavar="I", help="remove bond I (network bond order) before training; repeatable (damage)")
    p.add_argument("--resume", action="store_true", help="continue the checkpoint in --out (same settings) to the same result as an uninterrupted run")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--no-plots", action="store_true", help="skip the PNG plots")
    p.add_argument("--forward", choices=["bar", "fem2d", "fem3d", "bar-calibrated"], default="bar", help="physics-aware training: the forward pass in the FEM of the printed part (2D/3D) or in a bar model calibrated to it (docs/pat.md); default bar")
    p.add_argument("--backward", choices=["bar", "fem"], default="bar", help="with --forward fem2d/fem3d: the bar adjoint fed with the FEM's dL/du (default) or the FEM's own dL/ds chained to widths")
    p.add_argument("--param", choices=["box", "sigmoid"], help="with --forward: width parametrisation, projected Adam in width space (box, default) or the sigmoid map")
    p.add_argument("--quick", action="store_true", help="with --forward: coarse FEM meshes")
    p.add_argument("--calibrate-on", choices=["fem2d", "fem3d"], default="fem2d", help="with --forward bar-calibrated: the FEM the stiffness law is fitted to (default fem2d)")


def load_split(path: Path):
    if path is None:
        return None
    if not path.is_file():
        raise InputError(str(path), "", "split file does not exist")
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise InputError(str(path), "", f"not valid JSON ({exc})") from None


def run(args) -> int:
    task = load_task(args.task)
    removed = []
    if args.init:
        task, removed = apply_run_widths(task, args.init)
    task, more = remove_bonds(task, indices=args.remove_bond)
    removed += more
    split = load_split(args.split)
    if split is not None:
        from femnn.train import check_split

        split = check_split(split, task.n_samples, str(args.split))
    cfg = TrainConfig(epochs=args.epochs, learning_rate=args.learning_rate, beta=args.beta, batch_size=args.batch_size,
                      train_fraction=args.train_fraction, max_iter=args.max_iter, seed=args.seed, update=args.update,
                      conventions=args.conventions)
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    if args.forward != "bar":
        import femnn.fem.physical as fp
        from femnn.fem import FemOptions

        res = fp.train_physics_aware(fp.world_comm(), task, cfg, forward=args.forward, backward=args.backward, param=args.param,
                                     opts=FemOptions(quick=args.quick), calibrate_on=args.calibrate_on, split=split,
                                     checkpoint=out / "checkpoint.npz", calibration_file=out / "calibration.json",
                                     resume=args.resume, progress=not args.quiet)
        atomic_write_json(out / "fem_history.json", res.extra["physical"])
    else:
        res = train(task, cfg, split=split, checkpoint=out / "checkpoint.npz", resume=args.resume,
                    progress=not args.quiet)
    write_run(out, res, removed, plots=not args.no_plots)
    last = res.history[-1]
    keys = [k for k in ("loss", "train_accuracy", "test_accuracy", "train_error", "test_error") if last.get(k) is not None]
    print(f"femnn train {task.name}: {len(res.history)} {'iterations' if task.kind == 'single' else 'epochs'} "
          f"in {res.seconds:.2f} s ({res.stopped_by}); " + ", ".join(f"{k} {last[k]:.4g}" for k in keys) + f"; results in {out}")
    return 0


def write_run(out: Path, res, removed, plots=True):
    task = res.task
    net = task.network
    atomic_write_json(out / "history.json", res.history)
    atomic_write_json(out / "widths.json", {
        "task": task.name, "network": net.name, "bonds": net.bonds, "widths_m": res.widths_m,
        "k_N_per_m": res.k_N_per_m, "width_bounds_m": net.width_bounds_m, "removed_bonds": removed,
    })
    if res.split is not None:
        atomic_write_json(out / "split.json", res.split, indent=None)
    trained = net.with_widths(res.widths_m)
    atomic_write_text(out / "network.toml", f"# trained on task {task.name!r} by femnn train\n" + network_to_toml(trained))
    summary = {"task": task.name, "task_file": task.source, "settings": res.settings, "stopped_by": res.stopped_by,
               "epochs": len(res.history), "seconds": res.seconds, "final": res.history[-1] if res.history else None,
               "removed_bonds": removed, "versions": versions(), "fingerprint": res.extra.get("fingerprint")}
    atomic_write_json(out / "summary.json", summary)
    if plots:
        plot_history(res.history, out, title=task.name)
        plot_network(trained, out / "network.png", input_nodes=task.input_nodes, output_nodes=task.output_nodes,
                     title=f"{task.name}: trained widths")
    return out
