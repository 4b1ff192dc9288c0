"""What the parity tests of keras.applications share: twin networks with the same weights, and what to compare.

Imported after tensorflow (``pytest.importorskip``), like the other helper modules of this folder.
"""
import numpy as np
import tensorflow as tf

import course_lib as cl

keras = tf.keras


def assert_close(mine, theirs, rtol=1e-4):
    """Within ``rtol``, and an absolute 1e-5 of the largest value (sums of float32 in another order)."""
    scale = float(np.max(np.abs(theirs)))
    np.testing.assert_allclose(mine, theirs, rtol=rtol, atol=1e-5 * scale)


def randomize_batch_norms(model, seed=0):
    """New BatchNormalization weights and statistics, so that a mistake in using them shows."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if type(layer).__name__ == "BatchNormalization":
            gamma, beta, mean, variance = layer.get_weights()
            layer.set_weights([rng.uniform(0.5, 1.5, gamma.shape).astype(gamma.dtype),
                               rng.normal(0, 0.1, beta.shape).astype(beta.dtype),
                               rng.normal(0, 0.1, mean.shape).astype(mean.dtype),
                               rng.uniform(0.5, 1.5, variance.shape).astype(variance.dtype)])


def pair(network, **kwargs):
    """``(ours, theirs)``: Keras's network (weights=None unless given, statistics redrawn) and course_lib's
    twin with its weights."""
    kwargs.setdefault("weights", None)
    theirs = getattr(keras.applications, network)(**kwargs)
    randomize_batch_norms(theirs)
    ours = getattr(cl.applications, network)(**kwargs)
    cl.testing.copy_weights(theirs, ours)
    return ours, theirs


def layer_table(model):
    """Each layer's type, name, output shape and parameter count."""
    return [(type(layer).__name__, layer.name, tuple(layer.output.shape), layer.count_params())
            for layer in model.layers]


def trainable_count(model):
    return sum(int(np.prod(w.shape)) for w in model.trainable_weights)
