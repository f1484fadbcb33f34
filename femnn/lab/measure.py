"""``femnn measure``: hub displacements, elongations and the in situ gradient from photos (or tracks).

Pipeline (:func:`measure_photos`): the reference photo's hubs are detected
(:func:`femnn.lab.photos.detect_hubs`) and matched to the network's nodes
(:func:`femnn.lab.photos.match_nodes`); their sub-pixel centres give the camera homography
design mm -> px (least squares on all hubs, residuals per hub kept). In each state photo every hub
is searched near its reference place and tracked with the same rim rays as in the reference
(:func:`femnn.lab.photos.track_hub`). Positions go to the network frame (mm, y up) through H^-1 and
displacements are differences of those: u_j = H^-1(p_j,state) - H^-1(p_j,ref) (exact for a planar
part under a pinhole camera, whatever the roll and tilt). Elongation of bond (i, j): the change of
hub-centre distance |X_j + u_j - X_i - u_i| - |X_j - X_i| with X the measured reference positions.
Repeated photos of a state: the mean and its standard error (ddof = 1) per node.

Every check happens before anything is written: a refused photo leaves ``--out`` untouched.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from femnn.errors import InputError
from femnn.lab import photos as P
from femnn.lab.measurement import Measurement, StateMeasurement

BLUR_LIMIT = 0.1     # refuse photos whose rim edge sigma exceeds this fraction of the hub radius
RESIDUAL_LIMIT = 0.25  # refuse a camera fit with a hub off by more than this fraction of the hub radius


def _nodes_list(nodes) -> str:
    nodes = [int(j) for j in nodes]
    if len(nodes) == 1:
        return f"node {nodes[0]}"
    return "nodes " + ", ".join(map(str, nodes[:12])) + (" ..." if len(nodes) > 12 else "")


def change_of_distance(X_m, u_m, bonds) -> np.ndarray:
    """Elongation (n_bonds,) m: |X_j + u_j - X_i - u_i| - |X_j - X_i| (hub-centre distances)."""
    X, u = np.asarray(X_m, float), np.asarray(u_m, float)
    i, j = bonds[:, 0], bonds[:, 1]
    return np.linalg.norm(X[j] + u[j] - X[i] - u[i], axis=1) - np.linalg.norm(X[j] - X[i], axis=1)


@dataclass
class PhotoResult:
    """One state photo: displacement (n_nodes, 2) m, hub pixel positions, and its reference centres."""

    path: str
    u_m: np.ndarray
    hub_px: np.ndarray
    ref_px: np.ndarray
    edge_sigma_px: float


@dataclass
class Analysis:
    """Everything ``femnn measure`` found (the Measurement and what the pictures/report need)."""

    measurement: Measurement
    photos: dict = field(default_factory=dict)      # state -> [PhotoResult]
    reference_path: str = ""
    reference_px: np.ndarray | None = None
    radius_px: float = 0.0
    seconds: dict = field(default_factory=dict)


def _sharpness(gray, src, radius_px, fits=None) -> float:
    """Edge blur sigma (px) from the hub rims; refuses a blurred photo."""
    sig = np.array([f.edge_sigma_px for f in fits if f is not None and np.isfinite(f.edge_sigma_px)]) if fits else np.array([])
    if sig.size:
        s = float(np.median(sig))
    else:
        s = _gradient_sigma(gray)
    if not np.isfinite(s) or s > BLUR_LIMIT * radius_px:
        raise InputError(src, "focus", f"blurred: the hub rims are smeared over sigma = {s:.1f} px (hub radius {radius_px:.0f} px; "
                         f"at most {BLUR_LIMIT * radius_px:.1f} px is usable); focus on the part and retake the photo")
    return s


def _gradient_sigma(gray) -> float:
    """Blur sigma of the sharpest edges: a Gaussian-blurred step of contrast C has max slope C / (sigma sqrt(2 pi))."""
    import cv2

    g = cv2.GaussianBlur(gray, (0, 0), 1.0)
    gx, gy = cv2.Sobel(g, cv2.CV_32F, 1, 0, ksize=3) / 8, cv2.Sobel(g, cv2.CV_32F, 0, 1, ksize=3) / 8
    mag = np.hypot(gx, gy)
    thr = P._otsu(gray)
    C = float(np.median(gray[gray >= thr]) - np.median(gray[gray < thr]))
    gm = float(np.percentile(mag, 99.9))
    s_tot = C / (np.sqrt(2 * np.pi) * max(gm, 1e-9))
    return float(np.sqrt(max(s_tot ** 2 - 1.0, 0.0)))


def _assign_near(blobs: P.Blobs, expected_px, search_px):
    """Nearest blob to each expected position within ``search_px`` (-1: none) and the unused blobs."""
    from scipy.spatial import cKDTree

    n = len(expected_px)
    if len(blobs.centres_px) == 0:
        return np.full(n, -1), np.zeros(0, int)
    d, idx = cKDTree(blobs.centres_px).query(expected_px)
    a = np.where(d < search_px, idx, -1)
    used = set(a[a >= 0].tolist())
    extra = np.array([k for k in range(len(blobs.centres_px)) if k not in used], int)
    return a, extra


def _refuse_extra(src, blobs, extra):
    c = blobs.centres_px[extra[0]]
    more = f" (and {len(extra) - 1} more)" if len(extra) > 1 else ""
    raise InputError(src, "hubs", f"a dark round blob at px ({c[0]:.0f}, {c[1]:.0f}){more} looks like a hub but is at no node "
                     "of the network; remove it from the picture (or crop the photo) and retake")


def analyse_reference(task, path, progress=None):
    """Reference photo -> (gray, sub-pixel hub centres (n, 2) px, radius px, H design mm -> px, fits)."""
    src = str(path)
    net = task.network
    X_mm = net.nodes_m * 1e3
    gray = P.read_photo(path)
    P.check_exposure(gray, src)
    blobs = P.detect_hubs(gray)
    n = net.n_nodes
    if len(blobs.centres_px) < 3:
        raise InputError(src, "hubs", f"found {len(blobs.centres_px)} round dark hubs, the network {net.name!r} has {n}; "
                         "is the part in the picture, dark on a light background?")
    Hm, assign = P.match_nodes(X_mm, blobs)
    matched = assign >= 0
    if Hm is None or matched.sum() < max(4, int(np.ceil(0.6 * n))):
        raise InputError(src, "hubs", f"{len(blobs.centres_px)} round hubs found, of which only {int(matched.sum())} fit the "
                         f"layout of network {net.name!r} ({n} nodes); is it a photo of another network?")
    R = float(np.median(blobs.radii_px[assign[matched]]))
    missing = np.flatnonzero(~matched)
    if missing.size >= 3:
        raise InputError(src, "hubs", f"only {int(matched.sum())} of the {n} hubs of network {net.name!r} found "
                         f"({_nodes_list(missing)} missing); is it a photo of another network, or is part of it outside "
                         "the picture?")
    if missing.size:
        raise InputError(src, "hubs", f"{_nodes_list(missing)} not found near {'its' if missing.size == 1 else 'their'} "
                         "expected place; is it hidden or out of focus?")
    extra = np.setdiff1d(np.arange(len(blobs.centres_px)), assign)
    if extra.size:
        _refuse_extra(src, blobs, extra)
    fits = [P.fit_hub(gray, blobs.centres_px[assign[j]], R) for j in range(n)]
    bad = [j for j, f in enumerate(fits) if f is None]
    _sharpness(gray, src, R, [f for f in fits if f is not None])
    if bad:
        raise InputError(src, "hubs", f"{_nodes_list(bad)}: no clean rim found (the hub's edge is covered or blurred); "
                         "is it hidden or out of focus?")
    c = np.array([f.centre_px for f in fits])
    R = float(np.median([f.radius_px for f in fits]))
    Hm = P.fit_homography(X_mm, c)
    res = np.linalg.norm(P.apply_h(Hm, X_mm) - c, axis=1)
    if res.max() > RESIDUAL_LIMIT * R:
        j = int(np.argmax(res))
        raise InputError(src, "hubs", f"node {j} is {res[j]:.1f} px off the camera map fitted on all hubs (hub radius "
                         f"{R:.0f} px); is it a photo of another network, or a strongly distorting lens?")
    return gray, c, R, Hm, fits


def analyse_state(task, gray_ref, c_ref, R, Hm, path, shape):
    """One state photo -> PhotoResult (refuses missing/extra hubs, blur, exposure, size)."""
    src = str(path)
    net = task.network
    gray = P.read_photo(path)
    if gray.shape != shape:
        raise InputError(src, "size", f"{gray.shape[1]} x {gray.shape[0]} px, the reference photo is {shape[1]} x {shape[0]}; "
                         "take every photo with the same camera, zoom and position")
    P.check_exposure(gray, src)
    blobs = P.detect_hubs(gray, R)
    # search radius: less than half the shortest hub-to-hub distance in the reference
    d = np.linalg.norm(c_ref[net.bonds[:, 0]] - c_ref[net.bonds[:, 1]], axis=1)
    search = 0.45 * float(d.min())
    a, extra = _assign_near(blobs, c_ref, search)
    missing = np.flatnonzero(a < 0)
    if missing.size:
        if missing.size == net.n_nodes or missing.size > 0.6 * net.n_nodes:
            raise InputError(src, "hubs", f"{_nodes_list(missing)} not found near their places in the reference photo; "
                             "is it a photo of another network, or did the camera move?")
        raise InputError(src, "hubs", f"{_nodes_list(missing)} not found near {'its' if missing.size == 1 else 'their'} "
                         "expected place; is it hidden or out of focus?")
    if extra.size:
        _refuse_extra(src, blobs, extra)
    ref_c, st_c, sig = np.zeros_like(c_ref), np.zeros_like(c_ref), []
    bad = []
    for j in range(net.n_nodes):
        fa, fb = P.track_hub(gray_ref, gray, c_ref[j], blobs.centres_px[a[j]], R)
        if fb is None:
            bad.append(j)
            continue
        ref_c[j], st_c[j] = fa.centre_px, fb.centre_px
        sig.append(fb)
    _sharpness(gray, src, R, sig)
    if bad:
        raise InputError(src, "hubs", f"{_nodes_list(bad)}: no clean rim found near its expected place; is it hidden or out of focus?")
    u_mm = P.px_to_design_mm(Hm, st_c) - P.px_to_design_mm(Hm, ref_c)
    return PhotoResult(src, u_mm * 1e-3, st_c, ref_c, float(np.median([f.edge_sigma_px for f in sig])))


def state_load_N(task, name, u_forward_m=None, adjoint_scale=1.0, sample=0):
    """The load of a state named forward (the task's, sample ``sample``) or adjoint (``adjoint_scale`` x
    -∂L/∂ū at the measured forward output, as the paper hangs it); None for any other name."""
    from femnn.lab.render import state_loads

    if name == "forward":
        return state_loads(task, "forward", sample=sample)
    if name == "adjoint" and u_forward_m is not None:
        return adjoint_scale * state_loads(task, "adjoint", u_forward_m, sample=sample)
    return None


def assemble(task, per_state: dict, X_ref_m, camera: dict, px_per_mm, hub_px: dict, adjoint_scale=1.0, sample=0) -> Measurement:
    """Measurement from per-state lists of displacement arrays (mean, standard error, elongations)."""
    net = task.network
    states = {}
    for name, us in per_state.items():
        U = np.stack(us)
        u = U.mean(axis=0)
        std = U.std(axis=0, ddof=1) / np.sqrt(len(us)) if len(us) > 1 else None
        e = change_of_distance(X_ref_m, u, net.bonds)
        states[name] = [u, e, std, len(us)]
    u_fwd = states["forward"][0] if "forward" in states else None
    out = {}
    for name, (u, e, std, k) in states.items():
        out[name] = StateMeasurement(u, e, hub_px=hub_px.get(name), u_std_m=std, n_photos=k,
                                     load_N=state_load_N(task, name, u_fwd, adjoint_scale, sample))
    return Measurement(net.nodes_m.copy(), net.bonds.copy(), out, task=task.name, network_source=str(net.source or ""),
                       px_per_mm=px_per_mm, camera=camera)


def measure_photos(task, reference, states, progress=None, adjoint_scale=1.0, sample=0) -> Analysis:
    """Reference photo + [(state name, photo path)] -> :class:`Analysis` (refuses bad photos, writes nothing)."""
    say = progress or (lambda m: None)
    t0 = time.perf_counter()
    say(f"reference {reference}: finding hubs")
    gray_ref, c, R, Hm, fits = analyse_reference(task, reference)
    t_ref = time.perf_counter() - t0
    X_mm = task.network.nodes_m * 1e3
    res = P.apply_h(Hm, X_mm) - c
    photos, per_state, hub_px, t_states = {}, {}, {}, []
    for name, path in states:
        t1 = time.perf_counter()
        say(f"{name} {path}: tracking {task.network.n_nodes} hubs")
        pr = analyse_state(task, gray_ref, c, R, Hm, path, gray_ref.shape)
        photos.setdefault(name, []).append(pr)
        per_state.setdefault(name, []).append(pr.u_m)
        hub_px.setdefault(name, pr.hub_px)
        t_states.append(time.perf_counter() - t1)
    X_ref_m = P.px_to_design_mm(Hm, c) * 1e-3
    centroid = X_mm.mean(axis=0)
    s = P.px_per_mm_of(Hm, centroid)
    camera = {"homography": Hm.tolist(), "homography_maps": "design mm (x right, y up) -> px [col, row] (rows down)",
              "residuals_px": np.linalg.norm(res, axis=1).tolist(), "residual_rms_px": float(np.sqrt(np.mean(np.sum(res ** 2, 1)))),
              "reference_photo": str(reference), "reference_hub_px": c.tolist(), "hub_radius_px": R,
              "photos": {name: [p.path for p in prs] for name, prs in photos.items()},
              "edge_sigma_px": {name: [p.edge_sigma_px for p in prs] for name, prs in photos.items()},
              "method": "rim fit: 360 rays, mid-level crossing, least-squares circle, same rays in both photos"}
    camera["adjoint_load_scale"], camera["sample"] = float(adjoint_scale), int(sample)
    m = assemble(task, per_state, X_ref_m, camera, s, hub_px, adjoint_scale, sample)
    return Analysis(m, photos, str(reference), c, R, {"reference_s": t_ref, "states_s": t_states,
                                                      "total_s": time.perf_counter() - t0})


# ------------------------------------------------------------------------------------------- tracks
def read_tracks(path, unit: str, px_per_mm: float | None, n_nodes: int):
    """CSV with columns node,state,x,y -> {state: [(n_nodes, 2) positions, one per photo]} in px [col, row].

    ``unit`` px: x = column, y = row (down), as image tools write; mm: x right, y up (mm, the network
    frame up to a rotation/translation; converted with 1 px = 1 mm, y flipped). Repeated rows of
    one (state, node) are repeated photos, in order. The state ``reference`` is required."""
    import csv

    src = str(path)
    p = Path(path)
    if not p.is_file():
        raise InputError(src, "", "no such file; give a CSV with columns node,state,x,y")
    if unit not in ("px", "mm"):
        raise InputError("--tracks-unit", "", f"{unit!r}; expected px or mm")
    if unit == "px" and not px_per_mm:
        raise InputError("--px-per-mm", "", "needed with --tracks-unit px (the camera scale of the tracked points)")
    rows = {}
    try:
        with p.open(newline="") as fh:
            rd = csv.DictReader(fh)
            cols = [c.strip().lower() for c in (rd.fieldnames or [])]
            if not {"node", "state", "x", "y"} <= set(cols):
                raise InputError(src, "header", f"columns {cols}; expected node,state,x,y")
            for ln, row in enumerate(rd, start=2):
                row = {k.strip().lower(): (v or "").strip() for k, v in row.items() if k}
                try:
                    j = int(row["node"])
                    x, y = float(row["x"]), float(row["y"])
                except ValueError:
                    raise InputError(src, f"line {ln}", f"node {row['node']!r}, x {row['x']!r}, y {row['y']!r}: expected an "
                                     "integer node and numbers") from None
                if not 0 <= j < n_nodes or not np.isfinite([x, y]).all():
                    raise InputError(src, f"line {ln}", f"node {j} (the network has nodes 0..{n_nodes - 1}) or a non-finite value")
                rows.setdefault(row["state"], {}).setdefault(j, []).append((x, y) if unit == "px" else (x, -y))
    except UnicodeDecodeError:
        raise InputError(src, "", "not a text CSV file") from None
    if "reference" not in rows:
        raise InputError(src, "state", f"states {sorted(rows)}; a state named 'reference' (the unloaded part) is required")
    out = {}
    for st, per_node in rows.items():
        missing = [j for j in range(n_nodes) if j not in per_node]
        if missing:
            raise InputError(src, f"state {st}", f"{_nodes_list(missing)} missing; every node needs a position in every state")
        k = {len(v) for v in per_node.values()}
        if len(k) != 1:
            raise InputError(src, f"state {st}", "nodes have different numbers of rows; give each node once per photo")
        kk = k.pop()
        out[st] = [np.array([per_node[j][i] for j in range(n_nodes)], float) for i in range(kk)]
    return out


def measure_tracks(task, path, unit="px", px_per_mm=None, adjoint_scale=1.0, sample=0) -> Analysis:
    """Tracked hub positions (CSV) -> Analysis (same conversions as the photos)."""
    net = task.network
    X_mm = net.nodes_m * 1e3
    tr = read_tracks(path, unit, px_per_mm, net.n_nodes)
    refs = tr.pop("reference")
    c = np.mean(refs, axis=0)
    Hm = P.fit_homography(X_mm, c)
    res = P.apply_h(Hm, X_mm) - c
    per_state, hub_px = {}, {}
    for st, lst in tr.items():
        per_state[st] = [(P.px_to_design_mm(Hm, q) - P.px_to_design_mm(Hm, c)) * 1e-3 for q in lst]
        hub_px[st] = lst[0] if unit == "px" else None
    if not per_state:
        raise InputError(str(path), "state", "only the reference state is given; add rows of at least one loaded state")
    s = P.px_per_mm_of(Hm, X_mm.mean(axis=0))
    camera = {"homography": Hm.tolist(), "homography_maps": f"design mm -> track {unit} ([col, row] rows down)" if unit == "px"
              else "design mm -> track mm with y flipped", "residuals_px": np.linalg.norm(res, axis=1).tolist(),
              "residual_rms_px": float(np.sqrt(np.mean(np.sum(res ** 2, 1)))), "tracks": str(path), "tracks_unit": unit,
              "stated_px_per_mm": px_per_mm}
    m = assemble(task, per_state, P.px_to_design_mm(Hm, c) * 1e-3, camera, s if unit == "px" else None, hub_px,
                 adjoint_scale, sample)
    return Analysis(m, {}, "", c if unit == "px" else None, 0.0, {})


# ---------------------------------------------------------------------------------- report, overlays
def fem_states(comm, task, m: Measurement, dim: int, opts=None) -> dict:
    """The FEM of the printed part under every measured state's load (one mesh, one factorisation, one
    solve per state): hub-mean displacements u_m (n_nodes, 2) and elongations e_m = C u per state."""
    import femnn.fem as fem
    from femnn.bars import BarModel

    names = [k for k, s in m.states.items() if s.load_N is not None]
    if not names:
        return {}
    prob, _, _ = fem.part_problem(comm, task, dim, opts or fem.FemOptions(quick=True))
    U = fem.solve_loads(comm, prob, np.stack([np.asarray(m.states[k].load_N) for k in names]), task.network.n_nodes)
    bm = BarModel(task.network)
    return {k: {"u_m": U[i], "e_m": bm.elongations(U[i])} for i, k in enumerate(names)}


def _gradient_scores(g, gm) -> dict:
    from scipy.stats import spearmanr

    return {"accuracy": float(1 - np.linalg.norm(g - gm) / np.linalg.norm(gm)),
            "sign_agreement": float(np.mean(np.sign(g) == np.sign(gm))), "spearman": float(spearmanr(g, gm).statistic)}


def model_comparison(task, m: Measurement, fem: dict | None = None) -> dict:
    """Bar-model displacements/elongations for the measured states with known loads, and the gradient;
    with ``fem`` (:func:`fem_states`) the same against the FEM of the part under ``fem["name"]``."""
    from scipy.stats import spearmanr

    from femnn.bars import BarModel

    bm = BarModel(task.network)
    fac = bm.factorize(task.network.stiffness_N_per_m())
    out = {"states": {}}
    for name, s in m.states.items():
        if s.load_N is None:
            continue
        u = fac.solve(np.asarray(s.load_N))
        out["states"][name] = {"u_m": u, "e_m": bm.elongations(u)}
    if fem:
        out["fem"] = {"name": fem["name"], "states": fem["states"]}
        for name, st in fem["states"].items():
            d = m.states[name].u_m - st["u_m"]
            st["rms_m"] = float(np.sqrt(np.mean(np.sum(d ** 2, 1))))
        if m.gradient_m2 is not None and {"forward", "adjoint"} <= set(fem["states"]):
            gf = fem["states"]["adjoint"]["e_m"] * fem["states"]["forward"]["e_m"]
            out["fem"]["gradient_m2"] = gf
            out["fem"].update(_gradient_scores(m.gradient_m2, gf))
    g = m.gradient_m2
    if g is not None and {"forward", "adjoint"} <= set(out["states"]):
        gm = out["states"]["adjoint"]["e_m"] * out["states"]["forward"]["e_m"]
        out["gradient_model_m2"] = gm
        out["accuracy"] = float(1 - np.linalg.norm(g - gm) / np.linalg.norm(gm))
        out["sign_agreement"] = float(np.mean(np.sign(g) == np.sign(gm)))
        out["spearman"] = float(spearmanr(g, gm).statistic)
        # the same with linearised measured elongations (u_j - u_i)·n, the bar model's own definition
        n = task.network.unit_vectors
        lin = {k: np.sum((m.states[k].u_m[m.bonds[:, 1]] - m.states[k].u_m[m.bonds[:, 0]]) * n, axis=1)
               for k in ("forward", "adjoint")}
        gl = lin["adjoint"] * lin["forward"]
        out["gradient_linear_m2"] = gl
        out["accuracy_linear"] = float(1 - np.linalg.norm(gl - gm) / np.linalg.norm(gm))
        out["sign_agreement_linear"] = float(np.mean(np.sign(gl) == np.sign(gm)))
        out["spearman_linear"] = float(spearmanr(gl, gm).statistic)
    return out
