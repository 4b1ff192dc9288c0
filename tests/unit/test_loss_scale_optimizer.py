"""LossScaleOptimizer in course_lib alone: float16 gradients that underflow without it, its errors and forwarding.

tf.keras is compared in tests/parity/test_loss_scale_optimizer_parity.py.
"""
import numpy as np
import pytest

import course_lib as cl


class RecordingSGD(cl.optimizers.SGD):
    """SGD that keeps the gradients each step receives."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.received = []

    def apply(self, grads, variables=None):
        self.received.append([None if g is None else np.array(g) for g in grads])
        return super().apply(grads, variables)


def _float16_gradient(optimizer):
    """The kernel gradient the optimizer's first step receives, for a float16 model with a tiny loss."""
    with cl.backend.floatx_scope("float16"):
        model = cl.Sequential([cl.Input((4,)), cl.layers.Dense(1, kernel_initializer="ones", use_bias=False)])
        model.compile(optimizer=optimizer, loss="mse")
        x = np.full((8, 4), 1e-4, dtype="float16")
        model.fit(x, model.predict(x, verbose=0) + np.float16(1e-4), batch_size=8, epochs=1, verbose=0)
    inner = getattr(optimizer, "inner_optimizer", optimizer)
    return inner.received[0][0]


def test_in_float16_the_scaled_backward_keeps_gradients_that_underflow_without_it():
    plain = _float16_gradient(RecordingSGD())
    scaled = _float16_gradient(cl.optimizers.LossScaleOptimizer(RecordingSGD(), initial_scale=2.0 ** 15))
    # d(mse)/dkernel = -2 * 1e-4 * 1e-4 = -2e-8 per entry, below float16's smallest step (6e-8): it comes out
    # as 0 or as one whole step; through the scale it is computed at 2e-8 * 2**15 and divided back in float32.
    expected = -2 * float(np.float16(1e-4)) ** 2
    assert np.abs(plain.astype("float64") - expected).max() > 0.5 * abs(expected)
    np.testing.assert_allclose(scaled.astype("float64"), expected, rtol=2e-2)


def test_iterations_and_learning_rate_are_the_inner_optimizer_s():
    inner = cl.optimizers.Adam(0.01)
    optimizer = cl.optimizers.LossScaleOptimizer(inner)
    optimizer.learning_rate = 0.5
    assert inner.learning_rate == optimizer.learning_rate == 0.5
    weights = [np.ones(3, "float32")]
    optimizer.apply([np.ones(3, "float32")], weights)
    assert inner.iterations == optimizer.iterations == 1
    assert optimizer.loss_scale() == 2.0 ** 15 and float(optimizer.scale_loss(2.0)) == 2.0 ** 16
    assert cl.optimizers.get({"class_name": "LossScaleOptimizer",
                              "config": optimizer.get_config()}).inner_optimizer.learning_rate == 0.5


@pytest.mark.parametrize("kwargs, error, message", [
    ({"inner_optimizer": "adam"}, TypeError, "inner_optimizer must be a course_lib optimizer"),
    ({"initial_scale": 0.0}, ValueError, "initial_scale"),
    ({"dynamic_growth_steps": 0}, ValueError, "dynamic_growth_steps must be an int >= 1"),
    ({"dynamic_growth_steps": 2.5}, ValueError, "dynamic_growth_steps must be an int >= 1"),
])
def test_bad_arguments_are_refused_with_the_optimizer_named(kwargs, error, message):
    arguments = {"inner_optimizer": cl.optimizers.SGD(), **kwargs}
    with pytest.raises(error, match=f"LossScaleOptimizer.*{message}"):
        cl.optimizers.LossScaleOptimizer(**arguments)


def test_apply_before_build_needs_the_variables():
    with pytest.raises(ValueError, match="LossScaleOptimizer.apply: without `variables`"):
        cl.optimizers.LossScaleOptimizer(cl.optimizers.SGD()).apply([np.ones(2, "float32")])
