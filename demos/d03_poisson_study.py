# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
# ---

# %% [markdown]
# # A small parameter study: how far is the bar model from the part as the rubber gets incompressible?
#
# This demo shows how to:
# - run the validation chain from Python for several Poisson ratios,
# - read the bar model's output error against the 2D FEM and the fitted global stiffness factor,
# - tabulate them (the bar model has no Poisson effect; the part does).

# %%
import femnn

rows = []
for nu in (0.3, 0.45, 0.49):
    v = femnn.validate("fig1", dims=[2], quick=True, poisson=nu, per_bond=False)
    err = v.crosscheck.rows["bar"]["u_outputs_rel_error"]
    rows.append((nu, err, v.calibration.global_factor))

print("| nu | bar vs fem2d at the output | global stiffness factor |")
print("|---|---|---|")
for nu, err, c in rows:
    print(f"| {nu} | {err:.2%} | {c:.4f} |")
assert all(0 < c < 1 for _, _, c in rows)   # the printed part is softer than its bar model
