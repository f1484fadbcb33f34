"""Mixed displacement-pressure (Taylor-Hood P2-P1) linear elasticity for near-incompressible parts.

Why: the printed material (Agilus30) has ν close to 0.5. A displacement-only formulation then
"locks": the energy term λ (div u)² with λ → ∞ forces the discrete field towards divergence-free
polynomials that P1 (and, less so, P2) cannot represent, and the computed displacement is far too
small. Introducing the pressure p = -s λ div u as an unknown removes λ from the stiffness:

    t ∫ s 2μ ε(u) : ε(v) dx - t ∫ p div v dx             = F(v)      for all v in V (P_k, vector)
   -t ∫ q div u dx          - t ∫ p q / (s λ) dx          = 0         for all q in Q (P_{k-1}, continuous)

σ = 2 μ s ε(u) - p I. At ν = 0.5 the last term is absent (1/λ = 0: exact incompressibility) and
the formulation stays well posed (inf-sup stable Taylor-Hood pair, degree >= 2). The pressure
unknown is stored scaled, p̃ = p / μ, so every block has entries ~ μ (MUMPS and the iterative
solver see a well-scaled matrix); :meth:`MixedElasticityProblem.pressure` returns p in Pa.

The interface is that of :class:`femnn.fem.elasticity.ElasticityProblem` (hub loads spread over
hub regions, hub means, ``region_energy`` = exact ∂L/∂s per region, von Mises, ``V`` the
displacement space), so the rest of femnn can use either. Each solve also computes the pressure;
it is kept alongside the displacement Function passed as ``out`` (:meth:`pressure`) and used by
:meth:`region_energy` and :meth:`von_mises`.

Adjoint (same sign convention as the displacement problem): with A(s) w = b, A symmetric,
A w_adj = -∂L/∂w (the load on the displacement rows only), ∂L/∂s_i = w_adjᵀ (∂A/∂s_i) w, i.e.

    ∂L/∂s_i = t ∫_{region i} [ 2μ ε(u) : ε(u_adj) + μ² p̃ p̃_adj / (s² λ) ] dx.

2D: plane stress by default (femnn's 2D model, out-of-plane thickness t). Plane stress does NOT
lock like 3D: the in-plane Lamé parameter λ* = 2λμ/(λ+2μ) = Eν/(1-ν²) stays bounded (→ 2μ) as
ν → 0.5, so the displacement formulation (P2) is accurate there and femnn uses it by default;
this class supports plane stress anyway (with λ* in place of λ) so that 2D and 3D runs can use the
same formulation. ``plane="strain"`` gives 2D plane strain (λ itself; locks exactly like 3D; used
by the convergence test).

ν range: (0, 0.5]. ν <= 0 is refused (λ <= 0 makes the pressure block indefinite or infinite; the
displacement formulation is exact and cheaper there).

Fixed regions: every displacement DOF of their cells is clamped (as in ElasticityProblem). Inside
a clamped region the hydrostatic pressure is a reaction that the incompressible equations do not
determine, so the pressure DOFs all of whose cells are clamped are set to 0 (this removes that
null space at ν = 0.5 and changes nothing outside the clamp).

Solvers (options prefix ``femnn_mixed_``): ``"lu"``: MUMPS on the whole symmetric indefinite
system; ``"minres"`` (alias ``"iterative"``): MINRES with a PETSc fieldsplit Schur-complement
preconditioner (factorisation "diag", so that the preconditioner is symmetric positive definite):
GAMG with the rigid-body near-nullspace on the displacement block, and the pressure mass matrix
scaled by (1/μ)(1 + μ/λ)/s (the Schur complement's spectral equivalent; in p̃ units μ (1 + μ/λ)/s)
with Jacobi on the pressure block; ``rtol`` applies to the true (unpreconditioned) residual.
``-femnn_mixed_ksp_type gmres -femnn_mixed_ksp_pc_side right`` etc. override.
"""

from __future__ import annotations

import time
import weakref

import numpy as np

from femnn.fem.elasticity import RegionReductions, _land_op, rigid_body_nullspace

PREFIX = "femnn_mixed_"


def mixed_lame(youngs_modulus_Pa, poisson_ratio, tdim, plane="stress"):
    """(μ, 1/λ) in Pa and 1/Pa for the mixed form; 1/λ = 0 at ν = 0.5 (3D, plane strain).

    Plane stress: λ* = E ν / (1 - ν²) (bounded at ν = 0.5)."""
    E, nu = float(youngs_modulus_Pa), float(poisson_ratio)
    if not (0.0 < nu <= 0.5):
        raise ValueError(f"Poisson ratio {nu} outside (0, 0.5] for the mixed formulation "
                         "(use the displacement formulation for ν <= 0)")
    mu = E / (2 * (1 + nu))
    if tdim == 2 and plane == "stress":
        return mu, (1 - nu ** 2) / (E * nu)
    if nu == 0.5:
        return mu, 0.0
    return mu, (1 + nu) * (1 - 2 * nu) / (E * nu)


class MixedElasticityProblem(RegionReductions):
    """Taylor-Hood P_k-P_{k-1} elasticity; assembled once, factorised once, many hub load cases.

    Parameters (as :class:`femnn.fem.elasticity.ElasticityProblem`)
    ----------
    comm, mesh, cell_tags, youngs_modulus_Pa, poisson_ratio (0 < ν <= 0.5), thickness_m, fixed_tags
    degree : displacement degree k >= 2 (pressure k - 1, continuous)
    solver : "lu" (MUMPS) or "minres" / "iterative" (MINRES + fieldsplit Schur preconditioner)
    scale : optional dict tag -> stiffness scale s (default 1)
    plane : 2D only: "stress" (default, femnn's 2D model) or "strain"
    clamp : optional callable x (3, n) -> bool mask: displacement DOFs located there are clamped too
    rtol, max_residual : iterative tolerance on the true residual (1e-8: MINRES stagnates near 1e-10 in
        double precision on these saddle-point systems) and the post-solve residual check
    """

    def __init__(self, comm, mesh, cell_tags, youngs_modulus_Pa, poisson_ratio, thickness_m, fixed_tags,
                 degree=2, solver="lu", scale=None, rtol=1e-8, max_residual=1e-6, plane="stress", clamp=None):
        import dolfinx
        import dolfinx.fem.petsc as fpetsc

        if int(degree) < 2:
            raise ValueError(f"mixed formulation needs displacement degree >= 2 (Taylor-Hood), got {degree}")
        if plane not in ("stress", "strain"):
            raise ValueError(f"plane must be 'stress' or 'strain', got {plane!r}")
        solver = {"iterative": "minres"}.get(solver, solver)
        if solver not in ("lu", "minres"):
            raise ValueError(f"unknown solver {solver!r}; expected 'lu', 'minres' or 'iterative'")
        self.comm, self.mesh, self.cell_tags = comm, mesh, cell_tags
        self.gdim = mesh.geometry.dim
        self.tdim = mesh.topology.dim
        self.plane = plane if self.tdim == 2 else None
        self.t = float(thickness_m) if self.tdim == 2 else 1.0
        self.degree = int(degree)
        self.solver_kind = solver
        self.max_residual = float(max_residual)
        self.poisson_ratio = float(poisson_ratio)
        self._fpetsc = fpetsc
        t0 = time.perf_counter()
        self.mu, self.inv_lam = mixed_lame(youngs_modulus_Pa, poisson_ratio, self.tdim, plane)
        self._spaces(scale)
        self._forms()
        fixed_tags = [int(x) for x in fixed_tags]
        self.check_tags(fixed_tags, "fixed hub")
        self.bcs = self._clamp(fixed_tags, clamp)
        self.A = fpetsc.assemble_matrix(self.a, bcs=self.bcs, kind="mpi")
        self.A.assemble()
        self._solver(solver, rtol)
        self.seconds_assemble = time.perf_counter() - t0
        self.n_factorizations = 0
        self._factor_stale = True
        self.iterations = []
        V, Q = self.V, self.Q
        self.dofs = V.dofmap.index_map.size_global * V.dofmap.index_map_bs + Q.dofmap.index_map.size_global
        self.dofs_displacement = V.dofmap.index_map.size_global * V.dofmap.index_map_bs
        self.u_h = dolfinx.fem.Function(V, name="u")
        self._pressures: dict[int, object] = {}
        self._rhs = fpetsc.create_vector([V, Q], kind="mpi")
        self._x = fpetsc.create_vector([V, Q], kind="mpi")

    def _spaces(self, scale):
        """Taylor-Hood spaces V (P_k vectors) and Q (P_{k-1}), DG0 spaces, the regions and the stiffness
        scale s (1, or ``scale`` per cell tag)."""
        import basix.ufl
        import dolfinx

        mesh = self.mesh
        self.V = dolfinx.fem.functionspace(mesh, ("Lagrange", self.degree, (self.gdim,)))
        self.Q = dolfinx.fem.functionspace(mesh, basix.ufl.element("Lagrange", mesh.basix_cell(), self.degree - 1))
        self.W0 = dolfinx.fem.functionspace(mesh, ("DG", 0))
        self.W0v = dolfinx.fem.functionspace(mesh, ("DG", 0, (self.gdim,)))
        self._init_regions(self.comm, mesh, self.cell_tags)
        self.s = dolfinx.fem.Function(self.W0)
        self.s.x.array[:] = 1.0
        if scale:
            self.set_scale(scale, update=False)

    def _forms(self):
        """The compiled forms: the saddle-point operator a, the hub load L (a DG0 body force b), and the
        per-cell integrals the reductions use (hub means, region energies)."""
        import dolfinx
        import ufl

        from femnn.fem import jit

        mesh, V, Q, s = self.mesh, self.V, self.Q, self.s
        mu_c = dolfinx.fem.Constant(mesh, float(self.mu))
        il_c = dolfinx.fem.Constant(mesh, float(self.inv_lam))   # 1/λ (1/Pa), 0 when incompressible
        t_c = dolfinx.fem.Constant(mesh, float(self.t))
        self._mu_c, self._il_c, self._t_c = mu_c, il_c, t_c
        u, v = ufl.TrialFunction(V), ufl.TestFunction(V)
        p, q = ufl.TrialFunction(Q), ufl.TestFunction(Q)
        self._v = v
        eps = lambda w: ufl.sym(ufl.grad(w))  # noqa: E731
        self._eps = eps
        self.a_ufl = [[t_c * s * 2 * mu_c * ufl.inner(eps(u), eps(v)) * ufl.dx,
                       -t_c * mu_c * p * ufl.div(v) * ufl.dx],
                      [-t_c * mu_c * q * ufl.div(u) * ufl.dx,
                       -t_c * mu_c * mu_c * il_c / s * p * q * ufl.dx]]
        self.a = jit.form(self.a_ufl)
        self.b = dolfinx.fem.Function(self.W0v)
        zero_q = dolfinx.fem.Constant(mesh, 0.0)
        self.L = jit.form([t_c * ufl.inner(self.b, v) * ufl.dx, zero_q * q * ufl.dx])
        # Schur preconditioner of the iterative solver: the scaled pressure mass matrix -μ(1 + μ/λ)/s M_p
        self._a_pc = jit.form(-t_c * mu_c * (1 + mu_c * il_c) / s * p * q * ufl.dx)
        # reductions
        qc = ufl.TestFunction(self.W0)
        qv = ufl.TestFunction(self.W0v)
        self._p1, self._p2 = dolfinx.fem.Function(V), dolfinx.fem.Function(V)
        self._q1, self._q2 = dolfinx.fem.Function(Q), dolfinx.fem.Function(Q)
        self._cell_u = jit.form(ufl.inner(self._p1, qv) * ufl.dx)
        self._cell_energy = jit.form(
            t_c * qc * (2 * mu_c * ufl.inner(eps(self._p1), eps(self._p2))
                        + mu_c * mu_c * il_c / (s * s) * self._q1 * self._q2) * ufl.dx)

    def _clamp(self, fixed_tags, clamp):
        """[bc_u, bc_p]: zero displacement on the cells of ``fixed_tags`` (owned and ghost) and where
        ``clamp(x)`` holds; zero pressure on pressure DOFs that touch no free cell (strictly inside a
        clamp), decided with a parallel-safe assembled indicator (∫ q (1 - χ_fixed) dx > 0 iff q
        touches a free cell)."""
        import dolfinx
        import ufl
        from petsc4py import PETSc

        from femnn.fem import jit

        mesh, V, Q = self.mesh, self.V, self.Q
        n_local = self.n_owned + mesh.topology.index_map(self.tdim).num_ghosts
        tags_all = np.zeros(n_local, dtype=np.int64)
        tags_all[self.cell_tags.indices] = self.cell_tags.values
        fixed_local = np.flatnonzero(np.isin(tags_all, np.asarray(fixed_tags, dtype=np.int64))).astype(np.int32)
        mesh.topology.create_connectivity(self.tdim, self.tdim)
        udofs = dolfinx.fem.locate_dofs_topological(V, self.tdim, fixed_local)
        if clamp is not None:
            udofs = np.unique(np.concatenate([udofs, dolfinx.fem.locate_dofs_geometrical(V, clamp)])).astype(np.int32)
        self.bc_u = dolfinx.fem.dirichletbc(np.zeros(self.gdim, dtype=PETSc.ScalarType), udofs, V)
        chi = dolfinx.fem.Function(self.W0)
        chi.x.array[:] = 1.0
        chi.x.array[fixed_local] = 0.0
        ind = self._fpetsc.assemble_vector(jit.form(chi * ufl.TestFunction(Q) * ufl.dx))
        ind.ghostUpdate(addv=PETSc.InsertMode.ADD, mode=PETSc.ScatterMode.REVERSE)
        touch = dolfinx.fem.Function(Q)
        touch.x.array[: Q.dofmap.index_map.size_local] = ind.array_r
        touch.x.scatter_forward()
        ind.destroy()
        pdofs = np.flatnonzero(touch.x.array <= 0.0).astype(np.int32)
        self.bc_p = dolfinx.fem.dirichletbc(PETSc.ScalarType(0.0), pdofs, Q)
        return [self.bc_u, self.bc_p]

    def _solver(self, solver, rtol):
        """The KSP under the prefix ``femnn_mixed_``: MUMPS LU on the saddle-point matrix, or MINRES with
        a diagonal Schur fieldsplit (GAMG on the displacement block with its rigid-body modes, Jacobi on
        the user Schur matrix P: the scaled pressure mass matrix, so no second copy of A_uu is made)."""
        from petsc4py import PETSc

        comm, V, Q = self.comm, self.V, self.Q
        # index sets of the two fields in the blocked (non-nest) layout: [u owned, p owned] per rank
        nu_own = V.dofmap.index_map.size_local * V.dofmap.index_map_bs
        np_own = Q.dofmap.index_map.size_local
        r0 = self.A.getOwnershipRange()[0]
        self.is_u = PETSc.IS().createStride(nu_own, r0, 1, comm=comm)
        self.is_p = PETSc.IS().createStride(np_own, r0 + nu_own, 1, comm=comm)
        self.ksp = PETSc.KSP().create(comm)
        self.ksp.setOptionsPrefix(PREFIX)
        self.ksp.setOperators(self.A)
        pc = self.ksp.getPC()
        self.P = None
        self._lu_limit_mb = None
        if solver == "lu":
            from femnn.fem.memory import guard_lu

            self.ksp.setType("preonly")
            pc.setType("lu")
            pc.setFactorSolverType("mumps")
            self._lu_limit_mb = guard_lu(pc, comm)   # refuse a factorisation that would not fit
        else:
            self.P = self._fpetsc.assemble_matrix(self._a_pc, bcs=[self.bc_p])
            self.P.assemble()
            self.ksp.setType("minres")
            self.ksp.setTolerances(rtol=rtol, atol=0.0, max_it=5000)
            pc.setType("fieldsplit")
            pc.setFieldSplitIS(("u", self.is_u), ("p", self.is_p))
            pc.setFieldSplitType(PETSc.PC.CompositeType.SCHUR)
            pc.setFieldSplitSchurFactType(PETSc.PC.FieldSplitSchurFactType.DIAG)
            pc.setFieldSplitSchurPreType(PETSc.PC.FieldSplitSchurPreType.USER, self.P)
            self.is_u.compose("nearnullspace", self._rigid_modes(nu_own))
            opts = PETSc.Options(PREFIX)
            for k, val in {"fieldsplit_u_ksp_type": "preonly", "fieldsplit_u_pc_type": "gamg",
                           "fieldsplit_u_pc_gamg_threshold": 0.05,
                           "fieldsplit_p_ksp_type": "preonly", "fieldsplit_p_pc_type": "jacobi"}.items():
                if not opts.hasName(k):
                    opts[k] = val
        self.ksp.setFromOptions()
        if solver == "minres" and self.ksp.getType() == "minres":
            # rtol on the true residual, as CG in ElasticityProblem (the preconditioned norm let the
            # true residual stay above 1e-6 at 2.3e5 DOFs); GMRES via options: add -femnn_mixed_ksp_pc_side right
            self.ksp.setNormType(PETSc.KSP.NormType.UNPRECONDITIONED)

    def _rigid_modes(self, n_own_u):
        """Rigid-body modes of the displacement block (owned DOFs), for the GAMG of the fieldsplit."""
        from petsc4py import PETSc

        return rigid_body_nullspace(self.comm, self.V, self.gdim,
                                    lambda: PETSc.Vec().createMPI((n_own_u, PETSc.DECIDE), comm=self.comm))

    # ---- same interface as ElasticityProblem ----------------------------------------------
    def set_scale(self, scale: dict, update: bool = True):
        """Stiffness scale s per cell tag (μ and λ both scale with s); reassembles if ``update``."""
        self._set_cell_scale(scale)
        if update:
            self.A.zeroEntries()
            self._fpetsc.assemble_matrix(self.A, self.a, bcs=self.bcs)
            self.A.assemble()
            if self.P is not None:
                self.P.zeroEntries()
                self._fpetsc.assemble_matrix(self.P, self._a_pc, bcs=[self.bc_p])
                self.P.assemble()
            self.ksp.setOperators(self.A)
            self._factor_stale = True

    def region_measure(self, tag) -> float:
        return float(self.measure[self.region_index([tag], "region")[0]])

    def pressure(self, u_fn):
        """The pressure p (Pa, Function on Q) solved together with the displacement ``u_fn``."""
        import dolfinx

        pt = self._pressure_scaled(u_fn)
        p = dolfinx.fem.Function(self.Q, name="pressure_Pa")
        p.x.array[:] = self.mu * pt.x.array
        return p

    def _pressure_scaled(self, u_fn):
        try:
            return self._pressures[id(u_fn)]
        except KeyError:
            raise ValueError("this displacement Function was not produced by MixedElasticityProblem.solve "
                             "(its pressure is unknown)") from None

    def stress(self, w):
        """Cauchy stress s 2μ ε(w) - p I (UFL, in-plane tensor in 2D) of a solved displacement."""
        import ufl

        p = self._mu_c * self._pressure_scaled(w)
        return self.s * 2 * self._mu_c * self._eps(w) - p * ufl.Identity(self.gdim)

    def von_mises(self, w):
        """von Mises stress (UFL) of a solved displacement: σ_vm² = 3/2 (σ:σ - tr(σ)²/3) with the full
        3x3 stress (σ_zz = 0 in plane stress, σ_zz = -p in plane strain)."""
        import ufl

        sig = self.stress(w)
        if self.tdim == 3:
            return ufl.sqrt(1.5 * (ufl.inner(sig, sig) - ufl.tr(sig) ** 2 / 3))
        szz = 0 if self.plane == "stress" else -self._mu_c * self._pressure_scaled(w)
        tr = ufl.tr(sig) + szz
        return ufl.sqrt(1.5 * (ufl.inner(sig, sig) + szz * szz - tr ** 2 / 3))

    def _set_body_force(self, F_nodes, hub_tag):
        arr = np.zeros((self.n_owned, self.gdim))
        for j, Fj in enumerate(np.asarray(F_nodes, dtype=float)):
            if not np.any(Fj):
                continue
            k = self.region_index([hub_tag(j)], f"loaded hub {j}")[0]
            arr[self._cell_region == k, :2] += Fj / (self.t * self.measure[k])
        self.b.x.array[: self.n_owned * self.gdim] = arr.ravel()
        self.b.x.scatter_forward()

    def solve(self, F_nodes, hub_tag, out=None):
        """Displacement (into ``out``, a Function on V) for hub forces F_nodes (n_nodes, 2) N; the
        pressure is kept with ``out`` (:meth:`pressure`)."""
        self._set_body_force(F_nodes, hub_tag)
        return self._solve_forms(self.L, out)

    def solve_body_force(self, f, out=None):
        """Displacement for a body force f (UFL vector, N/m³, or N/m² · 1/t in 2D) on the whole
        domain, t ∫ f·v dx (manufactured solutions, tests)."""
        import dolfinx
        import ufl

        from femnn.fem import jit

        q = ufl.TestFunction(self.Q)
        L = jit.form([self._t_c * ufl.inner(f, self._v) * ufl.dx, dolfinx.fem.Constant(self.mesh, 0.0) * q * ufl.dx])
        return self._solve_forms(L, out)

    def _solve_forms(self, L, out):
        import dolfinx
        from petsc4py import PETSc

        out = self.u_h if out is None else out
        rhs, x = self._rhs, self._x
        with rhs.localForm() as loc:
            loc.set(0.0)
        self._fpetsc.assemble_vector(rhs, L)
        rhs.ghostUpdate(addv=PETSc.InsertMode.ADD, mode=PETSc.ScatterMode.REVERSE)
        self._fpetsc.set_bc(rhs, [[self.bc_u], [self.bc_p]])
        self.ksp.solve(rhs, x)
        if self._factor_stale and self.solver_kind == "lu":
            self.n_factorizations += 1
        self._factor_stale = False
        reason = self.ksp.getConvergedReason()
        if reason <= 0:
            if self.solver_kind == "lu":
                from femnn.fem.memory import check_lu_failure

                check_lu_failure(self.ksp.getPC(), self.dofs, f"the {self.tdim}D mixed u-p part", self._lu_limit_mb)
            raise RuntimeError(f"mixed linear solver ({self.solver_kind}) failed to converge (PETSc reason {reason})")
        self.iterations.append(self.ksp.getIterationNumber())
        finite = self.comm.allreduce(bool(np.all(np.isfinite(x.array_r))), op=_land_op())
        if not finite:
            raise RuntimeError("mixed linear solver returned non-finite values (a mechanism or a singular operator?)")
        r = rhs.duplicate()
        self.A.mult(x, r)
        r.aypx(-1.0, rhs)
        rel = r.norm() / max(rhs.norm(), 1e-300)
        r.destroy()
        self.last_residual = rel
        if rel > self.max_residual:
            raise RuntimeError(f"mixed linear solver ({self.solver_kind}) returned a field with relative residual "
                               f"{rel:.2e} > {self.max_residual:.0e}: singular system (a mechanism, no clamp?)")
        key = id(out)
        if key not in self._pressures:
            self._pressures[key] = dolfinx.fem.Function(self.Q, name="pressure_scaled")
            weakref.finalize(out, self._pressures.pop, key, None)
        pt = self._pressures[key]
        self._fpetsc.assign(x, [out, pt])
        out.x.scatter_forward()
        pt.x.scatter_forward()
        return out

    def region_energy(self, u_fn, v_fn, tags_of_interest) -> np.ndarray:
        """t ∫_{region} [2μ ε(u):ε(v) + μ² p̃_u p̃_v / (s² λ)] dx per tag (collective): w_vᵀ (∂A/∂s) w_u,
        the exact ∂L/∂s_i when v is the adjoint displacement."""
        self._q1.x.array[:] = self._pressure_scaled(u_fn).x.array
        self._q2.x.array[:] = self._pressure_scaled(v_fn).x.array
        return super().region_energy(u_fn, v_fn, tags_of_interest)


FORMULATIONS = ("auto", "displacement", "mixed")
MIXED_ABOVE_NU = 0.49   # "auto": displacement P2 up to this Poisson ratio, mixed above it


def choose_formulation(poisson_ratio, formulation="auto", source="--formulation") -> str:
    """``"displacement"`` or ``"mixed"`` for a Poisson ratio, or an InputError naming ``source``.

    ``"auto"``: displacement for ν <= 0.49, mixed above (P2 displacement elements are accurate up to
    about 0.49; beyond, locking grows). ν outside (-1, 0.5] is refused; ν = 0.5 needs the mixed
    formulation; the mixed formulation needs ν > 0."""
    from femnn.errors import InputError

    nu = float(poisson_ratio)
    if formulation not in FORMULATIONS:
        raise InputError(source, "", f"{formulation!r}: expected one of {', '.join(FORMULATIONS)}")
    if not (-1.0 < nu <= 0.5):
        raise InputError("--poisson" if source == "--formulation" else source, "poisson_ratio",
                         f"{nu} is outside (-1, 0.5] (0.5: incompressible, needs --formulation mixed)")
    if formulation == "auto":
        return "mixed" if nu > MIXED_ABOVE_NU else "displacement"
    if formulation == "displacement" and nu == 0.5:
        raise InputError(source, "", "ν = 0.5 (incompressible) needs --formulation mixed; the displacement "
                                     "formulation has λ = ∞ there")
    if formulation == "mixed" and nu <= 0:
        raise InputError(source, "", f"ν = {nu} <= 0: use --formulation displacement (the mixed form needs ν > 0)")
    return formulation
