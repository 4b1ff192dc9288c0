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
