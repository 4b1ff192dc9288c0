"""Embedding, Masking and TimeDistributed give tf.keras's numbers, computed in the same test.

Layers and models get the same weights (copied with ``set_weights``); forward
outputs, masks and the gradients of ``sum(y * dy)`` (``tf.GradientTape``,
``output_gradients=dy``) with respect to every weight (and the float inputs)
are compared in float32. Keras's gradient of ``embeddings`` is a
``tf.IndexedSlices`` (one slice per token read); it is densified (duplicates
summed) before the comparison.

Measured on tf.keras 3.15 CPU, float32: Embedding forward and Masking are
bit-exact; the embeddings gradient agrees within 4.8e-7 absolute (TensorFlow
sums the repeated ids' slices in float32, course_lib's bincount in float64);
the masked Embedding+LSTM and Embedding+GRU+TimeDistributed(Dense) models
within 2.4e-7 forward and in every weight gradient; TimeDistributed alone
within 9.5e-7 (the Conv1D and LSTM weight gradients sum over batch*time);
``fit`` losses, accuracies and final weights within 2.4e-7. Compared with
rtol 1e-5 and atol 1e-6 (1e-5 for TimeDistributed's gradients, as for the
convolutional and recurrent families).

Keras behaviour pinned here (see the tests' docstrings):
- Keras on TensorFlow applies Adam to an Embedding's sparse gradient with
  the second moment summed over the occurrences of each id,
  ``v = b2*v + (1-b2) * sum_i g_i**2``, where the dense gradient gives
  ``(sum_i g_i)**2``; course_lib (like Keras on JAX) uses the dense gradient.
  So a ``fit`` with Adam is compared against a Keras Adam that densifies its
  gradients, and the sparse rule itself is pinned on one optimizer step.
- Token ids out of range: TensorFlow on a CPU raises; a fractional float id
  is truncated by Keras (cast to int32). course_lib raises ValueError for both.
"""
import numpy as np
import pytest

import course_lib as cl
from course_lib.preprocessing.sequence import pad_sequences

tf = pytest.importorskip("tensorflow")
from keras_tape import keras_forward_backward  # noqa: E402
keras = tf.keras

pytestmark = pytest.mark.parity

RTOL, ATOL = 1e-5, 1e-6
N, T, V = 6, 7, 12


def _dense(gradient):
    return tf.convert_to_tensor(gradient).numpy()


def _padded_ids(rng, samples=N, steps=T, vocabulary=V):
    """Ragged on purpose: rows padded at the end, at the start, one with a hole, one all padding."""
    sequences = [rng.integers(1, vocabulary, length) for length in rng.integers(1, steps + 1, samples)]
    ids = pad_sequences(sequences, maxlen=steps, padding="post")
    ids[1::2] = pad_sequences(sequences[1::2], maxlen=steps, padding="pre")
    ids[0, :] = rng.integers(1, vocabulary, steps)
    ids[0, 3] = 0  # a hole
    ids[-1, :] = 0  # nothing but padding
    return ids


def _copy_random_weights(keras_object, course_object, rng, scale=0.5):
    weights = [rng.normal(size=w.shape).astype("float32") * scale for w in keras_object.get_weights()]
    keras_object.set_weights(weights)
    course_object.set_weights(weights)


# ------------------------------------------------------------------ Embedding
@pytest.mark.parametrize("shape", [(4, 9), (3, 2, 5)], ids=["sequences", "rank-3"])
@pytest.mark.parametrize("mask_zero", [False, True])
def test_embedding_forward_mask_and_gradient_match_keras(shape, mask_zero, rng):
    ids = rng.integers(0, 6, shape)  # a vocabulary of 10, ids below 6: many repeats, rows never read
    keras_layer = keras.layers.Embedding(10, 3, mask_zero=mask_zero)
    ours = cl.layers.Embedding(10, 3, mask_zero=mask_zero)
    keras_layer.build(shape)
    ours.build(shape)
    _copy_random_weights(keras_layer, ours, rng, scale=1.0)
    dy = rng.normal(size=shape + (3,)).astype("float32")
    with tf.GradientTape() as tape:
        expected = keras_layer(tf.constant(ids))
    (gradient,) = tape.gradient(expected, keras_layer.trainable_weights, output_gradients=tf.constant(dy))
    assert isinstance(gradient, tf.IndexedSlices)

    out = ours(ids)
    assert ours.backward(dy) is None
    np.testing.assert_array_equal(out, expected.numpy())
    np.testing.assert_allclose(ours.grads["embeddings"], _dense(gradient), rtol=RTOL, atol=ATOL)
    keras_mask = keras_layer.compute_mask(tf.constant(ids))
    if mask_zero:
        np.testing.assert_array_equal(ours.compute_mask(ids), keras_mask.numpy())
    else:
        assert keras_mask is None and ours.compute_mask(ids) is None
    assert ours.supports_masking == keras_layer.supports_masking


def test_float_ids_holding_whole_numbers_give_keras_rows(rng):
    ids = rng.integers(0, 10, (3, 4)).astype("float32")
    keras_layer, ours = keras.layers.Embedding(10, 2), cl.layers.Embedding(10, 2)
    keras_layer.build((3, 4))
    ours.build((3, 4))
    _copy_random_weights(keras_layer, ours, rng)
    np.testing.assert_array_equal(ours(ids), keras_layer(ids).numpy())


def test_keras_behaviour_at_bad_ids_is_pinned(rng):
    """Keras (TensorFlow, CPU) raises for an id >= input_dim and truncates a fractional float id;
    course_lib raises a ValueError for both (on every device)."""
    keras_layer, ours = keras.layers.Embedding(10, 2), cl.layers.Embedding(10, 2)
    keras_layer.build((1, 2))
    ours.build((1, 2))
    _copy_random_weights(keras_layer, ours, rng)
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"10 is not in \[0, 10\)"):
        keras_layer(np.array([[1, 10]]))
    with pytest.raises(ValueError, match="from 1 to 10"):
        ours(np.array([[1, 10]]))
    truncated = keras_layer(np.array([[1.7, 2.2]], "float32")).numpy()
    np.testing.assert_array_equal(truncated, keras_layer.get_weights()[0][[[1, 2]]])
    with pytest.raises(ValueError, match="whole numbers"):
        ours(np.array([[1.7, 2.2]], "float32"))


def test_input_length_warns_in_both_libraries_and_neither_config_has_it():
    with pytest.warns(UserWarning, match="input_length"):
        keras_layer = keras.layers.Embedding(100, 8, input_length=5)
    with pytest.warns(UserWarning, match="input_length"):
        ours = cl.layers.Embedding(100, 8, input_length=5)
    assert "input_length" not in keras_layer.get_config() and "input_length" not in ours.get_config()


# -------------------------------------------------------------------- Masking
@pytest.mark.parametrize("mask_value", [0.0, -1.0])
def test_masking_matches_keras_forward_mask_and_gradient(mask_value, rng):
    x = rng.normal(size=(4, 5, 3)).astype("float32")
    x[0, 1] = mask_value
    x[2, 3:] = mask_value
    x[3, 0, 0] = mask_value  # one feature equal to mask_value: the step is kept
    keras_layer, ours = keras.layers.Masking(mask_value), cl.layers.Masking(mask_value)
    dy = rng.normal(size=x.shape).astype("float32")
    expected, (expected_dx,) = keras_forward_backward(keras_layer, [x], dy)
    out = ours(x)
    np.testing.assert_array_equal(out, expected)
    np.testing.assert_array_equal(ours.backward(dy), expected_dx)
    np.testing.assert_array_equal(ours.compute_mask(x), keras_layer.compute_mask(tf.constant(x)).numpy())


# ------------------------------------------------------------ TimeDistributed
TIME_DISTRIBUTED_CASES = [
    ("Dense", lambda k: k.layers.Dense(4, activation="tanh"), (3, 5, 6)),
    ("Dense-softmax-rank-4", lambda k: k.layers.Dense(3, activation="softmax"), (2, 3, 4, 5)),
    ("Conv1D", lambda k: k.layers.Conv1D(2, 3, padding="same", activation="relu"), (2, 4, 6, 3)),
    ("MaxPooling1D", lambda k: k.layers.MaxPooling1D(2), (2, 3, 6, 2)),
    ("LSTM", lambda k: k.layers.LSTM(3), (2, 3, 4, 2)),
]


@pytest.mark.parametrize("make, shape", [c[1:] for c in TIME_DISTRIBUTED_CASES],
                         ids=[c[0] for c in TIME_DISTRIBUTED_CASES])
def test_time_distributed_matches_keras(make, shape, rng):
    x = rng.normal(size=shape).astype("float32")
    keras_layer, ours = keras.layers.TimeDistributed(make(keras)), cl.layers.TimeDistributed(make(cl))
    keras_layer(x)
    ours(x)
    _copy_random_weights(keras_layer, ours, rng)
    assert [w.shape for w in ours.get_weights()] == [tuple(w.shape) for w in keras_layer.get_weights()]
    dy = rng.normal(size=tuple(keras_layer(x).shape)).astype("float32")
    expected, expected_grads = keras_forward_backward(keras_layer, [x], dy)
    out = ours(x)
    received = [ours.backward(dy)] + [ours.grads[name] for name in ours.trainable_weight_names]
    np.testing.assert_allclose(out, expected, rtol=RTOL, atol=ATOL)
    assert len(received) == len(expected_grads)
    for index, (mine, theirs) in enumerate(zip(received, expected_grads)):
        np.testing.assert_allclose(mine, theirs, rtol=RTOL, atol=1e-5, err_msg=f"gradient {index}")


def test_time_distributed_lstm_takes_the_folded_mask_as_keras_does(rng):
    ids = rng.integers(1, V, (3, 4, 5))
    ids[0, 1, 2:] = 0
    ids[1, :, :1] = 0
    ids[2, 3] = 0

    def build(k):
        inputs = k.Input(shape=(4, 5), dtype="int32")
        vectors = k.layers.Embedding(V, 3, mask_zero=True)(inputs)
        return k.Model(inputs, k.layers.TimeDistributed(k.layers.LSTM(2))(vectors))

    keras_model, ours = build(keras), build(cl)
    _copy_random_weights(keras_model, ours, rng)
    np.testing.assert_allclose(ours.predict(ids, verbose=0), keras_model.predict(ids, verbose=0), rtol=RTOL, atol=ATOL)


# ---------------------------------------------------------- masked models
def _lstm_model(k):
    return k.Sequential([k.Input(shape=(T,), dtype="int32"), k.layers.Embedding(V, 4, mask_zero=True),
                         k.layers.LSTM(5)])


def _seq2seq_model(k, classes=4):
    return k.Sequential([
        k.Input(shape=(T,), dtype="int32"), k.layers.Embedding(V, 4, mask_zero=True),
        k.layers.GRU(5, return_sequences=True), k.layers.TimeDistributed(k.layers.Dense(classes, activation="softmax")),
    ])


@pytest.mark.parametrize("build", [_lstm_model, _seq2seq_model],
                         ids=["embedding-lstm", "embedding-gru-timedistributed"])
def test_masked_model_forward_and_weight_gradients_match_keras(build, rng):
    ids = _padded_ids(rng)
    keras_model, ours = build(keras), build(cl)
    _copy_random_weights(keras_model, ours, rng)
    with tf.GradientTape() as tape:
        expected = keras_model(tf.constant(ids))
    dy = rng.normal(size=tuple(expected.shape)).astype("float32")
    expected_grads = tape.gradient(expected, keras_model.trainable_weights, output_gradients=tf.constant(dy))

    out = ours(ids)
    ours.backward(dy)
    np.testing.assert_allclose(out, expected.numpy(), rtol=RTOL, atol=ATOL)
    assert len(ours.trainable_weight_names) == len(expected_grads)
    for name, theirs in zip(ours.trainable_weight_names, expected_grads):
        np.testing.assert_allclose(ours.grads[name], _dense(theirs), rtol=RTOL, atol=ATOL, err_msg=name)
    np.testing.assert_array_equal(ours.grads[f"{ours.layers[0].name}/embeddings"][0], 0.0)  # the padding row


def _seq2seq_task(rng, samples=48, classes=4):
    return _padded_ids(rng, samples=samples), rng.integers(0, classes, (samples, T))


class DenseGradientAdam(keras.optimizers.Adam):
    """Keras's Adam, given dense gradients: what course_lib's Adam (and Keras on JAX) compute."""

    def apply(self, grads, trainable_variables=None):
        grads = [_dense_tensor(g) for g in grads]
        return super().apply(grads, trainable_variables)


def _dense_tensor(gradient):
    return tf.convert_to_tensor(gradient) if isinstance(gradient, tf.IndexedSlices) else gradient


@pytest.mark.slow
@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_fit_a_masked_seq2seq_model_matches_keras(optimizer, rng):
    """compile + fit (3 epochs, shuffle=False): the masked loss and masked accuracy, per epoch.

    The loss at padded steps counts for nothing, the others are averaged
    (Keras's ``apply_mask``); labels at padded steps are random on purpose.
    """
    x, y = _seq2seq_task(rng)
    keras_model, ours = _seq2seq_model(keras), _seq2seq_model(cl)
    ours.set_weights(keras_model.get_weights())
    keras_optimizer = keras.optimizers.SGD(0.5) if optimizer == "sgd" else DenseGradientAdam(0.01)
    course_optimizer = cl.optimizers.SGD(0.5) if optimizer == "sgd" else cl.optimizers.Adam(0.01)
    keras_model.compile(optimizer=keras_optimizer, loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    ours.compile(optimizer=course_optimizer, loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    np.testing.assert_allclose(ours.evaluate(x, y, verbose=0), keras_model.evaluate(x, y, verbose=0), rtol=1e-6)
    keras_history = keras_model.fit(x, y, batch_size=16, epochs=3, shuffle=False, verbose=0).history
    course_history = ours.fit(x, y, batch_size=16, epochs=3, shuffle=False, verbose=0).history
    np.testing.assert_allclose(course_history["loss"], keras_history["loss"], rtol=1e-4)
    np.testing.assert_allclose(course_history["accuracy"], keras_history["accuracy"], atol=1e-6)
    for theirs, mine in zip(keras_model.get_weights(), ours.get_weights()):
        np.testing.assert_allclose(mine, theirs, rtol=1e-4, atol=1e-5)


def test_keras_adam_on_an_embedding_gradient_sums_squares_per_occurrence(rng):
    """Pins why plain Keras Adam differs on an Embedding: its sparse second moment.

    One Adam step from zero slots, ``lr=0.01``, on an ``IndexedSlices`` gradient
    in which row 1 appears three times and row 2 once. With ``m = 0.1 * sum_i g_i`` and
    ``v = 0.001 * sum_i g_i**2`` (per occurrence) Keras's step is
    ``alpha * m / (sqrt(v) + 1e-7)``, ``alpha = lr * sqrt(0.001) / 0.1``; given the dense
    gradient, ``v = 0.001 * (sum_i g_i)**2`` as course_lib's Adam computes.
    """
    start = rng.normal(size=(4, 3)).astype("float32")
    values = rng.normal(size=(4, 3)).astype("float32")
    indices = np.array([1, 2, 1, 1])
    sparse = tf.IndexedSlices(tf.constant(values), tf.constant(indices), dense_shape=tf.constant([4, 3]))
    summed = np.zeros((4, 3), "float32")
    squares = np.zeros((4, 3), "float32")
    np.add.at(summed, indices, values)
    np.add.at(squares, indices, values ** 2)
    alpha = 0.01 * np.sqrt(1 - 0.999) / (1 - 0.9)

    def keras_step(gradient):
        variable = keras.Variable(start)
        keras.optimizers.Adam(0.01).apply([gradient], [variable])
        return start - variable.numpy()

    def course_step(gradient):
        weights = cl.backend.xp.array(start)
        optimizer = cl.optimizers.Adam(0.01)
        optimizer.build([weights])
        optimizer.apply([gradient], [weights])
        return start - weights

    expected_sparse = alpha * 0.1 * summed / (np.sqrt(0.001 * squares) + 1e-7)
    expected_dense = alpha * 0.1 * summed / (np.sqrt(0.001 * summed ** 2) + 1e-7)
    np.testing.assert_allclose(keras_step(sparse), expected_sparse, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(keras_step(tf.convert_to_tensor(sparse)), expected_dense, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(course_step(summed), expected_dense, rtol=1e-5, atol=1e-7)
    assert not np.allclose(expected_sparse[1], expected_dense[1], rtol=1e-2)  # row 1 (three reads) differs
    np.testing.assert_allclose(expected_sparse[2], expected_dense[2], rtol=1e-6)  # row 2 (one read) does not


# ----------------------------------------------------------------- configs
CONFIG_CASES = [
    ("embedding", lambda k: k.layers.Embedding(50, 8)),
    ("embedding-options", lambda k: k.layers.Embedding(
        30, 4, mask_zero=True, embeddings_initializer="glorot_uniform", embeddings_regularizer="l2",
        embeddings_constraint="non_neg", activity_regularizer="l1", dtype="float64")),
    ("masking", lambda k: k.layers.Masking(mask_value=-1.0)),
    ("time-distributed", lambda k: k.layers.TimeDistributed(k.layers.Dense(3, activation="relu"))),
    ("time-distributed-trainable", lambda k: k.layers.TimeDistributed(k.layers.Conv1D(2, 3), trainable=False)),
]


def _without_names(value):
    if isinstance(value, dict):
        return {k: _without_names(v) for k, v in value.items() if k not in ("name", "build_config")}
    return value


@pytest.mark.parametrize("make", [c[1] for c in CONFIG_CASES], ids=[c[0] for c in CONFIG_CASES])
def test_config_matches_keras_and_crosses_over(make):
    keras_layer, ours = make(keras), make(cl)
    assert _without_names(ours.get_config()) == _without_names(keras_layer.get_config())
    rebuilt_in_keras = cl.testing.layer_to_keras(ours)
    assert _without_names(rebuilt_in_keras.get_config()) == _without_names(keras_layer.get_config())
    rebuilt_here = cl.testing.layer_from_keras(keras_layer)
    assert _without_names(rebuilt_here.get_config()) == _without_names(ours.get_config())


def test_keras_file_with_embedding_and_time_distributed_moves_both_ways(tmp_path, rng):
    x = _padded_ids(rng)
    keras_model, ours = _seq2seq_model(keras), _seq2seq_model(cl)
    _copy_random_weights(keras_model, ours, rng)
    expected = keras_model.predict(x, verbose=0)
    ours.save(tmp_path / "course.keras")
    np.testing.assert_allclose(keras.models.load_model(tmp_path / "course.keras").predict(x, verbose=0),
                               expected, rtol=RTOL, atol=ATOL)
    keras_model.save(tmp_path / "keras.keras")
    reloaded = cl.load_model(tmp_path / "keras.keras")
    assert isinstance(reloaded.layers[-1], cl.layers.TimeDistributed)
    np.testing.assert_allclose(reloaded.predict(x, verbose=0), expected, rtol=RTOL, atol=ATOL)
    keras_model.save_weights(tmp_path / "keras.weights.h5")
    fresh = _seq2seq_model(cl)
    fresh.load_weights(tmp_path / "keras.weights.h5")
    np.testing.assert_allclose(fresh.predict(x, verbose=0), expected, rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_global_average_pooling_1d_averages_the_kept_steps_as_keras_does(data_format, rng):
    """Embedding(mask_zero) -> GlobalAveragePooling1D -> Dense: the mean over the real tokens only.

    (channels_first reads (batch, features, steps): a Permute would be needed after an Embedding,
    so that case feeds the pooling layer directly with a mask.)"""
    if data_format == "channels_first":
        x = rng.normal(size=(4, 3, 6)).astype("float32")
        mask = np.array([[1, 1, 1, 0, 0, 0], [1] * 6, [0, 1, 1, 1, 1, 0], [1, 0, 0, 0, 0, 0]], bool)
        theirs, ours = keras.layers.GlobalAveragePooling1D(data_format), cl.layers.GlobalAveragePooling1D(data_format)
        tensor = tf.constant(x)
        with tf.GradientTape() as tape:
            tape.watch(tensor)
            expected = theirs(tensor, mask=tf.constant(mask))
        dy = rng.normal(size=tuple(expected.shape)).astype("float32")
        expected_dx = tape.gradient(expected, tensor, output_gradients=tf.constant(dy))
        np.testing.assert_allclose(ours(x, mask=mask), expected.numpy(), rtol=RTOL, atol=ATOL)
        np.testing.assert_allclose(ours.backward(dy), expected_dx.numpy(), rtol=RTOL, atol=ATOL)
        return
    ids = _padded_ids(rng)

    def build(k):
        return k.Sequential([k.Input(shape=(T,), dtype="int32"), k.layers.Embedding(V, 4, mask_zero=True),
                             k.layers.GlobalAveragePooling1D(), k.layers.Dense(2)])

    keras_model, ours = build(keras), build(cl)
    _copy_random_weights(keras_model, ours, rng)
    with tf.GradientTape() as tape:
        expected = keras_model(tf.constant(ids))
    dy = rng.normal(size=tuple(expected.shape)).astype("float32")
    expected_grads = tape.gradient(expected, keras_model.trainable_weights, output_gradients=tf.constant(dy))
    np.testing.assert_allclose(ours(ids), expected.numpy(), rtol=RTOL, atol=ATOL)
    ours.backward(dy)
    for name, theirs in zip(ours.trainable_weight_names, expected_grads):
        np.testing.assert_allclose(ours.grads[name], _dense(theirs), rtol=RTOL, atol=ATOL, err_msg=name)
    # The padding changes nothing: the first real row's mean equals the mean of its tokens alone.
    row = ids[0][ids[0] != 0]
    embeddings = ours.layers[0].get_weights()[0]
    np.testing.assert_allclose(ours.layers[1](embeddings[ids[:1]], mask=ids[:1] != 0)[0], embeddings[row].mean(axis=0),
                               rtol=1e-6)
