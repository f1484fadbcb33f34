"""Physics-aware training: the study table of docs/pat.md and its speed (prints Markdown).

    PYTHONPATH=. .venv/bin/python bench/bench_pat.py study TASK --out DIR [--pat-iters N] [--lr LR]
    PYTHONPATH=. .venv/bin/python bench/bench_pat.py step [--out DIR]
    PYTHONPATH=. .venv/bin/python bench/bench_pat.py table DIR

``study TASK`` (behaviour-mse, behaviour-ce, regression, iris): the task's metric in the bar model,
the 2D FEM and the 3D FEM (quick mesh: the full 3D mesh costs ~3.5 min per width set here) for
(a) the bar-trained widths (geometry/trained/TASK), (b) PAT-trained widths (forward fem2d, quick
mesh, backward the bar adjoint, box parametrisation, fine-tuned from (a)), (c) widths trained in the
bar model calibrated to the 2D FEM (:func:`femnn.fem.physical.calibrate_law`, fine-tuned from (a)
with the same iterations as (b) times 10). Writes DIR/TASK.json.

``step``: one PAT step on the paper network (Iris, 4 inputs, batch 16) in 2D split by phase
(geometry + mesh, assemble, factorise, one solve per input, bar adjoint) against the naive cost of
one FEM solve per sample of the batch and of the data set (same mesh and factorisation).

``table DIR``: the Markdown table from DIR/*.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

import dolfinx_solver  # noqa: F401  (before dolfinx / mpi4py)

ROOT = Path(__file__).resolve().parents[1]
TASKS = {  # PAT schedule per task: iterations (single) or epochs, box learning rate (cut to fit the
    # machine as shared on 2026-11-30: 2 cores at a load of ~13, a 2D quick mesh ~3-5 s instead of 0.5 s)
    "behaviour-mse": dict(epochs=60, lr=0.05),
    "behaviour-ce": dict(epochs=10, lr=0.05),
    "regression": dict(epochs=5, lr=0.01),
    "iris": dict(epochs=5, lr=0.01),
    # Iris with the sharpened loss at τ = 40 (femnn train --temperature 40), from the same bar-trained
    # widths and split as "iris" (geometry/trained/iris): measured 2026-12-01, docs/pat.md
    "iris-sharp": dict(epochs=15, lr=0.02, temperature=40.0, run="iris"),
}


def _split(task, run_dir: Path):
    p = run_dir / "split.json"
    if task.kind == "single":
        return None
    if p.is_file():
        return json.loads(p.read_text())
    from femnn.train import make_split

    return make_split(task.n_samples, 0.7, 0)


def evaluate(comm, task, widths, split, dims=(2, 3)) -> dict:
    """Metrics of ``widths`` in the bar model and in each FEM (quick mesh): all samples, train, test."""
    import femnn.fem as fem
    from femnn.fem.physical import FemForward
    from femnn.train.metrics import task_metrics
    from femnn.train.pat import BarPhysical

    sets = {"all": np.arange(task.n_samples)}
    if split is not None:
        sets.update(train=np.asarray(split["train"]), test=np.asarray(split["test"]))
    models = {"bar": BarPhysical(task)}
    out = {}
    for name, m in models.items():
        U = m(widths, task.X)
        out[name] = {k: task_metrics(task, U[ids], ids) for k, ids in sets.items()}
    for d in dims:
        ff = FemForward(comm, task, d, fem.FemOptions(quick=True))
        t0 = time.perf_counter()
        U = ff(widths, task.X)
        out[f"fem{d}d"] = {k: task_metrics(task, U[ids], ids) for k, ids in sets.items()}
        out[f"fem{d}d"]["seconds"] = time.perf_counter() - t0
        out[f"fem{d}d"]["dofs"] = ff.dofs
        ff.close()
    return out


def study(task_name: str, out: Path, epochs=None, lr=None, dims=(2, 3), dims_c=(2,), adam_eps=None, tag="",
          skip_c=False):
    from mpi4py import MPI

    import femnn.fem as fem
    from femnn.fem.physical import FemForward, calibrate_law, held_out_widths, law_accuracy
    from femnn.network import load_task
    from femnn.report.files import read_widths
    from femnn.train import TrainConfig
    from femnn.train.pat import BarPhysical, train_pat

    comm = MPI.COMM_WORLD
    sched = dict(TASKS[task_name])
    sched.update({k: v for k, v in (("epochs", epochs), ("lr", lr)) if v is not None})
    task = load_task(task_name)
    if "temperature" in sched:
        import dataclasses

        task = dataclasses.replace(task, temperature=float(sched["temperature"]))
    run = ROOT / "geometry" / "trained" / sched.get("run", task_name)
    w_a = read_widths(run)
    task = task.with_network(task.network.with_widths(w_a))
    split = _split(task, run)
    res = {"task": task_name, "schedule": sched, "fem_mesh": "quick", "widths": {}, "metrics": {}, "runs": {}}
    res["widths"]["a_bar_trained"] = w_a.tolist()
    print(f"[{task_name}] (a) evaluating bar-trained widths", file=sys.stderr, flush=True)
    res["metrics"]["a_bar_trained"] = evaluate(comm, task, w_a, split, dims)
    # (b) PAT, forward fem2d
    print(f"[{task_name}] (b) PAT fem2d {sched}", file=sys.stderr, flush=True)
    ff = FemForward(comm, task, 2, fem.FemOptions(quick=True))
    cfg = TrainConfig(epochs=sched["epochs"], learning_rate=sched["lr"], seed=0)
    t0 = time.perf_counter()
    r = train_pat(task, ff, cfg, split=split, param="box", progress=True, adam_eps=adam_eps)
    res["adam_eps"] = adam_eps
    res["runs"]["b_pat"] = {"seconds": time.perf_counter() - t0, "fem": ff.info(), "history": r.history,
                            "final": r.final}
    ff.close()
    res["widths"]["b_pat"] = r.widths_m.tolist()
    res["metrics"]["b_pat"] = evaluate(comm, task, r.widths_m, split, dims)
    if skip_c:
        out.mkdir(parents=True, exist_ok=True)
        from femnn.report.files import atomic_write_json

        atomic_write_json(out / f"{task_name}{tag}.json", res)
        return
    # (c) bar model calibrated to fem2d
    print(f"[{task_name}] (c) calibrating k(w) on fem2d", file=sys.stderr, flush=True)
    opts = fem.FemOptions(quick=True)
    law, cal = calibrate_law(comm, task, 2, opts, n_random=1)
    cal["held_out"] = law_accuracy(comm, task, 2, opts, law, held_out_widths(task.network, w_a, n_random=1))
    cfg_c = TrainConfig(epochs=sched["epochs"] * 10, learning_rate=sched["lr"], seed=0)
    t0 = time.perf_counter()
    rc = train_pat(task, BarPhysical(task, law), cfg_c, split=split, param="box", law=law, cosine=False,
                   adam_eps=adam_eps)
    res["runs"]["c_calibrated"] = {"seconds": time.perf_counter() - t0, "calibration": cal,
                                   "final": rc.final, "history_last": rc.history[-1]}
    res["widths"]["c_calibrated"] = rc.widths_m.tolist()
    res["metrics"]["c_calibrated"] = evaluate(comm, task, rc.widths_m, split, dims_c)
    out.mkdir(parents=True, exist_ok=True)
    from femnn.report.files import atomic_write_json

    atomic_write_json(out / f"{task_name}{tag}.json", res)
    print(table([res]))


def eval3d(path: Path, key: str = "c_calibrated"):
    """fem3d (quick) metrics of the widths ``key`` of a study JSON, written back into it."""
    from mpi4py import MPI

    from femnn.network import load_task
    from femnn.report.files import atomic_write_json

    res = json.loads(path.read_text())
    task = load_task(res["task"])
    split = _split(task, ROOT / "geometry" / "trained" / res["task"])
    w = np.asarray(res["widths"][key])
    res["metrics"][key].update(evaluate(MPI.COMM_WORLD, task, w, split, dims=(3,)))
    atomic_write_json(path, res)
    print(table([res]))


def _metric(task_name, m):
    """(label, value) of the headline metric of one model's metrics."""
    if task_name in ("behaviour-mse",):
        return "target error", m["all"]["error"]
    if task_name == "behaviour-ce":
        return "ratio u_t/u_other", m["all"]["ratio"]
    if task_name == "regression":
        return "test error", m["test"]["error"]
    return "accuracy (all 150)", m["all"]["accuracy"]


def table(results) -> str:
    rows = ["| task | metric | widths | bar | fem2d (quick) | fem3d (quick) |", "|---|---|---|---|---|---|"]
    names = {"a_bar_trained": "(a) bar-trained", "b_pat": "(b) PAT fem2d", "c_calibrated": "(c) bar-calibrated"}
    for r in results:
        for key, label in names.items():
            if key not in r["metrics"]:
                continue
            m = r["metrics"][key]
            if key == "b_pat":
                label += f" ({r['schedule']['epochs']} {'it' if r['task'].startswith('behaviour') else 'ep'}, lr {r['schedule']['lr']}" + \
                    (f", eps {r['adam_eps']:.0e})" if r.get("adam_eps") else ")")
            lab, _ = _metric(r["task"], m["bar"])
            vals = [_metric(r["task"], m[k])[1] if k in m else None for k in ("bar", "fem2d", "fem3d")]
            rows.append(f"| {r['task']} | {lab} | {label} | " + " | ".join("-" if v is None else f"{v:.4f}" for v in vals) + " |")
    return "\n".join(rows)


def step(out: Path | None):
    """One PAT step on Iris (paper network) in 2D, split by phase, vs one solve per sample."""
    from mpi4py import MPI

    import dolfinx

    import femnn.fem as fem
    from femnn.fem.solve import default_hub_tag, make_problem
    from femnn.network import load_task
    from femnn.report.files import read_widths
    from femnn.train import TaskProblem
    from femnn.train.pat import StiffnessLaw, pat_gradient

    comm = MPI.COMM_WORLD
    task = load_task("iris")
    w = read_widths(ROOT / "geometry" / "trained" / "iris")
    task = task.with_network(task.network.with_widths(w))
    prob_bar = TaskProblem(task)
    law = StiffnessLaw.bar(task.network)
    idx = np.arange(16)
    rows = []
    for quick in (True, False):
        opts = fem.FemOptions(quick=quick)
        t0 = time.perf_counter()
        mesh, tags, _ = fem.mesh_task(comm, task, 2, opts)
        t1 = time.perf_counter()
        prob = make_problem(comm, task, mesh, tags, degree=opts.degree, solver=opts.solver)
        t2 = time.perf_counter()
        prob.ksp.setUp()
        t3 = time.perf_counter()
        from femnn.fem.transfer import transfer_from_problem

        tr = transfer_from_problem(comm, task, prob)
        t4 = time.perf_counter()
        u = tr.outputs(task.X[idx])
        pat_gradient(prob_bar, law, w, idx, u)
        t5 = time.perf_counter()
        # naive: one solve per sample (same factorisation), batch and whole data set
        f = dolfinx.fem.Function(prob.V)
        loads = task.loads_N(task.X)
        ts = time.perf_counter()
        for F in loads:
            prob.solve(F, default_hub_tag, out=f)
            prob.hub_means(f, task.network.n_nodes, default_hub_tag)
        per_solve = (time.perf_counter() - ts) / loads.shape[0]
        pat = t5 - t0
        rows.append({"mesh": "quick" if quick else "full", "dofs": prob.dofs, "geometry_mesh_s": t1 - t0,
                     "assemble_s": t2 - t1, "factorize_s": t3 - t2, "solves_s": t4 - t3, "n_solves": tr.n_solves,
                     "bar_adjoint_s": t5 - t4, "pat_step_s": pat, "solve_per_sample_s": per_solve,
                     "naive_batch16_s": (t3 - t0) + 16 * per_solve, "naive_all150_s": (t3 - t0) + 150 * per_solve,
                     "solves_all150_s": 150 * per_solve})
        prob.ksp.destroy()
        prob.A.destroy()
    hdr = ["mesh", "dofs", "geometry_mesh_s", "assemble_s", "factorize_s", "solves_s", "bar_adjoint_s", "pat_step_s",
           "naive_batch16_s", "naive_all150_s"]
    print("| " + " | ".join(hdr) + " |\n|" + "---|" * len(hdr))
    for r in rows:
        print("| " + " | ".join(f"{r[h]:.3g}" if isinstance(r[h], float) else str(r[h]) for h in hdr) + " |")
    if out is not None:
        from femnn.report.files import atomic_write_json

        out.mkdir(parents=True, exist_ok=True)
        atomic_write_json(out / "step.json", rows)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("study")
    s.add_argument("task", choices=sorted(TASKS))
    s.add_argument("--out", type=Path, required=True)
    s.add_argument("--epochs", type=int)
    s.add_argument("--lr", type=float)
    s.add_argument("--dims", default="2,3", help="FEM dimensions evaluated for (a) and (b)")
    s.add_argument("--dims-c", default="2", help="FEM dimensions evaluated for (c)")
    s.add_argument("--adam-eps", type=float, help="Adam's epsilon (default 1.5e-8)")
    s.add_argument("--tag", default="", help="suffix of the output JSON name")
    s.add_argument("--skip-c", action="store_true", help="only (a) and (b)")
    st = sub.add_parser("step")
    st.add_argument("--out", type=Path)
    ev = sub.add_parser("eval3d", help="add fem3d (quick) metrics of (c) to DIR/TASK.json")
    ev.add_argument("json", type=Path)
    tb = sub.add_parser("table")
    tb.add_argument("dir", type=Path)
    a = ap.parse_args(argv)
    if a.cmd == "study":
        study(a.task, a.out, a.epochs, a.lr, tuple(int(d) for d in a.dims.split(",")),
              tuple(int(d) for d in a.dims_c.split(",")), a.adam_eps, a.tag, a.skip_c)
    elif a.cmd == "eval3d":
        eval3d(a.json)
    elif a.cmd == "step":
        step(a.out)
    else:
        print(table([json.loads(p.read_text()) for p in sorted(a.dir.glob("*.json")) if p.name != "step.json"]))


if __name__ == "__main__":
    main()
