"""Gradient checks shared by the attention layers' unit tests (MultiHeadAttention, GroupQueryAttention).

float64 central differences with random upstream gradients, relative error < 1e-6
(epsilon 1e-5). The key's bias gradient is exactly zero (adding ``q . b`` to every
score of a query row leaves the softmax unchanged), so it is checked to be zero on
both sides instead.
"""
import numpy as np

from course_lib import backend
from course_lib.testing.gradient_check import check_gradients

B, TQ, TV, DQ, DV, DK = 2, 3, 4, 5, 6, 7
TOLERANCE = 1e-6


def normal(shape, seed, scale=1.0):
    return np.random.default_rng(seed).normal(size=shape) * scale


def assert_report(report, zero_gradients=()):
    """Every entry below TOLERANCE, except the weights whose gradient is exactly zero (checked to be zero)."""
    failed = {name: entry for name, entry in report.entries.items()
              if entry[0] >= TOLERANCE and name not in zero_gradients}
    assert not failed, str(report)
    for name in zero_gradients:
        _, _, analytic, numeric = report.entries[name]
        assert abs(analytic) < 1e-10 and abs(numeric) < 1e-7, str(report)


def fixed_call(layer_class, **call_options):
    """``layer_class`` with its call options fixed, so check_gradients (which calls ``layer(x)``) sees them."""

    class FixedCall(layer_class):
        def __call__(self, inputs, training=None):
            return super().__call__(inputs, training=training, **call_options)

    return FixedCall


def layer_inputs(key_given=True, tq=TQ, tv=TV):
    inputs = [normal((B, tq, DQ), 11), normal((B, tv, DV), 12)]
    return inputs + [normal((B, tv, DK), 13)] if key_given else [inputs[0], normal((B, tv, DQ), 12)]


def randomize(layer, seed=3):
    layer.set_weights([normal(w.shape, seed + i, 0.5).astype(w.dtype) for i, w in enumerate(layer.get_weights())])


def checked_layer(layer_class, options, inputs, training=False, before_forward=None, **call_options):
    """A float64 ``layer_class(**options)`` with random weights whose gradients pass the check on ``inputs``."""
    with backend.floatx_scope("float64"):
        layer = fixed_call(layer_class, **call_options)(**options)
        layer(inputs)
        randomize(layer)
        report = check_gradients(layer, inputs, training=training, before_forward=before_forward, epsilon=1e-5)
    assert_report(report, zero_gradients={"key/bias"} & set(layer.trainable_weight_names))
    assert list(report.entries) == [f"input_{i}" for i in range(len(inputs))] + layer.trainable_weight_names
    return layer, report


def assert_tape_matches_backward(layer):
    """course_lib's GradientTape gives ``layer``'s weight gradients as its own backward does (causal self-attention)."""
    import course_lib as cl

    x, target = (normal((B, TQ, DQ), seed).astype("float32") for seed in (1, 2))
    with cl.GradientTape() as tape:
        output = layer(x, x, use_causal_mask=True)
        loss = cl.losses.MeanSquaredError()(target, output)
    grads = tape.gradient(loss, layer.trainable_weights)
    layer(x, x, use_causal_mask=True)
    layer.backward(2 * (output - target) / output.size)
    for name, gradient in zip(layer.trainable_weight_names, grads, strict=True):
        np.testing.assert_allclose(gradient, layer.grads[name], rtol=1e-5, atol=1e-7)
