"""Element-wise activations as forward/backward pairs: ReLU and the logistic sigmoid."""
from course_lib import backend


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
    dout = backend.xp.asarray(dout)
    if dout.shape != positive.shape:
        raise ValueError(
            "relu_backward: dout must have the shape of the forward input "
            f"{positive.shape}. Received: dout.shape={dout.shape}"
        )
    return dout * positive


def sigmoid_forward(x):
    """Logistic sigmoid ``1 / (1 + exp(-x))``, computed without overflow.

    Args:
        x: array of any shape.

    Returns:
        ``(out, cache)``: ``out`` has the shape of ``x`` with values in (0, 1).
    """
    xp = backend.xp
    x = xp.asarray(x)
    # exp of a large positive number overflows; exp(-|x|) never does, and the
    # two branches below are the same function written for each sign.
    exp_neg_abs = xp.exp(-xp.abs(x))
    out = xp.where(x >= 0, 1.0 / (1.0 + exp_neg_abs), exp_neg_abs / (1.0 + exp_neg_abs))
    out = out.astype(x.dtype if x.dtype.kind == "f" else backend.floatx(), copy=False)
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
    dout = backend.xp.asarray(dout)
    if dout.shape != out.shape:
        raise ValueError(
            "sigmoid_backward: dout must have the shape of the forward input "
            f"{out.shape}. Received: dout.shape={dout.shape}"
        )
    return dout * out * (1.0 - out)
