"""Cross-checks: every model reduced to bar quantities and compared (numpy/scipy only; no FEM import).

``compare`` (tables, tolerances), ``comsol`` (COMSOL text export read/write), ``imported`` (other
solvers' files -> hub displacements), ``report`` (results.json, report.md/html, plots).
"""

from femnn.crosscheck.compare import (ModelResult, bar_result, calibrated_bar, compare, elongations,
                                      global_calibration)

__all__ = ["ModelResult", "bar_result", "calibrated_bar", "compare", "elongations", "global_calibration"]
