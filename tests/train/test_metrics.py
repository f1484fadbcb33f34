"""task_metrics: one scoring code for the bar model and the FEM."""

import numpy as np
import pytest

from femnn.network import load_task
from femnn.train import TaskProblem
from femnn.train.metrics import confusion_matrix, task_metrics


def test_metrics_match_the_training_problem_on_the_bar_model():
    """On the bar model's outputs task_metrics gives TaskProblem's loss and accuracy; the confusion
    matrix counts every sample once (sum = n) and its trace / n is the accuracy."""
    task = load_task("iris")
    prob = TaskProblem(task)
    idx = np.arange(0, 150, 3)
    ev = prob.evaluate(task.network.stiffness_N_per_m(), idx, gradient=False)
    m = task_metrics(task, ev.u_out, idx)
    assert m["loss"] == pytest.approx(ev.loss, rel=1e-14)
    assert m["accuracy"] == pytest.approx(prob.metrics(ev, idx)["accuracy"], rel=1e-14)
    C = np.array(m["confusion"])
    assert C.shape == (3, 3) and C.sum() == idx.size
    assert np.trace(C) / idx.size == pytest.approx(m["accuracy"])


def test_confusion_rows_are_true_classes():
    C = confusion_matrix([0, 0, 1, 2, 2, 2], [0, 1, 1, 2, 0, 2], 3)
    assert C.tolist() == [[1, 1, 0], [0, 1, 0], [1, 0, 2]]


def test_single_load_keys():
    """Behaviour MSE: error = |u - y| / |y| with the targets reported; behaviour CE: ratio =
    |u_t| / max_{c≠t} |u_c|."""
    mse = load_task("behaviour-mse")
    y = mse.Y[0]
    m = task_metrics(mse, [[-0.6e-3, -0.8e-3]])
    assert m["error"] == pytest.approx(0.1e-3 / np.linalg.norm(y))
    assert m["targets"] == y.tolist() and m["u_out"] == [-0.6e-3, -0.8e-3]
    assert m["loss"] == pytest.approx(0.5 * 0.1e-3 ** 2)
    ce = load_task("behaviour-ce")
    t = int(ce.Y[0])
    u = np.array([1e-4, 1e-4])
    u[t] = -3e-4
    m = task_metrics(ce, u[None])
    assert m["ratio"] == pytest.approx(3.0) and m["accuracy"] == 1.0 and m["label"] == t


def test_shape_mismatch_raises():
    with pytest.raises(ValueError, match="expected"):
        task_metrics(load_task("iris"), np.zeros((2, 3)), [0])
