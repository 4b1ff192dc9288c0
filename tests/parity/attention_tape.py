"""The shared harness of the attention parity tests (MultiHeadAttention, GroupQueryAttention).

Each case builds the Keras layer and the course_lib layer of one class, copies Keras's
weights (scaled N(0, 0.5^2) so that the softmax is not flat) into both, and compares the
outputs (the attention scores too) and the gradients of ``sum(y * dy)`` with respect to
every given input and every trainable weight (``tf.GradientTape`` for Keras).
"""
import numpy as np
import tensorflow as tf

import course_lib as cl
import keras  # noqa: E402  (Keras 3, the library tf.keras is)

RTOL, ATOL = 1e-5, 1e-5
B, TQ, TV, DQ, DV, DK = 2, 3, 4, 5, 6, 7


def normal(shape, seed, scale=1.0):
    return (np.random.default_rng(seed).normal(size=shape) * scale).astype("float32")


def flat(value):
    return list(value) if isinstance(value, (list, tuple)) else [value]


def pair(layer_name, options, inputs, seed=3):
    """The Keras and course_lib layers ``layer_name``, built on ``inputs`` and holding the same weights."""
    theirs = getattr(keras.layers, layer_name)(**options)
    ours = getattr(cl.layers, layer_name)(**options)
    query, value, key = inputs
    theirs(query, value, key=key)
    ours(query, value, key=key)
    weights = [normal(w.shape, seed + i, 0.5) for i, w in enumerate(theirs.get_weights())]
    theirs.set_weights(weights)
    ours.set_weights(weights)
    return theirs, ours


def keras_run(layer, inputs, call, upstream, training=False):
    """Keras's outputs and the gradients w.r.t. the given inputs and the trainable weights."""
    query, value, key = [None if x is None else tf.constant(x) for x in inputs]
    given = [t for t in (query, value, key) if t is not None]
    with tf.GradientTape() as tape:
        for tensor in given:
            tape.watch(tensor)
        outputs = flat(layer(query, value, key=key, training=training, **call))
        total = sum(tf.reduce_sum(y * d) for y, d in zip(outputs, upstream))
    grads = tape.gradient(total, given + list(layer.trainable_weights))
    return [y.numpy() for y in outputs], [g.numpy() for g in grads]


def course_run(layer, inputs, call, upstream, training=False):
    query, value, key = inputs
    outputs = flat(layer(query, value, key=key, training=training, **call))
    input_grads = layer.backward(upstream if len(outputs) > 1 else upstream[0])
    input_grads = [g for g in input_grads if g is not None][:len([x for x in inputs if x is not None])]
    return outputs, input_grads + [layer.grads[name] for name in layer.trainable_weight_names]


def compare(layer_name, options, inputs, call, training=False, before=None, seed=3):
    """Both layers on ``inputs``: the same outputs and gradients. ``before(theirs, ours)`` runs before each call."""
    theirs, ours = pair(layer_name, options, inputs, seed)
    if before is not None:
        before(theirs, ours)
    outputs = flat(ours(*inputs[:2], key=inputs[2], training=training, **call))
    upstream = [normal(y.shape, 50 + i) for i, y in enumerate(outputs)]
    if before is not None:
        before(theirs, ours)
    keras_outputs, keras_grads = keras_run(theirs, inputs, call, upstream, training)
    if before is not None:
        before(theirs, ours)
    our_outputs, our_grads = course_run(ours, inputs, call, upstream, training)
    assert len(our_outputs) == len(keras_outputs) and len(our_grads) == len(keras_grads)
    for mine, reference in zip(our_outputs + our_grads, keras_outputs + keras_grads, strict=True):
        np.testing.assert_allclose(mine, reference, rtol=RTOL, atol=ATOL)
    return ours, our_outputs


def inputs(key_given=True, tq=TQ, tv=TV):
    query, value = normal((B, tq, DQ), 11), normal((B, tv, DV if key_given else DQ), 12)
    return [query, value, normal((B, tv, DK), 13) if key_given else None]


def attention_mask(tq=TQ, tv=TV):
    mask = np.random.default_rng(6).random((B, tq, tv)) > 0.35
    mask[0, 1] = False  # a fully masked query row: Keras's two softmax paths differ there
    return mask


def assert_same(first, second):
    """The same outputs (one array or a list), within float32 summation order."""
    for mine, theirs in zip(flat(first), flat(second), strict=True):
        np.testing.assert_allclose(np.asarray(mine), np.asarray(theirs), rtol=1e-6, atol=1e-6)


def dropout_case(layer_name, options, heads, rate=0.4, seed=11):
    """Training with dropout, Keras's dropout sublayer given the mask course_lib's seeded generator draws.

    Returns the attention scores (the fully masked query row 1 of sample 0 must sum to zero).
    """
    def same_mask(theirs, ours):
        ours._rng = np.random.default_rng(seed)
        keep = np.random.default_rng(seed).random((B, heads, TQ, TV)) >= rate
        mask = tf.constant(keep.astype("float32") / (1 - rate))

        def dropout(inputs, training=None):
            return inputs * mask if training else inputs

        theirs._dropout_layer.call = dropout

    _, (_, scores) = compare(layer_name, dict(options, dropout=rate, seed=1), inputs(),
                             {"return_attention_scores": True, "attention_mask": attention_mask()},
                             training=True, before=same_mask)
    return scores


def padded_ids():
    ids = np.random.default_rng(0).integers(1, 9, (4, 6))
    ids[1, 4:] = 0  # padded at the end
    ids[2, :3] = 0  # padded at the start
    ids[3, 2] = 0   # a hole
    return ids


def embedding_mask_case(text_model, causal, scores):
    """``text_model(library, causal, scores)`` (Embedding(mask_zero) -> attention -> ...) in both libraries:
    the same outputs and weight gradients on padded ids. Returns course_lib's outputs."""
    keras.utils.set_random_seed(0)
    theirs, ours = text_model(keras, causal, scores), text_model(cl, causal, scores)
    theirs.set_weights([w * 2 for w in theirs.get_weights()])
    ours.set_weights(theirs.get_weights())
    ids = padded_ids()
    with tf.GradientTape() as tape:
        keras_outputs = flat(theirs(ids))
        upstream = [normal(y.shape, 40 + i) for i, y in enumerate(keras_outputs)]
        total = sum(tf.reduce_sum(y * d) for y, d in zip(keras_outputs, upstream))
    keras_grads = [tf.convert_to_tensor(g) for g in tape.gradient(total, theirs.trainable_weights)]
    our_outputs = flat(ours(ids))
    ours.backward(upstream if scores else upstream[0])
    our_grads = [ours.grads[name] for name in ours.trainable_weight_names]
    for mine, reference in zip(our_outputs + our_grads, keras_outputs + keras_grads, strict=True):
        np.testing.assert_allclose(mine, np.asarray(reference), rtol=RTOL, atol=ATOL)
    return our_outputs


def assert_files_cross(build, model_inputs, layer, tmp_path):
    """``build(library)``'s model through ``.keras`` and ``.weights.h5`` files both ways: the same layers,
    config of ``layer``, weight paths and outputs on ``model_inputs``."""
    keras.utils.set_random_seed(2)
    original = build(keras)
    original.save(tmp_path / "from_keras.keras")
    loaded, ours = cl.models.load_model(tmp_path / "from_keras.keras"), build(cl)
    assert type(loaded.get_layer(layer)) is type(ours.get_layer(layer))  # Keras's class opened as course_lib's
    for mine, theirs in ((loaded, original), (ours, None)):
        if theirs is None:  # and the other way: a course_lib file opened by Keras
            mine.save(tmp_path / "from_course_lib.keras")
            mine, theirs = keras.models.load_model(tmp_path / "from_course_lib.keras"), mine
        assert [l.name for l in mine.layers] == [l.name for l in theirs.layers]
        assert mine.get_layer(layer).get_config() == theirs.get_layer(layer).get_config()
        assert [w.path for w in mine.get_layer(layer).weights] == [w.path for w in theirs.get_layer(layer).weights]
        assert mine.count_params() == theirs.count_params()
        assert_same(mine(model_inputs), theirs(model_inputs))
    keras.utils.set_random_seed(4)
    theirs, ours = build(keras), build(cl)
    theirs.save_weights(tmp_path / "keras.weights.h5")
    ours.load_weights(tmp_path / "keras.weights.h5")
    assert_same(ours(model_inputs), theirs(model_inputs))
    ours.set_weights([w * 1.5 for w in ours.get_weights()])
    ours.save_weights(tmp_path / "ours.weights.h5")
    theirs.load_weights(tmp_path / "ours.weights.h5")
    assert_same(ours(model_inputs), theirs(model_inputs))


def assert_keras_continues_training(original, x, targets, tmp_path):
    """A compiled course_lib model trained one epoch, saved, opened by Keras: both train on to the same losses."""
    original.fit(x, targets, epochs=1, batch_size=8, shuffle=False, verbose=0)
    original.save(tmp_path / "trained.keras")
    loaded = keras.models.load_model(tmp_path / "trained.keras")
    assert_same(original.predict(x, verbose=0), loaded.predict(x, verbose=0))
    ours = original.fit(x, targets, epochs=2, batch_size=8, shuffle=False, verbose=0).history["loss"]
    theirs = loaded.fit(x, targets, epochs=2, batch_size=8, shuffle=False, verbose=0).history["loss"]
    np.testing.assert_allclose(ours, theirs, rtol=1e-5)
