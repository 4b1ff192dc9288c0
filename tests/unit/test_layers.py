"""Core and merging layers: gradient checks, the Layer contract, bad input, shapes.

Every layer is checked against central differences in float64 (relative
error < 1e-6 on every weight and every input, through
``cl.testing.assert_gradients_close``), run through the public
``layer_test`` harness, and fed the bad arguments a student is likely to
write. The tf.keras comparison of the same layers lives in
``tests/parity/test_layers_parity.py``.
"""
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import course_lib as cl
from course_lib import layers

# Every activation name course_lib knows, plus None (a linear Dense).
# threshold needs two arguments no Dense passes (it fails in Keras too); its own tests are in test_more_activations.
ACTIVATIONS = [None] + sorted(set(cl.activations._BY_NAME) - {"threshold"})

GRADIENT_TOLERANCE = 1e-6


def _normal(shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


# ------------------------------------------------------------- gradient checks
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_dense_gradients_for_every_activation(activation):
    with cl.backend.floatx_scope("float64"):
        layer = layers.Dense(4, activation=activation, bias_initializer="glorot_uniform")
        report = cl.testing.assert_gradients_close(layer, _normal((3, 5)), tolerance=GRADIENT_TOLERANCE)
    assert set(report.entries) == {"input", "kernel", "bias"}
    assert report.max_error < GRADIENT_TOLERANCE


def test_dense_gradients_without_bias():
    with cl.backend.floatx_scope("float64"):
        layer = layers.Dense(3, activation="tanh", use_bias=False)
        report = cl.testing.assert_gradients_close(layer, _normal((4, 6)))
    assert set(report.entries) == {"input", "kernel"}
    assert "bias" not in layer.grads


def test_dense_gradients_on_three_dimensional_input():
    with cl.backend.floatx_scope("float64"):
        layer = layers.Dense(3, activation="sigmoid", bias_initializer="ones")
        report = cl.testing.assert_gradients_close(layer, _normal((2, 4, 5)))
    assert set(report.entries) == {"input", "kernel", "bias"}
    assert layer.grads["kernel"].shape == (5, 3)


@pytest.mark.parametrize("activation", ["relu", "softmax", "tanh", "sigmoid", "elu", "selu", "softplus"])
def test_activation_layer_gradients(activation):
    with cl.backend.floatx_scope("float64"):
        layer = layers.Activation(activation)
        report = cl.testing.assert_gradients_close(layer, _normal((3, 7)))
    assert list(report.entries) == ["input"]
    assert layer.grads == {}


def test_dropout_gradients_in_training_mode_with_a_fixed_mask():
    with cl.backend.floatx_scope("float64"):
        layer = layers.Dropout(0.4)

        def reseed():
            # The same mask on every forward pass, so finite differences see one function.
            layer._rng = np.random.default_rng(7)

        report = cl.testing.assert_gradients_close(
            layer, _normal((6, 8)), training=True, before_forward=reseed
        )
    assert report.passed
    # The mask really dropped something, so the check covered a non-trivial case.
    reseed()
    _, mask = layer.forward(_normal((6, 8)), training=True)
    assert 0 < np.count_nonzero(mask == 0) < mask.size


def test_dropout_gradients_in_inference_mode_are_the_identity():
    with cl.backend.floatx_scope("float64"):
        layer = layers.Dropout(0.5)
        cl.testing.assert_gradients_close(layer, _normal((3, 4)), training=False)
    dy = _normal((3, 4), seed=1)
    np.testing.assert_array_equal(layer.backward(dy), dy)


@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_flatten_gradients(data_format):
    with cl.backend.floatx_scope("float64"):
        layer = layers.Flatten(data_format=data_format)
        cl.testing.assert_gradients_close(layer, _normal((2, 3, 4, 5)))


@pytest.mark.parametrize("target_shape, input_shape", [((6, 2), (2, 3, 4)), ((-1, 2), (2, 3, 4)), ((3, -1), (2, 12))])
def test_reshape_gradients(target_shape, input_shape):
    with cl.backend.floatx_scope("float64"):
        layer = layers.Reshape(target_shape)
        cl.testing.assert_gradients_close(layer, _normal(input_shape))


@pytest.mark.parametrize("axis, shapes", [(-1, [(2, 3, 4), (2, 3, 2)]), (1, [(2, 3, 4), (2, 5, 4)])])
def test_concatenate_gradients(axis, shapes):
    with cl.backend.floatx_scope("float64"):
        layer = layers.Concatenate(axis=axis)
        inputs = [_normal(shape, seed=i) for i, shape in enumerate(shapes)]
        report = cl.testing.assert_gradients_close(layer, inputs)
    assert set(report.entries) == {"input_0", "input_1"}


def test_add_gradients_with_three_inputs():
    with cl.backend.floatx_scope("float64"):
        layer = layers.Add()
        inputs = [_normal((3, 4), seed=i) for i in range(3)]
        report = cl.testing.assert_gradients_close(layer, inputs)
    assert set(report.entries) == {"input_0", "input_1", "input_2"}


# ------------------------------------------------------------ layer contract
LAYER_CASES = [
    (layers.Dense, {"units": 3}, (2, 4), (None, 3), 2, 15),
    (layers.Dense, {"units": 3, "use_bias": False, "activation": "relu"}, (2, 5, 4), (None, 5, 3), 1, 12),
    (layers.Activation, {"activation": "softmax"}, (2, 4), (None, 4), 0, 0),
    (layers.Dropout, {"rate": 0.3, "seed": 1}, (2, 4), (None, 4), 0, 0),
    (layers.Flatten, {}, (2, 3, 4), (None, 12), 0, 0),
    (layers.Flatten, {"data_format": "channels_first"}, (2, 3, 4, 5), (None, 60), 0, 0),
    (layers.Reshape, {"target_shape": (2, -1)}, (2, 6), (None, 2, 3), 0, 0),
    (layers.Concatenate, {"axis": 1}, [(2, 3, 4), (2, 2, 4)], (None, 5, 4), 0, 0),
    (layers.Add, {}, [(2, 4), (2, 4), (2, 4)], (None, 4), 0, 0),
    (layers.InputLayer, {"shape": (4,)}, (2, 4), (None, 4), 0, 0),
]


@pytest.mark.parametrize(
    "layer_class, kwargs, input_shape, output_shape, num_weights, num_params",
    LAYER_CASES,
    ids=[f"{case[0].__name__}-{i}" for i, case in enumerate(LAYER_CASES)],
)
def test_layer_contract(layer_class, kwargs, input_shape, output_shape, num_weights, num_params):
    layer = cl.testing.layer_test(
        layer_class, kwargs, input_shape=input_shape, expected_output_shape=output_shape,
        expected_num_weights=num_weights, expected_num_params=num_params,
    )
    assert layer.built
    # serialize/deserialize is the same round trip as from_config, by class name.
    rebuilt = layers.deserialize(layers.serialize(layer))
    assert type(rebuilt) is layer_class


def test_layers_build_lazily_and_keep_keras_weight_names():
    layer = layers.Dense(3)
    assert not layer.built and layer.weights == []
    layer(np.ones((2, 4)))
    assert layer.built
    assert layer.weight_names == ["kernel", "bias"]
    assert [w.shape for w in layer.get_weights()] == [(4, 3), (3,)]
    assert layer.count_params() == 15


def test_automatic_names_follow_keras():
    names = [layers.Dense(2).name, layers.Dense(2).name, layers.Dropout(0.1).name, layers.Dense(2).name]
    assert names == ["dense", "dense_1", "dropout", "dense_2"]


def test_gradients_overwrite_rather_than_accumulate():
    layer = layers.Dense(2)
    x = np.ones((3, 4), dtype="float32")
    layer(x)
    layer.backward(np.ones((3, 2), dtype="float32"))
    first = layer.grads["kernel"].copy()
    layer(x)
    layer.backward(np.ones((3, 2), dtype="float32"))
    np.testing.assert_array_equal(layer.grads["kernel"], first)


def test_non_trainable_layer_lists_its_weights_as_non_trainable():
    layer = layers.Dense(2, trainable=False)
    layer(np.ones((1, 3)))
    assert layer.trainable_weights == [] and len(layer.non_trainable_weights) == 2


def test_dropout_training_statistics_and_inference_identity():
    layer = layers.Dropout(0.3, seed=5)
    x = np.ones((200, 100), dtype="float32")
    np.testing.assert_array_equal(layer(x, training=False), x)
    y = layer(x, training=True)
    dropped = np.mean(y == 0)
    assert abs(dropped - 0.3) < 0.02
    np.testing.assert_allclose(y[y != 0], 1 / 0.7, rtol=1e-6)
    dy = np.full_like(x, 2.0)
    np.testing.assert_allclose(layer.backward(dy), 2 * y)


def test_dropout_noise_shape_shares_the_mask_along_broadcast_axes():
    layer = layers.Dropout(0.5, noise_shape=(None, 1, 6), seed=3)
    y = layer(np.ones((4, 5, 6)), training=True)
    # Along axis 1 the mask is one row repeated.
    np.testing.assert_array_equal(y, np.repeat(y[:, :1, :], 5, axis=1))


def test_flatten_channels_first_moves_channels_last_before_flattening():
    x = np.arange(2 * 3 * 4, dtype="float32").reshape(2, 3, 4)
    expected = np.moveaxis(x, 1, -1).reshape(2, -1)
    np.testing.assert_array_equal(layers.Flatten(data_format="channels_first")(x), expected)
    np.testing.assert_array_equal(layers.Flatten()(x), x.reshape(2, -1))


def test_reshape_with_minus_one_on_symbolic_inputs():
    inputs = cl.Input((3, 4))
    assert layers.Reshape((-1, 2))(inputs).shape == (None, 6, 2)
    assert layers.Reshape((2, 6))(inputs).shape == (None, 2, 6)


@pytest.mark.parametrize("make, shape", [
    (lambda activation: layers.Dense(4, activation=activation, bias_initializer="glorot_uniform"), (6, 5)),
    (lambda activation: layers.Conv2D(3, 3, activation=activation, bias_initializer="glorot_uniform"), (2, 6, 6, 2)),
])
def test_a_relu_after_a_product_overwrites_the_product_and_nothing_else(make, shape):
    # Dense and the convolutions apply a plain relu in place on their own product: the output
    # is the pre-activation array, the cache holds it once, the input is untouched, and the
    # output and gradients are exactly those of relu on a separate copy of the product.
    x = _normal(shape).astype("float32")
    x_before = x.copy()
    layer = make("relu")
    layer.build(x.shape)
    out, cache = layer.forward(x)
    _, pre, kept = cache
    assert pre is out and kept is out
    np.testing.assert_array_equal(x, x_before)
    linear = make(None)
    linear.build(x.shape)
    linear.set_weights(layer.get_weights())
    product, linear_cache = linear.forward(x)
    np.testing.assert_array_equal(out, np.maximum(product, 0))
    dy = _normal(out.shape, seed=1).astype("float32")
    dx, grads = layer.backward(dy, cache)
    dx_linear, grads_linear = linear.backward(dy * (product > 0), linear_cache)
    np.testing.assert_array_equal(dx, dx_linear)
    assert grads.keys() == grads_linear.keys()
    for name in grads:
        np.testing.assert_array_equal(grads[name], grads_linear[name])


def test_layers_that_do_not_own_their_pre_activation_or_use_another_relu_keep_both_arrays():
    # The Activation layer's pre-activation IS its input: relu must not overwrite it. A relu
    # with options (here through a custom callable) is another activation: it allocates.
    x = _normal((4, 5)).astype("float32")
    x_before = x.copy()
    out, (_, pre, kept) = layers.Activation("relu").forward(x)
    np.testing.assert_array_equal(x, x_before)
    assert pre is x and kept is out and out is not x
    dense = layers.Dense(3, activation=lambda z: cl.activations.relu(z, max_value=0.5))
    dense.build(x.shape)
    out, (_, pre, kept) = dense.forward(x)
    np.testing.assert_array_equal(x, x_before)
    assert pre is not out and kept is out
    np.testing.assert_array_equal(out, np.clip(pre, 0, 0.5))


# ------------------------------------------------------------------ bad input
def test_wrong_input_shape_to_a_built_dense_names_expected_and_received():
    layer = layers.Dense(3)
    layer(np.ones((2, 4)))
    with pytest.raises(ValueError, match=r"dense.*axis -1.*value 4.*Received: input with shape \(2, 5\)"):
        layer(np.ones((2, 5)))
    with pytest.raises(ValueError, match=r"expected min_ndim=2, found ndim=1"):
        layer(np.ones(4))


@pytest.mark.parametrize(
    "value, fragment",
    [(np.array([["a", "b"]]), "dtype <U1"), (np.ones((1, 2), dtype=object), "dtype object"),
     (np.ones((1, 2)) * 1j, "dtype complex128")],
)
def test_non_numeric_input_is_refused(value, fragment):
    with pytest.raises(TypeError, match=rf"Layer 'dense'.*numeric array.*{fragment}"):
        layers.Dense(2)(value)


@pytest.mark.parametrize("units", [-3, 0, 2.5, 3.0, True, "4"])
def test_dense_units_must_be_a_positive_int(units):
    with pytest.raises(ValueError, match=rf"Dense: units must be a positive int\. Received: units={units!r}"):
        layers.Dense(units)


def test_unknown_activation_name_is_refused():
    with pytest.raises(ValueError, match=r"activation identifier.*'relux'.*'relu'"):
        layers.Dense(3, activation="relux")
    with pytest.raises(ValueError, match=r"'sigmod'"):
        layers.Activation("sigmod")


@pytest.mark.parametrize("rate", [-0.1, 1.5, "0.5", None])
def test_dropout_rate_out_of_range(rate):
    message = (
        rf"Dropout: rate must be a float in the "
        rf"range \[0, 1\]\. Received: rate={rate!r}"
    )
    with pytest.raises(ValueError, match=message):
        layers.Dropout(rate)


def test_reshape_to_an_impossible_target():
    with pytest.raises(ValueError, match=r"cannot reshape a sample of shape \(6,\) into target_shape \(4,\)"):
        layers.Reshape((4,))(np.ones((2, 6)))
    with pytest.raises(ValueError, match=r"cannot reshape a sample of shape \(7,\) into target_shape \(-1, 2\)"):
        layers.Reshape((-1, 2))(np.ones((2, 7)))
    with pytest.raises(ValueError, match=r"at most one -1\. Received: target_shape=\(-1, -1\)"):
        layers.Reshape((-1, -1))
    with pytest.raises(ValueError, match=r"positive ints.*Received: target_shape=\(0, 3\)"):
        layers.Reshape((0, 3))
    with pytest.raises(TypeError, match=r"Reshape: target_shape must be a tuple of ints\. Received: target_shape=5"):
        layers.Reshape(5)


def test_concatenate_with_mismatched_shapes():
    message = (
        r"matching shapes except on the concatenation "
        r"axis 1.*\(2, 3, 4\), \(2, 3, 5\)"
    )
    with pytest.raises(ValueError, match=message):
        layers.Concatenate(axis=1)([np.ones((2, 3, 4)), np.ones((2, 3, 5))])
    with pytest.raises(ValueError, match=r"axis=0 is not a feature axis"):
        layers.Concatenate(axis=0)([np.ones((2, 3)), np.ones((2, 3))])
    with pytest.raises(ValueError, match=r"list of at least 2 inputs.*single input of shape \(2, 3\)"):
        layers.Concatenate()(np.ones((2, 3)))
    with pytest.raises(TypeError, match=r"Concatenate: axis must be an int\. Received: axis=1\.0"):
        layers.Concatenate(axis=1.0)


def test_add_with_mismatched_shapes():
    with pytest.raises(ValueError, match=r"Add 'add': inputs have incompatible shapes.*axis 1: sizes \[3, 4\].*\(2, 3\), \(2, 4\)"):
        layers.Add()([np.ones((2, 3)), np.ones((2, 4))])
    with pytest.raises(ValueError, match=r"list of at least 1 inputs. Received: a single input of shape \(2, 3\)"):
        layers.Add()(np.ones((2, 3)))
    a, b = cl.Input((3,)), cl.Input((4,))
    with pytest.raises(ValueError, match=r"incompatible shapes.*\(None, 3\), \(None, 4\)"):
        layers.Add()([a, b])


def test_set_weights_with_wrong_count_or_shape():
    layer = layers.Dense(3)
    layer(np.ones((1, 2)))
    with pytest.raises(ValueError, match=r"expects 2 weights, but received 1 weights: shapes \[\(2, 3\)\]"):
        layer.set_weights([np.ones((2, 3))])
    with pytest.raises(ValueError, match=r"weight 'bias' has shape \(3,\), but received a value of shape \(4,\)"):
        layer.set_weights([np.ones((2, 3)), np.ones(4)])


def test_unknown_keyword_and_count_params_before_build():
    with pytest.raises(TypeError, match=r"Dense: unrecognized keyword arguments: \['unit'\]"):
        layers.Dense(3, unit=4)
    with pytest.raises(ValueError, match=r"count_params.*isn't built"):
        layers.Dense(3).count_params()
    with pytest.raises(ValueError, match=r"input_dim must be a positive int\. Received: input_dim=-1"):
        layers.Dense(3, input_dim=-1)
    with pytest.raises(ValueError, match=r"Flatten: data_format.*Received: data_format='nhwc'"):
        layers.Flatten(data_format="nhwc")


def test_symbolic_tensor_has_no_values():
    with pytest.raises(TypeError, match=r"symbolic KerasTensor.*has no values"):
        np.asarray(cl.Input((3,)))


# ----------------------------------------------------------- shape properties
SHAPE_SETTINGS = settings(max_examples=25, deadline=None)
sizes = st.integers(min_value=1, max_value=6)


@SHAPE_SETTINGS
@given(batch=sizes, features=sizes, units=sizes, middle=st.one_of(st.none(), sizes))
def test_dense_output_and_gradient_shapes(batch, features, units, middle):
    shape = (batch, features) if middle is None else (batch, middle, features)
    layer = layers.Dense(units)
    x = np.ones(shape, dtype="float32")
    y = layer(x)
    assert y.shape == layer.compute_output_shape(shape) == shape[:-1] + (units,)
    assert layer.backward(np.ones_like(y)).shape == shape
    assert layer.grads["kernel"].shape == (features, units)


@SHAPE_SETTINGS
@given(batch=sizes, dims=st.lists(sizes, min_size=1, max_size=3), channels_first=st.booleans())
def test_flatten_output_and_gradient_shapes(batch, dims, channels_first):
    shape = (batch, *dims)
    layer = layers.Flatten(data_format="channels_first" if channels_first else "channels_last")
    y = layer(np.zeros(shape))
    assert y.shape == layer.compute_output_shape(shape) == (batch, math.prod(dims))
    assert layer.backward(np.ones_like(y)).shape == shape


@SHAPE_SETTINGS
@given(batch=sizes, a=sizes, b=sizes, c=sizes, use_minus_one=st.booleans())
def test_reshape_output_and_gradient_shapes(batch, a, b, c, use_minus_one):
    shape = (batch, a * b, c)
    target = (-1, c, a) if use_minus_one else (b, c, a)
    layer = layers.Reshape(target)
    y = layer(np.zeros(shape))
    assert y.shape == layer.compute_output_shape(shape) == (batch, b, c, a)
    assert layer.backward(np.ones_like(y)).shape == shape


@SHAPE_SETTINGS
@given(batch=sizes, widths=st.lists(sizes, min_size=2, max_size=4), rows=sizes, axis=st.sampled_from([1, -1]))
def test_concatenate_output_and_gradient_shapes(batch, widths, rows, axis):
    shapes = [(batch, rows, w) if axis == -1 else (batch, w, rows) for w in widths]
    layer = layers.Concatenate(axis=axis)
    y = layer([np.zeros(s) for s in shapes])
    assert y.shape == layer.compute_output_shape(shapes)
    assert y.shape[axis] == sum(widths)
    grads = layer.backward(np.ones_like(y))
    assert [g.shape for g in grads] == shapes
