"""``[mpiexec -n N] femnn crosscheck TASK [--widths RUN_DIR] --out DIR [--compare FILE]``.

Bar model, calibrated bar model, FEM 2D/3D and any imported results (COMSOL text export, VTU,
XDMF), node by node and bond by bond: ``report.md``/``report.html``, ``results.json``, plots and
field files. Same options as ``femnn validate``, without the printable export.
"""

from femnn.cli import _validate


def add_args(p):
    _validate.add_args(p, export=False)


def run(args) -> int:
    return _validate.run(args, export=False)
