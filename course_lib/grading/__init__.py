"""Checkers for the graded notebooks: partial credit and a readable reason.

Students call them to check their own work (``check(dense_forward)``); the
hidden tests of each notebook are single calls to them, so a failing hidden
test shows the reason, never the test.
"""
from course_lib.grading.assignment1 import (
    check,
    check_dense_backward,
    check_dense_forward,
    check_relu_backward,
    check_relu_forward,
    check_sgd_step,
    check_softmax_cross_entropy,
    check_train_mlp,
)

__all__ = [
    "check",
    "check_dense_forward",
    "check_dense_backward",
    "check_relu_forward",
    "check_relu_backward",
    "check_softmax_cross_entropy",
    "check_sgd_step",
    "check_train_mlp",
]
