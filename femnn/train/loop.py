"""Training loops: full-batch iterations for single-load tasks, seeded mini-batch epochs for data sets.

Single-load tasks (Fig. 1, behaviour learning): one epoch is one iteration. Without an explicit
iteration count they stop by the authors' rule, checked after iteration t's update:
``k_error(t) = |k_t - k_{t-1}| / |k_{t-1}|`` (k_t = the k used in iteration t) ``<= k_tol`` for t > 1,
or (MSE) the output error ``|u - y| / |y| <= u_tol``, or t = max_iter. Each history record's
``loss`` is evaluated with the k of that iteration, before its update.

Data-set tasks (regression, Iris): a seeded 70/30 split, a seeded shuffle per epoch
(``default_rng([seed, epoch])``, so a resumed run sees the same batches), mini-batches whose
gradient is the mean over the batch. Per-epoch metrics are evaluated at the end of the epoch
(``conventions="femnn"``) or, to replay the authors' runs, with the k of the epoch's last batch
before its update and a loss equal to the mean of batch losses Σ l_s / batch_size
(``conventions="authors"``).

A checkpoint (``checkpoint.npz``, written atomically) is kept every epoch (every 200 iterations
for single-load tasks); ``resume=True`` continues it to the same result as an uninterrupted run.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import sys
import tempfile
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from femnn.errors import InputError
from femnn.network import Task
from femnn.train.optim import Adam, WidthMap
from femnn.train.losses import predict, relative_error
from femnn.train.problem import TaskProblem


@dataclass(frozen=True)
class TrainConfig:
    """Hyper-parameters; ``None`` means "the task file's value" (see ``TRAINING_DEFAULTS``)."""

    epochs: int | None = None
    learning_rate: float | None = None
    beta: float | None = None
    batch_size: int | None = None
    train_fraction: float | None = None
    max_iter: int | None = None
    seed: int = 0
    update: str = "exact"          # "exact" chain rule, or "authors" (∂L/∂k fed to θ)
    conventions: str = "femnn"     # or "authors" (their per-epoch loss/metric bookkeeping)

    def resolved(self, task: Task) -> dict:
        """The task file's hyper-parameters overridden by the ones set here, each checked.

        A bad value set here raises :class:`InputError` with source :data:`SETTINGS` and the field
        name (the CLI maps it to its option); a bad value of the task raises it naming the task file.
        """
        from femnn.network._io import TRAINING_CHECKS
        from femnn.network._reader import check_number

        tr = dict(task.training)
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            if v is not None:
                tr[f.name] = v
        for key in ("update", "conventions"):
            allowed = ("exact", "authors") if key == "update" else ("femnn", "authors")
            if tr[key] not in allowed:
                raise InputError(SETTINGS, key, f"{tr[key]!r}; expected one of {list(allowed)}")
        for key, checks in TRAINING_CHECKS.items():
            mine = getattr(self, key, None) is not None
            src, fld = (SETTINGS, key) if mine else (task.source, f"training.{key}")
            tr[key] = check_number(tr[key], src, fld, **checks)
        tr["seed"] = check_number(tr["seed"], SETTINGS, "seed", lo=0, integer=True)
        if task.kind != "single":
            n_train = int(round(tr["train_fraction"] * task.n_samples))
            if n_train < 1:
                src, fld = (SETTINGS, "train_fraction") if self.train_fraction is not None else (task.source, "training.train_fraction")
                raise InputError(src, fld, f"{tr['train_fraction']!r} of {task.n_samples} samples leaves no training sample; "
                                 f"give at least {1 / task.n_samples:.3g}")
        return tr


# source of InputErrors about TrainConfig values (the CLI names its option instead)
SETTINGS = "training settings"


@dataclass(frozen=True)
class TrainResult:
    """Final widths (m) and spring constants (N/m), per-epoch history, split and resolved settings.

    ``fingerprint``: the hash of task, settings and start that ``--resume`` and ``--force`` compare;
    ``final``: physics-aware training's metrics at the final widths (physical and bar model);
    ``physical``: its forward model's record (FEM sizes, phase timings; written as fem_history.json)."""

    task: Task
    widths_m: np.ndarray
    k_N_per_m: np.ndarray
    history: list
    settings: dict
    split: dict | None = None
    stopped_by: str = "epochs"
    seconds: float = 0.0
    fingerprint: str | None = None
    final: dict | None = None
    physical: dict | None = None

    def __post_init__(self):
        for name in ("widths_m", "k_N_per_m"):
            a = np.array(getattr(self, name), dtype=float)
            a.flags.writeable = False
            object.__setattr__(self, name, a)


class Progress:
    """A minimal progress bar on stderr (silent when disabled).

    On a terminal it redraws one line with carriage returns (at most 5 times a second); when stderr
    is a file or a pipe it writes whole lines instead, at most one every 10 % of the work or 30 s.
    """

    def __init__(self, total: int, label: str, enabled: bool = True, stream=None):
        self.total, self.label, self.enabled = total, label, enabled
        self.stream = stream or sys.stderr
        try:
            self.tty = bool(self.stream.isatty())
        except (AttributeError, ValueError):
            self.tty = False
        self._last = 0.0
        self._last_frac = -1.0
        self._t0 = time.perf_counter()
        self._drawn = False

    def update(self, i: int, text: str = "", force: bool = False):
        if not self.enabled:
            return
        now = time.perf_counter()
        frac = min(i / max(self.total, 1), 1.0)
        if self.tty:
            if not force and now - self._last < 0.2:
                return
            bar = "#" * int(30 * frac) + "-" * (30 - int(30 * frac))
            self.stream.write(f"\r{self.label} [{bar}] {i}/{self.total} {text} ({now - self._t0:.1f} s)")
            self._drawn = True
        else:
            if not force and frac - self._last_frac < 0.1 and now - self._last < 30 and frac < 1.0:
                return
            if frac == self._last_frac:
                return
            self._last_frac = frac
            self.stream.write(f"{self.label}: {i}/{self.total} {text} ({now - self._t0:.1f} s)\n")
        self._last = now
        self.stream.flush()

    def close(self):
        if self.enabled and self.tty and self._drawn:
            self.stream.write("\n")
            self.stream.flush()


def make_split(n: int, train_fraction: float, seed: int) -> dict:
    """Seeded random split: the first round(f n) of a permutation train, the rest test."""
    perm = np.random.default_rng(seed).permutation(n)
    n_train = int(round(train_fraction * n))
    return {"train": perm[:n_train].tolist(), "test": perm[n_train:].tolist()}


def check_split(split: dict, n_samples: int, src: str = "--split") -> dict:
    """Validate a replay split: ``train``/``test`` 0-based rows, optional per-epoch ``shuffles``."""
    if not isinstance(split, dict) or "train" not in split or "test" not in split:
        raise InputError(src, "", "must be a JSON object with 'train' and 'test' lists of 0-based row indices")
    out = {}
    for key in ("train", "test"):
        v = split[key]
        if not isinstance(v, list) or not all(isinstance(i, int) and not isinstance(i, bool) for i in v):
            raise InputError(src, key, "must be a list of integer row indices")
        bad = [i for i in v if not 0 <= i < n_samples]
        if bad:
            raise InputError(src, key, f"row {bad[0]} is outside the data set (0..{n_samples - 1})")
        if len(set(v)) != len(v):
            raise InputError(src, key, "lists a row twice")
        out[key] = list(v)
    if not out["train"]:
        raise InputError(src, "train", "is empty")
    if "shuffles" in split:
        sh = split["shuffles"]
        n_tr = len(out["train"])
        if not isinstance(sh, list):
            raise InputError(src, "shuffles", "must be a list (one list per epoch)")
        for e, order in enumerate(sh):
            if not isinstance(order, list) or sorted(order) != list(range(n_tr)):
                raise InputError(src, f"shuffles[{e}]", f"must be a permutation of 0..{n_tr - 1} (positions in 'train')")
        out["shuffles"] = [list(o) for o in sh]
    return out


def _fingerprint(task: Task, settings: dict, init_widths, split) -> str:
    h = hashlib.sha256()
    h.update(task.network.nodes_m.tobytes() + task.network.bonds.tobytes() + task.network.widths_m.tobytes())
    h.update(task.X.tobytes() + np.asarray(task.Y).tobytes() + task.output_dofs.tobytes() + task.input_dofs.tobytes())
    h.update(task.loss.encode())
    # the loss's own parameter (a run resumed with another temperature or weight is another run)
    param = {"mse": task.loss_weight, "ce-ratio-softmax": task.temperature, "ce-softmax": task.softmax_scale_per_m}.get(task.loss)
    h.update(b"" if param is None else repr(float(param)).encode())
    h.update(json.dumps(settings, sort_keys=True, default=str).encode())
    h.update(b"" if init_widths is None else np.asarray(init_widths, float).tobytes())
    h.update(json.dumps(split, sort_keys=True).encode() if split else b"")
    return h.hexdigest()[:16]


def _save_checkpoint(path: Path, **arrays):
    """Atomic: a uniquely named temporary file in the same directory, then rename."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            np.savez(fh, **arrays)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def remove_stale_checkpoint_temps(path: Path) -> None:
    """Drop temporary files of :func:`_save_checkpoint` that a run killed mid-write left beside ``path``
    (called when a run starts; the CLI holds the directory's lock, so no live writer owns them)."""
    for tmp in path.parent.glob(f".{path.name}.*.tmp"):
        tmp.unlink(missing_ok=True)


_CHECKPOINT_KEYS = ("theta", "history", "epoch", "k_prev", "fingerprint", "finished", "adam_m", "adam_v", "adam_t")


_PAT_CHECKPOINT_KEYS = ("var", "history", "epoch", "fingerprint", "adam_m", "adam_v", "adam_t")


def load_checkpoint(path: Path, fingerprint: str, n_bonds: int, *, var_key: str = "theta",
                    keys: tuple = _CHECKPOINT_KEYS) -> dict:
    """Read and validate a checkpoint: readable, complete, this run's fingerprint, right shapes, finite.
    ``var_key``/``keys``: the training variable and the keys of this kind of run (``train``: theta;
    ``train_pat``: var, :data:`_PAT_CHECKPOINT_KEYS`)."""
    src = str(path)
    bad = "is truncated or not a femnn checkpoint; delete it (or drop --resume) to start afresh"
    try:
        with np.load(path, allow_pickle=False) as ck:
            missing = [k for k in keys if k not in ck.files]
            if missing:
                raise InputError(src, missing[0], f"missing: the file {bad}")
            data = {k: np.array(ck[k]) for k in keys}
    except InputError:
        raise
    except (zipfile.BadZipFile, OSError, ValueError, EOFError, KeyError) as exc:
        raise InputError(src, "", f"{bad} ({type(exc).__name__})") from None
    if str(data["fingerprint"]) != fingerprint:
        raise InputError(src, "fingerprint", "belongs to a different task or settings; drop --resume or use a new --out")
    for key, shape in ((var_key, (n_bonds,)), ("adam_m", (n_bonds,)), ("adam_v", (n_bonds,)), ("adam_t", ()), ("epoch", ())):
        arr = data[key]
        if arr.shape != shape or arr.dtype.kind not in "fiu":
            raise InputError(src, key, f"has shape {list(arr.shape)} ({arr.dtype}), expected {list(shape)} numbers: the file {bad}")
        if not np.all(np.isfinite(arr)):
            raise InputError(src, key, f"holds NaN/inf: the file {bad}")
    if "k_prev" in data and (data["k_prev"].size not in (0, n_bonds) or not np.all(np.isfinite(data["k_prev"]))):
        raise InputError(src, "k_prev", f"wrong size or not finite: the file {bad}")
    if np.any(data["adam_v"] < 0) or int(data["adam_t"]) < 0 or int(data["epoch"]) < 0:
        raise InputError(src, "adam_v", f"negative values: the file {bad}")
    try:
        history = json.loads(str(data["history"]))
    except json.JSONDecodeError:
        history = None
    if not isinstance(history, list) or len(history) != int(data["epoch"]):
        raise InputError(src, "history", f"does not match its epoch count: the file {bad}")
    data["history"] = history
    return data


def prepare(task: Task, config: "TrainConfig", init_widths_m=None, split: dict | None = None):
    """(settings, split, fingerprint) of a run, all checked, before any work."""
    st = config.resolved(task)
    if init_widths_m is not None:
        w = np.asarray(init_widths_m, dtype=float)
        if w.shape != (task.network.n_bonds,) or not np.all(np.isfinite(w)):
            raise InputError(SETTINGS, "init_widths_m", f"needs {task.network.n_bonds} finite widths, got shape {list(w.shape)}")
    if task.kind != "single":
        split = check_split(split, task.n_samples) if split is not None else make_split(task.n_samples, st["train_fraction"], st["seed"])
    return st, split, _fingerprint(task, st, init_widths_m, split)


def run_fingerprint(task: Task, config: "TrainConfig" = None, init_widths_m=None, split: dict | None = None) -> str:
    """The fingerprint a run of ``train(task, config, ...)`` records (``summary.json``, checkpoint)."""
    return prepare(task, config or TrainConfig(), init_widths_m, split)[2]


def train(task: Task, config: TrainConfig = TrainConfig(), *, init_widths_m=None, split: dict | None = None,
          checkpoint: Path | None = None, resume: bool = False, progress: bool = False,
          problem: TaskProblem | None = None) -> TrainResult:
    """Train ``task``'s network (bar model, exact adjoint gradients, Adam on bounded widths).

    Parameters
    ----------
    init_widths_m : (n_bonds,) float64, optional
        Starting widths (retraining); default the network file's widths.
    split : dict, optional
        Replay split (see :func:`check_split`); default a seeded random split.
    checkpoint : Path, optional
        File to checkpoint to every epoch; with ``resume`` it is continued if it matches this run.
    """
    st, split, fp = prepare(task, config, init_widths_m, split)
    prob = problem or TaskProblem(task)
    wm = WidthMap(task.network, st["beta"])
    adam = Adam(task.network.n_bonds, st["learning_rate"])
    w0 = task.network.widths_m if init_widths_m is None else np.asarray(init_widths_m, float)
    state = _start(wm.theta(w0), adam, task, fp, checkpoint, resume)
    t0 = time.perf_counter()

    def save(epoch, finished=False):
        if checkpoint is not None:
            _save_checkpoint(Path(checkpoint), theta=state.theta, history=json.dumps(state.history), epoch=epoch,
                             k_prev=np.array([]) if state.k_prev is None else state.k_prev, fingerprint=fp,
                             finished=finished, **adam.state())

    if task.kind == "single":
        stopped_by = _train_single(task, config, st, prob, wm, adam, state, save, progress)
    else:
        stopped_by = "epochs"
        _train_epochs(task, st, split, prob, wm, adam, state, save, progress)
    widths = wm.widths(state.theta)
    if not np.all(np.isfinite(widths)):
        raise InputError(SETTINGS, "learning_rate", f"{st['learning_rate']!r}: training diverged (non-finite widths); "
                         "lower the learning rate or beta")
    return TrainResult(task, widths, task.network.stiffness_N_per_m(widths), state.history, st, split, stopped_by,
                       time.perf_counter() - t0, fingerprint=fp)


@dataclass
class _State:
    """What training carries from step to step (and a checkpoint holds): the training variable θ, the
    history so far, the previous spring constants (the authors' k-rule) and the first step to run (None:
    the checkpointed run had finished)."""

    theta: np.ndarray
    history: list
    k_prev: np.ndarray | None = None
    start: int | None = 1


def _checked(theta, st: dict) -> np.ndarray:
    """θ after a step, refused (one line naming the setting) as soon as it stops being finite."""
    if not np.all(np.isfinite(theta)):
        raise InputError(SETTINGS, "learning_rate", f"{st['learning_rate']!r} with beta {st['beta']!r}: training "
                         "diverged (non-finite widths); lower the learning rate or beta")
    return theta


def _start(theta, adam, task: Task, fp: str, checkpoint, resume: bool) -> _State:
    """A fresh state at ``theta``, or the checkpoint's when resuming a run with the same fingerprint."""
    if checkpoint is not None:
        remove_stale_checkpoint_temps(Path(checkpoint))
    state = _State(theta, [])
    if checkpoint is not None and resume and Path(checkpoint).exists():
        ck = load_checkpoint(Path(checkpoint), fp, task.network.n_bonds)
        adam.load(ck)
        state = _State(np.array(ck["theta"], dtype=float), ck["history"], np.array(ck["k_prev"]) if ck["k_prev"].size else None,
                       None if bool(ck["finished"]) else int(ck["epoch"]) + 1)
    return state


def _train_single(task: Task, config: TrainConfig, st: dict, prob, wm, adam, state: _State, save, progress) -> str:
    """A single-load task: one iteration per step; without ``config.epochs`` the authors' stopping rule
    (relative change of k at most ``k_tol``, output error at most ``u_tol`` for MSE, or ``max_iter``)."""
    exact = st["update"] == "exact"
    stopped_by = "epochs"
    explicit = config.epochs is not None
    n_iter = int(config.epochs) if explicit else int(st["max_iter"])
    bar = Progress(n_iter, f"train {task.name}", progress)
    is_mse = task.loss == "mse"
    it = state.start or n_iter + 1
    while it <= n_iter:
        k = wm.k(state.theta)
        ev = prob.evaluate(k)
        rec = {"epoch": it, "loss": ev.loss, "u_out": ev.u_out[0].tolist()}
        if is_mse:
            rec["train_error"] = relative_error(ev.u_out, task.Y)
        else:
            rec["train_accuracy"] = float(predict(ev.u_out)[0] == task.Y[0])
        g = ev.gradient_k * wm.dk_dtheta(state.theta) if exact else ev.gradient_k
        state.theta = _checked(adam.step(state.theta, g), st)
        k_err = float(np.linalg.norm(k - state.k_prev) / np.linalg.norm(state.k_prev)) if state.k_prev is not None else None
        rec["k_error"] = k_err
        state.history.append(rec)
        state.k_prev = k
        bar.update(it, f"loss {ev.loss:.4g}")
        if not explicit:
            if it > 1 and k_err <= st["k_tol"]:
                stopped_by = "k_tol"
            elif is_mse and st["u_tol"] > 0 and rec["train_error"] <= st["u_tol"]:
                stopped_by = "u_tol"
            elif it == n_iter:
                stopped_by = "max_iter"
        if stopped_by != "epochs" or it == n_iter:
            break
        if it % 200 == 0:
            save(it)
        it += 1
    bar.close()
    if state.start is not None:
        save(len(state.history), finished=True)
    elif state.history:
        stopped_by = state.history[-1].get("stopped_by", stopped_by)
    if state.history:
        state.history[-1]["stopped_by"] = stopped_by
    return stopped_by


def _train_epochs(task: Task, st: dict, split: dict, prob, wm, adam, state: _State, save, progress) -> None:
    """A data-set task: shuffled mini-batches per epoch (or the split's replayed shuffles), then the
    epoch's record on the training and test samples (authors' or femnn's bookkeeping)."""
    exact = st["update"] == "exact"
    tr = np.asarray(split["train"], dtype=np.int64)
    te = np.asarray(split["test"], dtype=np.int64)
    both = np.concatenate([tr, te])
    n_epochs = int(st["epochs"])
    shuffles = split.get("shuffles")
    if shuffles is not None and len(shuffles) < n_epochs:
        raise InputError("--split", "shuffles", f"{len(shuffles)} epochs of shuffles for {n_epochs} epochs; give one list per epoch or fewer --epochs")
    B = int(st["batch_size"])
    authors = st["conventions"] == "authors"
    bar = Progress(n_epochs, f"train {task.name}", progress)
    for epoch in range(state.start or n_epochs + 1, n_epochs + 1):
        order = np.asarray(shuffles[epoch - 1]) if shuffles is not None else np.random.default_rng([st["seed"], epoch]).permutation(tr.size)
        batch_losses = []
        k_last = None
        for b0 in range(0, tr.size, B):
            idx = tr[order[b0:b0 + B]]
            k_last = wm.k(state.theta)
            ev = prob.evaluate(k_last, idx)
            batch_losses.append(float(ev.losses.sum() / B))
            g = ev.gradient_k * wm.dk_dtheta(state.theta) if exact else ev.gradient_k
            state.theta = _checked(adam.step(state.theta, g), st)
        k_eval = k_last if authors else wm.k(state.theta)
        ev = prob.evaluate(k_eval, both, gradient=False)
        n_tr = tr.size
        rec = {"epoch": epoch,
               "loss": float(np.mean(batch_losses)) if authors else float(ev.losses[:n_tr].mean()),
               "test_loss": float(ev.losses[n_tr:].mean()) if te.size else None,
               "batch_loss_mean": float(np.mean(batch_losses))}
        if task.is_classification:
            pred = predict(ev.u_out)
            rec["train_accuracy"] = float(np.mean(pred[:n_tr] == task.Y[tr]))
            rec["test_accuracy"] = float(np.mean(pred[n_tr:] == task.Y[te])) if te.size else None
        else:
            rec["train_error"] = relative_error(ev.u_out[:n_tr], task.Y[tr])
            rec["test_error"] = relative_error(ev.u_out[n_tr:], task.Y[te]) if te.size else None
        state.history.append(rec)
        save(epoch, finished=epoch == n_epochs)
        txt = f"loss {rec['loss']:.4g}" + (f" acc {rec['test_accuracy']:.3f}" if task.is_classification and te.size else "")
        bar.update(epoch, txt, force=epoch == n_epochs)
    bar.close()
