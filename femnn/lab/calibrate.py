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


def calibrate(task: Task, fitted, held_out=(), rcond: float = RCOND) -> Calibration:
    """Fit a global and a per-bond stiffness factor to the ``fitted`` states (see module docstring)."""
    from femnn.crosscheck.calibrate import fit_bond_stiffness

    net = task.network
    bm = BarModel(net)
    free = bm.free
    k0 = net.stiffness_N_per_m()
    F, U, Fr, Ur = _stack(fitted, free)
    n_data = Ur.size

    # noise: the measured standard errors when every fitted state has them on every free DOF
    noise_note = "every fitted state has u_std_m > 0 on every free DOF"
    if all(s.u_std_m is not None for s in fitted):
        S = np.stack([s.u_std_m for s in fitted]).reshape(len(fitted), -1)[:, free].T
        measured_noise = bool(np.all(S > 0))
        if not measured_noise:
            noise_note = "u_std_m is 0 on some free DOF (one photo?): noise estimated from the residual instead"
    else:
        measured_noise = False
        missing = [s.name for s in fitted if s.u_std_m is None]
        noise_note = f"no u_std_m (repeated photos) for {', '.join(missing[:3])}{' ...' if len(missing) > 3 else ''}: noise estimated from the residual"
    wsq = (1.0 / S) if measured_noise else np.ones_like(Ur)   # W^{1/2}, (n_free, n_s)
    w_flat = wsq.T.reshape(-1)                                 # state-major like J

    start = fit_bond_stiffness(net, F, U)
    c = float(start.global_factor)
    z = np.log(start.factor_per_bond)

    def residual(zv):
        Ub, J = sensitivity(bm, k0 * np.exp(zv), Fr)
        return ((Ub - Ur) * wsq).T.reshape(-1), J * w_flat[:, None]

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
    models = {"uncalibrated": k0, "global": c * k0, "per_bond": k_cal}
    pos = -np.ones(2 * net.n_nodes, dtype=np.int64)
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


def _task_file_text(task: Task, network_file: str) -> str | None:
    """The task's own file with its ``network = ...`` line pointing at ``network_file`` (None if the
    task has no such top-level line, e.g. an inline network table)."""
    import re
    from pathlib import Path

    src = Path(task.source)
    if not src.is_file():
        return None
    text = src.read_text()
    pat = re.compile(r'^network\s*=\s*"[^"\n]*"[^\n]*$', re.M)
    if len(pat.findall(text)) != 1:
        return None
    text = pat.sub(f'network = "{network_file}"  # calibrated by femnn calibrate (effective widths)', text)

    def absolute(m):  # a CSV data file named relative to the task file must still be found from the new place
        p = Path(m.group(2))
        return m.group(0) if p.is_absolute() else f'{m.group(1)}"{(src.parent / p).resolve()}"'
    return re.sub(r'^(file\s*=\s*)"([^"\n]*)"', absolute, text, flags=re.M)


def calibration_record(cal: Calibration, task: Task, sources, skipped) -> dict:
    """calibration.json content (SI; factors dimensionless; uncertainties relative standard)."""
    net = cal.base_network
    return {
        "task": task.name, "network_source": net.source, "measured": [str(s) for s in sources],
        "states_fitted": cal.states_fitted, "states_held_out": cal.states_held_out,
        "states_skipped": [{"state": n, "reason": r} for n, r in skipped],
        "noise_model": cal.noise_model,
        "global_factor": cal.global_factor, "global_factor_rel_std": cal.global_factor_rel_std,
        "bonds": net.bonds, "factor_per_bond": cal.factor_per_bond, "factor_rel_std": cal.factor_rel_std,
        "undetermined_bonds": cal.undetermined,
        "k0_N_per_m": net.stiffness_N_per_m(), "k_N_per_m": net.stiffness_N_per_m() * cal.factor_per_bond,
        "widths_m": net.widths_m, "effective_widths_m": cal.network.widths_m,
        "width_bounds_widened": cal.bounds_widened, "width_bounds_m": cal.network.width_bounds_m,
        "singular_values": cal.singular_values, "misfit": cal.misfit, "per_state": cal.per_state, "fit": cal.fit_info,
        "units": {"factor_per_bond": "dimensionless (k = f k0)", "factor_rel_std": "relative standard uncertainty (null: undetermined)",
                  "misfit.rms_m": "m (RMS over free DOFs)", "misfit.relative": "|u_model - u_meas| / |u_meas|",
                  "singular_values": "of the (weighted) sensitivity d u / d log k, m (or dimensionless with u_std_m)"},
    }


def calibration_markdown(cal: Calibration, task: Task, skipped) -> str:
    net = cal.base_network
    L = [f"# Calibrated bar model: {task.name}", "",
         f"Fitted to {len(cal.states_fitted)} measured state(s): {', '.join(cal.states_fitted)}."]
    if cal.states_held_out:
        L.append(f"Held out (predicted, not fitted): {', '.join(cal.states_held_out)}.")
    for n, r in skipped:
        L.append(f"Skipped {n}: {r}.")
    L += ["", f"Noise model: {cal.noise_model} ({cal.fit_info['noise_note']}). Global factor c = {cal.global_factor:.4g} "
          f"(± {100 * cal.global_factor_rel_std:.2g} %).", "",
          "## Misfit (fitted states, RMS over free DOFs)", "", "| model | RMS (µm) | relative |", "|---|---|---|"]
    for name, m in cal.misfit.items():
        L.append(f"| {name.replace('_', ' ')} | {m['rms_m'] * 1e6:.3g} | {100 * m['relative']:.3g} % |")
    L += ["", "## Per state", "", "| state | role | uncalibrated | global | per bond | per bond at the outputs |", "|---|---|---|---|---|---|"]
    for r in cal.per_state:
        o = r["per_bond"].get("outputs_relative")
        L.append(f"| {r['state']} | {r['role'].replace('_', ' ')} | {100 * r['uncalibrated']['relative']:.3g} % | "
                 f"{100 * r['global']['relative']:.3g} % | {100 * r['per_bond']['relative']:.3g} % | "
                 f"{'-' if o is None else f'{100 * o:.3g} %'} |")
    L += ["", "## Factor per bond", "", "| bond | nodes | factor | ± (relative) | width (mm) | effective width (mm) | |",
          "|---|---|---|---|---|---|---|"]
    for b in range(net.n_bonds):
        s = cal.factor_rel_std[b]
        L.append(f"| {b} | {net.bonds[b][0]}-{net.bonds[b][1]} | {cal.factor_per_bond[b]:.4g} | "
                 f"{'undetermined' if not np.isfinite(s) else f'{100 * s:.2g} %'} | {net.widths_m[b] * 1e3:.4g} | "
                 f"{cal.network.widths_m[b] * 1e3:.4g} | {'**undetermined**' if b in cal.undetermined else ''} |")
    L.append("")
    if cal.undetermined:
        L.append(f"Bonds the measurements cannot determine: {cal.undetermined} (relative uncertainty above "
                 f"{100 * MAX_REL_STD:.0f} % or in a null direction of the sensitivity); their factors stay near the "
                 "global factor. Measure more load states (weights on other nodes) to pin them down.")
    else:
        L.append("Every bond's factor is determined by the measurements.")
    lo, hi = cal.fit_info["width_bounds_m_original"]
    if cal.bounds_widened:
        nlo, nhi = cal.network.width_bounds_m
        L.append(f"\nThe effective widths leave the printable bounds [{lo * 1e3:.4g}, {hi * 1e3:.4g}] mm, so network.toml's "
                 f"width_bounds were WIDENED to [{nlo * 1e3:.4g}, {nhi * 1e3:.4g}] mm (nothing was clipped).")
    L += ["", "network.toml holds effective widths w_eff = f w (the bar model's k = E w t / L is linear in w): it is a "
          "model of the printed part, not a part to print. To retrain: `femnn train task.toml --out RUN` (or "
          "`--init` this directory). To reprint a retrained network divide its widths by the factors "
          "(`femnn.lab.calibrate.printed_widths`).", ""]
    return "\n".join(L)


def write_calibration(out, cal: Calibration, task: Task, sources, skipped) -> list:
    """Write network.toml, widths.json, task.toml (if the task file allows), calibration.json/.md."""
    from pathlib import Path

    from femnn.network import write_network
    from femnn.report.files import atomic_write_json, atomic_write_text

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = [write_network(cal.network, out / "network.toml"),
             atomic_write_json(out / "widths.json", {"widths_m": cal.network.widths_m,
                                                     "k_N_per_m": cal.network.stiffness_N_per_m(),
                                                     "note": "effective widths of the calibrated bar model"})]
    text = _task_file_text(task, "network.toml")
    if text is not None:
        paths.append(atomic_write_text(out / "task.toml", text))
    paths.append(atomic_write_json(out / "calibration.json", calibration_record(cal, task, sources, skipped)))
    paths.append(atomic_write_text(out / "calibration.md", calibration_markdown(cal, task, skipped)))
    return paths
