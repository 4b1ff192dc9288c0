"""EinsumDense: Keras's reading of the equation, weight shapes, errors and float64 gradient checks."""
import numpy as np
import pytest

import course_lib as cl
from course_lib import backend, initializers
from course_lib.layers.einsum_dense import analyze_einsum_string

layers = cl.layers

# (id, equation, output_shape, bias_axes, input shape, kernel shape, bias shape or None, output shape)
CASES = [
    ("dense", "ab,bc->ac", 4, "c", (3, 5), (5, 4), (4,), (3, 4)),
    ("dense-no-bias", "ab,bc->ac", 4, None, (3, 5), (5, 4), None, (3, 4)),
    ("sequence", "abc,cd->abd", (None, 4), "d", (2, 3, 5), (5, 4), (4,), (2, 3, 4)),
    ("ellipsis-left", "...x,xy->...y", 4, "y", (2, 3, 5), (5, 4), (4,), (2, 3, 4)),
    ("ellipsis-left-rank-2", "...x,xy->...y", 4, "y", (2, 5), (5, 4), (4,), (2, 4)),
    ("ellipsis-left-rank-4", "...b,bc->...c", 4, "c", (2, 3, 2, 5), (5, 4), (4,), (2, 3, 2, 4)),
    ("ellipsis-right", "ab...,bc->ac...", (4,), "c", (2, 5, 3), (5, 4), (4, 1), (2, 4, 3)),
    ("heads", "abc,cde->abde", (3, 2, 4), "de", (2, 3, 5), (5, 2, 4), (2, 4), (2, 3, 2, 4)),
    ("heads-last-bias", "abc,cde->abde", (3, 2, 4), "e", (2, 3, 5), (5, 2, 4), (4,), (2, 3, 2, 4)),
    ("summed-input-axis", "abc,cd->ad", 4, "d", (2, 3, 5), (5, 4), (4,), (2, 4)),
    ("output-back", "abcd,cde->abe", (3, 4), "be", (2, 3, 5, 6), (5, 6, 4), (3, 4), (2, 3, 4)),
    ("transposed-out", "abc,bd->adc", (4, 5), "dc", (2, 3, 5), (3, 4), (4, 5), (2, 4, 5)),
]
IDS = [c[0] for c in CASES]


@pytest.mark.parametrize("equation, output_shape, bias_axes, shape, kernel, bias, out",
                         [c[1:] for c in CASES], ids=IDS)
def test_weight_and_output_shapes(equation, output_shape, bias_axes, shape, kernel, bias, out):
    layer = layers.EinsumDense(equation, output_shape, bias_axes=bias_axes)
    y = layer(np.ones(shape, "float32"))
    assert y.shape == out and y.dtype == np.float32
    assert layer.kernel.shape == kernel
    assert (layer.bias is None and bias is None) or layer.bias.shape == bias
    assert [w.name for w in layer.weights] == (["kernel"] if bias is None else ["kernel", "bias"])
    # Keras leaves an output_shape entry of None as None here (its symbolic shape too).
    symbolic = layer.compute_output_shape((None,) + shape[1:])
    assert len(symbolic) == len(out) and symbolic[0] is None
    assert all(s is None or s == o for s, o in zip(symbolic[1:], out[1:]))


@pytest.mark.parametrize("equation, output_shape, bias_axes, shape, kernel, bias, out",
                         [c[1:] for c in CASES], ids=IDS)
def test_gradients_in_float64(equation, output_shape, bias_axes, shape, kernel, bias, out):
    with backend.floatx_scope("float64"):
        layer = layers.EinsumDense(equation, output_shape, bias_axes=bias_axes, activation="tanh",
                                   bias_initializer="glorot_uniform")
        report = cl.testing.assert_gradients_close(layer, np.random.default_rng(0).normal(size=shape))
    assert set(report.entries) == ({"input", "kernel"} | ({"bias"} if bias else set()))
    assert report.max_error < 1e-6


def test_forward_is_the_einsum_plus_bias(rng):
    layer = layers.EinsumDense("abc,cde->abde", (3, 2, 4), bias_axes="de", bias_initializer="glorot_uniform")
    x = rng.normal(size=(2, 3, 5)).astype("float32")
    y = layer(x)
    kernel, bias = layer.get_weights()
    np.testing.assert_allclose(y, np.einsum("abc,cde->abde", x, kernel) + bias, rtol=1e-6, atol=1e-6)
    dense = layers.Dense(4)
    dense(x[:, 0])
    same = layers.EinsumDense("ab,bc->ac", 4, bias_axes="c")
    same(x[:, 0])
    same.set_weights(dense.get_weights())
    np.testing.assert_allclose(same(x[:, 0]), dense(x[:, 0]), rtol=1e-6, atol=1e-6)


def test_several_elided_axes_keep_their_order_in_the_output_shape():
    # Keras 3.15 inserts them in reverse, (None, 2, 3, 4), though its call returns (batch, 3, 2, 4).
    layer = layers.EinsumDense("...b,bc->...c", 4)
    assert layer.compute_output_shape((None, 3, 2, 5)) == (None, 3, 2, 4)
    assert layers.Flatten()(layer(cl.Input((3, 2, 5)))).shape == (None, 24)


def test_summed_input_axis_gets_a_broadcast_gradient():
    layer = layers.EinsumDense("abc,cd->ad", 2)
    x = np.ones((2, 3, 4), "float32")
    layer(x)
    dx = layer.backward(np.ones((2, 2), "float32"))
    assert dx.shape == x.shape
    np.testing.assert_allclose(dx, np.broadcast_to(layer.kernel.numpy().sum(axis=1), x.shape), rtol=1e-6)


def test_the_kernel_initializer_counts_fans_on_the_einsum_axes():
    _, _, _, input_axes, output_axes = analyze_einsum_string("abc,cde->abde", None, (None, 3, 8), (3, 2, 4))
    assert (input_axes, output_axes) == ([0], [1, 2])
    layer = layers.EinsumDense("abc,cde->abde", (3, 2, 4), kernel_initializer=initializers.VarianceScaling(
        scale=1.0, mode="fan_in", distribution="uniform", seed=1))
    layer(np.ones((1, 3, 8), "float32"))
    limit = np.sqrt(3.0 / 8)  # fan_in 8, not the convolution-style count of Keras's compute_fans
    kernel = layer.kernel.numpy()
    assert np.abs(kernel).max() <= limit and np.abs(kernel).max() > 0.8 * limit
    # The layer keeps the initializer as given: its config has no axes.
    assert layer.get_config()["kernel_initializer"]["config"]["input_axes"] is None


def test_config_and_from_config():
    layer = layers.EinsumDense("...x,xy->...y", 6, activation="relu", bias_axes="y", name="ed",
                               kernel_regularizer="l2")
    config = layer.get_config()
    assert config["equation"] == "...x,xy->...y" and config["output_shape"] == (6,)
    assert config["bias_axes"] == "y" and config["activation"] == "relu"
    assert config["activity_regularizer"] is None and config["quantization_config"] is None
    assert "use_bias" not in config and "lora_rank" not in config
    again = layers.EinsumDense.from_config(config)
    assert again.get_config() == config
    assert layers.deserialize(layers.serialize(layer)).get_config() == config


def test_a_model_with_einsum_dense_trains_and_round_trips(tmp_path):
    inputs = cl.Input((3, 4))
    hidden = layers.EinsumDense("abc,cd->abd", (3, 5), bias_axes="d", activation="relu", name="ed")(inputs)
    outputs = layers.EinsumDense("abd,bde->ae", 2, bias_axes="e", name="head")(hidden)
    model = cl.Model(inputs, outputs)
    assert model.outputs[0].shape == (None, 2)
    x = np.random.default_rng(0).normal(size=(8, 3, 4)).astype("float32")
    y = np.random.default_rng(1).normal(size=(8, 2)).astype("float32")
    model.compile(optimizer="adam", loss="mse")
    first = model.train_on_batch(x, y)
    for _ in range(20):
        last = model.train_on_batch(x, y)
    assert last < first
    model.save(tmp_path / "ed.keras")
    loaded = cl.models.load_model(tmp_path / "ed.keras")
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-6, atol=1e-6)


def test_errors_name_the_layer_and_the_value():
    with pytest.raises(ValueError, match="EinsumDense: invalid einsum equation 'ab->b'"):
        layers.EinsumDense("ab->b", 3)(np.ones((2, 3), "float32"))
    with pytest.raises(ValueError, match="EinsumDense: bias dimension 'z' was requested"):
        layers.EinsumDense("ab,bc->ac", 3, bias_axes="z")(np.ones((2, 3), "float32"))
    with pytest.raises(ValueError, match="EinsumDense: dimension 'q' was specified in the output"):
        layers.EinsumDense("ab,bc->aq", 3)(np.ones((2, 3), "float32"))
    with pytest.raises(ValueError, match="EinsumDense: weight dimension 'z'"):
        layers.EinsumDense("ab,bz->ab", 3)(np.ones((2, 3), "float32"))
    with pytest.raises(ValueError, match="shared dimension 'b'. Input shape is 3, and output shape is 4"):
        layers.EinsumDense("abc,cd->abd", (4, 2))(np.ones((2, 3, 5), "float32"))
    with pytest.raises(ValueError, match="EinsumDense: each letter may appear only once.*'aa'"):
        layers.EinsumDense("aa,ab->ab", 3)
    with pytest.raises(ValueError, match="LoRA .*not supported by course_lib.*lora_rank=4"):
        layers.EinsumDense("ab,bc->ac", 3, lora_rank=4)
    with pytest.raises(ValueError, match="enable_lora is not supported"):
        layers.EinsumDense("ab,bc->ac", 3).enable_lora(2)
    with pytest.raises(ValueError, match="quantization_config.*not supported"):
        layers.EinsumDense("ab,bc->ac", 3, quantization_config="int8")
    with pytest.raises(TypeError, match="EinsumDense: equation must be a string"):
        layers.EinsumDense(None, 3)
    with pytest.raises(ValueError, match="EinsumDense: output_shape must hold positive ints"):
        layers.EinsumDense("ab,bc->ac", 0)
    with pytest.raises(TypeError, match="EinsumDense: output_shape must be an int or a tuple"):
        layers.EinsumDense("ab,bc->ac", 2.5)
    with pytest.raises(TypeError, match="EinsumDense: bias_axes must be a string"):
        layers.EinsumDense("ab,bc->ac", 3, bias_axes=1)
    with pytest.raises(ValueError, match="kernel's shape .*unknown sizes"):
        layers.EinsumDense("abc,cd->abd", (None, None)).build((None, 3, 5))
    layer = layers.EinsumDense("abc,cd->abd", (3, 2))
    layer(np.ones((2, 3, 5), "float32"))
    with pytest.raises(ValueError, match="ndim"):
        layer(np.ones((2, 5), "float32"))
