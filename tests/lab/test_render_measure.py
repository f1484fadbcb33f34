"""femnn render -> femnn measure on synthetic photos rendered from the 3D FEM (ground truth known).

Each photo set is rendered once per session (quick 3D mesh, one factorisation for all states): the
part at 40 px/mm, camera roll 1.5°, tilt 2° (a homography), Gaussian blur 1.2 px, noise 2 % of full
scale, a 15 % lighting ramp. The truth is the FEM's hub-mean displacement ū_j (m) of every hub.
"""

import json
import os

import numpy as np
import pytest

os.environ.setdefault("VTK_DEFAULT_OPENGL_WINDOW", "vtkEGLRenderWindow")

from femnn.errors import InputError  # noqa: E402
from femnn.lab import measure as M  # noqa: E402
from femnn.lab import photos as P  # noqa: E402
from femnn.network import load_task  # noqa: E402

CAMERA = dict(px_per_mm=40.0, roll_deg=1.5, tilt_deg=2.0, blur_px=1.2, noise=0.02, lighting_gradient=0.15, seed=3,
              supersample=2)


def _render(tmp_path_factory, name, task, states=("none", "forward", "adjoint"), adjoint_max_force_N=None, **cam):
    import dolfinx_solver  # noqa: F401
    from mpi4py import MPI

    import femnn.fem as F
    from femnn.lab.render import Camera, render_states, write_png

    d = tmp_path_factory.mktemp(name)
    res = render_states(MPI.COMM_SELF, task, list(states), Camera(**{**CAMERA, **cam}), F.FemOptions(quick=True),
                        adjoint_max_force_N=adjoint_max_force_N)
    out = {}
    for st, (rgb, truth) in res.items():
        write_png(d / f"{st}.png", rgb)
        (d / f"{st}.json").write_text(json.dumps(truth))
        out[st] = (d / f"{st}.png", truth)
    return task, out


@pytest.fixture(scope="module")
def fig1(tmp_path_factory):
    return _render(tmp_path_factory, "fig1", load_task("fig1"))


@pytest.fixture(scope="module")
def fig1_measured(fig1):
    task, ph = fig1
    return M.measure_photos(task, ph["none"][0], [("forward", ph["forward"][0]), ("adjoint", ph["adjoint"][0])])


def _rms_um(u, v):
    return float(np.sqrt(np.mean(np.sum((np.asarray(u) - np.asarray(v)) ** 2, axis=1))) * 1e6)


def _true_gradient(task, truth_f, truth_a):
    X = task.network.nodes_m
    e = M.change_of_distance(X, truth_f["u_hub_m"], task.network.bonds)
    ea = M.change_of_distance(X, truth_a["u_hub_m"], task.network.bonds)
    return ea * e


def test_px_to_design_flips_rows_with_an_asymmetric_pattern():
    """Image rows run DOWN, the network's y UP: a point above (y + 1 mm) must have a SMALLER row and the
    inverse homography must return it; asymmetric points (no symmetry can hide a swapped axis)."""
    X = np.array([[0, 0], [10, 0], [0, 5], [7, 9], [3, -2.0]])
    s = 40.0
    px = np.stack([100 + s * X[:, 0], 900 - s * X[:, 1]], axis=1)   # [col, row]
    Hm = P.fit_homography(X, px)
    assert np.allclose(P.apply_h(Hm, X), px, atol=1e-9)
    up = P.apply_h(Hm, np.array([[3.0, 4.0]]))[0]
    below = P.apply_h(Hm, np.array([[3.0, 3.0]]))[0]
    assert up[1] < below[1] and np.isclose(below[1] - up[1], s)
    assert np.allclose(P.px_to_design_mm(Hm, [[100 + 40 * 7, 900 - 40 * 9]]), [[7, 9]])
    assert np.isclose(P.px_per_mm_of(Hm, [1, 1]), s)


def test_render_places_hubs_where_the_truth_says(fig1):
    """The rim centres found in the rendered reference photo are the sidecar's hub pixels (the design ->
    pixel map of the render, roll and tilt included) to 0.2 px: the renderer's geometry is right."""
    task, ph = fig1
    gray, c, R, Hm, fits = M.analyse_reference(task, ph["none"][0])
    truth = np.array(ph["none"][1]["hub_px"])
    assert np.max(np.linalg.norm(c - truth, axis=1)) < 0.2
    assert abs(R / 40.0 - ph["none"][1]["hub_radius_m"] * 1e3) < 0.05  # hub radius in mm from the photo
    # the fitted camera map equals the render's H_design_mm_to_px at the hubs
    Htrue = np.array(ph["none"][1]["H_design_mm_to_px"])
    X = task.network.nodes_m * 1e3
    assert np.max(np.linalg.norm(P.apply_h(Hm, X) - P.apply_h(Htrue, X), axis=1)) < 0.2


@pytest.mark.parametrize("state", ["forward", "adjoint"])
def test_fig1_hub_displacements_within_10_um(fig1, fig1_measured, state):
    """Measured ū_j vs the FEM's hub means: RMS over the 14 hubs < 10 µm (0.4 px at 40 px/mm), while the
    displacements are ~1 mm (tens of px), i.e. sub-pixel tracking through roll, tilt, blur and noise."""
    task, ph = fig1
    u = fig1_measured.measurement.states[state].u_m
    ut = ph[state][1]["u_hub_m"]
    assert np.max(np.abs(ut)) > 0.5e-3
    assert _rms_um(u, ut) < 10.0
    # the direction is right: the loaded node 12 moves down (y up in the network frame)
    if state == "forward":
        assert u[12, 1] < -1e-3


def test_fig1_gradient_within_5_percent(fig1, fig1_measured):
    """g = e_adj ∘ e (e = change of hub-centre distance) from the photos vs from the FEM's true hub
    displacements: ||g_meas - g_true|| / ||g_true|| < 5 %."""
    task, ph = fig1
    g_true = _true_gradient(task, ph["forward"][1], ph["adjoint"][1])
    g = fig1_measured.measurement.gradient_m2
    assert np.linalg.norm(g - g_true) / np.linalg.norm(g_true) < 0.05


def test_repeated_photos_give_mean_and_standard_error(fig1, tmp_path):
    """Two photos of the forward state with independent noise: n_photos = 2, mean within 10 µm of the
    truth, standard error = |u_a - u_b| / 2 per component (two samples), small (< 5 µm)."""
    import cv2

    task, ph = fig1
    img = cv2.imread(str(ph["forward"][0])).astype(np.float32)
    img += np.random.default_rng(7).normal(0, 4, img.shape).astype(np.float32)
    second = tmp_path / "forward_b.png"
    cv2.imwrite(str(second), np.clip(img, 0, 255).astype(np.uint8))
    an = M.measure_photos(task, ph["none"][0], [("forward", ph["forward"][0]), ("forward", second)])
    s = an.measurement.states["forward"]
    assert s.n_photos == 2 and s.u_std_m is not None
    ua, ub = an.photos["forward"][0].u_m, an.photos["forward"][1].u_m
    assert np.allclose(s.u_std_m, np.abs(ua - ub) / 2, atol=1e-12)
    assert np.max(s.u_std_m) < 5e-6
    assert _rms_um(s.u_m, ph["forward"][1]["u_hub_m"]) < 10.0


def test_cli_measure_writes_results(fig1, tmp_path, femnn_cli):
    """`femnn measure` end to end: exit 0, measurement.json readable by read_measurement with the
    contract's keys, overlays and report written."""
    from femnn.lab import read_measurement

    _, ph = fig1
    out = tmp_path / "m"
    r = femnn_cli("measure", "fig1", "--reference", ph["none"][0], "--state", f"forward={ph['forward'][0]}",
                  "--state", f"adjoint={ph['adjoint'][0]}", "--out", out)
    assert r.returncode == 0, r.stderr
    m = read_measurement(out)
    assert set(m.states) == {"forward", "adjoint"} and m.gradient_m2 is not None
    assert abs(m.px_per_mm - 40.0) < 1.0 and max(m.camera["residuals_px"]) < 0.5
    d = json.loads((out / "measurement.json").read_text())
    assert {"nodes", "bonds", "px_per_mm", "states", "gradient_m2", "camera"} <= set(d)
    assert d["states"]["adjoint"]["load_N"] is not None
    for f in ("overlay_forward.png", "overlay_adjoint.png", "report.md"):
        assert (out / f).stat().st_size > 0
    rep = (out / "report.md").read_text()
    assert "Accuracy 1 - ||g_meas - g_bar|| / ||g_bar||" in rep and "Spearman" in rep


def _refused(femnn_cli, tmp_path, ref, state_photo, name="forward", task="fig1"):
    out = tmp_path / "refused"
    r = femnn_cli("measure", task, "--reference", ref, "--state", f"{name}={state_photo}", "--out", out)
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert not out.exists()  # nothing written
    lines = [ln for ln in r.stderr.strip().splitlines() if ln]
    errors = [ln for ln in lines if "error:" in ln]  # progress lines may precede the one error line
    assert len(errors) == 1 and lines[-1] == errors[0] and "Traceback" not in r.stderr
    return errors[0]


def test_refuses_a_hidden_hub(fig1, tmp_path, femnn_cli):
    """Node 9 covered by a light patch in the forward photo -> exit 2 naming the photo and node 9."""
    import cv2

    _, ph = fig1
    img = cv2.imread(str(ph["forward"][0]))
    c, r = np.rint(ph["forward"][1]["hub_px"][9]).astype(int)
    img[r - 90:r + 90, c - 90:c + 90] = 190
    bad = tmp_path / "forward.png"
    cv2.imwrite(str(bad), img)
    line = _refused(femnn_cli, tmp_path, ph["none"][0], bad)
    assert "forward.png" in line and "node 9 not found near its expected place" in line


def test_refuses_an_extra_blob(fig1, tmp_path, femnn_cli):
    """A dark disc of hub size on the background (a screw head) -> refused, its pixel position named."""
    import cv2

    _, ph = fig1
    img = cv2.imread(str(ph["none"][0]))
    cv2.circle(img, (150, img.shape[0] - 150), 62, (18, 18, 18), -1, cv2.LINE_AA)
    bad = tmp_path / "reference.png"
    cv2.imwrite(str(bad), img)
    line = _refused(femnn_cli, tmp_path, bad, ph["forward"][0])
    assert "reference.png" in line and "looks like a hub but is at no node" in line and "(150," in line


def test_refuses_blurred_and_over_exposed_and_unreadable(fig1, tmp_path, femnn_cli):
    import cv2

    _, ph = fig1
    img = cv2.imread(str(ph["forward"][0]))
    blurred = tmp_path / "blurred.png"
    cv2.imwrite(str(blurred), cv2.GaussianBlur(img, (0, 0), 12))
    assert "blurred.png" in (ln := _refused(femnn_cli, tmp_path, ph["none"][0], blurred)) and "blurred" in ln
    bright = tmp_path / "bright.png"
    cv2.imwrite(str(bright), np.clip(img.astype(np.float32) * 1.6, 0, 255).astype(np.uint8))
    assert "bright.png" in (ln := _refused(femnn_cli, tmp_path, ph["none"][0], bright)) and "over-exposed" in ln
    junk = tmp_path / "junk.png"
    junk.write_bytes(b"not a picture at all")
    assert "junk.png" in (ln := _refused(femnn_cli, tmp_path, ph["none"][0], junk)) and "not a readable image" in ln


def test_refuses_a_photo_of_another_network(fig1, tmp_path, femnn_cli):
    """The Fig. 1 photos measured as a 5-row lattice (20 nodes): refused as another network."""
    _, ph = fig1
    task_file = _rows5_task(tmp_path)
    line = _refused(femnn_cli, tmp_path, ph["none"][0], ph["forward"][0], task=task_file)
    assert "none.png" in line and "another network" in line


def test_tracks_csv_px_and_mm(fig1, tmp_path):
    """--tracks: the render's exact hub pixels (px, rows down) give the FEM's hub means to < 1 µm
    through the same homography; the same points in mm with y up give the same displacements."""
    task, ph = fig1
    lines_px, lines_mm = ["node,state,x,y"], ["node,state,x,y"]
    for st, name in (("none", "reference"), ("forward", "forward")):
        for j, (c, r) in enumerate(ph[st][1]["hub_px"]):
            lines_px.append(f"{j},{name},{c:.6f},{r:.6f}")
            lines_mm.append(f"{j},{name},{c / 40:.8f},{-r / 40:.8f}")
    (tmp_path / "px.csv").write_text("\n".join(lines_px) + "\n")
    (tmp_path / "mm.csv").write_text("\n".join(lines_mm) + "\n")
    a = M.measure_tracks(task, tmp_path / "px.csv", "px", 40.0).measurement
    b = M.measure_tracks(task, tmp_path / "mm.csv", "mm").measurement
    assert _rms_um(a.states["forward"].u_m, ph["forward"][1]["u_hub_m"]) < 1.0
    assert np.allclose(a.states["forward"].u_m, b.states["forward"].u_m, atol=1e-9)
    with pytest.raises(InputError, match="reference"):
        (tmp_path / "bad.csv").write_text("node,state,x,y\n0,forward,1,2\n")
        M.measure_tracks(task, tmp_path / "bad.csv", "px", 40.0)


def _rows5_task(d):
    from femnn.network import make_network, write_network

    net_path = d / "rows5.toml"
    if not net_path.exists():
        write_network(make_network("triangular", rows=5, name="rows5"), net_path)
    task = d / "rows5-task.toml"
    task.write_text('name = "rows5"\nnetwork = "rows5.toml"\nkind = "single"\n[units]\nlength = "m"\nforce = "N"\n'
                    '[[loads]]\nnode = 18\nforce = [0.0, -0.098]\n[outputs]\nnodes = [19]\ncomponents = ["y"]\n'
                    '[loss]\nkind = "mse"\nweight = 1.0\ntargets = [-0.025]\n')
    return task


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """The paper's network with the trained Iris widths (1.5-2.5 mm, geometry/trained/iris), sample 0's
    weights; the cross-entropy adjoint -∂L/∂ū (1/m) scaled to a 0.05 N largest force."""
    from pathlib import Path

    from femnn.train.runs import apply_run_widths

    root = Path(__file__).resolve().parents[2]
    task, _ = apply_run_widths(load_task("iris"), root / "geometry" / "trained" / "iris")
    return _render(tmp_path_factory, "trained", task, adjoint_max_force_N=0.05)


@pytest.fixture(scope="module")
def rows5(tmp_path_factory):
    """A generated 5-row triangular lattice (20 nodes, 43 bonds), 0.098 N on node 18, output node 19."""
    d = tmp_path_factory.mktemp("rows5task")
    return _render(tmp_path_factory, "rows5", load_task(_rows5_task(d)), roll_deg=-1.0, tilt_deg=-1.5, seed=5)


@pytest.mark.parametrize("which", ["trained", "rows5"])
def test_other_networks_displacements_and_gradient(which, request):
    """Trained widths and a larger lattice: hub displacements within 10 µm RMS of the FEM's hub means in
    both states, and the gradient e_adj ∘ e within 5 % (relative norm) of the one from the true ū."""
    task, ph = request.getfixturevalue(which)
    an = M.measure_photos(task, ph["none"][0], [("forward", ph["forward"][0]), ("adjoint", ph["adjoint"][0])])
    for st in ("forward", "adjoint"):
        ut = ph[st][1]["u_hub_m"]
        assert np.max(np.abs(ut)) > 0.2e-3
        assert _rms_um(an.measurement.states[st].u_m, ut) < 10.0, st
    g_true = _true_gradient(task, ph["forward"][1], ph["adjoint"][1])
    g = an.measurement.gradient_m2
    assert np.linalg.norm(g - g_true) / np.linalg.norm(g_true) < 0.05
