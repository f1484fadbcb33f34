"""The direct solver's memory guard (femnn/fem/memory.py): MUMPS's own estimate of its factorisation
(INFO(15) after its analysis) against the memory free per rank, enforced through MUMPS's working-memory
cap ICNTL(23), so that a factorisation that would not fit is refused before it allocates its factors,
with one line naming the fix, instead of ending in the OOM killer."""

import json

import numpy as np
import pytest

from fem_meshes import box_bar_mesh
from femnn.errors import MemoryBudgetError
from femnn.fem.elasticity import ElasticityProblem
from femnn.fem.memory import ENV, available_mb, mumps_limit_mb

F = np.array([[0, 0], [0.002, -0.01]])
HUB = lambda j: 1 + j  # noqa: E731


def test_lu_refused_above_the_cap_and_unchanged_below(comm, monkeypatch):
    """The cap is the node's MemAvailable shared by its ranks (here 1), or FEMNN_MEMORY_LIMIT_MB when
    smaller. A factorisation whose estimate exceeds it raises MemoryBudgetError naming its DOFs, the
    estimate and the fix (--solver cg); under the default cap the same problem solves to the same
    field as with the guard off (the cap changes no arithmetic: K u = f to 1e-10 either way, equal
    fields bit for bit)."""
    mesh, ct = box_bar_mesh(comm, n=(32, 4, 4))
    avail = available_mb()
    assert avail is not None and avail > 0
    assert abs(mumps_limit_mb(comm) - avail / comm.size) <= 0.2 * avail   # memory moves a little meanwhile
    p = ElasticityProblem(comm, mesh, ct, 5.5e5, 0.49, 2e-3, [1], solver="lu")
    u = p.solve(F, HUB).x.array.copy()
    monkeypatch.setenv(ENV, "off")
    q = ElasticityProblem(comm, mesh, ct, 5.5e5, 0.49, 2e-3, [1], solver="lu")
    assert q._lu_limit_mb is None
    assert np.array_equal(q.solve(F, HUB).x.array, u)
    monkeypatch.setenv(ENV, "1")
    r = ElasticityProblem(comm, mesh, ct, 5.5e5, 0.49, 2e-3, [1], solver="lu")
    assert r._lu_limit_mb == 1
    with pytest.raises(MemoryBudgetError) as err:
        r.solve(F, HUB)
    msg = str(err.value)
    assert f"{r.dofs:,} DOFs" in msg and "--solver cg" in msg and ENV in msg and "\n" not in msg
    need_mb = r.ksp.getPC().getFactorMatrix().getMumpsInfog(17)
    assert 1 < need_mb < 1e4   # MUMPS's estimate for 1.6e4 DOFs: tens of MB
    from femnn.errors import InputError

    for bad in ("lots", "-5", "nan", "inf"):
        monkeypatch.setenv(ENV, bad)
        with pytest.raises(InputError, match=ENV):
            mumps_limit_mb(comm)


def test_validate_refused_in_one_line_keeps_the_earlier_result(tmp_path, monkeypatch, capsys):
    """`femnn validate` whose factorisation would not fit: exit 2, one line on stderr naming --solver cg,
    and the earlier good results.json in the same --out is left as it was (displacement and mixed
    formulation alike: --poisson 0.5 runs the mixed u-p problem); --solver cg is not affected."""
    from femnn.cli import main

    out = tmp_path / "v"
    base = ["validate", "--quick", "--dims", "2", "--no-per-bond", "--no-export", "--quiet", "--out", str(out)]
    assert main(base) == 0
    before = (out / "results.json").read_bytes()
    monkeypatch.setenv(ENV, "1")
    capsys.readouterr()
    for extra in ([], ["--poisson", "0.5"]):
        assert main(base + extra) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "--solver cg" in err[0] and "MUMPS" in err[0], err
        assert (out / "results.json").read_bytes() == before
    assert main(base + ["--solver", "cg"]) == 0
    assert json.loads((out / "results.json").read_text())["settings"]["preconditioner"] == "pmg"


def test_hyperelastic_tangent_refused_not_step_cut(comm, monkeypatch):
    """The Newton solver's tangent factorisation is capped the same way: over the cap the first Newton
    step raises MemoryBudgetError at once (no step cutting down to a meaningless load factor), and
    within it the same load path converges."""
    from femnn.fem.linearity import NonlinearTask
    from femnn.fem.meshing import FemOptions, mesh_task
    from femnn.network import load_task

    task = load_task("fig1")
    mesh, ct, _ = mesh_task(comm, task, 2, FemOptions(quick=True))
    monkeypatch.setenv(ENV, "1")
    nt = NonlinearTask(comm, task, mesh, ct)
    with pytest.raises(MemoryBudgetError, match="hyperelastic tangent"):
        nt.solve(0.1)
    assert nt.hyper.steps == [] and nt.hyper.load_factor == 0.0   # raised inside the first Newton solve
    monkeypatch.delenv(ENV)
    ok = NonlinearTask(comm, task, mesh, ct)
    assert ok.hyper._nl_problem() is not None and ok.hyper._lu_limit_mb > 1
    assert len(ok.solve(0.1)) >= 1


def test_buckling_eigensolver_factor_is_guarded(comm, monkeypatch):
    """`femnn buckling`'s shift-and-invert factor of K (a second LU, after the forward solve's) is
    capped too: with the forward problem factorised uncapped and the cap then set to 1 MB, the
    eigensolve is refused with MemoryBudgetError naming the buckling operator, not a PETSc traceback."""
    from femnn.fem.buckling import linear_buckling
    from femnn.fem.meshing import FemOptions, mesh_task
    from femnn.fem.solve import make_problem
    from femnn.network import load_task

    task = load_task("fig1")
    mesh, ct, _ = mesh_task(comm, task, 2, FemOptions(quick=True))
    monkeypatch.setenv(ENV, "off")
    prob = make_problem(comm, task, mesh, ct, solver="lu")
    monkeypatch.setenv(ENV, "1")
    with pytest.raises(MemoryBudgetError, match="buckling operator"):
        linear_buckling(comm, task, mesh, ct, problem=prob)
    monkeypatch.setenv(ENV, "off")
    assert linear_buckling(comm, task, mesh, ct, problem=prob).load_factors[0] > 1
