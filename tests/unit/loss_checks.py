"""Gradient checks shared by the loss unit tests: a loss object's backward against central differences.

``central_differences`` sums the loss (any reduction, with or without sample weights) at
``y_pred ± step`` one entry at a time; ``relative_error`` compares two arrays entry-wise,
``|a - b| / (|a| + |b|)`` with ``floor`` keeping zeros from dividing by zero.
"""
import numpy as np


def relative_error(a, b, floor=1e-12):
    return float(np.max(np.abs(a - b) / np.maximum(np.abs(a) + np.abs(b), floor)))


def central_differences(loss, y_true, y_pred, sample_weight, step=1e-6):
    numeric = np.zeros_like(y_pred)
    for index in np.ndindex(y_pred.shape):
        plus, minus = y_pred.copy(), y_pred.copy()
        plus[index] += step
        minus[index] -= step
        numeric[index] = (np.sum(loss(y_true, plus, sample_weight))
                          - np.sum(loss(y_true, minus, sample_weight))) / (2 * step)
    return numeric
