"""Weight initializers with Keras 3's names, arguments, defaults and fan rules.

An initializer is configured once and called with a shape::

    from course_lib import initializers
    init = initializers.get("glorot_uniform")
    kernel = init((784, 128))          # numpy array, dtype backend.floatx()

Initializers run on the host, in NumPy, on purpose: once per weight, from the
one seeded host generator, so that a seed gives the same starting weights on
every array module (NumPy, CuPy, the strict stand-in). ``Layer.add_weight``
then moves the values to the active array module in one transfer.

Every class has ``get_config`` / ``from_config``, and :func:`serialize` gives the
same ``{'class_name': ..., 'config': {...}}`` dictionary Keras stores in a
saved model, so configs travel both ways.

Seeding, and the one difference from Keras:

* ``seed=<int>``: every call returns the same values (as in Keras).
* ``seed=None``: values come from the shared generator ``backend.rng()``, so
  successive calls give *different* values, and ``backend.set_seed(n)`` makes
  the whole program reproducible. Keras instead picks a random int seed when an
  unseeded initializer is built, so calling that one instance twice repeats its
  values. The two agree in distribution, never in the exact numbers: NumPy's
  generator is not TensorFlow's.
"""
from __future__ import annotations

import abc
import math
import numbers

import numpy

from course_lib import backend

__all__ = [
    "Constant",
    "GlorotNormal",
    "GlorotUniform",
    "HeNormal",
    "HeUniform",
    "Identity",
    "IdentityInitializer",
    "Initializer",
    "LecunNormal",
    "LecunUniform",
    "Ones",
    "Orthogonal",
    "OrthogonalInitializer",
    "RandomNormal",
    "RandomUniform",
    "STFT",
    "STFTInitializer",
    "TruncatedNormal",
    "VarianceScaling",
    "Zeros",
    "compute_fans",
    "constant",
    "deserialize",
    "get",
    "glorot_normal",
    "glorot_uniform",
    "he_normal",
    "he_uniform",
    "identity",
    "lecun_normal",
    "lecun_uniform",
    "ones",
    "orthogonal",
    "random_normal",
    "random_uniform",
    "serialize",
    "stft",
    "truncated_normal",
    "variance_scaling",
    "zeros",
]

# Standard deviation of a standard normal truncated to [-2, 2]; dividing by it
# makes a truncated draw have the variance that was asked for.
_TRUNCATED_STDDEV_FACTOR = 0.87962566103423978


# ------------------------------------------------------------------- helpers

def _check_shape(where, shape):
    if isinstance(shape, numbers.Integral) and not isinstance(shape, bool):
        shape = (shape,)
    try:
        dims = tuple(shape)
    except TypeError:
        dims = None
    if dims is None or not all(
        isinstance(d, numbers.Integral) and not isinstance(d, bool) and d >= 0 for d in dims
    ):
        raise ValueError(
            f"{where}: shape must be a tuple of non-negative ints. Received: shape={shape!r}"
        )
    return tuple(int(d) for d in dims)


def _resolve_dtype(where, dtype, float_only):
    name = backend.floatx() if dtype is None else dtype
    try:
        resolved = numpy.dtype(name)
    except TypeError:
        resolved = None
    allowed = "f" if float_only else "biuf"
    if resolved is None or resolved.kind not in allowed:
        expected = "a float dtype" if float_only else "a numeric or bool dtype"
        raise ValueError(f"{where}: dtype must be {expected}. Received: dtype={dtype!r}")
    return resolved


def _check_real(where, argument, value):
    return backend.check_real(where, argument, value, finite=True)


def _plain(value):
    """A JSON-friendly Python number for configs (numpy scalars become float/int)."""
    return value.item() if isinstance(value, numpy.generic) else value


def compute_fans(shape, input_axes=None, output_axes=None):
    """Numbers of input and output units of a weight of the given shape, as Keras counts them.

    Args:
        shape: the weight's shape. A Dense kernel is ``(in, out)``; a convolution
            kernel is ``(*kernel_size, in_channels, filters)``.
        input_axes: optional axes whose sizes multiply to ``fan_in``.
        output_axes: optional axes whose sizes multiply to ``fan_out``
            (both must be given to take effect, as in Keras).

    Returns:
        ``(fan_in, fan_out)`` as ints. Rank 0 gives ``(1, 1)``; rank 1 gives
        ``(n, n)``; rank 2 gives ``(shape[0], shape[1])``; higher ranks multiply
        both by the receptive field ``prod(shape[:-2])``.
    """
    shape = tuple(shape)
    if input_axes is not None and output_axes is not None:
        return (
            int(math.prod(shape[axis] for axis in input_axes)),
            int(math.prod(shape[axis] for axis in output_axes)),
        )
    if len(shape) == 0:
        return 1, 1
    if len(shape) == 1:
        return int(shape[0]), int(shape[0])
    if len(shape) == 2:
        return int(shape[0]), int(shape[1])
    receptive_field = math.prod(shape[:-2])
    return int(shape[-2] * receptive_field), int(shape[-1] * receptive_field)


def _truncated_standard_normal(generator, shape):
    """Standard normal draws with everything outside [-2, 2] drawn again."""
    values = generator.standard_normal(shape)
    outside = numpy.abs(values) > 2
    while outside.any():
        values[outside] = generator.standard_normal(int(outside.sum()))
        outside = numpy.abs(values) > 2
    return values


def _uniform(generator, minval, maxval, shape, dtype):
    values = generator.uniform(minval, maxval, shape).astype(dtype)
    # Rounding to float32 can land exactly on maxval; keep the bound exclusive.
    below_max = numpy.nextafter(dtype.type(maxval), dtype.type(minval))
    return numpy.minimum(values, below_max)


# --------------------------------------------------------------- base classes

class Initializer(abc.ABC):
    """Base class: configured in ``__init__``, called as ``init(shape, dtype=None)``.

    Subclasses implement ``__call__`` and, when they have arguments,
    ``get_config``; ``from_config(config)`` calls ``cls(**config)``.
    """

    @abc.abstractmethod
    def __call__(self, shape, dtype=None):
        """Return an array of ``shape`` and ``dtype`` (default ``backend.floatx()``)."""

    def get_config(self):
        """The constructor arguments as a JSON-serialisable dict."""
        return {}

    @classmethod
    def from_config(cls, config):
        """Rebuild an initializer from :meth:`get_config`'s output."""
        try:
            return cls(**config)
        except TypeError as error:
            raise TypeError(
                f"{cls.__name__}.from_config: the config does not match the "
                f"constructor ({error}). Received: config={config!r}"
            ) from None

    def clone(self):
        """A new initializer with the same configuration."""
        return self.__class__.from_config(self.get_config())

    def __repr__(self):
        arguments = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{self.__class__.__name__}({arguments})"


class RandomInitializer(Initializer):
    """Shared seed handling for the random initializers.

    Args:
        seed: None (draw from the shared ``backend.rng()``, different values on
            every call) or a non-negative int (the same values on every call).
    """

    def __init__(self, seed=None):
        if seed is not None and (
            isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0
        ):
            raise ValueError(
                f"{self.__class__.__name__}: seed must be None or a non-negative int. "
                f"Received: seed={seed!r}"
            )
        self.seed = None if seed is None else int(seed)

    def _generator(self):
        return backend.rng(self.seed)

    def get_config(self):
        return {"seed": self.seed}


# ------------------------------------------------------------------ constants

class Zeros(Initializer):
    """All zeros.

    Args (of the call):
        shape: the output shape.
        dtype: any numeric or bool dtype; default ``backend.floatx()``.
    """

    def __call__(self, shape, dtype=None):
        shape = _check_shape("Zeros", shape)
        return numpy.zeros(shape, dtype=_resolve_dtype("Zeros", dtype, float_only=False))


class Ones(Initializer):
    """All ones (numeric or bool dtype; default ``backend.floatx()``)."""

    def __call__(self, shape, dtype=None):
        shape = _check_shape("Ones", shape)
        return numpy.ones(shape, dtype=_resolve_dtype("Ones", dtype, float_only=False))


class Constant(Initializer):
    """Every entry equal to ``value``.

    Args:
        value: a real scalar (Keras allows only scalars too).
    """

    def __init__(self, value=0.0):
        value = _plain(value)
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise TypeError(
                f"Constant: value must be a real scalar. Received: value={value!r}"
            )
        self.value = value

    def __call__(self, shape, dtype=None):
        shape = _check_shape("Constant", shape)
        return numpy.full(shape, self.value, dtype=_resolve_dtype("Constant", dtype, False))

    def get_config(self):
        return {"value": self.value}


class Identity(Initializer):
    """``gain`` times the identity matrix (2-D shapes only; rectangular allowed).

    Args:
        gain: multiplicative factor.
    """

    def __init__(self, gain=1.0):
        self.gain = _plain(_check_real("Identity", "gain", _plain(gain)))

    def __call__(self, shape, dtype=None):
        shape = _check_shape("Identity", shape)
        if len(shape) != 2:
            raise ValueError(
                "Identity: can only initialize 2-D matrices. "
                f"Received: shape={shape} of rank {len(shape)}"
            )
        dtype = _resolve_dtype("Identity", dtype, float_only=False)
        return (self.gain * numpy.eye(*shape)).astype(dtype)

    def get_config(self):
        return {"gain": self.gain}


# ------------------------------------------------------------ plain random ones

class RandomNormal(RandomInitializer):
    """Normal draws with the given mean and standard deviation.

    Args:
        mean: the mean (default 0.0).
        stddev: the standard deviation, >= 0 (default 0.05).
        seed: None or an int, see :class:`RandomInitializer`.
    """

    def __init__(self, mean=0.0, stddev=0.05, seed=None):
        self.mean = _plain(_check_real("RandomNormal", "mean", _plain(mean)))
        self.stddev = _plain(_check_real("RandomNormal", "stddev", _plain(stddev)))
        if self.stddev < 0:
            raise ValueError(f"RandomNormal: stddev must be >= 0. Received: stddev={stddev}")
        super().__init__(seed=seed)

    def __call__(self, shape, dtype=None):
        shape = _check_shape("RandomNormal", shape)
        dtype = _resolve_dtype("RandomNormal", dtype, float_only=True)
        values = self.mean + self.stddev * self._generator().standard_normal(shape)
        return values.astype(dtype)

    def get_config(self):
        return {**super().get_config(), "mean": self.mean, "stddev": self.stddev}


class TruncatedNormal(RandomInitializer):
    """Normal draws, with values more than two ``stddev`` from the mean drawn again.

    The result's own standard deviation is about ``0.88 * stddev`` because of
    the truncation (the variance-scaling initializers correct for that).

    Args:
        mean: the mean (default 0.0).
        stddev: the standard deviation before truncation, >= 0 (default 0.05).
        seed: None or an int, see :class:`RandomInitializer`.
    """

    def __init__(self, mean=0.0, stddev=0.05, seed=None):
        self.mean = _plain(_check_real("TruncatedNormal", "mean", _plain(mean)))
        self.stddev = _plain(_check_real("TruncatedNormal", "stddev", _plain(stddev)))
        if self.stddev < 0:
            raise ValueError(
                f"TruncatedNormal: stddev must be >= 0. Received: stddev={stddev}"
            )
        super().__init__(seed=seed)

    def __call__(self, shape, dtype=None):
        shape = _check_shape("TruncatedNormal", shape)
        dtype = _resolve_dtype("TruncatedNormal", dtype, float_only=True)
        values = _truncated_standard_normal(self._generator(), shape)
        return (self.mean + self.stddev * values).astype(dtype)

    def get_config(self):
        return {**super().get_config(), "mean": self.mean, "stddev": self.stddev}


class RandomUniform(RandomInitializer):
    """Uniform draws in ``[minval, maxval)``.

    Args:
        minval: lower bound, inclusive (default -0.05).
        maxval: upper bound, exclusive (default 0.05); must exceed ``minval``.
        seed: None or an int, see :class:`RandomInitializer`.
    """

    def __init__(self, minval=-0.05, maxval=0.05, seed=None):
        self.minval = _plain(_check_real("RandomUniform", "minval", _plain(minval)))
        self.maxval = _plain(_check_real("RandomUniform", "maxval", _plain(maxval)))
        if not self.minval < self.maxval:
            raise ValueError(
                "RandomUniform: minval must be smaller than maxval. "
                f"Received: minval={minval}, maxval={maxval}"
            )
        super().__init__(seed=seed)

    def __call__(self, shape, dtype=None):
        shape = _check_shape("RandomUniform", shape)
        dtype = _resolve_dtype("RandomUniform", dtype, float_only=True)
        return _uniform(self._generator(), self.minval, self.maxval, shape, dtype)

    def get_config(self):
        return {**super().get_config(), "minval": self.minval, "maxval": self.maxval}


# ----------------------------------------------------------- variance scaling

_MODES = ("fan_in", "fan_out", "fan_avg")
_DISTRIBUTIONS = ("truncated_normal", "untruncated_normal", "uniform")


class VarianceScaling(RandomInitializer):
    """Draws whose variance is ``scale / n``, with ``n`` counted from the shape.

    ``n`` is ``fan_in``, ``fan_out`` or their mean, as :func:`compute_fans`
    counts them (a convolution kernel multiplies by its receptive field), and
    never less than 1.

    * ``'truncated_normal'`` (``'normal'`` is accepted as its alias): a normal
      truncated at two standard deviations, widened by 1/0.8796 so that the
      truncated values keep the variance ``scale / n``;
    * ``'untruncated_normal'``: a normal with standard deviation ``sqrt(scale / n)``;
    * ``'uniform'``: uniform in ``[-limit, limit)`` with ``limit = sqrt(3 scale / n)``.

    Args:
        scale: positive factor (default 1.0).
        mode: ``'fan_in'`` (default), ``'fan_out'`` or ``'fan_avg'``.
        distribution: ``'truncated_normal'`` (default), ``'untruncated_normal'``
            or ``'uniform'`` (case-insensitive).
        seed: None or an int, see :class:`RandomInitializer`.
        input_axes, output_axes: optional axes for :func:`compute_fans`.
    """

    def __init__(
        self,
        scale=1.0,
        mode="fan_in",
        distribution="truncated_normal",
        seed=None,
        input_axes=None,
        output_axes=None,
    ):
        name = self.__class__.__name__
        scale = _plain(_check_real(name, "scale", _plain(scale)))
        if scale <= 0:
            raise ValueError(f"{name}: scale must be a positive float. Received: scale={scale}")
        if mode not in _MODES:
            raise ValueError(f"{name}: mode must be one of {_MODES}. Received: mode={mode!r}")
        if not isinstance(distribution, str) or distribution.lower() not in (
            *_DISTRIBUTIONS, "normal"
        ):
            raise ValueError(
                f"{name}: distribution must be one of {_DISTRIBUTIONS}. "
                f"Received: distribution={distribution!r}"
            )
        distribution = distribution.lower()
        self.scale = scale
        self.mode = mode
        self.distribution = "truncated_normal" if distribution == "normal" else distribution
        self.input_axes = None if input_axes is None else list(input_axes)
        self.output_axes = None if output_axes is None else list(output_axes)
        super().__init__(seed=seed)

    def variance(self, shape):
        """The target variance ``scale / n`` for a weight of this shape."""
        fan_in, fan_out = compute_fans(shape, self.input_axes, self.output_axes)
        units = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2}
        return self.scale / max(1.0, units[self.mode])

    def __call__(self, shape, dtype=None):
        name = self.__class__.__name__
        shape = _check_shape(name, shape)
        dtype = _resolve_dtype(name, dtype, float_only=True)
        variance = self.variance(shape)
        generator = self._generator()
        if self.distribution == "uniform":
            limit = math.sqrt(3.0 * variance)
            return _uniform(generator, -limit, limit, shape, dtype)
        if self.distribution == "untruncated_normal":
            return (math.sqrt(variance) * generator.standard_normal(shape)).astype(dtype)
        stddev = math.sqrt(variance) / _TRUNCATED_STDDEV_FACTOR
        return (stddev * _truncated_standard_normal(generator, shape)).astype(dtype)

    def get_config(self):
        return {
            **super().get_config(),
            "scale": self.scale,
            "mode": self.mode,
            "distribution": self.distribution,
            "input_axes": self.input_axes,
            "output_axes": self.output_axes,
        }


class _FixedVarianceScaling(VarianceScaling):
    """A VarianceScaling whose scale, mode and distribution are fixed by its class."""

    _SETTINGS: dict = {}

    def __init__(self, seed=None, input_axes=None, output_axes=None):
        super().__init__(
            **self._SETTINGS, seed=seed, input_axes=input_axes, output_axes=output_axes
        )

    def get_config(self):
        return {"seed": self.seed, "input_axes": self.input_axes, "output_axes": self.output_axes}


class GlorotUniform(_FixedVarianceScaling):
    """Uniform in ``[-limit, limit)``, ``limit = sqrt(6 / (fan_in + fan_out))`` (Xavier).

    Args:
        seed: None or an int, see :class:`RandomInitializer`.
    """

    _SETTINGS = {"scale": 1.0, "mode": "fan_avg", "distribution": "uniform"}


class GlorotNormal(_FixedVarianceScaling):
    """Truncated normal with standard deviation ``sqrt(2 / (fan_in + fan_out))``."""

    _SETTINGS = {"scale": 1.0, "mode": "fan_avg", "distribution": "truncated_normal"}


class HeUniform(_FixedVarianceScaling):
    """Uniform in ``[-limit, limit)``, ``limit = sqrt(6 / fan_in)`` (for relu networks)."""

    _SETTINGS = {"scale": 2.0, "mode": "fan_in", "distribution": "uniform"}


class HeNormal(_FixedVarianceScaling):
    """Truncated normal with standard deviation ``sqrt(2 / fan_in)``."""

    _SETTINGS = {"scale": 2.0, "mode": "fan_in", "distribution": "truncated_normal"}


class LecunUniform(_FixedVarianceScaling):
    """Uniform in ``[-limit, limit)``, ``limit = sqrt(3 / fan_in)``."""

    _SETTINGS = {"scale": 1.0, "mode": "fan_in", "distribution": "uniform"}


class LecunNormal(_FixedVarianceScaling):
    """Truncated normal with standard deviation ``sqrt(1 / fan_in)`` (pairs with selu)."""

    _SETTINGS = {"scale": 1.0, "mode": "fan_in", "distribution": "truncated_normal"}


# ------------------------------------------------------------------ orthogonal

class Orthogonal(RandomInitializer):
    """A (semi-)orthogonal matrix times ``gain``, from the QR decomposition of normal draws.

    A shape ``(d1, ..., dk, n)`` is treated as the matrix ``(d1*...*dk, n)``;
    with at least as many rows as columns the columns are orthonormal
    (``W^T W = gain^2 I``), otherwise the rows are (``W W^T = gain^2 I``).

    Args:
        gain: multiplicative factor (default 1.0).
        seed: None or an int, see :class:`RandomInitializer`.
    """

    def __init__(self, gain=1.0, seed=None):
        self.gain = _plain(_check_real("Orthogonal", "gain", _plain(gain)))
        super().__init__(seed=seed)

    def __call__(self, shape, dtype=None):
        shape = _check_shape("Orthogonal", shape)
        if len(shape) < 2:
            raise ValueError(
                "Orthogonal: the shape must have at least 2 dimensions. "
                f"Received: shape={shape} of rank {len(shape)}"
            )
        dtype = _resolve_dtype("Orthogonal", dtype, float_only=True)
        rows, columns = math.prod(shape[:-1]), shape[-1]
        tall = self._generator().standard_normal((max(rows, columns), min(rows, columns)))
        q, r = numpy.linalg.qr(tall)
        # QR is unique only up to column signs; fixing sign(diag(r)) > 0 makes
        # q uniformly distributed over orthogonal matrices.
        signs = numpy.sign(numpy.diag(r))
        q = q * numpy.where(signs == 0, 1.0, signs)
        if rows < columns:
            q = q.T
        return (self.gain * q.reshape(shape)).astype(dtype)

    def get_config(self):
        return {**super().get_config(), "gain": self.gain}


# --------------------------------------------------------------------- STFT
# SciPy's general cosine windows (scipy.signal.get_window), by name: w = sum_k a_k cos(k x), x in [-pi, pi].
_COSINE_WINDOWS = {
    "hann": (0.5, 0.5), "hamming": (0.54, 0.46), "blackman": (0.42, 0.50, 0.08), "boxcar": (1.0,),
}


def _check_window_name(where, window, names=tuple(_COSINE_WINDOWS)):
    if isinstance(window, str) and window not in names:
        raise ValueError(
            f"{where}: window must be one of {', '.join(repr(n) for n in names)}, an array of window "
            f"values or None. Received: window={window!r}"
        )


def _cosine_window(name, length, periodic):
    """``scipy.signal.get_window(name, length, fftbins=periodic)`` for the cosine windows, in float64."""
    if length == 1:
        return numpy.ones(1)
    points = length + 1 if periodic else length
    angle = numpy.linspace(-math.pi, math.pi, points)
    window = numpy.zeros(points)
    for k, weight in enumerate(_COSINE_WINDOWS[name]):
        window = window + weight * numpy.cos(k * angle)
    return window[:length]


class STFT(Initializer):
    """The kernels of a short-time Fourier transform as a convolution (the weights of ``STFTSpectrogram``).

    For a shape ``(frame_length, 1, bins)``, entry ``(t, 0, f)`` is
    ``cos(-2 pi t f / (2 (bins - 1)))`` (``side="real"``) or its ``sin``
    (``"imag"``), times the window at ``t`` divided by the window's L2 norm
    (``scaling="density"``) or its sum (``"spectrum"``). Computed in the
    weight's dtype, in Keras's order of operations: float64 kernels agree with
    Keras's to the last bit or two, float32 ones within one float32 rounding
    (3e-8: the two libraries' float32 ``cos`` and ``sin``).

    Args:
        side: ``"real"`` (default) or ``"imag"``.
        window: ``"hann"`` (default), ``"hamming"``, ``"blackman"`` or ``"boxcar"`` (SciPy's windows of
            those names), an array of ``frame_length`` values, or None for none.
        scaling: ``"density"`` (default), ``"spectrum"`` or None.
        periodic: True for the periodic form of a named window (SciPy's ``fftbins``), default False.
    """

    def __init__(self, side="real", window="hann", scaling="density", periodic=False):
        if side not in ("real", "imag"):
            raise ValueError(f"STFT: side must be 'real' or 'imag'. Received: side={side!r}")
        _check_window_name("STFT", window)
        if scaling is not None and scaling not in ("density", "spectrum"):
            raise ValueError(f"STFT: scaling must be None, 'density' or 'spectrum'. Received: scaling={scaling!r}")
        self.side, self.window, self.scaling, self.periodic = side, window, scaling, bool(periodic)

    def __call__(self, shape, dtype=None):
        shape = _check_shape("STFT", shape)
        if len(shape) != 3:
            raise ValueError(f"STFT: the shape must be (frame_length, channels, bins). Received: shape={shape}")
        dtype = _resolve_dtype("STFT", dtype, float_only=True)
        frame_length, _, bins = shape
        window, scale = None, 1
        if self.window is not None:
            window = (_cosine_window(self.window, frame_length, self.periodic) if isinstance(self.window, str)
                      else numpy.asarray(backend.to_numpy(self.window), dtype="float64"))
            window = window.astype(dtype)
            if window.ndim != 1 or window.shape[0] != frame_length:
                raise ValueError(f"STFT: the window must be a 1D array of frame_length={frame_length} values. "
                                 f"Received: window of shape {tuple(window.shape)}")
            window = window.reshape(frame_length, 1, 1)
            if self.scaling == "density":
                scale = numpy.sqrt(numpy.sum(window * window))
            elif self.scaling == "spectrum":
                scale = numpy.sum(numpy.abs(window))
        freq = numpy.arange(bins, dtype=dtype).reshape(1, 1, bins) / dtype.type((bins - 1) * 2)
        time = numpy.arange(frame_length, dtype=dtype).reshape(frame_length, 1, 1)
        angle = (dtype.type(-2) * time) * freq * dtype.type(math.pi)
        kernel = numpy.cos(angle) if self.side == "real" else numpy.sin(angle)
        if window is not None:
            kernel = kernel * window / scale
        return kernel.astype(dtype)

    def get_config(self):
        window = self.window if self.window is None or isinstance(self.window, str) else \
            numpy.asarray(backend.to_numpy(self.window)).tolist()
        return {"side": self.side, "window": window, "scaling": self.scaling, "periodic": self.periodic}


# ---------------------------------------------------------------- the registry

_CLASSES = (
    Constant, Identity, Ones, Zeros, GlorotNormal, GlorotUniform, HeNormal,
    HeUniform, LecunNormal, LecunUniform, Orthogonal, RandomNormal,
    RandomUniform, TruncatedNormal, VarianceScaling, STFT,
)
_BY_NAME = {cls.__name__: cls for cls in _CLASSES}
_BY_NAME.update({backend.snake_case(cls.__name__): cls for cls in _CLASSES})
# Aliases Keras 3 also accepts.
_BY_NAME.update(
    {
        "normal": RandomNormal,
        "uniform": RandomUniform,
        "one": Ones,
        "zero": Zeros,
        "IdentityInitializer": Identity,
        "OrthogonalInitializer": Orthogonal,
        "STFTInitializer": STFT,
    }
)
# Keras 3 also exports every class under its snake_case name, and two of them under a
# longer name: the same classes (``initializers.he_normal is initializers.HeNormal``).
constant, identity, ones, zeros = Constant, Identity, Ones, Zeros
glorot_normal, glorot_uniform, he_normal, he_uniform = GlorotNormal, GlorotUniform, HeNormal, HeUniform
lecun_normal, lecun_uniform, orthogonal = LecunNormal, LecunUniform, Orthogonal
random_normal, random_uniform, truncated_normal = RandomNormal, RandomUniform, TruncatedNormal
variance_scaling = VarianceScaling
IdentityInitializer, OrthogonalInitializer, STFTInitializer, stft = Identity, Orthogonal, STFT, STFT


def _unknown(where, identifier):
    return ValueError(
        f"{where}: could not interpret initializer identifier. Received: {identifier!r}. "
        "Expected an Initializer, a callable(shape, dtype=None), a dict "
        "{'class_name': ..., 'config': {...}}, or one of the names "
        f"{sorted(_BY_NAME)}."
    )


def serialize(initializer):
    """Keras's saved form of an initializer.

    Args:
        initializer: an :class:`Initializer`, or a plain callable.

    Returns:
        ``{'module': 'keras.initializers', 'class_name': 'GlorotUniform',
        'config': {...}, 'registered_name': None}``, exactly as Keras writes it;
        for a plain function ``{'class_name': 'function', 'config': its __name__}``.
    """
    if isinstance(initializer, Initializer):
        return {"module": "keras.initializers", "class_name": initializer.__class__.__name__,
                "config": initializer.get_config(), "registered_name": None}
    if callable(initializer) and not isinstance(initializer, type):
        # Keras records a plain function by name too; it cannot be rebuilt from
        # that name alone, which deserialize() explains.
        name = getattr(initializer, "__name__", type(initializer).__name__)
        return {"class_name": "function", "config": name}
    raise TypeError(
        "initializers.serialize: expected an Initializer instance or a callable. "
        f"Received: {initializer!r}"
    )


def deserialize(config, custom_objects=None):
    """Rebuild an initializer from :func:`serialize`'s output (or Keras's).

    Args:
        config: ``{'class_name': ..., 'config': {...}}``; ``registered_name``
            names a custom initializer; ``module`` is ignored.
        custom_objects: optional ``{name: Initializer subclass or function}``;
            the global custom objects and an enclosing ``custom_object_scope``
            are looked up too.

    Returns:
        A new :class:`Initializer` (or the custom function).
    """
    return _from_dict("initializers.deserialize", config, custom_objects)


def _from_dict(where, config, custom_objects=None):
    from course_lib import saving

    class_name = config.get("class_name") if isinstance(config, dict) else None
    name = config.get("config") if class_name == "function" else class_name
    registered = None if class_name == "function" else config.get("registered_name")
    builtins = set(_BY_NAME) if class_name != "function" else set()
    found = saving.find_object(name, builtins, custom_objects, registered) if isinstance(name, str) else None
    if found is not None and class_name == "function":
        return found
    if isinstance(found, type) and hasattr(found, "from_config"):
        return found.from_config(dict(config.get("config") or {}))
    if class_name == "function":
        raise ValueError(
            f"{where}: {config!r} names a custom initializer function, which cannot "
            "be rebuilt from its name; pass the function itself instead."
        )
    if not isinstance(class_name, str) or class_name not in _BY_NAME:
        raise _unknown(where, config)
    arguments = config.get("config") or {}
    if not isinstance(arguments, dict):
        raise ValueError(
            f"{where}: 'config' must be a dict of constructor arguments. Received: {config!r}"
        )
    return _BY_NAME[class_name].from_config(dict(arguments))


def get(identifier):
    """Find the initializer an identifier stands for.

    Args:
        identifier: a name (``'glorot_uniform'``, ``'GlorotUniform'``,
            ``'he_normal'``, ``'zeros'``, ``'orthogonal'`` ...); a Keras
            serialized dict; an :class:`Initializer` instance (returned as it
            is) or class (instantiated with its defaults); a callable
            ``f(shape, dtype=None)`` (returned as it is); or None (returns None,
            as Keras does).

    Returns:
        An initializer (or the callable, or None).

    Raises:
        ValueError: for an unknown name or anything else.
    """
    if identifier is None:
        return None
    if isinstance(identifier, Initializer):
        return identifier
    if isinstance(identifier, str):
        if identifier in _BY_NAME:
            return _BY_NAME[identifier]()
        from course_lib import saving

        found = saving.find_object(identifier, set(_BY_NAME))  # a custom initializer in the global custom objects or the scope
        if found is not None and not isinstance(found, str):
            return get(found)
        raise _unknown("initializers.get", identifier)
    if isinstance(identifier, dict):
        return _from_dict("initializers.get", identifier)
    if isinstance(identifier, type):
        if issubclass(identifier, Initializer):
            return identifier()
        raise _unknown("initializers.get", identifier)
    if callable(identifier):
        return identifier
    raise _unknown("initializers.get", identifier)
