"""DOLFINx form compilation that survives an interrupted earlier compile.

FFCx compiles each form once into a cache (``~/.cache/fenics``): the first process creates
``<module>.c`` exclusively, compiles, then creates ``<module>.c.cached``; every other process waits
for the ``.cached`` marker. A compile killed mid-way (SIGTERM to a study, Ctrl-C, a wall-time limit)
leaves the ``.c`` file without its marker, and every later run then waits out the JIT timeout and
fails. :func:`form` and :func:`expression` remove such a stale file once and compile again.

The material constants are ``dolfinx.fem.Constant`` (see :mod:`femnn.fem.elasticity`), so one
compiled form serves every Young's modulus, Poisson ratio and thickness of a study.
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path


def _retry(make):
    try:
        return make()
    except TimeoutError as e:
        m = re.search(r"remove (\S+\.c)\)", str(e))
        if not m:
            raise
        c_file = Path(m.group(1))
        if not c_file.with_suffix(".c.cached").exists():
            c_file.unlink(missing_ok=True)
        warnings.warn(f"removed a stale JIT lock {c_file} (an earlier compile was interrupted); compiling again",
                      RuntimeWarning, stacklevel=3)
        return make()


def form(expr, **kw):
    """``dolfinx.fem.form`` with stale-lock recovery."""
    import dolfinx

    return _retry(lambda: dolfinx.fem.form(expr, **kw))


def expression(expr, points, **kw):
    """``dolfinx.fem.Expression`` with stale-lock recovery."""
    import dolfinx

    return _retry(lambda: dolfinx.fem.Expression(expr, points, **kw))
