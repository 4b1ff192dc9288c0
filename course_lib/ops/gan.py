"""The losses of a generative adversarial network (GAN), from logits, forward and backward side by side.

A GAN trains two networks against each other: the discriminator ``D`` scores
a sample with one logit ``x`` (``sigmoid(x)`` is its belief that the sample is
real), the generator ``G`` turns noise ``z`` into fakes. Both losses are
binary cross-entropies scored from the logits, as Keras's
``BinaryCrossentropy(from_logits=True)`` scores them::

    ℓ(x, y) = -y log σ(x) - (1 - y) log(1 - σ(x))
            = max(x, 0) - x y + log(1 + exp(-|x|))        (the form that never overflows)
    ∂ℓ/∂x  = σ(x) - y

- the discriminator labels real samples 1 and fakes 0:
  ``L_D = mean ℓ(real_logits, 1) + mean ℓ(fake_logits, 0)``, the sum of the two
  batch means, as TensorFlow's DCGAN tutorial writes it (the real and the fake
  batch may have different sizes);
- the generator wants its fakes taken for real, and labels them 1: the
  *non-saturating* loss of Goodfellow et al. (2014),
  ``L_G = mean ℓ(fake_logits, 1) = mean -log σ(fake_logits)``. Its gradient,
  ``(σ(x) - 1) / n``, is close to ``-1 / n`` exactly when the discriminator
  rejects the fakes with confidence (``x`` very negative), early in training;
- the *saturating* loss of the original minimax game,
  ``mean log(1 - σ(fake_logits)) = -mean ℓ(fake_logits, 0)``, has the gradient
  ``-σ(x) / n``, which vanishes there: the generator would learn nothing at the
  start. It is here for comparison (the book plots both).

Every loss is a mean over all entries of its logits (``(batch,)`` or
``(batch, 1)`` give the same number), returned as a 0-d array of the logits'
float dtype; every backward takes the upstream gradient ``d_loss`` (a number,
1.0 for the loss itself) and the cache of its forward.
"""
from course_lib import activations, backend


def _logits(where, name, value):
    """``value`` as a float array holding at least one number."""
    array = backend.xp.asarray(value)
    if array.dtype.kind != "f":
        array = backend.to_array(array, where=where)
    if array.size == 0:
        raise ValueError(f"{where}: {name} must hold at least one logit (the loss is a mean). "
                         f"Received: {name}.shape={array.shape}")
    return array


def _softplus(x):
    """``log(1 + exp(x))`` without overflow: ``max(x, 0) + log(1 + exp(-|x|))``."""
    xp = backend.xp
    return xp.maximum(x, 0) + xp.log1p(xp.exp(-xp.abs(x)))


def sigmoid_cross_entropy_forward(logits, labels):
    """Mean binary cross-entropy of ``sigmoid(logits)`` against ``labels``: Keras's
    ``BinaryCrossentropy(from_logits=True)`` with its default mean.

    ``ℓ(x, y) = max(x, 0) - x y + log(1 + exp(-|x|))`` element by element
    (``softplus(x) - x y``), finite for any logit (±1000 included), then the
    mean over every entry.

    Args:
        logits: the discriminator's scores, any shape with at least one entry,
            e.g. ``(batch,)`` or ``(batch, 1)``.
        labels: targets in [0, 1], broadcastable to ``logits`` (``1.0`` for
            "real", ``0.0`` for "fake", or an array of the logits' shape).

    Returns:
        ``(loss, cache)``: ``loss`` a 0-d array; ``cache`` what
        :func:`sigmoid_cross_entropy_backward` needs.
    """
    where = "sigmoid_cross_entropy_forward"
    xp = backend.xp
    logits = _logits(where, "logits", logits)
    labels = xp.asarray(labels, dtype=logits.dtype)
    try:
        labels = xp.broadcast_to(labels, logits.shape)
    except ValueError:
        raise ValueError(f"{where}: labels must be broadcastable to the logits' shape {logits.shape}. "
                         f"Received: labels.shape={labels.shape}") from None
    loss = xp.mean(_softplus(logits) - logits * labels)
    return loss, (logits, labels)


def sigmoid_cross_entropy_backward(d_loss, cache):
    """Gradient of :func:`sigmoid_cross_entropy_forward` with respect to the logits.

    ``∂L/∂x_i = d_loss · (σ(x_i) - y_i) / n`` with ``n`` the number of logits.

    Args:
        d_loss: the upstream gradient of the (scalar) loss, a number.
        cache: the second value :func:`sigmoid_cross_entropy_forward` returned.

    Returns:
        ``d_logits`` with the logits' shape.
    """
    logits, labels = cache
    return (activations.sigmoid(logits) - labels) * (d_loss / logits.size)


def discriminator_loss_forward(real_logits, fake_logits):
    """The discriminator's loss: real samples labelled 1, fakes labelled 0.

    ``L_D = mean_i ℓ(real_i, 1) + mean_j ℓ(fake_j, 0)
    = mean softplus(-real) + mean softplus(fake)``, the sum of two batch means
    (``bce(ones, real) + bce(zeros, fake)`` with Keras's
    ``BinaryCrossentropy(from_logits=True)``).

    Args:
        real_logits: the discriminator's logits on real samples, ``(n_real,)`` or ``(n_real, 1)``.
        fake_logits: its logits on generated samples, ``(n_fake,)`` or ``(n_fake, 1)``.

    Returns:
        ``(loss, cache)``: ``loss`` a 0-d array.
    """
    real_loss, real_cache = sigmoid_cross_entropy_forward(
        _logits("discriminator_loss_forward", "real_logits", real_logits), 1.0)
    fake_loss, fake_cache = sigmoid_cross_entropy_forward(
        _logits("discriminator_loss_forward", "fake_logits", fake_logits), 0.0)
    return real_loss + fake_loss, (real_cache, fake_cache)


def discriminator_loss_backward(d_loss, cache):
    """Gradients of :func:`discriminator_loss_forward`.

    ``∂L_D/∂real_i = (σ(real_i) - 1) / n_real`` and ``∂L_D/∂fake_j = σ(fake_j) / n_fake``
    (times ``d_loss``).

    Returns:
        ``(d_real_logits, d_fake_logits)`` with the shapes of the two inputs.
    """
    real_cache, fake_cache = cache
    return sigmoid_cross_entropy_backward(d_loss, real_cache), sigmoid_cross_entropy_backward(d_loss, fake_cache)


def generator_loss_forward(fake_logits):
    """The generator's non-saturating loss: its fakes labelled 1 (real).

    ``L_G = mean_j ℓ(fake_j, 1) = mean -log σ(fake_j) = mean softplus(-fake_j)``
    (``bce(ones, fake)`` with Keras's ``BinaryCrossentropy(from_logits=True)``).

    Args:
        fake_logits: the discriminator's logits on generated samples, ``(n_fake,)`` or ``(n_fake, 1)``.

    Returns:
        ``(loss, cache)``: ``loss`` a 0-d array.
    """
    return sigmoid_cross_entropy_forward(_logits("generator_loss_forward", "fake_logits", fake_logits), 1.0)


def generator_loss_backward(d_loss, cache):
    """Gradient of :func:`generator_loss_forward`: ``∂L_G/∂fake_j = (σ(fake_j) - 1) / n_fake``
    (times ``d_loss``), near ``-1 / n_fake`` where the discriminator rejects the fakes.

    Returns:
        ``d_fake_logits`` with the shape of the input.
    """
    return sigmoid_cross_entropy_backward(d_loss, cache)


def saturating_generator_loss_forward(fake_logits):
    """The generator's loss of the original minimax game, for comparison: ``mean log(1 - σ(fake))``.

    ``= -mean ℓ(fake_j, 0) = -mean softplus(fake_j)``: the generator minimises
    what the discriminator maximises. Not what GANs are trained with (its
    gradient vanishes when the discriminator wins, see the module's docstring).

    Args:
        fake_logits: the discriminator's logits on generated samples, any shape with at least one entry.

    Returns:
        ``(loss, cache)``: ``loss`` a 0-d array (at most 0).
    """
    loss, cache = sigmoid_cross_entropy_forward(
        _logits("saturating_generator_loss_forward", "fake_logits", fake_logits), 0.0)
    return -loss, cache


def saturating_generator_loss_backward(d_loss, cache):
    """Gradient of :func:`saturating_generator_loss_forward`: ``-σ(fake_j) / n_fake`` (times ``d_loss``),
    which goes to 0 as ``fake_j`` goes to -∞.

    Returns:
        ``d_fake_logits`` with the shape of the input.
    """
    return -sigmoid_cross_entropy_backward(d_loss, cache)


__all__ = [
    "discriminator_loss_backward", "discriminator_loss_forward", "generator_loss_backward", "generator_loss_forward",
    "saturating_generator_loss_backward", "saturating_generator_loss_forward", "sigmoid_cross_entropy_backward",
    "sigmoid_cross_entropy_forward",
]
