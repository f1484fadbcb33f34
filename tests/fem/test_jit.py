"""Form compilation survives a compile that was killed mid-way (femnn.fem.jit)."""

import numpy as np
import pytest


def test_stale_jit_lock_is_removed_and_the_form_compiles(comm, tmp_path):
    """FFCx marks a finished compile with `<module>.c.cached`; a killed compile leaves `<module>.c` alone,
    and plain dolfinx.fem.form then waits out its timeout and raises TimeoutError. femnn's jit.form
    removes the stale file once and compiles again: the form assembles ∫ 1 dx = 1 on the unit square."""
    import dolfinx
    import ufl
    from dolfinx.mesh import create_unit_square

    from femnn.fem import jit

    mesh = create_unit_square(comm, 4, 4)
    expr = dolfinx.fem.Constant(mesh, 1.0) * ufl.dx(domain=mesh)
    opts = {"cache_dir": str(tmp_path), "timeout": 1}
    dolfinx.fem.form(expr, jit_options=opts)            # a normal compile into an empty cache
    cached = list(tmp_path.glob("*.c.cached"))
    assert len(cached) == 1
    for f in [cached[0], *tmp_path.glob("*.so")]:        # now pretend it was killed mid-way
        f.unlink()
    assert list(tmp_path.glob("*.c"))
    with pytest.raises(TimeoutError):
        dolfinx.fem.form(expr, jit_options=opts)
    with pytest.warns(RuntimeWarning, match="stale JIT lock"):
        f = jit.form(expr, jit_options=opts)
    assert np.isclose(comm.allreduce(dolfinx.fem.assemble_scalar(f)), 1.0)
    assert len(list(tmp_path.glob("*.c.cached"))) == 1
