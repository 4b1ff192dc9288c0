"""The affine map of a Dense layer, forward and backward side by side."""


def dense_forward(x, kernel, bias=None):
    """Compute ``x @ kernel + bias``.

    Args:
        x: inputs of shape ``(..., in_features)``.
        kernel: weights of shape ``(in_features, units)``.
        bias: ``(units,)`` or None.

    Returns:
        ``(out, cache)`` with ``out`` of shape ``(..., units)``.
    """
    out = x @ kernel
    if bias is not None:
        out += bias  # in place: the product is a fresh array, so no second (batch, units) buffer
    return out, (x, kernel, bias is not None)


def dense_backward(dout, cache, need_dx=True):
    """Gradients of :func:`dense_forward`.

    Args:
        dout: upstream gradient of shape ``(..., units)``.
        cache: what :func:`dense_forward` returned.
        need_dx: False skips the input gradient (a model's first layer needs
            none during training: it saves a third of the layer's work).

    Returns:
        ``(dx, dkernel, dbias)``; ``dbias`` is None when there was no bias,
        ``dx`` is None when ``need_dx`` is False.
    """
    x, kernel, has_bias = cache
    dx = dout @ kernel.T if need_dx else None
    x2 = x.reshape(-1, x.shape[-1])
    d2 = dout.reshape(-1, dout.shape[-1])
    dkernel = x2.T @ d2
    dbias = d2.sum(axis=0) if has_bias else None
    return dx, dkernel, dbias
