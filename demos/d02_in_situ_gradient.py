# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
# ---

# %% [markdown]
# # The in situ gradient is exact: adjoint against finite differences
#
# This demo shows how to:
# - factorise the bar model's stiffness $D = C^\top K C$ once and reuse it for the adjoint,
# - compute $\partial L/\partial k = e_\mathrm{adj} \circ e$ with $D u_\mathrm{adj} = -(\partial L/\partial u)^\top$,
# - check it against central finite differences of the loss (the paper's Fig. 1e), bond by bond.
#
# Pure numpy/scipy: nothing of the FEM stack is imported.

# %%
import numpy as np

from femnn.network import load_task
from femnn.train import bar_result

task = load_task("fig1")
k = task.network.stiffness_N_per_m()
g = bar_result(task).gradient_k

fd = np.empty_like(g)
for b in range(k.size):
    h = 1e-6 * k[b]
    kp, km = k.copy(), k.copy()
    kp[b] += h
    km[b] -= h
    fd[b] = (bar_result(task, kp).loss - bar_result(task, km).loss) / (2 * h)

rel = np.abs(fd - g) / np.abs(g).max()
print(f"largest |adjoint - FD| / max|g| over {k.size} bonds: {rel.max():.2e}")
assert rel.max() < 1e-6
