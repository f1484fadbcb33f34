"""Physics-aware training (PAT; Wright et al., Nature 2022) for mechanical networks.

The forward pass runs the *physical* system: the FEM of the printed part (:mod:`femnn.fem.physical`),
a lab measurement, or any callable. The backward pass runs the bar model's exact adjoint at the SAME
widths and inputs, fed with the loss gradient at the *physical* outputs (the PAT estimator):

    u_phys = f_phys(w, X),   G = ∂L/∂u_out (u_phys),   D(k(w)) u_adj = -Oᵀ G,
    ĝ_k = Σ_s e_adj,s ∘ e_s  (bar elongations, Factorization.gradient_free),   ĝ_w = ĝ_k ∘ dk/dw.

When the bar model is the physical system this is the exact gradient (tests/train/test_pat.py, to
1e-10); when it is not, the loss value and ∂L/∂u still come from the physical system, so training
follows the physical loss and the digital model only supplies the Jacobian.

Public API for lab callables: ``physical(widths_m, X) -> u_out`` with widths (n_bonds,) m, inputs
X (n_samples, n_inputs) and outputs (n_samples, n_outputs) m. It may also offer
``physical.exact_gradient_w(widths_m, X, G, law) -> (n_bonds,)``, the physical ∂L/∂w for output
gradients G (n_samples, n_outputs) of L = Σ_s G_s·u_s (the FEM does): then every epoch records the
cosine between the PAT estimator and it, and ``backward="physical"`` trains on it instead.

Stiffness law. The bar model maps widths to spring constants by ``k_i(w) = a_i + b_i w_i``
(:class:`StiffnessLaw`): the plain law a = 0, b = E t / L, or one calibrated to the FEM
(:func:`femnn.fem.physical.calibrate_law`).

Width parametrisations (``param``):

* ``"sigmoid"``: w = w_L + (w_U - w_L) σ(β θ) with Adam on θ (as ``femnn train``). At a bound
  σ(1-σ) → 0, so a bar-trained width sitting at its bound barely moves under fine-tuning.
* ``"box"``: projected Adam in width space: z = (w - w_L)/(w_U - w_L) ∈ [0, 1], Adam on
  ∂L/∂z = (w_U - w_L) ∂L/∂w, then z clipped to [0, 1]. A width at its bound leaves it at full step
  size as soon as the gradient points inward; the learning rate is a fraction of the width range.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
from scipy.special import expit

from femnn.errors import InputError
from femnn.network import Network, Task
from femnn.train.loop import (_PAT_CHECKPOINT_KEYS, Progress, TrainConfig, TrainResult, _fingerprint, _save_checkpoint,
                              check_split, load_checkpoint, make_split, remove_stale_checkpoint_temps)
from femnn.train.losses import loss_and_grad
from femnn.train.metrics import task_metrics
from femnn.train.optim import Adam
from femnn.train.problem import TaskProblem


@dataclass(frozen=True)
class StiffnessLaw:
    """Per-bond spring constant as a function of the bond's width: k_i(w) = a_i + b_i w_i.

    offset_N_per_m : (n_bonds,) a;  slope_N_per_m2 : (n_bonds,) b = dk_i/dw_i;  source : where it came from.
    """

    offset_N_per_m: np.ndarray
    slope_N_per_m2: np.ndarray
    source: str = "bar"

    def __post_init__(self):
        for name in ("offset_N_per_m", "slope_N_per_m2"):
            a = np.array(getattr(self, name), dtype=float).reshape(-1)
            a.flags.writeable = False
            object.__setattr__(self, name, a)

    @classmethod
    def bar(cls, network: Network) -> "StiffnessLaw":
        """The bar model's own law k = (E t / L) w."""
        return cls(np.zeros(network.n_bonds), network.stiffness_per_width(), "bar")

    def k(self, widths_m) -> np.ndarray:
        return self.offset_N_per_m + self.slope_N_per_m2 * np.asarray(widths_m, dtype=float)

    def dk_dw(self, widths_m=None) -> np.ndarray:
        return np.array(self.slope_N_per_m2)

    def as_dict(self) -> dict:
        return {"source": self.source, "offset_N_per_m": self.offset_N_per_m.tolist(),
                "slope_N_per_m2": self.slope_N_per_m2.tolist()}

    @classmethod
    def from_dict(cls, d: dict) -> "StiffnessLaw":
        return cls(d["offset_N_per_m"], d["slope_N_per_m2"], d.get("source", "file"))


class SigmoidParam:
    """w = w_L + (w_U - w_L) σ(β θ); the training variable is θ (see module docstring)."""

    name = "sigmoid"

    def __init__(self, network: Network, beta: float):
        self.lo, self.hi = (float(v) for v in network.width_bounds_m)
        self.beta = float(beta)

    def to_var(self, widths_m):
        r = np.clip((np.asarray(widths_m, float) - self.lo) / (self.hi - self.lo), 1e-12, 1 - 1e-12)
        return np.log(r / (1 - r)) / self.beta

    def widths(self, theta):
        return self.lo + (self.hi - self.lo) * expit(self.beta * theta)

    def step(self, adam: Adam, theta, g_w):
        s = expit(self.beta * theta)
        return adam.step(theta, g_w * (self.hi - self.lo) * self.beta * s * (1 - s))


class BoxParam:
    """z = (w - w_L)/(w_U - w_L) ∈ [0, 1]; projected Adam (see module docstring)."""

    name = "box"

    def __init__(self, network: Network):
        self.lo, self.hi = (float(v) for v in network.width_bounds_m)

    def to_var(self, widths_m):
        return np.clip((np.asarray(widths_m, float) - self.lo) / (self.hi - self.lo), 0.0, 1.0)

    def widths(self, z):
        return self.lo + (self.hi - self.lo) * z

    def step(self, adam: Adam, z, g_w):
        return np.clip(adam.step(z, g_w * (self.hi - self.lo)), 0.0, 1.0)


def make_param(name: str, network: Network, beta: float):
    if name == "sigmoid":
        return SigmoidParam(network, beta)
    if name == "box":
        return BoxParam(network)
    raise InputError("--param", "", f"{name!r}; expected 'sigmoid' or 'box'")


def pat_gradient(problem: TaskProblem, law: StiffnessLaw, widths_m, idx, u_phys) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The PAT estimator of the batch mean loss L = (1/n) Σ_s l_s(u_phys,s).

    Returns ``(losses (n,), g_w (n_bonds,), G (n, n_outputs))``: the physical per-sample losses,
    ĝ_w = (Σ_s e_adj,s ∘ e_s) ∘ dk/dw from the bar model at ``law.k(widths_m)`` fed with
    G = ∂L/∂u_out at the physical outputs (rows already divided by n).
    """
    task = problem.task
    idx = np.asarray(idx)
    losses, g = loss_and_grad(task, np.atleast_2d(u_phys), task.Y[idx])
    G = g / idx.size
    fac = problem.model.factorize(law.k(widths_m))
    U = problem.forward_free(fac, idx)
    g_k = fac.gradient_free(U, problem.output_gradient(g, idx.size))
    return losses, g_k * law.dk_dw(widths_m), G


class BarPhysical:
    """A bar model as the 'physical' system, with its own stiffness law (a stand-in for hardware
    whose bonds are stiffer or softer than the digital model's; or the calibrated bar model).

    ``exact_gradient_w`` is its exact ∂L/∂w: the bar adjoint at its own law's k."""

    def __init__(self, task: Task, law: StiffnessLaw | None = None, name: str = "bar"):
        self.task, self.name = task, name
        self.law = law or StiffnessLaw.bar(task.network)
        self.problem = TaskProblem(task)

    def __call__(self, widths_m, X):
        fac = self.problem.model.factorize(self.law.k(widths_m))
        U = fac.solve_free(self.problem.B @ np.atleast_2d(X).T)
        U = U[:, None] if U.ndim == 1 else U
        return U[self.problem.out_idx].T

    def exact_gradient_w(self, widths_m, X, G, law=None):
        fac = self.problem.model.factorize(self.law.k(widths_m))
        U = fac.solve_free(self.problem.B @ np.atleast_2d(X).T)
        U = U[:, None] if U.ndim == 1 else U
        dU = np.zeros_like(U)
        dU[self.problem.out_idx] = np.atleast_2d(G).T
        return fac.gradient_free(U, dU) * self.law.dk_dw(widths_m)


class _Progress(Progress):
    """femnn's progress bar on a terminal; elsewhere (a log file) one plain line every 10 s."""

    def update(self, i: int, text: str = "", force: bool = False):
        if self.enabled and not sys.stderr.isatty():
            now = time.perf_counter()
            if force or now - self._last >= 10.0:
                self._last = now
                sys.stderr.write(f"{self.label} {i}/{self.total} {text} ({now - self._t0:.1f} s)\n")
                sys.stderr.flush()
            return
        super().update(i, text, force)

    def close(self):
        if self.enabled and sys.stderr.isatty():
            super().close()


def _cosine(a, b) -> float | None:
    na, nb = np.linalg.norm(a), np.linalg.norm(b)
    return float(a @ b / (na * nb)) if na > 0 and nb > 0 else None


def _prefixed(prefix: str, label: str, m: dict) -> dict:
    """History keys as femnn train's: loss / test_loss, train_error, test_accuracy, ... with a prefix."""
    out = {}
    for key, v in m.items():
        if key in ("n_samples", "confusion", "label", "targets"):
            continue
        if key == "loss":
            name = "loss" if label == "train" else "test_loss"
        elif key in ("error", "accuracy"):
            name = f"{label}_{key}"
        else:
            name = key
        out[prefix + name] = v
    return out


def _resume(checkpoint: Path, fingerprint: str, n_bonds: int, adam: Adam):
    """(training variable, history, first epoch to run) from a validated PAT checkpoint; loads Adam's state."""
    ck = load_checkpoint(checkpoint, fingerprint, n_bonds, var_key="var", keys=_PAT_CHECKPOINT_KEYS)
    adam.load(ck)
    return np.array(ck["var"]), ck["history"], int(ck["epoch"]) + 1


def _schedule(task: Task, config: TrainConfig, st: dict, split):
    """(n_epochs, split, train rows, test rows): single-load tasks count iterations (``config.epochs``
    or ``max_iter``) on their one sample; data tasks the resolved epochs on the checked or seeded split."""
    if task.kind == "single":
        rows = np.arange(task.n_samples)
        return int(config.epochs or st["max_iter"]), None, rows, rows
    split = check_split(split, task.n_samples) if split is not None else make_split(task.n_samples, st["train_fraction"], st["seed"])
    return int(st["epochs"]), split, np.asarray(split["train"]), np.asarray(split["test"])


def _check_pat_inputs(task: Task, physical, law: StiffnessLaw, backward: str) -> bool:
    """Refuse a law for another network or an unknown/unavailable backward pass; returns whether the
    physical model offers its exact gradient (``exact_gradient_w``)."""
    if law.slope_N_per_m2.size != task.network.n_bonds:
        raise InputError("stiffness law", "slope_N_per_m2", f"{law.slope_N_per_m2.size} bonds; the network has {task.network.n_bonds}")
    if backward not in ("bar", "physical"):
        raise InputError("--backward", "", f"{backward!r}; expected 'bar' or 'physical' (fem)")
    has_exact = callable(getattr(physical, "exact_gradient_w", None))
    if backward == "physical" and not has_exact:
        raise InputError("--backward", "", "the physical model offers no exact gradient (exact_gradient_w)")
    return has_exact


def _record(prob: TaskProblem, physical, law: StiffnessLaw, w, ids_sets, g_est=None, G=None, batch=None) -> dict:
    """One history record at widths ``w``: physical and bar (law ``law``) metrics per (label, ids) set;
    with ``g_est``, its cosine and norm ratio against ``physical.exact_gradient_w`` on ``batch`` (loss
    gradient ``G``); the number of widths within 1 % of the range from a bound."""
    task = prob.task
    rec = {}
    ev = prob.evaluate(law.k(w), np.concatenate([ids for _, ids in ids_sets]), gradient=False)
    o = 0
    for label, ids in ids_sets:
        if ids.size == 0:
            continue
        u_phys = np.atleast_2d(physical(w, task.X[ids]))
        rec.update(_prefixed("", label, task_metrics(task, u_phys, ids)))
        rec.update(_prefixed("bar_", label, task_metrics(task, ev.u_out[o:o + ids.size], ids)))
        o += ids.size
    if g_est is not None:
        exact = physical.exact_gradient_w(w, task.X[batch], G, law)
        rec["cosine"] = _cosine(g_est, exact)
        rec["norm_ratio"] = float(np.linalg.norm(g_est) / max(np.linalg.norm(exact), 1e-300))
    lo, hi = task.network.width_bounds_m
    tol = 0.01 * (hi - lo)   # within 1 % of the range: where the sigmoid map has σ(1-σ) < 0.01
    rec["n_at_bound"] = int(np.sum((w <= lo + tol) | (w >= hi - tol)))
    return rec


def train_pat(task: Task, physical: Callable, config: TrainConfig = TrainConfig(), *, init_widths_m=None,
              split: dict | None = None, progress: bool = False, law: StiffnessLaw | None = None,
              param: str = "sigmoid", backward: str = "bar", checkpoint: Path | None = None, resume: bool = False,
              cosine: bool = True, settings: dict | None = None, adam_eps: float | None = None,
              write_checkpoint: bool = True) -> TrainResult:
    """Adam on bounded widths with physical forward passes and bar-model backward passes.

    Parameters
    ----------
    physical : callable ``(widths_m, X) -> u_out`` (see module docstring); FEM, measurement, model
    config : TrainConfig; ``epochs`` counts iterations for single-load tasks (default: ``max_iter``)
    init_widths_m : (n_bonds,) m, optional; default the network's widths (fine-tuning: a run's widths)
    law : the bar model's stiffness law for the backward pass (default: the plain law)
    param : ``"sigmoid"`` (as femnn train) or ``"box"`` (projected Adam in width space)
    backward : ``"bar"`` (the PAT estimator) or ``"physical"`` (``physical.exact_gradient_w``)
    checkpoint, resume : checkpoint file written every epoch; resume continues it to the same result
    write_checkpoint : False on all but one process of a parallel (MPI) run: they read ``checkpoint``
        to resume but leave writing it to one
    cosine : record the cosine between the estimator and ``physical.exact_gradient_w`` (if it exists)
    settings : extra settings recorded (and fingerprinted), e.g. the forward model's name and mesh
    adam_eps : Adam's ε (default the authors' √machine-ε, 1.5e-8). With an MSE loss in m² the width
        gradients are ~1e-9 per unit z, below ε, so Adam's step is damped to ~SGD; a tiny ε
        (e.g. 1e-300) restores the normalised step of lr per iteration

    History (per epoch, or per iteration for single-load tasks, at the widths before that
    iteration's update as in femnn train): the physical ``loss``/``test_loss`` and
    ``train_error``/``train_accuracy``/``test_*``, the same with a ``bar_`` prefix for the bar model
    (law ``law``) at the same widths, ``cosine`` (estimator vs exact physical gradient on the batch
    or train set), ``step_norm_w_m`` and ``n_at_bound`` (widths within 1 % of the range from a bound). ``extra["final"]`` holds the physical and
    bar metrics at the final widths.
    """
    st = config.resolved(task)
    st.update({"physics_aware": True, "param": param, "backward": backward, **(settings or {})})
    if adam_eps is not None:
        st["adam_eps"] = float(adam_eps)
    law = law or StiffnessLaw.bar(task.network)
    has_exact = _check_pat_inputs(task, physical, law, backward)
    prob = TaskProblem(task)
    pm = make_param(param, task.network, st["beta"])
    w0 = task.network.widths_m if init_widths_m is None else np.asarray(init_widths_m, float)
    var = pm.to_var(w0)
    adam = Adam(task.network.n_bonds, st["learning_rate"], **({} if adam_eps is None else {"eps": float(adam_eps)}))
    single = task.kind == "single"
    n_epochs, split, tr, te = _schedule(task, config, st, split)
    fp = _fingerprint(task, {**st, "law": law.as_dict()}, w0, split)
    history: list = []
    start = 1
    if checkpoint is not None and write_checkpoint:
        remove_stale_checkpoint_temps(Path(checkpoint))
    if checkpoint is not None and resume and Path(checkpoint).exists():
        var, history, start = _resume(Path(checkpoint), fp, task.network.n_bonds, adam)

    last_save = [time.perf_counter()]

    def save(epoch, force=False):
        # data sets: every epoch; single-load tasks (an epoch is one iteration): every 200 iterations
        # or 10 s, so that a fast physical model does not spend its time rewriting the history
        now = time.perf_counter()
        if not (force or not single or epoch % 200 == 0 or now - last_save[0] > 10.0):
            return
        last_save[0] = now
        if checkpoint is not None and write_checkpoint:
            _save_checkpoint(Path(checkpoint), var=var, history=json.dumps(history), epoch=epoch, fingerprint=fp,
                             **adam.state())

    def record(w, ids_sets, g_est=None, G=None, batch=None):
        return _record(prob, physical, law, w, ids_sets, g_est if cosine and has_exact else None, G, batch)

    t0 = time.perf_counter()
    bar = _Progress(n_epochs, f"pat {task.name}", progress)
    for epoch in range(start, n_epochs + 1):
        if single:
            batches = [tr]
        else:
            order = np.random.default_rng([st["seed"], epoch]).permutation(tr.size)
            B = int(st["batch_size"])
            batches = [tr[order[i:i + B]] for i in range(0, tr.size, B)]
        rec = {"epoch": epoch}
        w_start = pm.widths(var)
        for idx in batches:
            w = pm.widths(var)
            u_phys = np.atleast_2d(physical(w, task.X[idx]))
            losses, g_w, G = pat_gradient(prob, law, w, idx, u_phys)
            if single:   # record at this iteration's widths (one physical call per iteration)
                rec.update(record(w, [("train", tr)], g_w, G, idx))
            g_step = physical.exact_gradient_w(w, task.X[idx], G, law) if backward == "physical" else g_w
            var = pm.step(adam, var, g_step)
        w_end = pm.widths(var)
        rec["step_norm_w_m"] = float(np.linalg.norm(w_end - w_start))
        if not single:   # end of epoch, new widths; cosine on the whole train set
            u_tr = np.atleast_2d(physical(w_end, task.X[tr]))
            _, g_tr, G_tr = pat_gradient(prob, law, w_end, tr, u_tr)
            rec.update(record(w_end, [("train", tr), ("test", te)], g_tr, G_tr, tr))
        rec["seconds"] = time.perf_counter() - t0
        history.append(rec)
        save(epoch, force=epoch == n_epochs)
        bar.update(epoch, f"physical loss {rec['loss']:.4g}" + (f" cos {rec['cosine']:.2f}" if rec.get("cosine") is not None else ""),
                   force=epoch == n_epochs)
    bar.close()
    w = pm.widths(var)
    final = record(w, [("train", tr)] if single else [("train", tr), ("test", te)])
    if single:
        final["u_out"] = np.atleast_2d(physical(w, task.X))[0].tolist()
    return TrainResult(task, w, law.k(w), history, {**st, "law": law.source}, split, "epochs",
                       time.perf_counter() - t0, fingerprint=fp, final=final)

