"""Softmax and the softmax cross-entropy loss with integer labels."""
from course_lib import activations, backend


def softmax(logits, axis=-1):
    """Numerically stable softmax along ``axis``.

    Subtracting the row maximum before ``exp`` changes nothing mathematically
    (the factor cancels) but keeps ``exp`` from overflowing for large logits.

    Args:
        logits: array of any shape, e.g. ``(batch, classes)``.
        axis: the axis that sums to one.

    Returns:
        Probabilities with the shape of ``logits``.
    """
    return activations.softmax(logits, axis=axis)  # the library's one softmax


def softmax_cross_entropy(logits, labels):
    """Mean cross-entropy of ``softmax(logits)`` against integer labels, and its gradient.

    Equal to Keras's ``SparseCategoricalCrossentropy(from_logits=True)`` with
    the default mean over the batch.

    Args:
        logits: ``(batch, classes)`` unnormalised scores.
        labels: ``(batch,)`` integers in ``[0, classes)``.

    Returns:
        ``(loss, dlogits)``: ``loss`` is a Python float, ``dlogits`` the
        gradient of the loss with respect to ``logits``, shape ``(batch, classes)``.
    """
    xp = backend.xp
    logits = xp.asarray(logits)
    labels = xp.asarray(labels)
    if logits.ndim != 2:
        raise ValueError(
            "softmax_cross_entropy: logits must have shape (batch, classes). "
            f"Received: logits.shape={logits.shape}"
        )
    batch, classes = logits.shape
    if labels.shape != (batch,):
        raise ValueError(
            f"softmax_cross_entropy: labels must have shape ({batch},) to match the logits. "
            f"Received: labels.shape={labels.shape}"
        )
    if labels.dtype.kind not in "iu":
        raise TypeError(
            "softmax_cross_entropy: labels must be integers (class indices). "
            f"Received: labels of dtype {labels.dtype}"
        )
    if batch and (labels.min() < 0 or labels.max() >= classes):
        raise ValueError(
            f"softmax_cross_entropy: labels must lie in [0, {classes}). "
            f"Received: labels between {labels.min()} and {labels.max()}"
        )
    shifted = logits - logits.max(axis=1, keepdims=True)
    # log-sum-exp on the shifted logits: log softmax without ever taking log(0).
    log_probs = shifted - xp.log(xp.exp(shifted).sum(axis=1, keepdims=True))
    rows = xp.arange(batch)
    loss = -log_probs[rows, labels].mean()
    dlogits = xp.exp(log_probs)
    dlogits[rows, labels] -= 1.0
    dlogits /= batch
    return float(loss), dlogits
