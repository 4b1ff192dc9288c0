"""Every core and merging layer gives tf.keras's forward and backward, computed in the same test.

Both layers get the same weights (random normal, copied with
``set_weights``); the forward outputs, the input gradients and the weight
gradients (``tf.GradientTape.gradient(y, [x] + weights, output_gradients=dy)``)
are compared in float32.

Measured against tf.keras 3.15 on CPU (inputs 2*N(0, 1), weights N(0, 1)):
Activation with relu, Dropout, Flatten, Reshape, Concatenate and Add are
bit-exact; Dense forwards agree to 4.8e-7 absolute at worst (mish) and
Dense gradients to 1.4e-6 absolute (mish), most to 2.4e-7, from a different
summation order and transcendental kernels. Hence rtol 1e-5 with atol 1e-6.
"""
import numpy as np
import pytest

import course_lib as cl

tf = pytest.importorskip("tensorflow")
from keras_tape import keras_forward_backward  # noqa: E402
keras = tf.keras

pytestmark = pytest.mark.parity

RTOL, ATOL = 1e-5, 1e-6

# threshold needs two arguments no Dense passes (it fails in Keras too); Keras 3.15's sparsemax is wrong when
# several entries are kept (keras-team/keras#23425): test_more_activations_parity covers both.
ACTIVATIONS = [None] + sorted(set(cl.activations._BY_NAME) - {"threshold", "sparsemax"})

CASES = (
    [(f"Dense-{a}", "Dense", {"units": 4, "activation": a}, [(3, 5)]) for a in ACTIVATIONS]
    + [
        ("Dense-no-bias", "Dense", {"units": 3, "activation": "tanh", "use_bias": False}, [(4, 6)]),
        ("Dense-3d", "Dense", {"units": 3, "activation": "softmax"}, [(2, 4, 5)]),
        ("Activation-relu", "Activation", {"activation": "relu"}, [(3, 7)]),
        ("Activation-softmax", "Activation", {"activation": "softmax"}, [(3, 7)]),
        ("Activation-selu", "Activation", {"activation": "selu"}, [(3, 7)]),
        ("Dropout-inference", "Dropout", {"rate": 0.5}, [(4, 6)]),
        ("Flatten", "Flatten", {}, [(2, 3, 4, 5)]),
        ("Flatten-channels_first", "Flatten", {"data_format": "channels_first"}, [(2, 3, 4, 5)]),
        ("Reshape", "Reshape", {"target_shape": (6, 2)}, [(2, 3, 4)]),
        ("Reshape-minus-one", "Reshape", {"target_shape": (-1, 2)}, [(2, 3, 4)]),
        ("Concatenate-last", "Concatenate", {"axis": -1}, [(2, 3, 4), (2, 3, 2)]),
        ("Concatenate-axis1", "Concatenate", {"axis": 1}, [(2, 3, 4), (2, 5, 4)]),
        ("Add-three", "Add", {}, [(3, 4), (3, 4), (3, 4)]),
        # Keras's merge layers broadcast: size-1 axes stretch, a lower rank gets axes after the batch.
        ("Add-broadcast", "Add", {}, [(3, 4), (3, 1)]),
        ("Subtract-broadcast", "Subtract", {}, [(3, 4), (3, 1)]),
        ("Multiply-three-broadcast", "Multiply", {}, [(3, 4), (3, 4), (3, 1)]),
        ("Average-lower-rank", "Average", {}, [(2, 3, 4), (2, 4)]),
        ("Maximum-three", "Maximum", {}, [(3, 4), (3, 4), (3, 4)]),
        ("Minimum-broadcast", "Minimum", {}, [(3, 4), (3, 1)]),
        ("LeakyReLU-default", "LeakyReLU", {}, [(3, 5)]),
        ("LeakyReLU-0.05", "LeakyReLU", {"negative_slope": 0.05}, [(2, 3, 4)]),
        ("ThresholdedReLU-default", "ThresholdedReLU", {}, [(3, 5)]),
        ("ThresholdedReLU-0.1", "ThresholdedReLU", {"theta": 0.1}, [(2, 3, 4)]),  # config: float32's 0.1
    ]
)


@pytest.mark.parametrize("class_name, kwargs, shapes", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_layer_matches_keras_forward_and_gradients(class_name, kwargs, shapes):
    generator = np.random.default_rng(0)
    xs = [(2 * generator.standard_normal(shape)).astype("float32") for shape in shapes]
    keras_layer = getattr(keras.layers, class_name)(**kwargs)
    ours = getattr(cl.layers, class_name)(**kwargs)
    keras_layer(xs if len(xs) > 1 else xs[0])
    keras_layer.set_weights([generator.standard_normal(w.shape).astype("float32") for w in keras_layer.get_weights()])
    ours(xs if len(xs) > 1 else xs[0])
    ours.set_weights(keras_layer.get_weights())
    assert [w.shape for w in ours.get_weights()] == [tuple(w.shape) for w in keras_layer.get_weights()]

    y = ours(xs if len(xs) > 1 else xs[0])
    dy = generator.standard_normal(y.shape).astype("float32")
    dx = ours.backward(dy)
    received = (list(dx) if len(xs) > 1 else [dx]) + [ours.grads[n] for n in ours.trainable_weight_names]
    expected_y, expected = keras_forward_backward(keras_layer, xs, dy)

    assert y.dtype == np.float32 and y.shape == expected_y.shape
    np.testing.assert_allclose(y, expected_y, rtol=RTOL, atol=ATOL, err_msg="forward")
    assert len(received) == len(expected)
    for index, (mine, theirs) in enumerate(zip(received, expected)):
        np.testing.assert_allclose(mine, theirs, rtol=RTOL, atol=ATOL, err_msg=f"gradient {index}")


@pytest.mark.parametrize("class_name, kwargs, shapes", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_output_shape_and_config_match_keras(class_name, kwargs, shapes):
    keras_layer = getattr(keras.layers, class_name)(**kwargs)
    ours = getattr(cl.layers, class_name)(**kwargs)
    batch_shapes = [(None,) + shape[1:] for shape in shapes]
    expected = keras_layer.compute_output_shape(batch_shapes if len(shapes) > 1 else batch_shapes[0])
    assert ours.compute_output_shape(batch_shapes if len(shapes) > 1 else batch_shapes[0]) == tuple(expected)
    # The bridge rebuilds the same layer from Keras's config and back.
    rebuilt = cl.testing.layer_from_keras(keras_layer)
    assert type(rebuilt) is type(ours)
    back = cl.testing.layer_to_keras(ours)
    for key, value in kwargs.items():
        if key == "activation":
            assert rebuilt.activation.name == ours.activation.name
            assert keras.activations.serialize(back.activation) == keras.activations.serialize(keras_layer.activation)
        else:
            assert getattr(rebuilt, key) == getattr(back, key) == value


def test_dropout_training_statistics_and_mask_match_keras_rule():
    rate = 0.3
    x = np.ones((400, 50), dtype="float32")
    keras_y = keras.layers.Dropout(rate, seed=1)(x, training=True).numpy()
    layer = cl.layers.Dropout(rate, seed=1)
    ours_y = layer(x, training=True)
    for y in (keras_y, ours_y):
        assert abs(np.mean(y == 0) - rate) < 0.01
        np.testing.assert_allclose(y[y != 0], 1 / (1 - rate), rtol=1e-6)
    # Backward in training mode reuses the forward's mask: the same rule as tf's gradient.
    dy = np.random.default_rng(2).standard_normal(x.shape).astype("float32")
    np.testing.assert_allclose(layer.backward(dy), dy * ours_y, rtol=1e-6)
    tensor = tf.constant(x)
    keras_layer = keras.layers.Dropout(rate, seed=3)
    with tf.GradientTape() as tape:
        tape.watch(tensor)
        keras_out = keras_layer(tensor, training=True)
    keras_dx = tape.gradient(keras_out, tensor, output_gradients=tf.constant(dy)).numpy()
    np.testing.assert_allclose(keras_dx, dy * keras_out.numpy(), rtol=1e-6)


def test_dropout_with_rate_one_drops_everything_as_keras_does():
    x = np.random.default_rng(0).standard_normal((4, 5)).astype("float32")
    layer = cl.layers.Dropout(1.0)
    np.testing.assert_array_equal(layer(x, training=True), keras.layers.Dropout(1.0)(x, training=True).numpy())
    np.testing.assert_array_equal(layer.backward(np.ones_like(x)), np.zeros_like(x))
    np.testing.assert_array_equal(layer(x, training=False), x)


def test_a_merge_layer_accepts_a_list_of_one_input_as_keras_does():
    x = np.random.default_rng(0).standard_normal((3, 4)).astype("float32")
    for name in ("Add", "Multiply", "Average", "Maximum", "Minimum"):
        ours = getattr(cl.layers, name)()
        np.testing.assert_array_equal(ours([x]), getattr(keras.layers, name)()([x]).numpy())
        (dx,) = ours.backward(np.ones_like(x))
        assert dx.shape == x.shape


@pytest.mark.parametrize("name", ["add", "subtract", "multiply", "average", "maximum", "minimum", "concatenate"])
def test_functional_merge_helpers_match_keras(name):
    generator = np.random.default_rng(1)
    a, b = (generator.standard_normal((3, 4)).astype("float32") for _ in range(2))
    inputs = [cl.Input((4,)), cl.Input((4,))]
    model = cl.Model(inputs, getattr(cl.layers, name)(inputs))
    keras_inputs = [keras.Input((4,)), keras.Input((4,))]
    keras_model = keras.Model(keras_inputs, getattr(keras.layers, name)(keras_inputs))
    np.testing.assert_allclose(model([a, b]), keras_model([a, b]).numpy(), rtol=1e-6)


def _without_sharing_ids(value):
    if isinstance(value, dict):
        return {k: _without_sharing_ids(v) for k, v in value.items() if k != "shared_object_id"}
    if isinstance(value, (list, tuple)):
        return [_without_sharing_ids(v) for v in value]
    return value


@pytest.mark.parametrize("class_name, kwargs, shapes", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_get_config_is_keras_get_config(class_name, kwargs, shapes):
    keras_layer = getattr(keras.layers, class_name)(name="same", **kwargs)
    ours = getattr(cl.layers, class_name)(name="same", **kwargs)
    batch_shapes = [(None,) + shape[1:] for shape in shapes]
    keras_layer.build(batch_shapes if len(shapes) > 1 else batch_shapes[0])
    ours.build(batch_shapes if len(shapes) > 1 else batch_shapes[0])
    assert _without_sharing_ids(ours.get_config()) == _without_sharing_ids(keras_layer.get_config())


def test_input_layer_config_is_keras_config():
    ours = cl.Input((3, 2), name="pixels", dtype="int32").node.layer.get_config()
    theirs = keras.Input((3, 2), name="pixels", dtype="int32")._keras_history[0].get_config()
    assert ours == theirs


def test_thresholded_relu_cuts_at_theta_itself_and_round_trips_through_keras_files(tmp_path):
    # At x == theta both libraries output 0 and pass no gradient (x > theta, strictly).
    x = np.array([[-1.0, 0.0, 0.25, 0.5, 0.75, 3.0]], dtype="float32")
    theirs = keras.Sequential([keras.Input((6,)), keras.layers.ThresholdedReLU(theta=0.5)])
    theirs.save(tmp_path / "keras.keras")
    ours = cl.models.load_model(tmp_path / "keras.keras")
    np.testing.assert_array_equal(ours.predict(x, verbose=0), theirs.predict(x, verbose=0))
    ours.layers[-1](x)
    np.testing.assert_array_equal(ours.layers[-1].backward(np.ones_like(x)), [[0, 0, 0, 0, 1, 1]])
    ours.save(tmp_path / "ours.keras")  # tf.keras finds it only under its legacy module
    np.testing.assert_array_equal(keras.models.load_model(tmp_path / "ours.keras").predict(x, verbose=0),
                                  theirs.predict(x, verbose=0))


@pytest.mark.parametrize("theta, error", [(None, ValueError), (-1, ValueError), ("1", TypeError)])
def test_thresholded_relu_refuses_a_bad_theta_as_keras_does(theta, error):
    with pytest.raises(error):
        keras.layers.ThresholdedReLU(theta=theta)
    with pytest.raises(error, match="ThresholdedReLU: theta"):
        cl.layers.ThresholdedReLU(theta=theta)
