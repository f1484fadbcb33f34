"""Synthetic photos of the printed part: the 3D FEM deformed at true scale, seen by a camera.

``render_states(comm, task, states, camera, opts)`` solves the part once (one factorisation) for the
requested load states and returns, per state, an 8-bit RGB image and its ground truth:

1. The ideal picture: the deformed 3D part (dark, Agilus30-like) on a light background, rendered
   off-screen by pyvista with an orthographic camera looking down -z, ``px_per_mm`` pixels per mm,
   supersampled ``camera.supersample`` times and block-averaged (a camera pixel integrates light).
   Design mm -> ideal pixel is the affine map ``A``: col = (x - cx) s + W/2 - 1/2,
   row = (cy - y) s + H/2 - 1/2 (pixel centres at integers, rows run DOWN).
2. Camera effects in image space, each exactly invertible so the truth is known:
   roll and tilt as one homography ``T = K R_z(roll) R_x(tilt) K^-1`` (a camera rotated about its
   centre, focal length ``focal_px``), then radial distortion about the image centre with the model
   p_undistorted = c + (p - c)(1 + k1 |p - c|^2 / r_n^2), r_n = half the image diagonal (the image is
   resampled with cv2.remap, bilinear), then Gaussian blur (sigma ``blur_px``), a lighting ramp
   (1 + g * ramp, ramp in [-1, 1] along a seeded direction), Gaussian noise (sigma ``noise`` in full
   scale units, seeded per state) and 8-bit quantisation.
3. Ground truth (the sidecar JSON of ``femnn render``): ``H_design_mm_to_px`` = T A (before the
   distortion), the distortion model, the FEM hub-mean displacements ``u_hub_m`` (m, y up) and the
   pixel positions ``hub_px`` [col, row] of the displaced hub centres (x + u) through T A and the
   distortion; ``hub_px_reference`` of the undisplaced hubs.

States: ``none`` (no load), ``forward`` (the task's load; for data tasks sample ``sample``) and
``adjoint``: the adjoint load -∂L/∂ū evaluated at the FEM's forward hub means (femnn.train.losses), the
load the paper hangs in its second photo.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass

import numpy as np

PART_RGB = (0.07, 0.07, 0.08)        # Agilus30 black, matte
BACKGROUND_RGB = (0.78, 0.77, 0.74)  # light grey paper
STATES = ("none", "forward", "adjoint")


@dataclass(frozen=True)
class Camera:
    """Camera of a synthetic photo (pixels, degrees; ``noise`` and ``lighting_gradient`` in full-scale units)."""

    px_per_mm: float = 40.0
    roll_deg: float = 0.0
    tilt_deg: float = 0.0
    distortion_k1: float = 0.0
    blur_px: float = 0.0
    noise: float = 0.0
    lighting_gradient: float = 0.0
    seed: int = 0
    margin_mm: float = 6.0
    supersample: int = 3
    focal_px: float | None = None     # None: 1.5 x the image diagonal (a normal lens)


def adjoint_load_N(task, u_hub_m, sample: int = 0) -> np.ndarray:
    """-∂L/∂ū at the output DOFs for hub displacements ``u_hub_m`` (n_nodes, 2), as nodal forces (n_nodes, 2) N."""
    from femnn.train.losses import loss_and_grad

    u_out = np.asarray(u_hub_m, float).reshape(1, -1)[:, task.output_dofs]
    Y = task.Y[sample:sample + 1]
    _, g = loss_and_grad(task, u_out, Y)
    F = np.zeros(2 * task.network.n_nodes)
    F[task.output_dofs] = -g[0]
    return F.reshape(-1, 2)


def state_loads(task, state: str, u_forward_m=None, sample: int = 0) -> np.ndarray:
    """Nodal forces (n_nodes, 2) N of a state (``u_forward_m`` needed for ``adjoint``)."""
    n = task.network.n_nodes
    if state == "none":
        return np.zeros((n, 2))
    if state == "forward":
        loads = task.loads_N(None if task.kind == "single" else task.X)
        return np.asarray(loads[min(sample, loads.shape[0] - 1)], float)
    if state == "adjoint":
        return adjoint_load_N(task, u_forward_m, sample)
    raise ValueError(f"unknown state {state!r}; expected one of {STATES}")


def _homography_roll_tilt(W, H, roll_deg, tilt_deg, focal_px):
    f = focal_px or 1.5 * float(np.hypot(W, H))
    K = np.array([[f, 0, (W - 1) / 2], [0, f, (H - 1) / 2], [0, 0, 1.0]])
    a, b = np.radians(roll_deg), np.radians(tilt_deg)
    Rz = np.array([[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1]])
    Rx = np.array([[1, 0, 0], [0, np.cos(b), -np.sin(b)], [0, np.sin(b), np.cos(b)]])
    T = K @ Rz @ Rx @ np.linalg.inv(K)
    # keep the image centre where it was (a tilt alone shifts it): translate back
    c = np.array([(W - 1) / 2, (H - 1) / 2, 1.0])
    tc = T @ c
    tc = tc[:2] / tc[2]
    S = np.array([[1, 0, c[0] - tc[0]], [0, 1, c[1] - tc[1]], [0, 0, 1.0]])
    return S @ T


def apply_h(Hm, pts):
    """Apply a 3x3 homography to points (..., 2) [col, row] or [x, y]."""
    pts = np.asarray(pts, float)
    ph = pts @ Hm[:, :2].T + Hm[:, 2]
    return ph[..., :2] / ph[..., 2:3]


class Distortion:
    """Radial distortion about ``center``: undistort(p) = c + (p - c)(1 + k1 |p - c|^2 / r_n^2)."""

    def __init__(self, k1, center, r_norm):
        self.k1, self.c, self.rn = float(k1), np.asarray(center, float), float(r_norm)

    def undistort(self, p):
        d = np.asarray(p, float) - self.c
        r2 = np.sum(d * d, axis=-1, keepdims=True) / self.rn ** 2
        return self.c + d * (1 + self.k1 * r2)

    def distort(self, p):
        """Inverse of :meth:`undistort` (fixed-point iteration, converges for |k1| < 0.3)."""
        pu = np.asarray(p, float)
        q = pu.copy()
        for _ in range(60):
            d = q - self.c
            r2 = np.sum(d * d, axis=-1, keepdims=True) / self.rn ** 2
            q = self.c + (pu - self.c) / (1 + self.k1 * r2)
        return q

    def to_dict(self):
        return {"model": "undistorted = c + (p - c)(1 + k1 |p - c|^2 / r_n^2)", "k1": self.k1,
                "center_px": self.c.tolist(), "r_norm_px": self.rn}


def _layout(nodes_m, hub_radius_m, camera: Camera):
    """Image size and the design mm -> ideal px affine map A (3x3)."""
    s = camera.px_per_mm
    lo = nodes_m.min(0) * 1e3 - hub_radius_m * 1e3 - camera.margin_mm
    hi = nodes_m.max(0) * 1e3 + hub_radius_m * 1e3 + camera.margin_mm
    W, H = int(np.ceil((hi[0] - lo[0]) * s)), int(np.ceil((hi[1] - lo[1]) * s))
    cx, cy = (lo + hi) / 2
    A = np.array([[s, 0, -cx * s + W / 2 - 0.5], [0, -s, cy * s + H / 2 - 0.5], [0, 0, 1.0]])
    return W, H, (cx, cy), A


def _render_ideal(grid, disp_m, W, H, center_mm, camera: Camera) -> np.ndarray:
    """Grey image (H, W) float in [0, 1] of the deformed part, orthographic top view, supersampled."""
    os.environ.setdefault("VTK_DEFAULT_OPENGL_WINDOW", "vtkEGLRenderWindow")
    import pyvista

    f = int(camera.supersample)
    g = grid.copy()
    g.points = grid.points + disp_m
    surf = g.extract_surface(algorithm=None)
    # the ideal image in equal square tiles (a large image exceeds the GL viewport); each tile is a
    # parallel view of its own part of the plane, the window size never changes
    tile = 2048
    big_w, big_h = W * f, H * f
    s_hi = camera.px_per_mm * f * 1e3  # px per m
    nt_c, nt_r = -(-big_w // tile), -(-big_h // tile)
    out = np.empty((nt_r * tile, nt_c * tile), np.float32)
    pl = pyvista.Plotter(off_screen=True, window_size=(tile, tile))
    pl.add_mesh(surf, color=PART_RGB, lighting=False, show_edges=False)
    pl.set_background(BACKGROUND_RGB)
    cam = pl.camera
    cam.parallel_projection = True
    z = float(g.points[:, 2].max()) + 1.0
    for r0 in range(0, nt_r * tile, tile):
        for c0 in range(0, nt_c * tile, tile):
            # world position of this tile's centre (big-image pixel edges at integers)
            x_c = center_mm[0] * 1e-3 + ((c0 + tile / 2) - big_w / 2) / s_hi
            y_c = center_mm[1] * 1e-3 - ((r0 + tile / 2) - big_h / 2) / s_hi
            pl.camera_position = [(x_c, y_c, z), (x_c, y_c, 0.0), (0.0, 1.0, 0.0)]
            cam = pl.camera
            cam.parallel_projection = True
            cam.parallel_scale = tile / 2 / s_hi
            cam.clipping_range = (1e-3, 10.0)
            pl.render()
            img = pl.screenshot(return_img=True)
            if img.shape[:2] != (tile, tile):
                raise RuntimeError(f"off-screen render returned {img.shape[:2]}, expected {(tile, tile)}")
            out[r0:r0 + tile, c0:c0 + tile] = img[..., :3].astype(np.float32).mean(axis=2) / 255.0
    pl.close()
    return out[:big_h, :big_w].reshape(H, f, W, f).mean(axis=(1, 3))


def camera_effects(ideal, camera: Camera, state_seed: int):
    """Apply roll/tilt, distortion, blur, lighting and noise to an ideal grey image -> (uint8 RGB, T, Distortion)."""
    import cv2

    H, W = ideal.shape
    T = _homography_roll_tilt(W, H, camera.roll_deg, camera.tilt_deg, camera.focal_px)
    dist = Distortion(camera.distortion_k1, ((W - 1) / 2, (H - 1) / 2), 0.5 * np.hypot(W, H))
    cols, rows = np.meshgrid(np.arange(W, dtype=np.float64), np.arange(H, dtype=np.float64))
    p = np.stack([cols, rows], axis=-1)
    src = apply_h(np.linalg.inv(T), dist.undistort(p))
    bg = float(np.mean(BACKGROUND_RGB))
    img = cv2.remap(ideal.astype(np.float32), src[..., 0].astype(np.float32), src[..., 1].astype(np.float32),
                    interpolation=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=bg)
    if camera.blur_px > 0:
        img = cv2.GaussianBlur(img, (0, 0), camera.blur_px)
    rng = np.random.default_rng(state_seed)
    if camera.lighting_gradient:
        a = np.random.default_rng(camera.seed).uniform(0, 2 * np.pi)
        ramp = (np.cos(a) * (cols - W / 2) / (W / 2) + np.sin(a) * (rows - H / 2) / (H / 2)) / np.sqrt(2)
        img = img * (1 + camera.lighting_gradient * ramp).astype(np.float32)
    if camera.noise:
        img = img + rng.normal(0, camera.noise, img.shape).astype(np.float32)
    tint = np.array([1.0, 0.99, 0.96], np.float32)  # a slightly warm light: RGB, as a camera writes
    rgb = np.clip(np.rint(img[..., None] * tint * 255), 0, 255).astype(np.uint8)
    return rgb, T, dist


def _grid_and_fields(comm, task, states, opts, sample, adjoint_max_force_N=None):
    import dolfinx
    import dolfinx.plot
    import pyvista

    import femnn.fem as F

    if comm.size != 1:
        raise NotImplementedError("femnn render runs on one MPI rank (the picture is made on one process)")
    mesh, cell_tags, info = F.mesh_task(comm, task, 3, opts)
    prob = F.make_problem(comm, task, mesh, cell_tags, degree=opts.degree, solver=opts.solver)
    V1 = dolfinx.fem.functionspace(mesh, ("Lagrange", 1, (3,)))
    grid = pyvista.UnstructuredGrid(*dolfinx.plot.vtk_mesh(V1))
    n = task.network.n_nodes
    fields, u_fwd = {}, None
    need_fwd = "forward" in states or "adjoint" in states
    order = (["forward"] if need_fwd else []) + [s for s in states if s != "forward"]
    for st in order:
        if st == "none":
            fields[st] = (np.zeros((n, 2)), np.zeros((n, 2)), np.zeros(grid.points.shape), 1.0)
            continue
        load = state_loads(task, st, u_fwd, sample)
        scale = 1.0
        if st == "adjoint" and adjoint_max_force_N:
            scale = float(adjoint_max_force_N) / max(float(np.max(np.linalg.norm(load, axis=1))), 1e-300)
            load = load * scale
        u = dolfinx.fem.Function(prob.V)
        prob.solve(load, F.default_hub_tag, out=u)
        ubar = prob.hub_means(u, n, F.default_hub_tag)
        if st == "forward":
            u_fwd = ubar
        u1 = dolfinx.fem.Function(V1)
        u1.interpolate(u)
        fields[st] = (load, ubar, u1.x.array.reshape(-1, 3).copy(), scale)
    return grid, fields, info


def render_states(comm, task, states, camera: Camera = Camera(), opts=None, sample: int = 0, progress=None,
                  adjoint_max_force_N: float | None = None):
    """Synthetic photos of ``task``'s part in each state -> {state: (rgb uint8 (H, W, 3), truth dict)}.

    ``adjoint_max_force_N``: scale the adjoint load so that its largest nodal force is this (the
    -∂L/∂ū of a cross-entropy loss is in 1/m, not a weight one can hang); the scale is recorded as
    ``adjoint_scale`` (the measured e_adj ∘ e is that many times the gradient).

    One mesh and one factorisation for all states; every state shares the camera (roll, tilt,
    distortion), the noise differs per state (seeded by ``camera.seed`` and the state)."""
    import femnn.fem as F

    opts = opts or F.FemOptions()
    for st in states:
        if st not in STATES:
            raise ValueError(f"unknown state {st!r}; expected one of {STATES}")
    grid, fields, info = _grid_and_fields(comm, task, list(states), opts, sample, adjoint_max_force_N)
    net = task.network
    W, H, center_mm, A = _layout(net.nodes_m, info.hub_radius_m, camera)
    out = {}
    for i, st in enumerate(states):
        if progress:
            progress(f"rendering {st} ({W} x {H} px)")
        load, ubar, disp, scale = fields[st]
        ideal = _render_ideal(grid, disp, W, H, center_mm, camera)
        rgb, T, dist = camera_effects(ideal, camera, camera.seed * 1000 + 17 + STATES.index(st))
        Hd = T @ A
        ref_px = dist.distort(apply_h(Hd, net.nodes_m * 1e3))
        hub_px = dist.distort(apply_h(Hd, (net.nodes_m + ubar) * 1e3))
        truth = {"task": task.name if hasattr(task, "name") else "", "state": st, "sample": int(sample),
                 "camera": asdict(camera), "image_size_px": [W, H], "hub_radius_m": info.hub_radius_m,
                 "A_design_mm_to_ideal_px": A.tolist(), "T_roll_tilt": T.tolist(), "H_design_mm_to_px": Hd.tolist(),
                 "distortion": dist.to_dict(), "nodes_m": net.nodes_m.tolist(), "load_N": np.asarray(load).tolist(), "adjoint_scale": scale,
                 "u_hub_m": np.asarray(ubar).tolist(), "hub_px": hub_px.tolist(), "hub_px_reference": ref_px.tolist(),
                 "units": {"u_hub_m": "m, network frame (y up)", "hub_px": "[col, row], rows down",
                           "H_design_mm_to_px": "design mm (y up) -> px [col, row], before the distortion"}}
        out[st] = (rgb, truth)
    return out


def write_png(path, rgb) -> None:
    """Write an RGB uint8 image atomically (PNG)."""
    from pathlib import Path

    import cv2

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp.png")
    if not cv2.imwrite(str(tmp), np.ascontiguousarray(rgb[..., ::-1])):
        raise OSError(f"{path}: could not write the image")
    os.replace(tmp, path)
