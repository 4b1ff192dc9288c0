"""Element-wise activations as forward/backward pairs: ReLU and the logistic sigmoid."""
from course_lib import activations, backend


def _upstream(name, dout, reference):
    """``dout`` as an array, checked to have the forward input's shape."""
    dout = backend.xp.asarray(dout)
    if dout.shape != reference.shape:
        raise ValueError(
            f"{name}: dout must have the shape of the forward input "
            f"{reference.shape}. Received: dout.shape={dout.shape}"
        )
    return dout


def relu_forward(x):
    """Rectified linear unit, ``max(x, 0)`` element by element.

    Args:
        x: array of any shape.

    Returns:
        ``(out, cache)``: ``out`` has the shape of ``x``; ``cache`` is what
        :func:`relu_backward` needs.
    """
    x = backend.xp.asarray(x)
    out = backend.xp.maximum(x, 0)
    # The mask is all backward needs; keeping it (not x) makes the zero-at-zero
    # convention explicit: at x == 0 the gradient is 0, as in Keras.
    return out, x > 0


def relu_backward(dout, cache):
    """Gradient of :func:`relu_forward` with respect to its input.

    Args:
        dout: upstream gradient, same shape as the forward input.
        cache: the second value :func:`relu_forward` returned.

    Returns:
        ``dx`` with the shape of ``dout``.
    """
    positive = cache
    return _upstream("relu_backward", dout, positive) * positive


def sigmoid_forward(x):
    """Logistic sigmoid ``1 / (1 + exp(-x))``, computed without overflow.

    Args:
        x: array of any shape.

    Returns:
        ``(out, cache)``: ``out`` has the shape of ``x`` with values in (0, 1).
    """
    out = activations.sigmoid(x)  # the library's one overflow-safe sigmoid
    return out, out


def sigmoid_backward(dout, cache):
    """Gradient of :func:`sigmoid_forward`: ``dout * s * (1 - s)``.

    Args:
        dout: upstream gradient, same shape as the forward input.
        cache: the second value :func:`sigmoid_forward` returned (the output ``s``).

    Returns:
        ``dx`` with the shape of ``dout``.
    """
    out = cache
    return _upstream("sigmoid_backward", dout, out) * out * (1.0 - out)
