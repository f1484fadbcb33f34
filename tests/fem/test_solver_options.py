"""The CG solver's preconditioners and option defaults (femnn/fem/elasticity.py ``_solver``/``setup``):
the p-multigrid (default for P2: its coarse operator is the P1 stiffness), GAMG's level smoother
(Richardson + one SSOR sweep), the opt-in low-memory Galerkin product on > 1 rank, the options database
left clean, and the answers unchanged against MUMPS LU."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
from petsc4py import PETSc

from fem_meshes import box_bar_mesh
from femnn.fem.elasticity import SMOOTHER_DEFAULTS, ElasticityProblem

E, T = 5.5e5, 2e-3
HUB = lambda j: 1 + j  # noqa: E731


def _level_smoothers(p):
    """{(KSP type, PC type)} of the GAMG hierarchy's smoothed levels (pmg: of its coarse P1 GAMG)."""
    pc = p.ksp.getPC()
    if p.preconditioner == "pmg":
        pc = pc.getMGCoarseSolve().getPC()
    return {(pc.getMGSmoother(lv).getType(), pc.getMGSmoother(lv).getPC().getType()) for lv in range(1, pc.getMGLevels())}


def _fine_smoother(p):
    """(KSP type, PC type, sweeps) of the p-multigrid's degree-k level."""
    sm = p.ksp.getPC().getMGSmoother(1)
    return sm.getType(), sm.getPC().getType(), sm.getTolerances()[3]


def _femnn_options():
    return {k for k in PETSc.Options().getAll() if k.startswith("femnn_forward_") or k == "matptap_via"}


def test_part_cg_equals_lu(comm):
    """The fig1 part (2D quick mesh, ν = 0.49, P2): the output hub displacement of CG + GAMG with
    femnn's smoother equals MUMPS LU to the solver tolerance. Why it must: both solve K u = f; CG stops
    at |f - K u| <= rtol |f|, so |u - u_LU| <= κ(K) rtol |u_LU| in the worst case, and the hub mean of
    u (a smooth functional) is far more accurate than that bound (bench_large --rtol-study: 6e-10 at
    rtol 1e-6 on the 3D part). Asserted: 1e-9 relative at the default rtol 1e-10, 1e-6 at rtol 1e-6
    (the tolerance the 5e6-DOF run uses), with either preconditioner: the p-multigrid (femnn's default
    for P2; its degree-2 level smoothed by one Chebyshev/Jacobi step) and GAMG; GAMG's level smoothers are
    Richardson + SOR; no femnn default is left in PETSc's options database."""
    from femnn.fem.meshing import FemOptions, mesh_task
    from femnn.fem.solve import default_hub_tag, make_problem
    from femnn.network import load_task

    task = load_task("fig1")
    mesh, ct, _ = mesh_task(comm, task, 2, FemOptions(quick=True))
    F, n, j = task.loads_N()[0], task.network.n_nodes, int(task.output_dofs[0]) // 2
    lu = make_problem(comm, task, mesh, ct, solver="lu")
    u_lu = lu.hub_means(lu.solve(F, default_hub_tag), n, default_hub_tag)[j]
    for rtol, tol in ((1e-10, 1e-9), (1e-6, 1e-6)):
        for pre in ("auto", "gamg"):
            cg = make_problem(comm, task, mesh, ct, solver="cg", rtol=rtol, preconditioner=pre)
            assert cg.preconditioner == {"auto": "pmg"}.get(pre, pre)
            assert _femnn_options() == set()
            u = cg.hub_means(cg.solve(F, default_hub_tag), n, default_hub_tag)[j]
            assert _level_smoothers(cg) == {("richardson", "sor")}
            if cg.preconditioner == "pmg":
                assert _fine_smoother(cg) == ("chebyshev", "jacobi", 1)
            assert np.abs(u - u_lu).max() <= tol * np.abs(u_lu).max(), (pre, rtol, u, u_lu)
            assert cg.seconds_setup > 0   # set up once, timed apart from the solve
    assert _femnn_options() == set()


def test_sor_smoother_fewer_iterations_3d(comm):
    """3D P2 strip at ν = 0.49 (the hard, nearly incompressible case): one symmetric Gauss-Seidel
    sweep per level (femnn's default) needs fewer CG iterations than PETSc's Chebyshev(2)/Jacobi at
    about the same cost per iteration (two mat-vec-like sweeps per smoothing step either way), which
    is why it is the default (part: 137 vs 161 iterations, bench_large). Both give the LU hub
    displacement to 1e-7 relative (rtol 1e-10; the TRUE residual then is ~4e-8, not 1e-10: CG's
    recursively updated residual drifts from b - K u by ~eps κ(K), a floor no rtol gets under). A user option under femnn_forward_ replaces femnn's
    smoother, and a set_scale reassembly keeps the smoother (GAMG reuses its hierarchy)."""
    mesh, ct = box_bar_mesh(comm, n=(48, 4, 4))
    F = np.array([[0, 0], [0.002, -0.01]])
    lu = ElasticityProblem(comm, mesh, ct, E, 0.49, T, [1], solver="lu")
    ref = lu.hub_means(lu.solve(F, HUB), 2, HUB)
    sor = ElasticityProblem(comm, mesh, ct, E, 0.49, T, [1], solver="cg", preconditioner="gamg")
    u_sor = sor.hub_means(sor.solve(F, HUB), 2, HUB)
    opts = PETSc.Options()
    opts["femnn_forward_mg_levels_pc_type"] = "jacobi"   # a user's choice: PETSc's Chebyshev/Jacobi
    try:
        cheb = ElasticityProblem(comm, mesh, ct, E, 0.49, T, [1], solver="cg", preconditioner="gamg")
        u_cheb = cheb.hub_means(cheb.solve(F, HUB), 2, HUB)
    finally:
        opts.delValue("femnn_forward_mg_levels_pc_type")
    assert _level_smoothers(cheb) == {("chebyshev", "jacobi")}
    assert _level_smoothers(sor) == {("richardson", "sor")}
    for u in (u_sor, u_cheb):
        assert np.abs(u - ref).max() <= 1e-7 * np.abs(ref).max(), (u, ref)
    assert sor.iterations[-1] < 0.9 * cheb.iterations[-1], (sor.iterations, cheb.iterations)
    sor.set_scale({3: 0.5})
    sor.solve(F, HUB)
    assert _level_smoothers(sor) == {("richardson", "sor")}
    assert sor.last_residual <= 1e-6   # the true residual (the recursive one that CG tests is 1e-10)
    assert set(SMOOTHER_DEFAULTS) == {"mg_levels_ksp_type", "mg_levels_pc_type", "mg_levels_ksp_max_it"}


MPI_SCRIPT = """
import dolfinx_solver, json, sys
sys.path.insert(0, {tests!r})
import numpy as np
from mpi4py import MPI
from petsc4py import PETSc
from fem_meshes import box_bar_mesh
from femnn.fem.elasticity import ElasticityProblem
comm = MPI.COMM_WORLD
mesh, ct = box_bar_mesh(comm, n=(48, 4, 4))
F, hub = np.array([[0, 0], [0.002, -0.01]]), lambda j: 1 + j
out = {{}}
for name, kw in (("lu", dict(solver="lu")), ("cg", dict(solver="cg", preconditioner="gamg")),
                 ("low", dict(solver="cg", preconditioner="gamg", low_memory=True)), ("pmg", dict(solver="cg"))):
    p = ElasticityProblem(comm, mesh, ct, 5.5e5, 0.49, 2e-3, [1], **kw)
    u = p.hub_means(p.solve(F, hub), 2, hub)
    algo = ""
    if kw.get("preconditioner") == "gamg":
        pc = p.ksp.getPC()
        A1 = pc.getMGSmoother(pc.getMGLevels() - 2).getOperators()[0]   # the first Galerkin product
        v = PETSc.Viewer().createASCII("/dev/null" if comm.rank else {info!r} + name, comm=PETSc.COMM_SELF)
        v.pushFormat(PETSc.Viewer.Format.ASCII_INFO)
        A1.view(v)
        v.destroy()
    out[name] = {{"u": u.tolist(), "left": sorted(k for k in PETSc.Options().getAll() if "femnn" in k or "ptap" in k)}}
if comm.rank == 0:
    print(json.dumps(out))
"""


def test_low_memory_galerkin_product(tmp_path):
    """``low_memory=True`` on 2 ranks makes GAMG's Galerkin product PᵀAP all-at-once (PETSc reports
    "allatonce MatPtAP() implementation" on the coarse operator; PETSc's default is another
    algorithm), which keeps no intermediates (measured: 2.4 instead of 4.2 GiB per 10⁶ DOFs on the 3D
    part, docs/nonlinear.md section 4). The product is exact arithmetic of the same P and A, so the
    hierarchy and the hub displacements are those of the default CG (1e-12 relative) and of LU
    (1e-7, rtol 1e-10); on 1 rank the flag is ignored. The p-multigrid (femnn's default for P2) gives
    LU's displacements on 1 and 2 ranks (1e-7). No option is left behind."""
    script = tmp_path / "run.py"
    info = str(tmp_path / "ptap_")
    script.write_text(MPI_SCRIPT.format(tests=str(Path(__file__).parent), info=info))
    mpiexec = str(Path(sys.executable).parent / "mpiexec")
    for n in (1, 2):
        r = subprocess.run([mpiexec, "-n", str(n), sys.executable, str(script)], capture_output=True, text=True,
                           timeout=300)
        assert r.returncode == 0, r.stderr[-2000:]
        out = json.loads(r.stdout.strip().splitlines()[-1])
        ref = np.array(out["lu"]["u"])
        cg, low = np.array(out["cg"]["u"]), np.array(out["low"]["u"])
        assert np.abs(cg - ref).max() <= 1e-7 * np.abs(ref).max()
        assert np.abs(np.array(out["pmg"]["u"]) - ref).max() <= 1e-7 * np.abs(ref).max()
        assert np.abs(low - cg).max() <= 1e-12 * np.abs(ref).max()
        assert all(not v["left"] for v in out.values()), out
        view_cg, view_low = Path(info + "cg").read_text(), Path(info + "low").read_text()
        if n == 2:
            assert "allatonce MatPtAP" in view_low and "allatonce" not in view_cg, (view_cg, view_low)
        else:   # 1 rank: SeqAIJ's product, the flag ignored
            assert view_low.replace("low", "") == view_cg.replace("cg", "")


def _free_block(M, free):
    return M.copy().convert("dense").getDenseArray()[np.ix_(free, free)]   # convert() alone is in place


def test_pmg_coarse_operator_is_the_p1_stiffness(comm):
    """The p-multigrid's coarse operator is the P1 stiffness. Why: P1 ⊂ P2 on the same mesh, Π (nodal
    interpolation P1 -> P2) is the inclusion, so for P1 shape functions φ_i, φ_j

        (Πᵀ K₂ Π)_ij = a(Π φ_i, Π φ_j) = a(φ_i, φ_j) = (K₁)_ij,

    i.e. the Galerkin product equals the P1 stiffness assembled directly (same a, same clamp), on every
    unclamped P1 DOF (clamped rows are identity rows in both, set apart). Asserted to 1e-12 relative on
    the 3D strip, also after ``set_scale`` (the product is redone: bond 3 at half stiffness, against a
    P1 problem assembled at that scale), and the solves equal LU's (1e-7, ν = 0.49). Degree 1 uses
    GAMG (``auto``); pmg on degree 1 is refused."""
    import pytest

    mesh, ct = box_bar_mesh(comm, n=(16, 2, 2))
    F = np.array([[0, 0], [0.002, -0.01]])
    p2 = ElasticityProblem(comm, mesh, ct, E, 0.49, T, [1], solver="cg")
    assert p2.preconditioner == "pmg"
    ref = ElasticityProblem(comm, mesh, ct, E, 0.49, T, [1], solver="lu")
    for scale in (None, {3: 0.5}):
        if scale:
            p2.set_scale(scale)
            ref.set_scale(scale)
        u = p2.hub_means(p2.solve(F, HUB), 2, HUB)
        u_ref = ref.hub_means(ref.solve(F, HUB), 2, HUB)
        assert np.abs(u - u_ref).max() <= 1e-7 * np.abs(u_ref).max()
        p1 = ElasticityProblem(comm, mesh, ct, E, 0.49, T, [1], degree=1, solver="lu", scale=scale)
        assert p1.V.dofmap.index_map.size_global == p2._V1.dofmap.index_map.size_global
        clamped = p1.bc.dof_indices()[0]
        free = np.setdiff1d(np.arange(p1.A.getSize()[0]), clamped)
        K1, KG = _free_block(p1.A, free), _free_block(p2._coarse, free)
        assert np.abs(KG - K1).max() <= 1e-12 * np.abs(K1).max(), np.abs(KG - K1).max() / np.abs(K1).max()
    assert ElasticityProblem(comm, mesh, ct, E, 0.3, T, [1], degree=1, solver="cg").preconditioner == "gamg"
    with pytest.raises(ValueError, match="degree >= 2"):
        ElasticityProblem(comm, mesh, ct, E, 0.3, T, [1], degree=1, solver="cg", preconditioner="pmg")
    assert _femnn_options() == set()
