"""``femnn train TASK --out DIR``: train a network on a task and write its results."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
from pathlib import Path

from femnn.cli._out import prepare_out, recorded_fingerprint
from femnn.errors import InputError, MechanismError
from femnn.network import load_task
from femnn.report.train_run import write_train_run
from femnn.train import TrainConfig, train
from femnn.train.loop import SETTINGS, prepare
from femnn.train.runs import apply_run_widths, lock_directory, remove_bonds

log = logging.getLogger("femnn.train")


def add_args(p):
    p.add_argument("task", help="task name in geometry/ (fig1, behaviour-ce, behaviour-ce-13, behaviour-mse, regression, regression-noisy, iris) or a task file")
    p.add_argument("--out", required=True, type=Path, help="output directory")
    p.add_argument("--seed", type=int, default=0, help="seed of the split and the per-epoch shuffles (default 0)")
    p.add_argument("--epochs", type=int, help="epochs (data sets) or iterations (single-load tasks; without it they stop by the authors' rule)")
    p.add_argument("--update", choices=["exact", "authors"], default="exact", help="exact chain rule (default) or the authors' update (dL/dk fed to the training variable)")
    p.add_argument("--conventions", choices=["femnn", "authors"], default="femnn", help="per-epoch bookkeeping: metrics at the end of the epoch (femnn) or the authors' (mean batch loss, k of the last batch)")
    p.add_argument("--lr", type=float, dest="learning_rate", help="Adam learning rate (default: the task file's)")
    p.add_argument("--beta", type=float, help="steepness of the width map (default: the task file's)")
    p.add_argument("--temperature", type=float, help="ce-ratio-softmax loss (iris-sharp): τ in softmax(τ |u| / Σ|u|); larger is closer to "
                   "the accuracy (a wider margin), smaller is smoother (default: the task file's)")
    p.add_argument("--batch-size", type=int, help="mini-batch size (default: the task file's)")
    p.add_argument("--train-fraction", type=float, help="fraction of samples used for training (default 0.7)")
    p.add_argument("--max-iter", type=int, help="iteration cap of single-load tasks")
    p.add_argument("--split", type=Path, help="JSON file with 'train', 'test' (0-based rows) and optional 'shuffles' to replay a recorded run")
    p.add_argument("--network", help="train this network file instead of the task's own (same nodes and bonds, e.g. "
                   "the calibrated twin of `femnn calibrate`: its effective widths, bounds and material)")
    p.add_argument("--init", help="start from these widths: a `femnn train` output directory or a widths JSON file (retraining, task switch)")
    p.add_argument("--remove-bond", type=int, action="append", default=[], metavar="I", help="remove bond I (network bond order) before training; repeatable (damage)")
    p.add_argument("--resume", action="store_true", help="continue the checkpoint in --out (same settings) to the same result as an uninterrupted run")
    p.add_argument("--force", action="store_true", help="replace an earlier, different run in --out (only once the new run has finished)")
    p.add_argument("--no-plots", action="store_true", help="skip the PNG plots")
    p.add_argument("--forward", choices=["bar", "fem2d", "fem3d", "bar-calibrated", "hyper2d", "hyper3d"], default="bar",
                   help="physics-aware training: the forward pass in the FEM of the printed part (2D/3D), in its hyperelastic "
                        "(large-deformation, Neo-Hookean) FEM, or in a bar model calibrated to it (docs/pat.md); default bar")
    p.add_argument("--backward", choices=["bar", "fem"], default="bar", help="with an FEM forward (fem2d/fem3d, hyper2d/hyper3d): the bar adjoint fed with the FEM's dL/du (default) or the FEM's own dL/ds (hyperelastic: by the tangent adjoint) chained to widths")
    p.add_argument("--param", choices=["box", "sigmoid"], help="with --forward: width parametrisation, projected Adam in width space (box, default) or the sigmoid map")
    p.add_argument("--quick", action="store_true", help="with --forward: coarse FEM meshes")
    p.add_argument("--solver", choices=["lu", "cg"], default="lu",
                   help="with an FEM forward: its linear solves and Newton steps by MUMPS LU (default) or by CG with the "
                        "p-multigrid (large 3D parts: a fraction of LU's memory)")
    p.add_argument("--calibrate-on", choices=["fem2d", "fem3d"], default="fem2d", help="with --forward bar-calibrated: the FEM the stiffness law is fitted to (default fem2d)")


def load_split(path: Path):
    if path is None:
        return None
    if not path.is_file():
        raise InputError(str(path), "", "split file does not exist")
    try:
        return json.loads(path.read_text())
    except UnicodeDecodeError:
        raise InputError(str(path), "", "not a text (JSON) file") from None
    except json.JSONDecodeError as exc:
        raise InputError(str(path), "", f"not valid JSON ({exc})") from None


# TrainConfig field -> the option that sets it (library errors name the field, the CLI its option)
OPTIONS = {"learning_rate": "--lr", "beta": "--beta", "batch_size": "--batch-size", "train_fraction": "--train-fraction",
           "epochs": "--epochs", "max_iter": "--max-iter", "seed": "--seed", "update": "--update",
           "conventions": "--conventions"}


def as_option_error(exc: InputError) -> InputError:
    """An error about a TrainConfig value, re-addressed to the CLI option that set it."""
    if exc.source == SETTINGS:
        return InputError(OPTIONS.get(exc.field, exc.field), "", exc.problem)
    return exc


def with_temperature(task, temperature):
    """The task with its ce-ratio-softmax temperature replaced (``--temperature``), refused for other losses."""
    import dataclasses
    import math

    if temperature is None:
        return task
    if task.loss != "ce-ratio-softmax":
        raise InputError("--temperature", "", f"the task {task.name!r} trains with the {task.loss!r} loss, which has no temperature; "
                         "use it with a ce-ratio-softmax task (e.g. iris-sharp) or leave it out")
    if not (math.isfinite(temperature) and temperature > 0):
        raise InputError("--temperature", "", f"must be a positive number, got {temperature}")
    return dataclasses.replace(task, temperature=float(temperature))


def refuse_mechanism(task, removed) -> None:
    """Refuse a network with zero modes before any work, naming what made it (the file or --remove-bond/--init)."""
    from femnn.bars import BarModel

    try:
        n_modes, free = BarModel(task.network).zero_modes()
    except MechanismError as exc:
        n_modes, free = exc.n_modes, exc.free_nodes
    if n_modes:
        shown = ", ".join(map(str, free[:20])) + (" ..." if len(free) > 20 else "")
        if removed:
            raise InputError("--remove-bond/--init", "", f"removing bonds {removed} makes the network a mechanism: {n_modes} zero mode(s) (nodes that move "
                             f"freely: [{shown}]); keep those bonds")
        raise InputError(task.network.source, "lattice", f"the network is a mechanism: {n_modes} zero mode(s) (nodes that move "
                         f"freely: [{shown}]); add bonds or fixed nodes")


def same_layout_network(task, path):
    """The network file ``path`` for ``task``: refused (naming --network) unless it has the task's nodes and
    the same bonds (as node pairs, any order: its bond order is then used)."""
    import numpy as np

    from femnn.errors import InputError
    from femnn.network import load_network

    net = load_network(path)
    ref = task.network
    if net.nodes_m.shape != ref.nodes_m.shape or not np.allclose(net.nodes_m, ref.nodes_m, rtol=1e-9, atol=1e-12):
        raise InputError("--network", str(path), f"its {net.n_nodes} nodes are not the task's network's "
                         f"({ref.n_nodes} nodes of {ref.name!r}); give a network of the same layout")
    pairs = lambda b: {tuple(sorted(map(int, e))) for e in b}  # noqa: E731
    if pairs(net.bonds) != pairs(ref.bonds) or not np.array_equal(np.sort(net.fixed), np.sort(ref.fixed)):
        raise InputError("--network", str(path), "its bonds or fixed nodes differ from the task's network; give a "
                         "network of the same layout (e.g. the network.toml that `femnn calibrate` wrote)")
    return net


def parallel_comm():
    """MPI.COMM_WORLD when started by mpiexec/srun with more than one process, else None (one process
    never imports mpi4py: the bar model stays MPI-free). Under MPI every rank runs the same training
    (the FEM forward is collective); rank 0 alone locks --out, writes the checkpoint and the results."""
    size = next((os.environ[k] for k in ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "SLURM_NTASKS") if k in os.environ), "1")
    if not size.isdigit() or int(size) <= 1:
        return None
    import dolfinx_solver  # noqa: F401  (before mpi4py)
    from mpi4py import MPI

    return MPI.COMM_WORLD if MPI.COMM_WORLD.size > 1 else None


@contextlib.contextmanager
def root_lock(comm, out: Path):
    """:func:`lock_directory` on ``out`` held by rank 0; every rank raises rank 0's refusal (no rank is
    left waiting in a collective for one that stopped)."""
    if comm is None:
        with lock_directory(out, "--out"):
            yield
        return
    held, err = None, None
    if comm.rank == 0:
        held = lock_directory(out, "--out")
        try:
            held.__enter__()
        except InputError as exc:
            held, err = None, exc
    err = comm.bcast(err, root=0)
    if err is not None:
        raise err
    try:
        yield
    finally:
        if held is not None:
            held.__exit__(None, None, None)


def run(args) -> int:
    comm = parallel_comm()
    root = comm is None or comm.rank == 0
    if not root:
        logging.getLogger("femnn").setLevel(logging.ERROR)   # one voice: rank 0
    out: Path = prepare_out(args.out, "--out", args.force)          # a file or unwritable place costs nothing
    task = with_temperature(load_task(args.task), args.temperature)
    if args.network:
        task = task.with_network(same_layout_network(task, args.network))
    removed = []
    if args.init:
        task, removed = apply_run_widths(task, args.init)
    task, more = remove_bonds(task, indices=args.remove_bond)
    removed += more
    refuse_mechanism(task, removed)
    split = load_split(args.split)
    if split is not None:
        from femnn.train import check_split

        split = check_split(split, task.n_samples, str(args.split))
    cfg = TrainConfig(epochs=args.epochs, learning_rate=args.learning_rate, beta=args.beta, batch_size=args.batch_size,
                      train_fraction=args.train_fraction, max_iter=args.max_iter, seed=args.seed, update=args.update,
                      conventions=args.conventions)
    try:
        _, _, fp = prepare(task, cfg, split=split)
    except InputError as exc:
        raise as_option_error(exc) from None
    prepare_out(out, "--out", args.force, marker="summary.json", fingerprint=fp, what="a train run")
    created = not out.exists()
    if comm is not None:
        comm.Barrier()       # every rank has seen whether --out existed before rank 0 makes it
    if root:
        out.mkdir(parents=True, exist_ok=True)
    try:
        with root_lock(comm, out):
            # again under the lock: another run may have finished in --out meanwhile
            prepare_out(out, "--out", args.force, marker="summary.json", fingerprint=fp, what="a train run")
            # replacing a different run (--force): its checkpoint stays too until the new run has finished
            replacing = (out / "summary.json").exists() and recorded_fingerprint(out / "summary.json") != fp
            ck = out / (f".checkpoint-{fp}.npz" if replacing else "checkpoint.npz")
            try:
                if args.forward != "bar":
                    import femnn.fem.physical as fphys
                    from femnn.fem import FemOptions

                    res = fphys.train_physics_aware(comm or fphys.world_comm(), task, cfg, forward=args.forward,
                                                    backward=args.backward, param=args.param,
                                                    opts=FemOptions(quick=args.quick, solver=args.solver),
                                                    calibrate_on=args.calibrate_on,
                                                    split=split, checkpoint=ck,
                                                    calibration_file=out / "calibration.json", resume=args.resume,
                                                    progress=root and not args.quiet)
                elif root:       # the bar model is serial: under MPI rank 0 trains, the others wait
                    res = train(task, cfg, split=split, checkpoint=ck, resume=args.resume,
                                progress=not args.quiet)
            except InputError as exc:
                raise as_option_error(exc) from None
            if root:
                write_train_run(out, res, removed, plots=not args.no_plots)
                if ck.name != "checkpoint.npz":
                    os.replace(ck, out / "checkpoint.npz")
            if comm is not None:
                comm.Barrier()
            if not root:
                return 0
    except (InputError, MechanismError):
        if created and root:   # nothing of value was made: leave no directory behind
            shutil.rmtree(out, ignore_errors=True)
        raise
    last = res.history[-1]
    keys = [k for k in ("loss", "train_accuracy", "test_accuracy", "train_error", "test_error") if last.get(k) is not None]
    log.info(f"{task.name}: {len(res.history)} {'iterations' if task.kind == 'single' else 'epochs'} "
             f"in {res.seconds:.2f} s ({res.stopped_by}); " + ", ".join(f"{k} {last[k]:.4g}" for k in keys) + f"; results in {out}")
    return 0

