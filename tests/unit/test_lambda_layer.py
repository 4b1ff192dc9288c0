"""Lambda: forward, its traced backward (gradient checks in float64), shapes, masks, config, safe mode, errors.

The tf.keras comparison (configs, inferred shapes, training runs, files) lives
in ``tests/parity/test_lambda_parity.py``.
"""
import numpy as np
import pytest

import course_lib as cl
from course_lib import layers
from course_lib.layers import lambda_layer
from course_lib.layers.lambda_layer import Lambda

TOLERANCE = 1e-6


def _normal(shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


def norm(t):
    return np.sqrt(np.sum(t ** 2, axis=-1, keepdims=True))


def scaled(x, scale=1.0):
    return x * scale


@pytest.fixture(autouse=True)
def _reset_safe_mode():
    yield
    lambda_layer._SAFE_MODE["value"] = None


# ------------------------------------------------------------- gradients
@pytest.mark.parametrize("training", [False, True])
@pytest.mark.parametrize("function", [
    norm,
    lambda t: t / 255.0,
    lambda t: np.maximum(t, 0.0) * np.tanh(t)[:, ::-1] + np.mean(t ** 2, axis=0),
    lambda t: np.where(t > 0, t, 0.1 * t) @ np.ones((4, 2)),
    lambda t: np.concatenate([t[:, :1], np.exp(t)], axis=-1).max(axis=-1),
])
def test_gradients_through_the_function(function, training):
    with cl.backend.floatx_scope("float64"):
        layer = Lambda(function)
        cl.testing.assert_gradients_close(layer, _normal((3, 4)), training=training, tolerance=TOLERANCE)


def test_gradients_of_a_multi_input_function():
    with cl.backend.floatx_scope("float64"):
        layer = Lambda(lambda t: t[0] * t[1] + np.sin(t[0]))
        report = cl.testing.assert_gradients_close(layer, [_normal((3, 4), 1), _normal((3, 4), 2)],
                                                   training=True, tolerance=TOLERANCE)
    assert set(report.entries) == {"input_0", "input_1"}


def test_gradients_of_a_multi_output_function():
    with cl.backend.floatx_scope("float64"):
        layer = Lambda(lambda t: [t * 2.0, np.sum(t ** 3, axis=1)])
        cl.testing.assert_gradients_close(layer, _normal((3, 4)), training=True, tolerance=TOLERANCE)


def test_gradients_with_arguments_and_an_activation_function():
    with cl.backend.floatx_scope("float64"):
        cl.testing.assert_gradients_close(Lambda(scaled, arguments={"scale": 3.0}), _normal((2, 3)),
                                          training=True, tolerance=TOLERANCE)
        cl.testing.assert_gradients_close(Lambda(cl.activations.get("swish")), _normal((2, 3)),
                                          training=True, tolerance=TOLERANCE)


def test_an_input_the_output_ignores_gets_zeros():
    layer = Lambda(lambda t: t[0] * 2.0)
    x = [np.ones((2, 3), "float32"), np.ones((2, 3), "float32")]
    layer(x, training=True)
    grads = layer.backward(np.ones((2, 3), "float32"))
    np.testing.assert_array_equal(grads[0], np.full((2, 3), 2.0))
    np.testing.assert_array_equal(grads[1], np.zeros((2, 3)))
    assert grads[0].dtype == np.float32


# -------------------------------------------------------------- forward
def test_forward_is_the_function_in_training_and_in_inference():
    layer = Lambda(norm)
    x = _normal((3, 4)).astype("float32")
    np.testing.assert_array_equal(layer(x), norm(x))
    np.testing.assert_array_equal(layer(x, training=True), norm(x))
    assert isinstance(layer(x, training=True), np.ndarray)


def test_arguments_training_and_mask_reach_the_function():
    seen = {}

    def function(x, offset, training=None, mask=None):
        seen.update(training=training, mask=mask)
        return x + offset

    layer = Lambda(function, arguments={"offset": 1.0})
    x = np.zeros((2, 3), "float32")
    np.testing.assert_array_equal(layer(x, training=True), np.ones((2, 3)))
    assert seen == {"training": True, "mask": None}
    mask = np.array([[True, False, True], [True, True, False]])
    layer(x, mask=mask)
    assert seen["training"] is False
    np.testing.assert_array_equal(seen["mask"], mask)


def test_unsupported_operation_runs_on_plain_arrays_and_only_backward_fails():
    layer = Lambda(lambda x: np.cumsum(x, axis=1), name="running_total")
    x = _normal((2, 3)).astype("float32")
    np.testing.assert_array_equal(layer(x, training=True), np.cumsum(x, axis=1))
    with pytest.raises(TypeError) as caught:
        layer.backward(np.ones((2, 3), "float32"))
    message = str(caught.value)
    assert "running_total" in message and "numpy.cumsum" in message
    assert "Layer subclass" in message and "leaky_relu.py" in message


def test_a_model_whose_first_lambda_cannot_be_traced_still_trains():
    model = cl.Sequential([cl.Input((3,)), Lambda(lambda x: np.cumsum(x, axis=1)), layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    history = model.fit(_normal((8, 3)), _normal((8, 1)), epochs=2, verbose=0)  # no gradient is needed there
    assert len(history.history["loss"]) == 2


def test_a_closed_over_variable_is_refused_in_training():
    dense = layers.Dense(2, name="hidden")
    dense.build((None, 3))
    kernel = dense.kernel
    layer = Lambda(lambda x: x @ kernel)
    x = np.ones((1, 3), "float32")
    np.testing.assert_allclose(layer(x), x @ kernel.numpy())  # inference: fine
    with pytest.raises(TypeError, match="hidden/kernel.*never\\s+receive a gradient"):
        layer(x, training=True)
    with pytest.raises(TypeError, match="hidden/kernel"):
        Lambda(lambda x: dense(x))(x, training=True)


def test_a_variable_met_only_by_a_traced_operation_is_refused():
    dense = layers.Dense(2, name="holder")
    dense.build((None, 3))
    owner = {"layer": dense}
    layer = Lambda(lambda x: x @ owner["layer"].kernel, name="uses_weight")
    with pytest.raises(TypeError, match="uses_weight.*holder/kernel"):
        layer(np.ones((1, 3), "float32"), training=True)


def test_gradient_tape_around_an_inference_call_traces_on_demand():
    inputs = cl.Input((4,))
    hidden = layers.Dense(3, name="d1")(inputs)
    outputs = layers.Dense(1, name="d2")(Lambda(norm)(hidden))
    model = cl.Model(inputs, outputs)
    x = _normal((5, 4)).astype("float32")
    gradients = []
    for training in (None, True):
        with cl.GradientTape() as tape:
            loss = cl.losses.MeanSquaredError()(np.ones((5, 1), "float32"), model(x, training=training))
        gradients.append(tape.gradient(loss, model.trainable_weights))
    for with_replay, traced in zip(*gradients):
        np.testing.assert_allclose(with_replay, traced, rtol=1e-6)
    assert np.abs(gradients[0][0]).sum() > 0  # the first Dense is reached through the Lambda


# --------------------------------------------------------------- shapes
def test_output_shape_given_as_a_tuple_a_list_of_shapes_or_a_function():
    assert Lambda(lambda x: x, output_shape=(3, 4)).compute_output_shape((None, 4, 5)) == (None, 3, 4)
    assert Lambda(lambda x: x, output_shape=[3, 4]).compute_output_shape((7, 4, 5)) == (7, 3, 4)
    assert Lambda(lambda x: x, output_shape=[(3,), (4,)]).compute_output_shape((7, 4, 5)) == [(7, 3), (7, 4)]
    assert Lambda(lambda x: x, output_shape=(3,)).compute_output_shape([(7, 4, 5), (8, 1)]) == (7, 3)
    assert Lambda(lambda x: x, output_shape=lambda s: (s[0], 9)).compute_output_shape((7, 4, 5)) == (7, 9)


@pytest.mark.parametrize("function, input_shape, expected", [
    (norm, (None, 4, 5), (None, 4, 1)),
    (lambda t: np.reshape(t, (-1, 2)), (None, 4, 5), (None, 2)),
    (lambda t: t[:, :2], (None, 4, 5), (None, 2, 5)),
    (lambda t: t[0] * t[1], [(None, 4), (None, 4)], (None, 4)),
    (lambda t: [t, t[:, 0]], (None, 4, 5), [(None, 4, 5), (None, 5)]),
    (lambda t: t.T, (3, 4), (4, 3)),
])
def test_output_shape_is_inferred(function, input_shape, expected):
    assert Lambda(function).compute_output_shape(input_shape) == expected


def test_symbolic_call_gives_the_inferred_shapes():
    inputs = cl.Input((4, 5))
    first, second = Lambda(lambda t: [t, t[:, 0]])(inputs)
    assert first.shape == (None, 4, 5) and second.shape == (None, 5)


def test_output_shape_inference_failure_asks_for_output_shape():
    # Keras's exception type (NotImplementedError), as a named subclass that says what went wrong.
    with pytest.raises(lambda_layer.OutputShapeUnknown, match="specify the `output_shape` argument"):
        Lambda(lambda t: t.reshape(5, 7)).compute_output_shape((None, 3))
    assert issubclass(lambda_layer.OutputShapeUnknown, NotImplementedError)


# ----------------------------------------------------------------- masks
def test_mask_as_a_function_or_a_value():
    fixed = np.array([True, False])
    assert Lambda(lambda x: x).supports_masking is False
    layer = Lambda(lambda x: x, mask=lambda inputs, mask: inputs > 0)
    assert layer.supports_masking
    np.testing.assert_array_equal(layer.compute_mask(np.array([1.0, -1.0]), None), fixed)
    assert Lambda(lambda x: x, mask=fixed).compute_mask(np.zeros(2), None) is fixed


def test_mask_flows_through_a_model():
    inputs = cl.Input((3,), dtype="int32")
    embedded = layers.Embedding(5, 2, mask_zero=True)(inputs)
    outputs = Lambda(lambda x: x * 2.0, mask=lambda inputs, mask: mask)(embedded)
    model = cl.Model(inputs, outputs)
    model(np.array([[1, 0, 2]]))
    np.testing.assert_array_equal(model._last_output_masks[0], [[True, False, True]])


# ---------------------------------------------------------------- config
def test_config_round_trips_a_named_function():
    layer = Lambda(scaled, output_shape=(3,), arguments={"scale": 2.0, "table": np.arange(3)})
    config = layer.get_config()
    assert config["function"] == {"module": "builtins", "class_name": "function", "config": "scaled",
                                  "registered_name": "function"}
    assert config["arguments"]["table"] == {"class_name": "__numpy__", "config": {"value": [0, 1, 2],
                                                                                  "dtype": "int64"}}
    clone = Lambda.from_config(config, custom_objects={"scaled": scaled})
    assert clone.function is scaled and clone.get_config() == config
    np.testing.assert_array_equal(clone.arguments["table"], np.arange(3))
    with pytest.raises(TypeError, match="Could not locate function 'scaled'"):
        Lambda.from_config(config)


def test_layer_contract_with_a_named_function():
    layer = cl.testing.layer_test(Lambda, {"function": cl.activations.tanh}, input_shape=(2, 3),
                                  expected_output_shape=(None, 3), expected_num_weights=0)
    assert layer.get_config()["function"] == {"module": "builtins", "class_name": "function", "config": "tanh",
                                              "registered_name": "function"}
    assert Lambda(np.tanh).get_config()["function"]["class_name"] == "ufunc"  # Keras's form for a ufunc


def test_a_registered_function_is_found_again():
    @cl.saving.register_keras_serializable(package="LambdaTest")
    def doubled(x):
        return x * 2

    config = Lambda(doubled).get_config()
    assert config["function"]["config"] == "LambdaTest>doubled"
    assert Lambda.from_config(config).function is doubled


def test_deserialize_finds_lambda_by_class_name():
    entry = layers.serialize(Lambda(np.tanh, name="tanh_layer"))
    assert entry["class_name"] == "Lambda" and entry["module"] == "keras.layers"
    with pytest.raises(TypeError, match="Could not locate function"):
        layers.deserialize(entry)


def test_python_lambdas_are_refused_in_safe_mode_as_keras_does():
    config = Lambda(lambda x: x / 255.0, output_shape=lambda s: s).get_config()
    assert config["function"]["class_name"] == "__lambda__"
    assert set(config["function"]["config"]) == {"code", "defaults", "closure"}
    for call in (lambda: Lambda.from_config(dict(config)),
                 lambda: Lambda.from_config(dict(config), safe_mode=True)):
        with pytest.raises(ValueError, match="Requested the deserialization of a `Lambda` layer whose"):
            call()
    clone = Lambda.from_config(dict(config), safe_mode=False)
    assert clone(np.array([255.0], "float32"))[0] == 1.0
    with lambda_layer.safe_mode_scope(False):
        assert Lambda.from_config(dict(config)).compute_output_shape((None, 2)) == (None, 2)
        with pytest.raises(ValueError, match="safe_mode=False"):
            Lambda.from_config(dict(config), safe_mode=True)
    lambda_layer.enable_unsafe_deserialization()
    Lambda.from_config(dict(config))


def applied(x, f):
    return f(x)


def test_a_lambda_in_arguments_warns_and_is_refused_in_safe_mode():
    with pytest.warns(UserWarning, match="includes a `lambda`"):
        config = Lambda(applied, arguments={"f": lambda v: v + 1.0}).get_config()
    with pytest.raises(ValueError, match="deserialization of a Python lambda"):
        Lambda.from_config(config, custom_objects={"applied": applied}, safe_mode=None)
    clone = Lambda.from_config(config, custom_objects={"applied": applied}, safe_mode=False)
    np.testing.assert_array_equal(clone(np.zeros(2, "float32")), [1.0, 1.0])


def test_closures_and_defaults_round_trip():
    offset = 3.0
    layer = Lambda(lambda x, power=2: x ** power + offset)
    clone = Lambda.from_config(layer.get_config(), safe_mode=False)
    np.testing.assert_array_equal(clone(np.array([2.0], "float32")), [7.0])


def test_a_saved_model_with_a_lambda_loads_only_with_safe_mode_off(tmp_path):
    model = cl.Sequential([cl.Input((3,)), Lambda(lambda x: x / 255.0), layers.Dense(2)])
    path = tmp_path / "m.keras"
    model.save(path)
    with pytest.raises(ValueError, match="Requested the deserialization of a `Lambda`"):
        cl.models.load_model(path)
    with lambda_layer.safe_mode_scope(False):
        loaded = cl.models.load_model(path)
    x = _normal((4, 3)).astype("float32") * 255
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-6)


# ----------------------------------------------------------------- errors
@pytest.mark.parametrize("kwargs, error, match", [
    ({"function": 3}, TypeError, "function must be callable"),
    ({"function": np.tanh, "arguments": [1]}, TypeError, "arguments must be a dict"),
    ({"function": np.tanh, "output_shape": "wide"}, ValueError, "expected a shape tuple"),
    ({"function": np.tanh, "output_shape": (3, 1.5)}, ValueError, "expected a shape tuple"),
    ({"function": np.tanh, "input_dims": 3}, TypeError, "unrecognized keyword arguments"),
])
def test_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        Lambda(**kwargs)


def test_strict_backend_traces_on_the_array_module():
    with cl.backend.backend_scope("strict"):
        layer = Lambda(lambda t: np.sqrt(np.sum(t[:, [0, 0, 2]] ** 2, axis=-1, keepdims=True)))
        x = cl.backend.xp.asarray(_normal((2, 3)).astype("float32"))
        y = layer(x, training=True)
        grad = layer.backward(cl.backend.xp.ones(y.shape, dtype="float32"))
        assert type(grad).__name__ == "StrictArray" and grad.shape == (2, 3)


def test_load_model_takes_keras_s_safe_mode_argument(tmp_path):
    model = cl.Sequential([cl.Input((3,)), Lambda(lambda x: x * 2.0), layers.Dense(2)])
    path = tmp_path / "m.keras"
    model.save(path)
    with pytest.raises(ValueError, match="Requested the deserialization of a `Lambda`"):
        cl.load_model(path, safe_mode=True)
    loaded = cl.load_model(path, safe_mode=False)
    x = _normal((4, 3)).astype("float32")
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-6)
