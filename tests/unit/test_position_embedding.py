"""PositionEmbedding and SinePositionEncoding (keras_hub's layers): numbers, gradients, contract, bad input.

PositionEmbedding's table gradient is checked against central differences in
float64 (relative error < 1e-6), and the layer against tf.keras's
``Embedding(sequence_length, hidden)`` applied to ``start_index + arange(T)``
with the same table (values and table gradient, in the same test).
SinePositionEncoding is compared with the formula evaluated with TensorFlow
ops (tf.pow, tf.sin, tf.cos) in the test, and with its classic properties.
The TensorFlow tests are marked ``parity`` and skipped without TensorFlow.
Measured in float32: the position embedding equals Keras's lookup exactly
(its table gradient within 1e-6); the sinusoid is within 4.8e-7 of the
TensorFlow formula up to 64 positions (3e-5 at 512 positions, where an angle
near 511 has a float32 spacing of 6e-5 and the two sines round differently),
hence the 1e-5 tolerance on the cases below.
keras_hub is not installed here, so its layers cannot be run side by side.
"""
import re
import warnings

import numpy as np
import pytest

import course_lib as cl
from course_lib import layers

GRADIENT_TOLERANCE = 1e-6


def _normal(shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


def _table_layer(sequence_length, shape, seed=1, **kwargs):
    layer = layers.PositionEmbedding(sequence_length, **kwargs)
    layer.build(shape)
    layer.set_weights([_normal(layer.position_embeddings.shape, seed)])
    return layer


class _StartingAt(layers.PositionEmbedding):
    """A PositionEmbedding called with a fixed start_index, so that the gradient checker can call it."""

    def __init__(self, start, **kwargs):
        super().__init__(**kwargs)
        self.start = start

    def __call__(self, inputs, training=None, mask=None):
        return super().__call__(inputs, training=training, mask=mask, start_index=self.start)


def _numpy_sine(steps, hidden, max_wavelength=10000, start=0):
    """The Transformer paper's table in float64, written pair by pair: sin(p / w^(2k/d)), cos(p / w^(2k/d))."""
    table = np.empty((steps, hidden))
    for position in range(steps):
        for feature in range(hidden):
            pair = feature // 2
            angle = (start + position) / max_wavelength ** (2 * pair / hidden)
            table[position, feature] = np.sin(angle) if feature % 2 == 0 else np.cos(angle)
    return table


# ------------------------------------------------------- PositionEmbedding
@pytest.mark.parametrize("sequence_length, shape, start", [(6, (3, 6, 4), 0), (10, (2, 4, 3), 0),
                                                         (10, (2, 4, 3), 5), (8, (2, 3, 5, 4), 2)],
                         ids=["full", "shorter", "start_index", "rank-4"])
def test_position_embedding_gradients_match_central_differences(sequence_length, shape, start):
    with cl.backend.floatx_scope("float64"):
        layer = _StartingAt(start, sequence_length=sequence_length)
        layer.build(shape)
        layer.set_weights([_normal(layer.position_embeddings.shape)])
        x = _normal(shape, seed=2)
        report = cl.testing.assert_gradients_close(layer, x, tolerance=GRADIENT_TOLERANCE, max_entries=200)
        assert set(report.entries) == {"input", "embeddings"}
        report = cl.testing.assert_gradients_close(layer, x, upstream=3 * _normal(shape, seed=3) + 1,
                                                   tolerance=GRADIENT_TOLERANCE, max_entries=200)
    layer(x)
    dx = layer.backward(_normal(shape, seed=4))
    np.testing.assert_array_equal(dx, np.zeros(shape))  # the output does not depend on the input's values
    unread = np.ones(sequence_length, bool)
    unread[start:start + shape[-2]] = False
    assert np.all(layer.grads["embeddings"][unread] == 0) and np.any(layer.grads["embeddings"][~unread] != 0)


def test_position_embedding_returns_the_rows_of_the_positions_broadcast():
    layer = _table_layer(7, (None, 7, 3))
    table = layer.position_embeddings.numpy()
    x = _normal((2, 4, 3)).astype("float32")
    y = layer(x)
    assert y.shape == (2, 4, 3) and y.dtype == np.float32
    np.testing.assert_array_equal(y[0], table[:4])
    np.testing.assert_array_equal(y[1], table[:4])
    np.testing.assert_array_equal(layer(x, start_index=3)[1], table[3:7])
    np.testing.assert_array_equal(layer(100 * x - 5), y)  # the values are not read
    assert layer(np.zeros((1, 7, 3), "float32"), start_index=0).shape == (1, 7, 3)
    deeper = layer(np.zeros((2, 5, 2, 3), "float32"))
    np.testing.assert_array_equal(deeper[1, 4], table[:2])  # the last two axes are positions, features
    y[0, 0, 0] = 42.0  # a writable array of its own, not a view of the table
    assert layer.position_embeddings.numpy()[0, 0] == table[0, 0]


def test_position_embedding_table_gradient_sums_over_the_leading_axes():
    layer = _table_layer(5, (None, 5, 2))
    dy = _normal((3, 2, 4, 2)).astype("float32")
    layer(np.zeros((3, 2, 4, 2), "float32"), start_index=1)
    dx = layer.backward(dy)
    assert dx.shape == dy.shape and not np.any(dx)
    expected = np.zeros((5, 2), "float32")
    expected[1:5] = dy.sum(axis=(0, 1))
    np.testing.assert_allclose(layer.grads["embeddings"], expected, rtol=1e-6, atol=1e-6)


def test_position_embedding_in_a_model_trains_the_rows_it_reads():
    """tokens + positions, as in a Transformer; a fit changes only the rows of positions 0..T-1."""
    inputs = cl.Input((4,), dtype="int32")
    tokens = layers.Embedding(10, 3)(inputs)
    position = layers.PositionEmbedding(6, name="position")
    outputs = layers.Dense(1)(layers.Flatten()(layers.Add()([tokens, position(tokens)])))
    model = cl.Model(inputs, outputs)
    model.compile(optimizer="adam", loss="mse")
    before = position.get_weights()[0]
    generator = np.random.default_rng(0)
    model.fit(generator.integers(0, 10, (16, 4)), generator.standard_normal((16, 1)).astype("float32"),
              epochs=2, verbose=0)
    after = position.get_weights()[0]
    assert np.all(np.any(after[:4] != before[:4], axis=1))
    np.testing.assert_array_equal(after[4:], before[4:])


def test_position_embedding_passes_the_mask_through():
    """Embedding(mask_zero) -> PositionEmbedding -> GlobalAveragePooling1D averages the kept positions."""
    model = cl.Sequential([cl.Input((4,), dtype="int32"), layers.Embedding(5, 3, mask_zero=True),
                           layers.PositionEmbedding(4), layers.GlobalAveragePooling1D()])
    table = model.layers[1].position_embeddings.numpy()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a dropped mask would warn
        y = model.predict(np.array([[1, 2, 0, 0], [3, 0, 0, 0]]), verbose=0)
    np.testing.assert_allclose(y, [table[:2].mean(axis=0), table[0]], rtol=1e-6)


def test_position_embedding_contract_weights_and_config():
    layer = cl.testing.layer_test(layers.PositionEmbedding, kwargs={"sequence_length": 8}, input_shape=(2, 5, 3),
                                  expected_output_shape=(2, 5, 3), expected_num_weights=1, expected_num_params=24)
    assert [w.path for w in layer.weights] == [f"{layer.name}/embeddings"]
    assert layer.weights[0] is layer.position_embeddings and layer.weights[0].shape == (8, 3)
    config = layers.PositionEmbedding(12, initializer="zeros", name="pos").get_config()
    assert config["sequence_length"] == 12 and config["initializer"]["class_name"] == "Zeros"
    assert config["name"] == "pos"
    assert layers.PositionEmbedding.from_config(config).get_config() == config
    rebuilt = layers.deserialize({"class_name": "PositionEmbedding", "config": config,
                                  "build_config": {"input_shape": [None, 12, 5]}})
    assert isinstance(rebuilt, layers.PositionEmbedding) and rebuilt.position_embeddings.shape == (12, 5)
    np.testing.assert_array_equal(rebuilt.position_embeddings.numpy(), 0)


def test_position_embedding_glorot_uniform_table():
    """keras_hub's default: glorot_uniform with fan_in = sequence_length, fan_out = hidden."""
    layer = layers.PositionEmbedding(50)
    layer.build((None, 50, 30))
    table = layer.position_embeddings.numpy()
    limit = np.sqrt(6 / (50 + 30))
    assert np.all(np.abs(table) <= limit) and np.abs(table).max() > 0.9 * limit


def test_a_symbolic_call_builds_the_table():
    inputs = cl.Input((None, 6))
    layer = layers.PositionEmbedding(16)
    assert layer(inputs).shape == (None, None, 6)
    assert layer.position_embeddings.shape == (16, 6)


@pytest.mark.parametrize("sequence_length", [0, -3, None, True, 2.5, "8"])
def test_position_embedding_refuses_a_bad_sequence_length(sequence_length):
    with pytest.raises(ValueError, match=r"PositionEmbedding 'pos': sequence_length must be a positive int.*"
                                         rf"Received: sequence_length={re.escape(repr(sequence_length))}"):
        layers.PositionEmbedding(sequence_length, name="pos")


def test_position_embedding_refuses_a_longer_input():
    layer = layers.PositionEmbedding(4, name="pos")
    with pytest.raises(ValueError, match=r"PositionEmbedding 'pos': the input has 5 positions, more than the "
                                         r"table's sequence_length=4 .*Received: input with shape \(2, 5, 3\)"):
        layer(np.zeros((2, 5, 3), "float32"))
    with pytest.raises(ValueError, match=r"the input has 3 positions from start_index=2, more than the table's "
                                         r"sequence_length=4 \(positions 2 to 4 asked, 0 to 3 learned\)"):
        layer(np.zeros((2, 3, 3), "float32"), start_index=2)
    with pytest.raises(ValueError, match=r"'pos': the input has 6 positions"):
        layer(cl.Input((6, 3)))
    model = cl.Sequential([cl.Input((None, 3)), layers.PositionEmbedding(4, name="pos_in_model")])
    with pytest.raises(ValueError, match=r"'pos_in_model': the input has 7 positions"):
        model.predict(np.zeros((1, 7, 3), "float32"), verbose=0)


def test_position_embedding_refuses_another_hidden_size():
    layer = layers.PositionEmbedding(4, name="pos")
    layer(np.zeros((2, 4, 3), "float32"))
    with pytest.raises(ValueError, match=r"PositionEmbedding 'pos': the input's hidden size \(last axis\) must "
                                         r"be 3, the size the table \(4, 3\) was built with\. Received: input "
                                         r"with shape \(2, 4, 5\)"):
        layer(np.zeros((2, 4, 5), "float32"))
    with pytest.raises(ValueError, match=r"'pos': the hidden size \(the input's last axis\) must be known"):
        layers.PositionEmbedding(4, name="pos").build((None, 4, None))


@pytest.mark.parametrize("layer_class, kwargs", [(layers.PositionEmbedding, {"sequence_length": 4}),
                                                 (layers.SinePositionEncoding, {})])
def test_both_refuse_a_rank_1_input_and_a_bad_start_index(layer_class, kwargs):
    layer = layer_class(name="positions", **kwargs)
    where = layer_class.__name__
    with pytest.raises(ValueError, match=rf"{where} 'positions': expected an input of rank >= 2.*Received: input "
                                         r"with shape \(4,\)"):
        layer(np.zeros(4, "float32"))
    for start in (-1, 1.5, True, "2"):
        with pytest.raises(ValueError, match=rf"{where} 'positions': start_index must be a non-negative int\. "
                                             rf"Received: start_index={re.escape(repr(start))}"):
            layer(np.zeros((1, 2, 4), "float32"), start_index=start)
    with pytest.raises(ValueError, match=rf"{where} 'positions': start_index is an argument of a call on arrays"):
        layer(cl.Input((2, 4)), start_index=1)
    assert layer(cl.Input((2, 4)), start_index=0).shape == (None, 2, 4)
    with pytest.raises(TypeError, match="unrecognized keyword arguments"):
        layer_class(seq_axis=1, **kwargs)


# --------------------------------------------------- SinePositionEncoding
@pytest.mark.parametrize("steps, hidden, max_wavelength, start", [(9, 8, 10000, 0), (5, 7, 10000, 0),
                                                                  (6, 4, 50, 3), (1, 1, 10000, 0)],
                         ids=["even", "odd-hidden", "wavelength-start", "one-by-one"])
def test_sine_encoding_equals_the_transformer_formula(steps, hidden, max_wavelength, start):
    with cl.backend.floatx_scope("float64"):
        layer = layers.SinePositionEncoding(max_wavelength=max_wavelength)
        y = layer(np.zeros((2, steps, hidden)), start_index=start)
    assert y.shape == (2, steps, hidden)
    expected = _numpy_sine(steps, hidden, max_wavelength, start)
    np.testing.assert_allclose(y[0], expected, rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(y[1], y[0])


def test_sine_encoding_classic_properties():
    y = layers.SinePositionEncoding()(np.zeros((1, 50, 16), "float32"))[0]
    assert y.dtype == np.float32
    assert np.all(np.abs(y) <= 1)
    np.testing.assert_array_equal(y[0, 0::2], 0)  # position 0: sin 0 = 0 on the even features
    np.testing.assert_array_equal(y[0, 1::2], 1)  # and cos 0 = 1 on the odd ones
    # Each pair is a point on the unit circle, and feature pair 0 turns one radian per position.
    np.testing.assert_allclose(y[:, 0::2] ** 2 + y[:, 1::2] ** 2, 1, rtol=1e-6)
    np.testing.assert_allclose(y[:, 0], np.sin(np.arange(50)), rtol=1e-5, atol=1e-6)
    # The later pairs turn more slowly (longer wavelengths): position 1's angles decrease along the pairs.
    angles = np.arctan2(y[1, 0::2], y[1, 1::2])
    assert np.all(np.diff(angles) < 0)


def test_sine_encoding_start_index_shifts_the_table_and_values_are_not_read():
    layer = layers.SinePositionEncoding()
    long = layer(np.zeros((1, 10, 6), "float32"))
    np.testing.assert_allclose(layer(np.zeros((1, 3, 6), "float32"), start_index=7), long[:, 7:], rtol=1e-6)
    x = _normal((2, 10, 6)).astype("float32")
    np.testing.assert_array_equal(layer(x)[1], long[0])
    rank_4 = layer(np.zeros((2, 3, 10, 6), "float32"))
    np.testing.assert_array_equal(rank_4[1, 2], long[0])


def test_sine_encoding_input_gradient_is_zero_and_it_has_no_weights():
    with cl.backend.floatx_scope("float64"):
        layer = layers.SinePositionEncoding()
        x = _normal((2, 5, 4))
        report = cl.testing.assert_gradients_close(layer, x, tolerance=GRADIENT_TOLERANCE)
    assert set(report.entries) == {"input"}
    layer(x)
    np.testing.assert_array_equal(layer.backward(_normal((2, 5, 4), seed=1)), np.zeros((2, 5, 4)))
    assert layer.grads == {} and layer.weights == [] and layer.count_params() == 0


def test_sine_encoding_contract_and_config():
    layer = cl.testing.layer_test(layers.SinePositionEncoding, kwargs={"max_wavelength": 500},
                                  input_shape=(2, 5, 3), expected_output_shape=(2, 5, 3),
                                  expected_num_weights=0, expected_num_params=0)
    config = layer.get_config()
    assert config["max_wavelength"] == 500
    assert layers.SinePositionEncoding().get_config()["max_wavelength"] == 10000
    rebuilt = layers.deserialize({"class_name": "SinePositionEncoding", "config": config})
    assert isinstance(rebuilt, layers.SinePositionEncoding) and rebuilt.get_config() == config


def test_sine_encoding_in_a_model_passes_the_mask_and_the_token_gradient():
    model = cl.Sequential([cl.Input((4,), dtype="int32"), layers.Embedding(5, 6, mask_zero=True),
                           layers.SinePositionEncoding(), layers.GlobalAveragePooling1D()])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        y = model.predict(np.array([[1, 2, 3, 0]]), verbose=0)
    table = layers.SinePositionEncoding()(np.zeros((1, 3, 6), "float32"))[0]
    np.testing.assert_allclose(y[0], table.mean(axis=0), rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("max_wavelength", [0, -10, float("nan"), float("inf"), True, "10000", None])
def test_sine_encoding_refuses_a_bad_max_wavelength(max_wavelength):
    with pytest.raises(ValueError, match=r"SinePositionEncoding 'sine': max_wavelength must be a positive "
                                         rf"number.*Received: max_wavelength={re.escape(repr(max_wavelength))}"):
        layers.SinePositionEncoding(max_wavelength=max_wavelength, name="sine")


def test_strict_backend_gives_numpy_numbers():
    x, dy = _normal((2, 5, 4)), _normal((2, 5, 4), seed=1)
    results = []
    for name in ("numpy", "strict"):
        cl.backend.clear_session()
        with cl.backend.backend_scope(name), cl.backend.floatx_scope("float64"):
            xp = cl.backend.xp
            table = _table_layer(7, x.shape)
            outputs = [table(xp.asarray(x), start_index=2), table.backward(xp.asarray(dy)),
                       table.grads["embeddings"]]
            sine = layers.SinePositionEncoding()
            outputs += [sine(xp.asarray(x), start_index=3), sine.backward(xp.asarray(dy))]
            results.append([cl.backend.to_numpy(value) for value in outputs])
    for numpy_value, strict_value in zip(*results):
        np.testing.assert_array_equal(numpy_value, strict_value)


# ------------------------------------------------------ against TensorFlow
@pytest.mark.parity
@pytest.mark.parametrize("sequence_length, shape, start", [(6, (3, 6, 4), 0), (10, (2, 4, 3), 5)])
def test_position_embedding_is_a_keras_embedding_of_the_positions(sequence_length, shape, start):
    """Same table: ours equals tf.keras's Embedding(sequence_length, hidden)(start + arange(T)), values and
    table gradient (Keras's IndexedSlices densified)."""
    tf = pytest.importorskip("tensorflow")
    keras_embedding = tf.keras.layers.Embedding(sequence_length, shape[-1])
    keras_embedding.build((None, shape[1]))
    ours = layers.PositionEmbedding(sequence_length)
    ours.build(shape)
    ours.set_weights(keras_embedding.get_weights())
    generator = np.random.default_rng(0)
    dy = generator.standard_normal(shape).astype("float32")
    ids = tf.constant(np.tile(start + np.arange(shape[1]), (shape[0], 1)))
    with tf.GradientTape() as tape:
        expected = keras_embedding(ids)
    gradient = tf.convert_to_tensor(tape.gradient(expected, keras_embedding.embeddings, output_gradients=dy))
    y = ours(generator.standard_normal(shape).astype("float32"), start_index=start)
    ours.backward(dy)
    np.testing.assert_array_equal(y, expected.numpy())
    np.testing.assert_allclose(ours.grads["embeddings"], gradient.numpy(), rtol=1e-6, atol=1e-6)
    assert np.any(gradient.numpy() != 0)


@pytest.mark.parity
@pytest.mark.parametrize("steps, hidden, max_wavelength, start", [(64, 32, 10000, 0), (20, 9, 10000, 4),
                                                                  (12, 6, 100, 0)])
def test_sine_encoding_equals_the_formula_in_tensorflow_ops(steps, hidden, max_wavelength, start):
    tf = pytest.importorskip("tensorflow")
    positions = tf.cast(tf.range(steps) + start, tf.float32)[:, None]
    pair_exponent = tf.cast(2 * (tf.range(hidden) // 2), tf.float32) / tf.cast(hidden, tf.float32)
    angles = positions * tf.pow(tf.constant(1 / max_wavelength, tf.float32), pair_exponent)[None, :]
    odd = tf.cast(tf.range(hidden) % 2, tf.float32)
    expected = (tf.sin(angles) * (1 - odd) + tf.cos(angles) * odd).numpy()
    y = layers.SinePositionEncoding(max_wavelength=max_wavelength)(np.zeros((2, steps, hidden), "float32"),
                                                                  start_index=start)
    assert y.dtype == np.float32
    np.testing.assert_allclose(y[0], expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(y[1], expected, rtol=1e-5, atol=1e-5)
    assert np.all(np.abs(expected) <= 1)
