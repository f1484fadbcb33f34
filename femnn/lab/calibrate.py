"""A digital twin: the bar model refitted to measured hub displacements (``femnn calibrate``).

Data: every measured state that carries its applied loads (``load_N``) gives the free-DOF hub
displacements u_s (n_free,) under F_s. The model is the bar model with one factor per bond,
k_e = f_e k0_e, written z_e = log f_e:

    r(z) = W^{1/2} (u_bar(k0 ∘ exp z; F) - u_meas),    minimise ½ |r|²

over all states at once. W = diag(1/σ²) with σ the measured standard error ``u_std_m`` when every
fitted state has one (else W = I and the noise is estimated from the residual, see below).

1. Global factor and start: :func:`femnn.crosscheck.calibrate.fit_bond_stiffness` (the FEM
   per-bond calibration, L-BFGS-B with the bar adjoint) from its least-squares global factor c.
2. Gauss-Newton polish (weighted when σ is known) on the determined subspace. The sensitivity of
   state s is J_s[:, e] = ∂u_s/∂z_e = -f_e k0_e e_s,e D⁻¹ c_e (c_e: column e of C_fᵀ), from
   D⁻¹ C_fᵀ, i.e. n_bonds solves on ONE factorisation per iterate. (J is dense, n_data x n_bonds:
   calibrate is meant for lab-size networks, tens to a few hundred bonds.)
3. Uncertainty (Fisher information of the least-squares fit): J_w = W^{1/2} J = U S Vᵀ;
   Cov(z) = V S⁻² Vᵀ (σ known), or σ̂² V S⁻² Vᵀ with σ̂² = |r|² / (n_data - rank) (residual
   variance, W = I). The relative standard uncertainty of f_e is std(z_e). Directions with
   s_i < ``RCOND`` s_max are not determined by the data: a bond whose factor moves in them
   (Σ_null V[e, i]² > ``NULL_SHARE``), or whose relative uncertainty exceeds ``MAX_REL_STD``,
   is reported as undetermined; its factor stays at the start value (about the global factor).

The calibrated network holds the factors as effective widths w_eff = f w (k = E w t / L is linear in
w). When a factor pushes a width outside the width bounds, the written file's bounds are widened
(never a silent clip) and the report says so. To print a retrained network, divide its effective
widths by the same factors: :func:`printed_widths`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np

from femnn.bars import BarModel
from femnn.errors import InputError
from femnn.network import Network, Task

RCOND = 1e-6        # singular values below RCOND * s_max: null directions (not determined at all)
NULL_SHARE = 1e-2   # a bond with more than this share of its z in null directions is undetermined
MAX_REL_STD = 0.5   # ... as is a bond whose factor has a relative standard uncertainty above 50 %
GN_MAX_ITER = 30


@dataclass(frozen=True)
class FitState:
    """One measured load state used by (or held out of) the fit."""

    name: str             # "<dir>:<state>"
    load_N: np.ndarray    # (n_nodes, 2)
    u_m: np.ndarray       # (n_nodes, 2)
    u_std_m: np.ndarray | None


@dataclass(frozen=True)
class Calibration:
    """Result of :func:`calibrate`; factor arrays are (n_bonds,), misfits in metres (RMS over free DOFs)."""

    network: Network                 # calibrated: effective widths w_eff = f w, bounds widened if needed
    base_network: Network
    factor_per_bond: np.ndarray
    factor_rel_std: np.ndarray       # relative standard uncertainty of each factor (inf: undetermined)
    global_factor: float
    global_factor_rel_std: float
    undetermined: list
    singular_values: np.ndarray
    noise_model: str                 # "measured u_std_m" or "residual variance"
    states_fitted: list
    states_held_out: list
    misfit: dict                     # model -> {"rms_m", "relative"} over the fitted states
    per_state: list                  # per state: rms / relative / output misfits for each model
    bounds_widened: bool
    fit_info: dict = field(default_factory=dict)


def collect_states(task: Task, measurements, hold_out=(), photo_loads=None, loads_source="--protocol") -> tuple[list, list, list]:
    """(fitted, held_out, skipped) FitStates from ``measurements`` [(Measurement, label)].

    Refuses a measurement of another network; a state without ``load_N`` takes the forces of the same
    state name in ``photo_loads`` (from :func:`femnn.lab.protocol.read_photo_loads`) if given, else it is
    skipped (listed in ``skipped`` with the reason); refuses when no state with loads remains to fit."""
    net = task.network
    photo_loads = photo_loads or {}
    for name, F in photo_loads.items():
        if F.shape != (net.n_nodes, 2):
            raise InputError(loads_source, f"photo_loads_N.{name}", f"{F.shape[0]} nodes; the network has {net.n_nodes}: "
                             "a protocol of another network")
    free_nodes = np.setdiff1d(np.arange(net.n_nodes), net.fixed)
    fitted, held, skipped = [], [], []
    hold = set(hold_out)
    used_hold = set()
    for m, label in measurements:
        m.check_network(net)
        for name, s in m.states.items():
            full = f"{label}:{name}"
            load = s.load_N if s.load_N is not None else photo_loads.get(name)
            if load is None:
                skipped.append((full, "no load_N (the applied forces) in measurement.json"
                                + (f" and no state {name!r} in the protocol" if photo_loads else "")))
                continue
            if not np.any(load[free_nodes]):
                skipped.append((full, "load_N is zero on every free node"))
                continue
            st = FitState(full, np.asarray(load, float), np.asarray(s.u_m, float),
                          None if s.u_std_m is None else np.asarray(s.u_std_m, float))
            if name in hold or full in hold:
                used_hold |= {name, full} & hold
                held.append(st)
            else:
                fitted.append(st)
    unknown = hold - used_hold
    if unknown:
        raise InputError("--hold-out", "", f"no measured state with loads is called {sorted(unknown)[0]!r}; "
                         f"states: {', '.join(s.name for s in fitted + held) or 'none'}")
    if not fitted:
        why = "; ".join(f"{n}: {r}" for n, r in skipped[:3]) or "every state is held out"
        src = measurements[0][0].source if measurements else "--measured"
        raise InputError(src, "states.*.load_N", f"no state to fit ({why}); `femnn calibrate` needs the applied "
                         "forces of each state (load_N, N per node) in measurement.json, or --protocol DIR (the sheet)")
    return fitted, held, skipped


def _stack(states, free):
    F = np.stack([s.load_N for s in states])
    U = np.stack([s.u_m for s in states])
    Fr = F.reshape(len(states), -1)[:, free].T            # (n_free, n_s)
    Ur = U.reshape(len(states), -1)[:, free].T
    return F, U, Fr, Ur


def sensitivity(bm: BarModel, k: np.ndarray, Fr: np.ndarray):
    """Free-DOF displacements (n_free, n_s) and J = ∂u/∂log k ((n_free * n_s), n_bonds), state-major.

    D u_s = F_s  =>  ∂u_s/∂k_e = -D⁻¹ c_e e_s,e, so ∂u_s/∂log k_e = -k_e e_s,e (D⁻¹ C_fᵀ)[:, e]."""
    fac = bm.factorize(k)
    U = fac.solve_free(Fr)
    U = U[:, None] if U.ndim == 1 else U
    E = fac.elongations_free(U)                           # (n_bonds, n_s)
    X = fac.solve_free(bm.C_free.T.toarray())             # D⁻¹ C_fᵀ: n_bonds right-hand sides, one factorisation
    X = X[:, None] if X.ndim == 1 else X
    J = -(X[None, :, :] * (k[None, None, :] * E.T[:, None, :]))   # (n_s, n_free, n_bonds)
    return U, J.reshape(-1, k.size)


def _misfit(Ub, Ur, out_rows=None):
    r = (Ub - Ur)
    d = {"rms_m": float(np.sqrt(np.mean(r * r))), "relative": float(np.linalg.norm(r) / np.linalg.norm(Ur))}
    if out_rows is not None and out_rows.size:
        ro, uo = r[out_rows], Ur[out_rows]
        d["outputs_rms_m"] = float(np.sqrt(np.mean(ro * ro)))
        d["outputs_relative"] = float(np.linalg.norm(ro) / np.linalg.norm(uo)) if np.any(uo) else None
    return d


def _noise_weights(fitted, free, Ur):
    """(W^{1/2} (n_free, n_states), measured?, note): 1/u_std_m when every fitted state has a measured
    standard error > 0 on every free DOF, else ones (the noise is then estimated from the residual)."""
    if all(s.u_std_m is not None for s in fitted):
        S = np.stack([s.u_std_m for s in fitted]).reshape(len(fitted), -1)[:, free].T
        if np.all(S > 0):
            return 1.0 / S, True, "every fitted state has u_std_m > 0 on every free DOF"
        return np.ones_like(Ur), False, "u_std_m is 0 on some free DOF (one photo?): noise estimated from the residual instead"
    missing = [s.name for s in fitted if s.u_std_m is None]
    return np.ones_like(Ur), False, (f"no u_std_m (repeated photos) for {', '.join(missing[:3])}"
                                     f"{' ...' if len(missing) > 3 else ''}: noise estimated from the residual")


def _gauss_newton(residual, z, rcond):
    """Gauss-Newton on log-factors z with a truncated-SVD step (singular values above rcond·s_max) and
    step halving: (z, r, Jw, cost, iterations, accepted steps)."""
    r, Jw = residual(z)
    cost = float(r @ r)
    it, accepted = 0, 0
    for it in range(1, GN_MAX_ITER + 1):
        Us, s, Vt = np.linalg.svd(Jw, full_matrices=False)
        keep = s > rcond * s[0]
        dz = -Vt[keep].T @ ((Us[:, keep].T @ r) / s[keep])
        step = 1.0
        while step > 1e-4:
            r_t, Jw_t = residual(z + step * dz)
            if float(r_t @ r_t) < cost:
                break
            step *= 0.5
        else:
            break
        new_cost = float(r_t @ r_t)
        z, r, Jw = z + step * dz, r_t, Jw_t
        accepted += 1
        done = np.max(np.abs(step * dz)) < 1e-13 or cost - new_cost <= 1e-15 * cost
        cost = new_cost
        if done:
            break
    return z, r, Jw, cost, it, accepted


def _misfits(task: Task, bm: BarModel, models: dict, Fr, Ur, fitted, held_out):
    """Misfit of each stiffness set over all fitted states, and per state (fitted and held out) with
    the outputs' share."""
    free = bm.free
    pos = -np.ones(2 * task.network.n_nodes, dtype=np.int64)
    pos[free] = np.arange(free.size)
    out_rows = pos[task.output_dofs]
    out_rows = out_rows[out_rows >= 0]
    facs = {name: bm.factorize(kk) for name, kk in models.items()}
    misfit = {}
    for name, f_ in facs.items():
        Um = f_.solve_free(Fr)
        misfit[name] = _misfit(Um[:, None] if Um.ndim == 1 else Um, Ur)
    per_state = []
    for role, group in (("fitted", fitted), ("held_out", list(held_out))):
        for st in group:
            fr = st.load_N.reshape(-1)[free]
            ur = st.u_m.reshape(-1)[free]
            row = {"state": st.name, "role": role}
            for name, f_ in facs.items():
                row[name] = _misfit(f_.solve_free(fr), ur, out_rows)
            per_state.append(row)
    return misfit, per_state


def calibrate(task: Task, fitted, held_out=(), rcond: float = RCOND) -> Calibration:
    """Fit a global and a per-bond stiffness factor to the ``fitted`` states (see module docstring)."""
    from femnn.crosscheck.calibrate import fit_bond_stiffness

    net = task.network
    bm = BarModel(net)
    free = bm.free
    k0 = net.stiffness_N_per_m()
    F, U, Fr, Ur = _stack(fitted, free)
    n_data = Ur.size

    wsq, measured_noise, noise_note = _noise_weights(fitted, free, Ur)
    w_flat = wsq.T.reshape(-1)                                 # state-major like J

    start = fit_bond_stiffness(net, F, U)
    c = float(start.global_factor)
    z = np.log(start.factor_per_bond)

    def residual(zv):
        Ub, J = sensitivity(bm, k0 * np.exp(zv), Fr)
        return ((Ub - Ur) * wsq).T.reshape(-1), J * w_flat[:, None]

    z, r, Jw, cost, it, accepted = _gauss_newton(residual, z, rcond)

    # uncertainty of z from the (weighted) Gauss-Newton Hessian JᵀWJ
    _, s, Vt = np.linalg.svd(Jw, full_matrices=False)
    s_all = np.zeros(net.n_bonds)
    s_all[:s.size] = s
    keep = s > rcond * s[0]
    rank = int(keep.sum())
    dof = n_data - rank
    sigma2 = 1.0 if measured_noise else (cost / dof if dof > 0 else np.nan)
    V = Vt.T
    var_z = sigma2 * np.sum(V[:, keep] ** 2 / s[keep] ** 2, axis=1)
    # V's kept columns span the determined subspace; the rest of R^n_bonds (including the directions
    # a short J never reaches) is null
    null_share = np.clip(1.0 - np.sum(V[:, keep] ** 2, axis=1), 0.0, 1.0)
    rel_std = np.sqrt(var_z)
    undetermined_mask = (null_share > NULL_SHARE) | ~(rel_std <= MAX_REL_STD)
    rel_std = np.where(null_share > NULL_SHARE, np.inf, rel_std)
    undetermined = [int(i) for i in np.flatnonzero(undetermined_mask)]

    # global factor's uncertainty: ∂u/∂log c = -u_bar(c k0)
    fac_g = bm.factorize(c * k0)
    Ug = fac_g.solve_free(Fr)
    Ug = Ug[:, None] if Ug.ndim == 1 else Ug
    gw = (Ug * wsq).ravel()
    rg = ((Ug - Ur) * wsq).ravel()
    sig2_g = 1.0 if measured_noise else float(rg @ rg) / max(n_data - 1, 1)
    g_rel_std = float(np.sqrt(sig2_g / (gw @ gw)))

    factors = np.exp(z)
    k_cal = k0 * factors
    # misfits: uncalibrated / global / per bond, over the fitted states and per state (held out too)
    misfit, per_state = _misfits(task, bm, {"uncalibrated": k0, "global": c * k0, "per_bond": k_cal},
                                 Fr, Ur, fitted, held_out)

    w_eff = factors * net.widths_m
    lo, hi = net.width_bounds_m
    widened = bool(w_eff.min() < lo or w_eff.max() > hi)
    bounds = np.array([min(lo, w_eff.min()), max(hi, w_eff.max())])
    cal_net = dataclasses.replace(net, widths_m=w_eff, width_bounds_m=bounds, name=f"{net.name}-calibrated")
    return Calibration(
        network=cal_net, base_network=net, factor_per_bond=factors, factor_rel_std=rel_std, global_factor=c,
        global_factor_rel_std=g_rel_std, undetermined=undetermined, singular_values=s_all,
        noise_model="measured u_std_m" if measured_noise else "residual variance",
        states_fitted=[s.name for s in fitted], states_held_out=[s.name for s in held_out], misfit=misfit,
        per_state=per_state, bounds_widened=widened,
        fit_info={"noise_note": noise_note, "n_data": int(n_data), "rank": rank, "gauss_newton_iterations": int(it), "gauss_newton_steps": accepted,
                  "lbfgsb_iterations": start.iterations, "lbfgsb_converged": start.converged,
                  "noise_sigma_m": None if measured_noise else float(np.sqrt(sigma2)) if np.isfinite(sigma2) else None,
                  "rcond": rcond, "null_share_limit": NULL_SHARE, "max_rel_std": MAX_REL_STD,
                  "width_bounds_m_original": [float(lo), float(hi)], "width_bounds_m_written": bounds.tolist()})


def printed_widths(factor_per_bond, effective_widths_m) -> np.ndarray:
    """Widths to print for effective (calibrated-model) widths: w_print = w_eff / f (per bond)."""
    return np.asarray(effective_widths_m, float) / np.asarray(factor_per_bond, float)
