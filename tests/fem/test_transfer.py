"""The FEM transfer matrix: one factorisation, one solve per input column, every sample by linearity.

Linear elasticity with loads linear in the inputs, K u = Σ_c x_c F_c, gives ū(x) = Σ_c x_c ū(F_c):
the hub-mean outputs of any sample are X @ Tᵀ with T's columns the unit-input solves.
"""

import dataclasses

import numpy as np
import pytest

from femnn.network import load_task


@pytest.fixture(scope="module")
def iris_problem():
    from mpi4py import MPI

    import femnn.fem as fem

    comm = MPI.COMM_WORLD
    task = load_task("iris")
    mesh, tags, _ = fem.mesh_task(comm, task, 2, fem.FemOptions(quick=True))
    return comm, task, fem.make_problem(comm, task, mesh, tags)


def test_transfer_equals_solving_each_sample(iris_problem):
    """u_out = X Tᵀ equals one FEM solve per sample (solve_loads on the samples' loads F = B x,
    same factorisation) to 1e-10 relative, for samples mixing all four inputs; T comes from
    n_inputs solves on ONE factorisation."""
    import femnn.fem as fem
    from femnn.fem.transfer import transfer_from_problem

    comm, task, prob = iris_problem
    tr = transfer_from_problem(comm, task, prob)
    assert tr.T.shape == (3, 4) and tr.hub_T.shape == (2 * task.network.n_nodes, 4)
    assert tr.n_solves == 4 and tr.n_factorizations == 1
    idx = np.array([0, 57, 101, 149])
    U = fem.solve_loads(comm, prob, task.loads_N(task.X[idx]), task.network.n_nodes)   # one solve per sample
    direct = U.reshape(idx.size, -1)[:, task.output_dofs]
    scale = np.abs(direct).max()
    assert scale > 1e-7   # the samples move the outputs (tens of micrometres)
    assert np.abs(tr.outputs(task.X[idx]) - direct).max() <= 1e-10 * scale
    assert np.abs(tr.hub_displacements(task.X[idx]) - U).max() <= 1e-10 * np.abs(U).max()


def test_transfer_is_linear_in_the_load_scale(iris_problem):
    """Doubling every input's force scale doubles T (K u = 2F -> 2u) and changes nothing else;
    fixed hubs stay at zero displacement (clamped regions)."""
    from femnn.fem.transfer import transfer_from_problem

    comm, task, prob = iris_problem
    t1 = transfer_from_problem(comm, task, prob)
    task2 = dataclasses.replace(task, input_scale_N=2 * task.input_scale_N)
    t2 = transfer_from_problem(comm, task2, prob)
    assert t2.n_factorizations == 0   # same operator: the factors are reused
    assert np.allclose(t2.T, 2 * t1.T, rtol=1e-12, atol=0)
    fixed = np.concatenate([2 * task.network.fixed, 2 * task.network.fixed + 1])
    assert np.abs(t1.hub_T[fixed]).max() <= 1e-12 * np.abs(t1.hub_T).max()


@pytest.mark.parametrize("name", ["fig1", "behaviour-mse"])
def test_single_load_transfer_reproduces_solve_task(comm, name):
    """For a single-load task (one input column, x = 1) the transfer's hub displacements are
    exactly solve_task's forward hub means ū (same mesh, same problem) to 1e-12."""
    import femnn.fem as fem
    from femnn.fem.transfer import fem_transfer, transfer_from_problem

    task = load_task(name)
    opts = fem.FemOptions(quick=True)
    mesh, tags, _ = fem.mesh_task(comm, task, 2, opts)
    prob = fem.make_problem(comm, task, mesh, tags)
    res, _ = fem.solve_task(comm, task, mesh, tags, problem=prob)
    tr = transfer_from_problem(comm, task, prob)
    ubar = tr.hub_displacements(task.X)[0]
    assert np.abs(ubar - res.u_m).max() <= 1e-12 * np.abs(res.u_m).max()
    assert np.allclose(tr.outputs(task.X)[0], res.u_m.reshape(-1)[task.output_dofs], rtol=1e-12, atol=0)
    # the one-call form meshes the same part: same answer up to the solver's round-off
    full = fem_transfer(comm, task, 2, opts)
    assert full.seconds_mesh > 0 and full.n_factorizations == 1
    assert np.allclose(full.T, tr.T, rtol=1e-8, atol=0)
