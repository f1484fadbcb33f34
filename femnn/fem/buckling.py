"""Linearised buckling of the printed part under a task's forward load.

Pre-stress: σ0 = s σ(u0) from the linear solve K u0 = F (the task's load, each nodal force spread
over its hub, as in :mod:`femnn.fem.elasticity`). Geometric stiffness (the second variation of the
Green-Lagrange strain energy at the pre-stressed state):

    K_σ(δu, v) = t ∫ σ0 : (∇δuᵀ ∇v) dx,   (∇δuᵀ ∇v)_ij = Σ_k ∂_i δu_k ∂_j v_k,

with the thickness t in 2D (t = 1 in 3D). The load λ F buckles when (K + λ K_σ) φ = 0 has a
nontrivial φ; the lowest positive λ is the buckling load factor (λ > 1: the task's load is safe).

Eigensolver (SLEPc, options prefix ``femnn_buckling_``): K_σ is singular wherever σ0 = 0 (the
pencil (K, -K_σ) has eigenvalues at ±∞) and K is symmetric positive definite once clamped, so we
solve the equivalent generalised Hermitian problem

    -K_σ φ = θ K φ,   θ = 1/λ,

with B = K positive definite (GHEP) and Krylov-Schur on K⁻¹(-K_σ): shift-and-invert with target 0
on the inverted pencil, i.e. one MUMPS factorisation of K, and the largest positive θ are the
smallest positive λ (well separated: θ accumulates at 0). Negative θ (buckling under the reversed
load) are discarded. Clamped DOFs have unit rows in K and zero rows in K_σ (θ = 0).

Which bond buckles: the strain energy of a mode, t ∫ s σ(φ):ε(φ) dx, per bond region (the network's
order, 0-based), as a share of the whole part's φᵀKφ; the bond with the largest share is named.

2D is plane stress: it finds in-plane modes only. A thin printed sheet (bond width > thickness)
can also buckle out of its plane; only the 3D model (``dim=3``) sees that.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

PREFIX = "femnn_buckling_"


@dataclass(frozen=True)
class BucklingResult:
    """Lowest positive buckling load factors and the bonds most involved.

    load_factors : (n_modes,) float64, dimensionless (multiples of the task's load), ascending
    bonds : (n_modes,) int64, 0-based bond with the largest share of each mode's strain energy
    energy_shares : (n_modes, n_bonds) float64, dimensionless: bond strain energy / part strain energy
    elongation_fem_m : (n_bonds,) float64, bond elongation under the task's load (FEM hub means)
    elongation_bar_m : (n_bonds,) float64, the same from the bar model (NaN if the bars are a mechanism)
    dofs : int, displacement DOFs;  dim : 2 or 3
    """

    load_factors: np.ndarray
    bonds: np.ndarray
    energy_shares: np.ndarray
    elongation_fem_m: np.ndarray
    elongation_bar_m: np.ndarray
    dofs: int
    dim: int
    extra: dict = field(default_factory=dict, compare=False)

    def __post_init__(self):
        for name in ("load_factors", "bonds", "energy_shares", "elongation_fem_m", "elongation_bar_m"):
            a = np.array(getattr(self, name))
            a.flags.writeable = False
            object.__setattr__(self, name, a)


def geometric_stiffness_form(prob, sigma0):
    """UFL bilinear form t ∫ σ0 : (∇δuᵀ ∇v) dx on ``prob.V``."""
    import dolfinx
    import ufl

    du, v = ufl.TrialFunction(prob.V), ufl.TestFunction(prob.V)
    t_c = dolfinx.fem.Constant(prob.mesh, float(prob.t))
    return t_c * ufl.inner(sigma0, ufl.grad(du).T * ufl.grad(v)) * ufl.dx


def linear_buckling(comm, task, mesh, cell_tags, *, n_modes=4, degree=2, case=0, problem=None, hub_tag=None,
                    bond_tag=None, tol=1e-10, keep_modes=True) -> BucklingResult:
    """Buckling load factors of ``task``'s part under load case ``case`` (collective on ``comm``).

    ``problem``: an assembled :class:`femnn.fem.elasticity.ElasticityProblem` (default: made with
    :func:`femnn.fem.make_problem`, displacement formulation of degree ``degree``). Returns a
    :class:`BucklingResult`; ``extra['modes']`` holds the mode Functions (K-normalised) if
    ``keep_modes``, ``extra['u0']`` the pre-buckling displacement."""
    import dolfinx
    import dolfinx.fem.petsc as fpetsc
    from slepc4py import SLEPc

    import femnn.fem as fem
    from femnn.bars import BarModel
    from femnn.errors import MechanismError
    from femnn.fem import jit

    hub_tag = hub_tag or fem.default_hub_tag
    bond_tag = bond_tag or fem.default_bond_tag
    net = task.network
    loads = task.loads_N()
    if not 0 <= case < loads.shape[0]:
        raise ValueError(f"load case {case} out of range (the task has {loads.shape[0]})")
    F = loads[case]
    prob = problem or fem.make_problem(comm, task, mesh, cell_tags, degree=degree, solver="lu", hub_tag=hub_tag)
    u0 = prob.solve(F, hub_tag, out=dolfinx.fem.Function(prob.V, name="u0"))
    ubar = prob.hub_means(u0, net.n_nodes, hub_tag)
    e_fem = np.einsum("bc,bc->b", ubar[net.bonds[:, 1]] - ubar[net.bonds[:, 0]], net.unit_vectors)
    try:
        e_bar = BarModel(net).solve(F).elongation.reshape(-1)
    except MechanismError:   # e.g. a lone column: the FEM part bends, the pin-jointed bars cannot
        e_bar = np.full(net.n_bonds, np.nan)
    # pre-stress frozen in a tensor DG field would lose accuracy; the UFL stress of u0 is exact
    kg = jit.form(geometric_stiffness_form(prob, prob.stress(u0)))
    Ks = fpetsc.assemble_matrix(kg, bcs=[prob.bc], diag=0.0)
    Ks.assemble()
    Ks.scale(-1.0)                               # A = -K_σ
    K = prob.A                                   # B = K (clamped rows: identity)
    eps = SLEPc.EPS().create(comm)
    eps.setOptionsPrefix(PREFIX)
    eps.setOperators(Ks, K)
    eps.setProblemType(SLEPc.EPS.ProblemType.GHEP)
    eps.setWhichEigenpairs(SLEPc.EPS.Which.LARGEST_REAL)
    eps.setDimensions(nev=int(n_modes))
    eps.setTolerances(tol, 500)
    st = eps.getST()
    st.setType("shift")
    st.setShift(0.0)
    ksp = st.getKSP()
    ksp.setType("preonly")
    pc = ksp.getPC()
    pc.setType("lu")
    pc.setFactorSolverType("mumps")
    # the memory guard (femnn.fem.memory): this second factor of K comes on top of the forward solve's
    from femnn.fem.memory import check_lu_failure, guard_lu

    ksp.setOperators(K)
    limit = guard_lu(pc, comm)
    eps.setFromOptions()
    try:
        eps.solve()
    except Exception:
        check_lu_failure(pc, int(prob.dofs), f"the {prob.tdim}D part's buckling operator", limit)
        raise
    nconv = eps.getConverged()
    vr = K.createVecRight()
    found = []
    for i in range(nconv):
        theta = eps.getEigenvalue(i).real
        if theta > 0:
            eps.getEigenvector(i, vr)
            found.append((1.0 / theta, vr.copy()))
    eps.destroy()
    Ks.destroy()
    if not found:
        raise RuntimeError("no positive buckling load factor found: the load puts nothing in compression "
                           f"(SLEPc converged {nconv} eigenpairs, none with θ = 1/λ > 0)")
    found.sort(key=lambda p: p[0])
    found = found[: int(n_modes)]
    tags = [bond_tag(i) for i in range(net.n_bonds)]
    shares, modes = [], []
    Kv = K.createVecLeft()
    for lam, vec in found:
        phi = dolfinx.fem.Function(prob.V, name="buckling_mode")
        vec.copy(phi.x.petsc_vec)
        phi.x.scatter_forward()
        K.mult(vec, Kv)
        total = vec.dot(Kv)
        shares.append(prob.region_energy(phi, phi, tags) / total)
        # a sign convention for pictures and for comparing runs: the largest |component| positive
        amax = comm.allreduce((float(np.abs(phi.x.array).max(initial=0.0)), comm.rank), op=_maxloc())
        sgn = 0.0
        if comm.rank == amax[1]:
            sgn = float(np.sign(phi.x.array[np.argmax(np.abs(phi.x.array))]))
        sgn = comm.bcast(sgn, root=amax[1]) or 1.0
        phi.x.array[:] *= sgn / amax[0]
        modes.append(phi)
        vec.destroy()
    Kv.destroy()
    shares = np.array(shares)
    extra = {"u0": u0, "problem": prob}
    if keep_modes:
        extra["modes"] = modes
    return BucklingResult(np.array([p[0] for p in found]), np.argmax(shares, axis=1).astype(np.int64), shares,
                          e_fem, e_bar, int(prob.dofs), int(mesh.topology.dim), extra)


def _maxloc():
    from mpi4py import MPI

    return MPI.MAXLOC


def buckling_record(task, res: BucklingResult, *, dim: int, case: int = 0, widths=None, hub_radius_m=None,
                    n_processes: int = 1, seconds: float = 0.0, picture: bool = True) -> dict:
    """The ``buckling.json`` record of a :func:`linear_buckling` result: the lowest load factor, the bond
    most involved in its mode (0-based, the network's order) and whether it is compressed under the
    forward load, and the next modes."""
    b0 = int(res.bonds[0])
    modes = [{"mode": i + 1, "load_factor": float(lam), "bond": int(b),
              "energy_share": float(res.energy_shares[i, b]),
              "bond_in_compression": bool(res.elongation_fem_m[b] < 0),
              "elongation_fem_m": float(res.elongation_fem_m[b])}
             for i, (lam, b) in enumerate(zip(res.load_factors, res.bonds))]
    e_bar = float(res.elongation_bar_m[b0])
    rec = {
        "task": task.name, "source": str(task.source), "widths": str(widths) if widths else None,
        "dim": dim, "load_case": case, "load_factor": float(res.load_factors[0]), "bond": b0,
        "bond_in_compression": bool(res.elongation_fem_m[b0] < 0),
        "bond_elongation_fem_m": float(res.elongation_fem_m[b0]),
        "bond_elongation_bar_m": None if e_bar != e_bar else e_bar,
        "modes": modes,
        "units": {"load_factor": "multiples of the task's load", "energy_share": "bond strain energy / part strain energy"},
        "model": "linearised buckling, (K + λ K_σ) φ = 0, K_σ = t ∫ σ0 : (∇δuᵀ∇v) dx, P2 "
                 + ("plane stress (in-plane modes only)" if dim == 2 else "solid"),
        "dofs": res.dofs, "hub_radius_m": hub_radius_m, "n_processes": n_processes, "seconds": seconds,
        "picture": "buckling_mode.png" if picture else None,
    }
    return rec


def mode_surface(comm, result: BucklingResult, mode=0):
    """Mode ``mode`` gathered to rank 0 for a picture (collective): 2D every cell, 3D the outer surface, as
    triangle corner coordinates X (m, 3, gdim) m and mode values U (m, 3, gdim); None on other ranks."""
    import dolfinx

    phi = result.extra["modes"][mode]
    mesh = phi.function_space.mesh
    tdim, gdim = mesh.topology.dim, mesh.geometry.dim
    V1 = dolfinx.fem.functionspace(mesh, ("Lagrange", 1, (gdim,)))
    u1 = dolfinx.fem.Function(V1)
    u1.interpolate(phi)
    # geometry node -> P1 DOF (P1 on the linear mesh: the same cell-local order)
    geo2dof = np.zeros(mesh.geometry.x.shape[0], dtype=np.int64)
    geo2dof[mesh.geometry.dofmaps[0].ravel()] = V1.dofmap.list.ravel()
    vals = u1.x.array.reshape(-1, gdim)
    if tdim == 2:
        n = mesh.topology.index_map(2).size_local
        geo = mesh.geometry.dofmaps[0][:n]
    else:
        mesh.topology.create_connectivity(tdim - 1, tdim)
        facets = dolfinx.mesh.exterior_facet_indices(mesh.topology)
        facets = facets[facets < mesh.topology.index_map(tdim - 1).size_local]
        geo = dolfinx.mesh.entities_to_geometry(mesh, tdim - 1, facets)
    tri_x = mesh.geometry.x[geo][:, :, :gdim]
    tri_u = vals[geo2dof[geo]]
    parts = comm.gather((tri_x, tri_u), root=0)
    if comm.rank != 0:
        return None
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])
