"""The lab sheet (``femnn protocol``): what to hang, what to expect, what camera, which photos.

Weights. A force F (N) on a node is a mass m = |F| / g hung from it (g = 9.8 m/s², the paper's value),
rounded to the user's weight set: m_r = step · floor(m / step + ½), halves up. A hung weight pulls DOWN (-y) only:

- every component down: ``hang``;
- every component up (all vertical): ``negate``: hang the mirrored weights and multiply the measured
  displacements and elongations by -1 (the state is linear in its load: u(-F) = -u(F));
- vertical components of both signs: ``superpose``: photo A with the downward weights, photo B with the
  upward ones mirrored (hung down); u = u_A - u_B;
- a horizontal component: ``pulley``: a string over a low-friction pulley level with the node.

Adjoint load (the paper's step from u_y[13] = -0.82 mm to a 5 g weight). For a loss L(u_out) the adjoint
force is F_adj = λ (-∂L/∂u) at the output DOFs, from the forward state (predicted by the bar model at the
rounded forward weights, or measured: ``forward_measured``). L is in m² (Fig. 1: L = (u_y[13] + 0.025 m)²),
so -∂L/∂u is in m; the paper reads the number as newtons, i.e. λ = 1 N/m:
-2 (-0.82e-3 + 0.025) = -0.04836 N → 4.93 g → 5 g, downward. Because e_adj is linear in F_adj, any λ > 0
measures λ ∂L/∂k: the same direction, which is all Adam needs; a larger λ (a heavier adjoint weight)
raises the elongations above the tracking noise.

Camera. A tracker locates each hub to σ_px (default 0.05 px, a good sub-pixel tracker; state yours). A hub
measured in the reference and in the loaded photo, at both ends of a bond, gives an elongation error
2 σ (σ = σ_px / (px/mm) per coordinate, divided by √n for n repeated photos). The gradient g = e_adj ∘ e
then has the expected error 2 σ sqrt(Σ_b e_adj,b² + e_b²); asking it to stay below a fraction a of |g|
(a = 0.1: the paper's "over 90 % accurate") gives σ_max = a |g| / (2 sqrt(Σ e_adj² + e²)). The sheet
asks for px/mm ≥ σ_px / (√n min(σ_max, target accuracy)).

Data tasks. Per sample, the weights of its inputs (the paper rounds Iris features to integer grams) and
the expected outputs/class of the bar model, through the transfer matrix T = D⁻¹ E (E: unit forces on the
loaded DOFs; one solve per input DOF, never one per sample): u = T f_s.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from femnn.bars import BarModel
from femnn.errors import InputError
from femnn.network import Task
from femnn.train.losses import loss_and_grad, predict

G_M_PER_S2 = 9.8
_COMP = ("x", "y")


@dataclass(frozen=True)
class ProtocolOptions:
    """Settings of the lab sheet (units in the names; a = ``gradient_accuracy`` is a fraction)."""

    weight_step_g: float = 1.0
    target_accuracy_um: float = 10.0
    tracker_accuracy_px: float = 0.05
    repeats: int = 3
    adjoint_scale: float | None = 1.0   # None: "auto", the adjoint's largest weight = the forward's
    gradient_accuracy: float = 0.1
    fem_dim: int | None = None
    fem_quick: bool = False
    samples: tuple | None = None
    field_margin: float = 0.2


# ---- weights ------------------------------------------------------------------------------------
def _direction(comp: int, sign: float) -> str:
    return ("left", "right")[sign > 0] if comp == 0 else ("down", "up")[sign > 0]


def weights_for(F: np.ndarray, step_g: float, tol_N: float = 1e-12) -> tuple[list, np.ndarray, str]:
    """Weights for nodal forces F (n_nodes, 2) N: (rows, applied forces (n_nodes, 2) N, application).

    Each row: node, component, direction, force_N, mass_g (exact |F|/g), mass_rounded_g, applied_force_N.
    The application is ``hang`` / ``negate`` / ``superpose`` / ``pulley`` (see the module docstring)."""
    rows = []
    applied = np.zeros_like(F, dtype=float)
    for node, comp in np.argwhere(np.abs(F) > tol_N):
        f = float(F[node, comp])
        m = abs(f) / G_M_PER_S2 * 1e3
        mr = step_g * float(np.floor(m / step_g + 0.5))  # nearest step, halves up (Python's round() takes halves to even)
        applied[node, comp] = np.sign(f) * mr * 1e-3 * G_M_PER_S2
        rows.append({"node": int(node), "component": _COMP[comp], "direction": _direction(comp, f), "force_N": f,
                     "mass_g": m, "mass_rounded_g": mr, "applied_force_N": float(applied[node, comp])})
    # a force that rounds to 0 g is not hung (it is flagged instead): it does not decide the application
    dirs = {r["direction"] for r in rows if r["mass_rounded_g"] > 0} or {r["direction"] for r in rows}
    if not rows or dirs == {"down"}:
        how = "hang"
    elif dirs == {"up"}:
        how = "negate"
    elif dirs <= {"up", "down"}:
        how = "superpose"
    else:
        how = "pulley"
    return rows, applied, how


HOW_TEXT = {
    "hang": "hang every weight from its node (a thin string round the hub)",
    "negate": "a weight cannot pull up: hang the mirrored (downward) weights and multiply the measured displacements "
              "and elongations by -1 before using them (the state is linear in its load); forgetting this flips "
              "the sign of the gradient",
    "superpose": "weights pull down only: photo A with the downward weights, photo B with the upward ones hung "
                 "downward; the state is u = u_A - u_B (and e = e_A - e_B)",
    "pulley": "horizontal (or upward) forces: run the string over a low-friction pulley level with the node "
              "(direction as listed), the weight hanging from its other end",
}


def _rel(a, b) -> float | None:
    nb = float(np.linalg.norm(b))
    return float(np.linalg.norm(np.asarray(a) - b) / nb) if nb > 0 else None


def _sign_agreement(a, b) -> float:
    """Share of the bonds where a and b have the same sign, over bonds with |b| > 1e-6 max |b| (a bond the
    symmetric network leaves at zero gradient has no sign)."""
    big = np.abs(b) > 1e-6 * np.abs(b).max()
    return float(np.mean(np.sign(a[big]) == np.sign(b[big]))) if big.any() else 1.0


def _camera(opts: ProtocolOptions, e_fwd, e_adj, network) -> dict:
    span_mm = np.ptp(network.nodes_m, axis=0) * 1e3 + 4 * network.width_bounds_m[1] * 1e3  # + the hubs
    fov_mm = span_mm * (1 + 2 * opts.field_margin)
    sigma_target_m = opts.target_accuracy_um * 1e-6
    d = {"tracker_accuracy_px": opts.tracker_accuracy_px, "assumption": (
        f"a sub-pixel tracker locates a hub to {opts.tracker_accuracy_px} px (1 sigma) per photo; "
        f"{opts.repeats} photos per state average that down by sqrt({opts.repeats})"),
        "target_accuracy_um": opts.target_accuracy_um, "repeats": opts.repeats}
    sigma = sigma_target_m
    g = None if e_adj is None else e_adj * e_fwd
    if g is not None and np.linalg.norm(g) > 0:
        s_grad = opts.gradient_accuracy * np.linalg.norm(g) / (2 * np.sqrt(np.sum(e_adj ** 2 + e_fwd ** 2)))
        d["hub_accuracy_for_gradient_um"] = float(s_grad * 1e6)
        d["gradient_accuracy"] = opts.gradient_accuracy
        sigma = min(sigma, s_grad)
    big = np.abs(e_fwd) >= 0.1 * np.abs(e_fwd).max()
    e_min = float(np.abs(e_fwd[big]).min())
    d["smallest_significant_elongation_um"] = e_min * 1e6
    # resolving that elongation to 10 % needs 2 σ ≤ 0.1 e_min (stricter than the gradient's norm; for information)
    d["px_per_mm_every_elongation_10pct"] = float(opts.tracker_accuracy_px / (np.sqrt(opts.repeats) * 0.05 * e_min * 1e3))
    d["hub_accuracy_needed_um"] = float(sigma * 1e6)
    ppm = opts.tracker_accuracy_px / (np.sqrt(opts.repeats) * sigma * 1e3)
    d["required_px_per_mm"] = float(ppm)
    d["required_px_per_mm_single_photo"] = float(ppm * np.sqrt(opts.repeats))
    d["field_of_view_mm"] = fov_mm.tolist()
    d["sensor_px_needed"] = [int(np.ceil(v * ppm)) for v in fov_mm]
    return d


def _fem_loads(comm, task: Task, F: np.ndarray, dim: int, quick: bool) -> np.ndarray:
    """FEM hub displacements (n_cases, n_nodes, 2) of the printed part for loads F, one factorisation."""
    import femnn.fem as fem

    prob, _, _ = fem.part_problem(comm, task, dim, fem.FemOptions(quick=quick))
    return fem.solve_loads(comm, prob, F, task.network.n_nodes)


def _state_record(name, F, rows, how, u, e, task, extra=None) -> dict:
    rec = {"name": name, "application": how, "how": HOW_TEXT[how], "weights": rows, "load_N": F,
           "expected": {"bar": {"u_m": u, "elongation_m": e, "u_out_m": u.reshape(-1)[task.output_dofs]}}}
    flags = []
    for r in rows:
        if r["mass_rounded_g"] == 0:
            flags.append(f"node {r['node']}: {r['mass_g']:.3g} g rounds to 0 g; use a finer weight set (--weight-step-g)")
        if r["direction"] != "down" and r["mass_rounded_g"] > 0:
            flags.append(f"node {r['node']}: the force points {r['direction']}; {HOW_TEXT[how]}")
    rec["flags"] = flags
    if extra:
        rec.update(extra)
    return rec


# ---- single-load tasks (forward + adjoint) ------------------------------------------------------
def _single(comm, task: Task, opts: ProtocolOptions, forward_measured=None) -> dict:
    net = task.network
    bm = BarModel(net)
    fac = bm.factorize(net.stiffness_N_per_m())
    F = task.loads_N()[0]
    rows_f, Fr, how_f = weights_for(F, opts.weight_step_g)
    u_exact, u_r = fac.solve(F), fac.solve(Fr)
    e_exact, e_r = bm.elongations(u_exact), bm.elongations(u_r)
    out = task.output_dofs
    lam = 1.0 if opts.adjoint_scale is None else opts.adjoint_scale

    def adjoint_load(u):
        loss, g = loss_and_grad(task, u.reshape(1, -1)[:, out], task.Y[:1])
        Fa = np.zeros(2 * net.n_nodes)
        Fa[out] = -lam * g[0]
        return Fa.reshape(-1, 2), float(loss[0]), g[0]

    if forward_measured is not None:
        st = forward_measured.states["forward"]
        u_basis, e_basis, basis = np.asarray(st.u_m), np.asarray(st.elongation_m), "measured"
    else:
        u_basis, e_basis, basis = u_r, e_r, "predicted (bar model, rounded forward weights)"
    if opts.adjoint_scale is None:  # auto: the heaviest adjoint weight as heavy as the heaviest forward one
        gmax = np.abs(adjoint_load(u_basis)[2]).max()
        if gmax > 0:
            lam = float(np.abs(F).max() / gmax)
    Fa_exact, loss_exact, _ = adjoint_load(u_exact)
    g_exact = bm.elongations(fac.solve(Fa_exact)) * e_exact       # λ ∂L/∂k with the exact weights
    Fa, loss_b, dl = adjoint_load(u_basis)
    rows_a, Far, how_a = weights_for(Fa, opts.weight_step_g)
    ua_r = fac.solve(Far)
    ea_r = bm.elongations(ua_r)
    g_lab = ea_r * e_basis                                        # what the lab will measure
    g_unrounded_adj = bm.elongations(fac.solve(Fa)) * e_basis
    outs = [{"node": int(d // 2), "component": _COMP[d % 2], "u_m": float(u_basis.reshape(-1)[d]),
             "target_m": None if task.is_classification else float(task.Y[0][i]), "dL_du": float(dl[i]),
             "adjoint_force_N": float(-lam * dl[i])} for i, d in enumerate(out)]
    u_std = None if forward_measured is None else forward_measured.states["forward"].u_std_m
    if u_std is not None:
        # linear propagation: δF_adj,i = -λ Σ_j H_ij δu_j, H = ∂²L/∂u_out² by central differences of ∂L/∂u
        # (exact for MSE: H = 2 w I); σ_j the measured standard errors of the output DOFs
        u_out = u_basis.reshape(-1)[out]
        s_out = np.asarray(u_std).reshape(-1)[out]
        h = 1e-6 * max(np.abs(u_out).max(), 1e-9)
        H = np.stack([(loss_and_grad(task, (u_out + h * ej)[None], task.Y[:1])[1][0]
                       - loss_and_grad(task, (u_out - h * ej)[None], task.Y[:1])[1][0]) / (2 * h)
                      for ej in np.eye(out.size)], axis=1)
        f_std = lam * np.sqrt(((H * s_out[None, :]) ** 2).sum(axis=1))
        for o, so, fs in zip(outs, s_out, f_std):
            o["u_std_m"] = float(so)
            o["adjoint_force_std_N"] = float(fs)
            o["mass_std_g"] = float(fs / G_M_PER_S2 * 1e3)
    m_f = max((r["mass_g"] for r in rows_f), default=0.0)
    m_a = max((r["mass_g"] for r in rows_a), default=0.0)
    scale_flags = []
    if m_a > 0 and m_f > 0 and not 0.1 <= m_a / m_f <= 10:
        lam_s = lam * m_f / m_a
        scale_flags.append(f"the adjoint weight ({m_a:.3g} g) is {m_a / m_f:.2g} x the forward one: take "
                           f"--adjoint-scale {lam_s:.3g} (or auto) for adjoint weights like the forward's; the lab then "
                           f"measures {lam_s:.3g} x ∂L/∂k, the same direction")
    fwd = _state_record("forward", Fr, rows_f, how_f, u_r, e_r, task)
    adj = _state_record("adjoint", Far, rows_a, how_a, ua_r, ea_r, task, {
        "source": basis, "loss": task.loss, "loss_weight": task.loss_weight, "loss_value": loss_b,
        "adjoint_scale": lam, "adjoint_scale_units": "N/m" if task.loss == "mse" else "N m", "outputs": outs, "force_exact_N": Fa})
    adj["flags"] = scale_flags + adj["flags"]
    if forward_measured is not None:
        fwd["measured"] = {"u_m": u_basis, "elongation_m": e_basis, "source": forward_measured.source}
        lm = forward_measured.states["forward"].load_N
        if lm is not None and not np.allclose(lm, Fr, rtol=1e-3, atol=1e-6):
            fwd["flags"].append(f"the measured forward state's load_N differs from these weights "
                                f"({forward_measured.source}); the adjoint below is for the loads that were measured")
    rounding = {
        "forward_outputs_rel_change": _rel(u_r.reshape(-1)[out], u_exact.reshape(-1)[out]),
        "forward_elongations_rel_change": _rel(e_r, e_exact),
        "adjoint_gradient_rel_change": _rel(g_lab, g_unrounded_adj),
        "loss_rel_change": _rel([loss_b], [loss_exact]) if forward_measured is None else None,
        "gradient_rel_change": _rel(g_lab, g_exact) if forward_measured is None else None,
        "gradient_sign_agreement": _sign_agreement(g_lab, g_exact) if forward_measured is None else None,
        "note": ("relative changes |x_rounded - x_exact| / |x_exact|; the gradient compares e_adj ∘ e of the rounded "
                 "forward and adjoint weights with that of the exact forces (adjoint from the predicted forward state)"),
    }
    rec = {"states": {"forward": fwd, "adjoint": adj}, "rounding": rounding,
           "gradient_expected_m2": g_lab, "gradient_exact_m2": g_exact,
           "camera": _camera(opts, e_r, ea_r, net)}
    if opts.fem_dim:
        Uf = _fem_loads(comm, task, np.stack([Fr, Far]), opts.fem_dim, opts.fem_quick)
        key = f"fem{opts.fem_dim}d"
        for i, st in enumerate(("forward", "adjoint")):
            rec["states"][st]["expected"][key] = {"u_m": Uf[i], "elongation_m": bm.elongations(Uf[i]),
                                                  "u_out_m": Uf[i].reshape(-1)[out]}
        rec["gradient_expected_fem_m2"] = bm.elongations(Uf[1]) * bm.elongations(Uf[0])
    return rec


# ---- data tasks (one load state per sample) -----------------------------------------------------
def _data(comm, task: Task, opts: ProtocolOptions) -> dict:
    net = task.network
    bm = BarModel(net)
    fac = bm.factorize(net.stiffness_N_per_m())
    idx = np.arange(task.n_samples) if opts.samples is None else np.asarray(opts.samples, dtype=int)
    bad = idx[(idx < 0) | (idx >= task.n_samples)]
    if bad.size:
        raise InputError("--sample", "", f"{int(bad[0])} is outside 0..{task.n_samples - 1}")
    F = task.loads_N(task.X[idx])                                  # (n_s, n_nodes, 2)
    dofs = np.unique(task.input_dofs)
    # transfer matrix: one solve per loaded DOF (free-DOF positions), never one per sample
    pos = -np.ones(2 * net.n_nodes, dtype=np.int64)
    pos[bm.free] = np.arange(bm.free.size)
    E = np.zeros((bm.free.size, dofs.size))
    E[pos[dofs], np.arange(dofs.size)] = 1.0
    T = fac.solve_free(E)
    T = T[:, None] if T.ndim == 1 else T
    out_rows = pos[task.output_dofs]
    samples, F_applied = [], []
    for s, Fs in zip(idx, F):
        rows, Fr, how = weights_for(Fs, opts.weight_step_g)
        F_applied.append(Fr)
        samples.append({"sample": int(s), "weights": rows, "application": how})
    F_applied = np.stack(F_applied)
    Uo_exact = (T[out_rows] @ F.reshape(len(idx), -1)[:, dofs].T).T     # (n_s, n_out)
    Uo_r = (T[out_rows] @ F_applied.reshape(len(idx), -1)[:, dofs].T).T
    Y = task.Y[idx]
    summary = {"n_samples": int(idx.size)}
    for i, rec in enumerate(samples):
        rec["expected_u_out_m"] = Uo_r[i]
        rec["u_out_exact_m"] = Uo_exact[i]
        rec["rounding_outputs_rel_change"] = _rel(Uo_r[i], Uo_exact[i])
        if task.is_classification:
            rec["label"] = int(Y[i])
            rec["class"] = task.class_names[int(Y[i])] if task.class_names else int(Y[i])
            rec["predicted"] = int(predict(Uo_r[i])[0])
            rec["predicted_exact"] = int(predict(Uo_exact[i])[0])
        else:
            rec["target_m"] = Y[i]
        zero = [r["node"] for r in rec["weights"] if r["mass_rounded_g"] == 0]
        rec["flags"] = ([f"nodes {zero}: the weight rounds to 0 g"] if zero else []) + \
                       ([f"{HOW_TEXT[rec['application']]}"] if rec["application"] != "hang" else [])
    if task.is_classification:
        summary["accuracy_rounded"] = float(np.mean(predict(Uo_r) == Y))
        summary["accuracy_exact"] = float(np.mean(predict(Uo_exact) == Y))
        summary["predictions_changed_by_rounding"] = int(np.sum(predict(Uo_r) != predict(Uo_exact)))
    else:
        summary["relative_error_rounded"] = _rel(Uo_r, Y)
        summary["relative_error_exact"] = _rel(Uo_exact, Y)
    summary["outputs_rel_change_by_rounding"] = _rel(Uo_r, Uo_exact)
    # the sample with the largest outputs sets the camera: its elongations
    big = int(np.argmax(np.abs(Uo_r).max(axis=1)))
    u_big = np.zeros(2 * net.n_nodes)
    u_big[bm.free] = T @ F_applied[big].reshape(-1)[dofs]
    rec = {"samples": samples, "summary": summary,
           "camera": _camera(opts, bm.elongations(u_big.reshape(-1, 2)), None, net),
           "transfer_solves": int(dofs.size)}
    if opts.fem_dim:
        Ef = np.zeros((dofs.size, net.n_nodes, 2))
        Ef.reshape(dofs.size, -1)[np.arange(dofs.size), dofs] = 1.0
        Uf = _fem_loads(comm, task, Ef, opts.fem_dim, opts.fem_quick)      # FEM transfer: one solve per input DOF
        Tf = Uf.reshape(dofs.size, -1).T                                    # (2 n_nodes, n_dofs)
        Uo_f = (Tf[task.output_dofs] @ F_applied.reshape(len(idx), -1)[:, dofs].T).T
        for i, r in enumerate(samples):
            r[f"expected_u_out_fem{opts.fem_dim}d_m"] = Uo_f[i]
            if task.is_classification:
                r[f"predicted_fem{opts.fem_dim}d"] = int(predict(Uo_f[i])[0])
        if task.is_classification:
            summary[f"accuracy_fem{opts.fem_dim}d"] = float(np.mean(predict(Uo_f) == Y))
    return rec


# ---- photos ---------------------------------------------------------------------------------------
def _photo_load(rows, n_nodes: int, part: str) -> np.ndarray:
    """The forces (n_nodes, 2) N a photo set carries: all applied forces (""), mirrored ("_neg"), the
    downward ones ("_a") or the upward ones mirrored ("_b") of a superposed state."""
    F = np.zeros((n_nodes, 2))
    for r in rows:
        if part == "_a" and r["direction"] != "down" or part == "_b" and r["direction"] != "up":
            continue
        F[r["node"], _COMP.index(r["component"])] += r["applied_force_N"] * (-1 if part in ("_neg", "_b") else 1)
    return F


def _photos(task_name, states: dict, repeats: int, n_nodes: int) -> tuple[list, str, dict]:
    """(photos, the `femnn measure` command, photo state -> the forces it carries (n_nodes, 2) N).

    ``states``: state name -> (application, weight rows)."""
    photos = [{"file": f"reference_{i}.jpg", "state": "reference", "what": "no weights"} for i in range(1, repeats + 1)]
    args = [f"--reference {photos[0]['file']}"]
    loads = {}
    for name, (how, rows) in states.items():
        parts = {"hang": [""], "pulley": [""], "negate": ["_neg"], "superpose": ["_a", "_b"]}[how]
        for p in parts:
            loads[name + p] = _photo_load(rows, n_nodes, p)
            for i in range(1, repeats + 1):
                f = f"{name}{p}_{i}.jpg"
                what = {"": "the weights as listed", "_neg": "the mirrored (downward) weights",
                        "_a": "the downward weights only", "_b": "the upward weights, hung downward"}[p]
                photos.append({"file": f, "state": name + p, "what": what})
                args.append(f"--state {name}{p}={f}")
    photos += [{"file": "reference_after.jpg", "state": "reference", "what": "weights removed again: checks that the "
                "part came back (creep, slipped strings)"}]
    return photos, f"femnn measure {task_name} " + " ".join(args) + " --out measured", loads


def read_photo_loads(path) -> dict:
    """Photo state name -> the forces it carries (n_nodes, 2) N, from a ``femnn protocol`` directory or its
    protocol.json (``photo_loads_N``): what ``femnn calibrate --protocol`` fills into states without load_N."""
    from femnn.report.files import read_result_json

    d, src = read_result_json(path, "protocol.json", "femnn protocol")
    raw = d.get("photo_loads_N")
    if not isinstance(raw, dict) or not raw:
        raise InputError(src, "photo_loads_N", "missing; this is not a `femnn protocol` result (or an older one)")
    out = {}
    for name, F in raw.items():
        a = np.asarray(F, dtype=float)
        if a.ndim != 2 or a.shape[1] != 2 or not np.all(np.isfinite(a)):
            raise InputError(src, f"photo_loads_N.{name}", f"has shape {a.shape}; expected (n_nodes, 2) finite forces")
        out[name] = a
    return out


def build_protocol(comm, task: Task, opts: ProtocolOptions = ProtocolOptions(), forward_measured=None,
                   widths_source: str | None = None) -> dict:
    """The whole lab sheet as a JSON-ready record (SI inside; grams only in ``mass*_g``). ``comm`` is used
    only with ``opts.fem_dim`` (the FEM is collective)."""
    if opts.weight_step_g <= 0:
        raise InputError("--weight-step-g", "", f"{opts.weight_step_g} must be > 0 (grams)")
    if opts.target_accuracy_um <= 0 or opts.tracker_accuracy_px <= 0 or opts.repeats < 1:
        raise InputError("--target-accuracy-um/--tracker-px/--repeats", "", "must be positive")
    if opts.adjoint_scale is not None and opts.adjoint_scale <= 0:
        raise InputError("--adjoint-scale", "", f"{opts.adjoint_scale} must be > 0: a negative scale "
                         "would flip the gradient")
    if forward_measured is not None:
        if task.kind != "single":
            raise InputError("--forward-measured", "", f"task {task.name!r} is a data-set task; the adjoint step is for "
                             "single-load tasks (fig1, behaviour-*)")
        forward_measured.check_network(task.network)
        if "forward" not in forward_measured.states:
            raise InputError(forward_measured.source, "states", f"no state named 'forward' (found: "
                             f"{', '.join(forward_measured.states)}); measure it with --state forward=PHOTO")
    rec = {"task": task.name, "description": task.description, "kind": task.kind, "network": task.network.name,
           "network_source": task.network.source, "widths_source": widths_source, "g_m_per_s2": G_M_PER_S2,
           "weight_step_g": opts.weight_step_g, "nodes_m": task.network.nodes_m, "bonds": task.network.bonds,
           "fixed_nodes": task.network.fixed, "output_dofs": task.output_dofs, "class_names": list(task.class_names),
           "units": {"force_N": "N", "mass_g": "g", "u_m": "m", "elongation_m": "m", "gradient_m2": "m^2 (λ ∂L/∂k)"}}
    if task.kind == "single":
        rec.update(_single(comm, task, opts, forward_measured))
        states = {n: (rec["states"][n]["application"], rec["states"][n]["weights"]) for n in ("forward", "adjoint")}
    else:
        rec.update(_data(comm, task, opts))
        states = {f"sample{r['sample']}": (r["application"], r["weights"]) for r in rec["samples"]}
    rec["photos"], rec["measure_command"], rec["photo_loads_N"] = _photos(task.name, states, opts.repeats, task.network.n_nodes)
    return rec


# ---- pictures -------------------------------------------------------------------------------------
# ---- the sheet ------------------------------------------------------------------------------------
