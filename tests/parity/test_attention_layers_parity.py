"""Attention and AdditiveAttention give tf.keras's numbers, computed in the same test.

Each case builds the Keras layer and the course_lib layer, gives both the same
random weights, and compares the output, the attention scores and the gradients
of ``sum(output * d_output) + sum(scores * d_scores)`` with respect to every input
and weight (``tf.GradientTape``), with the value mask, the query mask, the causal
mask, a value row masked entirely (float32 rounds ``scores - 1e9`` to a uniform
row in both), the key given or not, and Tq != Tv. Dropout is compared with
Keras's draw replaced by course_lib's mask, and Keras's real dropout is shown to
scale the kept weights as course_lib does. A functional model
Embedding(mask_zero=True) -> attention -> GlobalAveragePooling1D -> Dense, with
the same weights, predicts the same and ends three epochs of Adam or RMSprop
(Adam also on the 0-d scale weight) with the same weights.

Measured on tf.keras 3.15 CPU, float32, B=3, Tq=4, Tv=6, dim 5: outputs agree
within 3.6e-7, scores within 1.2e-7 and gradients within 3.5e-6 absolute over
every case here (largest: the 0-d weights' gradients, sums over every score);
the models' predictions and losses within 9e-8, their weights after three epochs
within 1.3e-6. Compared with rtol 1e-5, atol 1e-5 (the recurrent family's
tolerance; the trained weights with rtol 1e-4, as the other fit tests).
"""
import numpy as np
import pytest

import course_lib as cl

tf = pytest.importorskip("tensorflow")
from keras_tape import keras_forward_backward  # noqa: E402
keras = tf.keras

pytestmark = pytest.mark.parity

RTOL, ATOL = 1e-5, 1e-5
B, TQ, TV, DIM, VALUE_DIM = 3, 4, 6, 5, 3

CONFIGS = [
    ("Attention", {}),
    ("Attention", {"use_scale": True}),
    ("Attention", {"score_mode": "concat"}),
    ("Attention", {"score_mode": "concat", "use_scale": True}),
    ("AdditiveAttention", {}),
    ("AdditiveAttention", {"use_scale": False}),
]
CONFIG_IDS = [f"{name}-{sorted(options)}" for name, options in CONFIGS]


def _inputs(rng, key_given):
    query = rng.normal(size=(B, TQ, DIM)).astype("float32")
    if not key_given:
        return [query, rng.normal(size=(B, TV, DIM)).astype("float32")]
    return [query, rng.normal(size=(B, TV, VALUE_DIM)).astype("float32"),
            rng.normal(size=(B, TV, DIM)).astype("float32")]


def _masks():
    """Ragged on purpose: value steps padded at the end, at the start, and a row masked entirely."""
    query_mask = np.array([[1, 1, 1, 0], [0, 1, 1, 1], [1, 0, 1, 1]], bool)
    value_mask = np.array([[1, 1, 1, 1, 0, 0], [0, 0, 1, 1, 1, 1], [0, 0, 0, 0, 0, 0]], bool)
    return query_mask, value_mask


def _pair(name, options, inputs, rng):
    theirs, ours = getattr(keras.layers, name)(**options), getattr(cl.layers, name)(**options)
    theirs(inputs)
    ours(inputs)
    weights = [(rng.normal(size=w.shape) * 0.5 + 1).astype("float32") for w in theirs.get_weights()]
    theirs.set_weights(weights)
    ours.set_weights(theirs.get_weights())
    return theirs, ours


class _KerasCall:
    """A Keras attention layer with its call options fixed, for keras_forward_backward: the
    output and the scores come back joined along the last axis, so one upstream gradient covers both."""

    def __init__(self, layer, mask, **options):
        self.layer, self.options = layer, options
        self.mask = None if mask is None else [None if m is None else tf.constant(m) for m in mask]

    @property
    def trainable_weights(self):
        return self.layer.trainable_weights

    def __call__(self, inputs, training=False):
        output, scores = self.layer(inputs, mask=self.mask, training=training, return_attention_scores=True,
                                    **self.options)
        return tf.concat([output, scores], axis=-1)


def _assert_matches_keras(theirs, ours, inputs, rng, mask=None, training=False, **options):
    joined_dy = rng.normal(size=(B, TQ, inputs[1].shape[-1] + TV)).astype("float32")
    expected, expected_grads = keras_forward_backward(_KerasCall(theirs, mask, **options), inputs, joined_dy,
                                                      training=training)
    output, scores = ours(inputs, mask=mask, training=training, return_attention_scores=True, **options)
    split = inputs[1].shape[-1]
    np.testing.assert_allclose(output, expected[..., :split], rtol=RTOL, atol=ATOL, err_msg="output")
    np.testing.assert_allclose(scores, expected[..., split:], rtol=RTOL, atol=ATOL, err_msg="scores")
    input_grads = ours.backward([joined_dy[..., :split], joined_dy[..., split:]])
    grads = list(input_grads) + [ours.grads[name] for name in ours.trainable_weight_names]
    assert len(grads) == len(expected_grads)
    for index, (mine, keras_grad) in enumerate(zip(grads, expected_grads)):
        np.testing.assert_allclose(mine, keras_grad, rtol=RTOL, atol=ATOL, err_msg=f"gradient {index}")


@pytest.mark.parametrize("key_given", [False, True], ids=["value-as-key", "key-given"])
@pytest.mark.parametrize("causal", [False, True], ids=["full", "causal"])
@pytest.mark.parametrize("masks", ["none", "value", "query-and-value"])
@pytest.mark.parametrize("name,options", CONFIGS, ids=CONFIG_IDS)
def test_forward_scores_and_gradients_match_keras(name, options, masks, causal, key_given, rng):
    inputs = _inputs(rng, key_given)
    theirs, ours = _pair(name, options, inputs, rng)
    query_mask, value_mask = _masks()
    mask = {"none": None, "value": [None, value_mask], "query-and-value": [query_mask, value_mask]}[masks]
    _assert_matches_keras(theirs, ours, inputs, rng, mask=mask, use_causal_mask=causal)


@pytest.mark.parametrize("name,options", CONFIGS, ids=CONFIG_IDS)
def test_the_plain_call_matches_keras(name, options, rng):
    inputs = _inputs(rng, key_given=False)
    theirs, ours = _pair(name, options, inputs, rng)
    dy = rng.normal(size=(B, TQ, DIM)).astype("float32")
    expected, expected_grads = keras_forward_backward(theirs, inputs, dy)
    np.testing.assert_allclose(ours(inputs), expected, rtol=RTOL, atol=ATOL)
    grads = ours.backward(dy) + [ours.grads[name] for name in ours.trainable_weight_names]
    for index, (mine, keras_grad) in enumerate(zip(grads, expected_grads)):
        np.testing.assert_allclose(mine, keras_grad, rtol=RTOL, atol=ATOL, err_msg=f"gradient {index}")


@pytest.mark.parametrize("name,options", CONFIGS, ids=CONFIG_IDS)
def test_config_weights_and_shapes_match_keras(name, options, rng):
    theirs = getattr(keras.layers, name)(dropout=0.25, seed=3, name="att", **options)
    ours = getattr(cl.layers, name)(dropout=0.25, seed=3, name="att", **options)
    assert ours.get_config() == theirs.get_config()
    assert getattr(keras.layers, name).from_config(ours.get_config()).get_config() == theirs.get_config()
    inputs = _inputs(rng, key_given=True)
    theirs(inputs)
    ours(inputs)
    assert [w.name for w in ours.weights] == [w.name for w in theirs.weights]
    assert [tuple(w.shape) for w in ours.weights] == [tuple(w.shape) for w in theirs.weights]
    ours.set_weights(theirs.get_weights())
    for mine, keras_weight in zip(ours.get_weights(), theirs.get_weights()):
        np.testing.assert_array_equal(mine, keras_weight)
    assert ours.count_params() == theirs.count_params()
    shapes = [tuple(x.shape) for x in inputs]
    assert ours.compute_output_shape(shapes) == tuple(theirs.compute_output_shape(shapes))


@pytest.mark.parametrize("name,options", [CONFIGS[1], CONFIGS[3], CONFIGS[4]], ids=[CONFIG_IDS[i] for i in (1, 3, 4)])
def test_dropout_in_training_matches_keras_given_the_same_mask(name, options, rng, monkeypatch):
    """Keras draws through ``backend.random.dropout``; it is handed course_lib's mask here
    (the same seeded draw: ``default_rng(seed).random(shape) >= rate``, kept weights / (1 - rate))."""
    from keras.src import backend as keras_backend

    rate, seed = 0.3, 11
    kept = np.random.default_rng(seed).random((B, TQ, TV)) >= rate
    drop = (kept / (1 - rate)).astype("float32")

    def injected(inputs, rate, noise_shape=None, seed=None):
        return inputs * tf.constant(drop)

    monkeypatch.setattr(keras_backend.random, "dropout", injected)
    inputs = _inputs(rng, key_given=True)
    theirs, ours = _pair(name, dict(options, dropout=rate, seed=seed), inputs, rng)
    query_mask, value_mask = _masks()
    _assert_matches_keras(theirs, ours, inputs, rng, mask=[query_mask, value_mask], training=True,
                          use_causal_mask=True)


def test_keras_real_dropout_scales_the_kept_weights_as_course_lib_does(rng):
    inputs = _inputs(rng, key_given=False)
    for library in (keras, cl):
        layer = library.layers.Attention(dropout=0.4, seed=1)
        plain = np.asarray(layer(inputs, return_attention_scores=True)[1])
        dropped = np.asarray(layer(inputs, training=True, return_attention_scores=True)[1])
        ratio = dropped / plain
        assert np.all(np.isclose(ratio, 0.0) | np.isclose(ratio, 1 / 0.6, rtol=1e-5)), library.__name__
        assert 0 < np.count_nonzero(ratio == 0) < ratio.size


# ------------------------------------------------------------ masked models
V, T, SAMPLES = 12, 7, 24


def _padded_ids(rng):
    """Rows padded at the end, at the start, one with a hole; each keeps at least one real token."""
    ids = rng.integers(1, V, (SAMPLES, T))
    lengths = rng.integers(1, T + 1, SAMPLES)
    for row, length in enumerate(lengths):
        if row % 2:
            ids[row, :T - length] = 0
        else:
            ids[row, length:] = 0
    ids[0] = rng.integers(1, V, T)
    ids[3, 2] = 0
    ids[3, 0] = 5
    return ids


def _text_model(library, name, options, causal):
    ids = library.Input((T,), dtype="int32")
    vectors = library.layers.Embedding(V, 4, mask_zero=True)(ids)
    attended = getattr(library.layers, name)(**options)([vectors, vectors], use_causal_mask=causal)
    pooled = library.layers.GlobalAveragePooling1D()(attended)
    return library.Model(ids, library.layers.Dense(1, activation="sigmoid")(pooled))


class _DenseGradients:
    """Keras's optimizer given dense gradients, what course_lib's optimizers compute: Keras on TensorFlow
    treats an Embedding's sparse gradient differently (see test_embedding_parity.py)."""

    def apply(self, grads, trainable_variables=None):
        grads = [tf.convert_to_tensor(g) if isinstance(g, tf.IndexedSlices) else g for g in grads]
        return super().apply(grads, trainable_variables)


OPTIMIZERS = {
    "adam": (type("DenseGradientAdam", (_DenseGradients, keras.optimizers.Adam), {}), cl.optimizers.Adam),
    "rmsprop": (type("DenseGradientRMSprop", (_DenseGradients, keras.optimizers.RMSprop), {}),
                cl.optimizers.RMSprop),
}
MODEL_CASES = [
    ("Attention", {}, False, "adam"),
    ("Attention", {"use_scale": True}, False, "rmsprop"),
    ("Attention", {"score_mode": "concat", "use_scale": True}, True, "rmsprop"),
    ("AdditiveAttention", {}, False, "adam"),
    ("AdditiveAttention", {}, True, "adam"),
    ("Attention", {"use_scale": True}, True, "adam"),  # Adam on the 0-d scale weight
]


def _model_case_id(case):
    name, options, causal, optimizer = case
    return f"{name}-{sorted(options)}-{'causal' if causal else 'full'}-{optimizer}"


@pytest.mark.parametrize("name,options,causal,optimizer", MODEL_CASES, ids=[_model_case_id(c) for c in MODEL_CASES])
def test_a_masked_text_model_predicts_and_trains_like_keras(name, options, causal, optimizer, rng):
    ids, labels = _padded_ids(rng), rng.integers(0, 2, (SAMPLES, 1)).astype("float32")
    theirs, ours = _text_model(keras, name, options, causal), _text_model(cl, name, options, causal)
    theirs.set_weights([(w + rng.normal(size=w.shape) * 0.3).astype("float32") for w in theirs.get_weights()])
    ours.set_weights(theirs.get_weights())
    start = theirs.get_weights()
    np.testing.assert_allclose(ours.predict(ids, verbose=0), theirs.predict(ids, verbose=0), rtol=RTOL, atol=ATOL)
    keras_optimizer, course_optimizer = OPTIMIZERS[optimizer]
    theirs.compile(optimizer=keras_optimizer(0.05), loss="binary_crossentropy")
    ours.compile(optimizer=course_optimizer(0.05), loss="binary_crossentropy")
    keras_history = theirs.fit(ids, labels, batch_size=8, epochs=3, shuffle=False, verbose=0).history
    course_history = ours.fit(ids, labels, batch_size=8, epochs=3, shuffle=False, verbose=0).history
    np.testing.assert_allclose(course_history["loss"], keras_history["loss"], rtol=1e-5)
    assert len(ours.get_weights()) == len(theirs.get_weights())
    for index, (mine, keras_weight) in enumerate(zip(ours.get_weights(), theirs.get_weights())):
        np.testing.assert_allclose(mine, keras_weight, rtol=1e-4, atol=1e-5, err_msg=f"weight {index}")
    # Every weight moved, the attention's included: the comparison is not of untouched copies.
    assert all(not np.allclose(first, last) for first, last in zip(start, theirs.get_weights()))


def test_a_model_returning_the_scores_matches_keras(rng):
    ids = _padded_ids(rng)

    def build(library):
        inputs = library.Input((T,), dtype="int32")
        vectors = library.layers.Embedding(V, 4, mask_zero=True)(inputs)
        output, scores = library.layers.Attention(use_scale=True)([vectors, vectors], return_attention_scores=True,
                                                                   use_causal_mask=True)
        return library.Model(inputs, [library.layers.GlobalAveragePooling1D()(output), scores])

    theirs, ours = build(keras), build(cl)
    theirs.set_weights([(w + rng.normal(size=w.shape) * 0.3).astype("float32") for w in theirs.get_weights()])
    ours.set_weights(theirs.get_weights())
    for mine, keras_output in zip(ours.predict(ids, verbose=0), theirs.predict(ids, verbose=0)):
        np.testing.assert_allclose(mine, keras_output, rtol=RTOL, atol=ATOL)


def test_where_course_lib_refuses_what_keras_lets_pass(rng):
    """Pinned differences: Keras ignores a negative dropout and broadcasts a key of dim 1 in
    "concat" scores; course_lib refuses both. Both refuse a tuple of inputs."""
    query, value = rng.normal(size=(2, 3, 4)).astype("float32"), rng.normal(size=(2, 5, 1)).astype("float32")
    keras.layers.Attention(dropout=-0.1)([query, query], training=True)
    with pytest.raises(ValueError, match=r"dropout must be a float in the range \[0, 1\)"):
        cl.layers.Attention(dropout=-0.1)
    assert tuple(keras.layers.Attention(score_mode="concat")([query, value]).shape) == (2, 3, 1)
    with pytest.raises(ValueError, match=r"must have the same last dimension for score_mode='concat'"):
        cl.layers.Attention(score_mode="concat")([query, value])
    for library in (keras, cl):
        with pytest.raises(ValueError, match=r"must be called on a list of inputs"):
            library.layers.Attention()((query, query))


@pytest.mark.parametrize("causal", [False, True], ids=["full", "causal"])
@pytest.mark.parametrize("name,options", [CONFIGS[3], CONFIGS[4]], ids=[CONFIG_IDS[3], CONFIG_IDS[4]])
def test_a_model_saved_by_course_lib_opens_in_keras(name, options, causal, rng, tmp_path):
    """Both ways: the call options (the causal mask) travel in the file's inbound_nodes, as Keras writes them."""
    ids = _padded_ids(rng)
    ours = _text_model(cl, name, options, causal=causal)
    ours.save(tmp_path / "attention.keras")
    theirs = keras.models.load_model(tmp_path / "attention.keras")
    np.testing.assert_allclose(theirs.predict(ids, verbose=0), ours.predict(ids, verbose=0), rtol=RTOL, atol=ATOL)
    theirs.save(tmp_path / "back.keras")
    back = cl.models.load_model(tmp_path / "back.keras")
    np.testing.assert_allclose(back.predict(ids, verbose=0), ours.predict(ids, verbose=0), rtol=RTOL, atol=ATOL)
