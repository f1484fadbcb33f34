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

import os
from dataclasses import dataclass, field
from pathlib import Path

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
    eps.setFromOptions()
    eps.solve()
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


def mode_picture(comm, result: BucklingResult, path, mode=0, task=None) -> None:
    """PNG of mode ``mode`` (collective; rank 0 writes): 2D: the deformed cells coloured by the mode's
    amplitude |φ| over the undeformed outline; 3D: the deformed outer surface (pyvista, off-screen)."""
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
        return
    path = Path(path)
    tmp = path.with_name(f".{path.stem}.tmp.png")
    X = np.concatenate([p[0] for p in parts])
    U = np.concatenate([p[1] for p in parts])
    size = float(np.ptp(X.reshape(-1, gdim), axis=0).max())
    scale = 0.05 * size / max(float(np.abs(U).max()), 1e-300)
    amp = np.linalg.norm(U, axis=2).mean(axis=1)
    lam = float(result.load_factors[mode])
    title = (f"buckling mode {mode + 1}: load factor {lam:.3g}, bond {int(result.bonds[mode])} "
             f"({100 * result.energy_shares[mode, result.bonds[mode]]:.0f} % of the mode's strain energy)")
    if tdim == 2:
        from femnn.report.plots import pyplotless

        plt = pyplotless()   # Figure on an Agg canvas: no pyplot state, no backend switch
        from matplotlib.collections import PolyCollection

        fig, ax = plt.subplots(figsize=(8, 6.5))
        ax.add_collection(PolyCollection(X * 1e3, facecolors="0.9", edgecolors="0.7", linewidths=0.2))
        pc = PolyCollection((X + scale * U) * 1e3, array=amp / amp.max(), cmap="viridis", edgecolors="face",
                            linewidths=0.1)
        ax.add_collection(pc)
        if task is not None:
            nodes = task.network.nodes_m * 1e3
            for i, (a, b) in enumerate(task.network.bonds):
                mid = 0.5 * (nodes[a] + nodes[b])
                ax.annotate(str(i), mid, fontsize=6, color="tab:red" if i == result.bonds[mode] else "0.4",
                            ha="center", va="center")
        ax.autoscale_view()
        ax.set_aspect("equal")
        ax.set_xlabel("x (mm)")
        ax.set_ylabel("y (mm)")
        ax.set_title(title, fontsize=9)
        fig.colorbar(pc, ax=ax, shrink=0.7, label="mode amplitude |φ| / max (grey: undeformed)")
        fig.tight_layout()
        fig.savefig(tmp, dpi=160, format="png")
        plt.close(fig)
    else:
        os.environ.setdefault("VTK_DEFAULT_OPENGL_WINDOW", "vtkEGLRenderWindow")
        import pyvista as pv

        pts = (X + scale * U).reshape(-1, 3) * 1e3
        faces = np.hstack([np.full((X.shape[0], 1), 3), np.arange(3 * X.shape[0]).reshape(-1, 3)]).ravel()
        surf = pv.PolyData(pts, faces)
        surf.point_data["amplitude"] = np.linalg.norm(U, axis=2).reshape(-1) / np.linalg.norm(U, axis=2).max()
        ref = pv.PolyData(X.reshape(-1, 3) * 1e3, faces)
        pl = pv.Plotter(off_screen=True, window_size=(1200, 900))
        pl.add_mesh(ref, color="lightgrey", opacity=0.25)
        pl.add_mesh(surf, scalars="amplitude", cmap="viridis", scalar_bar_args={"title": "|φ| / max"})
        pl.add_text(title, font_size=11)
        pl.view_isometric()
        pl.screenshot(str(tmp))
        pl.close()
    os.replace(tmp, path)   # atomic: a failed run never leaves a half-written picture
