"""Embedding, Masking and TimeDistributed: gradient checks (float64, central differences,
relative error < 1e-6), the masks they hand on, the scatter-add against a naive loop, and bad input."""
import time
import warnings

import numpy as np
import pytest

import course_lib as cl
from course_lib import backend
from course_lib.layers.base import Layer
from course_lib.layers.embedding import embedding_backward, embedding_forward
from course_lib.preprocessing.sequence import pad_sequences

TOLERANCE = 1e-6


def _ids(shape, input_dim, seed=0):
    return np.random.default_rng(seed).integers(0, input_dim, shape)


# ------------------------------------------------------------------ Embedding
def test_embedding_forward_is_a_row_lookup_for_ids_of_any_rank():
    layer = cl.layers.Embedding(10, 4)
    for shape in [(3,), (2, 5), (2, 3, 4)]:
        ids = _ids(shape, 10)
        out = layer(ids)
        assert out.shape == shape + (4,) and out.dtype == np.float32
        np.testing.assert_array_equal(out, layer.get_weights()[0][ids])
        assert layer.compute_output_shape((None,) + shape[1:]) == (None,) + shape[1:] + (4,)
    assert layer.weight_names == ["embeddings"] and layer.embeddings.shape == (10, 4)


def test_embedding_default_initializer_is_keras_uniform():
    layer = cl.layers.Embedding(500, 40)
    layer(np.zeros((1, 1), "int32"))
    table = layer.get_weights()[0]
    assert np.all(np.abs(table) <= 0.05) and np.abs(table).max() > 0.045


class _EmbeddingTimesInput(Layer):
    """``Embedding(ids) * x`` for fixed ids: puts the embeddings' gradient under check_gradients.

    check_gradients perturbs the inputs by central differences, which integer ids cannot
    take; here the ids are fixed and the float input ``x`` is what is perturbed.
    """

    def __init__(self, embedding, ids, **kwargs):
        super().__init__(**kwargs)
        self.embedding, self.ids = embedding, ids

    def build(self, input_shape):
        self.embedding._maybe_build(self.ids.shape)
        self._params, self._variables = self.embedding._params, self.embedding._variables
        self._trainable_names = self.embedding._trainable_names
        self.built = True

    def forward(self, inputs, training=False):
        rows, cache = self.embedding.forward(self.ids)
        return rows * inputs, (rows, inputs, cache)

    def backward(self, output_grads, cache):
        rows, inputs, inner = cache
        dx, weight_grads = self.embedding.backward(output_grads * inputs, inner)
        assert dx is None
        return output_grads * rows, weight_grads


def test_embedding_weight_gradient_passes_the_gradient_check_with_repeated_ids():
    ids = np.array([[1, 3, 3, 0], [3, 1, 4, 4], [0, 0, 0, 2]])  # rows read 0 to 4 times; row 5 never
    with backend.floatx_scope("float64"):
        embedding = cl.layers.Embedding(6, 3, embeddings_initializer="random_normal")
        layer = _EmbeddingTimesInput(embedding, ids)
        x = np.random.default_rng(1).standard_normal(ids.shape + (3,))
        report = cl.testing.assert_gradients_close(layer, x, tolerance=TOLERANCE, max_entries=100)
    assert report.max_error < TOLERANCE and "embeddings" in report.entries
    np.testing.assert_array_equal(layer.grads["embeddings"][5], 0.0)  # never read: no gradient


def test_embedding_backward_returns_no_input_gradient_and_fills_grads():
    layer = cl.layers.Embedding(5, 2)
    layer(np.array([[1, 1, 2]]))
    dy = np.ones((1, 3, 2), "float32")
    assert layer.backward(dy) is None
    np.testing.assert_array_equal(layer.grads["embeddings"], [[0, 0], [2, 2], [1, 1], [0, 0], [0, 0]])
    assert layer.grads["embeddings"].dtype == np.float32


def _naive_scatter_add(dy, ids, input_dim):
    grads = np.zeros((input_dim, dy.shape[-1]))
    for sample in range(ids.shape[0]):
        for step in range(ids.shape[1]):
            grads[ids[sample, step]] += dy[sample, step]
    return grads


def test_the_vectorised_scatter_add_equals_the_naive_loop(capsys):
    batch, length, vocabulary, dim = 64, 500, 10000, 32
    ids = _ids((batch, length), vocabulary, seed=3)
    dy = np.random.default_rng(4).standard_normal((batch, length, dim))
    start = time.perf_counter()
    naive = _naive_scatter_add(dy, ids, vocabulary)
    naive_time = time.perf_counter() - start
    start = time.perf_counter()
    fast = embedding_backward(dy, embedding_forward(ids, np.zeros((vocabulary, dim)))[1])
    fast_time = time.perf_counter() - start
    np.testing.assert_allclose(fast, naive, rtol=1e-12, atol=1e-12)
    with capsys.disabled():
        print(f"\nembedding scatter-add: naive loop {naive_time * 1e3:.0f} ms, bincount {fast_time * 1e3:.1f} ms")


def test_embedding_gradient_in_a_model_reaches_only_the_rows_that_were_read():
    model = cl.Sequential([cl.Input(shape=(4,), dtype="int32"), cl.layers.Embedding(7, 3), cl.layers.Flatten(),
                           cl.layers.Dense(1)])
    ids = np.array([[1, 2, 2, 6]])
    model(ids)
    model.backward(np.ones((1, 1), "float32"))
    grads = model.grads["embedding/embeddings"]
    kernel = model.layers[-1].kernel.numpy().reshape(4, 3)
    np.testing.assert_allclose(grads[[0, 3, 4, 5]], 0.0)
    np.testing.assert_allclose(grads[1], kernel[0], rtol=1e-6)
    np.testing.assert_allclose(grads[2], kernel[1] + kernel[2], rtol=1e-6)
    np.testing.assert_allclose(grads[6], kernel[3], rtol=1e-6)


def test_float_ids_holding_whole_numbers_are_accepted_and_fractional_ones_refused():
    layer = cl.layers.Embedding(10, 3)
    ints = np.array([[0, 4, 9]])
    np.testing.assert_array_equal(layer(ints.astype("float32")), layer(ints))
    np.testing.assert_array_equal(layer(ints.astype("float64")), layer(ints))
    with pytest.raises(ValueError, match=r"Embedding 'embedding'.*whole numbers"):
        layer(np.array([[1.5, 2.0]]))
    with pytest.raises(ValueError, match="whole numbers"):
        layer(np.array([[np.nan, 2.0]]))


@pytest.mark.parametrize("ids, low, high", [([[1, 10, 3]], 1, 10), ([[-1, 2]], -1, 2), ([[-3, 12]], -3, 12)])
def test_ids_out_of_range_raise_naming_the_layer_the_range_and_input_dim(ids, low, high):
    layer = cl.layers.Embedding(10, 3, name="words")
    with pytest.raises(ValueError) as error:
        layer(np.array(ids))
    message = str(error.value)
    assert "Embedding 'words'" in message and f"from {low} to {high}" in message and "input_dim=10" in message


def test_mask_zero_ids_out_of_range_remind_that_padding_counts():
    with pytest.raises(ValueError, match="padding id 0 included"):
        cl.layers.Embedding(3, 2, mask_zero=True)(np.array([[1, 2, 3]]))


def test_ids_out_of_range_in_a_model_raise_too():
    model = cl.Sequential([cl.Input(shape=(3,), dtype="int32"), cl.layers.Embedding(5, 2)])
    with pytest.raises(ValueError, match=r"Embedding 'embedding'.*from 0 to 5"):
        model.predict(np.array([[0, 5, 1]]), verbose=0)


@pytest.mark.parametrize("kwargs, match", [
    ({"input_dim": 0, "output_dim": 3}, r"`input_dim` must be a positive integer. Received: input_dim=0"),
    ({"input_dim": 10.0, "output_dim": 3}, r"input_dim=10.0 \(of type float\)"),
    ({"input_dim": 10, "output_dim": -2}, r"`output_dim` must be a positive integer. Received: output_dim=-2"),
    ({"input_dim": True, "output_dim": 3}, "input_dim=True"),
    ({"input_dim": 10, "output_dim": 3, "lora_rank": 4}, "lora_rank"),
])
def test_bad_embedding_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        cl.layers.Embedding(**kwargs)


def test_string_ids_are_refused():
    with pytest.raises(TypeError, match="numeric"):
        cl.layers.Embedding(10, 2)(np.array([["a", "b"]]))


def test_input_length_of_keras_2_warns_and_is_left_out_of_the_config():
    with pytest.warns(UserWarning, match=r"input_length.*Keras 3.*length from its input"):
        layer = cl.layers.Embedding(10000, 32, input_length=100)
    assert "input_length" not in layer.get_config()
    assert layer(np.zeros((2, 7), "int32")).shape == (2, 7, 32)  # the length comes from the input


def test_weights_argument_builds_the_layer_with_that_matrix():
    table = np.arange(12, dtype="float32").reshape(4, 3)
    for weights in (table, [table]):
        layer = cl.layers.Embedding(4, 3, weights=weights)
        assert layer.built
        np.testing.assert_array_equal(layer(np.array([[3, 0]]))[0], table[[3, 0]])
    with pytest.raises(ValueError, match="shape"):
        cl.layers.Embedding(5, 3, weights=table)


def test_mask_zero_makes_the_mask_and_supports_masking():
    ids = np.array([[3, 1, 0, 0], [0, 0, 2, 5]])
    assert cl.layers.Embedding(6, 2).compute_mask(ids) is None
    assert not cl.layers.Embedding(6, 2).supports_masking
    layer = cl.layers.Embedding(6, 2, mask_zero=True)
    assert layer.supports_masking
    np.testing.assert_array_equal(layer.compute_mask(ids), ids != 0)


def test_embedding_config_round_trips():
    layer = cl.layers.Embedding(30, 5, mask_zero=True, embeddings_regularizer="l2", embeddings_constraint="non_neg",
                                name="tokens")
    config = layer.get_config()
    assert config["mask_zero"] is True and config["input_dim"] == 30 and "autocast" not in config
    clone = cl.layers.Embedding.from_config(config)
    assert clone.get_config() == config
    assert cl.layers.deserialize(cl.layers.serialize(layer)).get_config() == config


def test_symbolic_output_of_an_embedding_is_float():
    ids = cl.Input(shape=(6,), dtype="int32")
    out = cl.layers.Embedding(10, 3)(ids)
    assert out.shape == (None, 6, 3) and out.dtype == "float32"


def test_embedding_gives_the_same_numbers_under_the_strict_backend():
    results = []
    for name in ("numpy", "strict"):
        backend.clear_session()
        backend.set_seed(5)
        with backend.backend_scope(name):
            layer = cl.layers.Embedding(9, 4, mask_zero=True)
            ids = backend.xp.asarray(np.array([[1, 8, 8, 0], [2, 0, 0, 0]]))
            out = layer(ids)
            layer.backward(backend.xp.asarray(np.ones((2, 4, 4), "float32")))
            results.append([backend.to_numpy(out), backend.to_numpy(layer.grads["embeddings"]),
                            backend.to_numpy(layer.compute_mask(ids))])
    for first, second in zip(*results):
        np.testing.assert_array_equal(first, second)


# ------------------------------------------------- Embedding + RNN, masked
def _masked_lstm_model():
    return cl.Sequential([cl.Input(shape=(7,), dtype="int32"), cl.layers.Embedding(20, 4, mask_zero=True),
                          cl.layers.LSTM(3)])


@pytest.mark.parametrize("padding", ["post", "pre"])
def test_padded_steps_change_nothing_in_the_lstm_output(padding):
    model = _masked_lstm_model()
    sequences = [[5, 2, 9], [1, 2, 3, 4, 5, 6, 7], [19], [3, 3, 3, 3]]
    padded = pad_sequences(sequences, maxlen=7, padding=padding)
    outputs = model.predict(padded, verbose=0)
    embedding, lstm = model.layers
    for row, sequence in zip(outputs, sequences):
        alone = lstm(embedding(np.array([sequence])))[0]  # the same layers on the unpadded sequence
        np.testing.assert_allclose(row, alone, rtol=1e-6, atol=1e-7)
    # Without the mask the padding would count: the result must differ.
    unmasked = cl.layers.LSTM(3)
    unmasked(embedding(padded))
    unmasked.set_weights(lstm.get_weights())
    assert not np.allclose(unmasked(embedding(padded))[0], outputs[0], atol=1e-6)


def test_padding_rows_get_no_gradient_through_a_masked_lstm():
    model = _masked_lstm_model()
    padded = pad_sequences([[5, 2, 9], [1, 2]], maxlen=7, padding="post")
    model(padded)
    model.backward(np.ones((2, 3), "float32"))
    grads = model.grads["embedding/embeddings"]
    np.testing.assert_array_equal(grads[0], 0.0)  # id 0 is only padding: the LSTM skipped it
    assert np.abs(grads[[1, 2, 5, 9]]).min() > 0


# ------------------------------------------------------------------ Masking
def test_masking_zeroes_the_masked_steps_and_makes_the_mask():
    x = np.array([[[1.0, 0.0], [0.0, 0.0], [-1.0, 2.0]], [[0.0, 0.0], [0.0, 3.0], [0.0, 0.0]]], "float32")
    layer = cl.layers.Masking()
    np.testing.assert_array_equal(layer(x), x)
    np.testing.assert_array_equal(layer.compute_mask(x), [[True, False, True], [False, True, False]])
    padded = x.copy()
    padded[0, 1] = [-7.0, -7.0]
    layer = cl.layers.Masking(mask_value=-7.0)
    expected = padded.copy()
    expected[0, 1] = 0.0
    np.testing.assert_array_equal(layer(padded), expected)
    assert not layer.compute_mask(padded)[0, 1]
    assert layer.supports_masking


def test_masking_passes_the_gradient_check_and_gives_masked_steps_no_gradient():
    # A step with some features equal to mask_value is kept: its gradient passes.
    with backend.floatx_scope("float64"):
        x = np.random.default_rng(2).standard_normal((3, 4, 2))
        x[0, 1, 0] = x[2, 3, 1] = -1.0
        layer = cl.layers.Masking(mask_value=-1.0)
        report = cl.testing.assert_gradients_close(layer, x, tolerance=TOLERANCE, max_entries=100)
        # A fully masked step is a jump (its output is 0 whatever the input was close to), so
        # central differences do not apply there; its gradient is 0, as Keras's `where` gives.
        x[0, 1] = x[2, 3] = -1.0
        layer(x)
        dy = np.random.default_rng(3).standard_normal(x.shape)
        dx = layer.backward(dy)
    assert report.max_error < TOLERANCE
    expected = dy.copy()
    expected[0, 1] = expected[2, 3] = 0.0
    np.testing.assert_array_equal(dx, expected)


def test_masking_before_an_lstm_skips_the_padded_steps():
    x = np.random.default_rng(0).standard_normal((2, 5, 3)).astype("float32")
    x[0, 3:] = 0.0
    model = cl.Sequential([cl.Input(shape=(5, 3)), cl.layers.Masking(), cl.layers.LSTM(4)])
    out = model.predict(x, verbose=0)
    np.testing.assert_allclose(out[0], model.layers[1](x[:1, :3])[0], rtol=1e-6, atol=1e-7)


def test_masking_config_and_bad_mask_value():
    layer = cl.layers.Masking(mask_value=-1.0)
    assert cl.layers.Masking.from_config(layer.get_config()).mask_value == -1.0
    with pytest.raises(TypeError, match="Masking: mask_value must be a real number"):
        cl.layers.Masking(mask_value="pad")


# ----------------------------------------------------------- TimeDistributed
def test_time_distributed_dense_passes_the_gradient_check():
    with backend.floatx_scope("float64"):
        layer = cl.layers.TimeDistributed(cl.layers.Dense(3, activation="tanh"))
        x = np.random.default_rng(0).standard_normal((2, 4, 5))
        report = cl.testing.assert_gradients_close(layer, x, tolerance=TOLERANCE, max_entries=40)
    assert report.max_error < TOLERANCE and set(report.entries) == {"input", "kernel", "bias"}


def test_time_distributed_conv1d_on_sequences_of_sequences_passes_the_gradient_check():
    with backend.floatx_scope("float64"):
        layer = cl.layers.TimeDistributed(cl.layers.Conv1D(2, 3, padding="same", activation="relu"))
        x = np.random.default_rng(1).standard_normal((2, 3, 6, 4))
        report = cl.testing.assert_gradients_close(layer, x, tolerance=TOLERANCE, max_entries=40)
        assert layer(x).shape == (2, 3, 6, 2)
    assert report.max_error < TOLERANCE and set(report.entries) == {"input", "kernel", "bias"}


def test_time_distributed_applies_the_layer_to_every_step():
    dense = cl.layers.Dense(3)
    layer = cl.layers.TimeDistributed(dense)
    x = np.random.default_rng(0).standard_normal((2, 5, 4)).astype("float32")
    out = layer(x)
    assert out.shape == (2, 5, 3) and layer.compute_output_shape((None, 5, 4)) == (None, 5, 3)
    for step in range(5):
        np.testing.assert_allclose(out[:, step], dense(x[:, step]), rtol=1e-6)


def test_time_distributed_shares_the_wrapped_layers_weights_and_names():
    dense = cl.layers.Dense(3)
    layer = cl.layers.TimeDistributed(dense)
    layer(np.zeros((1, 2, 4), "float32"))
    assert layer.weight_names == ["kernel", "bias"] and layer.count_params() == 15
    assert [w is v for w, v in zip(layer.weights, dense.weights)] == [True, True]
    layer.set_weights([np.ones((4, 3)), np.zeros(3)])
    np.testing.assert_array_equal(dense.kernel.numpy(), 1.0)
    layer.trainable = False
    assert not dense.trainable and layer.trainable_weights == [] and len(layer.non_trainable_weights) == 2
    layer.trainable = True
    dense.trainable = False
    assert not layer.trainable and layer.trainable_weights == []


def test_time_distributed_wraps_an_already_built_layer_and_an_lstm():
    dense = cl.layers.Dense(2)
    dense(np.zeros((1, 3), "float32"))
    assert cl.layers.TimeDistributed(dense).weight_names == ["kernel", "bias"]
    layer = cl.layers.TimeDistributed(cl.layers.LSTM(2))
    out = layer(np.zeros((2, 3, 4, 5), "float32"))
    assert out.shape == (2, 3, 2) and layer.weight_names == ["kernel", "recurrent_kernel", "bias"]


def test_time_distributed_weight_gradients_skip_the_input_gradient():
    dense = cl.layers.Dense(3)
    layer = cl.layers.TimeDistributed(dense)
    x = np.random.default_rng(0).standard_normal((2, 4, 5)).astype("float32")
    layer(x)
    dy = np.random.default_rng(1).standard_normal((2, 4, 3)).astype("float32")
    expected = layer.backward(dy, layer._last_call)[1]

    def refuse(*args, **kwargs):
        raise AssertionError("weight_gradients computed the input gradient")

    dense.backward = refuse
    got = layer.weight_gradients(dy, layer._last_call)
    assert set(got) == {"kernel", "bias"}
    for name in got:
        np.testing.assert_allclose(got[name], expected[name], rtol=1e-6)


def test_time_distributed_passes_the_mask_through_and_folds_it_for_an_inner_rnn():
    mask = np.array([[True, True, False], [True, False, False]])
    layer = cl.layers.TimeDistributed(cl.layers.Dense(2))
    x = np.zeros((2, 3, 4), "float32")
    assert layer.compute_mask(x, mask) is mask
    # An inner LSTM on (batch, outer steps, inner steps, features) gets the mask folded like the inputs.
    ids = np.array([[[3, 1, 0], [2, 0, 0]], [[4, 4, 4], [1, 0, 0]]])
    embedding = cl.layers.Embedding(5, 3, mask_zero=True)
    lstm = cl.layers.LSTM(2)
    wrapped = cl.layers.TimeDistributed(lstm)
    vectors = embedding(ids)
    out = wrapped(vectors, mask=embedding.compute_mask(ids))
    for sample in range(2):
        for step in range(2):
            length = int((ids[sample, step] != 0).sum())
            alone = lstm(vectors[sample:sample + 1, step, :length])[0]
            np.testing.assert_allclose(out[sample, step], alone, rtol=1e-6, atol=1e-7)


def test_time_distributed_in_a_masked_seq2seq_model_trains():
    model = cl.Sequential([
        cl.Input(shape=(6,), dtype="int32"), cl.layers.Embedding(12, 4, mask_zero=True),
        cl.layers.GRU(5, return_sequences=True), cl.layers.TimeDistributed(cl.layers.Dense(3, activation="softmax")),
    ])
    x = pad_sequences([[1, 2, 3], [4, 5, 6, 7, 8, 9], [10, 11]], maxlen=6, padding="post")
    y = np.random.default_rng(0).integers(0, 3, (3, 6))
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        history = model.fit(x, y, epochs=3, verbose=0, shuffle=False)
    assert not [w for w in caught if "does not support masking" in str(w.message)]  # no layer drops the mask
    assert history.history["loss"][-1] < history.history["loss"][0]
    # Labels at padded steps do not count.
    changed = y.copy()
    changed[x == 0] = (changed[x == 0] + 1) % 3
    assert model.evaluate(x, changed, verbose=0) == pytest.approx(model.evaluate(x, y, verbose=0), rel=1e-6)


def test_time_distributed_of_an_embedding_keeps_integer_ids():
    layer = cl.layers.TimeDistributed(cl.layers.Embedding(10, 2))
    ids = _ids((2, 3, 4), 10)
    out = layer(ids)
    assert out.shape == (2, 3, 4, 2)
    np.testing.assert_array_equal(out, layer.layer.get_weights()[0][ids])
    assert layer.backward(np.ones((2, 3, 4, 2), "float32")) is None
    assert layer.grads["embeddings"].sum() == pytest.approx(2 * 3 * 4 * 2)
    symbolic = cl.layers.TimeDistributed(cl.layers.Embedding(10, 2))(cl.Input(shape=(3, 4), dtype="int32"))
    assert symbolic.dtype == "float32" and symbolic.shape == (None, 3, 4, 2)


def test_time_distributed_config_round_trips_with_the_wrapped_layer():
    layer = cl.testing.layer_test(cl.layers.TimeDistributed, {"layer": cl.layers.Dense(3, activation="relu")},
                                  input_shape=(2, 4, 5), expected_output_shape=(None, 4, 3), expected_num_weights=2)
    config = layer.get_config()
    assert config["layer"]["class_name"] == "Dense" and config["layer"]["config"]["units"] == 3
    clone = cl.layers.deserialize(cl.layers.serialize(layer))
    assert isinstance(clone.layer, cl.layers.Dense) and clone.layer.units == 3
    assert clone.weight_names == ["kernel", "bias"]


def test_time_distributed_on_two_dimensional_input_is_refused():
    layer = cl.layers.TimeDistributed(cl.layers.Dense(3), name="per_step")
    with pytest.raises(ValueError, match=r"TimeDistributed 'per_step'.*at least 3 dimensions.*\(4, 5\)"):
        layer(np.zeros((4, 5), "float32"))
    with pytest.raises(ValueError, match="at least 3 dimensions"):
        cl.layers.TimeDistributed(cl.layers.Dense(3))(cl.Input(shape=(5,)))
    built = cl.layers.TimeDistributed(cl.layers.Dense(3))
    built(np.zeros((1, 2, 5), "float32"))
    with pytest.raises(ValueError, match="at least 3 dimensions"):
        built(np.zeros((4, 5), "float32"))


def test_time_distributed_checks_the_step_shape_against_the_wrapped_layer():
    layer = cl.layers.TimeDistributed(cl.layers.Dense(3))
    layer(np.zeros((1, 2, 5), "float32"))
    with pytest.raises(ValueError, match="expected axis -1 of input shape to have value 5"):
        layer(np.zeros((1, 2, 6), "float32"))


def test_time_distributed_refuses_a_mask_that_does_not_fit():
    layer = cl.layers.TimeDistributed(cl.layers.LSTM(2))
    with pytest.raises(ValueError, match=r"mask of shape \(2, 4\).*must be \(2, 3\)"):
        layer(np.zeros((2, 3, 4, 5), "float32"), mask=np.ones((2, 4), bool))


@pytest.mark.parametrize("argument, match", [
    ("dense", r"a `keras.layers.Layer` instance. Received: layer='dense' \(of type str\)"),
    (cl.layers.Dense, r"a layer instance, not a class: `TimeDistributed\(Dense\(...\)\)`"),
    (None, "Received: layer=None"),
])
def test_time_distributed_needs_a_layer_instance(argument, match):
    with pytest.raises(ValueError, match=match):
        cl.layers.TimeDistributed(argument)


def test_time_distributed_of_a_model_is_refused():
    inner = cl.Sequential([cl.Input(shape=(3,)), cl.layers.Dense(2)])
    with pytest.raises(ValueError, match="wrapping a model is not supported"):
        cl.layers.TimeDistributed(inner)


def test_time_distributed_of_a_layer_with_several_outputs_is_refused():
    layer = cl.layers.TimeDistributed(cl.layers.LSTM(2, return_state=True))
    with pytest.raises(ValueError, match="several outputs"):
        layer(np.zeros((1, 2, 3, 4), "float32"))
