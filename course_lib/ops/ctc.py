"""Connectionist temporal classification (CTC), forward and backward: Keras's ``ctc`` loss.

A speech or handwriting model outputs one distribution over ``C`` classes per
time step, ``T`` steps in all, but its target is a shorter label sequence
``l = (l_1 ... l_L)`` with no alignment: nobody says at which step each label
is spoken. CTC (Graves et al., 2006) sums over every alignment.

**Paths.** Class 0 is the *blank* ("nothing here"). A *path* picks one class
per step, ``π = (π_1 ... π_T)``; it spells ``l`` when merging repeated classes
and then dropping the blanks gives ``l``: for ``l = (a, b)`` and ``T = 4``,
``a a b -``, ``- a - b``, ``a b b b`` all spell it. A repeated label needs a blank
between its copies: ``a a`` merges into one ``a``, so ``l = (a, a)`` needs
``a - a`` and at least ``L + (number of repeats)`` steps. With
``y_t(k) = softmax(logits_t)[k]`` and independent steps::

    p(l | x) = sum over the paths π that spell l of  prod_t y_t(π_t)
    loss     = -log p(l | x)

**The extended sequence.** Put a blank before, between and after the labels:
``z = (-, l_1, -, l_2, ..., -, l_L, -)``, ``S = 2L + 1`` positions. A path that
spells ``l`` walks through ``z`` from left to right: at each step it stays on
its position, moves one right, or jumps two right (skipping a blank) when that
lands on a label different from the one it leaves (``z_s != z_{s-2}``: never
from blank to blank, never between two copies of the same label). It starts
on ``z_0`` or ``z_1`` and ends on ``z_{S-1}`` or ``z_{S-2}``.

**The forward recursion** (``alpha_t(s)``: the probability of the first ``t + 1``
steps of every path prefix that ends on position ``s``)::

    alpha_0(0) = y_0(-),  alpha_0(1) = y_0(l_1),  alpha_0(s) = 0 otherwise
    alpha_t(s) = y_t(z_s) * (alpha_{t-1}(s) + alpha_{t-1}(s-1) + [z_s != z_{s-2}] alpha_{t-1}(s-2))
    p(l | x)   = alpha_{T-1}(S-1) + alpha_{T-1}(S-2)

**The backward recursion** (``beta_t(s)``: the probability of the steps after
``t`` of every path suffix that leaves position ``s`` at step ``t``; it does not
include ``y_t``)::

    beta_{T-1}(s) = 1 for s in {S-2, S-1}, 0 otherwise
    beta_t(s)     = sum over s' in {s, s+1, s+2 if z_{s+2} != z_s} of y_{t+1}(z_{s'}) beta_{t+1}(s')

For every step ``t``, ``sum_s alpha_t(s) beta_t(s) = p(l | x)``: each path that
spells ``l`` is on exactly one position at step ``t``.

**The gradient.** ``gamma_t(s) = alpha_t(s) beta_t(s) / p`` is the posterior
probability that the path is on position ``s`` at step ``t``; summing it over
the positions of class ``k`` gives the posterior of class ``k`` at step ``t``.
Each path's probability holds ``y_t(π_t)`` once, so
``d(-log p) / d log y_t(k) = -sum_{s: z_s = k} gamma_t(s)``, and through the
log-softmax (the posteriors of a step sum to one)::

    d loss / d logits_t(k) = softmax(logits_t)(k) - sum_{s: z_s = k} gamma_t(s)

**Log space.** Products of 100 probabilities underflow float32 (and float64
soon after), so everything is kept as logarithms: products become sums and
sums become ``logaddexp``; an impossible state is ``-inf``. Only the loop over
time is a Python loop; the batch and the positions are vectorised.

**What TensorFlow adds, and course_lib copies.** ``tf.nn.ctc_loss`` (what Keras's
TensorFlow backend calls) runs the same recursion with two details that change
its numbers only when ``p(l | x)`` is below about ``1e-307``:

- the ends are soft: a path that ends anywhere but on the last two positions
  weighs ``1e-307`` instead of 0 (TensorFlow's ``log(0 + 1e-307)``, rounded to
  float32: ``_LOG_ZERO`` here). A label sequence too long for ``T`` steps (no
  path spells it) therefore gets a large *finite* loss, about ``706.9`` plus
  ``-log`` of the probability of the paths that spell a prefix of it, and a
  finite gradient: the one of that formula;
- a batch pads every label sequence with zeros to the same length ``N``, and
  the recursion runs over the ``2N + 1`` positions of the padded sequence: the
  padding positions emit the blank's probability and can be reached (jumped
  onto from the last label), but never end a path, so they only ever weigh
  ``1e-307``; TensorFlow also leaves them out of the class sums of the
  gradient, and so does :func:`ctc_loss_backward`.

Example::

    losses, cache = ctc_loss_forward(labels, logits)    # (batch,), -log p(l | x)
    d_logits = ctc_loss_backward(ones_like(losses), cache)
"""
from course_lib import backend

# TensorFlow's log(0): log(0.0 + 1e-307) in float64, cast to float32 (ctc_ops.ctc_state_log_probs).
_LOG_ZERO = -706.8936157226562


def _check_inputs(labels, logits, where):
    """``(labels, logits)``: integer labels ``(batch, N)`` and float logits ``(batch, T, C)``, checked.

    Raises ValueError (or TypeError) naming ``where`` for a wrong rank or batch,
    a label that is not an integer in ``[0, C)``, or a 0 before a non-zero label
    (0 is the blank and the padding, so it may only end a sequence).
    """
    xp = backend.xp
    logits = xp.asarray(logits)
    if logits.dtype.kind != "f":
        logits = backend.to_array(logits, where=f"{where} (logits)")
    labels = backend.as_numeric(labels, where=f"{where} (labels)")
    if logits.ndim != 3:
        raise ValueError(
            f"{where}: logits (y_pred) must have shape (batch_size, max_length, num_classes), unnormalised "
            f"scores for every time step. Received: shape={tuple(logits.shape)}"
        )
    if labels.ndim != 2:
        raise ValueError(
            f"{where}: labels (y_true) must have shape (batch_size, max_label_length), integer class ids "
            f"padded with 0. Received: shape={tuple(labels.shape)}"
        )
    batch, steps, classes = logits.shape
    if labels.shape[0] != batch:
        raise ValueError(
            f"{where}: labels and logits must hold the same number of sequences. Received: "
            f"labels.shape={tuple(labels.shape)}, logits.shape={tuple(logits.shape)}"
        )
    if steps == 0:
        raise ValueError(f"{where}: logits must have at least one time step. Received: "
                         f"logits.shape={tuple(logits.shape)}")
    host = backend.to_numpy(labels)
    if host.size:
        fractional = host != host.round()
        if fractional.any():
            raise ValueError(f"{where}: labels must be whole numbers (class ids). "
                             f"Received: a label of {float(host[fractional][0])!r}")
        low, high = int(host.min()), int(host.max())
        if low < 0 or high >= classes:
            raise ValueError(
                f"{where}: labels must be class ids in [0, {classes}) (0 is the blank and the padding; "
                f"logits have {classes} classes). Received: labels between {low!r} and {high!r}"
            )
        # After the first 0 of a row, every entry must be 0.
        padding = (host == 0).cumsum(axis=1) > 0
        inside = padding & (host != 0)
        if inside.any():
            row = int(inside.any(axis=1).argmax())
            raise ValueError(
                f"{where}: 0 is the blank and the padding, so it may only end a label sequence; a label after "
                f"a 0 is not allowed. Received: labels[{row}]={host[row].astype('int64').tolist()}"
            )
    return xp.asarray(labels).astype("int64"), logits


def _logaddexp3(a, b, c):
    xp = backend.xp
    return xp.logaddexp(xp.logaddexp(a, b), c)


def _shifted(values, by, fill):
    """``values[:, s - by]`` (``by > 0``) or ``values[:, s + |by|]`` (``by < 0``), ``fill`` past the ends."""
    out = backend.xp.full_like(values, fill)
    if by > 0:
        out[:, by:] = values[:, :-by]
    else:
        out[:, :by] = values[:, -by:]
    return out


def ctc_loss_forward(labels, logits, *, where="ctc_loss_forward"):
    """CTC losses ``-log p(labels | logits)``, one per sequence, as Keras's ``ctc`` computes them.

    Every sequence uses all ``T`` time steps; its label length is its number of
    non-zero labels. The loss comes from the backward recursion: ``p`` is the
    mass of the paths leaving the start, ``y_0(-) beta_0(0) + y_0(l_1) beta_0(1)``
    (the same number as ``alpha``'s sum at the last step).

    Args:
        labels: ``(batch, max_label_length)`` class ids in ``[1, C)``, padded at
            the end with 0 (the blank); a row of zeros is the empty sequence.
            Integer or whole-valued float arrays.
        logits: ``(batch, T, C)`` unnormalised scores (the log-softmax is taken
            here); the result has their float type.
        where: the name errors start with.

    Returns:
        ``(losses, cache)``: ``losses`` of shape ``(batch,)``; ``cache`` what
        :func:`ctc_loss_backward` needs.
    """
    xp = backend.xp
    labels, logits = _check_inputs(labels, logits, where)
    batch, steps, _ = logits.shape
    dtype = logits.dtype
    positions = 2 * labels.shape[1] + 1
    # The extended sequence z: blanks (class 0) at the even positions, the (padded) labels at the odd ones.
    extended = xp.zeros((batch, positions), dtype="int64")
    extended[:, 1::2] = labels
    lengths = xp.sum(labels != 0, axis=1)
    log_probs = logits - xp.max(logits, axis=-1, keepdims=True)
    log_probs = log_probs - xp.log(xp.sum(xp.exp(log_probs), axis=-1, keepdims=True))
    # emit[t, b, s] = log y_t(z_s)
    emit = xp.take_along_axis(log_probs, xp.broadcast_to(extended[:, None, :], (batch, steps, positions)), axis=2)
    emit = xp.ascontiguousarray(xp.transpose(emit, (1, 0, 2)))
    minus_inf = xp.asarray(-xp.inf, dtype=dtype)
    # jump[b, s]: 0 (log 1) where the jump s-2 -> s is allowed (z_s != z_{s-2}), -inf where not (and s < 2).
    allowed = xp.zeros((batch, positions), dtype=bool)
    allowed[:, 2:] = extended[:, 2:] != extended[:, :-2]
    jump = xp.where(allowed, xp.asarray(0, dtype=dtype), minus_inf)
    column = xp.arange(positions)[None, :]
    # Soft ends, as TensorFlow: 0 (log 1) on the last label and the blank after it, _LOG_ZERO elsewhere.
    ends = (column == 2 * lengths[:, None]) | (column == 2 * lengths[:, None] - 1)
    log_end = xp.where(ends, xp.asarray(0, dtype=dtype), xp.asarray(_LOG_ZERO, dtype=dtype))
    beta = xp.empty((steps, batch, positions), dtype=dtype)
    beta[-1] = log_end
    for t in range(steps - 2, -1, -1):
        leave = emit[t + 1] + beta[t + 1]  # go on from s' at step t + 1
        beta[t] = _logaddexp3(leave, _shifted(leave, -1, minus_inf), _shifted(leave + jump, -2, minus_inf))
    first = emit[0, :, :2] + beta[0, :, :2]  # the start feeds positions 0 and 1 only
    losses = -_logsumexp(first, axis=1)
    cache = (labels, extended, jump, emit, beta, log_probs)
    return losses, cache


def _logsumexp(x, axis):
    xp = backend.xp
    top = xp.max(x, axis=axis, keepdims=True)
    top = xp.where(xp.isfinite(top), top, xp.zeros_like(top))
    return xp.squeeze(top, axis=axis) + xp.log(xp.sum(xp.exp(x - top), axis=axis))


def ctc_loss_backward(d_losses, cache):
    """The gradient of the CTC losses with respect to the logits, as TensorFlow computes it.

    ``d_logits[b, t, k] = d_losses[b] * (softmax(logits)[b, t, k] - sum_{s: z_s = k} gamma_t(s))``
    with ``gamma_t(s) = alpha_t(s) beta_t(s)`` normalised over the positions of
    each step (the posterior), in log space until the final ``exp``. Here runs
    the forward recursion; ``beta`` comes from the cache. As in TensorFlow,
    ``alpha`` also lets a path start on any position with weight ``1e-307``:
    that changes nothing while some path spells the labels, and for labels too
    long for ``T`` it gives TensorFlow's gradient (which is then not the
    derivative of its loss, whose paths all start at the start).

    Args:
        d_losses: the upstream gradient, shape ``(batch,)`` (ones for the sum of the losses).
        cache: from :func:`ctc_loss_forward`.

    Returns:
        ``d_logits`` of the logits' shape ``(batch, T, C)``.
    """
    xp = backend.xp
    labels, extended, jump, emit, beta, log_probs = cache
    steps, batch, positions = beta.shape
    classes = log_probs.shape[-1]
    dtype = beta.dtype
    minus_inf = xp.asarray(-xp.inf, dtype=dtype)
    d_losses = xp.asarray(d_losses, dtype=dtype)
    if d_losses.shape != (batch,):
        raise ValueError(f"ctc_loss_backward: d_losses must have shape ({batch},), one per sequence. "
                         f"Received: shape={tuple(d_losses.shape)}")

    def arrive(previous):  # stay on s, come from s - 1, or jump from s - 2
        return _logaddexp3(previous, _shifted(previous, 1, minus_inf), _shifted(previous, 2, minus_inf) + jump)

    alpha = xp.empty_like(beta)
    soft_start = arrive(xp.full((batch, positions), _LOG_ZERO, dtype=dtype))
    start = xp.full((batch, positions), minus_inf)
    start[:, :2] = 0
    alpha[0] = emit[0] + xp.logaddexp(soft_start, start)
    for t in range(1, steps):
        alpha[t] = emit[t] + arrive(alpha[t - 1])
    log_gamma = alpha + beta
    log_gamma = log_gamma - _logsumexp(log_gamma, axis=2)[:, :, None]  # the posterior of each step
    gamma = xp.exp(xp.transpose(log_gamma, (1, 0, 2)))  # (batch, T, S)
    # Which class each position counts for; TensorFlow's padding positions (odd, class 0) count for none.
    counted = xp.ones((batch, positions), dtype=bool)
    counted[:, 1::2] = labels != 0
    one_hot = (extended[:, :, None] == xp.arange(classes)[None, None, :]) & counted[:, :, None]
    occupancy = xp.matmul(gamma, one_hot.astype(dtype))  # (batch, T, C)
    return d_losses[:, None, None] * (xp.exp(log_probs) - occupancy)
