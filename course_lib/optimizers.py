"""Optimizers and learning-rate schedules, with Keras 3's update formulas.

An optimizer turns gradients into in-place updates of NumPy arrays. The
arrays are the layers' own weights: the optimizer writes into them
(``variable -= ...``) and never rebinds them, because each layer keeps a
reference to its arrays and would otherwise go on using the old values.

One step of :meth:`Optimizer.apply` does what Keras 3 does, in this order:

1. drop the pairs whose gradient is ``None`` (with a warning);
2. clip the gradients (``clipnorm``, ``clipvalue`` or ``global_clipnorm``);
3. decoupled weight decay: ``variable -= variable * weight_decay * lr``;
4. the optimizer's own ``update_step`` for each variable;
5. once every variable is updated, each Keras Variable that has a
   ``constraint`` (``kernel_constraint=`` ...) is replaced by
   ``constraint(variable)``, as Keras does after the update;
6. ``iterations += 1``.

The learning rate of a step is read once, before the step, so a schedule is
evaluated at the number of steps already taken (0 for the first step).

Per-variable state ("slots": momentums, velocities, ...) is created on the
first call for the variables seen then, in Keras's order, and lives in
:attr:`Optimizer.variables`. Arithmetic runs in each variable's dtype: a
float32 weight stays float32, a float64 weight is updated in float64.

Example::

    from course_lib import optimizers
    weights = [kernel, bias]                     # NumPy arrays owned by a layer
    optimizer = optimizers.Adam(learning_rate=1e-3)
    optimizer.apply(gradients, weights)          # updates kernel and bias in place
"""
from __future__ import annotations

import abc
import math
import numbers
import re
import sys
import types
import warnings
from collections.abc import MutableMapping

from course_lib.variables import Variable, unwrap
from course_lib import backend

__all__ = [
    "Optimizer",
    "SGD",
    "RMSprop",
    "Adam",
    "AdamW",
    "Adagrad",
    "Adadelta",
    "Adamax",
    "Nadam",
    "Lion",
    "ScheduleFreeAdamW",
    "Lamb",
    "Ftrl",
    "Adafactor",
    "Muon",
    "LossScaleOptimizer",
    "MultiOptimizer",
    "OptimizerMap",
    "get",
    "serialize",
    "deserialize",
    "schedules",
]


# --------------------------------------------------------------------------
# Argument checks shared by optimizers and schedules
# --------------------------------------------------------------------------

def _check_number(where, argument, value, low=None, high=None,
                  low_open=False, high_open=False):
    """Return ``value`` as a float after checking its type and range.

    Raises TypeError for something that is not a real number (booleans
    included, since ``momentum=True`` is always a slip) and ValueError for a
    number outside ``[low, high]`` (ends excluded when ``low_open`` /
    ``high_open``) or not finite.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(
            f"{where}: `{argument}` must be a float. "
            f"Received: {argument}={value!r} of type {type(value).__name__}"
        )
    number = float(value)
    too_low = low is not None and (number <= low if low_open else number < low)
    too_high = high is not None and (number >= high if high_open else number > high)
    if not math.isfinite(number) or too_low or too_high:
        if low is not None and high is not None:
            wanted = (f"in {'(' if low_open else '['}{low:g}, {high:g}"
                      f"{')' if high_open else ']'}")
        elif low is not None:
            wanted = f"{'>' if low_open else '>='} {low:g}"
        else:
            wanted = f"{'<' if high_open else '<='} {high:g}"
        raise ValueError(
            f"{where}: `{argument}` must be a finite float {wanted}. "
            f"Received: {argument}={value!r}"
        )
    return number


def _check_bool(where, argument, value):
    if not isinstance(value, bool):
        raise TypeError(
            f"{where}: `{argument}` must be True or False. "
            f"Received: {argument}={value!r}"
        )
    return value


# --------------------------------------------------------------------------
# Learning-rate schedules
# --------------------------------------------------------------------------

class LearningRateSchedule(abc.ABC):
    """A learning rate that depends on the step: ``schedule(step) -> float``.

    Pass an instance as an optimizer's ``learning_rate``; the optimizer calls
    it with its ``iterations`` (the number of steps already applied) before
    every step, as Keras does.
    """

    @abc.abstractmethod
    def __call__(self, step) -> float:
        """The learning rate to use at ``step`` (an int >= 0)."""

    @abc.abstractmethod
    def get_config(self) -> dict:
        """The constructor arguments, so that ``cls(**config)`` rebuilds it."""

    @classmethod
    def from_config(cls, config):
        """Rebuild a schedule from :meth:`get_config`'s output."""
        return cls(**config)

    def _check_step(self, step):
        return _check_number(f"{type(self).__name__}", "step", step, low=0)

    def __repr__(self):
        arguments = ", ".join(f"{key}={value!r}" for key, value in self.get_config().items())
        return f"{type(self).__name__}({arguments})"


class _DecaySchedule(LearningRateSchedule):
    """Shared arguments of the two decays: a rate, a step scale, a decay rate."""

    def __init__(self, initial_learning_rate, decay_steps, decay_rate, staircase=False, name=None):
        where = type(self).__name__
        self.initial_learning_rate = _check_number(
            where, "initial_learning_rate", initial_learning_rate, low=0)
        self.decay_steps = _check_number(where, "decay_steps", decay_steps, low=0, low_open=True)
        self.decay_rate = _check_number(where, "decay_rate", decay_rate, low=0)
        self.staircase = _check_bool(where, "staircase", staircase)
        self.name = name or where
        # Keep the integers the user gave so that configs echo them unchanged.
        if isinstance(decay_steps, numbers.Integral):
            self.decay_steps = int(decay_steps)

    def _progress(self, step):
        progress = self._check_step(step) / self.decay_steps
        return math.floor(progress) if self.staircase else progress

    def get_config(self):
        return {
            "initial_learning_rate": self.initial_learning_rate,
            "decay_steps": self.decay_steps,
            "decay_rate": self.decay_rate,
            "staircase": self.staircase,
            "name": self.name,
        }


class ExponentialDecay(_DecaySchedule):
    """``initial_learning_rate * decay_rate ** (step / decay_steps)``.

    With ``staircase=True`` the exponent is floored, so the rate drops in
    steps every ``decay_steps`` steps.

    Args:
        initial_learning_rate: float >= 0, the rate at step 0.
        decay_steps: float > 0, the number of steps over which the rate is
            multiplied by ``decay_rate`` once.
        decay_rate: float >= 0.
        staircase: bool, floor ``step / decay_steps``.
        name: str, kept for Keras compatibility of configs.
    """

    def __init__(self, initial_learning_rate, decay_steps, decay_rate,
                 staircase=False, name="ExponentialDecay"):
        super().__init__(initial_learning_rate, decay_steps, decay_rate, staircase, name)

    def __call__(self, step) -> float:
        return self.initial_learning_rate * self.decay_rate ** self._progress(step)


class InverseTimeDecay(_DecaySchedule):
    """``initial_learning_rate / (1 + decay_rate * step / decay_steps)``.

    With ``decay_steps=1`` this is exactly the ``decay=`` argument of Keras 2
    optimizers (``lr / (1 + decay * iterations)``), which Keras 3 removed.

    Args:
        initial_learning_rate: float >= 0, the rate at step 0.
        decay_steps: float > 0.
        decay_rate: float >= 0.
        staircase: bool, floor ``step / decay_steps``.
        name: str, kept for Keras compatibility of configs.
    """

    def __init__(self, initial_learning_rate, decay_steps, decay_rate,
                 staircase=False, name="InverseTimeDecay"):
        super().__init__(initial_learning_rate, decay_steps, decay_rate, staircase, name)

    def __call__(self, step) -> float:
        return self.initial_learning_rate / (1.0 + self.decay_rate * self._progress(step))


class PiecewiseConstantDecay(LearningRateSchedule):
    """A constant rate on each interval between boundaries.

    ``values[0]`` while ``step <= boundaries[0]``, ``values[i]`` while
    ``boundaries[i-1] < step <= boundaries[i]``, and ``values[-1]`` once
    ``step > boundaries[-1]`` (Keras's closed-on-the-right intervals).

    Args:
        boundaries: increasing list of steps, length n.
        values: list of n + 1 learning rates.
        name: str, kept for Keras compatibility of configs.
    """

    def __init__(self, boundaries, values, name="PiecewiseConstant"):
        where = "PiecewiseConstantDecay"
        boundaries, values = list(boundaries), list(values)
        if len(boundaries) != len(values) - 1 or not boundaries:
            raise ValueError(
                f"{where}: `values` must have exactly one more entry than "
                f"`boundaries`, and `boundaries` at least one. Received: "
                f"boundaries={boundaries} (length {len(boundaries)}), "
                f"values={values} (length {len(values)})"
            )
        for boundary in boundaries:
            _check_number(where, "boundaries", boundary)
        for value in values:
            _check_number(where, "values", value, low=0)
        if any(later <= earlier for earlier, later in zip(boundaries, boundaries[1:])):
            raise ValueError(
                f"{where}: `boundaries` must be strictly increasing. "
                f"Received: boundaries={boundaries}"
            )
        self.boundaries = boundaries
        self.values = values
        self.name = name

    def __call__(self, step) -> float:
        step = self._check_step(step)
        for boundary, value in zip(self.boundaries, self.values):
            if step <= boundary:
                return float(value)
        return float(self.values[-1])

    def get_config(self):
        return {"boundaries": self.boundaries, "values": self.values, "name": self.name}


def _keep_integer(value, number):
    """``value`` itself when it is an integer (so that configs echo it), else ``number``."""
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        return int(value)
    return number


class PolynomialDecay(LearningRateSchedule):
    """From ``initial_learning_rate`` to ``end_learning_rate`` along ``(1 - p) ** power``.

    With ``p = min(step, decay_steps) / decay_steps``::

        (initial_learning_rate - end_learning_rate) * (1 - p) ** power + end_learning_rate

    so the rate stays at ``end_learning_rate`` after ``decay_steps``. With
    ``cycle=True`` the decay starts again instead: ``p = step / (decay_steps *
    ceil(step / decay_steps))`` (``ceil`` taken as 1 at step 0), as in Keras,
    so the rate reaches ``end_learning_rate`` exactly at each multiple of
    ``decay_steps`` and jumps back up just after it, each new decay being
    longer than the one before.

    Args:
        initial_learning_rate: float >= 0, the rate at step 0.
        decay_steps: float > 0, the length of the (first) decay.
        end_learning_rate: float >= 0, default 0.0001.
        power: float >= 0, default 1.0 (a straight line).
        cycle: bool, default False.
        name: str, kept for Keras compatibility of configs.

    Keras accepts a negative rate or ``power`` and a non-boolean ``cycle``;
    course_lib raises for them (a negative ``power`` makes the rate infinite at
    ``decay_steps``).
    """

    def __init__(self, initial_learning_rate, decay_steps, end_learning_rate=0.0001,
                 power=1.0, cycle=False, name="PolynomialDecay"):
        where = "PolynomialDecay"
        self.initial_learning_rate = _check_number(
            where, "initial_learning_rate", initial_learning_rate, low=0)
        self.decay_steps = _keep_integer(decay_steps, _check_number(
            where, "decay_steps", decay_steps, low=0, low_open=True))
        self.end_learning_rate = _check_number(where, "end_learning_rate", end_learning_rate, low=0)
        self.power = _check_number(where, "power", power, low=0)
        self.cycle = _check_bool(where, "cycle", cycle)
        self.name = name

    def __call__(self, step) -> float:
        step = self._check_step(step)
        decay_steps = float(self.decay_steps)
        if self.cycle:
            decay_steps *= 1.0 if step == 0 else math.ceil(step / decay_steps)
        else:
            step = min(step, decay_steps)
        remaining = 1.0 - step / decay_steps
        return ((self.initial_learning_rate - self.end_learning_rate) * remaining ** self.power
                + self.end_learning_rate)

    def get_config(self):
        return {
            "initial_learning_rate": self.initial_learning_rate,
            "decay_steps": self.decay_steps,
            "end_learning_rate": self.end_learning_rate,
            "power": self.power,
            "cycle": self.cycle,
            "name": self.name,
        }


class CosineDecay(LearningRateSchedule):
    """Half a cosine from the rate down to ``alpha`` times the rate, after an optional linear warmup.

    Without warmup (``warmup_target=None``), with ``p = min(step, decay_steps) / decay_steps``::

        initial_learning_rate * ((1 - alpha) * 0.5 * (1 + cos(pi * p)) + alpha)

    With a ``warmup_target``, the rate first climbs in a straight line from
    ``initial_learning_rate`` (step 0) towards ``warmup_target`` (reached at
    step ``warmup_steps``), then the cosine above runs from ``warmup_target``
    over the next ``decay_steps`` steps (``p = min(step - warmup_steps,
    decay_steps) / decay_steps``), and the rate stays at ``alpha *
    warmup_target`` afterwards. As in Keras, ``warmup_steps`` is ignored when
    ``warmup_target`` is None, and ``warmup_steps=0`` with a target starts
    the decay from the target at once.

    Args:
        initial_learning_rate: float >= 0, the rate at step 0.
        decay_steps: float > 0, the length of the cosine.
        alpha: float in [0, 1], default 0.0: the final rate as a fraction of
            the rate the cosine starts from.
        name: str, kept for Keras compatibility of configs.
        warmup_target: None or float >= 0, the rate at the end of the warmup.
        warmup_steps: float >= 0, default 0, the length of the warmup.

    Keras accepts any ``alpha``, negative rates and a negative
    ``warmup_steps``; course_lib raises for them.
    """

    def __init__(self, initial_learning_rate, decay_steps, alpha=0.0, name="CosineDecay",
                 warmup_target=None, warmup_steps=0):
        where = "CosineDecay"
        self.initial_learning_rate = _check_number(
            where, "initial_learning_rate", initial_learning_rate, low=0)
        self.decay_steps = _keep_integer(decay_steps, _check_number(
            where, "decay_steps", decay_steps, low=0, low_open=True))
        self.alpha = _check_number(where, "alpha", alpha, low=0, high=1)
        self.name = name
        self.warmup_target = (None if warmup_target is None else
                              _check_number(where, "warmup_target", warmup_target, low=0))
        self.warmup_steps = _keep_integer(warmup_steps, _check_number(
            where, "warmup_steps", warmup_steps, low=0))

    def _cosine(self, step, start):
        fraction = min(step, self.decay_steps) / self.decay_steps
        return start * ((1.0 - self.alpha) * 0.5 * (1.0 + math.cos(math.pi * fraction)) + self.alpha)

    def __call__(self, step) -> float:
        step = self._check_step(step)
        if self.warmup_target is None:
            return self._cosine(step, self.initial_learning_rate)
        if step < self.warmup_steps:
            climb = self.warmup_target - self.initial_learning_rate
            return climb * (step / self.warmup_steps) + self.initial_learning_rate
        return self._cosine(step - self.warmup_steps, self.warmup_target)

    def get_config(self):
        return {
            "initial_learning_rate": self.initial_learning_rate,
            "decay_steps": self.decay_steps,
            "alpha": self.alpha,
            "name": self.name,
            "warmup_target": self.warmup_target,
            "warmup_steps": self.warmup_steps,
        }


class CosineDecayRestarts(LearningRateSchedule):
    """Cosine decays with warm restarts (SGDR, Loshchilov & Hutter 2016).

    Period ``i`` (from 0) lasts ``first_decay_steps * t_mul ** i`` steps;
    during it the rate falls along half a cosine from ``initial_learning_rate
    * m_mul ** i``, with ``f`` the fraction of the period done::

        initial_learning_rate * ((1 - alpha) * m_mul ** i * 0.5 * (1 + cos(pi * f)) + alpha)

    and jumps back up at the start of the next period. Note that, as in Keras,
    ``alpha`` is not scaled by ``m_mul ** i``.

    Keras finds the period with a float32 logarithm, which on a step exactly
    at a restart can land in either period (Keras then gives the period's end,
    ``alpha * initial_learning_rate``, or the next one's start). course_lib
    corrects the logarithm's period by the exact period boundaries, so a
    restart step always starts the new period; off the restart steps both
    agree to float32 rounding.

    Args:
        initial_learning_rate: float >= 0, the rate at step 0.
        first_decay_steps: float > 0, the length of the first period.
        t_mul: float >= 1, default 2.0: each period is ``t_mul`` times longer
            than the one before.
        m_mul: float >= 0, default 1.0: each period starts at ``m_mul`` times
            the rate the one before started at.
        alpha: float in [0, 1], default 0.0: the rate at the end of each
            period, as a fraction of ``initial_learning_rate``.
        name: str, kept for Keras compatibility of configs.

    Keras also accepts ``t_mul < 1``: its periods then shrink and add up to
    ``first_decay_steps / (1 - t_mul)`` steps, after which Keras returns NaN;
    course_lib raises for it, as for negative ``m_mul``, ``alpha`` outside
    [0, 1] and negative rates.
    """

    def __init__(self, initial_learning_rate, first_decay_steps, t_mul=2.0, m_mul=1.0,
                 alpha=0.0, name="SGDRDecay"):
        where = "CosineDecayRestarts"
        self.initial_learning_rate = _check_number(
            where, "initial_learning_rate", initial_learning_rate, low=0)
        self.first_decay_steps = _keep_integer(first_decay_steps, _check_number(
            where, "first_decay_steps", first_decay_steps, low=0, low_open=True))
        self.t_mul = _check_number(where, "t_mul", t_mul, low=1)
        self.m_mul = _check_number(where, "m_mul", m_mul, low=0)
        self.alpha = _check_number(where, "alpha", alpha, low=0, high=1)
        self.name = name

    def _period(self, fraction):
        """``(i, f)``: the period that ``fraction`` (steps / first_decay_steps) lies in, and the part of it done."""
        t_mul = self.t_mul
        if t_mul == 1.0:
            period = math.floor(fraction)
            return period, fraction - period

        def start(i):  # where period i starts, in units of first_decay_steps
            return (t_mul ** i - 1.0) / (t_mul - 1.0)

        period = math.floor(math.log(1.0 + fraction * (t_mul - 1.0)) / math.log(t_mul))
        while start(period + 1) <= fraction:
            period += 1
        while period > 0 and start(period) > fraction:
            period -= 1
        return period, (fraction - start(period)) / t_mul ** period

    def __call__(self, step) -> float:
        step = self._check_step(step)
        period, done = self._period(step / self.first_decay_steps)
        cosine = 0.5 * self.m_mul ** period * (1.0 + math.cos(math.pi * done))
        return self.initial_learning_rate * ((1.0 - self.alpha) * cosine + self.alpha)

    def get_config(self):
        return {
            "initial_learning_rate": self.initial_learning_rate,
            "first_decay_steps": self.first_decay_steps,
            "t_mul": self.t_mul,
            "m_mul": self.m_mul,
            "alpha": self.alpha,
            "name": self.name,
        }


_SCHEDULES = {
    cls.__name__: cls
    for cls in (ExponentialDecay, InverseTimeDecay, PiecewiseConstantDecay,
                PolynomialDecay, CosineDecay, CosineDecayRestarts)
}


def serialize_schedule(schedule) -> dict:
    """A schedule's dict as ``keras.optimizers.schedules.serialize`` writes it.

    ``{'module': 'keras.optimizers.schedules', 'class_name': ..., 'config':
    ..., 'registered_name': None}``: the form Keras keeps in an optimizer's
    config, so that an optimizer's config (and the ``.keras`` file that holds
    it) loads in Keras. A schedule class defined outside this module gets
    ``'module': None``.
    """
    if not isinstance(schedule, LearningRateSchedule):
        raise TypeError(
            "schedules.serialize: expected a LearningRateSchedule. "
            f"Received: {schedule!r}"
        )
    name = type(schedule).__name__
    built_in = _SCHEDULES.get(name) is type(schedule)
    return {"module": "keras.optimizers.schedules" if built_in else None, "class_name": name,
            "config": schedule.get_config(), "registered_name": None}


def deserialize_schedule(config) -> LearningRateSchedule:
    """Rebuild a schedule from ``{'class_name': ..., 'config': ...}``.

    Keras's own serialized schedules (with extra ``module`` and
    ``registered_name`` keys) are accepted too.
    """
    if not isinstance(config, dict) or "class_name" not in config:
        raise ValueError(
            "schedules.deserialize: expected a dict with keys 'class_name' and "
            f"'config'. Received: {config!r}"
        )
    cls = _SCHEDULES.get(config["class_name"])
    if cls is None:
        raise ValueError(
            f"schedules.deserialize: unknown schedule {config['class_name']!r}. "
            f"Known schedules: {sorted(_SCHEDULES)}"
        )
    return cls.from_config(dict(config.get("config", {})))


# Keras users write `keras.optimizers.schedules.ExponentialDecay`. A module
# object registered in sys.modules gives that spelling, and also
# `from course_lib.optimizers.schedules import ExponentialDecay`, while the
# whole optimizer story stays in this one file.
schedules = types.ModuleType(
    __name__ + ".schedules",
    "Learning-rate schedules: ExponentialDecay, InverseTimeDecay, PiecewiseConstantDecay, "
    "PolynomialDecay, CosineDecay, CosineDecayRestarts.",
)
schedules.LearningRateSchedule = LearningRateSchedule
schedules.ExponentialDecay = ExponentialDecay
schedules.InverseTimeDecay = InverseTimeDecay
schedules.PiecewiseConstantDecay = PiecewiseConstantDecay
schedules.PolynomialDecay = PolynomialDecay
schedules.CosineDecay = CosineDecay
schedules.CosineDecayRestarts = CosineDecayRestarts
schedules.serialize = serialize_schedule
schedules.deserialize = deserialize_schedule
sys.modules[schedules.__name__] = schedules


# --------------------------------------------------------------------------
# The optimizer base class
# --------------------------------------------------------------------------

# Keras 3 arguments course_lib does not implement: accepted only at the value
# that switches them off, so that a config written by tf.keras loads here.
_INACTIVE_KERAS_ARGUMENTS = {
    "loss_scale_factor": (None, "loss scaling"),
    "gradient_accumulation_steps": (None, "gradient accumulation"),
}


class Optimizer(abc.ABC):
    """Base class: gradient clipping, weight decay, slots and the step loop.

    A subclass creates its slots in :meth:`_create_slots` with
    :meth:`add_optimizer_variables` and writes its formula in
    :meth:`update_step`.

    Args:
        learning_rate: float >= 0, a :class:`LearningRateSchedule`, or a
            callable without arguments that returns the rate.
        weight_decay: None or float >= 0. Decoupled decay applied before each
            update: ``variable -= variable * weight_decay * learning_rate``.
        clipnorm: None or float > 0. Each gradient is rescaled so that its own
            L2 norm is at most ``clipnorm``.
        clipvalue: None or float > 0. Each gradient element is clipped to
            ``[-clipvalue, clipvalue]``.
        global_clipnorm: None or float > 0. All gradients are rescaled by one
            factor so that their joint L2 norm is at most ``global_clipnorm``.
            At most one of the three clipping arguments may be set.
        use_ema: bool, default False. Keep an exponential moving average of
            every weight (one ``average`` slot per weight, created before the
            optimizer's own slots, as in Keras): after each step
            ``average = m * average + (1 - m) * variable``, with
            ``m = ema_momentum`` except at the very first step (``m = 0``:
            the average starts at the weights). :meth:`finalize_variable_values`
            (and the ``SwapEMAWeights`` callback) put the averages in the model.
        ema_momentum: float in [0, 1], default 0.99 (checked only with
            ``use_ema=True``, as in Keras).
        ema_overwrite_frequency: None or int >= 1: with ``use_ema=True``,
            every that many steps the weights are overwritten by their
            averages (Keras's rule: when ``(iterations + 1) % frequency == 0``,
            ``iterations`` counted before the step).
        name: None or str; by default the snake-case class name, numbered
            (``adam``, ``adam_1``, ...) as Keras names them.

    Keras 2 spellings get an error that says what replaced them: ``lr=`` is
    ``learning_rate=``; ``decay=`` is a schedule (``decay=None`` or ``0`` is
    accepted since it changes nothing). Keras 3 features course_lib does not
    implement (``loss_scale_factor``, ``gradient_accumulation_steps``) are
    accepted only switched off, so that configs written by tf.keras load;
    switched on, they raise.
    """

    def __init__(self, learning_rate, weight_decay=None, clipnorm=None,
                 clipvalue=None, global_clipnorm=None, use_ema=False, ema_momentum=0.99,
                 ema_overwrite_frequency=None, name=None, **kwargs):
        where = type(self).__name__
        self._check_keyword_arguments(kwargs)
        self.use_ema = _check_bool(where, "use_ema", use_ema)
        self.ema_momentum = ema_momentum
        self.ema_overwrite_frequency = ema_overwrite_frequency
        if use_ema:
            # As Keras: both are checked only when the averages are kept.
            self.ema_momentum = _check_number(where, "ema_momentum", ema_momentum, low=0, high=1)
            if ema_overwrite_frequency is not None and (
                    isinstance(ema_overwrite_frequency, bool)
                    or not isinstance(ema_overwrite_frequency, numbers.Integral)
                    or ema_overwrite_frequency < 1):
                raise ValueError(
                    f"{where}: `ema_overwrite_frequency` must be an integer >= 1 or None. "
                    f"Received: ema_overwrite_frequency={ema_overwrite_frequency!r}"
                )
        self._learning_rate = self._checked_learning_rate(learning_rate)
        self.weight_decay = (None if weight_decay is None else
                             _check_number(where, "weight_decay", weight_decay, low=0))
        self.clipnorm = (None if clipnorm is None else
                         _check_number(where, "clipnorm", clipnorm, low=0, low_open=True))
        self.clipvalue = (None if clipvalue is None else
                          _check_number(where, "clipvalue", clipvalue, low=0, low_open=True))
        self.global_clipnorm = (None if global_clipnorm is None else
                                _check_number(where, "global_clipnorm", global_clipnorm,
                                              low=0, low_open=True))
        clip_arguments = {"clipnorm": clipnorm, "clipvalue": clipvalue,
                          "global_clipnorm": global_clipnorm}
        if sum(value is not None for value in clip_arguments.values()) > 1:
            received = ", ".join(f"{key}={value}" for key, value in clip_arguments.items())
            raise ValueError(
                f"{where}: only one of `clipnorm`, `clipvalue` and "
                f"`global_clipnorm` can be set. Received: {received}"
            )
        if name is not None and not isinstance(name, str):
            raise TypeError(f"{where}: `name` must be a str or None. Received: name={name!r}")
        self.name = name or backend.unique_name(backend.snake_case(where))
        self._iterations = 0
        self.built = False
        self._trainable_variables = []
        self._variable_index = {}
        self._variables = []

    # ---- construction helpers -------------------------------------------

    def _check_keyword_arguments(self, kwargs):
        where = type(self).__name__
        # ValueError, as tf.keras raises for arguments it does not recognise.
        if "lr" in kwargs:
            raise ValueError(
                f"{where}: the argument `lr` was renamed `learning_rate` in "
                f"Keras 3 (older tutorials still write `lr=`). Write "
                f"{where}(learning_rate={kwargs['lr']!r}) instead. "
                f"Received: lr={kwargs['lr']!r}"
            )
        decay = kwargs.pop("decay", None)
        if decay is not None and decay != 0:
            raise ValueError(
                f"{where}: the argument `decay` was removed in Keras 3 (tf.keras "
                f"only warns and then ignores it, so the rate would silently stay "
                f"constant). Keras 2 used lr / (1 + decay * iterations); the same "
                f"rate is now a schedule: {where}(learning_rate=optimizers.schedules."
                f"InverseTimeDecay(initial_learning_rate=<lr>, decay_steps=1, "
                f"decay_rate={decay!r})). Received: decay={decay!r}"
            )
        for argument, (inactive, feature) in _INACTIVE_KERAS_ARGUMENTS.items():
            value = kwargs.pop(argument, inactive)
            if value != inactive or type(value) is not type(inactive):
                raise ValueError(
                    f"{where}: course_lib does not implement {feature}; "
                    f"`{argument}` must stay {inactive!r}. Received: {argument}={value!r}"
                )
        if kwargs:
            raise ValueError(
                f"{where}: unexpected keyword argument(s) {sorted(kwargs)}. "
                f"Received: {kwargs}"
            )

    def _checked_learning_rate(self, learning_rate):
        if callable(learning_rate):  # a LearningRateSchedule or a plain function
            return learning_rate
        if isinstance(learning_rate, bool) or not isinstance(learning_rate, numbers.Real):
            raise TypeError(
                f"{type(self).__name__}: `learning_rate` must be a float, a "
                f"LearningRateSchedule or a callable returning a float. "
                f"Received: learning_rate={learning_rate!r}"
            )
        return _check_number(type(self).__name__, "learning_rate", learning_rate, low=0)

    # ---- public state ----------------------------------------------------

    @property
    def iterations(self) -> int:
        """Number of steps applied so far (schedules are evaluated at it)."""
        return self._iterations

    @iterations.setter
    def iterations(self, value):
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 0:
            raise ValueError(
                f"{type(self).__name__}: `iterations` must be an int >= 0. "
                f"Received: iterations={value!r}"
            )
        self._iterations = int(value)

    @property
    def learning_rate(self) -> float:
        """The learning rate of the next step (a schedule evaluated at ``iterations``)."""
        if isinstance(self._learning_rate, LearningRateSchedule):
            return float(self._learning_rate(self._iterations))
        if callable(self._learning_rate):
            return float(self._learning_rate())
        return self._learning_rate

    @learning_rate.setter
    def learning_rate(self, value):
        if (isinstance(self._learning_rate, LearningRateSchedule)
                and not callable(value)):
            raise TypeError(
                f"{type(self).__name__}: this optimizer was created with a "
                f"LearningRateSchedule, so its learning rate cannot be set to a "
                f"number (as in Keras). Create the optimizer with a float "
                f"learning_rate if you need to change it. Received: {value!r}"
            )
        self._learning_rate = self._checked_learning_rate(value)

    @property
    def variables(self) -> list:
        """The slot arrays, in Keras's creation order.

        Keras's own ``optimizer.variables`` starts with the iteration counter
        and, unless the rate is a schedule, the learning rate; the rest lines
        up with this list one to one.
        """
        return list(self._variables)

    def _saved_variables(self):
        """The variables as Keras saves them: the iteration count (int64), the rate unless it is a
        schedule (float32), then the slots. :class:`LossScaleOptimizer` nests its inner optimizer's."""
        xp = backend.xp
        counters = [xp.asarray(self.iterations, dtype="int64")]
        if not isinstance(self._learning_rate, LearningRateSchedule):
            counters.append(xp.asarray(self.learning_rate, dtype="float32"))
        return counters + list(self.variables)

    def _nested_saved_groups(self):
        """``(group path, name, values)`` that Keras writes again under ``optimizer/`` (a wrapper's inner ones)."""
        return []

    def _counter_count(self):
        """How many of :meth:`_saved_variables` an unbuilt optimizer has (Keras's file before a first step)."""
        return 1 if isinstance(self._learning_rate, LearningRateSchedule) else 2

    def _assign_saved_variables(self, values):
        """Take :meth:`_saved_variables`' values back (shapes already checked by the caller)."""
        self.iterations = int(values[0])
        slots = values[1:]
        if not isinstance(self._learning_rate, LearningRateSchedule):
            self.learning_rate = float(slots[0])
            slots = slots[1:]
        for target, value in zip(self.variables, slots):
            target[...] = backend.xp.asarray(value)

    # ---- building --------------------------------------------------------

    def build(self, variables):
        """Create the slots for ``variables`` (called by the first ``apply``).

        Args:
            variables: list of writeable float NumPy arrays, the weights this
                optimizer will update. Building again does nothing.
        """
        if self.built:
            return
        # The Variables themselves are kept to read their constraints when apply() gets no variables.
        variables = list(variables)
        self._variable_objects = [v for v in variables if isinstance(v, Variable)]
        variables = [unwrap(v) for v in variables]
        self._check_are_variables(variables, "build")
        seen = {}
        for position, variable in enumerate(variables):
            if id(variable) in seen:
                raise ValueError(
                    f"{type(self).__name__}.build: variables {seen[id(variable)]} and "
                    f"{position} are the same array; each weight must appear once."
                )
            seen[id(variable)] = position
        # Holding the arrays keeps their ids valid for the identity lookups.
        self._trainable_variables = variables
        self._variable_index = seen
        self._variables = []
        if self.use_ema:
            self._model_variables_moving_average = self.add_optimizer_variables(variables, "average")
        self._create_slots(variables)
        self.built = True

    def add_optimizer_variables(self, variables, names, initial_value=0.0):
        """Create one slot array per variable and per name, like Keras.

        Args:
            variables: the weights (arrays) to mirror in shape and dtype.
            names: a str, or a list of str for several slots per variable;
                arrays are created variable by variable, name by name, which
                is Keras's order in ``optimizer.variables``.
            initial_value: float, the value the slots start at.

        Returns:
            A list of arrays (one name) or a tuple of lists (several names).
        """
        single = isinstance(names, str)
        names = [names] if single else list(names)
        slots = [[] for _ in names]
        for variable in variables:
            for slot_list in slots:
                slot = backend.xp.full(variable.shape, initial_value, dtype=variable.dtype)
                slot_list.append(slot)
                self._variables.append(slot)
        return slots[0] if single else tuple(slots)

    def _track(self, array):
        """Register an extra state array (not per-variable) in ``variables``."""
        self._variables.append(array)
        return array

    def _get_variable_index(self, variable) -> int:
        return self._variable_index[id(variable)]

    @abc.abstractmethod
    def _create_slots(self, variables):
        """Create this optimizer's per-variable state for ``variables``."""

    @abc.abstractmethod
    def update_step(self, gradient, variable, learning_rate):
        """Update ``variable`` in place from ``gradient``.

        Args:
            gradient: array of ``variable.shape`` and ``variable.dtype``,
                already clipped.
            variable: the weight array, updated in place.
            learning_rate: float, this step's rate.
        """

    # ---- applying gradients ----------------------------------------------

    def apply_gradients(self, grads_and_vars):
        """Apply ``(gradient, variable)`` pairs, as in Keras.

        Returns:
            ``iterations`` after the step.
        """
        pairs = list(grads_and_vars)
        for position, pair in enumerate(pairs):
            if not isinstance(pair, (tuple, list)) or len(pair) != 2:
                raise ValueError(
                    f"{type(self).__name__}.apply_gradients: expected (gradient, "
                    f"variable) pairs. Received at index {position}: {pair!r}"
                )
        if pairs:
            self.apply([g for g, _ in pairs], [v for _, v in pairs])
        return self._iterations

    def apply(self, grads, variables=None):
        """Take one optimization step.

        Args:
            grads: list of gradient arrays (or None for a weight that got no
                gradient: it is left unchanged, with a warning, as in Keras).
            variables: list of weight arrays of the same length, updated in
                place. May be omitted once the optimizer is built; later calls
                must pass weights it was built with (checked by identity).
                An empty ``grads`` list is a no-op, as in Keras.
        """
        where = f"{type(self).__name__}.apply"
        grads = list(grads)
        if not grads:
            return
        given = None
        if variables is not None:
            given = list(variables)
            constrained = _constrained(given)
            variables = [unwrap(v) for v in given]  # Keras's Variables: update their arrays
        else:
            constrained = _constrained(getattr(self, "_variable_objects", ()))
        if variables is None:
            if not self.built:
                raise ValueError(
                    f"{where}: without `variables` the optimizer must already be "
                    f"built; call optimizer.build(variables) first or pass them."
                )
            variables = self._trainable_variables
        else:
            variables = list(variables)
            self._check_are_variables(variables, "apply")
        if len(grads) != len(variables):
            raise ValueError(
                f"{where}: gradients and variables must pair up one to one. "
                f"Received: {len(grads)} gradients for {len(variables)} variables"
            )
        if not self.built:
            self.build(given)
        for position, variable in enumerate(variables):
            if id(variable) not in self._variable_index:
                raise ValueError(
                    f"{where}: variable {position} (shape {variable.shape}) is not one "
                    f"of the {len(self._trainable_variables)} arrays this optimizer "
                    f"was built with. An optimizer keeps state per weight, so it "
                    f"can only update the weights it first saw (the same array "
                    f"objects; update them in place instead of replacing them), or "
                    f"create a new optimizer for new weights."
                )

        present_grads, present_variables, missing = [], [], []
        for position, (gradient, variable) in enumerate(zip(grads, variables)):
            if gradient is None:
                missing.append(position)
                continue
            gradient = backend.to_array(gradient, dtype=variable.dtype,
                                        where=f"{where} (gradient {position})")
            if gradient.shape != variable.shape:
                raise ValueError(
                    f"{where}: gradient {position} has shape {gradient.shape} but "
                    f"its variable has shape {variable.shape}; they must be equal."
                )
            present_grads.append(gradient)
            present_variables.append(variable)
        if not present_grads:
            raise ValueError(f"{where}: no gradients provided for any variable "
                             f"(all {len(grads)} are None).")
        if missing:
            warnings.warn(
                f"{where}: gradients do not exist for variables at positions "
                f"{missing}; they are left unchanged.",
                stacklevel=2,
            )

        present_grads = self._clip_gradients(present_grads)
        learning_rate = self.learning_rate
        self._apply_weight_decay(present_variables, learning_rate)
        self._update_variables(present_grads, present_variables, learning_rate)
        if self.use_ema:
            # As Keras: every weight's average (a weight without a gradient
            # too), before the constraints are applied.
            self._update_model_variables_moving_average(self._trainable_variables)
            if (self.ema_overwrite_frequency
                    and (self._iterations + 1) % self.ema_overwrite_frequency == 0):
                self._overwrite_model_variables_with_average_value(self._trainable_variables)
        if constrained:
            self._apply_constraints(constrained, present_variables)
        self._iterations += 1

    # ---- exponential moving average (use_ema=True) ------------------------

    def _update_model_variables_moving_average(self, variables):
        """``average = m * average + (1 - m) * variable``, ``m = 0`` at the first step (Keras)."""
        for variable, average in zip(variables, self._model_variables_moving_average):
            cast = variable.dtype.type
            momentum = cast(self._iterations != 0) * cast(self.ema_momentum)
            average[...] = momentum * average + (1 - momentum) * variable

    def _overwrite_model_variables_with_average_value(self, variables):
        """Write each weight's moving average into the weight."""
        variables = [unwrap(v) for v in variables]
        averages = self._model_variables_moving_average
        if len(variables) != len(averages):
            raise ValueError(
                f"{type(self).__name__}: the length of model variables ({len(variables)}) to "
                f"override does not match the length of model variables stored in the "
                f"optimizer ({len(averages)}). Please check if the optimizer was called on "
                f"your model."
            )
        for variable, average in zip(variables, averages):
            variable[...] = average

    def finalize_variable_values(self, var_list):
        """At the end of training: with ``use_ema=True``, put the averages into ``var_list``.

        Keras's ``fit`` calls it on the model's trainable weights once the
        epochs are done; without ``use_ema`` it does nothing.

        Args:
            var_list: the weights (Variables or arrays) the optimizer was
                built with, in the same order.
        """
        if self.use_ema and self.built:  # unbuilt: no step was taken, nothing to average
            self._overwrite_model_variables_with_average_value(var_list)

    @staticmethod
    def _apply_constraints(constrained, updated):
        """Keras: after the update of all variables, ``variable.assign(variable.constraint(variable))``
        for each updated variable that has a constraint (a variable left without a gradient is not)."""
        updated = {id(array) for array in updated}
        for variable in constrained:
            array = variable.value
            if id(array) in updated:
                array[...] = variable.constraint(array)

    def _update_variables(self, grads, variables, learning_rate):
        """Run :meth:`update_step` on each pair (Nadam adds a shared update first)."""
        for gradient, variable in zip(grads, variables):
            self.update_step(gradient, variable, learning_rate)

    def _check_are_variables(self, variables, method):
        for position, variable in enumerate(variables):
            if not (isinstance(variable, backend.xp.ndarray)
                    and variable.dtype.kind == "f" and backend.is_writeable(variable)):
                received = (f"an array of dtype {variable.dtype}"
                            if isinstance(variable, backend.xp.ndarray)
                            else type(variable).__name__)
                raise TypeError(
                    f"{type(self).__name__}.{method}: variable {position} must be a "
                    f"writeable floating-point NumPy array, since the optimizer "
                    f"updates it in place. Received: {received}"
                )

    def _clip_gradients(self, grads):
        xp = backend.xp
        if self.clipnorm is not None:
            clipped = []
            for gradient in grads:
                norm = xp.sqrt(xp.sum(xp.square(gradient)))
                clipped.append(gradient * self.clipnorm / xp.maximum(norm, self.clipnorm))
            return clipped
        if self.global_clipnorm is not None:
            dtype = xp.result_type(*grads)
            squared = sum(xp.sum(xp.square(g)).astype(dtype) for g in grads)
            norm = xp.sqrt(squared)
            with backend.errstate(divide="ignore", invalid="ignore"):
                # As in Keras: a scale of 1 while the norm is within bounds,
                # clip/norm above, and NaN when the norm itself is inf or NaN
                # (so that a blow-up shows instead of being silently clipped).
                scale = self.global_clipnorm * xp.minimum(1.0 / norm, 1.0 / self.global_clipnorm)
                scale = scale + (norm - norm)
            return [g * scale.astype(g.dtype) for g in grads]
        if self.clipvalue is not None:
            return [xp.clip(g, -self.clipvalue, self.clipvalue) for g in grads]
        return grads

    def _apply_weight_decay(self, variables, learning_rate):
        if self.weight_decay is None:
            return
        for variable in variables:
            cast = variable.dtype.type
            variable -= variable * cast(self.weight_decay) * cast(learning_rate)

    # ---- configuration ---------------------------------------------------

    def get_config(self) -> dict:
        """The constructor arguments (a schedule is stored serialized)."""
        if isinstance(self._learning_rate, LearningRateSchedule):
            learning_rate = serialize_schedule(self._learning_rate)
        else:
            learning_rate = self._learning_rate
        config = {
            "name": self.name,
            "learning_rate": learning_rate,
            "weight_decay": self.weight_decay,
            "clipnorm": self.clipnorm,
            "global_clipnorm": self.global_clipnorm,
            "clipvalue": self.clipvalue,
        }
        if self.use_ema:
            # Keras writes these three keys always; course_lib only when the
            # averages are on (a config without them means use_ema=False in
            # both libraries), so that the configs of optimizers without EMA
            # stay as they were.
            config.update(use_ema=True, ema_momentum=self.ema_momentum,
                          ema_overwrite_frequency=self.ema_overwrite_frequency)
        return config

    @classmethod
    def from_config(cls, config):
        """A new optimizer (without slots) from :meth:`get_config`'s output.

        Configs written by tf.keras load too: their extra arguments
        (``use_ema=False`` ...) are accepted at their inactive values.
        """
        config = dict(config)
        if isinstance(config.get("learning_rate"), dict):
            config["learning_rate"] = deserialize_schedule(config["learning_rate"])
        return cls(**config)

    def __repr__(self):
        return (f"<{type(self).__name__} name={self.name!r} "
                f"learning_rate={self.learning_rate:g} iterations={self._iterations}>")


# --------------------------------------------------------------------------
# The optimizers
# --------------------------------------------------------------------------

class SGD(Optimizer):
    """Gradient descent, with optional (Nesterov) momentum.

    Without momentum: ``w -= lr * g``. With momentum ``mu`` the velocity is
    ``m = mu * m - lr * g`` and ``w += m``; Nesterov's variant looks one
    step ahead: ``w += mu * m - lr * g`` (with the updated ``m``).

    Args:
        learning_rate: default 0.01.
        momentum: float in [0, 1], default 0.
        nesterov: bool, default False.
        **kwargs: the base arguments (weight_decay, clipping, name).
    """

    def __init__(self, learning_rate=0.01, momentum=0.0, nesterov=False, **kwargs):
        super().__init__(learning_rate=learning_rate, **kwargs)
        self.momentum = _check_number("SGD", "momentum", momentum, low=0, high=1)
        self.nesterov = _check_bool("SGD", "nesterov", nesterov)

    def _create_slots(self, variables):
        self._momentums = (self.add_optimizer_variables(variables, "momentum")
                           if self.momentum != 0 else [])

    def update_step(self, gradient, variable, learning_rate):
        cast = variable.dtype.type
        lr = cast(learning_rate)
        if self.momentum == 0:
            variable -= gradient * lr
            return
        momentum = cast(self.momentum)
        velocity = self._momentums[self._get_variable_index(variable)]
        velocity[...] = velocity * momentum - gradient * lr
        if self.nesterov:
            variable += velocity * momentum - gradient * lr
        else:
            variable += velocity

    def get_config(self):
        return {**super().get_config(), "momentum": self.momentum, "nesterov": self.nesterov}


class RMSprop(Optimizer):
    """Divide the gradient by a running root-mean-square of recent gradients.

    ``v = rho * v + (1 - rho) * g**2`` and ``w -= lr * g / sqrt(v + eps)``
    (epsilon inside the root, as Keras does). ``centered=True`` subtracts the
    squared running mean of the gradient from ``v`` (an estimate of the
    variance); ``momentum > 0`` accumulates the increments.

    Args:
        learning_rate: default 0.001.
        rho: float in [0, 1), default 0.9.
        momentum: float in [0, 1], default 0.
        epsilon: float >= 0, default 1e-7.
        centered: bool, default False.
        **kwargs: the base arguments.
    """

    def __init__(self, learning_rate=0.001, rho=0.9, momentum=0.0, epsilon=1e-7,
                 centered=False, **kwargs):
        super().__init__(learning_rate=learning_rate, **kwargs)
        self.rho = _check_number("RMSprop", "rho", rho, low=0, high=1, high_open=True)
        self.momentum = _check_number("RMSprop", "momentum", momentum, low=0, high=1)
        self.epsilon = _check_number("RMSprop", "epsilon", epsilon, low=0)
        self.centered = _check_bool("RMSprop", "centered", centered)

    def _create_slots(self, variables):
        self._velocities = self.add_optimizer_variables(variables, "velocity")
        self._momentums = (self.add_optimizer_variables(variables, "momentum")
                           if self.momentum > 0 else [])
        self._average_gradients = (self.add_optimizer_variables(variables, "average_gradient")
                                   if self.centered else [])

    def update_step(self, gradient, variable, learning_rate):
        lr = variable.dtype.type(learning_rate)
        index = self._get_variable_index(variable)
        velocity = self._velocities[index]
        velocity[...] = self.rho * velocity + (1 - self.rho) * backend.xp.square(gradient)
        if self.centered:
            average = self._average_gradients[index]
            average[...] = self.rho * average + (1 - self.rho) * gradient
            denominator = velocity - backend.xp.square(average) + self.epsilon
        else:
            denominator = velocity + self.epsilon
        increment = lr * gradient / backend.xp.sqrt(denominator)
        if self.momentum > 0:
            accumulated = self._momentums[index]
            accumulated[...] = self.momentum * accumulated + increment
            variable -= accumulated
        else:
            variable -= increment

    def get_config(self):
        return {**super().get_config(), "rho": self.rho, "momentum": self.momentum,
                "epsilon": self.epsilon, "centered": self.centered}


def _check_betas(where, beta_1, beta_2):
    return (_check_number(where, "beta_1", beta_1, low=0, high=1, high_open=True),
            _check_number(where, "beta_2", beta_2, low=0, high=1, high_open=True))


class _AdamFamily(Optimizer):
    """The arguments Adam, Adamax and Nadam share: two decay rates and an epsilon."""

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, **kwargs):
        super().__init__(learning_rate=learning_rate, **kwargs)
        where = type(self).__name__
        self.beta_1, self.beta_2 = _check_betas(where, beta_1, beta_2)
        self.epsilon = _check_number(where, "epsilon", epsilon, low=0)

    def get_config(self):
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2,
                "epsilon": self.epsilon}


class Adam(_AdamFamily):
    """Adaptive moments: running means of the gradient and of its square.

    ``m += (1 - beta_1) * (g - m)``, ``v += (1 - beta_2) * (g**2 - v)`` and,
    with ``t`` the 1-based step,
    ``w -= alpha * m / (sqrt(v) + eps)`` where
    ``alpha = lr * sqrt(1 - beta_2**t) / (1 - beta_1**t)``: Keras folds the
    bias corrections into the step size, so epsilon is added to the
    uncorrected ``sqrt(v)``. ``amsgrad=True`` uses the running maximum of
    ``v`` instead of ``v``.

    Args:
        learning_rate: default 0.001.
        beta_1: float in [0, 1), default 0.9.
        beta_2: float in [0, 1), default 0.999.
        epsilon: float >= 0, default 1e-7.
        amsgrad: bool, default False.
        **kwargs: the base arguments.
    """

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7,
                 amsgrad=False, **kwargs):
        super().__init__(learning_rate, beta_1, beta_2, epsilon, **kwargs)
        self.amsgrad = _check_bool("Adam", "amsgrad", amsgrad)

    def _create_slots(self, variables):
        self._momentums, self._velocities = self.add_optimizer_variables(
            variables, ["momentum", "velocity"])
        self._velocity_hats = (self.add_optimizer_variables(variables, "velocity_hat")
                               if self.amsgrad else [])

    def update_step(self, gradient, variable, learning_rate):
        xp, cast = backend.xp, variable.dtype.type
        lr = cast(learning_rate)
        step = cast(self._iterations + 1)
        beta_1_power = cast(self.beta_1) ** step
        beta_2_power = cast(self.beta_2) ** step
        alpha = lr * xp.sqrt(1 - beta_2_power) / (1 - beta_1_power)
        index = self._get_variable_index(variable)
        m, v = self._momentums[index], self._velocities[index]
        # In-place arithmetic (same operations, same order as the plain
        # formulas) avoids allocating a temporary per term on large weights.
        # asarray: on a 0-d weight (Attention's scale) NumPy returns scalars, which `out=` refuses.
        step_m = xp.asarray(xp.subtract(gradient, m))
        step_m *= 1 - self.beta_1
        m += step_m
        step_v = xp.asarray(xp.square(gradient))
        step_v -= v
        step_v *= 1 - self.beta_2
        v += step_v
        if self.amsgrad:
            v_hat = self._velocity_hats[index]
            xp.maximum(v_hat, v, out=v_hat)
            v = v_hat
        denominator = xp.sqrt(v, out=step_v)
        denominator += self.epsilon
        update = xp.multiply(m, alpha, out=step_m)
        update /= denominator
        variable -= update

    def get_config(self):
        return {**super().get_config(), "amsgrad": self.amsgrad}


class _DecayExclusions:
    """Keras's ``exclude_from_weight_decay`` (by weight or by name), shared by AdamW and Muon.

    Put before the optimizer class in the bases; the subclass calls
    :meth:`_start_exclusions` in ``__init__``. ``_weight_paths`` keeps each
    Keras Variable's path (``'dense/kernel'``) by the id of its array.
    """

    def _start_exclusions(self):
        self._excluded_ids = set()
        self._excluded_pattern = None
        self._decay_cache = {}
        self._weight_names = {}
        self._weight_paths = {}

    def exclude_from_weight_decay(self, var_list=None, var_names=None):
        """Leave some weights out of the weight decay, as Keras's method does.

        Each call replaces the previous exclusions. As in Keras the call also
        takes effect when the optimizer is already built (Keras's docstring
        says "before build", but its check never fires).

        Args:
            var_list: weights to exclude: Keras Variables (``layer.bias``,
                ``model.trainable_weights[i]``) or the arrays themselves.
            var_names: a list of str; a weight is excluded when one of them
                is found (``re.search``, so they are regular expressions) in
                the name tf.keras searches: the TensorFlow variable's name,
                which is the weight's path plus ``':0'``
                (``'sequential/dense/bias:0'``), so ``['bias']`` excludes every
                bias and ``['layer_normalization']`` that layer's ``gamma`` and
                ``beta``. (Keras on JAX or PyTorch searches the short name,
                ``'bias'``, instead.) Only Keras Variables have names: a bare
                array is never matched by name.
        """
        if isinstance(var_names, str):
            raise TypeError(
                f"{type(self).__name__}.exclude_from_weight_decay: `var_names` must be a list of str (a bare str "
                "would be read letter by letter). "
                f"Received: var_names={var_names!r}; write var_names=[{var_names!r}]"
            )
        names = list(var_names or [])
        for name in names:
            if not isinstance(name, str):
                raise TypeError(
                    f"{type(self).__name__}.exclude_from_weight_decay: `var_names` must be a list of str. "
                    f"Received an item {name!r} of type {type(name).__name__} in var_names={var_names!r}"
                )
        excluded = set()
        for position, variable in enumerate(var_list or []):
            array = unwrap(variable)
            if not isinstance(array, backend.xp.ndarray):
                raise TypeError(
                    f"{type(self).__name__}.exclude_from_weight_decay: `var_list` must hold Variables or arrays. "
                    f"Received at index {position}: {type(variable).__name__}"
                )
            excluded.add(id(array))
        self._excluded_ids = excluded
        self._excluded_pattern = re.compile("|".join(set(names))) if names else None
        self._decay_cache = {}

    def _use_weight_decay(self, variable):
        """Whether ``variable`` (an array) is decayed: not in ``var_list``, no name match (cached, as Keras)."""
        key = id(variable)
        if key not in self._decay_cache:
            name = self._weight_names.get(key)
            self._decay_cache[key] = not (
                key in self._excluded_ids
                or (self._excluded_pattern is not None and name is not None
                    and self._excluded_pattern.search(name) is not None))
        return self._decay_cache[key]

    def _remember_names(self, variables):
        """Keep the name ``var_names`` is searched in, tf.keras's ``'<path>:0'``, for each Variable's array."""
        for variable in variables or ():
            if isinstance(variable, Variable) and id(variable.value) not in self._weight_names:
                self._weight_names[id(variable.value)] = f"{variable.path}:0"
                self._weight_paths[id(variable.value)] = variable.path

    def build(self, variables):
        variables = list(variables)
        self._remember_names(variables)
        super().build(variables)

    def apply(self, grads, variables=None):
        if variables is not None:
            variables = list(variables)
            self._remember_names(variables)
        return super().apply(grads, variables)


class AdamW(_DecayExclusions, Adam):
    """Adam with decoupled weight decay (Loshchilov and Hutter, 2019).

    Each step first shrinks every weight, ``w -= w * weight_decay * lr``
    (the learning rate of this step, a schedule included), and then takes
    :class:`Adam`'s step from the gradient; the decay never enters the
    moments, unlike an L2 penalty added to the loss. Everything else is
    Adam's: the same slots (``momentum`` and ``velocity`` per weight, plus
    ``velocity_hat`` with ``amsgrad=True``) in the same order, so a ``.keras``
    file saved by either library resumes training in the other.

    :meth:`exclude_from_weight_decay` leaves chosen weights (biases,
    normalization scales, ...) out of the decay; they still get Adam's step.

    Args:
        learning_rate: default 0.001.
        weight_decay: float >= 0, default 0.004 (None is refused: it is the
            point of AdamW).
        beta_1: float in [0, 1), default 0.9.
        beta_2: float in [0, 1), default 0.999.
        epsilon: float >= 0, default 1e-7.
        amsgrad: bool, default False.
        **kwargs: the other base arguments (clipping, name).
    """

    def __init__(self, learning_rate=0.001, weight_decay=0.004, beta_1=0.9, beta_2=0.999, epsilon=1e-7,
                 amsgrad=False, **kwargs):
        if weight_decay is None:
            raise ValueError(
                "AdamW: Argument `weight_decay` must be a float. Received: weight_decay=None"
            )
        _check_bool("AdamW", "amsgrad", amsgrad)
        super().__init__(learning_rate, beta_1, beta_2, epsilon, amsgrad,
                         weight_decay=weight_decay, **kwargs)
        self._start_exclusions()

    def _apply_weight_decay(self, variables, learning_rate):
        super()._apply_weight_decay([v for v in variables if self._use_weight_decay(v)], learning_rate)


class Adagrad(Optimizer):
    """Per-element step sizes shrinking with the sum of squared gradients.

    ``acc += g**2`` and ``w -= lr * g / sqrt(acc + eps)``; ``acc`` starts at
    ``initial_accumulator_value``.

    Args:
        learning_rate: default 0.001.
        initial_accumulator_value: float >= 0, default 0.1.
        epsilon: float >= 0, default 1e-7.
        **kwargs: the base arguments.
    """

    def __init__(self, learning_rate=0.001, initial_accumulator_value=0.1, epsilon=1e-7,
                 **kwargs):
        super().__init__(learning_rate=learning_rate, **kwargs)
        self.initial_accumulator_value = _check_number(
            "Adagrad", "initial_accumulator_value", initial_accumulator_value, low=0)
        self.epsilon = _check_number("Adagrad", "epsilon", epsilon, low=0)

    def _create_slots(self, variables):
        self._accumulators = self.add_optimizer_variables(
            variables, "accumulator", initial_value=self.initial_accumulator_value)

    def update_step(self, gradient, variable, learning_rate):
        xp = backend.xp
        lr = variable.dtype.type(learning_rate)
        accumulator = self._accumulators[self._get_variable_index(variable)]
        accumulator += xp.square(gradient)
        variable -= lr * gradient / xp.sqrt(accumulator + self.epsilon)

    def get_config(self):
        return {**super().get_config(),
                "initial_accumulator_value": self.initial_accumulator_value,
                "epsilon": self.epsilon}


class Adadelta(Optimizer):
    """Step sizes from the ratio of two running RMS: of updates and of gradients.

    ``Eg = rho * Eg + (1 - rho) * g**2``,
    ``delta = -sqrt(Edx + eps) * g / sqrt(Eg + eps)``,
    ``Edx = rho * Edx + (1 - rho) * delta**2`` and ``w += lr * delta``.
    The original paper has no learning rate (lr = 1.0); Keras's default is
    0.001, which makes Adadelta very slow unless you raise it.

    Args:
        learning_rate: default 0.001.
        rho: float in [0, 1), default 0.95.
        epsilon: float >= 0, default 1e-7.
        **kwargs: the base arguments.
    """

    def __init__(self, learning_rate=0.001, rho=0.95, epsilon=1e-7, **kwargs):
        super().__init__(learning_rate=learning_rate, **kwargs)
        self.rho = _check_number("Adadelta", "rho", rho, low=0, high=1, high_open=True)
        self.epsilon = _check_number("Adadelta", "epsilon", epsilon, low=0)

    def _create_slots(self, variables):
        self._accumulated_grads, self._accumulated_delta_vars = self.add_optimizer_variables(
            variables, ["accumulated_grad", "accumulated_delta_var"])

    def update_step(self, gradient, variable, learning_rate):
        xp = backend.xp
        lr = variable.dtype.type(learning_rate)
        index = self._get_variable_index(variable)
        mean_square_grad = self._accumulated_grads[index]
        mean_square_delta = self._accumulated_delta_vars[index]
        mean_square_grad[...] = self.rho * mean_square_grad + (1 - self.rho) * xp.square(gradient)
        delta = -(xp.sqrt(mean_square_delta + self.epsilon) * gradient
                  / xp.sqrt(mean_square_grad + self.epsilon))
        mean_square_delta[...] = self.rho * mean_square_delta + (1 - self.rho) * xp.square(delta)
        variable += lr * delta

    def get_config(self):
        return {**super().get_config(), "rho": self.rho, "epsilon": self.epsilon}


class Adamax(_AdamFamily):
    """Adam with the infinity norm: ``u = max(beta_2 * u, |g|)``.

    ``m += (1 - beta_1) * (g - m)`` and
    ``w -= lr * m / ((1 - beta_1**t) * (u + eps))``.

    Args:
        learning_rate: default 0.001.
        beta_1: float in [0, 1), default 0.9.
        beta_2: float in [0, 1), default 0.999.
        epsilon: float >= 0, default 1e-7.
        **kwargs: the base arguments.
    """

    def _create_slots(self, variables):
        self._m, self._u = self.add_optimizer_variables(variables, ["momentum", "norm"])

    def update_step(self, gradient, variable, learning_rate):
        xp, cast = backend.xp, variable.dtype.type
        lr = cast(learning_rate)
        beta_1_power = cast(self.beta_1) ** cast(self._iterations + 1)
        index = self._get_variable_index(variable)
        m, u = self._m[index], self._u[index]
        m += (gradient - m) * (1 - self.beta_1)
        xp.maximum(self.beta_2 * u, xp.abs(gradient), out=u)
        variable -= lr * m / ((1 - beta_1_power) * (u + self.epsilon))


class Nadam(_AdamFamily):
    """Adam with Nesterov momentum and Dozat's momentum schedule.

    The momentum coefficient of step ``t`` (1-based) is
    ``mu_t = beta_1 * (1 - 0.5 * 0.96**t)``; their running product
    ``prod_t = mu_1 * ... * mu_t`` corrects the bias. With ``m`` and ``v``
    updated as in Adam,
    ``m_hat = mu_{t+1} * m / (1 - prod_t * mu_{t+1}) + (1 - mu_t) * g / (1 - prod_t)``,
    ``v_hat = v / (1 - beta_2**t)`` and ``w -= lr * m_hat / (sqrt(v_hat) + eps)``.
    The product is one scalar shared by all variables, kept in the dtype of
    the first variable and updated once per step before the variables.

    Args:
        learning_rate: default 0.001.
        beta_1: float in [0, 1), default 0.9.
        beta_2: float in [0, 1), default 0.999.
        epsilon: float >= 0, default 1e-7.
        **kwargs: the base arguments.
    """

    def _create_slots(self, variables):
        dtype = variables[0].dtype if variables else backend.floatx()
        self._momentums, self._velocities = self.add_optimizer_variables(
            variables, ["momentum", "velocity"])
        self._u_product = self._track(backend.xp.ones((), dtype=dtype))

    def _update_variables(self, grads, variables, learning_rate):
        cast = self._u_product.dtype.type
        self._u_product[...] = (self._u_product * self.beta_1
                                * (1.0 - 0.5 * cast(0.96) ** cast(self._iterations + 1)))
        super()._update_variables(grads, variables, learning_rate)

    def update_step(self, gradient, variable, learning_rate):
        xp, cast = backend.xp, variable.dtype.type
        lr = cast(learning_rate)
        beta_1, beta_2, decay = cast(self.beta_1), cast(self.beta_2), cast(0.96)
        step = cast(self._iterations + 1)
        mu_t = beta_1 * (1.0 - 0.5 * decay ** step)
        mu_next = beta_1 * (1.0 - 0.5 * decay ** (step + 1))
        u_product = cast(self._u_product)
        u_product_next = u_product * mu_next
        beta_2_power = beta_2 ** step
        index = self._get_variable_index(variable)
        m, v = self._momentums[index], self._velocities[index]
        m += (gradient - m) * (1 - beta_1)
        v += (xp.square(gradient) - v) * (1 - beta_2)
        m_hat = mu_next * m / (1 - u_product_next) + (1 - mu_t) * gradient / (1 - u_product)
        v_hat = v / (1 - beta_2_power)
        variable -= m_hat * lr / (xp.sqrt(v_hat) + self.epsilon)


def _keras_cast(value, dtype):
    """A Python float cast as Keras's ``ops.cast(value, dtype)`` does on TensorFlow.

    TensorFlow first makes a float32 tensor of the Python number and then
    casts it, so in a float64 update ``ops.cast(0.9, 'float64')`` is
    ``float64(float32(0.9))``, not ``0.9``. (In float32 the two agree.)
    """
    return dtype.type(backend.xp.float32(value))


class Lion(Optimizer):
    """The sign of an interpolated momentum (Chen et al., 2023).

    ``w -= lr * sign(beta_1 * m + (1 - beta_1) * g)``, then
    ``m = beta_2 * m + (1 - beta_2) * g``: every element moves by exactly
    ``lr`` (or not at all), so Lion's learning rate is usually 3-10 times
    smaller than AdamW's, and its ``weight_decay`` as many times larger. One
    slot per weight, ``momentum``.

    Args:
        learning_rate: default 0.001.
        beta_1: float in (0, 1], default 0.9 (0 would make it SignSGD, which
            Keras refuses).
        beta_2: float in [0, 1], default 0.99.
        **kwargs: the base arguments (weight_decay, clipping, use_ema, name).
    """

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.99, **kwargs):
        super().__init__(learning_rate=learning_rate, **kwargs)
        if not isinstance(beta_1, bool) and isinstance(beta_1, numbers.Real) and not 0 < beta_1 <= 1:
            raise ValueError(
                "Lion: argument `beta_1` must be in the (0, 1] range. Otherwise, the "
                f"optimizer degenerates to SignSGD. Received: beta_1={beta_1!r}"
            )
        self.beta_1 = _check_number("Lion", "beta_1", beta_1, low=0, high=1, low_open=True)
        self.beta_2 = _check_number("Lion", "beta_2", beta_2, low=0, high=1)

    def _create_slots(self, variables):
        self._momentums = self.add_optimizer_variables(variables, "momentum")

    def update_step(self, gradient, variable, learning_rate):
        xp, cast = backend.xp, variable.dtype.type
        lr = cast(learning_rate)
        beta_1, beta_2 = _keras_cast(self.beta_1, variable.dtype), _keras_cast(self.beta_2, variable.dtype)
        m = self._momentums[self._get_variable_index(variable)]
        variable -= lr * xp.sign(m * beta_1 + gradient * (1.0 - beta_1))
        m[...] = m * beta_2 + gradient * (1.0 - beta_2)

    def get_config(self):
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2}


class ScheduleFreeAdamW(Optimizer):
    """Adam without a learning-rate schedule: an average of the iterates does the annealing (Defazio et al., 2024).

    Three sequences per weight, as Keras keeps them: the model holds ``y``; the
    slot ``momentum`` holds ``z``, the plain Adam-like iterate, which starts as
    a copy of the weight; the average ``x`` is not stored but recovered from
    ``y = (1 - beta_1) z + beta_1 x``. Each step, with ``t`` the 1-based step::

        v += (g**2 - v) * (1 - beta_2)
        z -= lr * g / (sqrt(v / (1 - beta_2**t)) + eps)
        x  = (1 - 1/t) * x + (1/t) * z          (x from the old y and z: see below)
        y  = (1 - beta_1) * z + beta_1 * x

    With ``warmup_steps``, ``lr`` grows linearly to its value over those steps.
    Keras's form keeps ``y`` in the model at evaluation too (the method's
    authors evaluate at ``x``). Slots: ``momentum`` and ``velocity`` per weight.

    Two odd corners of Keras 3.15 on TensorFlow, measured against it:

    - its update keeps "the old z" as a reference to the variable, which
      TensorFlow reads after z's update, so ``x`` is recovered from the NEW
      ``z`` (from step 2 on this leaves the paper's update, where ``1/t < 1``).
      course_lib does the same, and matches tf.keras's steps to rounding;
    - in a compiled ``fit`` (the default, not ``run_eagerly=True``) Keras
      builds the optimizer symbolically and the copy of the weights into ``z``
      is lost: ``z`` starts at 0 and the first step resets the model's weights
      to about zero. course_lib does not copy that: its ``fit`` is tf.keras's
      ``fit(..., run_eagerly=True)``. A test pins both.

    Args:
        learning_rate: default 0.0025.
        beta_1: float in (0, 1], default 0.9 (the interpolation between z and x).
        beta_2: float in [0, 1), default 0.999.
        epsilon: float >= 0, default 1e-8.
        warmup_steps: int >= 0, default 0.
        **kwargs: the base arguments (weight_decay, clipping, use_ema, name).
    """

    def __init__(self, learning_rate=0.0025, beta_1=0.9, beta_2=0.999, epsilon=1e-8, warmup_steps=0, **kwargs):
        super().__init__(learning_rate=learning_rate, **kwargs)
        self.beta_1 = _check_number("ScheduleFreeAdamW", "beta_1", beta_1, low=0, high=1, low_open=True)
        self.beta_2 = _check_number("ScheduleFreeAdamW", "beta_2", beta_2, low=0, high=1, high_open=True)
        self.epsilon = _check_number("ScheduleFreeAdamW", "epsilon", epsilon, low=0)
        if isinstance(warmup_steps, bool) or not isinstance(warmup_steps, numbers.Integral) or warmup_steps < 0:
            raise ValueError("ScheduleFreeAdamW: `warmup_steps` must be an int >= 0. "
                             f"Received: warmup_steps={warmup_steps!r}")
        self.warmup_steps = int(warmup_steps)

    def _create_slots(self, variables):
        self._momentums, self._velocities = self.add_optimizer_variables(variables, ["momentum", "velocity"])
        for momentum, variable in zip(self._momentums, variables):
            momentum[...] = variable  # z starts at the weight

    def update_step(self, gradient, variable, learning_rate):
        xp, dtype = backend.xp, variable.dtype
        lr = dtype.type(learning_rate)
        step = dtype.type(self._iterations + 1)
        beta_1, beta_2 = _keras_cast(self.beta_1, dtype), _keras_cast(self.beta_2, dtype)
        epsilon = _keras_cast(self.epsilon, dtype)
        if self.warmup_steps > 0:
            lr = lr * xp.minimum(step / dtype.type(self.warmup_steps), dtype.type(1.0))
        index = self._get_variable_index(variable)
        z, v = self._momentums[index], self._velocities[index]
        v += (xp.square(gradient) - v) * (1 - beta_2)
        z -= (lr * gradient) / (xp.sqrt(v / (1 - beta_2 ** step)) + epsilon)
        weight = dtype.type(1.0) / step
        x_old = (variable - (1 - beta_1) * z) / beta_1  # Keras reads "the old z" after its update: see above
        x_new = (1 - weight) * x_old + weight * z
        variable[...] = (1 - beta_1) * z + beta_1 * x_new

    def get_config(self):
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon,
                "warmup_steps": self.warmup_steps}


class Lamb(Optimizer):
    """Adam's step rescaled per weight by a trust ratio (You et al., 2019).

    With ``m`` and ``v`` updated as in Adam and ``t`` the 1-based step,
    ``u = (m / (1 - beta_1**t)) / (sqrt(v / (1 - beta_2**t)) + eps)``
    (bias corrections applied to the moments, unlike Keras's Adam), and
    ``w -= r * lr * u`` with the trust ratio ``r = ||w|| / ||u||`` (Frobenius
    norms of the whole weight; ``r = 1`` when either norm is 0). Slots, per
    weight: ``momentum`` then ``velocity``.

    Args:
        learning_rate: default 0.001.
        beta_1: float in [0, 1), default 0.9.
        beta_2: float in [0, 1), default 0.999.
        epsilon: float >= 0, default 1e-7.
        **kwargs: the base arguments.
    """

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, **kwargs):
        super().__init__(learning_rate=learning_rate, **kwargs)
        self.beta_1, self.beta_2 = _check_betas("Lamb", beta_1, beta_2)
        self.epsilon = _check_number("Lamb", "epsilon", epsilon, low=0)

    def _create_slots(self, variables):
        self._momentums, self._velocities = self.add_optimizer_variables(
            variables, ["momentum", "velocity"])

    def update_step(self, gradient, variable, learning_rate):
        xp, cast = backend.xp, variable.dtype.type
        lr = cast(learning_rate)
        step = cast(self._iterations + 1)
        beta_1_power = _keras_cast(self.beta_1, variable.dtype) ** step
        beta_2_power = _keras_cast(self.beta_2, variable.dtype) ** step
        index = self._get_variable_index(variable)
        m, v = self._momentums[index], self._velocities[index]
        m += (gradient - m) * (1 - self.beta_1)
        v += (xp.square(gradient) - v) * (1 - self.beta_2)
        m_hat = m / (1.0 - beta_1_power)
        v_sqrt = xp.sqrt(v / (1.0 - beta_2_power)) + self.epsilon
        update = m_hat / v_sqrt
        w_norm = xp.sqrt(xp.sum(variable ** 2))
        g_norm = xp.sqrt(xp.sum(update ** 2))
        # Keras's nested where, kept on the device (no Python `if` on an array).
        with backend.errstate(divide="ignore", invalid="ignore"):
            ratio = xp.where(w_norm > 0, xp.where(g_norm > 0, w_norm / g_norm, cast(1.0)), cast(1.0))
        variable -= ratio * lr * update

    def get_config(self):
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2,
                "epsilon": self.epsilon}


class Ftrl(Optimizer):
    """Follow The Regularized Leader (McMahan et al., 2013), Keras's variant.

    Per element, with ``p = -learning_rate_power`` and
    ``l2 = l2_regularization_strength + beta / (2 * lr)``:
    ``g' = g + 2 * l2_shrinkage_regularization_strength * w``,
    ``n_new = n + g**2``, ``z += g' - (n_new**p - n**p) / lr * w``, then
    ``w = (clip(z, -l1, l1) - z) / (n_new**p / lr + 2 * l2)`` and ``n = n_new``
    (so ``w = 0`` wherever ``|z| <= l1``: L1 gives exact zeros). Slots, per
    weight: ``accumulator`` (``n``, starting at ``initial_accumulator_value``)
    then ``linear`` (``z``, starting at 0).

    Args:
        learning_rate: default 0.001.
        learning_rate_power: float <= 0, default -0.5 (0: a fixed rate).
        initial_accumulator_value: float >= 0, default 0.1.
        l1_regularization_strength: float >= 0, default 0.
        l2_regularization_strength: float >= 0, default 0 (the stabilizing
            L2 of the paper).
        l2_shrinkage_regularization_strength: float >= 0, default 0 (an L2
            penalty on the weights' magnitude, added to the gradient).
        beta: float, default 0 (the paper's beta).
        **kwargs: the base arguments.
    """

    def __init__(self, learning_rate=0.001, learning_rate_power=-0.5, initial_accumulator_value=0.1,
                 l1_regularization_strength=0.0, l2_regularization_strength=0.0,
                 l2_shrinkage_regularization_strength=0.0, beta=0.0, **kwargs):
        super().__init__(learning_rate=learning_rate, **kwargs)
        where = "Ftrl"
        self.learning_rate_power = _check_number(where, "learning_rate_power", learning_rate_power, high=0)
        self.initial_accumulator_value = _check_number(
            where, "initial_accumulator_value", initial_accumulator_value, low=0)
        self.l1_regularization_strength = _check_number(
            where, "l1_regularization_strength", l1_regularization_strength, low=0)
        self.l2_regularization_strength = _check_number(
            where, "l2_regularization_strength", l2_regularization_strength, low=0)
        self.l2_shrinkage_regularization_strength = _check_number(
            where, "l2_shrinkage_regularization_strength", l2_shrinkage_regularization_strength, low=0)
        self.beta = _check_number(where, "beta", beta)

    def _create_slots(self, variables):
        # Keras creates them weight by weight: accumulator, linear, then the next weight. Its
        # Constant initializer casts the value as ops.cast does (through float32).
        self._accumulators, self._linears = [], []
        for variable in variables:
            start = _keras_cast(self.initial_accumulator_value, variable.dtype)
            for slots, value in ((self._accumulators, start), (self._linears, 0.0)):
                slots.append(self._track(backend.xp.full(variable.shape, value, dtype=variable.dtype)))

    def update_step(self, gradient, variable, learning_rate):
        xp, cast = backend.xp, variable.dtype.type
        lr = cast(learning_rate)
        index = self._get_variable_index(variable)
        accumulator, linear = self._accumulators[index], self._linears[index]
        power = -self.learning_rate_power
        l2 = self.l2_regularization_strength + self.beta / (2.0 * lr)
        gradient_to_use = gradient + 2 * self.l2_shrinkage_regularization_strength * variable
        new_accumulator = accumulator + xp.square(gradient)
        linear += gradient_to_use - (xp.power(new_accumulator, power) - xp.power(accumulator, power)) / lr * variable
        quadratic = xp.power(new_accumulator, power) / lr + 2 * l2
        clipped = xp.clip(linear, -self.l1_regularization_strength, self.l1_regularization_strength)
        variable[...] = (clipped - linear) / quadratic
        accumulator[...] = new_accumulator

    def get_config(self):
        return {**super().get_config(),
                "learning_rate_power": self.learning_rate_power,
                "initial_accumulator_value": self.initial_accumulator_value,
                "l1_regularization_strength": self.l1_regularization_strength,
                "l2_regularization_strength": self.l2_regularization_strength,
                "l2_shrinkage_regularization_strength": self.l2_shrinkage_regularization_strength,
                "beta": self.beta}


class Adafactor(Optimizer):
    """Factored second moments with a relative step size (Shazeer and Stern, 2018).

    With ``t`` the 1-based step, ``rho = min(lr, 1 / sqrt(t))``,
    ``alpha = max(epsilon_2, rms(w)) * rho``, ``beta_2 = 1 - t**beta_2_decay``
    and ``G = g**2 + epsilon_1``: a weight of 2 or more dimensions keeps
    running means of ``G`` over its last axis (``r``) and its second-to-last
    axis (``c``) and estimates ``v = (r / mean(r)) * c`` (an outer product
    over the last two axes); a weight of fewer dimensions keeps the full
    running mean ``v`` of ``G``. Then ``u = g / sqrt(v)``,
    ``u /= max(1, rms(u) / clip_threshold)`` and ``w -= alpha * u``.

    Slots, weight by weight as Keras creates them: ``r`` (shape
    ``w.shape[:-1]``), ``c`` (``w.shape[:-2] + w.shape[-1:]``) and ``v``
    (``w.shape``). For a weight of fewer than 2 dimensions ``r`` and ``c``
    are unused placeholders, int32 scalars, as in Keras (they are saved in
    ``.keras`` files too).

    Args:
        learning_rate: default 0.001.
        beta_2_decay: float, default -0.8.
        epsilon_1: float >= 0, default 1e-30, added to the squared gradients.
        epsilon_2: float >= 0, default 1e-3, the smallest weight RMS used for
            the step size.
        clip_threshold: float > 0, default 1.0: the update's RMS is clipped to
            it (independent of ``clipnorm``/``clipvalue``).
        relative_step: bool, default True. Kept for Keras: with a constant
            learning rate Keras then uses ``min(lr, 1 / sqrt(t))``, which
            ``rho`` applies anyway, so it never changes the step.
        **kwargs: the base arguments.
    """

    def __init__(self, learning_rate=0.001, beta_2_decay=-0.8, epsilon_1=1e-30, epsilon_2=1e-3,
                 clip_threshold=1.0, relative_step=True, **kwargs):
        super().__init__(learning_rate=learning_rate, **kwargs)
        where = "Adafactor"
        self.beta_2_decay = _check_number(where, "beta_2_decay", beta_2_decay)
        self.epsilon_1 = _check_number(where, "epsilon_1", epsilon_1, low=0)
        self.epsilon_2 = _check_number(where, "epsilon_2", epsilon_2, low=0)
        self.clip_threshold = _check_number(where, "clip_threshold", clip_threshold, low=0, low_open=True)
        self.relative_step = _check_bool(where, "relative_step", relative_step)

    def _create_slots(self, variables):
        xp = backend.xp
        self._r, self._c, self._v = [], [], []
        for variable in variables:
            if variable.ndim < 2:
                self._r.append(self._track(xp.zeros((), dtype="int32")))
                self._c.append(self._track(xp.zeros((), dtype="int32")))
            else:
                shape = variable.shape
                self._r.append(self._track(xp.zeros(shape[:-1], dtype=variable.dtype)))
                self._c.append(self._track(xp.zeros(shape[:-2] + shape[-1:], dtype=variable.dtype)))
            self._v.append(self._track(xp.zeros(variable.shape, dtype=variable.dtype)))

    @staticmethod
    def _rms(x):
        xp = backend.xp
        return xp.sqrt(xp.mean(xp.square(x)))

    def update_step(self, gradient, variable, learning_rate):
        xp, cast = backend.xp, variable.dtype.type
        lr = cast(learning_rate)
        one = cast(1.0)
        step = cast(self._iterations + 1)
        index = self._get_variable_index(variable)
        r, c, v = self._r[index], self._c[index], self._v[index]
        rho = xp.minimum(lr, one / xp.sqrt(step))
        alpha = xp.maximum(_keras_cast(self.epsilon_2, variable.dtype), self._rms(variable)) * rho
        regulated_grad_square = xp.square(gradient) + self.epsilon_1
        beta_2 = 1 - xp.power(step, cast(self.beta_2_decay))
        if variable.ndim >= 2:
            r[...] = beta_2 * r + (1 - beta_2) * xp.mean(regulated_grad_square, axis=-1)
            c[...] = beta_2 * c + (1 - beta_2) * xp.mean(regulated_grad_square, axis=-2)
            v[...] = (xp.expand_dims(r / xp.mean(r, axis=-1, keepdims=True), axis=-1)
                      * xp.expand_dims(c, -2))
        else:
            v[...] = beta_2 * v + (1 - beta_2) * regulated_grad_square
        u = gradient / xp.sqrt(v)
        u_hat = u / xp.maximum(one, self._rms(u) / self.clip_threshold)
        variable -= alpha * u_hat

    def get_config(self):
        return {**super().get_config(), "beta_2_decay": self.beta_2_decay, "epsilon_1": self.epsilon_1,
                "epsilon_2": self.epsilon_2, "clip_threshold": self.clip_threshold,
                "relative_step": self.relative_step}


# --------------------------------------------------------------------------
# Lookup by name and (de)serialization
# --------------------------------------------------------------------------

class Muon(_DecayExclusions, Optimizer):
    """Momentum orthogonalized by Newton-Schulz (Muon) for 2-D weights, Adam with weight decay for the rest.

    For a 2-D weight (a Dense kernel) the step is
    ``m = momentum * m + g``, ``u = g + momentum * m`` (Nesterov, the default;
    else ``u = m``), then ``u`` made nearly orthogonal, every singular value
    pushed towards 1, by ``ns_steps`` Newton-Schulz iterations
    (``X /= ||X||_F + 1e-7``; ``A = X X^T``; ``X = a X + (b A + c A A) X``,
    on the transpose when the matrix is taller than wide), and
    ``w -= lr * X * sqrt(max(rows, columns)) * rms_rate`` (no factor with
    ``rms_rate=None``). Every other weight (biases, norms, convolution
    kernels, whose rank is not 2), an embedding (``'embedding'`` in its path)
    when ``exclude_embeddings`` and any weight whose path matches one of
    ``exclude_layers`` (``re.search``) takes Adam's step at
    ``lr * adam_lr_ratio``. Before either, each weight decays,
    ``w -= w * decay * lr``, with ``adam_weight_decay`` for the Adam weights
    and ``weight_decay`` for the others (:meth:`exclude_from_weight_decay`
    leaves some out). Slots: ``momentum`` for every weight and ``velocity``
    after it for the Adam ones, Keras's order. Paths are known for Keras
    Variables (``model.trainable_weights``); a bare array is treated by its
    rank alone.

    Args:
        learning_rate: default 0.001.
        adam_beta_1, adam_beta_2: floats in [0, 1), defaults 0.9 and 0.999.
        adam_weight_decay: float >= 0 or None, default 0.004.
        epsilon: float >= 0, default 1e-7 (Adam's).
        weight_decay: float >= 0 or None, default 0.004 (Muon's weights).
        exclude_layers: list of regular expressions, default none.
        exclude_embeddings: bool, default True.
        muon_a, muon_b, muon_c: the iteration's coefficients, defaults 3.4445, -4.7750, 2.0315.
        adam_lr_ratio: float, default 1.
        momentum: float in [0, 1], default 0.95.
        ns_steps: int >= 0, default 5.
        nesterov: bool, default True.
        rms_rate: float or None, default 0.2.
        **kwargs: the other base arguments (clipping, EMA, name).
    """

    def __init__(self, learning_rate=0.001, adam_beta_1=0.9, adam_beta_2=0.999, adam_weight_decay=0.004,
                 epsilon=1e-7, weight_decay=0.004, exclude_layers=None, exclude_embeddings=True, muon_a=3.4445,
                 muon_b=-4.7750, muon_c=2.0315, adam_lr_ratio=1, momentum=0.95, ns_steps=5, nesterov=True,
                 rms_rate=0.2, **kwargs):
        super().__init__(learning_rate=learning_rate, weight_decay=weight_decay, **kwargs)
        self._start_exclusions()
        self.adam_beta_1, self.adam_beta_2 = _check_betas("Muon", adam_beta_1, adam_beta_2)
        self.adam_weight_decay = (None if adam_weight_decay is None
                                  else _check_number("Muon", "adam_weight_decay", adam_weight_decay, low=0))
        self.epsilon = _check_number("Muon", "epsilon", epsilon, low=0)
        if isinstance(exclude_layers, str) or not all(isinstance(k, str) for k in exclude_layers or []):
            raise TypeError("Muon: exclude_layers must be a list of str (regular expressions searched in the "
                            f"weights' paths). Received: exclude_layers={exclude_layers!r}")
        self.exclude_layers = list(exclude_layers or [])
        self.exclude_embeddings = _check_bool("Muon", "exclude_embeddings", exclude_embeddings)
        self.muon_a, self.muon_b, self.muon_c = (backend.check_real("Muon", name, value) for name, value in
                                                 (("muon_a", muon_a), ("muon_b", muon_b), ("muon_c", muon_c)))
        self.adam_lr_ratio = backend.check_real("Muon", "adam_lr_ratio", adam_lr_ratio)
        self.momentum = _check_number("Muon", "momentum", momentum, low=0, high=1)
        if isinstance(ns_steps, bool) or not isinstance(ns_steps, numbers.Integral) or ns_steps < 0:
            raise ValueError(f"Muon: ns_steps must be an int >= 0. Received: ns_steps={ns_steps!r}")
        self.ns_steps = int(ns_steps)
        self.nesterov = _check_bool("Muon", "nesterov", nesterov)
        self.rms_rate = backend.check_real("Muon", "rms_rate", rms_rate, allow_none=True)

    def _uses_adam(self, variable):
        """Keras's rule: not 2-D, an embedding, or a path ``exclude_layers`` matches."""
        if variable.ndim != 2:
            return True
        path = self._weight_paths.get(id(variable))
        if path is None:
            return False
        if self.exclude_embeddings and "embedding" in path.lower():
            return True
        return any(re.search(keyword, path) for keyword in self.exclude_layers)

    def _create_slots(self, variables):
        self._momentums, self._velocities = [], []
        for variable in variables:  # per weight: its momentum, then its velocity if it takes Adam's step
            self._momentums.append(self.add_optimizer_variables([variable], "momentum")[0])
            self._velocities.append(self.add_optimizer_variables([variable], "velocity")[0]
                                    if self._uses_adam(variable) else None)

    def update_step(self, gradient, variable, learning_rate):
        index = self._get_variable_index(variable)
        if self._velocities[index] is not None:
            self._adam_step(gradient, variable, learning_rate * self.adam_lr_ratio, index)
        else:
            self._muon_step(gradient, variable, learning_rate, index)

    def _muon_step(self, gradient, variable, learning_rate, index):
        cast = variable.dtype.type
        m = self._momentums[index]
        m += gradient + m * cast(self.momentum - 1)
        direction = gradient + cast(self.momentum) * m if self.nesterov else m
        step = cast(learning_rate) * self.orthogonalize(direction)
        if self.rms_rate is not None:
            step = step * cast(math.sqrt(max(variable.shape))) * cast(self.rms_rate)
        variable -= step

    def orthogonalize(self, x):
        """``ns_steps`` Newton-Schulz iterations of Muon on a matrix (Keras's ``zeropower_via_newtonschulz5``)."""
        if x.ndim < 2:
            raise ValueError(f"Muon: expected a gradient or momentum of at least 2 dimensions. "
                             f"Received: shape={x.shape}")
        xp, cast = backend.xp, x.dtype.type
        a, b, c = cast(self.muon_a), cast(self.muon_b), cast(self.muon_c)
        tall = x.shape[-2] > x.shape[-1]
        if tall:
            x = xp.swapaxes(x, -1, -2)
        x = x / (xp.sqrt(xp.sum(xp.square(x), axis=(-2, -1), keepdims=True)) + cast(1e-7))
        for _ in range(self.ns_steps):
            gram = x @ xp.swapaxes(x, -1, -2)
            x = a * x + (b * gram + (c * gram) @ gram) @ x
        return xp.swapaxes(x, -1, -2) if tall else x

    def _adam_step(self, gradient, variable, learning_rate, index):
        xp, cast = backend.xp, variable.dtype.type
        step = cast(self._iterations + 1)
        alpha = cast(learning_rate) * xp.sqrt(1 - cast(self.adam_beta_2) ** step) / (1 - cast(self.adam_beta_1) ** step)
        m, v = self._momentums[index], self._velocities[index]
        m += (gradient - m) * cast(1 - self.adam_beta_1)
        v += (xp.square(gradient) - v) * cast(1 - self.adam_beta_2)
        variable -= (m * alpha) / (xp.sqrt(v) + cast(self.epsilon))

    def _apply_weight_decay(self, variables, learning_rate):
        for variable in variables:
            if not self._use_weight_decay(variable):
                continue
            decay = self.adam_weight_decay if self._uses_adam(variable) else self.weight_decay
            if decay is not None:
                cast = variable.dtype.type
                variable -= variable * cast(decay) * cast(learning_rate)

    def get_config(self):
        return {**super().get_config(), "adam_beta_1": self.adam_beta_1, "adam_beta_2": self.adam_beta_2,
                "epsilon": self.epsilon, "exclude_layers": self.exclude_layers, "muon_a": self.muon_a,
                "muon_b": self.muon_b, "muon_c": self.muon_c, "adam_lr_ratio": self.adam_lr_ratio,
                "momentum": self.momentum, "ns_steps": self.ns_steps, "nesterov": self.nesterov,
                "exclude_embeddings": self.exclude_embeddings, "adam_weight_decay": self.adam_weight_decay,
                "rms_rate": self.rms_rate}


class LossScaleOptimizer(Optimizer):
    """Dynamic loss scaling (动态损失缩放) around another optimizer, for float16 training.

    float16 has few bits below 1: small gradients underflow to 0 on their way
    back through the layers. ``fit`` therefore multiplies the gradient of the
    loss by ``dynamic_scale`` before the backward pass (Keras multiplies the
    loss itself, which is the same thing) and this optimizer divides the
    gradients by it again before the inner optimizer's step. The scale moves
    as in Keras: a step whose gradients hold an inf or a NaN is skipped and the
    scale halved; after ``dynamic_growth_steps`` finite steps in a row it
    doubles. The scale is a power of two, so in float32 and float64 the steps
    are the inner optimizer's exactly.

    A layer that calls ``add_loss`` adds its penalty's gradient in its own
    ``backward``; the engine gives such a layer the unscaled upstream gradient
    and scales what it returns, so its numbers stay right (without the
    underflow protection inside that one layer).

    ``iterations`` and ``learning_rate`` are the inner optimizer's; the
    variables are Keras's: this optimizer's own counter and rate (never used),
    ``step_counter`` and ``dynamic_scale``, then the inner optimizer's, so a
    ``.keras`` file resumes in either library.

    Args:
        inner_optimizer: the :class:`Optimizer` that takes the steps.
        initial_scale: float > 0, default ``2**15``.
        dynamic_growth_steps: int >= 1, default 2000.
        name: None or str.
    """

    _BASE_DEFAULTS = {"weight_decay": None, "clipnorm": None, "global_clipnorm": None, "clipvalue": None,
                      "use_ema": False, "ema_momentum": 0.99, "ema_overwrite_frequency": None,
                      "loss_scale_factor": None, "gradient_accumulation_steps": None}

    def __init__(self, inner_optimizer, initial_scale=2.0 ** 15, dynamic_growth_steps=2000, name=None,
                 **kwargs):
        if not kwargs.pop("dynamic", True):
            raise ValueError("LossScaleOptimizer no longer supports `dynamic=False`. Instead, simply set "
                             "`loss_scale_factor` directly on the `inner_optimizer`.")
        for argument, default in self._BASE_DEFAULTS.items():
            # Older Keras wrote these, at their defaults, into this optimizer's config: accepted there only.
            if argument in kwargs and kwargs.pop(argument) != default:
                raise ValueError(f"LossScaleOptimizer does not support `{argument}`. "
                                 f"Instead, set `{argument}` on the `inner_optimizer`.")
        if kwargs:
            raise ValueError(f"LossScaleOptimizer does not support arguments: `{'`, `'.join(kwargs)}`.")
        if not isinstance(inner_optimizer, Optimizer):
            raise TypeError("LossScaleOptimizer: inner_optimizer must be a course_lib optimizer "
                            f"(keras.optimizers.Adam() ...). Received: {inner_optimizer!r}")
        super().__init__(learning_rate=0.0, name=name)
        self.inner_optimizer = inner_optimizer
        self.initial_scale = _check_number("LossScaleOptimizer", "initial_scale", initial_scale,
                                           low=0, low_open=True)
        if (isinstance(dynamic_growth_steps, bool) or not isinstance(dynamic_growth_steps, numbers.Integral)
                or dynamic_growth_steps < 1):
            raise ValueError("LossScaleOptimizer: dynamic_growth_steps must be an int >= 1. "
                             f"Received: dynamic_growth_steps={dynamic_growth_steps!r}")
        self.dynamic_growth_steps = int(dynamic_growth_steps)

    def _create_slots(self, variables):
        self.step_counter = self._track(backend.xp.zeros((), dtype="int64"))
        self.dynamic_scale = self._track(backend.xp.asarray(self.initial_scale, dtype="float32"))
        self.inner_optimizer.build(variables)

    @property
    def iterations(self):
        return self.inner_optimizer.iterations

    @iterations.setter
    def iterations(self, value):
        self.inner_optimizer.iterations = value

    @property
    def learning_rate(self):
        return self.inner_optimizer.learning_rate

    @learning_rate.setter
    def learning_rate(self, value):
        if hasattr(self, "inner_optimizer"):  # the base class sets its own (unused) rate before
            self.inner_optimizer.learning_rate = value
        else:
            self._learning_rate = self._checked_learning_rate(value)

    def loss_scale(self):
        """The factor the gradient of the loss is multiplied by: ``dynamic_scale``, or ``initial_scale`` unbuilt."""
        return float(self.dynamic_scale) if self.built else float(self.initial_scale)

    def scale_loss(self, loss):
        """``loss`` times the current scale (Keras's ``scale_loss``, for custom training loops)."""
        return loss * self.loss_scale()

    def check_finite(self, grads):
        """Whether every gradient given (None skipped) is free of inf and NaN."""
        return all(bool(backend.xp.isfinite(g).all()) for g in grads if g is not None)

    def apply(self, grads, variables=None):
        """Unscale and step with the inner optimizer, or, for non-finite gradients, skip and halve the scale."""
        grads = list(grads)
        if not grads:
            return
        if not self.built:
            if variables is None:
                raise ValueError("LossScaleOptimizer.apply: without `variables` the optimizer must already "
                                 "be built; call optimizer.build(variables) first or pass them.")
            variables = list(variables)
            self.build(variables)
        grads = [None if g is None else backend.to_array(g, where=f"LossScaleOptimizer.apply (gradient {i})")
                 for i, g in enumerate(grads)]
        if not self.check_finite(grads):
            self.step_counter[...] = 0
            self.dynamic_scale *= backend.xp.float32(0.5)
            return
        scale = self.dynamic_scale
        self.inner_optimizer.apply([None if g is None else g / scale for g in grads], variables)
        if int(self.step_counter) == self.dynamic_growth_steps - 1:
            self.step_counter[...] = 0
            self.dynamic_scale *= backend.xp.float32(2.0)
        else:
            self.step_counter += 1

    def update_step(self, gradient, variable, learning_rate):
        raise TypeError("LossScaleOptimizer takes no steps of its own: its inner optimizer does (apply).")

    def finalize_variable_values(self, var_list):
        self.inner_optimizer.finalize_variable_values(var_list)

    def _saved_variables(self):
        """Keras's list: this optimizer's counter and rate, its two slots, then the inner optimizer's list."""
        own = [backend.xp.asarray(self._iterations, dtype="int64"), backend.xp.asarray(0.0, dtype="float32")]
        return own + list(self.variables) + self.inner_optimizer._saved_variables()

    def _counter_count(self):
        return 2 + self.inner_optimizer._counter_count()

    def _nested_saved_groups(self):
        return [("inner_optimizer", self.inner_optimizer.name, self.inner_optimizer._saved_variables())]

    def _assign_saved_variables(self, values):
        self._iterations = int(values[0])
        if len(values) == self._counter_count():  # saved before a first step: counters only, no scale yet
            self.inner_optimizer._assign_saved_variables(values[2:])
            return
        self.step_counter[...] = values[2]
        self.dynamic_scale[...] = values[3]
        self.inner_optimizer._assign_saved_variables(values[4:])

    def get_config(self):
        from course_lib import saving

        return {"name": self.name, "inner_optimizer": saving.serialize_keras_object(self.inner_optimizer),
                "initial_scale": self.initial_scale, "dynamic_growth_steps": self.dynamic_growth_steps}

    @classmethod
    def from_config(cls, config, custom_objects=None):
        from course_lib import saving

        config = dict(config)
        inner = config.pop("inner_optimizer")
        inner = (saving.deserialize_keras_object(inner, custom_objects=custom_objects)
                 if isinstance(inner, dict) else get(inner))
        return cls(inner, **config)

    def __repr__(self):
        return (f"<LossScaleOptimizer name={self.name!r} inner={self.inner_optimizer!r} "
                f"scale={self.loss_scale():g}>")


class OptimizerMap(MutableMapping):
    """Which optimizer updates which weight, by the weight's path (Keras's ``keras.optimizers.OptimizerMap``).

    ``optimizer_map[path]`` is the optimizer of the key equal to ``path``, else of the one key that
    is a regular expression matching the whole path (``re.fullmatch``: ``"encoder/.*"`` for every
    weight under ``encoder``), else ``default_optimizer``; two matching patterns are an error.
    Paths are Keras's (``"sequential/dense/kernel"``, ``"head/bias"``): see ``model.weights``.

    Args:
        default_optimizer: the optimizer of every weight no key matches.
        optimizer_map: None or a dict ``{key: optimizer}``.
    """

    def __init__(self, default_optimizer, optimizer_map=None):
        if not isinstance(default_optimizer, Optimizer):
            raise TypeError(f"OptimizerMap: default_optimizer must be an optimizer. Received: {default_optimizer!r}")
        if optimizer_map is not None and not isinstance(optimizer_map, dict):
            raise TypeError(f"OptimizerMap: optimizer_map must be a dict. Received: {optimizer_map!r}")
        self._default_optimizer = default_optimizer
        self._optimizer_map = dict(optimizer_map or {})

    @property
    def default_optimizer(self):
        return self._default_optimizer

    def __getitem__(self, key):
        if key in self._optimizer_map:
            return self._optimizer_map[key]
        matching = [pattern for pattern in self._optimizer_map if re.fullmatch(pattern, key)]
        if len(matching) > 1:
            raise ValueError(f"OptimizerMap: the weight {key!r} matches several keys: {matching}.")
        return self._optimizer_map[matching[0]] if matching else self._default_optimizer

    def __setitem__(self, key, optimizer):
        if key in self._optimizer_map:
            raise ValueError(f"OptimizerMap: the key {key!r} is already mapped to {self._optimizer_map[key]!r}; "
                             "each key may appear once.")
        if not isinstance(key, str):
            raise ValueError(f"OptimizerMap: a key must be a string (a path or a pattern). Received: {key!r}")
        if not isinstance(optimizer, Optimizer) or isinstance(optimizer, (LossScaleOptimizer, MultiOptimizer)):
            raise ValueError("OptimizerMap: a value must be a plain optimizer (neither a LossScaleOptimizer "
                             f"nor a MultiOptimizer). Received: {optimizer!r}")
        self._optimizer_map[key] = optimizer

    def __delitem__(self, key):
        del self._optimizer_map[key]

    def __len__(self):
        return len(self._optimizer_map)

    def __iter__(self):
        return iter(self._optimizer_map)

    def __call__(self, variable):
        """The optimizer of a weight (a Variable, whose ``path`` is looked up)."""
        return self[variable.path]

    def get_config(self):
        from course_lib import saving

        return {"default_optimizer": saving.serialize_keras_object(self._default_optimizer),
                "optimizer_map": {key: saving.serialize_keras_object(value)
                                  for key, value in self._optimizer_map.items()}}

    @classmethod
    def from_config(cls, config, custom_objects=None):
        from course_lib import saving

        def load(value):
            return saving.deserialize_keras_object(value, custom_objects=custom_objects)

        return cls(load(config["default_optimizer"]),
                   {key: load(value) for key, value in (config.get("optimizer_map") or {}).items()})


class MultiOptimizer(Optimizer):
    """Different optimizers for different weights (Keras's ``keras.optimizers.MultiOptimizer``).

    ``optimizer_map`` is an :class:`OptimizerMap` or a function from a weight (a Variable) to its
    optimizer. On the first step every weight is handed to its optimizer, and each step gives
    each optimizer the gradients of its own weights; an optimizer that has no weights takes no
    steps. As in Keras, ``learning_rate`` cannot be read or set here (each optimizer has its
    own: see :attr:`optimizers`), and ``iterations`` counts this optimizer's steps.

    The variables are Keras's, in Keras's order: this optimizer's counter and (unused) rate, then
    each inner optimizer's counter, rate and slots, the mapped ones first and the default last.
    A ``.keras`` file saved with one resumes in course_lib with every optimizer's state; Keras
    3.15 loads the file but drops the optimizers' state (its warning says so).

    Args:
        optimizer_map: an :class:`OptimizerMap`, or a callable ``variable -> optimizer``.
        loss_scale_factor: must be None (course_lib does not scale losses in optimizers).
        name: None or str.
    """

    def __init__(self, optimizer_map, loss_scale_factor=None, name=None):
        if not callable(optimizer_map):
            raise TypeError("MultiOptimizer: optimizer_map must be an OptimizerMap or a function from a weight to "
                            f"its optimizer. Received: {optimizer_map!r}")
        super().__init__(learning_rate=0.0, name=name, loss_scale_factor=loss_scale_factor)
        self._optimizer_map = optimizer_map
        self._inner_optimizers = []
        for optimizer in list(getattr(optimizer_map, "values", lambda: [])()) + [
                getattr(optimizer_map, "default_optimizer", None)]:
            if optimizer is not None and all(optimizer is not known for known in self._inner_optimizers):
                self._inner_optimizers.append(optimizer)

    @property
    def optimizers(self):
        """The inner optimizers, in the order their variables are saved."""
        return list(self._inner_optimizers)

    @property
    def learning_rate(self):
        raise AttributeError("MultiOptimizer: the learning rate cannot be read on a MultiOptimizer; each of its "
                             "optimizers has its own (optimizer.optimizers[i].learning_rate).")

    @learning_rate.setter
    def learning_rate(self, value):
        raise AttributeError("MultiOptimizer: the learning rate cannot be set on a MultiOptimizer; set it on "
                             "each of its optimizers (optimizer.optimizers[i].learning_rate).")

    def build(self, variables):
        if self.built:
            return
        variables = list(variables)
        groups = {}
        for position, variable in enumerate(variables):
            if not isinstance(variable, Variable):
                raise TypeError(f"MultiOptimizer.build: variable {position} must be a Keras Variable (it is mapped "
                                f"by its path: model.trainable_weights). Received: {type(variable).__name__}")
            optimizer = self._optimizer_map(variable)
            if not isinstance(optimizer, Optimizer) or isinstance(optimizer, (LossScaleOptimizer, MultiOptimizer)):
                raise ValueError(f"MultiOptimizer.build: the optimizer for {variable.path!r} must be a plain "
                                 f"optimizer (neither a LossScaleOptimizer nor a MultiOptimizer). "
                                 f"Received: {optimizer!r}")
            if all(optimizer is not known for known in self._inner_optimizers):
                self._inner_optimizers.append(optimizer)
            index = next(i for i, known in enumerate(self._inner_optimizers) if known is optimizer)
            groups.setdefault(index, []).append(variable)
        self._groups = groups
        self._owner = {id(unwrap(variable)): index for index, group in groups.items() for variable in group}
        super().build(variables)

    def _create_slots(self, variables):
        for index, group in self._groups.items():
            self._inner_optimizers[index].build(group)

    def apply(self, grads, variables=None):
        """Hand each gradient to the optimizer of its weight, then count one step."""
        grads = list(grads)
        if not grads:
            return
        if variables is None:
            if not self.built:
                raise ValueError("MultiOptimizer.apply: without `variables` the optimizer must already be built; "
                                 "call optimizer.build(variables) first or pass them.")
            variables = self._variable_objects
        variables = list(variables)
        self.build(variables)
        if len(grads) != len(variables) or len(grads) != len(self._owner):
            raise ValueError(f"MultiOptimizer.apply: gradients must match the {len(self._owner)} weights one to "
                             f"one. Received: {len(grads)} gradients for {len(variables)} variables")
        shares = {}
        for position, (gradient, variable) in enumerate(zip(grads, variables)):
            index = self._owner.get(id(unwrap(variable)))
            if index is None:
                raise ValueError(f"MultiOptimizer.apply: variable {position} is not one of the weights this "
                                 "optimizer was built with.")
            shares.setdefault(index, ([], []))
            shares[index][0].append(gradient)
            shares[index][1].append(variable)
        for index, (share_grads, share_variables) in sorted(shares.items()):
            self._inner_optimizers[index].apply(share_grads, share_variables)
        self._iterations += 1

    def update_step(self, gradient, variable, learning_rate):
        raise TypeError("MultiOptimizer takes no steps of its own: its optimizers do (apply).")

    def finalize_variable_values(self, var_list):
        owned = {}
        for variable in var_list:
            owned.setdefault(self._owner[id(unwrap(variable))], []).append(variable)
        for index, share in owned.items():
            self._inner_optimizers[index].finalize_variable_values(share)

    @property
    def variables(self):
        return [value for optimizer in self._inner_optimizers for value in optimizer.variables]

    def _saved_variables(self):
        own = [backend.xp.asarray(self._iterations, dtype="int64"), backend.xp.asarray(0.0, dtype="float32")]
        return own + [value for optimizer in self._inner_optimizers for value in optimizer._saved_variables()]

    def _counter_count(self):
        return 2 + sum(optimizer._counter_count() for optimizer in self._inner_optimizers)

    def _assign_saved_variables(self, values):
        self._iterations = int(values[0])
        start = 2
        for optimizer in self._inner_optimizers:
            count = len(optimizer._saved_variables())
            optimizer._assign_saved_variables(values[start:start + count])
            start += count

    def _nested_saved_groups(self):
        return [(f"optimizers/{optimizer.name}", optimizer.name, optimizer._saved_variables())
                for optimizer in self._inner_optimizers]

    def get_config(self):
        from course_lib import saving

        return {"optimizer_map": saving.serialize_keras_object(self._optimizer_map), "loss_scale_factor": None,
                "name": self.name}

    @classmethod
    def from_config(cls, config, custom_objects=None):
        from course_lib import saving

        config = dict(config)
        config["optimizer_map"] = saving.deserialize_keras_object(config["optimizer_map"],
                                                                  custom_objects=custom_objects)
        return cls(**config)


_OPTIMIZERS = {cls.__name__.lower(): cls
               for cls in (SGD, RMSprop, Adam, AdamW, Adagrad, Adadelta, Adamax, Nadam,
                           Lion, Ftrl, Adafactor, ScheduleFreeAdamW, Muon)}
# Lamb is not among Keras's string names (`keras.optimizers.get('lamb')`
# raises): a saved Lamb deserializes from its class name, but a string does
# not resolve, in either library.
_SERIALIZABLE = {**_OPTIMIZERS, "lamb": Lamb, "lossscaleoptimizer": LossScaleOptimizer,
                 "multioptimizer": MultiOptimizer, "optimizermap": OptimizerMap}  # the map: inside MultiOptimizer's


def serialize(optimizer) -> dict:
    """``{'class_name': ..., 'config': ...}`` for an optimizer."""
    if not isinstance(optimizer, Optimizer):
        raise TypeError(f"optimizers.serialize: expected an Optimizer. Received: {optimizer!r}")
    return {"class_name": type(optimizer).__name__, "config": optimizer.get_config()}


def deserialize(config, custom_objects=None) -> Optimizer:
    """An optimizer from ``{'class_name': ..., 'config': ...}`` (class name in any case).

    ``custom_objects`` (``{name: Optimizer subclass}``), the global custom
    objects and an enclosing ``custom_object_scope`` are looked up first.
    """
    from course_lib import saving

    if not isinstance(config, dict) or "class_name" not in config:
        raise ValueError(
            "optimizers.deserialize: expected a dict with keys 'class_name' and "
            f"'config'. Received: {config!r}"
        )
    builtin = {name for name in _SERIALIZABLE if name == str(config["class_name"]).lower()}
    cls = saving.find_object(config["class_name"], builtin, custom_objects, config.get("registered_name"))
    if cls is None:
        cls = _SERIALIZABLE.get(str(config["class_name"]).lower())
    if cls is None:
        raise ValueError(
            f"optimizers.deserialize: unknown optimizer {config['class_name']!r}. "
            f"Known optimizers: {sorted(_SERIALIZABLE)}"
        )
    return cls.from_config(config.get("config", {}))


def get(identifier):
    """Resolve what ``compile(optimizer=...)`` receives into an optimizer.

    Args:
        identifier: a name (``'adam'``, ``'SGD'``, ``'RMSprop'``, ... in any
            case; a new instance with default arguments), an
            :class:`Optimizer` (returned as it is), a dict
            ``{'class_name': ..., 'config': ...}``, or None (returns None).

    Returns:
        An :class:`Optimizer`, or None.
    """
    if identifier is None:
        return None
    if isinstance(identifier, Optimizer):
        return identifier
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if isinstance(identifier, str) and identifier.lower() in _OPTIMIZERS:
        return _OPTIMIZERS[identifier.lower()]()
    raise ValueError(
        f"optimizers.get: could not interpret optimizer identifier {identifier!r}. "
        f"Expected one of {sorted(_OPTIMIZERS)} (any case), an Optimizer instance "
        f"or a dict {{'class_name': ..., 'config': ...}}."
    )


def _constrained(variables):
    """The Keras Variables among ``variables`` that have a constraint (usually none: a cheap pass)."""
    return [v for v in variables if isinstance(v, Variable) and v.constraint is not None]
