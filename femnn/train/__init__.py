"""Losses, Adam on bounded widths and the training loops (numpy/scipy only)."""

from femnn.train.loop import TrainConfig, TrainResult, check_split, make_split, train
from femnn.train.losses import loss_and_grad, predict, relative_error
from femnn.train.problem import Evaluation, TaskProblem, bar_result

__all__ = ["TrainConfig", "TrainResult", "train", "make_split", "check_split", "TaskProblem", "Evaluation", "bar_result",
           "loss_and_grad", "predict", "relative_error"]
