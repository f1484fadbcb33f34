"""Hyperelastic large deformation of the printed part: compressible Neo-Hookean, Mooney-Rivlin, Yeoh.

Kinematics: F = I + ∇u (total Lagrangian), C = Fᵀ F, I1 = tr C, I2 = (I1² - tr C²)/2, J = det F.
Every law is a strain-energy density W per unit REFERENCE volume (Pa), written with the full
invariants and a volumetric term in J (the "compressible" forms; at J = 1 they coincide with the
usual isochoric Ī1/Ī2 forms, so in the incompressible limit they are the textbook laws):

* Neo-Hookean (Ciarlet / Simo-Pister type, with the (J² - 1 - 2 ln J) volumetric term):
      W = μ/2 (I1 - 3 - 2 ln J) + λ/4 (J² - 1 - 2 ln J)
* Mooney-Rivlin:
      W = C10 (I1 - 3) + C01 (I2 - 3) - 2 (C10 + 2 C01) ln J + Λ/4 (J² - 1 - 2 ln J),  Λ = λ - 4 C01
* Yeoh:
      W = C10 (I1-3) + C20 (I1-3)² + C30 (I1-3)³ - 2 C10 ln J + Λ/4 (J² - 1 - 2 ln J),  Λ = λ - 8 C20

μ = E / (2 (1 + ν)) and λ = E ν / ((1 + ν)(1 - 2 ν)) (3D Lamé constants from the network's E, ν).
Small-strain limit: with F = I + H, ε = sym H, each W = μ ε:ε + λ/2 (tr ε)² + O(|H|³) when
μ = 2 C10 (Neo-Hookean: C10 = μ/2), μ = 2 (C10 + C01) (Mooney-Rivlin), μ = 2 C10 (Yeoh). The
ln J terms make every law stress-free at F = I. Without the Λ corrections the linearised λ would
be λ + 4 C01 (Mooney-Rivlin: I2 - 3 = 4 tr E + 2 (tr E)² - 2 tr E², E = (C - I)/2) and λ + 8 C20
(Yeoh: (I1 - 3)² = 4 (tr E)²); Λ removes them. So the linearised law is Hooke's with the same E
and ν as the linear FEM (tests/fem/test_hyperelastic.py: ε_x = P/E and -ε_y/ε_x = ν to 1e-4).

Material coefficients. femnn has no measured hyperelastic data for Agilus30 and cites none: the
defaults reproduce only the small-strain E and ν of the network file (E = 0.55 MPa, ν = 0.49 for
the paper's part). Mooney-Rivlin default: C01 = μ/10, C10 = μ/2 - C01 (an illustrative split);
Yeoh default: C10 = μ/2, C20 = -μ/40, C30 = μ/200 (illustrative: mild softening then stiffening).
Pass fitted coefficients (Pa) when you have uniaxial data of your print.

2D: plane stress for the thin printed plate (thickness t, energy t ∫ W dA). The out-of-plane
stretch λ3 (s = λ3²) is eliminated from the zero-normal-stress condition ∂W/∂s = 0 with
C = diag(C2, s):  Neo-Hookean and Mooney-Rivlin in closed form,
      s = (C10 + 2 C01 + Λ/4) / (C10 + C01 tr C2 + Λ/4 det C2)    (Neo-Hookean: C01 = 0, Λ = λ);
Yeoh by three Newton steps on s·∂W/∂s (a cubic in s) from the C20 = C30 = 0 root, unrolled in
the form (default coefficients, ν = 0.49: the remaining S33 is below 1e-13 μ for in-plane
stretches from 0.7 to 3, i.e. rounding). The
reduced energy W(C2, s(C2)) is then an ordinary 2D hyperelastic potential (∂W/∂s = 0 makes its
derivative the plane-stress stress), so Newton, its Jacobian and the adjoint stay exact.

Loads are dead loads: a total force F_j on node j is spread uniformly over hub j's region in the
REFERENCE configuration (the same body force as :mod:`femnn.fem.elasticity`), scaled by the load
factor, and keeps its direction as the part deforms (a hanging weight). The residual is

    R(u; s, f) = t ∫ s P(F) : ∇v dX - f t ∫ b · v dX,    P = ∂W/∂F,

with s the per-cell stiffness scale (DG0, multiplies W; 1 by default). Newton: PETSc SNES
(newtonls with the critical-point line search on the energy, MUMPS LU), load stepping from the last converged state with
step cutting; :class:`NonlinearConvergenceError` names the load factor reached.

Tangent adjoint: at a converged state, with J = ∂R/∂u re-assembled at the converged u,
Jᵀ λ = -∂L/∂u  (the -Pᵀ ∂L/∂ū hub-mean load, applied like a load), and because R is linear in s,
dL/ds_i = λᵀ ∂R/∂s_i = t ∫_{region i} P(F(u)) : ∇λ dX   exactly (no finite differences).
In the small-load limit this is the linear FEM's t ∫ σ(u) : ε(u_adj) dX.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

LAWS = ("neo-hookean", "mooney-rivlin", "yeoh")
COEFFICIENT_NAMES = {"neo-hookean": (), "mooney-rivlin": ("C10", "C01"), "yeoh": ("C10", "C20", "C30")}


class NonlinearConvergenceError(RuntimeError):
    """Newton did not converge even after step cutting. ``str(err)`` is one line naming the load
    factor reached; attributes ``load_factor_reached`` and ``load_factor_target``."""

    def __init__(self, reached: float, target: float, detail: str = ""):
        self.load_factor_reached, self.load_factor_target = float(reached), float(target)
        super().__init__(f"Newton did not converge beyond load factor {reached:.6g} (target {target:.6g})"
                         + (f": {detail}" if detail else "")
                         + "; the part may snap through/buckle there, or try a finer mesh or smaller --load-factors steps")


def lame(youngs_modulus_Pa: float, poisson_ratio: float) -> tuple[float, float]:
    """3D Lamé constants (μ, λ) in Pa from E and ν."""
    E, nu = float(youngs_modulus_Pa), float(poisson_ratio)
    return E / (2 * (1 + nu)), E * nu / ((1 + nu) * (1 - 2 * nu))


@dataclass(frozen=True)
class HyperelasticLaw:
    """A strain-energy law and its coefficients (Pa). Build it with :func:`make_law`.

    kind : 'neo-hookean' | 'mooney-rivlin' | 'yeoh'
    mu_Pa, lam_Pa : small-strain Lamé constants the law reproduces (3D)
    coefficients_Pa : {'C10': .., 'C01': ..} (Mooney-Rivlin), {'C10', 'C20', 'C30'} (Yeoh); for the
        Neo-Hookean law C10 = μ/2
    """

    kind: str
    mu_Pa: float
    lam_Pa: float
    coefficients_Pa: dict = field(default_factory=dict)

    @property
    def volumetric_Pa(self) -> float:
        """Λ of the volumetric term Λ/4 (J² - 1 - 2 ln J) that makes the linearised λ exact."""
        c = self.coefficients_Pa
        if self.kind == "mooney-rivlin":
            return self.lam_Pa - 4 * c["C01"]
        if self.kind == "yeoh":
            return self.lam_Pa - 8 * c["C20"]
        return self.lam_Pa

    def describe(self) -> dict:
        return {"law": self.kind, "mu_Pa": self.mu_Pa, "lambda_Pa": self.lam_Pa,
                "coefficients_Pa": dict(self.coefficients_Pa), "volumetric_Lambda_Pa": self.volumetric_Pa}


def make_law(kind: str, youngs_modulus_Pa: float, poisson_ratio: float, coefficients_Pa: dict | None = None,
             source: str = "--material") -> HyperelasticLaw:
    """The law ``kind`` with the given coefficients (Pa), others defaulted from E and ν (see module doc).

    Raises :class:`femnn.errors.InputError` for an unknown law, unknown coefficient names, or
    coefficients whose small-strain shear modulus differs from E/(2(1+ν)) by more than 1e-6
    (the linear and nonlinear models must agree in the small-strain limit)."""
    from femnn.errors import InputError

    if kind not in LAWS:
        raise InputError(source, "", f"unknown hyperelastic law {kind!r}; expected one of {', '.join(LAWS)}")
    nu = float(poisson_ratio)
    if not -1.0 < nu < 0.5:
        raise InputError(source, "poisson_ratio", f"{nu} must lie in (-1, 0.5) for a compressible law")
    mu, lam = lame(youngs_modulus_Pa, nu)
    given = {k: float(v) for k, v in (coefficients_Pa or {}).items()}
    names = COEFFICIENT_NAMES[kind]
    bad = [k for k in given if k not in names]
    if bad:
        raise InputError(source, bad[0], f"not a coefficient of {kind} (expected {', '.join(names) or 'none'})")
    if kind == "mooney-rivlin":
        c01 = given.get("C01", mu / 10 if "C10" not in given else mu / 2 - given["C10"])
        c = {"C10": given.get("C10", mu / 2 - c01), "C01": c01}
        mu_law = 2 * (c["C10"] + c["C01"])
    elif kind == "yeoh":
        c = {"C10": given.get("C10", mu / 2), "C20": given.get("C20", -mu / 40), "C30": given.get("C30", mu / 200)}
        mu_law = 2 * c["C10"]
    else:
        c, mu_law = {}, mu
    if abs(mu_law - mu) > 1e-6 * mu:
        raise InputError(source, "C10", f"small-strain shear modulus {mu_law:.6g} Pa of the coefficients differs from "
                         f"E/(2(1+ν)) = {mu:.6g} Pa; give coefficients with 2(C10 + C01) = μ (Mooney-Rivlin) or 2 C10 = μ (Yeoh)")
    law = HyperelasticLaw(kind, mu, lam, c)
    if law.volumetric_Pa <= 0:
        raise InputError(source, "C01" if kind == "mooney-rivlin" else "C20",
                         f"volumetric coefficient Λ = {law.volumetric_Pa:.6g} Pa <= 0 (coefficient too large for ν = {nu})")
    return law


# ---- UFL energies --------------------------------------------------------------------------------
def _energy_3d(law: HyperelasticLaw, F, consts):
    import ufl

    C = F.T * F
    I1 = ufl.tr(C)
    J = ufl.det(F)
    lnJ = ufl.ln(J)
    vol = consts["Lam"] / 4 * (J ** 2 - 1 - 2 * lnJ)
    if law.kind == "neo-hookean":
        return consts["mu"] / 2 * (I1 - 3 - 2 * lnJ) + vol
    if law.kind == "mooney-rivlin":
        I2 = (I1 ** 2 - ufl.tr(C * C)) / 2
        return consts["C10"] * (I1 - 3) + consts["C01"] * (I2 - 3) - 2 * (consts["C10"] + 2 * consts["C01"]) * lnJ + vol
    a = I1 - 3
    return consts["C10"] * a + consts["C20"] * a ** 2 + consts["C30"] * a ** 3 - 2 * consts["C10"] * lnJ + vol


def _energy_plane_stress(law: HyperelasticLaw, F2, consts, yeoh_newton_steps: int = 3):
    """W(C2, s(C2)) with s = λ3² from ∂W/∂s = 0 (see module docstring) -> (W, s)."""
    import ufl

    C2 = F2.T * F2
    tr2, det2 = ufl.tr(C2), ufl.det(C2)
    L4 = consts["Lam"] / 4
    if law.kind == "neo-hookean":
        c10 = consts["mu"] / 2
        s = (c10 + L4) / (c10 + L4 * det2)
    elif law.kind == "mooney-rivlin":
        c10, c01 = consts["C10"], consts["C01"]
        s = (c10 + 2 * c01 + L4) / (c10 + c01 * tr2 + L4 * det2)
    else:
        c10, c20, c30 = consts["C10"], consts["C20"], consts["C30"]
        s = (c10 + L4) / (c10 + L4 * det2)
        for _ in range(yeoh_newton_steps):   # g(s) = s ∂W/∂s = A(s) s - (C10 + Λ/4), a = tr C2 + s - 3
            a = tr2 + s - 3
            A = c10 + 2 * c20 * a + 3 * c30 * a ** 2 + L4 * det2
            g = A * s - (c10 + L4)
            dg = A + s * (2 * c20 + 6 * c30 * a)
            s = s - g / dg
    I1 = tr2 + s
    J2 = det2 * s                       # J²
    lnJ = ufl.ln(J2) / 2
    vol = L4 * (J2 - 1 - 2 * lnJ)
    if law.kind == "neo-hookean":
        W = consts["mu"] / 2 * (I1 - 3 - 2 * lnJ) + vol
    elif law.kind == "mooney-rivlin":
        I2 = det2 + s * tr2
        W = consts["C10"] * (I1 - 3) + consts["C01"] * (I2 - 3) - 2 * (consts["C10"] + 2 * consts["C01"]) * lnJ + vol
    else:
        a = I1 - 3
        W = consts["C10"] * a + consts["C20"] * a ** 2 + consts["C30"] * a ** 3 - 2 * consts["C10"] * lnJ + vol
    return W, s


def _land(comm, flag: bool) -> bool:
    from mpi4py import MPI

    return bool(comm.allreduce(bool(flag), op=MPI.LAND))


class HyperelasticProblem:
    """Nonlinear equilibrium R(u) = t ∫ s P(F) : ∇v dX - f · ext(v) = 0 on a vector Lagrange space.

    Parameters
    ----------
    comm : MPI communicator of the mesh
    V : vector Lagrange function space (2D: plane stress with thickness ``thickness_m``; 3D)
    law : :class:`HyperelasticLaw`
    thickness_m : out-of-plane thickness (2D; ignored in 3D)
    bcs : Dirichlet conditions (homogeneous: the state starts at u = 0 and keeps them)
    external : callable v -> UFL linear form of the FULL load (load factor 1); dead load
    scale : DG0 Function s multiplying W per cell (None: 1 everywhere)
    prefix : PETSc options prefix (unique per problem; user options -<prefix>snes_... apply)
    rtol, atol : SNES tolerances on the residual norm (atol in N)
    quadrature_degree : of the energy terms (default 2 × the Lagrange degree)
    solver : the Newton step's linear solver: "lu" (MUMPS, default) or "cg": CG on the tangent J,
        preconditioned by femnn's p-multigrid (the P2 level smoothed by one Chebyshev/Jacobi step, the
        Galerkin P1 operator Πᵀ J Π, recomputed with J at every Newton iteration, solved by one GAMG
        V-cycle with the P1 rigid-body modes as near-nullspace), Eisenstat-Walker forcing in Newton,
        rtol ``ksp_rtol`` on the true residual for the tangent adjoint. J is symmetric (the Hessian of the energy; dead loads), so CG applies wherever
        J is positive definite, i.e. on the stable branch; memory about that of the linear CG (1.8 GiB
        per 10⁶ DOFs) instead of a 3D LU factor. Needs degree >= 2.

    ``solve_to(f)`` walks from the last converged load factor to f with step cutting;
    ``load_factor`` is the last converged factor and ``u`` its field.
    """

    def __init__(self, comm, V, law: HyperelasticLaw, thickness_m: float, bcs, external, scale=None,
                 prefix: str = "femnn_hyper_", rtol: float = 1e-11, atol: float = 1e-14, max_it: int = 30,
                 min_step: float = 1e-3, quadrature_degree: int | None = None, solver: str = "lu",
                 ksp_rtol: float = 1e-10):
        import dolfinx
        import ufl

        self.comm, self.V, self.law, self.bcs = comm, V, law, list(bcs)
        mesh = V.mesh
        self.mesh = mesh
        self.gdim = mesh.geometry.dim
        self.t = float(thickness_m) if self.gdim == 2 else 1.0
        self.prefix, self.rtol, self.atol, self.max_it, self.min_step = prefix, rtol, atol, max_it, min_step
        if solver not in ("lu", "cg"):
            raise ValueError(f"unknown solver {solver!r}; expected 'lu' or 'cg'")
        if solver == "cg" and V.ufl_element().embedded_superdegree < 2:
            raise ValueError("solver 'cg' (p-multigrid) needs degree >= 2")
        self.solver_kind, self.ksp_rtol = solver, float(ksp_rtol)
        C = lambda x: dolfinx.fem.Constant(mesh, float(x))  # noqa: E731
        self.consts = {"mu": C(law.mu_Pa), "Lam": C(law.volumetric_Pa)}
        self.consts.update({k: C(v) for k, v in law.coefficients_Pa.items()})
        self.t_c = C(self.t)
        self.f_c = C(0.0)   # load factor
        self.u = dolfinx.fem.Function(V, name="u_nonlinear")
        self._u_saved = self.u.x.array.copy()
        if scale is None:
            scale = dolfinx.fem.Function(dolfinx.fem.functionspace(mesh, ("DG", 0)))
            scale.x.array[:] = 1.0
        self.s = scale
        v, du = ufl.TestFunction(V), ufl.TrialFunction(V)
        Fv = ufl.variable(ufl.Identity(self.gdim) + ufl.grad(self.u))
        if self.gdim == 2:
            W, s33 = _energy_plane_stress(law, Fv, self.consts)
            self.stretch3_sq = s33
        else:
            W = _energy_3d(law, Fv, self.consts)
            self.stretch3_sq = None
        self.W = W
        self.P = ufl.diff(W, Fv)                   # first Piola-Kirchhoff stress (Pa; 2D: in-plane block)
        self.F = Fv
        self.ext = external(v)
        # W is not a polynomial: UFL's degree estimate would give a very high quadrature degree.
        # 2 * degree integrates the P2 energy's polynomial part (degree 2(k - 1) in F) with margin.
        k = V.ufl_element().embedded_superdegree
        self.dx = ufl.dx(metadata={"quadrature_degree": quadrature_degree or 2 * k})
        self.residual = self.t_c * self.s * ufl.inner(self.P, ufl.grad(v)) * self.dx - self.f_c * self.ext
        self.jacobian = ufl.derivative(self.residual, self.u, du)
        self._v = v
        self.load_factor = 0.0
        self.steps = []            # one record per accepted or rejected Newton solve
        self._problem = None

    # ---- Newton ------------------------------------------------------------------------------------
    def _nl_problem(self):
        if self._problem is None:
            import dolfinx.fem.petsc as fpetsc

            from femnn.fem import jit

            from petsc4py import PETSc

            # "cp" (critical-point) line search: R is the gradient of the potential energy (dead loads),
            # so cp minimises the energy along the Newton direction. Measured on fig1 (2D, factors
            # 0.1, 1, 3, 5): 3/4/5/7 Newton iterations per step with cp, 4/11/15/26 with "bt", whose
            # residual-norm criterion keeps cutting steps of a near-incompressible law (ν = 0.49).
            opts = {"snes_type": "newtonls", "snes_linesearch_type": "cp", "snes_rtol": self.rtol,
                    "snes_atol": self.atol, "snes_stol": 0.0, "snes_max_it": self.max_it}
            if self.solver_kind == "lu":
                opts.update({"ksp_type": "preonly", "pc_type": "lu", "pc_factor_mat_solver_type": "mumps"})
            else:
                opts.update({"snes_ksp_ew": True, "ksp_type": "cg", "ksp_rtol": self.ksp_rtol, "ksp_atol": 0.0,
                             "ksp_max_it": 5000, "ksp_norm_type": "unpreconditioned", "pc_type": "mg", "pc_mg_levels": 2,
                             "mg_levels_ksp_type": "chebyshev", "mg_levels_pc_type": "jacobi",
                             "mg_levels_ksp_max_it": 1, "mg_coarse_ksp_type": "preonly", "mg_coarse_pc_type": "gamg",
                             "mg_coarse_pc_gamg_threshold": 0.05, "mg_coarse_mg_levels_ksp_type": "richardson",
                             "mg_coarse_mg_levels_pc_type": "sor", "mg_coarse_mg_levels_ksp_max_it": 1})
            # the user's -<prefix>snes_... options win over these defaults. dolfinx's NonlinearProblem
            # leaves the options it is given in PETSc's database; femnn's are taken out again after
            # each use (:meth:`_options`), so that the next problem under the same prefix (another
            # solver, other tolerances) does not take them for the user's.
            user = PETSc.Options(self.prefix)
            self._defaults = {k: v for k, v in opts.items() if not user.hasName(k)}
            with self._options():
                self._problem = jit._retry(lambda: fpetsc.NonlinearProblem(
                    self.residual, self.u, bcs=self.bcs, J=self.jacobian, petsc_options_prefix=self.prefix,
                    petsc_options=self._defaults))
                self._lu_limit_mb = None
                ksp = self._problem.solver.getKSP()
                pc = ksp.getPC()
                if self.solver_kind == "cg" and pc.getType() == "mg":
                    self._pmg(pc)
                elif pc.getType() == "lu" and pc.getFactorSolverType() == "mumps":
                    from femnn.fem.memory import guard_lu

                    ksp.setOperators(self._problem.A)
                    self._lu_limit_mb = guard_lu(pc, self.comm)   # refuse a tangent factorisation that would not fit
        return self._problem

    def _options(self):
        """Context: femnn's solver defaults in PETSc's database under the prefix (the multigrid levels
        read theirs when they are set up, inside the solves), removed again afterwards."""
        from femnn.fem.elasticity import petsc_defaults

        return petsc_defaults((self.prefix, self._defaults))

    def _pmg(self, pc):
        """The p-multigrid on the Newton KSP's PC (type mg with 2 levels, from the options): the
        interpolation Π from the vector P1 space, and the coarse operator Πᵀ J Π with the P1 rigid-body
        modes as GAMG's near-nullspace, redone wherever J is assembled: the SNES's Jacobian callback
        (dolfinx's assembly, then the product) and the tangent adjoint."""
        import dolfinx.fem.petsc as fpetsc

        from femnn.fem.elasticity import p1_interpolation

        self._V1, self._interp = p1_interpolation(self.V)
        self._coarse = None
        pc.setMGInterpolation(1, self._interp)
        self._pmg_pc = pc
        prob = self._problem
        ctx = {"u": self.u, "jacobian": prob.J, "preconditioner": prob.preconditioner, "bcs": self.bcs}

        def jacobian(snes, x, J, P):
            fpetsc.assemble_jacobian(snes, x, J, P, **ctx)
            self._coarse_operator()

        prob.solver.setJacobian(jacobian, prob.A, prob.P_mat)

    def _coarse_operator(self):
        """Πᵀ J Π from the current J (the SNES's matrix), handed to the coarse GAMG."""
        from femnn.fem.elasticity import galerkin_coarse

        self._coarse = galerkin_coarse(self.comm, self._problem.A, self._interp, self._V1, self._coarse)
        self._pmg_pc.getMGCoarseSolve().setOperators(self._coarse)

    def _newton(self, factor: float) -> tuple[bool, int, int]:
        prob = self._nl_problem()
        self.f_c.value = float(factor)
        t0 = time.perf_counter()
        with self._options():
            prob.solve()
        snes = prob.solver
        reason, its = snes.getConvergedReason(), snes.getIterationNumber()
        if reason == -3 and self._lu_limit_mb is not None:   # SNES_DIVERGED_LINEAR_SOLVE: the memory cap?
            from femnn.fem.memory import check_lu_failure

            n = self.V.dofmap.index_map.size_global * self.V.dofmap.index_map_bs
            check_lu_failure(snes.getKSP().getPC(), n, "the hyperelastic tangent", self._lu_limit_mb)
        ok = reason > 0 and _land(self.comm, np.all(np.isfinite(self.u.x.array)))
        self.steps.append({"load_factor": float(factor), "converged": bool(ok), "newton_iterations": int(its),
                           "snes_reason": int(reason), "seconds": time.perf_counter() - t0})
        return ok, its, reason

    def solve_to(self, factor: float, max_step: float | None = None):
        """Converge at load factor ``factor`` starting from the last converged state (step cutting:
        halve the increment after a failed Newton solve, grow it by 1.5 after a success).
        Returns the list of Newton iteration counts of the accepted steps; raises
        :class:`NonlinearConvergenceError` when the increment falls below ``min_step``."""
        target = float(factor)
        accepted = []
        span = abs(target - self.load_factor)
        step = span if max_step is None else min(float(max_step), span)
        sign = 1.0 if target >= self.load_factor else -1.0     # unloading walks down the same way
        while abs(target - self.load_factor) > 1e-14 * max(1.0, abs(target)):
            trial = self.load_factor + sign * min(step, abs(target - self.load_factor))
            ok, its, reason = self._newton(trial)
            if ok:
                self.load_factor = trial
                self._u_saved = self.u.x.array.copy()
                accepted.append(int(its))
                step *= 1.5
            else:
                self.u.x.array[:] = self._u_saved
                step /= 2
                if step < self.min_step * max(1.0, abs(target)):
                    self.f_c.value = self.load_factor
                    raise NonlinearConvergenceError(self.load_factor, target, f"last SNES reason {reason}")
        return accepted

    def reset(self):
        """Back to the undeformed state at load factor 0 (the next :meth:`solve_to` steps up from there;
        the compiled forms and the Newton solver are kept)."""
        self.u.x.array[:] = 0.0
        self._u_saved = self.u.x.array.copy()
        self.load_factor = 0.0
        self.f_c.value = 0.0

    def resolve(self):
        """Newton at the current load factor from the current state (after a change of ``s``)."""
        ok, its, reason = self._newton(self.load_factor)
        if not ok:
            self.u.x.array[:] = self._u_saved
            raise NonlinearConvergenceError(self.load_factor, self.load_factor, f"re-solve failed, SNES reason {reason}")
        self._u_saved = self.u.x.array.copy()
        return its

    # ---- tangent adjoint --------------------------------------------------------------------------
    def tangent_adjoint(self, rhs_form):
        """λ with Jᵀ λ = b, b the assembled linear form ``rhs_form`` (= -∂L/∂u), J re-assembled at the
        current (converged) u; clamped DOFs of λ are 0. Returns a Function.

        J is assembled into the SNES's own Jacobian matrix and factorised by the SNES's own KSP
        (MUMPS), so no second factorisation is held in memory (a 3D P2 factor is the largest object
        of the run); the next Newton solve assembles its Jacobian again anyway."""
        import dolfinx
        import dolfinx.fem.petsc as fpetsc
        from petsc4py import PETSc

        prob = self._nl_problem()
        A = prob.A
        A.zeroEntries()
        fpetsc.assemble_matrix(A, prob.J, bcs=self.bcs)   # the compiled Jacobian form of the SNES
        A.assemble()
        b = fpetsc.assemble_vector(rhs_form)
        b.ghostUpdate(addv=PETSc.InsertMode.ADD, mode=PETSc.ScatterMode.REVERSE)
        fpetsc.set_bc(b, self.bcs)
        lam = dolfinx.fem.Function(self.V, name="u_tangent_adjoint")
        ksp = prob.solver.getKSP()
        ksp.setOperators(A, A)
        with self._options():
            if self.solver_kind == "cg":   # J is symmetric (the energy's Hessian): Jᵀ λ = b is J λ = b
                self._coarse_operator()
                # Eisenstat-Walker sets the Newton's (loose) forcing tolerance before every KSP solve of
                # the SNES: off for the adjoint, which needs the full tolerance
                snes = prob.solver
                ew = snes.getUseEW()
                snes.setUseEW(False)
                ksp.setTolerances(rtol=self.ksp_rtol, atol=0.0, max_it=5000)
                try:
                    ksp.solve(b, lam.x.petsc_vec)
                finally:
                    snes.setUseEW(ew)
            else:
                ksp.solveTranspose(b, lam.x.petsc_vec)
        reason = ksp.getConvergedReason()
        lam.x.scatter_forward()
        b.destroy()
        if reason <= 0 or not _land(self.comm, np.all(np.isfinite(lam.x.array))):
            raise RuntimeError(f"tangent adjoint solve failed (PETSc reason {reason})")
        return lam

    def cell_sensitivity_form(self, lam):
        """Per-cell integrals t ∫_cell P(F(u)) : ∇λ dX as a DG0 linear form (the exact ∂R/∂s · λ)."""
        import ufl

        from femnn.fem import jit

        q = ufl.TestFunction(self.s.function_space)
        return jit.form(self.t_c * q * ufl.inner(self.P, ufl.grad(lam)) * self.dx)

    def max_principal_green_lagrange(self) -> float:
        """Largest principal Green-Lagrange strain E = (C - I)/2 over the part (dimensionless; in 2D the
        in-plane E, i.e. without the out-of-plane E33 = (λ3² - 1)/2, which is a contraction where the
        plate is stretched). E is evaluated at the nodes of DG(degree - 1) on every cell: exact for
        affine cells, where ∇u has degree - 1, so the maximum over the cell is at those nodes."""
        import dolfinx
        import ufl
        from mpi4py import MPI

        from femnn.fem import jit

        deg = max(self.V.ufl_element().embedded_superdegree - 1, 0)
        E = (self.F.T * self.F - ufl.Identity(self.gdim)) / 2
        T = dolfinx.fem.functionspace(self.mesh, ("DG", deg, (self.gdim, self.gdim)))
        Eh = dolfinx.fem.Function(T)
        Eh.interpolate(jit.expression(E, T.element.interpolation_points))
        vals = Eh.x.array.reshape(-1, self.gdim, self.gdim)
        vals = 0.5 * (vals + np.swapaxes(vals, 1, 2))
        m = float(np.linalg.eigvalsh(vals).max(initial=-np.inf)) if vals.size else -np.inf
        return float(self.comm.allreduce(m, op=MPI.MAX))
