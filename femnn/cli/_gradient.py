"""``femnn gradient TASK --json [--widths FILE]``: loss, displacements and ∂L/∂k (exact adjoint)."""

from __future__ import annotations

import json
import sys

import numpy as np

from femnn.network import load_task
from femnn.report.files import _clean
from femnn.train import TaskProblem
from femnn.train.runs import apply_run_widths


def add_args(p):
    p.add_argument("task", help="task name or file")
    p.add_argument("--widths", help="bond widths: JSON list (m, network bond order), a widths JSON file, or a `femnn train` output directory")
    p.add_argument("--json", action="store_true", help="print JSON on stdout (the default output format)")
    p.add_argument("--sample", type=int, action="append", help="data-set tasks: use these sample rows (default all); repeatable")


def gradient_record(task, samples=None) -> dict:
    """Loss (mean over samples), ∂L/∂k, k, and the displacements (first sample) of ``task``'s network."""
    prob = TaskProblem(task)
    k = task.network.stiffness_N_per_m()
    idx = np.arange(task.n_samples) if samples is None else np.asarray(samples)
    ev = prob.evaluate(k, idx, full_u=True)
    dk_dw = task.network.stiffness_per_width()
    rec = {
        "task": task.name, "loss": ev.loss, "bonds": task.network.bonds, "gradient_k": ev.gradient_k,
        "gradient_w": ev.gradient_k * dk_dw, "k": k, "widths_m": task.network.widths_m,
        "u": ev.u[0], "u_out": ev.u_out, "output_dofs": task.output_dofs, "n_samples": int(idx.size),
        "units": {"loss": "dimensionless or m^2 (MSE)", "gradient_k": "loss per N/m", "gradient_w": "loss per m", "k": "N/m", "u": "m"},
    }
    if idx.size > 1:
        rec["u_all"] = ev.u
    return rec


def run(args) -> int:
    task = load_task(args.task)
    if args.widths:
        task, _ = apply_run_widths(task, args.widths)
    if args.sample:
        from femnn.errors import InputError

        bad = [s for s in args.sample if not 0 <= s < task.n_samples]
        if bad:
            raise InputError("--sample", "", f"{bad[0]} is outside 0..{task.n_samples - 1}")
    rec = gradient_record(task, args.sample)
    rec.pop("u_all", None)
    json.dump(_clean(rec), sys.stdout)
    sys.stdout.write("\n")
    return 0
