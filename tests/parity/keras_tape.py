"""The one way the parity tests ask tf.keras for a layer's forward values and gradients."""
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
