"""The bar model: sparse truss stiffness D = Cᵀ K C, factorised solves and exact adjoint gradients.

numpy/scipy only (optional pypardiso for very large networks). See :mod:`femnn.bars.model`.
"""

from femnn.bars.model import BarModel, BarSolution, Factorization, compatibility_matrix, free_dofs
from femnn.bars.result import BarResult

__all__ = ["BarModel", "BarSolution", "BarResult", "Factorization", "compatibility_matrix", "free_dofs"]
