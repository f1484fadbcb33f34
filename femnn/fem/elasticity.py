"""Linear elasticity on a tagged network mesh: one assembled operator, one factorisation, many loads.

Weak form (2D plane stress with thickness t, or 3D with t = 1):

    a(u, v) = t ∫ s σ(u) : ε(v) dx,   σ = 2μ ε + λ* tr(ε) I,
    λ* = 2 λ μ / (λ + 2 μ) in plane stress, λ in 3D,

with s a piecewise-constant (DG0) stiffness scale, 1 by default. Loads: a total force F_j on
node j is spread as a uniform body force over hub j's region H_j, so its load functional is
F_j · (1/|H_j|) ∫_{H_j} v dx = F_j · P_j v, where P_j v is the hub-mean operator that also
defines the hub displacement ū_j = P_j u. No point load, hence no mesh-dependent singularity; and
because the load operator is Pᵀ, the adjoint load -Pᵀ ∂L/∂ū "applied the same way" makes the
discrete adjoint exact: K u_adj = -Pᵀ ∂L/∂ū, ∂L/∂s_i = +t ∫_{region i} σ(u) : ε(u_adj) dx
(paper's sign convention; tests/fem/test_adjoint.py checks it by finite differences).

Fixed nodes: every DOF in the cells of their hubs is clamped (the whole hub REGION, not only its
boundary: the printed hub is glued/pinned to the frame over its full face, and clamping the region
keeps the fixed hub's mean displacement exactly 0, as the bar model assumes).

Failure is loud: an empty hub region, a solver that does not converge (PETSc reason <= 0) or a
non-finite solution raises instead of returning NaN.
"""

from __future__ import annotations

import contextlib
import time
import warnings

import numpy as np


# femnn's GAMG level smoother (CG branch), unless the user sets any of these under femnn_forward_
SMOOTHER_DEFAULTS = {"mg_levels_ksp_type": "richardson", "mg_levels_pc_type": "sor", "mg_levels_ksp_max_it": 1}

# the p-multigrid's fine (degree-k) level smoother: one Chebyshev step on point Jacobi (a damped Jacobi
# sweep with PETSc's eigenvalue-estimated damping; cheaper per CG iteration than an SSOR sweep on P2 and
# fewer iterations than two Chebyshev steps in time, bench/bench_large.py --variants pmg ...)
PMG_SMOOTHER_DEFAULTS = {"mg_levels_ksp_type": "chebyshev", "mg_levels_pc_type": "jacobi", "mg_levels_ksp_max_it": 1}

PRECONDITIONERS = ("auto", "gamg", "pmg")


def choose_preconditioner(degree: int, preconditioner: str = "auto") -> str:
    """The CG preconditioner: ``"gamg"`` (smoothed-aggregation AMG on the degree-k operator itself) or
    ``"pmg"`` (p-multigrid: the degree-k level smoothed, the Galerkin P1 operator Πᵀ K Π as the coarse
    level solved by one GAMG V-cycle). ``"auto"``: pmg for degree >= 2, gamg for degree 1."""
    if preconditioner not in PRECONDITIONERS:
        raise ValueError(f"unknown preconditioner {preconditioner!r}; expected one of {', '.join(PRECONDITIONERS)}")
    if preconditioner == "auto":
        return "pmg" if int(degree) >= 2 else "gamg"
    if preconditioner == "pmg" and int(degree) < 2:
        raise ValueError("preconditioner 'pmg' needs degree >= 2 (its coarse level is P1)")
    return preconditioner


@contextlib.contextmanager
def petsc_defaults(*groups):
    """Context: option defaults in PETSc's database while PETSc reads them, taken out again afterwards,
    so that femnn leaves nothing there for a later solver to take for the user's. ``groups``:
    (prefix, {name: value}) pairs ("" for the global database)."""
    from petsc4py import PETSc

    dbs = [(PETSc.Options(prefix), values) for prefix, values in groups]
    for db, values in dbs:
        for k, v in values.items():
            db[k] = v
    try:
        yield
    finally:
        for db, values in dbs:
            for k in values:
                db.delValue(k)


def p1_interpolation(V):
    """(V1, Π): the vector P1 space on ``V``'s mesh and the assembled nodal interpolation matrix
    Π: P1 -> V (a P1 vertex value goes to its vertex DOF and half of it to each edge midpoint DOF, ...)
    of a p-multigrid."""
    import dolfinx
    import dolfinx.fem.petsc as fpetsc

    gdim = V.mesh.geometry.dim
    V1 = dolfinx.fem.functionspace(V.mesh, ("Lagrange", 1, (gdim,)))
    interp = fpetsc.interpolation_matrix(V1, V)
    interp.assemble()
    return V1, interp


def galerkin_coarse(comm, A, interp, V1, coarse=None):
    """The p-multigrid's coarse operator Πᵀ A Π: a new matrix carrying the P1 rigid-body modes as
    GAMG's near-nullspace, or the product redone in place into ``coarse``. Returns it."""
    if coarse is None:
        coarse = A.ptap(interp)
        coarse.setNearNullSpace(rigid_body_nullspace(comm, V1, V1.mesh.geometry.dim, coarse.createVecLeft))
    else:
        A.ptap(interp, result=coarse)
    return coarse


def _land_op():
    from mpi4py import MPI

    return MPI.LAND


def _lame(E, nu, plane_stress):
    mu = E / (2 * (1 + nu))
    lam = E * nu / ((1 + nu) * (1 - 2 * nu))
    if plane_stress:
        lam = 2 * lam * mu / (lam + 2 * mu)
    return mu, lam


def rigid_body_nullspace(comm, V, gdim: int, new_vec):
    """The rigid-body modes of the vector space ``V`` (3 translations/rotations in 2D, 6 in 3D) built from
    owned DOFs only, orthonormalised (modified Gram-Schmidt, collective dot products), as a PETSc
    NullSpace for GAMG. ``new_vec()`` returns an empty PETSc vector laid out like the operator's
    displacement block (the mixed problem's is a sub-block of its u-p system)."""
    from petsc4py import PETSc

    bs = V.dofmap.index_map_bs
    n_own = V.dofmap.index_map.size_local
    x = V.tabulate_dof_coordinates()[:n_own]
    modes = []
    for c in range(gdim):
        m = np.zeros((n_own, bs))
        m[:, c] = 1.0
        modes.append(m)
    for i, j in ([(0, 1)] if gdim == 2 else [(0, 1), (1, 2), (2, 0)]):
        m = np.zeros((n_own, bs))
        m[:, i] = -x[:, j]
        m[:, j] = x[:, i]
        modes.append(m)
    vecs = []
    for m in modes:
        v = new_vec()
        v.array[:] = m.ravel()
        vecs.append(v)
    for i, v in enumerate(vecs):
        for w in vecs[:i]:
            v.axpy(-v.dot(w), w)
        v.normalize()
    return PETSc.NullSpace().create(vectors=vecs, comm=comm)


class RegionReductions:
    """Region bookkeeping and hub means shared by every elasticity problem on a tagged part mesh
    (:class:`ElasticityProblem`, :class:`femnn.fem.mixed.MixedElasticityProblem`). The subclass calls
    :meth:`_init_regions` and sets ``gdim``, ``_p1``, ``_cell_u`` and ``_fpetsc``."""

    def _init_regions(self, comm, mesh, cell_tags):
        """``cell_tag_of`` (tag of each owned cell), ``n_owned``, and the compact region numbering: the
        sorted global tag set ``tag_values`` (identical on every rank, so per-region sums need one small
        allreduce however large the tags are, e.g. 1_000_001 + j), ``_cell_region`` and ``measure`` (area
        in 2D, volume in 3D, per region)."""
        import dolfinx
        import dolfinx.fem.petsc as fpetsc
        import ufl

        from femnn.fem import jit

        tdim = mesh.topology.dim
        n_owned = mesh.topology.index_map(tdim).size_local
        tags = np.zeros(n_owned, dtype=np.int64)
        sel = cell_tags.indices < n_owned
        tags[cell_tags.indices[sel]] = cell_tags.values[sel]
        self.cell_tag_of, self.n_owned = tags, n_owned
        q = ufl.TestFunction(dolfinx.fem.functionspace(mesh, ("DG", 0)))
        cm = fpetsc.assemble_vector(jit.form(q * ufl.dx))
        cm_arr = cm.array_r[:n_owned].copy()
        cm.destroy()
        present = np.unique(np.concatenate([tags, cell_tags.values.astype(np.int64)]))
        self.tag_values = np.unique(np.concatenate(comm.allgather(present)))
        self._cell_region = np.searchsorted(self.tag_values, tags)
        meas = np.zeros(self.tag_values.size)
        np.add.at(meas, self._cell_region, cm_arr)
        self.measure = comm.allreduce(meas)

    def region_index(self, tags, what="hub") -> np.ndarray:
        """Compact region indices of cell tags; ValueError unless every tag names a non-empty region."""
        tags = np.atleast_1d(np.asarray(tags, dtype=np.int64))
        idx = np.searchsorted(self.tag_values, tags)
        for t, k in zip(tags, idx):
            if k >= self.tag_values.size or self.tag_values[k] != t or self.measure[k] <= 0:
                shown = self.tag_values[self.measure > 0]
                raise ValueError(f"{what} region with cell tag {t} is empty or missing in the mesh "
                                 f"(tags present: {shown[:20].tolist()}{' ...' if shown.size > 20 else ''})")
        return idx
    def check_tags(self, tags, what="hub"):
        """Raise ValueError unless every tag names a non-empty region of the mesh."""
        self.region_index(list(tags), what)
    def _set_cell_scale(self, scale: dict):
        """Write the stiffness scale s (DG0 Function ``self.s``) of every cell of each tag in ``scale``
        (owned cells, then the ghosts updated); other cells keep theirs."""
        for tag, val in scale.items():
            self.s.x.array[: self.n_owned][self.cell_tag_of == tag] = val
        self.s.x.scatter_forward()

    def _region_sums(self, form, ncomp: int = 1) -> np.ndarray:
        """(n_regions, ncomp): a per-cell (DG0) form's values summed over each region's owned cells and
        over the ranks (collective; the same size on every rank, the global tag set)."""
        from petsc4py import PETSc

        vec = self._fpetsc.assemble_vector(form)
        vec.ghostUpdate(addv=PETSc.InsertMode.ADD, mode=PETSc.ScatterMode.REVERSE)
        per_cell = vec.array_r[: self.n_owned * ncomp].reshape(-1, ncomp).copy()
        vec.destroy()
        sums = np.zeros((self.measure.size, ncomp))
        np.add.at(sums, self._cell_region, per_cell)
        return self.comm.allreduce(sums)

    def hub_means(self, u_fn, n_nodes, hub_tag) -> np.ndarray:
        """ū_j = (1/|H_j|) ∫_{H_j} u dx for every node (collective) -> (n_nodes, 2)."""
        self._p1.x.array[:] = u_fn.x.array
        idx = self.region_index([hub_tag(j) for j in range(n_nodes)], "hub")
        return self._region_sums(self._cell_u, self.gdim)[idx, :2] / self.measure[idx][:, None]

    def region_energy(self, u_fn, v_fn, tags_of_interest) -> np.ndarray:
        """t ∫_{region} σ(u):ε(v) dx for each tag in ``tags_of_interest`` (collective; the problem's
        ``_cell_energy`` form of ``_p1`` = u and ``_p2`` = v)."""
        self._p1.x.array[:] = u_fn.x.array
        self._p2.x.array[:] = v_fn.x.array
        idx = self.region_index(list(tags_of_interest), "bond")
        return self._region_sums(self._cell_energy)[idx, 0]


class ElasticityProblem(RegionReductions):
    """Assembles K once on ``mesh`` and factorises it once; solves any number of hub load cases.

    Parameters
    ----------
    comm : MPI communicator of the mesh
    mesh, cell_tags : dolfinx mesh and its cell MeshTags (hub and bond regions)
    youngs_modulus_Pa, poisson_ratio, thickness_m : material and (2D) out-of-plane thickness
    fixed_tags : cell tags whose DOFs are clamped
    degree : Lagrange degree (2 by default: degree 1 locks near ν = 0.5)
    solver : "lu" (MUMPS) or "cg" (CG, preconditioned as ``preconditioner`` says; the preconditioner
        is set up by :meth:`setup` or the first solve, ``seconds_setup`` holds its time)
    preconditioner : CG only. "gamg": smoothed-aggregation AMG (GAMG, with the rigid-body
        near-nullspace) on K itself. "pmg": p-multigrid, two levels: the degree-k level smoothed by one
        Chebyshev/Jacobi step, the coarse level the Galerkin P1 operator K₁ = Πᵀ K Π (Π the nodal
        interpolation P1 -> Pk on the same mesh) solved by one GAMG V-cycle. GAMG's costly Galerkin
        products then act on the P1 operator (about 1/8 of the DOFs in 3D P2): on the 3D paper part
        the setup is ~10x faster, fewer CG iterations, less memory (docs/nonlinear.md section 4.3).
        "auto" (default): pmg for degree >= 2, gamg for degree 1.
    scale : optional dict tag -> stiffness scale s (default 1)
    rtol : CG tolerance on the true (unpreconditioned) residual
    max_residual : every solve checks |b - K u| / |b| and raises above this (singular K, failed solve)
    low_memory : CG on more than one rank only: GAMG's Galerkin products PᵀAP all-at-once
        (``-matptap_via allatonce``) instead of PETSc's default, which keeps its intermediates for
        reuse: about 40 % less memory in all on 2 ranks, several times slower GAMG setup (measured in
        docs/nonlinear.md section 4). Ignored on 1 rank
        (the sequential product keeps no such intermediates) and when the user set ``-matptap_via``.
    """

    def __init__(self, comm, mesh, cell_tags, youngs_modulus_Pa, poisson_ratio, thickness_m, fixed_tags,
                 degree=2, solver="lu", scale=None, rtol=1e-10, max_residual=1e-6, low_memory=False,
                 preconditioner="auto"):
        import dolfinx
        import dolfinx.fem.petsc as fpetsc

        self.comm, self.mesh, self.cell_tags = comm, mesh, cell_tags
        self.gdim = mesh.geometry.dim
        self.tdim = mesh.topology.dim
        self.t = float(thickness_m) if self.tdim == 2 else 1.0
        self.degree = degree
        self.solver_kind = solver
        self.preconditioner = choose_preconditioner(degree, preconditioner) if solver == "cg" else None
        self.max_residual = float(max_residual)
        self._fpetsc = fpetsc
        t0 = time.perf_counter()
        self.V = dolfinx.fem.functionspace(mesh, ("Lagrange", degree, (self.gdim,)))
        self.W0 = dolfinx.fem.functionspace(mesh, ("DG", 0))
        self.W0v = dolfinx.fem.functionspace(mesh, ("DG", 0, (self.gdim,)))
        self._init_regions(comm, mesh, cell_tags)
        self.s = dolfinx.fem.Function(self.W0)
        self.s.x.array[:] = 1.0
        if scale:
            self.set_scale(scale, update=False)
        self._forms(youngs_modulus_Pa, poisson_ratio)
        self.check_tags(fixed_tags, "fixed hub")
        if float(poisson_ratio) > 0.49 + 1e-12:
            warnings.warn(f"Poisson ratio {poisson_ratio} > 0.49: displacement elements lock near incompressibility "
                          "(use degree >= 2, or the mixed u-p formulation: femnn.fem.make_problem(formulation='mixed'))",
                          stacklevel=2)
        self.bc = self._clamp(fixed_tags)
        self.A = fpetsc.assemble_matrix(self.a, bcs=[self.bc])
        self.A.assemble()
        self.seconds_assemble = time.perf_counter() - t0
        self.low_memory = bool(low_memory)
        self.seconds_setup = 0.0   # preconditioner setup (CG), timed by setup()
        self._interp = self._coarse = None   # pmg: the interpolation P1 -> Pk and the coarse operator
        self.ksp = self._solver(solver, rtol)
        self.n_factorizations = 0   # numeric LU factorisations done (0 for CG)
        self._factor_stale = True
        self.iterations = []
        self.dofs = self.V.dofmap.index_map.size_global * self.V.dofmap.index_map_bs

    def _forms(self, youngs_modulus_Pa, poisson_ratio):
        """The compiled forms: stiffness a(u, v), the hub load L(v) (a DG0 body force b), and the per-cell
        integrals the reductions use (hub means, region energies)."""
        import dolfinx
        import ufl

        from femnn.fem import jit

        mesh, V = self.mesh, self.V
        mu, lam = _lame(float(youngs_modulus_Pa), float(poisson_ratio), self.tdim == 2)
        self.mu, self.lam = mu, lam
        # constants, not literals: one compiled form serves every E, ν and t (studies sweep them)
        mu_c, lam_c = dolfinx.fem.Constant(mesh, float(mu)), dolfinx.fem.Constant(mesh, float(lam))
        t_c = dolfinx.fem.Constant(mesh, float(self.t))
        u, v = ufl.TrialFunction(V), ufl.TestFunction(V)
        self._eps = lambda w: ufl.sym(ufl.grad(w))
        self._sigma = lambda w: 2 * mu_c * self._eps(w) + lam_c * ufl.tr(self._eps(w)) * ufl.Identity(self.gdim)
        self.a = jit.form(t_c * self.s * ufl.inner(self._sigma(u), self._eps(v)) * ufl.dx)
        # body force per unit volume as a DG0 vector field (hub-mean load operator Pᵀ)
        self.b = dolfinx.fem.Function(self.W0v)
        self.L = jit.form(t_c * ufl.inner(self.b, v) * ufl.dx)
        self.u_h = dolfinx.fem.Function(V, name="u")
        self.u_adj = dolfinx.fem.Function(V, name="u_adjoint")
        q, qv = ufl.TestFunction(self.W0), ufl.TestFunction(self.W0v)
        # dedicated copies, so that reducing one field never overwrites another
        self._p1, self._p2 = dolfinx.fem.Function(V), dolfinx.fem.Function(V)
        self._cell_u = jit.form(ufl.inner(self._p1, qv) * ufl.dx)
        self._cell_energy = jit.form(t_c * q * ufl.inner(self._sigma(self._p1), self._eps(self._p2)) * ufl.dx)

    def _clamp(self, fixed_tags):
        """Dirichlet condition: every DOF of the cells (owned and ghost) of the clamped regions."""
        import dolfinx
        from petsc4py import PETSc

        mesh, cell_tags = self.mesh, self.cell_tags
        fixed = np.asarray(list(fixed_tags))
        fixed_cells = np.flatnonzero(np.isin(self.cell_tag_of, fixed))
        ghost_sel = np.isin(cell_tags.values, fixed)
        fixed_cells = np.unique(np.concatenate([fixed_cells, cell_tags.indices[ghost_sel]])).astype(np.int32)
        mesh.topology.create_connectivity(self.tdim, self.tdim)
        dofs = dolfinx.fem.locate_dofs_topological(self.V, self.tdim, fixed_cells)
        return dolfinx.fem.dirichletbc(np.zeros(self.gdim, dtype=PETSc.ScalarType), dofs, self.V)

    def _solver(self, solver, rtol):
        """The KSP on K under the prefix ``femnn_forward_``: MUMPS LU, or CG + GAMG with the rigid-body
        near-nullspace and a true-residual tolerance."""
        from petsc4py import PETSc

        ksp = PETSc.KSP().create(self.comm)
        ksp.setOptionsPrefix("femnn_forward_")  # user options: -femnn_forward_pc_gamg_threshold ...
        ksp.setOperators(self.A)
        pc = ksp.getPC()
        defaults = {}
        self._lu_limit_mb = None
        if solver == "lu":
            from femnn.fem.memory import guard_lu

            ksp.setType("preonly")
            pc.setType("lu")
            pc.setFactorSolverType("mumps")
            self._lu_limit_mb = guard_lu(pc, self.comm)   # refuse a factorisation that would not fit
        elif solver == "cg":
            ksp.setType("cg")
            # defaults as PETSc options (petsc4py has no setters for them), in the database only while
            # setFromOptions and setup() read them; -femnn_forward_<name> given by the user overrides
            # each group
            opts = PETSc.Options("femnn_forward_")
            gamg = ""   # the options prefix (under femnn_forward_) of the GAMG
            if self.preconditioner == "pmg":
                self._pmg_levels(pc)
                gamg = "mg_coarse_"
                if not any(opts.hasName(k) for k in PMG_SMOOTHER_DEFAULTS):
                    defaults.update(PMG_SMOOTHER_DEFAULTS)
                for k, v in (("ksp_type", "preonly"), ("pc_type", "gamg")):
                    if not opts.hasName(gamg + k):
                        defaults[gamg + k] = v
            else:
                pc.setType("gamg")
                self.A.setNearNullSpace(self._rigid_modes())
            # drop weak graph edges: at ν = 0.49 (P2, 3D) this halves the CG iterations (293 -> 157 at
            # 5e4 DOFs; bench/bench_fem.py)
            if not opts.hasName(gamg + "pc_gamg_threshold"):
                defaults[gamg + "pc_gamg_threshold"] = 0.05
            # GAMG's level smoother: one symmetric Gauss-Seidel sweep (Richardson + SSOR, rank-local)
            # instead of PETSc's Chebyshev(2)/Jacobi: the same cost per CG iteration, 15 % fewer
            # iterations on the paper part (3D P2, ν = 0.49: 137 instead of 161 at rtol 1e-8), same
            # memory (bench/bench_large.py, docs/nonlinear.md section 4). The V-cycle stays symmetric
            # (the same symmetric sweep before and after), as CG needs.
            if not any(opts.hasName(gamg + k) for k in SMOOTHER_DEFAULTS):
                defaults.update({gamg + k: v for k, v in SMOOTHER_DEFAULTS.items()})
            ksp.setTolerances(rtol=rtol, atol=0.0, max_it=5000)
            ksp.setNormType(PETSc.KSP.NormType.UNPRECONDITIONED)  # rtol on the true residual
        else:
            raise ValueError(f"unknown solver {solver!r}; expected 'lu' or 'cg'")
        self._defaults = defaults
        # the low-memory Galerkin product: GAMG's products read the GLOBAL database, not the solver's
        # prefix (-femnn_forward_matptap_via is reported unused); a user's own -matptap_via wins
        self._global_defaults = ({"matptap_via": "allatonce"} if solver == "cg" and self.low_memory and self.comm.size > 1
                                 and not PETSc.Options().hasName("matptap_via") else {})
        self._is_setup = solver != "cg"   # LU factorises in its first solve (counted there)
        with self._defaults_in_database():
            ksp.setFromOptions()
        return ksp

    def _defaults_in_database(self):
        """Context: femnn's option defaults in PETSc's database (under ``femnn_forward_``, and the global
        low-memory product), taken out again afterwards, so femnn leaves no defaults behind."""
        return petsc_defaults(("femnn_forward_", self._defaults), ("", self._global_defaults))

    def setup(self):
        """Set up the preconditioner now (CG: the GAMG hierarchy; the first solve calls it otherwise).
        GAMG creates its level smoothers and Galerkin products inside KSPSetUp and reads their options
        then, so femnn's defaults are put in the database for this call. A new operator of the same
        pattern (set_scale) keeps the hierarchy's smoothers and product algorithms (GAMG reuses the
        interpolation by default). Returns the seconds it took (0 when already set up)."""
        if self._is_setup:
            return 0.0
        t0 = time.perf_counter()
        with self._defaults_in_database():
            if self.preconditioner == "pmg":
                self._coarse_operator()
            self.ksp.setUp()
        self._is_setup = True
        self.seconds_setup = time.perf_counter() - t0
        return self.seconds_setup

    def _pmg_levels(self, pc):
        """PCMG with two levels on ``pc``: the interpolation Π from the vector P1 space on the same mesh
        (nodal: a P1 vertex value goes to the vertex DOF, half of it to each edge midpoint DOF, ...)."""
        if self._interp is None:
            self._V1, self._interp = p1_interpolation(self.V)
        pc.setType("mg")
        pc.setMGLevels(2)
        pc.setMGInterpolation(1, self._interp)

    def _coarse_operator(self):
        """The coarse operator K₁ = Πᵀ K Π (Galerkin; the product is redone in place after set_scale) with
        the P1 rigid-body modes as GAMG's near-nullspace, handed to the coarse solver. Clamped DOFs are
        identity rows of K; Π is not masked there (masking Π's clamped rows and columns measured no
        fewer iterations)."""
        self._coarse = galerkin_coarse(self.comm, self.A, self._interp, self._V1, self._coarse)
        self.ksp.getPC().getMGCoarseSolve().setOperators(self._coarse)

    def _rigid_modes(self):
        """Rigid-body modes (3 in 2D, 6 in 3D) as a PETSc near-nullspace, from owned DOFs only."""
        return rigid_body_nullspace(self.comm, self.V, self.gdim, self.A.createVecLeft)

    def set_scale(self, scale: dict, update: bool = True):
        """Stiffness scale s per cell tag (other cells keep theirs); reassembles K if ``update``."""
        self._set_cell_scale(scale)
        if update:
            self.A.zeroEntries()
            self._fpetsc.assemble_matrix(self.A, self.a, bcs=[self.bc])
            self.A.assemble()
            self.ksp.setOperators(self.A)
            self._factor_stale = True
            if self.preconditioner == "pmg":
                self._is_setup = False   # the next solve redoes the coarse product Πᵀ K Π

    def stress(self, w):
        """Physical Cauchy stress s σ(w) (UFL; plane stress in 2D)."""
        return self.s * self._sigma(w)

    def von_mises(self, w):
        """von Mises stress (UFL) of s σ(w); in 2D with σ_zz = 0 (plane stress):
        σ_vm² = 3/2 (σ:σ - tr(σ)²/3) = σxx² - σxx σyy + σyy² + 3 σxy²."""
        import ufl

        sig = self.stress(w)
        return ufl.sqrt(1.5 * (ufl.inner(sig, sig) - ufl.tr(sig) ** 2 / 3))

    # ---- loads and reductions -----------------------------------------------------------
    def _set_body_force(self, F_nodes, hub_tag):
        """b = F_j / (t |H_j|) on hub j's cells (so ∫ t b·v = F_j · P_j v)."""
        arr = np.zeros((self.n_owned, self.gdim))
        for j, Fj in enumerate(np.asarray(F_nodes, dtype=float)):
            if not np.any(Fj):
                continue
            tag = hub_tag(j)
            k = self.region_index([tag], f"loaded hub {j}")[0]
            arr[self._cell_region == k, :2] += Fj / (self.t * self.measure[k])
        self.b.x.array[: self.n_owned * self.gdim] = arr.ravel()
        self.b.x.scatter_forward()

    def solve(self, F_nodes, hub_tag, out=None):
        """Displacement field for hub forces F_nodes (n_nodes, 2) N, reusing the factorisation."""
        from petsc4py import PETSc

        out = self.u_h if out is None else out
        self.setup()
        self._set_body_force(F_nodes, hub_tag)
        rhs = self._fpetsc.assemble_vector(self.L)
        rhs.ghostUpdate(addv=PETSc.InsertMode.ADD, mode=PETSc.ScatterMode.REVERSE)
        self._fpetsc.set_bc(rhs, [self.bc])
        self.ksp.solve(rhs, out.x.petsc_vec)
        if self._factor_stale and self.solver_kind == "lu":
            self.n_factorizations += 1
        self._factor_stale = False
        reason = self.ksp.getConvergedReason()
        if reason <= 0:
            rhs.destroy()
            if self.solver_kind == "lu":
                from femnn.fem.memory import check_lu_failure

                check_lu_failure(self.ksp.getPC(), self.dofs, f"the {self.tdim}D part", self._lu_limit_mb)
            raise RuntimeError(f"linear solver ({self.solver_kind}) failed to converge (PETSc reason {reason})")
        self.iterations.append(self.ksp.getIterationNumber())
        finite = self.comm.allreduce(bool(np.all(np.isfinite(out.x.petsc_vec.array_r))), op=_land_op())
        if not finite:
            rhs.destroy()
            raise RuntimeError("linear solver returned non-finite values (a mechanism or a singular operator?)")
        # MUMPS "solves" a singular K (a mechanism, an unclamped part) without complaint: check the
        # true residual, one mat-vec, so that a garbage field never leaves this function
        r = rhs.duplicate()
        self.A.mult(out.x.petsc_vec, r)
        r.aypx(-1.0, rhs)
        rel = r.norm() / max(rhs.norm(), 1e-300)
        r.destroy()
        rhs.destroy()
        self.last_residual = rel
        if rel > self.max_residual:
            raise RuntimeError(f"linear solver ({self.solver_kind}) returned a field with relative residual {rel:.2e} "
                               f"> {self.max_residual:.0e}: K is singular (a mechanism, or no clamped hub?)")
        out.x.scatter_forward()
        return out

