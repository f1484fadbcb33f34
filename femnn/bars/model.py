"""The bar (truss) model: sparse compatibility matrix, stiffness, factorised solves, adjoint gradient.

Notation (Li & Mao 2024). ``n`` nodes with in-plane displacements u (2n DOFs, DOF 2i + c for node
i, component c); ``m`` bars with unit vectors n_e from node i_e to j_e. Elongations are linear in u:

    e = C u,    C[e, 2 i_e : 2 i_e + 2] = -n_eᵀ,   C[e, 2 j_e : 2 j_e + 2] = +n_eᵀ

Bar forces t = K e with K = diag(k), k = E w t / L. Equilibrium: the stiffness D = Cᵀ K C on the
free DOFs (fixed nodes removed), D u = F. For a loss L(u) the adjoint displacement solves

    D u_adj = -(∂L/∂u)ᵀ      (same D, so the same factorisation)

and ∂L/∂k_e = e_adj,e · e_e with e_adj = C u_adj: differentiate D u = F at fixed F,
∂u/∂k_e = -D⁻¹ c_e c_eᵀ u, so ∂L/∂k_e = (∂L/∂u) ∂u/∂k_e = (D⁻¹(-∂L/∂u)ᵀ)ᵀ c_e e_e.
Width and training-variable gradients follow by the chain rule (``dk/dw = E t / L``).

Zero modes. Because every k_e > 0, the null space of D equals that of C on the free DOFs, so
whether the network is a mechanism depends only on its topology and geometry. It is checked
once per :class:`BarModel` (SVD of C for small networks; for large ones an inverse-iteration
estimate of D's smallest eigenvalue with the first factorisation) and raises
:class:`~femnn.errors.MechanismError` naming the nodes that move freely; nothing is solved through
a singular matrix.
"""

from __future__ import annotations

import numpy as np
from scipy.linalg.lapack import dpotrf as _potrf, dpotrs as _potrs
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from femnn.errors import MechanismError
from femnn.network._model import Network

# Below this many free DOFs a dense Cholesky beats sparse LU (bench/bench_bars.py, backend table):
# a 24-DOF stiffness is 30 % full, and scipy.sparse's per-call overhead dominates.
DENSE_MAX_DOFS = 100
# Above this, MKL PARDISO (if installed) replaces scipy's SuperLU.
PARDISO_MIN_DOFS = 5000
# Exact-null-space check (SVD of C) below this many free DOFs; inverse iteration above.
SVD_MAX_DOFS = 1500
# A stiffness whose smallest/largest eigenvalue ratio is below this is treated as singular: a real
# lattice of 10⁵ nodes has a ratio near 1e-6; round-off on a mechanism gives 1e-16.
SINGULAR_RATIO = 1e-12


def compatibility_matrix(network: Network) -> sp.csr_matrix:
    """(n_bonds, 2 n_nodes) sparse C with e = C u (see module docstring)."""
    m, n = network.n_bonds, network.n_nodes
    nv = network.unit_vectors
    i, j = network.bonds[:, 0], network.bonds[:, 1]
    rows = np.repeat(np.arange(m), 4)
    cols = np.column_stack([2 * i, 2 * i + 1, 2 * j, 2 * j + 1]).ravel()
    vals = np.column_stack([-nv, nv]).ravel()
    return sp.csr_matrix((vals, (rows, cols)), shape=(m, 2 * n))


def free_dofs(network: Network) -> np.ndarray:
    """Indices of the DOFs that are not clamped (both DOFs of every fixed node are removed)."""
    mask = np.ones(2 * network.n_nodes, dtype=bool)
    mask[2 * network.fixed] = False
    mask[2 * network.fixed + 1] = False
    return np.flatnonzero(mask)


def _nodes_of_modes(modes: np.ndarray, free: np.ndarray, rel: float = 1e-6) -> list[int]:
    """Nodes whose DOFs carry a non-negligible part of any null vector (columns of ``modes``)."""
    amp = np.abs(modes).max(axis=1) if modes.ndim == 2 else np.abs(modes)
    moving = free[amp > rel * amp.max()] // 2 if amp.size and amp.max() > 0 else np.array([], int)
    return sorted(set(moving.tolist()))


class BarModel:
    """Topology-dependent part of the bar model, built once per network and reused for every k.

    Parameters
    ----------
    network : Network
    backend : {"auto", "dense", "splu", "pardiso"}
        Linear solver. ``auto`` picks dense Cholesky below ``DENSE_MAX_DOFS`` free DOFs, MKL
        PARDISO (SPD mode, if ``pypardiso`` is installed) above ``PARDISO_MIN_DOFS``, SuperLU between.

    Raises
    ------
    MechanismError
        If the network has zero modes (checked here for small networks, at the first
        factorisation for large ones).
    """

    def __init__(self, network: Network, backend: str = "auto"):
        self.network = network
        self.C = compatibility_matrix(network)
        self.free = free_dofs(network)
        self.C_free = self.C[:, self.free].tocsr()
        n_free = self.free.size
        if backend == "auto":
            if n_free <= DENSE_MAX_DOFS:
                backend = "dense"
            elif n_free >= PARDISO_MIN_DOFS and _have_pardiso():
                backend = "pardiso"
            else:
                backend = "splu"
        if backend == "pardiso" and not _have_pardiso():
            raise ImportError("backend 'pardiso' needs the pypardiso package (pip install pypardiso)")
        if backend not in ("dense", "splu", "pardiso"):
            raise ValueError(f"unknown backend {backend!r}")
        self.backend = backend
        self._C_dense = self.C_free.toarray() if backend == "dense" else None
        self._C_free_T = self.C_free.T.tocsr()
        self._rigid_checked = False
        if n_free <= SVD_MAX_DOFS:
            self._check_rigidity_svd()

    # ---- zero modes -------------------------------------------------------------------
    def _check_rigidity_svd(self):
        Cd = self.C_free.toarray()
        if Cd.shape[1] == 0:
            self._rigid_checked = True
            return
        _, s, vt = np.linalg.svd(Cd, full_matrices=True)
        tol = max(s.max(initial=0.0), 1.0) * max(Cd.shape) * np.finfo(float).eps * 10
        rank = int(np.sum(s > tol))
        if rank < Cd.shape[1]:
            modes = vt[rank:].T
            raise MechanismError(Cd.shape[1] - rank, _nodes_of_modes(modes, self.free), context=self.network.name)
        self._rigid_checked = True

    def zero_modes(self, max_modes: int = 12) -> tuple[int, list[int]]:
        """(number of zero modes, nodes that move in them) without raising; slow path for reports."""
        try:
            if self.free.size <= SVD_MAX_DOFS:
                self._check_rigidity_svd()
            else:
                self._find_modes_sparse(max_modes)
        except MechanismError as exc:
            return exc.n_modes, exc.free_nodes
        return 0, []

    def _find_modes_sparse(self, max_modes: int = 12):
        G = (self.C_free.T @ self.C_free).tocsc()
        scale = abs(G.diagonal()).max()
        k = min(max_modes, G.shape[0] - 2)
        vals, vecs = spla.eigsh(G, k=k, sigma=-1e-3 * scale, which="LM")
        zero = vals < 1e-10 * scale
        if np.any(zero):
            raise MechanismError(int(zero.sum()), _nodes_of_modes(vecs[:, zero], self.free), context=self.network.name)

    def _raise_modes(self, why: str):
        """The factorisation failed: name the free nodes if the null space shows them, then refuse."""
        if self.free.size <= SVD_MAX_DOFS:
            self._check_rigidity_svd()
        else:
            self._find_modes_sparse()
        raise MechanismError(1, [], context=f"{self.network.name} ({why})")

    def _check_rigidity_factor(self, fac: "Factorization"):
        """Inverse iteration with the factorisation: λ_min(D) ≈ |x| / |D⁻¹ x| after a few steps."""
        rng = np.random.default_rng(12345)
        x = rng.standard_normal(self.free.size)
        lam_max = np.abs(fac.D.diagonal()).max() * 6  # Gershgorin-type bound scale for a lattice
        with np.errstate(all="ignore"):
            for _ in range(2):  # one step already separates 1e-6 (a rigid lattice) from 1e-16
                x /= np.linalg.norm(x)
                y = fac.solve_free(x)
                if not np.all(np.isfinite(y)):
                    break
                lam_min = 1.0 / np.linalg.norm(y)
                x = y
            else:
                if lam_min / lam_max > SINGULAR_RATIO:
                    self._rigid_checked = True
                    return
        self._raise_modes("numerically singular stiffness")

    # ---- assembly and factorisation ---------------------------------------------------------
    def stiffness(self, k_N_per_m) -> sp.csc_matrix:
        """Free-DOF stiffness D = C_fᵀ diag(k) C_f (sparse, symmetric, CSC)."""
        k = np.asarray(k_N_per_m, dtype=float)
        return (self._C_free_T @ self.C_free.multiply(k[:, None]).tocsr()).tocsc()

    def factorize(self, k_N_per_m) -> "Factorization":
        """Assemble D for these spring constants and factorise it once (reuse for forward and adjoint)."""
        k = np.asarray(k_N_per_m, dtype=float).reshape(-1)
        if k.shape != (self.network.n_bonds,):
            raise ValueError(f"expected {self.network.n_bonds} spring constants, got {k.shape[0]}")
        if not np.all(k > 0) or not np.all(np.isfinite(k)):
            bad = int(np.flatnonzero(~(k > 0) | ~np.isfinite(k))[0])
            raise ValueError(f"spring constant of bond {bad} is {k[bad]!r}; every k must be finite and > 0 (remove the bond instead)")
        fac = Factorization(self, k)
        if not self._rigid_checked:
            self._check_rigidity_factor(fac)
        return fac

    def _pardiso_solver(self, A):
        """One PARDISO instance per model (SPD mode, parallel nested-dissection ordering)."""
        if getattr(self, "_ps", None) is None:
            import pypardiso

            self._ps = pypardiso.PyPardisoSolver(mtype=2)
            self._ps.set_iparm(2, 3)
        return self._ps

    # ---- conveniences --------------------------------------------------------------------
    def elongations(self, u) -> np.ndarray:
        """e = C u for u of shape (..., n_nodes, 2) -> (..., n_bonds)."""
        u = np.asarray(u)
        flat = u.reshape(-1, 2 * self.network.n_nodes)
        e = (self.C @ flat.T).T
        return e.reshape(u.shape[:-2] + (self.network.n_bonds,))

    def solve(self, F, k_N_per_m=None) -> "BarSolution":
        """Forward solve for nodal forces F (..., n_nodes, 2) (one factorisation for all samples)."""
        k = self.network.stiffness_N_per_m() if k_N_per_m is None else k_N_per_m
        fac = self.factorize(k)
        return BarSolution(fac, fac.solve(F))


def _have_pardiso() -> bool:
    try:
        import pypardiso  # noqa: F401
    except ImportError:
        return False
    return True


class Factorization:
    """One factorisation of D(k); ``solve`` handles any number of right-hand sides."""

    def __init__(self, model: BarModel, k: np.ndarray):
        self.model = model
        self.k = k
        self.backend = model.backend
        if self.backend == "dense":
            Cd = model._C_dense
            self.D = (Cd.T * k) @ Cd
            # LAPACK directly: scipy.linalg.cho_factor's wrappers cost more than a 24-DOF factorisation.
            self._chol, info = _potrf(self.D, lower=0, clean=0)
            if info != 0:
                model._raise_modes("stiffness not positive definite")
        else:
            self.D = model.stiffness(k)
            if self.backend == "splu":
                try:
                    self._lu = spla.splu(self.D, permc_spec="MMD_AT_PLUS_A")
                except RuntimeError:  # "Factor is exactly singular"
                    model._raise_modes("singular stiffness")
            else:
                import pypardiso

                # A zero diagonal means a DOF no bar touches (a mechanism), and PARDISO's symmetric
                # modes need every diagonal entry stored: an empty row makes MKL crash, not fail.
                if not np.all(self.D.diagonal() > 0):
                    model._raise_modes("a DOF without stiffness")
                self._A = sp.triu(self.D, format="csr")
                self._A.sort_indices()
                self._pardiso = model._pardiso_solver(self._A)
                self._numeric_factorization()

    def _numeric_factorization(self):
        """PARDISO phase 22 (numerical) on the model's solver; phase 11 (ordering, symbolic) runs only
        when the sparsity pattern is new. D's pattern does not depend on k, so training loops pay
        the parallel nested-dissection ordering once."""
        import pypardiso

        ps, A = self._pardiso, self._A
        key = (A.indptr.tobytes(), A.indices.tobytes())
        try:
            if getattr(ps, "_femnn_pattern", None) != key:
                ps.set_phase(11)
                ps._call_pardiso(A, np.zeros((A.shape[0], 1)))
                ps._femnn_pattern = key
            ps.set_phase(22)
            ps._call_pardiso(A, np.zeros((A.shape[0], 1)))
        except pypardiso.pardiso_wrapper.PyPardisoError:  # -4: zero pivot (not positive definite)
            ps._femnn_pattern = None
            self.model._raise_modes("PARDISO found a zero pivot")
        ps._femnn_owner = self

    def solve_free(self, b: np.ndarray) -> np.ndarray:
        """Solve D x = b on the free DOFs; b is (n_free,) or (n_free, n_rhs)."""
        if self.backend == "dense":
            x, info = _potrs(self._chol, b, lower=0)
            return x
        if self.backend == "splu":
            return self._lu.solve(np.asarray(b, dtype=float))
        if getattr(self._pardiso, "_femnn_owner", None) is not self:
            self._numeric_factorization()  # another k was factorised since: redo ours (never stale factors)
        self._pardiso.set_phase(33)  # solve only: reuse the stored factors
        return self._pardiso._call_pardiso(self._A, np.asfortranarray(b, dtype=float))

    def elongations_free(self, U_free) -> np.ndarray:
        """e = C_f U for free-DOF displacements U (n_free,) or (n_free, n_s) -> (n_bonds,) or (n_bonds, n_s)."""
        C = self.model._C_dense if self.model._C_dense is not None else self.model.C_free
        return C @ U_free

    def gradient_free(self, U_free, dL_dU_free) -> np.ndarray:
        """The bar adjoint, femnn's one implementation: ∂L/∂k = Σ_s e_adj,s ∘ e_s.

        ``U_free`` (n_free,) or (n_free, n_s): forward displacements on the free DOFs (columns are
        samples); ``dL_dU_free``, same shape: ∂L/∂U. Solves D U_adj = -(∂L/∂U)ᵀ on THESE factors
        (no new factorisation), e = C_f U, e_adj = C_f U_adj; returns (n_bonds,)."""
        U = np.asarray(U_free, dtype=float)
        Ua = self.solve_free(-np.asarray(dL_dU_free, dtype=float))
        e, ea = self.elongations_free(U), self.elongations_free(np.reshape(Ua, U.shape))
        return (ea * e).reshape(e.shape[0], -1).sum(axis=1)

    def adjoint_state(self, u, dL_du) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """One load case on full-node arrays: (u_adj, e_adj, e_adj ∘ e) with D u_adj = -(∂L/∂u)ᵀ.

        ``u``, ``dL_du``: (n_nodes, 2); returns u_adj (n_nodes, 2), e_adj and the per-bond product
        e_adj ∘ e (n_bonds,), which is ∂L/∂k for this load case (see :meth:`gradient_free`)."""
        u_adj = self.adjoint(dL_du)
        e = self.model.elongations(u)
        e_adj = self.model.elongations(u_adj)
        return u_adj, e_adj, e_adj * e

    def solve(self, F) -> np.ndarray:
        """Displacements (..., n_nodes, 2) for forces (..., n_nodes, 2); loads on fixed DOFs are reactions (ignored)."""
        F = np.asarray(F, dtype=float)
        n = self.model.network.n_nodes
        flat = F.reshape(-1, 2 * n)
        rhs = flat[:, self.model.free].T
        x = self.solve_free(rhs if rhs.shape[1] > 1 else rhs[:, 0])
        u = np.zeros_like(flat)
        u[:, self.model.free] = x.reshape(self.model.free.size, -1).T
        return u.reshape(F.shape)

    def adjoint(self, dL_du) -> np.ndarray:
        """u_adj solving D u_adj = -(∂L/∂u)ᵀ with these factors; dL_du shaped like u."""
        return self.solve(-np.asarray(dL_du, dtype=float))


class BarSolution:
    """Forward displacements with the factorisation kept for adjoint solves."""

    def __init__(self, fac: Factorization, u: np.ndarray):
        self.factorization = fac
        self.u = u
        self.elongation = fac.model.elongations(u)

    @property
    def k(self):
        return self.factorization.k

    @property
    def bar_force_N(self) -> np.ndarray:
        """Tension t = k e per bar (positive in tension)."""
        return self.elongation * self.k

    def gradient_k(self, dL_du) -> np.ndarray:
        """∂L/∂k = Σ_samples e_adj ∘ e, with D u_adj = -(∂L/∂u)ᵀ solved on the same factors."""
        fac = self.factorization
        free = fac.model.free
        n2 = 2 * fac.model.network.n_nodes
        U = np.asarray(self.u, dtype=float).reshape(-1, n2)[:, free].T
        G = np.asarray(dL_du, dtype=float).reshape(-1, n2)[:, free].T
        return fac.gradient_free(U, G)

