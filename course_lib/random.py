"""Random draws with Keras's names and seeds (随机数): the counterpart of ``keras.random``.

``normal``, ``uniform``, ``truncated_normal``, ``randint``, ``categorical``,
``dropout``, ``shuffle``, ``gamma``, ``beta``, ``binomial`` and
:class:`SeedGenerator` take Keras 3's arguments, defaults and dtypes, and treat
``seed`` as Keras does:

- ``seed=None`` (the default) draws from the shared generator that
  ``keras.utils.set_random_seed`` seeds (:func:`course_lib.backend.rng`), so a
  program is reproducible from that one seed; each call gives new numbers;
- an int seed is stateless: the same call with the same seed gives the same
  numbers every time;
- a :class:`SeedGenerator` is stateful: each call advances it, and a new
  generator built with the same seed repeats the whole sequence. Its first
  draw is the draw of its int seed, as in Keras. Keep one as a layer or model
  attribute (``self.seed_generator = keras.random.SeedGenerator(1337)``) and
  pass it as ``seed=`` in ``call`` or ``train_step``.

The distributions, shapes and dtypes are Keras's; **the numbers are not**:
Keras draws with its backend's stateless generator (TensorFlow's Philox),
course_lib with NumPy's PCG64 on the host, so the same seed gives different
(equally random) values in the two libraries. Every draw is made on the host
from :func:`course_lib.backend.rng` and moved once to the array module, so a
seed gives the same numbers on every backend (NumPy, CuPy, strict).

Where course_lib refuses what Keras accepts, it is a parameter outside its
distribution's range (``gamma``'s or ``beta``'s parameters <= 0, ``binomial``'s
probabilities outside [0, 1] or negative or fractional counts): Keras's
TensorFlow backend returns NaNs or clipped values there without a word.
"""
from __future__ import annotations

import numbers

from course_lib import backend

__all__ = [
    "SeedGenerator", "beta", "binomial", "categorical", "dropout", "gamma", "normal", "randint", "shuffle",
    "truncated_normal", "uniform",
]

_FLOAT_TYPES = ("float16", "float32", "float64")
_INT_TYPES = ("int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64")
_SEED_RANGE = (-(2**63), 2**63)  # Keras keeps its seed in an int64 variable


class SeedGenerator:
    """A stateful source of seeds: each random call given it draws new numbers (种子生成器).

    ``SeedGenerator(seed)`` holds ``state = [seed, counter]``, as Keras's does;
    a draw with ``seed=generator`` uses the current state and then adds 1 to the
    counter. Two generators built with the same seed give the same sequence of
    draws, and the first draw equals the draw with the int ``seed`` itself.

    Example::

        seed_generator = keras.random.SeedGenerator(seed=42)
        values = keras.random.normal(shape=(2, 3), seed=seed_generator)
        new_values = keras.random.normal(shape=(2, 3), seed=seed_generator)  # different numbers

    Args:
        seed: int, or None for a seed drawn from the shared generator (so it is
            reproducible after ``keras.utils.set_random_seed``).
        name: the generator's name; ``seed_generator``, ``seed_generator_1`` ... when None.

    The numbers differ from Keras's for the same seed (see :mod:`course_lib.random`).
    """

    def __init__(self, seed=None, name=None, **kwargs):
        if kwargs:
            raise ValueError(f"SeedGenerator: unrecognized keyword arguments: {kwargs}")
        if name is not None and not isinstance(name, str):
            raise TypeError(f"SeedGenerator: name must be a string or None. Received: name={name!r}")
        self.name = name if name is not None else backend.unique_name("seed_generator")
        self._initial_seed = seed
        if seed is None:
            seed = int(backend.rng().integers(1, 10**9 + 1))  # Keras: random.randint(1, 1e9)
        _check_seed_int("SeedGenerator", seed)
        self._seed = seed
        self._counter = 0

    @property
    def seed(self):
        """The seed the generator started from (the drawn one when it was built with None)."""
        return self._seed

    @property
    def state(self):
        """``[seed, counter]`` as an int64 array, Keras's ``seed_generator.state``."""
        return backend.xp.asarray([self._seed, self._counter], dtype="int64")

    def next(self, ordered=True):
        """The current state as an int64 array, then advance: Keras's ``SeedGenerator.next``.

        ``ordered=True`` adds 1 to the counter; ``ordered=False`` maps both
        entries to ``(state + 1) * 5387 % 933199``, Keras's near-unique sequence.
        """
        current = self.state
        self._advance(ordered)
        return current

    def _advance(self, ordered=True):
        if ordered:
            self._counter += 1
        else:
            self._seed = (self._seed + 1) * 5387 % 933199
            self._counter = (self._counter + 1) * 5387 % 933199

    def generator(self):
        """A host generator for one draw from the current state; the state then advances."""
        generator = backend.rng([self._seed % 2**64, self._counter % 2**64])
        self._advance()
        return generator

    def get_config(self):
        """Keras's keys: ``seed`` (as given, None included) and ``name``."""
        return {"seed": self._initial_seed, "name": self.name}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        return f"<SeedGenerator name={self.name!r} seed={self._seed} counter={self._counter}>"


# ---------------------------------------------------------------- argument checks


def _check_seed_int(where, seed):
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ValueError(
            f"{where}: seed must be an integer. Received: seed={seed!r} (of type {type(seed).__name__})"
        )
    if not _SEED_RANGE[0] <= seed < _SEED_RANGE[1]:
        raise ValueError(f"{where}: seed must fit in 64 bits (-2**63 <= seed < 2**63). Received: seed={seed}")


def _generator(where, seed):
    """The host generator for one draw: the shared one, a fresh one for an int, or the SeedGenerator's next."""
    if seed is None:
        return backend.rng()
    if isinstance(seed, SeedGenerator):
        return seed.generator()
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ValueError(
            f"{where}: seed must be None, an integer or a SeedGenerator. "
            f"Received: seed={seed!r} (of type {type(seed).__name__})"
        )
    _check_seed_int(where, seed)
    return backend.rng([seed % 2**64, 0])  # the first draw of SeedGenerator(seed), as in Keras


def _check_shape(where, shape):
    if not isinstance(shape, (tuple, list)):
        raise TypeError(f"{where}: shape must be a tuple or list of ints. Received: shape={shape!r}")
    for size in shape:
        if isinstance(size, bool) or not isinstance(size, numbers.Integral) or size < 0:
            raise ValueError(
                f"{where}: shape must hold non-negative ints (no None: random draws need every size). "
                f"Received: shape={shape!r}"
            )
    return tuple(int(size) for size in shape)


def _dtype(where, dtype, kinds, default=None):
    """The dtype's name, checked against ``kinds``; ``default`` (or floatx) when None."""
    if dtype is None:
        if default is None:
            raise ValueError(f"{where}: dtype must be one of {kinds}. Received: dtype=None")
        return default()
    try:
        name = backend.xp.dtype(dtype).name
    except TypeError:
        name = None
    if name not in kinds:
        raise ValueError(f"{where}: dtype must be one of {kinds}. Received: dtype={dtype!r}")
    return name


def _parameter(where, argument, value, shape, positive=False):
    """A distribution parameter (number or array) as a float64 host array broadcastable to ``shape``."""
    if isinstance(value, bool) or isinstance(value, str):
        raise TypeError(f"{where}: {argument} must be a number or an array of numbers. Received: {argument}={value!r}")
    array = backend.as_numeric(value, f"{where} ({argument})")
    if shape is not None:
        try:
            broadcast = backend.xp.broadcast_shapes(array.shape, shape)
        except ValueError:
            broadcast = None
        if broadcast != tuple(shape):
            raise ValueError(
                f"{where}: {argument} must broadcast to shape {tuple(shape)}. "
                f"Received: {argument} of shape {array.shape}"
            )
    host = backend.to_numpy(array).astype("float64")
    if positive and not bool((host > 0).all()):
        raise ValueError(f"{where}: {argument} must be > 0. Received: {argument}={value!r}")
    return host


def _floats(host, dtype):
    """A host draw moved to the array module in ``dtype``."""
    return backend.xp.asarray(host).astype(dtype)


# ---------------------------------------------------------------- distributions


def normal(shape, mean=0.0, stddev=1.0, dtype=None, seed=None):
    """Samples of a normal (Gaussian) distribution: ``keras.random.normal``.

    Args:
        shape: tuple or list of ints, the output's shape.
        mean: float (or an array broadcastable to ``shape``), defaults to 0.
        stddev: float (or an array broadcastable to ``shape``), defaults to 1.
        dtype: a float type; ``keras.config.floatx()`` when None.
        seed: None (the shared generator seeded by ``set_random_seed``), an int
            (the same numbers on every call) or a :class:`SeedGenerator` (new
            numbers on every call, reproducible from its seed).

    The numbers differ from Keras's for the same seed (another generator).
    """
    where = "random.normal"
    shape = _check_shape(where, shape)
    dtype = _dtype(where, dtype, _FLOAT_TYPES, backend.floatx)
    mean = _parameter(where, "mean", mean, shape)
    stddev = _parameter(where, "stddev", stddev, shape)
    draw = _generator(where, seed).standard_normal(shape)
    return _floats(draw * stddev + mean, dtype)


def uniform(shape, minval=0.0, maxval=1.0, dtype=None, seed=None):
    """Samples of a uniform distribution in ``[minval, maxval)``: ``keras.random.uniform``.

    Args:
        shape: tuple or list of ints, the output's shape.
        minval: float, the lower bound (included), defaults to 0.
        maxval: float, the upper bound (excluded), defaults to 1. As in Keras,
            ``minval > maxval`` is not refused: the values lie in ``(maxval, minval]``.
        dtype: a float type (Keras refuses others too); ``keras.config.floatx()`` when None.
        seed: None, an int or a :class:`SeedGenerator` (see :func:`normal`).

    The numbers differ from Keras's for the same seed (another generator).
    """
    where = "random.uniform"
    shape = _check_shape(where, shape)
    dtype = _dtype(where, dtype, _FLOAT_TYPES, backend.floatx)
    minval = _parameter(where, "minval", minval, shape)
    maxval = _parameter(where, "maxval", maxval, shape)
    draw = _generator(where, seed).random(shape)
    return _floats(minval + (maxval - minval) * draw, dtype)


def truncated_normal(shape, mean=0.0, stddev=1.0, dtype=None, seed=None):
    """Normal samples, redrawn until within two standard deviations of the mean: ``keras.random.truncated_normal``.

    Args:
        shape: tuple or list of ints, the output's shape.
        mean: float (or an array broadcastable to ``shape``), defaults to 0.
        stddev: float (or an array broadcastable to ``shape``), defaults to 1.
        dtype: a float type; ``keras.config.floatx()`` when None.
        seed: None, an int or a :class:`SeedGenerator` (see :func:`normal`).

    The numbers differ from Keras's for the same seed (another generator).
    """
    where = "random.truncated_normal"
    shape = _check_shape(where, shape)
    dtype = _dtype(where, dtype, _FLOAT_TYPES, backend.floatx)
    mean = _parameter(where, "mean", mean, shape)
    stddev = _parameter(where, "stddev", stddev, shape)
    generator = _generator(where, seed)
    draw = generator.standard_normal(shape)
    outside = abs(draw) > 2.0
    while outside.any():  # about 4.6 % of the draws, fewer each round
        draw[outside] = generator.standard_normal(int(outside.sum()))
        outside = abs(draw) > 2.0
    return _floats(draw * stddev + mean, dtype)


def randint(shape, minval, maxval, dtype="int32", seed=None):
    """Random integers, uniform in ``[minval, maxval)``: ``keras.random.randint``.

    Args:
        shape: tuple or list of ints, the output's shape.
        minval: int, the lower bound (included).
        maxval: int, the upper bound (excluded); it must be greater than ``minval``.
        dtype: an integer type, ``'int32'`` by default (Keras refuses float types
            and None too); both bounds must fit in it.
        seed: None, an int or a :class:`SeedGenerator` (see :func:`normal`).

    The numbers differ from Keras's for the same seed (another generator).
    """
    where = "random.randint"
    shape = _check_shape(where, shape)
    dtype = _dtype(where, dtype, _INT_TYPES)
    for argument, value in (("minval", minval), ("maxval", maxval)):
        if isinstance(value, bool) or not isinstance(value, numbers.Integral):
            raise TypeError(f"{where}: {argument} must be an int. Received: {argument}={value!r}")
    minval, maxval = int(minval), int(maxval)
    if minval >= maxval:
        raise ValueError(f"{where}: minval must be less than maxval. Received: minval={minval}, maxval={maxval}")
    info = backend.xp.iinfo(dtype)
    if minval < int(info.min) or maxval - 1 > int(info.max):
        raise ValueError(
            f"{where}: the range [minval, maxval) must fit in {dtype} ({int(info.min)} to {int(info.max)}). "
            f"Received: minval={minval}, maxval={maxval}"
        )
    return backend.xp.asarray(_generator(where, seed).integers(minval, maxval, size=shape, dtype=dtype))


def categorical(logits, num_samples, dtype="int32", seed=None):
    """Class indices drawn from the softmax of each row of ``logits``: ``keras.random.categorical``.

    Args:
        logits: 2-D array ``(batch_size, num_classes)`` of unnormalized
            log-probabilities (``-inf`` for a class never drawn).
        num_samples: int >= 0, the number of independent draws per row.
        dtype: the output's numeric type, ``'int32'`` by default.
        seed: None, an int or a :class:`SeedGenerator` (see :func:`normal`).

    Returns:
        An array ``(batch_size, num_samples)`` of class indices.

    Drawn with the Gumbel-max trick (the argmax of ``logits`` plus Gumbel
    noise), so the numbers differ from Keras's for the same seed.
    """
    where = "random.categorical"
    logits = backend.as_numeric(logits, where)
    if logits.ndim != 2:
        raise ValueError(
            f"{where}: logits must be a 2-D array (batch_size, num_classes). Received: logits of shape {logits.shape}"
        )
    if logits.shape[1] == 0:
        raise ValueError(f"{where}: logits must have at least one class. Received: logits of shape {logits.shape}")
    if isinstance(num_samples, bool) or not isinstance(num_samples, numbers.Integral):
        raise TypeError(f"{where}: num_samples must be an int. Received: num_samples={num_samples!r}")
    if num_samples < 0:
        raise ValueError(f"{where}: num_samples must be >= 0. Received: num_samples={num_samples}")
    dtype = _dtype(where, dtype, _INT_TYPES + _FLOAT_TYPES)
    batch, classes = logits.shape
    uniforms = backend.random_uniform((batch, int(num_samples), classes), _generator(where, seed))
    with backend.errstate(divide="ignore"):
        gumbel = -backend.xp.log(-backend.xp.log(uniforms))  # a draw of 0 gives -inf: never chosen
    scores = logits.astype("float64")[:, None, :] + gumbel
    return backend.xp.argmax(scores, axis=-1).astype(dtype)


def dropout(inputs, rate, noise_shape=None, seed=None):
    """Zero a fraction ``rate`` of ``inputs`` and scale the rest by ``1 / (1 - rate)``: ``keras.random.dropout``.

    Args:
        inputs: a float array (a list becomes ``keras.config.floatx()``).
        rate: float in [0, 1]; 0 returns ``inputs`` unchanged, 1 returns zeros.
        noise_shape: shape of the keep mask, broadcast against ``inputs``
            (``None`` entries take the input's size), e.g. ``(None, 1, features)``.
        seed: None, an int or a :class:`SeedGenerator` (see :func:`normal`).

    A unit is kept where a uniform draw is ``>= rate``, as TensorFlow decides;
    the draws themselves differ from Keras's for the same seed.
    """
    where = "random.dropout"
    if not hasattr(inputs, "dtype"):
        inputs = backend.to_array(inputs, where=where)
    inputs = backend.as_numeric(inputs, where)
    if inputs.dtype.kind != "f":
        raise ValueError(
            f"{where}: inputs must be a float array, as they are scaled. Received: inputs of dtype {inputs.dtype}"
        )
    if isinstance(rate, bool) or not isinstance(rate, numbers.Real) or not 0 <= rate <= 1:
        raise ValueError(f"{where}: rate must be a float in the range [0, 1]. Received: rate={rate!r}")
    if rate == 1:
        return backend.xp.zeros_like(inputs)
    if rate == 0:
        return inputs
    shape = inputs.shape
    if noise_shape is not None:
        if not isinstance(noise_shape, (tuple, list)) or len(noise_shape) != inputs.ndim:
            raise ValueError(
                f"{where}: noise_shape must be a tuple with one entry per axis of inputs ({inputs.ndim}). "
                f"Received: noise_shape={noise_shape!r}"
            )
        shape = tuple(size if want is None else want for size, want in zip(inputs.shape, noise_shape))
        if any(want not in (1, size) for want, size in zip(shape, inputs.shape)):
            raise ValueError(
                f"{where}: noise_shape must broadcast to the inputs' shape {inputs.shape} (each entry 1, None "
                f"or the input's size). Received: noise_shape={noise_shape!r}"
            )
    keep = backend.random_uniform(_check_shape(where, list(shape)), _generator(where, seed)) >= rate
    return inputs * (keep.astype(inputs.dtype) / inputs.dtype.type(1.0 - rate))


def shuffle(x, axis=0, seed=None):
    """``x`` with its entries along ``axis`` in a uniformly random order: ``keras.random.shuffle``.

    Args:
        x: an array with at least one axis.
        axis: int, the axis to shuffle (negative counts from the end), 0 by default.
        seed: None, an int or a :class:`SeedGenerator` (see :func:`normal`).

    The order differs from Keras's for the same seed (another generator).
    """
    where = "random.shuffle"
    x = backend.as_numeric(x, where)
    if isinstance(axis, bool) or not isinstance(axis, numbers.Integral):
        raise TypeError(f"{where}: axis must be an int. Received: axis={axis!r}")
    if not -x.ndim <= axis < x.ndim:
        raise ValueError(
            f"{where}: axis {axis} is out of range for an array of {x.ndim} dimension(s) (shape {x.shape})"
        )
    order = backend.permutation(x.shape[axis], _generator(where, seed))
    return backend.xp.take(x, order, axis=int(axis))


def gamma(shape, alpha, dtype=None, seed=None):
    """Samples of the Gamma distribution of shape ``alpha`` (scale 1): ``keras.random.gamma``.

    Args:
        shape: tuple or list of ints, the output's shape.
        alpha: float > 0, or an array of them broadcastable to ``shape``.
        dtype: a float type; ``keras.config.floatx()`` when None.
        seed: None, an int or a :class:`SeedGenerator` (see :func:`normal`).

    Mean and variance are both ``alpha``. The numbers differ from Keras's for
    the same seed (another generator).
    """
    where = "random.gamma"
    shape = _check_shape(where, shape)
    dtype = _dtype(where, dtype, _FLOAT_TYPES, backend.floatx)
    alpha = _parameter(where, "alpha", alpha, shape, positive=True)
    return _floats(_generator(where, seed).gamma(alpha, size=shape), dtype)


def beta(shape, alpha, beta, dtype=None, seed=None):
    """Samples of the Beta distribution of parameters ``alpha`` and ``beta``: ``keras.random.beta``.

    Args:
        shape: tuple or list of ints, the output's shape.
        alpha: float > 0, or an array of them broadcastable to ``shape``.
        beta: float > 0, or an array of them broadcastable to ``shape``.
        dtype: a float type; ``keras.config.floatx()`` when None.
        seed: None, an int or a :class:`SeedGenerator` (see :func:`normal`).

    Mean ``alpha / (alpha + beta)``. The numbers differ from Keras's for the
    same seed (another generator).
    """
    where = "random.beta"
    shape = _check_shape(where, shape)
    dtype = _dtype(where, dtype, _FLOAT_TYPES, backend.floatx)
    alpha = _parameter(where, "alpha", alpha, shape, positive=True)
    beta = _parameter(where, "beta", beta, shape, positive=True)
    return _floats(_generator(where, seed).beta(alpha, beta, size=shape), dtype)


def binomial(shape, counts, probabilities, dtype=None, seed=None):
    """Samples of a Binomial distribution: successes in ``counts`` trials of probability ``probabilities``.

    ``keras.random.binomial``.

    Args:
        shape: tuple or list of ints, the output's shape.
        counts: whole number >= 0 of trials, or an array of them broadcastable to ``shape``.
        probabilities: float in [0, 1], or an array of them broadcastable to ``shape``.
        dtype: a float type (``keras.config.floatx()`` when None) or an integer type.
        seed: None, an int or a :class:`SeedGenerator` (see :func:`normal`).

    Mean ``counts * probabilities``. The numbers differ from Keras's for the
    same seed (another generator).
    """
    where = "random.binomial"
    shape = _check_shape(where, shape)
    dtype = _dtype(where, dtype, _FLOAT_TYPES + _INT_TYPES, backend.floatx)
    counts = _parameter(where, "counts", counts, shape)
    probabilities = _parameter(where, "probabilities", probabilities, shape)
    if not bool(((counts >= 0) & (counts == counts.round())).all()):
        raise ValueError(f"{where}: counts must be whole numbers >= 0. Received: counts={counts!r}")
    if not bool(((probabilities >= 0) & (probabilities <= 1)).all()):
        raise ValueError(f"{where}: probabilities must lie in [0, 1]. Received: probabilities={probabilities!r}")
    draw = _generator(where, seed).binomial(counts.astype("int64"), probabilities, size=shape)
    return _floats(draw, dtype)
