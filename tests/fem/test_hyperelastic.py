"""Hyperelastic FEM (femnn.fem.hyperelastic), the linearity study and ``femnn linearity``.

Closed forms used below (uniaxial nominal stress P along x, lateral faces free, dead load):
with principal stretches (λ1, λt, λt), W(λ1, λt) the law of the module docstring evaluated at
C = diag(λ1², λt², λt²); the lateral stretch solves ∂W/∂λt = 0 and P = ∂W/∂λ1. In 2D plane stress
the out-of-plane stretch is eliminated inside the element (closed form / unrolled Newton), the
in-plane lateral one by the FEM; in 3D both by the FEM; the two must give the same curve.
A homogeneous state (u linear in X) lies in the P1 space, so the FEM reproduces it to the Newton
tolerance, not to a discretisation error: the tolerance below is 1e-8 relative.
"""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy.optimize import brentq

MPIEXEC = str(Path(sys.executable).parent / "mpiexec")
E, NU, T = 5.5e5, 0.49, 2e-3


# ---- an independent numpy statement of the laws (module docstring) --------------------------------
def _w(law, lam1, lat_sq_2, lat_sq_3):
    """W for C = diag(λ1², a, b) (a, b squared lateral stretches), coefficients from femnn's law."""
    c = law.coefficients_Pa
    I1 = lam1 ** 2 + lat_sq_2 + lat_sq_3
    I2 = lam1 ** 2 * lat_sq_2 + lam1 ** 2 * lat_sq_3 + lat_sq_2 * lat_sq_3
    J = lam1 * np.sqrt(lat_sq_2 * lat_sq_3)
    L = law.volumetric_Pa
    vol = L / 4 * (J ** 2 - 1 - 2 * np.log(J))
    if law.kind == "neo-hookean":
        return law.mu_Pa / 2 * (I1 - 3 - 2 * np.log(J)) + vol
    if law.kind == "mooney-rivlin":
        return c["C10"] * (I1 - 3) + c["C01"] * (I2 - 3) - 2 * (c["C10"] + 2 * c["C01"]) * np.log(J) + vol
    a = I1 - 3
    return c["C10"] * a + c["C20"] * a ** 2 + c["C30"] * a ** 3 - 2 * c["C10"] * np.log(J) + vol


def _uniaxial(law, lam1):
    """(P, λt) of the uniaxial-stress state with stretch λ1 (central differences, h = 1e-6)."""
    h = 1e-6

    def dW_dlat(lt):
        return (_w(law, lam1, (lt + h) ** 2, (lt + h) ** 2) - _w(law, lam1, (lt - h) ** 2, (lt - h) ** 2)) / (2 * h)

    lt = brentq(dW_dlat, 0.3, 1.5, xtol=1e-15)
    P = (_w(law, lam1 + h, lt ** 2, lt ** 2) - _w(law, lam1 - h, lt ** 2, lt ** 2)) / (2 * h)
    return P, lt


def _uniaxial_fem(comm, dim, law, P_Pa, n=2, unload_check=False):
    """FEM stretch (λ1, λ2) of a P1 box/rectangle with sliding symmetry planes x = 0, y = 0 (z = 0)
    and a dead nominal traction P on x = L. Returns the mean stretches read off the corner node."""
    import dolfinx
    import ufl
    from dolfinx.mesh import create_box, create_rectangle, locate_entities_boundary, meshtags

    from femnn.fem.hyperelastic import HyperelasticProblem

    L = 0.01
    if dim == 2:
        mesh = create_rectangle(comm, [[0, 0], [L, L / 2]], [n, n])
    else:
        mesh = create_box(comm, [[0, 0, 0], [L, L / 2, L / 2]], [n, n, n])
    V = dolfinx.fem.functionspace(mesh, ("Lagrange", 1, (dim,)))
    fdim = dim - 1
    bcs = []
    for c in range(dim):
        facets = locate_entities_boundary(mesh, fdim, lambda x, c=c: np.isclose(x[c], 0.0))
        dofs = dolfinx.fem.locate_dofs_topological(V.sub(c), fdim, facets)
        bcs.append(dolfinx.fem.dirichletbc(0.0, dofs, V.sub(c)))
    right = locate_entities_boundary(mesh, fdim, lambda x: np.isclose(x[0], L))
    mt = meshtags(mesh, fdim, right, np.full(right.size, 1, dtype=np.int32))
    ds = ufl.Measure("ds", domain=mesh, subdomain_data=mt)
    t = T if dim == 2 else 1.0
    e0 = ufl.as_vector([1.0] + [0.0] * (dim - 1))
    prob = HyperelasticProblem(comm, V, law, T, bcs, lambda v: t * P_Pa * ufl.inner(e0, v) * ds(1),
                               prefix=f"test_uniaxial_{dim}d_{law.kind}_")
    its = prob.solve_to(1.0, max_step=0.25)
    if unload_check:
        # unloading walks back down: the state at 0.5 from above equals the state at 0.5 from below
        # (a hyperelastic law has no history)
        prob2 = HyperelasticProblem(comm, V, law, T, bcs, lambda v: t * P_Pa * ufl.inner(e0, v) * ds(1),
                                    prefix=f"test_unload_{dim}d_{law.kind}_")
        prob2.solve_to(0.5)
        prob.solve_to(0.5)
        assert np.abs(prob.u.x.array - prob2.u.x.array).max() <= 1e-9 * np.abs(prob2.u.x.array).max()
        prob.solve_to(1.0)
    # corner (L, L/2[, L/2]): every component of u is linear in X in the exact solution
    x = V.tabulate_dof_coordinates()
    n_own = V.dofmap.index_map.size_local
    target = np.array([L, L / 2, L / 2][:dim] + [0.0] * (3 - dim))
    k = np.flatnonzero(np.linalg.norm(x[:n_own] - target, axis=1) < 1e-12)
    vals = prob.u.x.array.reshape(-1, dim)[k[0]] if k.size else None
    vals = [v for v in comm.allgather(vals) if v is not None][0]
    return 1 + vals[0] / L, 1 + vals[1] / (L / 2), its


@pytest.mark.parametrize("kind", ["neo-hookean", "mooney-rivlin", "yeoh"])
def test_small_strain_limit_reproduces_E_and_nu(comm, kind):
    """At P = 1e-5 E the uniaxial response of every law is Hooke's: ε_x = P/E and -ε_y/ε_x = ν,
    both to 1e-4 relative (the nonlinear terms are O(ε) = 1e-5 relative). Plane stress (2D)."""
    from femnn.fem.hyperelastic import make_law

    law = make_law(kind, E, NU)
    P = 1e-5 * E
    l1, l2, _ = _uniaxial_fem(comm, 2, law, P)
    eps_x, eps_y = l1 - 1, l2 - 1
    assert abs(eps_x / (P / E) - 1) < 1e-4
    assert abs(-eps_y / eps_x / NU - 1) < 1e-4


@pytest.mark.parametrize("dim,kind", [(2, "neo-hookean"), (3, "neo-hookean"), (2, "mooney-rivlin"), (2, "yeoh")])
def test_uniaxial_force_stretch_closed_form(comm, dim, kind):
    """Dead nominal traction P = 0.3 E (stretch about 1.3): the FEM stretch λ1 satisfies the
    closed-form curve P(λ1) and the lateral stretch λt(λ1) to 1e-8 relative (homogeneous state,
    exact in P1; see module docstring). The curve is clearly nonlinear: P/(E(λ1 - 1)) < 0.95."""
    from femnn.fem.hyperelastic import make_law

    law = make_law(kind, E, NU)
    P = 0.3 * E
    l1, l2, its = _uniaxial_fem(comm, dim, law, P, unload_check=(dim == 2 and kind == "neo-hookean"))
    P_closed, lt = _uniaxial(law, l1)
    assert abs(P_closed - P) < 1e-8 * P, (P_closed, P)
    assert abs(l2 - lt) < 1e-8
    assert P / (E * (l1 - 1)) < 0.95
    assert len(its) >= 2 and max(its) <= 8


def test_small_strain_limit_3d(comm):
    """3D Neo-Hookean box at P = 1e-5 E: ε_x = P/E and -ε_y/ε_x = ν to 1e-4."""
    from femnn.fem.hyperelastic import make_law

    law = make_law("neo-hookean", E, NU)
    P = 1e-5 * E
    l1, l2, _ = _uniaxial_fem(comm, 3, law, P)
    assert abs((l1 - 1) / (P / E) - 1) < 1e-4
    assert abs(-(l2 - 1) / (l1 - 1) / NU - 1) < 1e-4


def test_make_law_refuses_bad_coefficients():
    """Coefficients must reproduce μ = E/(2(1+ν)) in the small-strain limit; unknown names and laws
    are refused with an InputError naming the field."""
    from femnn.errors import InputError
    from femnn.fem.hyperelastic import lame, make_law

    mu, _ = lame(E, NU)
    law = make_law("mooney-rivlin", E, NU, {"C10": 0.3 * mu})
    assert abs(2 * (law.coefficients_Pa["C10"] + law.coefficients_Pa["C01"]) - mu) < 1e-9 * mu
    with pytest.raises(InputError, match="C10"):
        make_law("yeoh", E, NU, {"C10": mu})
    with pytest.raises(InputError, match="C99"):
        make_law("yeoh", E, NU, {"C99": 1.0})
    with pytest.raises(InputError, match="ogden"):
        make_law("ogden", E, NU)


def test_newton_failure_is_loud_and_names_the_load_factor(comm):
    """With at most one Newton iteration per step and a large minimum step, the uniaxial bar cannot
    reach P = 0.3 E: NonlinearConvergenceError names the last converged load factor, and the state
    stays the converged one (u finite, load factor unchanged)."""
    import dolfinx
    import ufl
    from dolfinx.mesh import create_rectangle, locate_entities_boundary

    from femnn.fem.hyperelastic import HyperelasticProblem, NonlinearConvergenceError, make_law

    mesh = create_rectangle(comm, [[0, 0], [0.01, 0.005]], [2, 2])
    V = dolfinx.fem.functionspace(mesh, ("Lagrange", 1, (2,)))
    left = locate_entities_boundary(mesh, 1, lambda x: np.isclose(x[0], 0.0))
    bc = dolfinx.fem.dirichletbc(np.zeros(2), dolfinx.fem.locate_dofs_topological(V, 1, left), V)
    ds = ufl.Measure("ds", domain=mesh)
    law = make_law("neo-hookean", E, NU)
    prob = HyperelasticProblem(comm, V, law, T, [bc], lambda v: T * 0.3 * E * v[0] * ds, prefix="test_fail_",
                               max_it=1, min_step=0.3)
    with pytest.raises(NonlinearConvergenceError, match="load factor") as err:
        prob.solve_to(1.0)
    assert err.value.load_factor_target == 1.0
    assert err.value.load_factor_reached == prob.load_factor < 1.0
    assert np.all(np.isfinite(prob.u.x.array))


def test_crossing_interpolates_between_factors():
    """crossing(): first reach of the level, linear interpolation, (0, 0) prepended, None if never."""
    from femnn.fem.linearity import crossing

    assert crossing([1, 2, 4], [0.005, 0.015, 0.08], 0.01) == pytest.approx(1.5)
    assert crossing([4, 1, 2], [0.08, 0.005, 0.015], 0.05) == pytest.approx(2 + 2 * 0.035 / 0.065)
    assert crossing([1, 2], [0.02, 0.03], 0.01) == pytest.approx(0.5)
    assert crossing([1, 2], [0.001, 0.002], 0.01) is None


# ---- fig1: the CLI end to end, serial and 2 ranks ------------------------------------------------
KEYS = {"load_factors", "outputs", "u_out_linear_m", "u_out_nonlinear_m", "departure", "limit_1pct", "limit_5pct",
        "u_out_bar_m", "newton_iterations", "max_principal_strain_nonlinear", "gradient_spearman"}
ARGS = ["linearity", "fig1", "--dim", "2", "--quick", "--load-factors", "0.1", "1", "3"]


@pytest.fixture(scope="module")
def fig1_run(tmp_path_factory):
    from femnn.cli import main

    out = tmp_path_factory.mktemp("lin1")
    assert main(ARGS + ["--out", str(out)]) == 0
    return out, json.loads((out / "linearity.json").read_text())


def test_linearity_cli_writes_the_public_keys(fig1_run):
    """`femnn linearity fig1 --dim 2 --quick --load-factors 0.1 1 3` writes linearity.json with the
    public keys (one entry per factor, one value per output) and a PNG."""
    out, rec = fig1_run
    assert KEYS <= set(rec)
    assert rec["load_factors"] == [0.1, 1.0, 3.0]
    assert rec["outputs"] == ["u_y[13]"]
    for key in ("u_out_linear_m", "u_out_nonlinear_m", "u_out_bar_m"):
        assert np.asarray(rec[key]).shape == (3, 1)
    assert len(rec["departure"]) == len(rec["gradient_spearman"]) == 3
    assert (out / "linearity.png").stat().st_size > 10_000


def test_tenth_load_is_linear_and_departure_grows(fig1_run):
    """fig1 at 0.0098 N (factor 0.1): nonlinear = linear FEM within 0.5 % at the output; the linear
    outputs scale exactly with the load; the departure grows with the load; the reported 1 % / 5 %
    limits are the linear interpolation of the series (null when not reached); the nonlinear
    gradient dL/ds tends to the linear FEM's t ∫ σ(u):ε(u_adj) (within 1 % at factor 0.1)."""
    _, rec = fig1_run
    f = np.array(rec["load_factors"])
    d = np.array(rec["departure"])
    ul, un = np.array(rec["u_out_linear_m"])[:, 0], np.array(rec["u_out_nonlinear_m"])[:, 0]
    assert abs(un[0] - ul[0]) <= 0.005 * abs(ul[0])
    assert d[0] < 0.005
    assert np.allclose(ul / f, ul[0] / f[0], rtol=1e-10)
    assert np.all(np.diff(d) > 0)
    for key, level in (("limit_1pct", 0.01), ("limit_5pct", 0.05)):
        fi, di = np.concatenate([[0], f]), np.concatenate([[0], d])
        k = np.flatnonzero(di >= level)
        if k.size == 0:
            assert rec[key] is None
        else:
            i = k[0]
            expect = fi[i - 1] + (level - di[i - 1]) * (fi[i] - fi[i - 1]) / (di[i] - di[i - 1])
            assert rec[key] == pytest.approx(expect, rel=1e-12)
    assert rec["limit_1pct"] is not None          # fig1 reaches 1 % between factors 1 and 3
    s = np.array(rec["max_principal_strain_nonlinear"])
    assert np.all(np.diff(s) > 0) and s[0] < 0.02
    # the tangent adjoint tends to the linear FEM's adjoint as the load goes to 0 (measured: 0.4 %
    # at 0.1, 4 % at 1, 12 % at 3)
    g_nl, g_lin = np.array(rec["gradient_s_nonlinear"]), np.array(rec["gradient_s_linear_fem"])
    rel = np.linalg.norm(g_nl - g_lin, axis=1) / np.linalg.norm(g_lin, axis=1)
    assert rel[0] < 0.01 and np.all(np.diff(rel) > 0)


def test_linearity_two_ranks_equal_serial(fig1_run, tmp_path):
    """`mpiexec -n 2 femnn linearity ...` gives the serial outputs, departures, strains and nonlinear
    gradients to 1e-8 relative (same gmsh mesh, MUMPS differs by rounding) and the same Newton counts."""
    _, a = fig1_run
    out2 = tmp_path / "lin2"
    res = subprocess.run([MPIEXEC, "-n", "2", sys.executable, "-m", "femnn", *ARGS, "--out", str(out2)],
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    b = json.loads((out2 / "linearity.json").read_text())
    for key in ("u_out_linear_m", "u_out_nonlinear_m", "departure", "max_principal_strain_nonlinear",
                "gradient_s_nonlinear", "gradient_s_rule"):
        x, y = np.asarray(a[key], float), np.asarray(b[key], float)
        assert np.abs(x - y).max() <= 1e-8 * np.abs(x).max(), key
    assert a["newton_iterations"] == b["newton_iterations"]
    assert b["ranks"] == 2


def test_linearity_cg_equals_lu(fig1_run, tmp_path, capsys):
    """`femnn linearity ... --solver cg`: every Newton step and tangent adjoint by CG with the
    p-multigrid (Πᵀ J Π redone with each Jacobian; Eisenstat-Walker forcing in Newton, the full
    tolerance for the adjoint) converges to the same states as MUMPS: outputs, departures, strains
    and nonlinear gradients equal the LU run to 1e-8 relative (both stop at SNES rtol 1e-11; the
    linear solves differ by their tolerance). No femnn option is left in PETSc's database
    (dolfinx's NonlinearProblem leaves the options it is given; a second problem under the same
    prefix must not take them for the user's). --solver cg with --degree 1 is refused (exit 2)."""
    from petsc4py import PETSc

    from femnn.cli import main

    _, a = fig1_run
    out = tmp_path / "cg"
    assert main(ARGS + ["--solver", "cg", "--out", str(out)]) == 0
    b = json.loads((out / "linearity.json").read_text())
    assert b["solver"] == "cg" and a["solver"] == "lu"
    for key in ("u_out_linear_m", "u_out_nonlinear_m", "departure", "max_principal_strain_nonlinear",
                "gradient_s_nonlinear", "gradient_s_rule"):
        x, y = np.asarray(a[key], float), np.asarray(b[key], float)
        assert np.abs(x - y).max() <= 1e-8 * np.abs(x).max(), key
    assert not [k for k in PETSc.Options().getAll() if k.startswith("femnn_")]
    capsys.readouterr()
    assert main(ARGS + ["--solver", "cg", "--degree", "1", "--out", str(tmp_path / "bad")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--solver" in err[0]


def test_cli_bad_coefficients_exit_2(capsys):
    """A coefficient set that does not reproduce μ, or a malformed one, is refused with exit 2 and one
    line naming --coefficient, before any meshing."""
    from femnn.cli import main

    rc = main(["linearity", "fig1", "--material", "yeoh", "--coefficient", "C10=1", "--load-factors", "1", "--out", "x"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and "--coefficient" in err[0]
    assert main(["linearity", "fig1", "--coefficient", "C10", "--load-factors", "1", "--out", "x"]) == 2
    assert main(["linearity", "fig1", "--load-factors", "-1", "--out", "x"]) == 2


# ---- the tangent adjoint at a loaded state -------------------------------------------------------
def test_tangent_adjoint_taylor(comm):
    """fig1, 2D quick mesh, 3x the paper's load (max principal strain ≈ 0.45): with g = dL/ds from
    Jᵀλ = -∂L/∂u, dL/ds_i = t ∫_i P : ∇λ, the remainder r(h) = |L(s + h δs) - L(s) - h g·δs| of a
    random bond direction δs decreases at rate >= 1.9 as h halves, while |L(s + h δs) - L(s)| alone
    decreases at rate ≈ 1 (the test can fail). Each L(s + h δs) is a full Newton solve."""
    import femnn.fem as fem
    from femnn.fem.linearity import NonlinearTask
    from femnn.network import load_task

    task = load_task("fig1")
    mesh, ct, _ = fem.mesh_task(comm, task, 2, fem.FemOptions(quick=True))
    nt = NonlinearTask(comm, task, mesh, ct, prefix="test_taylor_")
    nt.solve(3.0)
    L0, _, g = nt.nonlinear_gradient()
    ds = np.random.default_rng(7).uniform(-1, 1, task.network.n_bonds)
    hs = 0.02 / 2 ** np.arange(4)
    r2, r1 = [], []
    for h in hs:
        nt.set_bond_scale(1 + h * ds)
        nt.hyper.resolve()
        L = nt.loss_and_load(nt.hub_means(nt.hyper.u))[0]
        r1.append(abs(L - L0))
        r2.append(abs(L - L0 - h * g @ ds))
    rate2 = np.log2(np.array(r2[:-1]) / np.array(r2[1:]))
    rate1 = np.log2(np.array(r1[:-1]) / np.array(r1[1:]))
    print("Taylor rates (second order, first order):", rate2, rate1, "remainders:", r2)
    assert np.all(rate2 >= 1.9), (rate2, r2)
    assert np.all(np.abs(rate1 - 1) < 0.1), rate1


def test_task_level_linearity_of_a_data_task(tmp_path, capsys):
    """`femnn linearity iris --samples ...`: the task metric through the linear and the hyperelastic FEM.
    Two code paths must agree: the per-sample study (its own NonlinearTask on --sample 0) and the
    task-level one (the transfer matrix T for the linear outputs, one load path per sample with
    set_sample/reset): sample 0's departure ||u_nl - f u_lin||/||f u_lin|| is the same number (1e-8).
    Physics: at f = 0.01 the hyperelastic part is linear (departure < 0.5 %, no prediction changes);
    the departure grows with the load (u_nl - f u_lin = O(f²)), and samples with larger forces
    (the versicolor/virginica rows 50, 100: longer petals) depart more than setosa (row 0).
    --samples on a single-load task is refused (exit 2, one line)."""
    from femnn.cli import main

    out = tmp_path / "lin"
    assert main(["linearity", "iris", "--widths", "geometry/trained/iris", "--dim", "2", "--quick", "--no-gradients",
                 "--load-factors", "0.01", "0.5", "--samples", "0", "50", "100", "--out", str(out), "--quiet"]) == 0
    r = json.loads((out / "linearity.json").read_text())
    tl = r["task_level"]
    assert tl["samples"] == [0, 50, 100] and tl["load_factors"] == [0.01, 0.5]
    dep = np.array(tl["departure"])                       # (factors, samples)
    np.testing.assert_allclose(dep[:, 0], r["departure"], rtol=1e-8)
    assert dep[0].max() < 0.005 and tl["predictions_changed"][0] == 0
    assert np.all(dep[1] > 10 * dep[0])
    assert dep[1, 1] > dep[1, 0] and dep[1, 2] > dep[1, 0]
    assert tl["accuracy_linear"] == 1.0 and len(tl["accuracy_nonlinear"]) == 2
    assert (out / "linearity_task.png").stat().st_size > 10_000
    capsys.readouterr()
    assert main(["linearity", "fig1", "--samples", "all", "--load-factors", "1", "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--samples" in err[0] and "single-load" in err[0]
