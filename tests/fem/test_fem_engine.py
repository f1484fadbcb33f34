"""FEM engine: series springs on a gmsh part, exact 3D uniaxial state (LU and CG + GAMG), solver
choice, loud failures, one factorisation for many loads, field output."""

import dataclasses

import numpy as np
import pytest
from petsc4py import PETSc

from fem_helpers import bar_mesh, bar_task
from fem_meshes import box_bar_mesh, necked_bar_mesh
from femnn.fem import solve_loads, solve_task, write_fields
from femnn.fem.elasticity import ElasticityProblem

E, T = 5.5e5, 2e-3
HUB = lambda j: 1 + j  # noqa: E731


def _lu_count():
    PETSc.Log.begin()
    return PETSc.Log.Event("MatLUFactorNum").getPerfInfo()["count"]


def test_series_spring_necked_bar(comm):
    """A bar of width w with both ends thinned to w_n over l_n, between two square hubs of side a
    (node at each hub centre; hub 0 clamped, a force F spread over hub 1), plane stress, ν = 0.49.
    1D (series-spring) theory:  1/k = 2 l_n/(E w_n t) + l_m/(E w t) + a/(3 E a t), the last term
    being the loaded hub itself (its stress falls linearly to 0 across it, mean displacement a/3 of
    the way). The theory neglects the 2D Saint-Venant zones at the width steps and hub roots, a fixed
    extra compliance of order 1/(E t); so the FEM is softer and the relative error ∝ w/L. Checked:
    k_FEM < k_1D, the error halves (0.45-0.55) when every length is doubled (measured 0.07, 0.037,
    0.019 for lengths x1, x2, x4), it is < 2.5 % at x4, and the extrapolation to infinite length
    (2 k₄ - k₂, linear in 1/L) agrees with the 1D formula to 0.5 %."""
    hub, w, wn, nu = 4e-3, 2e-3, 0.8e-3, 0.49
    ratios = []
    for scale in (2, 4):
        L, ln = hub + scale * 0.026, scale * 3e-3
        mesh, ct = necked_bar_mesh(comm, L=L, hub=hub, w=w, w_neck=wn, l_neck=ln, h=0.25e-3)
        p = ElasticityProblem(comm, mesh, ct, E, nu, T, [1], degree=2)
        F = 0.01
        ub = p.hub_means(p.solve(np.array([[0, 0], [F, 0]]), HUB), 2, HUB)
        assert np.allclose(ub[0], 0, atol=1e-15)  # the clamped hub does not move
        flex = 2 * ln / (E * wn * T) + (L - hub - 2 * ln) / (E * w * T) + (hub / 3) / (E * hub * T)
        ratios.append(F / ub[1, 0] * flex)  # k_FEM / k_1D
    err2, err4 = 1 - ratios[0], 1 - ratios[1]
    assert 0 < err4 < 0.025 and 0.45 < err4 / err2 < 0.55, ratios
    assert abs(2 * ratios[1] - ratios[0] - 1) < 0.005, ratios


@pytest.mark.parametrize("solver", ["lu", "cg"])
def test_3d_uniaxial_exact(comm, solver):
    """3D, ν = 0: a box clamped on hub 1 (x < a) and pulled by F spread uniformly over hub 2
    (x > L - a) is in exact uniaxial stress: ε = F/(E w t) in the bond, linear decay in hub 2, so
    ū₂ = F (L - 5a/3)/(E w t), ū₂_y = ū₂_z = 0. P2 holds this field exactly: 1e-8 relative with LU,
    1e-7 with CG + GAMG (rtol 1e-10 on the true residual)."""
    L, w, t, a, F = 0.032, 2e-3, 2e-3, 2e-3, 0.01
    mesh, ct = box_bar_mesh(comm, L=L, w=w, t=t, a=a)
    p = ElasticityProblem(comm, mesh, ct, E, 0.0, t, [1], degree=2, solver=solver)
    ub = p.hub_means(p.solve(np.array([[0, 0], [F, 0]]), HUB), 2, HUB)
    exact = F * (L - 5 * a / 3) / (E * w * t)
    tol = 1e-8 if solver == "lu" else 1e-7
    assert abs(ub[1, 0] / exact - 1) < tol and abs(ub[1, 1]) < tol * exact, (ub, exact)
    if solver == "cg":
        assert 0 < p.iterations[-1] < 200


def test_3d_gradient_s_central_difference(comm):
    """3D P2 at ν = 0.49, force with a transverse part: ∂L/∂s_i = +∫_i σ(u):ε(u_adj) dx equals the
    central difference (L(s + h e_i) - L(s - h e_i))/(2h), h = 1e-3, to 1e-5 relative (the FD
    error is O(h²))."""
    task = bar_task(force=(0.01, 0.002), target=5e-5, L=0.032)
    mesh, ct = box_bar_mesh(comm, n_bonds=3, n=(24, 2, 2))
    res, fields = solve_task(comm, task, mesh, ct, hub_tag=HUB, bond_tag=lambda i: 3 + i)
    assert res.name == "fem3d"
    prob = fields.problem
    g = prob.region_energy(fields.u, fields.u_adj, [3, 4, 5])  # the task has 1 bond
    from femnn.train.losses import output_adjoint_load as adjoint_load

    def loss(i, s):
        prob.set_scale({3 + i: s})
        out = adjoint_load(task, prob.hub_means(prob.solve(task.loads_N()[0], HUB), 2, HUB))[1]
        prob.set_scale({3 + i: 1.0})
        return out

    h = 1e-3
    for i in range(3):
        fd = (loss(i, 1 + h) - loss(i, 1 - h)) / (2 * h)
        assert abs(fd / g[i] - 1) < 1e-5, (i, fd, g[i])


def test_cg_gamg_matches_lu_2d(comm):
    """Plane stress at ν = 0.49 with three bond regions: CG + GAMG (rigid-body near-nullspace) gives
    the LU hub displacements and ∂L/∂s to 1e-7 relative."""
    task = bar_task(force=(0.01, 0.003), target=5e-5)
    mesh, ct = bar_mesh(comm, n_bonds=3)
    r = {s: solve_task(comm, task, mesh, ct, solver=s, hub_tag=HUB, bond_tag=lambda i: 3 + i)[0] for s in ("lu", "cg")}
    assert np.linalg.norm(r["cg"].u_m - r["lu"].u_m) < 1e-7 * np.linalg.norm(r["lu"].u_m)
    g_lu, g_cg = r["lu"].gradient_s, r["cg"].gradient_s
    assert np.linalg.norm(g_cg - g_lu) < 1e-7 * np.linalg.norm(g_lu)


def test_fails_loudly(comm):
    """No silent garbage: an unclamped part (singular K, which MUMPS 'solves'), a CG that runs out of
    iterations, an empty hub region and an unknown solver all raise."""
    mesh, ct = bar_mesh(comm, nx=32, ny=4)
    F = np.array([[0, 0], [0.01, 0]])
    with pytest.raises(RuntimeError, match="singular"):
        ElasticityProblem(comm, mesh, ct, E, 0.3, T, [], degree=2).solve(F, HUB)
    p = ElasticityProblem(comm, mesh, ct, E, 0.49, T, [1], degree=2, solver="cg")
    p.ksp.setTolerances(max_it=2)
    with pytest.raises(RuntimeError, match="failed to converge"):
        p.solve(F, HUB)
    with pytest.raises(ValueError, match="empty or missing"):
        ElasticityProblem(comm, mesh, ct, E, 0.3, T, [7], degree=2)
    p = ElasticityProblem(comm, mesh, ct, E, 0.3, T, [1], degree=1)
    with pytest.raises(ValueError, match="empty or missing"):
        p.solve(np.array([[0, 0], [1.0, 0]]), lambda j: 9 * j)
    with pytest.raises(ValueError, match="unknown solver"):
        ElasticityProblem(comm, mesh, ct, E, 0.3, T, [1], solver="gmres")


def test_many_loads_one_factorisation(comm):
    """solve_loads runs 6 load cases on one MUMPS factorisation (MatLUFactorNum counts 1), the
    results are linear in F (u(F₁ + 2F₂) = u(F₁) + 2u(F₂) to 1e-10), and a new stiffness scale
    (set_scale) triggers exactly one refactorisation: stale factors are never used."""
    mesh, ct = bar_mesh(comm, n_bonds=2, nx=48, ny=6)
    p = ElasticityProblem(comm, mesh, ct, E, 0.49, T, [1], degree=2)
    rng = np.random.default_rng(0)
    F = np.zeros((6, 2, 2))
    F[:5, 1] = rng.normal(size=(5, 2)) * 0.01
    F[5] = F[0] + 2 * F[1]
    before = _lu_count()
    U = solve_loads(comm, p, F, hub_tag=HUB)
    assert _lu_count() - before == 1 and p.n_factorizations == 1
    assert U.shape == (6, 2, 2)
    assert np.linalg.norm(U[5] - U[0] - 2 * U[1]) < 1e-10 * np.linalg.norm(U[5])
    p.set_scale({3: 2.0})
    U2 = solve_loads(comm, p, F[:2], hub_tag=HUB)
    assert _lu_count() - before == 2 and p.n_factorizations == 2
    assert abs(U2[0, 1, 0]) < abs(U[0, 1, 0])  # the stiffer bond moves less (same sign of F_x)


def test_solve_task_fields(comm, tmp_path):
    """The result has every documented field; write_fields writes VTX and XDMF; with ν = 0 the strip
    is in uniaxial stress, so the largest von Mises stress (plane stress, σ_zz = 0) is F/(w t) to 1e-6."""
    F, w = 0.01, 2e-3
    task = bar_task(force=(F, 0.0), L=0.032)
    net = task.network
    task = task.with_network(dataclasses.replace(net, material=dataclasses.replace(net.material, poisson_ratio=0.0)))
    mesh, ct = bar_mesh(comm, n_bonds=1, L=0.032, nx=64, ny=4)
    res, fields = solve_task(comm, task, mesh, ct, hub_tag=HUB, bond_tag=lambda i: 3 + i)
    assert res.name == "fem2d" and res.degree == 2
    assert res.dofs > 0 and res.seconds_forward > 0 and res.seconds_adjoint > 0
    assert fields.u is not None and fields.u_adj is not None and fields.problem is not None
    assert res.gradient_s.shape == (1,) and np.all(np.isfinite(res.gradient_k))
    files = write_fields(comm, tmp_path / "f", fields) + write_fields(comm, tmp_path / "g", fields, fmt="xdmf")
    comm.barrier()
    assert all(f.exists() for f in files), files
    assert abs(res.von_mises_max_Pa / (F / (w * T)) - 1) < 1e-6


MPI_SCRIPT = """
import dolfinx_solver, json, sys
sys.path.insert(0, {tests!r})
from mpi4py import MPI
from fem_helpers import bar_task
from fem_meshes import necked_bar_mesh
from femnn.fem import solve_task
comm = MPI.COMM_WORLD
mesh, ct = necked_bar_mesh(comm, h=0.4e-3, part_tags=True)
out = {{}}
for solver in ("lu", "cg"):
    r, _ = solve_task(comm, bar_task(force=(0.01, 0.003), L=0.03), mesh, ct, solver=solver)
    out[solver] = {{"u": r.u_m.tolist(), "g": r.gradient_s.tolist(), "e": r.elongation_m.tolist()}}
if comm.rank == 0:
    print(json.dumps(out))
"""


def test_gmsh_part_serial_equals_parallel(tmp_path):
    """A gmsh part distributed by model_to_mesh on 1, 2 and 3 ranks (femnn.part's tags), LU and
    CG + GAMG: hub displacements, elongations and ∂L/∂s agree with serial LU to 1e-8 relative (LU)
    and 1e-7 (CG, rtol 1e-10 on the true residual)."""
    import json
    import subprocess
    import sys
    from pathlib import Path

    script = tmp_path / "run.py"
    script.write_text(MPI_SCRIPT.format(tests=str(Path(__file__).parent)))
    mpiexec = str(Path(sys.executable).parent / "mpiexec")
    runs = {}
    for n in (1, 2, 3):
        r = subprocess.run([mpiexec, "-n", str(n), sys.executable, str(script)], capture_output=True, text=True,
                           timeout=300)
        assert r.returncode == 0, r.stderr[-2000:]
        runs[n] = json.loads(r.stdout.strip().splitlines()[-1])
    ref = runs[1]["lu"]
    for n, out in runs.items():
        for solver, tol in (("lu", 1e-8), ("cg", 1e-7)):
            for key in ("u", "e", "g"):
                a, b = np.array(out[solver][key]), np.array(ref[key])
                assert np.linalg.norm(a - b) <= tol * np.linalg.norm(b), (n, solver, key, a, b)


def test_default_tags_are_the_parts_and_tabs_are_clamped(comm):
    """The default tags are femnn.part.tags' (hub j -> 1_000_001 + j, bond i -> 1 + i, tab j ->
    2_000_001 + j). With a mounting tab on fixed node 0 the tab (not the hub) is clamped: hub 0 then
    moves a little (its mean displacement is nonzero but < 5 % of hub 1's), and without the tab
    region the whole hub is clamped (hub 0 mean exactly 0)."""
    from femnn.fem.solve import default_bond_tag, default_hub_tag, default_tab_tag
    from femnn.part import tags

    assert [default_hub_tag(j) for j in range(3)] == [tags.hub_tag(j) for j in range(3)]
    assert [default_bond_tag(i) for i in range(3)] == [tags.bond_tag(i) for i in range(3)]
    assert default_tab_tag(2) == tags.region_tag(tags.TAB, 2)
    task = bar_task(force=(0.01, 0.002), L=0.03)
    u = {}
    for tab in (False, True):
        mesh, ct = necked_bar_mesh(comm, h=0.4e-3, part_tags=True, tab=tab)
        r, _ = solve_task(comm, task, mesh, ct)
        assert r.gradient_s.shape == (1,)
        u[tab] = r.u_m
    assert np.all(u[False][0] == 0)
    assert 0 < np.linalg.norm(u[True][0]) < 0.05 * np.linalg.norm(u[True][1])
