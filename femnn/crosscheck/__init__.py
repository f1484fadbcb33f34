"""Cross-checks: every model reduced to bar quantities and compared (numpy/scipy only; no FEM import).

``compare`` (agreement, tolerances, checks), ``calibrate`` (global and per-bond stiffness fits),
``comsol`` (COMSOL text export read/write), ``imported`` (other solvers' files -> hub displacements).
Reports are written by :mod:`femnn.report`.
"""

from femnn.crosscheck.compare import (Check, CrossCheck, ImportedResult, Tolerances, agreement, compare, elongations,
                                      global_calibration)

__all__ = ["Check", "CrossCheck", "ImportedResult", "Tolerances", "agreement", "compare", "elongations",
           "global_calibration"]
