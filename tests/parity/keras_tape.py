"""The one way the parity tests ask tf.keras for a layer's forward values and gradients."""
import numpy as np
import tensorflow as tf


def keras_forward_backward(layer, xs, dy, training=False):
    """``(y, [dx for each input] + [d weight for each trainable weight])`` of a Keras layer.

    ``xs``: the list of inputs (one array for a single-input layer); the gradients are
    ``tf.GradientTape.gradient(y, inputs + trainable_weights, output_gradients=dy)``.
    """
    tensors = [tf.constant(x) for x in xs]
    with tf.GradientTape() as tape:
        for tensor in tensors:
            tape.watch(tensor)
        y = layer(tensors if len(tensors) > 1 else tensors[0], training=training)
    grads = tape.gradient(y, tensors + list(layer.trainable_weights), output_gradients=tf.constant(dy))
    return y.numpy(), [g.numpy() for g in grads]


def compare_layer(class_name, kwargs, x, generator, dtype="float32", rtol=1e-5):
    """The same layer built in both libraries with Keras's random weights: forward, dx and every weight gradient.

    Returns ``(ours, theirs, worst)``, ``worst`` the largest absolute difference. Tolerance: ``rtol``
    (1e-12 in float64) relative, and as much of the largest reference value absolute.
    """
    import numpy as np

    import course_lib as cl

    theirs = getattr(tf.keras.layers, class_name)(dtype=dtype, **kwargs)
    theirs(x)
    theirs.set_weights([generator.standard_normal(w.shape).astype(dtype) for w in theirs.get_weights()])
    ours = getattr(cl.layers, class_name)(dtype=dtype, **kwargs)
    shape = (None,) + tuple(x.shape[1:])
    assert tuple(ours.compute_output_shape(shape)) == tuple(theirs.compute_output_shape(shape))
    ours(x)
    ours.set_weights(theirs.get_weights())
    assert [w.name for w in ours.weights] == [w.name for w in theirs.weights]
    assert [w.shape for w in ours.weights] == [tuple(w.shape) for w in theirs.weights]
    y = ours(x)
    dy = generator.standard_normal(y.shape).astype(dtype)
    dx = ours.backward(dy)
    expected_y, expected = keras_forward_backward(theirs, [x], dy)
    assert y.dtype == np.dtype(dtype) and y.shape == expected_y.shape
    received = [dx] + [ours.grads[name] for name in ours.trainable_weight_names]
    labels = ["forward", "dx"] + [f"d{name}" for name in ours.trainable_weight_names]
    assert len(received) == len(expected)
    rtol = rtol if dtype == "float32" else 1e-12
    worst = 0.0
    for label, mine, reference in zip(labels, [y] + received, [expected_y] + expected, strict=True):
        scale = float(np.max(np.abs(reference), initial=1.0))
        np.testing.assert_allclose(mine, reference, rtol=rtol, atol=rtol * scale, err_msg=label)
        worst = max(worst, float(np.max(np.abs(mine - reference))))
    return ours, theirs, worst


def assert_same_fit(ours, theirs, x, y, rtol, atol, **fit_kwargs):
    """Fit the course_lib and the Keras model alike; their History dicts must have the same keys and values."""
    keras_history = theirs.fit(x, y, **fit_kwargs).history
    our_history = ours.fit(x, y, **fit_kwargs).history
    assert sorted(our_history) == sorted(keras_history)
    for key in keras_history:
        np.testing.assert_allclose(our_history[key], keras_history[key], rtol=rtol, atol=atol, err_msg=key)
