"""GradientTape (梯度带): ``tf.GradientTape`` for what course_lib can differentiate.

A custom ``train_step`` (a GAN's two optimizers, for one) asks for the
gradient of a loss with respect to some weights. TensorFlow records every
operation on a tape; course_lib records the calls it has a backward for:

- a layer or a model called on arrays (its ``forward`` keeps the cache its
  ``backward`` needs; a call made inside another recorded call is that call's
  business and is not recorded twice);
- a loss object called on ``(y_true, y_pred)``: it returns a
  :class:`TapeScalar`, a float that remembers where it came from;
- ``+``, ``-``, ``*`` and ``/`` between such losses and plain numbers.

``tape.gradient(loss, weights)`` then walks the recorded calls backwards,
exactly the walk of a model's backward pass: the loss's gradient with respect
to its predictions, then each call's ``backward`` from the last to the first,
summing where an array fed several calls. Anything else done to an array
between two calls (NumPy arithmetic, indexing, concatenation) is not
recorded: its result counts as a constant, so no gradient flows through it.
When that leaves weights that were called on the tape without a gradient,
``gradient`` warns and says why, rather than returning silent ``None``\\ s.

Example (the discriminator step of a GAN)::

    with GradientTape() as tape:
        predictions = discriminator(images, training=True)
        d_loss = loss_fn(labels, predictions)
    grads = tape.gradient(d_loss, discriminator.trainable_weights)
    d_optimizer.apply_gradients(zip(grads, discriminator.trainable_weights))
"""
from __future__ import annotations

import numbers
import warnings

from course_lib import backend

_RECORDING = []
"""The tapes recording now, innermost last (tapes may nest, as in TensorFlow)."""
_DEPTH = [0]
"""How many recorded calls are running: only the outermost call of a nesting is recorded."""


class GradientTape:
    """Records layer, model and loss calls for :meth:`gradient` (see the module's docstring).

    Args:
        persistent: False (TensorFlow's default) allows one :meth:`gradient`
            call, after which the records are dropped; True allows several.
        watch_accessed_variables: accepted for TensorFlow's signature; every
            weight of a recorded call is watched.
    """

    def __init__(self, persistent=False, watch_accessed_variables=True):
        self.persistent = bool(persistent)
        self._calls = []
        self._producer = {}  # id(array) -> (call, output index) for arrays a recorded call returned
        self._used = False
        self._recording = False

    def __enter__(self):
        self._recording = True
        _RECORDING.append(self)
        return self

    def __exit__(self, *exc_info):
        self._recording = False
        _RECORDING.remove(self)
        return False

    def watch(self, tensor):
        """TensorFlow needs this for constants; here every array a recorded call read is watched."""

    def stop_recording(self):
        """A context in which nothing is recorded (TensorFlow's ``tape.stop_recording()``)."""
        return _Paused(self)

    # ---- recording -------------------------------------------------------
    def _record_call(self, layer, inputs, outputs, cache, given=None):
        call = _Call(layer, inputs, outputs, cache, given)
        call.added_losses = bool(getattr(layer, "_eager_losses", None))  # add_loss, activity regularizers
        self._calls.append(call)
        for index, output in enumerate(call.outputs):
            self._producer[id(output)] = (call, index)

    # ---- differentiating -------------------------------------------------
    def gradient(self, target, sources, output_gradients=None):
        """d ``target`` / d ``sources``.

        Args:
            target: a loss computed on this tape (a :class:`TapeScalar`), an
                array a recorded call returned, or a list of them (their sum).
            sources: a weight (Variable), an array a recorded call read, or a
                (nested) list of them.
            output_gradients: for array targets, the upstream gradient (ones
                by default, as TensorFlow: the gradient of the sum).

        Returns:
            Gradients shaped like ``sources`` (the same nesting), ``None``
            where no recorded path connects a source to the target.
        """
        if self._recording and not self.persistent:
            warnings.warn(
                "GradientTape.gradient was called inside the tape's `with` block: later calls are "
                "recorded too. Call it after the block.", stacklevel=2)
        if self._used and not self.persistent:
            raise RuntimeError(
                "GradientTape.gradient: a non-persistent GradientTape can only be used to compute one "
                "set of gradients. Use GradientTape(persistent=True) to call gradient() several times."
            )
        seeds = list(self._seeds(target, output_gradients))
        self._used = True
        grads = {}  # id(array or Variable) -> gradient: what the walk has reached so far
        included = set()  # ids of the layers whose added losses the target adds
        for item, upstream in seeds:
            if isinstance(item, TapeScalar):
                for loss_call, coefficient in item._loss_terms().items():
                    if isinstance(loss_call, _AddedLosses):
                        included.add(id(loss_call.layer))
                    else:
                        loss_call.seed(grads, coefficient)
            else:
                _accumulate(grads, id(item), upstream)
        self._warn_added_losses(included)
        reached, penalised = set(), set()
        for call in reversed(self._calls):
            upstream = [grads.get(id(output)) for output in call.outputs]
            upstream = _with_own_activity_gradients(call, upstream, included, penalised)
            if all(g is None for g in upstream):
                continue
            reached.add(id(call))
            upstream = [backend.xp.zeros_like(o) if g is None else g for g, o in zip(upstream, call.outputs)]
            input_grads, named = call.layer.backward(upstream if call.outputs_are_list else upstream[0], call.cache)
            input_grads = input_grads if call.inputs_are_list else [input_grads]
            for output in call.outputs:
                # An output that IS an input (Dropout at inference returns its input): its slot held the
                # upstream, which the backward has just passed on; the input's gradient replaces it.
                if any(output is array for array in call.inputs):
                    grads.pop(id(output), None)
            for array, original, grad in zip(call.inputs, call.given, input_grads):
                if grad is not None:
                    _accumulate(grads, id(array), grad)
                    if original is not array:  # the caller's array, before the call cast it
                        _accumulate(grads, id(original), grad)
            variables = dict(zip(call.layer.trainable_weight_names, call.layer.trainable_weights))
            for name, grad in named.items():
                if grad is not None and name in variables:
                    _accumulate(grads, id(variables[name]), grad)
        results = _map_structure(sources, lambda source: _gradient_of(source, grads))
        self._warn_unreached(sources, results, reached)
        if not self.persistent:
            self._calls, self._producer = [], {}  # TensorFlow frees a used tape's records too
        return results

    def _seeds(self, target, output_gradients):
        targets = list(target) if isinstance(target, (list, tuple)) else [target]
        upstreams = (list(output_gradients) if isinstance(output_gradients, (list, tuple))
                     else [output_gradients] * len(targets))
        if len(upstreams) != len(targets):
            raise ValueError(
                f"GradientTape.gradient: {len(targets)} targets but {len(upstreams)} output_gradients.")
        for item, upstream in zip(targets, upstreams):
            if isinstance(item, TapeScalar):
                if item._tape is not self:
                    raise ValueError("GradientTape.gradient: this loss was computed on another tape "
                                     "(or outside any tape).")
                yield item, None
            elif id(item) in self._producer and self._producer[id(item)][0].outputs[
                    self._producer[id(item)][1]] is item:
                upstream = backend.xp.ones_like(item) if upstream is None else backend.xp.asarray(
                    upstream, dtype=item.dtype)
                if upstream.shape != item.shape:
                    raise ValueError(
                        f"GradientTape.gradient: output_gradients must be shaped like the target "
                        f"{item.shape}. Received: {upstream.shape}")
                yield item, upstream
            else:
                raise ValueError(
                    "GradientTape.gradient: the target was not computed on this tape. course_lib's tape "
                    "records layer, model and loss calls made inside its `with` block, and + - * / "
                    "between those losses; a value made by other arithmetic (a NumPy mean, math.log, a "
                    f"float()) is a constant. Received a target of type {type(item).__name__}."
                )

    def _warn_added_losses(self, included):
        for call in self._calls:
            if call.added_losses and id(call.layer) not in included:
                warnings.warn(
                    f"GradientTape.gradient: '{call.layer.name}' added losses during its call (add_loss or "
                    "an activity regularizer) that the target does not add. Keras then leaves their "
                    "gradients out; course_lib's backward of the call includes them. Add sum(model.losses) "
                    "to the loss, as Keras's custom training loops do.", RuntimeWarning, stacklevel=3)
                return

    def _warn_unreached(self, sources, results, reached):
        flat_sources, flat_results = _flatten(sources), _flatten(results)
        missing = {id(s) for s, g in zip(flat_sources, flat_results) if g is None}
        if not missing:
            return
        for call in self._calls:
            if id(call) in reached:
                continue
            owned = [w for w in call.layer.trainable_weights if id(w) in missing]
            if owned:
                warnings.warn(
                    f"GradientTape.gradient: no gradient reached the weights of '{call.layer.name}' "
                    "although it was called on this tape: what it returned is either unused or reached "
                    "the target only through operations the tape does not record (NumPy arithmetic, "
                    "indexing, concatenation). Only layer, model and loss calls, and + - * / on losses, are "
                    "recorded; call layers on the arrays a layer returned.", RuntimeWarning, stacklevel=3)
                return


class _Paused:
    def __init__(self, tape):
        self.tape = tape

    def __enter__(self):
        _RECORDING.remove(self.tape)

    def __exit__(self, *exc_info):
        _RECORDING.append(self.tape)
        return False


class _Call:
    """One recorded call: the layer (or model), its inputs and outputs, and the cache of its forward."""

    def __init__(self, layer, inputs, outputs, cache, given=None):
        self.layer, self.cache = layer, cache
        self.inputs_are_list = isinstance(inputs, (list, tuple))
        self.outputs_are_list = isinstance(outputs, (list, tuple))
        # The arrays themselves are kept, so that their ids stay theirs while the tape lives.
        self.inputs = list(inputs) if self.inputs_are_list else [inputs]
        self.outputs = list(outputs) if self.outputs_are_list else [outputs]
        # What the caller passed, where it has the same structure (one array, or a list of them).
        if given is None or isinstance(given, (list, tuple)) != self.inputs_are_list:
            given = self.inputs
        given = list(given) if self.inputs_are_list else [given]
        self.given = given if len(given) == len(self.inputs) else self.inputs


class _LossCall:
    """One recorded loss call; ``seed`` adds ``coefficient * d loss / d y_pred`` to the gradients."""

    def __init__(self, loss, y_true, y_pred, sample_weight):
        self.loss, self.y_true, self.y_pred, self.sample_weight = loss, y_true, y_pred, sample_weight

    def seed(self, grads, coefficient):
        grad = self.loss.gradient(self.y_true, self.y_pred, sample_weight=self.sample_weight)
        grad = backend.xp.asarray(grad).reshape(backend.xp.shape(self.y_pred))
        _accumulate(grads, id(self.y_pred), grad * grad.dtype.type(coefficient))


class TapeScalar(float):
    """A loss value recorded on a tape: a float, plus the linear combination of loss calls it is.

    ``+``, ``-``, ``*`` and ``/`` with numbers or other TapeScalars keep the
    record (a product of two losses by the product rule); any other function of
    it gives a plain float, which a tape cannot differentiate.
    """

    def __new__(cls, value, tape, terms):
        scalar = super().__new__(cls, value)
        scalar._tape = tape
        scalar._terms = terms  # ((_LossCall or TapeScalar, coefficient), ...)
        return scalar

    def _loss_terms(self):
        totals = {}
        stack = [(self, 1.0)]
        while stack:
            item, coefficient = stack.pop()
            for parent, weight in item._terms:
                if isinstance(parent, TapeScalar):
                    stack.append((parent, coefficient * weight))
                else:
                    totals[parent] = totals.get(parent, 0.0) + coefficient * weight
        return totals

    def _combine(self, other, value, self_weight, other_weight):
        if isinstance(other, TapeScalar):
            if other._tape is not self._tape:
                raise ValueError("TapeScalar: these two losses were recorded on different tapes.")
            return TapeScalar(value, self._tape, ((self, self_weight), (other, other_weight)))
        return TapeScalar(value, self._tape, ((self, self_weight),))

    def __add__(self, other):
        if not isinstance(other, numbers.Real):
            return NotImplemented
        return self._combine(other, float(self) + float(other), 1.0, 1.0)

    __radd__ = __add__

    def __sub__(self, other):
        if not isinstance(other, numbers.Real):
            return NotImplemented
        return self._combine(other, float(self) - float(other), 1.0, -1.0)

    def __rsub__(self, other):
        if not isinstance(other, numbers.Real):
            return NotImplemented
        return self._combine(other, float(other) - float(self), -1.0, 1.0)

    def __mul__(self, other):
        if not isinstance(other, numbers.Real):
            return NotImplemented
        return self._combine(other, float(self) * float(other), float(other), float(self))

    __rmul__ = __mul__

    def __truediv__(self, other):
        if isinstance(other, TapeScalar):
            value = float(self) / float(other)
            return self._combine(other, value, 1.0 / float(other), -value / float(other))
        if not isinstance(other, numbers.Real):
            return NotImplemented
        return self._combine(other, float(self) / float(other), 1.0 / float(other), 0.0)

    def __neg__(self):
        return TapeScalar(-float(self), self._tape, ((self, -1.0),))

    def __pos__(self):
        return self

    def __repr__(self):
        return f"TapeScalar({float(self)!r})"


# ---- hooks the layers and losses call --------------------------------------
def recording():
    """Whether a call starting now is recorded (a tape is open and no recorded call is running)."""
    return bool(_RECORDING) and _DEPTH[0] == 0


class recorded_call:
    """``with recorded_call(layer) as record: outputs, cache = ...; record(inputs, outputs, cache)``.

    Calls made inside (a layer's sublayers) are not recorded: the outer call's backward covers them.
    """

    def __init__(self, layer):
        self.layer = layer
        self.active = recording()

    def __enter__(self):
        _DEPTH[0] += 1
        return self

    def __exit__(self, *exc_info):
        _DEPTH[0] -= 1
        return False

    def __call__(self, inputs, outputs, cache, given=None):
        """``given``: the inputs as the caller passed them, before the call cast them (same structure)."""
        if self.active and self.layer.differentiable:
            for tape in _RECORDING:
                tape._record_call(self.layer, inputs, outputs, cache, given)


def record_loss(loss, y_true, y_pred, sample_weight, value):
    """The loss ``value`` as a :class:`TapeScalar` of the innermost open tape (``value`` itself if none)."""
    if not recording() or not isinstance(value, float):
        return value
    tape = _RECORDING[-1]
    return TapeScalar(value, tape, ((_LossCall(loss, y_true, y_pred, sample_weight), 1.0),))


def record_penalty(regularized, value, where):
    """The weights' penalties ``value`` (a float) as a :class:`TapeScalar`, when a tape is open.

    ``regularized`` lists ``(name, Variable, regularizer)``; the gradient of each
    penalty goes straight to its weight.
    """
    if not recording():
        return value
    return TapeScalar(value, _RECORDING[-1], ((_PenaltyCall(regularized, where), 1.0),))


def record_eager_losses(layer, values):
    """The losses ``layer`` added in its last call (add_loss, activity regularizers), as :class:`TapeScalar`\\ s
    that tell the tape the target adds them (their gradients come from the layer's backward)."""
    if not recording():
        return values
    marker = _AddedLosses(layer)
    return [TapeScalar(backend.to_float(value), _RECORDING[-1], ((marker, 0.0),)) for value in values]


class _AddedLosses:
    """A layer's added losses in a target: their gradients are the backward's business, nothing to seed."""

    def __init__(self, layer):
        self.layer = layer


class _PenaltyCall:
    """The weight penalties of a ``compute_loss``: ``seed`` adds their gradients to the weights'."""

    def __init__(self, regularized, where):
        self.regularized, self.where = list(regularized), where

    def seed(self, grads, coefficient):
        from course_lib import regularizers

        for _, variable, regularizer in self.regularized:
            grad = regularizers.gradient(regularizer, variable.value, f"{self.where}, weight '{variable.path}'")
            _accumulate(grads, id(variable), grad * grad.dtype.type(coefficient))


# ---- helpers ---------------------------------------------------------------
def _with_own_activity_gradients(call, upstream, included, penalised):
    """``upstream`` plus the gradient of the call's activity penalty, for a layer called on its own whose
    penalty the target adds (a model's backward already includes its layers' penalties). Only the
    layer's last call counts: ``layer.losses`` holds that call's penalty."""
    from course_lib import models
    from course_lib.layers.base import activity_gradients

    layer = call.layer
    regularizer = getattr(layer, "activity_regularizer", None)
    if regularizer is None or id(layer) not in included or id(layer) in penalised or isinstance(layer, models.Model):
        return upstream
    penalised.add(id(layer))
    extra = activity_gradients(regularizer, call.outputs, f"Layer '{layer.name}' activity_regularizer")
    return [g if e is None else (e if g is None else g + e) for g, e in zip(upstream, extra)]


def _accumulate(grads, key, value):
    grads[key] = value if grads.get(key) is None else grads[key] + value


def _gradient_of(source, grads):
    grad = grads.get(id(source))
    if grad is None:
        return None
    dtype = getattr(source, "dtype", None)
    return grad.astype(dtype, copy=False) if dtype is not None else grad


def _map_structure(value, function):
    if isinstance(value, (list, tuple)):
        return type(value)(_map_structure(item, function) for item in value)
    return function(value)


def _flatten(value):
    if isinstance(value, (list, tuple)):
        return [leaf for item in value for leaf in _flatten(item)]
    return [value]
