"""CTC (course_lib.ops.ctc, losses.ctc / losses.CTC): brute-force values, gradient checks, errors, configs.

The value is checked against a sum over every path, enumerated; the gradients
in float64 with course_lib.testing's checker (central differences, relative
error < 1e-6) on several shapes: repeated labels, empty labels, labels of
length T/2, ragged batches, T = 100. tf.keras is compared in
tests/parity/test_ctc_parity.py.
"""
import itertools
import math

import numpy as np
import pytest

from course_lib import losses
from course_lib.ops import ctc as ctc_ops
from course_lib.testing import check_gradients

from loss_checks import central_differences  # noqa: E402

REDUCTIONS = ["sum_over_batch_size", "sum", "mean", "mean_with_sample_weight", None]


def _collapse(path):
    merged = [k for i, k in enumerate(path) if i == 0 or k != path[i - 1]]
    return tuple(k for k in merged if k != 0)


def _brute_force_loss(labels, logits):
    """-log of the sum over every path that spells the labels (no recursion)."""
    out = []
    for row, scores in zip(labels, logits):
        target = tuple(int(k) for k in row if k != 0)
        probs = np.exp(scores - scores.max(axis=1, keepdims=True))
        probs /= probs.sum(axis=1, keepdims=True)
        total = sum(np.prod(probs[np.arange(len(path)), path])
                    for path in itertools.product(range(scores.shape[1]), repeat=scores.shape[0])
                    if _collapse(path) == target)
        out.append(-math.log(total))
    return np.array(out)


class _KernelTarget:
    """The CTC kernel pair as a weightless 'layer', so that check_gradients can drive it."""

    dtype = "float64"
    trainable_weight_names = []
    trainable_weights = []

    def __init__(self, labels):
        self.labels = labels

    def __call__(self, logits, training=False):
        losses_, self.cache = ctc_ops.ctc_loss_forward(self.labels, logits)
        return losses_

    def backward(self, d_losses):
        return ctc_ops.ctc_loss_backward(d_losses, self.cache)


GRADIENT_CASES = {
    "distinct": (np.array([[1, 2, 3]]), (1, 6, 4)),
    "repeated (a a needs a blank between)": (np.array([[2, 2, 0], [1, 1, 1]]), (2, 7, 3)),
    "empty (all padding)": (np.array([[0, 0], [0, 0]]), (2, 5, 3)),
    "length T/2": (np.array([[1, 2, 3, 1], [3, 1, 2, 3]]), (2, 8, 4)),
    "ragged": (np.array([[1, 0, 0, 0], [2, 3, 0, 0], [1, 2, 1, 2], [0, 0, 0, 0]]), (4, 9, 4)),
    "tight (exactly L + repeats steps)": (np.array([[1, 1, 2]]), (1, 4, 3)),
    "T = 100": (np.array([[1, 2, 2, 3, 1, 0], [4, 0, 0, 0, 0, 0]]), (2, 100, 5)),
}


@pytest.mark.parametrize("case", list(GRADIENT_CASES))
def test_kernel_gradient_passes_the_float64_checker(case, rng):
    labels, shape = GRADIENT_CASES[case]
    logits = rng.normal(size=shape)
    # At T = 100 the loss (~300) rounds to ~1e-13 after 100 logaddexp steps: a step of 1e-6 would turn that
    # rounding into a relative error of 5e-6 on the smallest entries; 1e-4 keeps both errors below 1e-7.
    epsilon = 1e-4 if shape[1] == 100 else 1e-6
    report = check_gradients(_KernelTarget(labels), logits, max_entries=80, epsilon=epsilon)
    assert report.passed, str(report)


@pytest.mark.parametrize("case", ["distinct", "repeated (a a needs a blank between)", "empty (all padding)",
                                  "tight (exactly L + repeats steps)"])
def test_value_is_the_sum_over_every_path(case, rng):
    labels, shape = GRADIENT_CASES[case]
    logits = rng.normal(size=shape)
    received, _ = ctc_ops.ctc_loss_forward(labels, logits)
    np.testing.assert_allclose(received, _brute_force_loss(labels, logits), rtol=1e-12)


def test_peaked_logits_at_t_100_do_not_underflow(rng):
    labels = rng.integers(1, 6, (3, 30))
    logits = 8.0 * rng.normal(size=(3, 100, 6))
    values, cache = ctc_ops.ctc_loss_forward(labels, logits)
    gradient = ctc_ops.ctc_loss_backward(np.ones(3), cache)
    assert np.all(np.isfinite(values)) and np.all(values > 100)
    assert np.all(np.isfinite(gradient))
    np.testing.assert_allclose(gradient.sum(axis=-1), 0.0, atol=1e-10)  # softmax minus a posterior: rows sum to 0


def test_float32_stays_float32_and_matches_float64(rng):
    labels = np.array([[1, 2, 0], [3, 3, 1]])
    logits = rng.normal(size=(2, 12, 4))
    value64, cache64 = ctc_ops.ctc_loss_forward(labels, logits)
    value32, cache32 = ctc_ops.ctc_loss_forward(labels, logits.astype("float32"))
    assert value32.dtype == np.float32
    grad32 = ctc_ops.ctc_loss_backward(np.ones(2, "float32"), cache32)
    assert grad32.dtype == np.float32
    np.testing.assert_allclose(value32, value64, rtol=1e-5)
    np.testing.assert_allclose(grad32, ctc_ops.ctc_loss_backward(np.ones(2), cache64), atol=1e-5)


def test_labels_too_long_give_tensorflows_finite_loss(rng):
    assert ctc_ops._LOG_ZERO == float(np.float32(np.log(1e-307)))
    logits = rng.normal(size=(1, 3, 4))
    values, cache = ctc_ops.ctc_loss_forward(np.array([[1, 2, 3, 1]]), logits)  # 4 labels, 3 steps
    assert 706 < float(values[0]) < 730
    # No path spells the labels; every path spelling a prefix ends with weight 1e-307 (TensorFlow's log(0)).
    prefixes = sum(math.exp(-_brute_force_loss(np.array([p]), logits)[0])
                   for p in ([0, 0, 0, 0], [1, 0, 0, 0], [1, 2, 0, 0], [1, 2, 3, 0]))
    np.testing.assert_allclose(values[0], -ctc_ops._LOG_ZERO - math.log(prefixes), rtol=1e-12)
    gradient = ctc_ops.ctc_loss_backward(np.ones(1), cache)
    assert np.all(np.isfinite(gradient))
    # a a needs three steps: two are too few
    values, _ = ctc_ops.ctc_loss_forward(np.array([[2, 2]]), rng.normal(size=(1, 2, 3)))
    assert 706 < float(values[0]) < 730


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_loss_class_gradient_matchescentral_differences(reduction, weighted, rng):
    y_true = np.array([[1, 2, 0], [3, 3, 0], [0, 0, 0]])
    y_pred = rng.normal(size=(3, 6, 4))
    sample_weight = rng.uniform(0.5, 2.0, 3) if weighted else None
    loss = losses.CTC(reduction=reduction)
    analytic = loss.gradient(y_true, y_pred, sample_weight)
    numeric = central_differences(loss, y_true, y_pred, sample_weight)
    scale = np.abs(analytic) + np.abs(numeric)
    assert np.max(np.abs(analytic - numeric) / np.maximum(scale, 1e-7)) < 1e-6


def test_function_and_class_agree_and_reduce(rng):
    y_true = np.array([[1, 2], [2, 0]])
    y_pred = rng.normal(size=(2, 5, 3))
    per_sample = losses.ctc(y_true, y_pred)
    assert per_sample.shape == (2,)
    assert losses.CTC()(y_true, y_pred) == pytest.approx(per_sample.mean())
    assert losses.CTC(reduction="sum")(y_true, y_pred) == pytest.approx(per_sample.sum())
    np.testing.assert_allclose(losses.CTC(reduction=None)(y_true, y_pred), per_sample)
    assert losses.ctc(y_true, y_pred.astype("float16")).dtype == np.float32  # Keras computes float16 in float32


@pytest.mark.parametrize("y_true,y_pred_shape,message", [
    (np.array([[1, 0, 2]]), (1, 6, 3), r"ctc: 0 is the blank and the padding.*labels\[0\]=\[1, 0, 2\]"),
    (np.array([[1, 3]]), (1, 6, 3), r"ctc: labels must be class ids in \[0, 3\).*between 1 and 3"),
    (np.array([[-1, 2]]), (1, 6, 3), r"ctc: labels must be class ids in \[0, 3\).*between -1 and 2"),
    (np.array([[1.5, 2]]), (1, 6, 3), r"ctc: labels must be whole numbers.*1\.5"),
    (np.array([1, 2]), (1, 6, 3), r"ctc: labels \(y_true\) must have shape \(batch_size, max_label_length\)"),
    (np.array([[1, 2]]), (6, 3), r"ctc: logits \(y_pred\) must have shape \(batch_size, max_length"),
    (np.array([[1, 2], [1, 0]]), (1, 6, 3), r"ctc: labels and logits must hold the same number"),
    (np.array([[1, 2]]), (1, 0, 3), r"ctc: logits must have at least one time step"),
])
def test_bad_inputs_raise_errors_naming_the_loss(y_true, y_pred_shape, message):
    y_pred = np.zeros(y_pred_shape)
    with pytest.raises(ValueError, match=message):
        losses.ctc(y_true, y_pred)
    with pytest.raises(ValueError, match=message.replace("ctc:", "CTC:", 1)):
        losses.CTC()(y_true, y_pred)


def test_config_and_names():
    loss = losses.CTC(reduction="sum", name="my_ctc")
    assert loss.get_config() == {"name": "my_ctc", "reduction": "sum"}
    again = losses.deserialize(losses.serialize(loss))
    assert type(again) is losses.CTC and again.get_config() == loss.get_config()
    assert type(losses.get("ctc")) is losses.CTC and losses.get("ctc").name == "ctc"
    assert type(losses.get("CTC")) is losses.CTC
    assert type(losses.get(losses.ctc)) is losses.CTC
    assert losses.CTC().name == "ctc"
