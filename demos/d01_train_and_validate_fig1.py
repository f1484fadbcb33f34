# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
# ---

# %% [markdown]
# # Train the Fig. 1 network, then ask the printed part whether it agrees
#
# This demo shows how to:
# - load a built-in task (Li & Mao's Fig. 1: 0.098 N on node 12, loss $L = (u_y[13] + 0.025\,\mathrm{m})^2$),
# - compute the exact in situ gradient $\partial L/\partial k = e_\mathrm{adj} \circ e$ of the bar model,
# - train the bond widths with Adam for a few iterations,
# - run femnn's validation chain on the trained widths (2D FEM of the printed part, quick mesh) and
#   read its verdict, models and checks from Python.

# %%
import numpy as np

import femnn
from femnn.network import load_task
from femnn.train import TrainConfig, bar_result, train

task = load_task("fig1")
bar = bar_result(task)
print(f"untrained: u_y[13] = {bar.u_m[13, 1] * 1e3:.4f} mm, loss {bar.loss:.4g}")
print("largest |dL/dk| on bond", int(np.argmax(np.abs(bar.gradient_k))))

# %% [markdown]
# Train: Adam on the bounded widths $w = w_L + (w_U - w_L)\,\sigma(\beta\theta)$ with the exact chain rule.

# %%
res = train(task, TrainConfig(epochs=30))
trained = task.with_network(task.network.with_widths(res.widths_m))
after = bar_result(trained)
print(f"trained: u_y[13] = {after.u_m[13, 1] * 1e3:.4f} mm, loss {after.loss:.4g}")
assert after.loss < bar.loss

# %% [markdown]
# Validate the trained part: the FEM of the part built from these widths, the bar model
# calibrated to it, and the checks.

# %%
v = femnn.validate(trained, dims=[2], quick=True)
for name, m in v.models.items():
    print(f"{name:26s} u_y[13] = {m.u_m[13, 1] * 1e3:8.4f} mm")
for c in v.checks:
    print("pass" if c.passed else "FAIL", c.check)
print("verdict:", "PASS" if v.passed else "FAIL")
