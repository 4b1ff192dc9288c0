"""The audio layers: STFTSpectrogram and MelSpectrogram, forward and backward, vectorised.

Both cut a signal into frames by one strided view (``backend.sliding_window_view``)
and transform all frames at once:

- ``STFTSpectrogram`` is Keras's convolution layer in disguise: its two weights
  ``real_kernel`` and ``imag_kernel`` (shape ``(frame_length, 1, fft_length // 2 + 1)``,
  trainable as in Keras) hold the windowed cosines and sines of the DFT, and
  the transform is one matrix product of the frames with them. Because the
  kernels are weights (they train, and files carry them), the product uses the
  kernels, not an FFT; the backward pass gives the gradients of the signal and
  of both kernels (the frames' gradients are overlap-added back into the signal).
- ``MelSpectrogram`` is Keras's ``ops.stft`` (reflect-padded by ``fft_length // 2``,
  a periodic window centred in ``fft_length``), one ``rfft`` over all frames,
  the magnitude to the power ``mag_exp``, the HTK mel filter bank as one matrix
  product and, optionally, decibels clipped ``top_db`` below the largest value.
  Keras's layer is differentiable (TensorFlow's gradient flows through it), so
  this one is too: the ``rfft``'s gradient is one inverse FFT, the clipping
  sends the clipped entries' gradient to the maximum (split among ties, as
  TensorFlow's ``reduce_max`` does).

The maxima with ``epsilon``/``min_power`` pass the gradient where the value is
at least the floor, as ``tf.maximum`` does.
"""
import math
import warnings

from course_lib import backend
from course_lib.layers.base import InputSpec, Layer
from course_lib.initializers import STFT, _COSINE_WINDOWS, _check_window_name
from course_lib.ops.arguments import check_data_format

_MEL_BREAK_FREQUENCY_HERTZ = 700.0
_MEL_HIGH_FREQUENCY_Q = 1127.0
_STFT_MODES = ("log", "magnitude", "psd", "real", "imag", "angle", "stft")


def _positive_int(where, argument, value):
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{where}: {argument} must be a positive int. Received: {argument}={value!r}")
    return value


def _frames(signal, length, step):
    """Every ``length``-sample frame, ``step`` apart, along the last axis: ``(..., frames, length)`` (a view)."""
    return backend.sliding_window_view(signal, length, axis=-1)[..., ::step, :]


def _overlap_add(frame_grads, step, length):
    """The adjoint of :func:`_frames`: frame gradients ``(..., frames, L)`` summed into a ``length`` signal.

    One addition per ``step``-wide block of a frame (``ceil(L / step)`` of them), all frames at once.
    """
    xp = backend.xp
    *lead, count, frame_length = frame_grads.shape
    blocks = -(-frame_length // step)
    total = (count + blocks) * step
    out = xp.zeros(tuple(lead) + (total,), dtype=frame_grads.dtype)
    for k in range(blocks):
        piece = frame_grads[..., k * step:(k + 1) * step]
        width = piece.shape[-1]
        if width < step:
            piece = xp.concatenate([piece, xp.zeros(tuple(lead) + (count, step - width), dtype=piece.dtype)], axis=-1)
        out[..., k * step:k * step + count * step] += piece.reshape(tuple(lead) + (count * step,))
    return out[..., :length]


def _floor_mask(value, floor):
    """Where ``maximum(value, floor)`` passes its gradient to ``value`` (``tf.maximum``: ``value >= floor``)."""
    return (value >= floor).astype(value.dtype)


class STFTSpectrogram(Layer):
    """Spectrograms of 1D signals by the short-time Fourier transform (短时傅里叶变换), as convolution kernels.

    Args:
        mode: ``"log"`` (default, log magnitude), ``"magnitude"``, ``"psd"`` (power spectral density:
            the power with the bins other than DC and Nyquist doubled), ``"real"``, ``"imag"``,
            ``"angle"`` or ``"stft"`` (real then imaginary parts, ``2 * (fft_length // 2 + 1)`` bins).
        frame_length: int, samples per frame (the kernels' length), 256 by default.
        frame_step: int in ``[1, frame_length]``, the hop between frames; None is ``frame_length // 2``.
        fft_length: int >= ``frame_length`` (a power of two is recommended; others warn as in Keras);
            None is the smallest power of two >= ``frame_length``.
        window: ``"hann"`` (default), ``"hamming"``, ``"blackman"``, ``"boxcar"``, an array of
            ``frame_length`` values, or None (no window).
        periodic: bool, a periodic window (SciPy's ``fftbins=True``) instead of a symmetric one.
        scaling: ``"density"`` (the window divided by its L2 norm, default), ``"spectrum"`` (by its
            L1 norm) or None.
        padding: ``"valid"`` (default) or ``"same"`` (``ceil(time / frame_step)`` frames).
        expand_dims: bool, give the frequencies an axis of their own (an image for image models).
        data_format: ``"channels_last"`` (default) or ``"channels_first"``.

    Weights: ``real_kernel`` (not for ``mode="imag"``) and ``imag_kernel`` (not for ``mode="real"``),
    each ``(frame_length, 1, fft_length // 2 + 1)``, trainable unless the layer is frozen (Keras's
    ``trainable=False`` for a fixed transform).

    Input shape: ``(batch, time, channels)`` (channels_last) or ``(batch, channels, time)``.
    Output shape: ``(batch, frames, channels * bins)`` / ``(batch, channels * bins, frames)``, or with
    ``expand_dims`` ``(batch, frames, bins, channels)`` / ``(batch, channels, frames, bins)``; each
    channel is transformed on its own, channel-major in the merged axis.
    """

    def __init__(self, mode="log", frame_length=256, frame_step=None, fft_length=None, window="hann",
                 periodic=False, scaling="density", padding="valid", expand_dims=False, data_format=None,
                 **kwargs):
        where = "STFTSpectrogram"
        _positive_int(where, "frame_length", frame_length)
        if frame_step is not None and (
            isinstance(frame_step, bool) or not isinstance(frame_step, int) or not 1 <= frame_step <= frame_length
        ):
            raise ValueError(
                f"{where}: frame_step must be a positive int not greater than frame_length. "
                f"Received: frame_step={frame_step!r}, frame_length={frame_length}"
            )
        if fft_length is not None:
            if isinstance(fft_length, bool) or not isinstance(fft_length, int) or fft_length < frame_length:
                raise ValueError(
                    f"{where}: fft_length must be an int not less than frame_length. "
                    f"Received: fft_length={fft_length!r}, frame_length={frame_length}"
                )
            if fft_length & -fft_length != fft_length:
                warnings.warn(
                    f"{where}: fft_length is recommended to be a power of two. Received: fft_length={fft_length}")
        if mode not in _STFT_MODES:
            raise ValueError(f"{where}: mode must be one of {', '.join(_STFT_MODES)}. Received: mode={mode!r}")
        if scaling is not None and scaling not in ("density", "spectrum"):
            raise ValueError(f"{where}: scaling must be None, 'density' or 'spectrum'. Received: scaling={scaling!r}")
        if padding not in ("valid", "same"):
            raise ValueError(f"{where}: padding must be 'valid' or 'same'. Received: padding={padding!r}")
        _check_window_name(where, window, tuple(_COSINE_WINDOWS))
        super().__init__(**kwargs)
        self.mode = mode
        self.frame_length = frame_length
        self.frame_step = frame_step
        self._frame_step = frame_step or frame_length // 2
        if self._frame_step < 1:
            raise ValueError(
                f"{where}: frame_step defaults to frame_length // 2, which is 0 for frame_length=1; "
                "pass frame_step=1."
            )
        self.fft_length = fft_length
        self._fft_length = fft_length or 2 ** int(math.ceil(math.log2(frame_length)))
        self.window = window
        self.periodic = bool(periodic)
        self.scaling = scaling
        self.padding = padding
        self.expand_dims = bool(expand_dims)
        self.data_format = check_data_format(where, data_format)
        self.input_spec = InputSpec(ndim=3)

    # ------------------------------------------------------------- weights
    def build(self, input_shape):
        shape = (self.frame_length, 1, self._fft_length // 2 + 1)
        if self.mode != "imag":
            self.real_kernel = self.add_weight(
                "real_kernel", shape, initializer=STFT("real", self.window, self.scaling, self.periodic))
        if self.mode != "real":
            self.imag_kernel = self.add_weight(
                "imag_kernel", shape, initializer=STFT("imag", self.window, self.scaling, self.periodic))
        self.built = True

    def _autocast(self, value):
        if value.dtype.kind != "f":
            raise TypeError(
                f"STFTSpectrogram '{self.name}': expected float16, float32 or float64 inputs. "
                f"Received: input of dtype {value.dtype}"
            )
        return super()._autocast(value)

    # --------------------------------------------------------------- shapes
    def _frame_count(self, time):
        if self.padding == "same":
            return -(-time // self._frame_step)
        if time < self.frame_length:
            raise ValueError(
                f"STFTSpectrogram '{self.name}': with padding='valid' the signal must have at least "
                f"frame_length={self.frame_length} samples. Received: {time} samples"
            )
        return (time - self.frame_length) // self._frame_step + 1

    def compute_output_shape(self, input_shape):
        if len(input_shape) != 3:
            raise ValueError(
                f"STFTSpectrogram '{self.name}': expected inputs of rank 3. Received: input_shape={tuple(input_shape)}"
            )
        batch = input_shape[0]
        time, channels = (input_shape[1], input_shape[2]) if self.data_format == "channels_last" else \
            (input_shape[2], input_shape[1])
        bins = (self._fft_length // 2 + 1) * (2 if self.mode == "stft" else 1)
        frames = None if time is None else self._frame_count(time)
        if self.expand_dims:
            if self.data_format == "channels_last":
                return (batch, frames, bins, channels)
            return (batch, channels, frames, bins)
        merged = None if channels is None else channels * bins
        if self.data_format == "channels_last":
            return (batch, frames, merged)
        return (batch, merged, frames)

    def _to_layout(self, values):
        """``(batch, channels, frames, bins)`` -> the output layout."""
        batch, channels, frames, bins = values.shape
        if self.data_format == "channels_last":
            if self.expand_dims:
                return values.transpose(0, 2, 3, 1)
            return values.transpose(0, 2, 1, 3).reshape(batch, frames, channels * bins)
        if self.expand_dims:
            return values
        return values.transpose(0, 1, 3, 2).reshape(batch, channels * bins, frames)

    def _from_layout(self, grads, channels, frames, bins):
        """The inverse of :meth:`_to_layout`: output-shaped gradients -> ``(batch, channels, frames, bins)``."""
        batch = grads.shape[0]
        if self.data_format == "channels_last":
            if self.expand_dims:
                return grads.transpose(0, 3, 1, 2)
            return grads.reshape(batch, frames, channels, bins).transpose(0, 2, 1, 3)
        if self.expand_dims:
            return grads
        return grads.reshape(batch, channels, bins, frames).transpose(0, 1, 3, 2)

    # -------------------------------------------------------------- forward
    def forward(self, inputs, training=False):
        xp = backend.xp
        signals = inputs.transpose(0, 2, 1) if self.data_format == "channels_last" else inputs
        time = signals.shape[-1]
        count = self._frame_count(time)
        left = 0
        if self.padding == "same":
            total = max((count - 1) * self._frame_step + self.frame_length - time, 0)
            left = total // 2
            signals = xp.pad(signals, ((0, 0), (0, 0), (left, total - left)))
        frames = _frames(signals, self.frame_length, self._frame_step)  # (batch, channels, frames, L)
        real = imag = None
        if self.mode != "imag":
            real = frames @ self.real_kernel.value[:, 0, :]
        if self.mode != "real":
            imag = frames @ self.imag_kernel.value[:, 0, :]
        eps = backend.epsilon()
        power = magnitude = None
        if self.mode == "real":
            out = real
        elif self.mode == "imag":
            out = imag
        elif self.mode == "angle":
            out = xp.arctan2(imag, real)
        elif self.mode == "stft":
            out = xp.concatenate([real, imag], axis=-1)
        else:
            power = real * real + imag * imag
            if self.mode == "psd":
                out = power * self._psd_weights(power)
            else:
                magnitude = xp.sqrt(xp.maximum(power, power.dtype.type(eps)))
                floor = magnitude.dtype.type(eps)
                out = magnitude if self.mode == "magnitude" else xp.log(xp.maximum(magnitude, floor))
        cache = (frames, real, imag, power, magnitude, time, left, signals.shape[-1])
        return self._to_layout(out), cache

    def _psd_weights(self, power):
        bins = power.shape[-1]
        weights = backend.xp.full(bins, 2, dtype=power.dtype)
        weights[0] = 1
        weights[-1] = 1
        return weights

    # ------------------------------------------------------------- backward
    def backward(self, output_grads, cache):
        xp = backend.xp
        frames, real, imag, power, magnitude, time, left, padded = cache
        batch, channels, count, _ = frames.shape
        bins = self._fft_length // 2 + 1
        grads = self._from_layout(xp.asarray(output_grads), channels, count, bins * (2 if self.mode == "stft" else 1))
        eps = backend.epsilon()
        grad_real = grad_imag = None
        if self.mode == "real":
            grad_real = grads
        elif self.mode == "imag":
            grad_imag = grads
        elif self.mode == "stft":
            grad_real, grad_imag = grads[..., :bins], grads[..., bins:]
        elif self.mode == "angle":
            squared = real * real + imag * imag
            grad_real, grad_imag = -grads * imag / squared, grads * real / squared
        else:
            if self.mode == "psd":
                grad_power = grads * self._psd_weights(power)
            else:
                if self.mode == "log":
                    floor = magnitude.dtype.type(eps)
                    grads = grads * _floor_mask(magnitude, floor) / xp.maximum(magnitude, floor)
                grad_power = grads * _floor_mask(power, power.dtype.type(eps)) * 0.5 / magnitude
            grad_real, grad_imag = 2 * real * grad_power, 2 * imag * grad_power
        frame_grads = 0
        weight_grads = {}
        flat_frames = frames.reshape(-1, frames.shape[-1])
        if grad_real is not None:
            frame_grads = frame_grads + grad_real @ self.real_kernel.value[:, 0, :].T
            if self.trainable:
                weight_grads["real_kernel"] = (flat_frames.T @ grad_real.reshape(-1, bins))[:, None, :]
        elif self.mode == "imag" and "real_kernel" in self._params and self.trainable:
            weight_grads["real_kernel"] = xp.zeros_like(self.real_kernel.value)
        if grad_imag is not None:
            frame_grads = frame_grads + grad_imag @ self.imag_kernel.value[:, 0, :].T
            if self.trainable:
                weight_grads["imag_kernel"] = (flat_frames.T @ grad_imag.reshape(-1, bins))[:, None, :]
        signal_grads = _overlap_add(frame_grads, self._frame_step, padded)[..., left:left + time]
        if self.data_format == "channels_last":
            signal_grads = signal_grads.transpose(0, 2, 1)
        return xp.ascontiguousarray(signal_grads), weight_grads

    def get_config(self):
        return {
            **super().get_config(), "mode": self.mode, "frame_length": self.frame_length,
            "frame_step": self.frame_step, "fft_length": self.fft_length, "window": self.window,
            "periodic": self.periodic, "scaling": self.scaling, "padding": self.padding,
            "data_format": self.data_format, "expand_dims": self.expand_dims,
        }


class MelSpectrogram(Layer):
    """Mel spectrograms (梅尔频谱) of raw audio: STFT, power, the HTK mel filter bank, decibels.

    Args:
        fft_length: int, the FFT size (2048).
        sequence_stride: int, samples between successive frames (512).
        sequence_length: int <= ``fft_length``, the window's length; None is ``fft_length``.
        window: ``"hann"`` (default) or ``"hamming"`` (periodic, as ``tf.signal``'s), an array of
            ``sequence_length`` values, or None (no window). The window is centred in ``fft_length``.
        sampling_rate: the signal's samples per second (16000).
        num_mel_bins: int, mel bands (128).
        min_freq: float, the lowest band's lower edge in Hz (20.0).
        max_freq: float, the highest band's upper edge; None is ``int(sampling_rate / 2)`` (what the
            config then says, as in Keras).
        power_to_db: bool, convert to ``10 * log10(S / ref_power)``, clipped ``top_db`` below its maximum
            (the maximum over the whole call, batch included, as in Keras).
        top_db: float (80.0). mag_exp: float, the magnitude's exponent (2.0: power).
        min_power: float, the floor of the power and of ``ref_power`` (1e-10). ref_power: float (1.0).

    The signal is reflect-padded by ``fft_length // 2`` on each side (Keras's ``center=True``), so it
    needs more than ``fft_length // 2`` samples. Computed in float32 (float64 for a float64 layer) and
    returned in the layer's dtype.

    Input shape: ``(samples,)`` or ``(batch, samples)``.
    Output shape: ``(num_mel_bins, frames)`` or ``(batch, num_mel_bins, frames)``, with
    ``frames = 1 + (samples + 2 * (fft_length // 2) - fft_length) // sequence_stride``.
    """

    def __init__(self, fft_length=2048, sequence_stride=512, sequence_length=None, window="hann",
                 sampling_rate=16000, num_mel_bins=128, min_freq=20.0, max_freq=None, power_to_db=True,
                 top_db=80.0, mag_exp=2.0, min_power=1e-10, ref_power=1.0, **kwargs):
        where = "MelSpectrogram"
        _positive_int(where, "fft_length", fft_length)
        _positive_int(where, "sequence_stride", sequence_stride)
        _positive_int(where, "num_mel_bins", num_mel_bins)
        sequence_length = sequence_length or fft_length
        _positive_int(where, "sequence_length", sequence_length)
        if fft_length < sequence_length:
            raise ValueError(
                f"{where}: fft_length must be greater than or equal to sequence_length. "
                f"Received: sequence_length={sequence_length}, fft_length={fft_length}"
            )
        _check_window_name(where, window, ("hann", "hamming"))
        for argument, value in (("sampling_rate", sampling_rate), ("min_freq", min_freq), ("top_db", top_db),
                                ("mag_exp", mag_exp), ("min_power", min_power), ("ref_power", ref_power)):
            backend.check_real(where, argument, value, finite=True)
        super().__init__(**kwargs)
        self.fft_length = fft_length
        self.sequence_stride = sequence_stride
        self.sequence_length = sequence_length
        self.window = window
        self.sampling_rate = sampling_rate
        self.num_mel_bins = num_mel_bins
        self.min_freq = min_freq
        self.max_freq = max_freq or int(sampling_rate / 2)
        self.power_to_db = power_to_db
        self.top_db = top_db
        self.mag_exp = mag_exp
        self.min_power = min_power
        self.ref_power = ref_power

    @property
    def _compute_dtype(self):
        return self.dtype if self.dtype in ("float32", "float64") else "float32"

    def _window(self, dtype):
        """The window of ``sequence_length`` samples zero-padded, centred, to ``fft_length`` (ones for None)."""
        xp = backend.xp
        if self.window is None:
            return xp.ones(self.fft_length, dtype=dtype)
        length = self.sequence_length
        if isinstance(self.window, str):
            a0, a1 = _COSINE_WINDOWS[self.window]
            window = a0 - a1 * xp.cos(2 * math.pi * xp.arange(length, dtype="float64") / length)
        else:
            window = backend.to_array(self.window, dtype="float64", where="MelSpectrogram window")
        window = xp.asarray(window, dtype=dtype)
        if window.ndim != 1 or window.shape[0] != length:
            raise ValueError(
                f"MelSpectrogram: the window must be a 1D array of sequence_length={length} values. "
                f"Received: window of shape {tuple(window.shape)}"
            )
        left = (self.fft_length - length) // 2
        return xp.pad(window, (left, self.fft_length - length - left))

    def linear_to_mel_weight_matrix(self, num_mel_bins=20, num_spectrogram_bins=129, sampling_rate=8000,
                                    lower_edge_hertz=125.0, upper_edge_hertz=3800.0, dtype="float32"):
        """Keras's HTK mel filter bank: ``(num_spectrogram_bins, num_mel_bins)`` triangles of peak 1.

        ``mel(f) = 1127 log(1 + f / 700)``; the DC bin's row is zero. Computed in ``dtype``.
        """
        xp = backend.xp

        def to_mel(hertz):
            return xp.asarray(_MEL_HIGH_FREQUENCY_Q, dtype=dtype) * xp.log(
                xp.asarray(1.0, dtype=dtype) + hertz / xp.asarray(_MEL_BREAK_FREQUENCY_HERTZ, dtype=dtype))

        nyquist = xp.asarray(sampling_rate, dtype=dtype) / xp.asarray(2.0, dtype=dtype)
        linear = xp.linspace(0.0, nyquist, num_spectrogram_bins).astype(dtype)[1:]
        bins_mel = to_mel(linear)[:, None]
        edges = xp.linspace(to_mel(xp.asarray(lower_edge_hertz, dtype=dtype)),
                            to_mel(xp.asarray(upper_edge_hertz, dtype=dtype)), num_mel_bins + 2).astype(dtype)
        lower, center, upper = edges[None, :-2], edges[None, 1:-1], edges[None, 2:]
        lower_slopes = (bins_mel - lower) / (center - lower)
        upper_slopes = (upper - bins_mel) / (upper - center)
        weights = xp.maximum(xp.asarray(0.0, dtype=dtype), xp.minimum(lower_slopes, upper_slopes))
        return xp.pad(weights, ((1, 0), (0, 0)))

    def build(self, input_shape):
        if len(input_shape) not in (1, 2):
            raise ValueError(
                f"MelSpectrogram '{self.name}': expected a 1D (samples,) or 2D (batch, samples) signal. "
                f"Received: input_shape={tuple(input_shape)}"
            )
        self.built = True

    def _frame_count(self, samples):
        half = self.fft_length // 2
        if samples <= half:
            raise ValueError(
                f"MelSpectrogram '{self.name}': the signal is reflect-padded by fft_length // 2 = {half} "
                f"samples, so it needs more than {half} samples. Received: {samples} samples"
            )
        return 1 + (samples + 2 * half - self.fft_length) // self.sequence_stride

    def compute_output_shape(self, input_shape):
        if len(input_shape) not in (1, 2):
            raise ValueError(
                f"MelSpectrogram '{self.name}': expected a 1D (samples,) or 2D (batch, samples) signal. "
                f"Received: input_shape={tuple(input_shape)}"
            )
        samples = input_shape[-1]
        frames = None if samples is None else self._frame_count(samples)
        return tuple(input_shape[:-1]) + (self.num_mel_bins, frames)

    def forward(self, inputs, training=False):
        xp = backend.xp
        if inputs.ndim not in (1, 2):
            raise ValueError(
                f"MelSpectrogram '{self.name}': expected a 1D (samples,) or 2D (batch, samples) signal. "
                f"Received: input with shape {tuple(inputs.shape)}"
            )
        dtype = self._compute_dtype
        signal = inputs.astype(dtype, copy=False)
        samples = signal.shape[-1]
        self._frame_count(samples)
        half = self.fft_length // 2
        padded = xp.pad(signal, [(0, 0)] * (signal.ndim - 1) + [(half, half)], mode="reflect")
        window = self._window(dtype)
        frames = _frames(padded, self.fft_length, self.sequence_stride) * window  # (..., frames, fft_length)
        spectrum = xp.fft.rfft(frames, n=self.fft_length, axis=-1)
        real, imag = spectrum.real.astype(dtype), spectrum.imag.astype(dtype)
        magnitude = xp.sqrt(real * real + imag * imag)
        spec = magnitude ** _dtype_type(dtype)(self.mag_exp)
        matrix = self.linear_to_mel_weight_matrix(
            self.num_mel_bins, spec.shape[-1], self.sampling_rate, self.min_freq, self.max_freq).astype(dtype)
        mel = spec @ matrix
        log_spec = keep = None
        out = mel
        if self.power_to_db:
            floor = _dtype_type(dtype)(self.min_power)
            log_spec = _dtype_type(dtype)(10.0) * xp.log10(xp.maximum(mel, floor))
            ref = xp.asarray(abs(self.ref_power), dtype="float32").astype(dtype)  # Keras: a float32 tensor
            log_spec = log_spec - _dtype_type(dtype)(10.0) * xp.log10(xp.maximum(ref, floor))
            threshold = xp.max(log_spec) - _dtype_type(dtype)(self.top_db)
            keep = log_spec >= threshold
            out = xp.maximum(log_spec, threshold)
        out = xp.swapaxes(out, -1, -2).astype(self.dtype)
        cache = (real, imag, magnitude, matrix, mel, log_spec, keep, window, samples, inputs.dtype)
        return xp.ascontiguousarray(out), cache

    def backward(self, output_grads, cache):
        xp = backend.xp
        real, imag, magnitude, matrix, mel, log_spec, keep, window, samples, input_dtype = cache
        dtype = real.dtype
        grads = xp.swapaxes(xp.asarray(output_grads), -1, -2).astype(dtype)
        with backend.errstate(divide="ignore", invalid="ignore"):
            if self.power_to_db:
                top = log_spec == xp.max(log_spec)
                clipped = xp.sum(grads * ~keep)
                grads = grads * keep + clipped * top / xp.sum(top).astype(dtype)
                floor = dtype.type(self.min_power)
                grads = grads * _floor_mask(mel, floor) * dtype.type(10.0 / math.log(10.0)) / xp.maximum(mel, floor)
            grads = grads @ matrix.T
            exponent = dtype.type(self.mag_exp)
            grads = grads * exponent * magnitude ** (exponent - 1)
            grads = grads * dtype.type(0.5) / magnitude  # through sqrt(real^2 + imag^2)
            grad_real, grad_imag = 2 * real * grads, 2 * imag * grads
        # The rfft's adjoint: Re(sum_k G_k e^{2 pi i k n / N}) = N * Re(ifft(G zero-padded to N)).
        frame_grads = (self.fft_length * xp.fft.ifft(grad_real + 1j * grad_imag, n=self.fft_length, axis=-1).real)
        frame_grads = frame_grads.astype(dtype) * window
        half = self.fft_length // 2
        padded = _overlap_add(frame_grads, self.sequence_stride, samples + 2 * half)
        signal_grads = padded[..., half:half + samples].copy()
        if half:
            signal_grads[..., 1:half + 1] += padded[..., :half][..., ::-1]
            signal_grads[..., samples - 1 - half:samples - 1] += padded[..., samples + half:][..., ::-1]
        return signal_grads.astype(input_dtype), {}

    def get_config(self):
        return {
            **super().get_config(), "fft_length": self.fft_length, "sequence_stride": self.sequence_stride,
            "sequence_length": self.sequence_length, "window": self.window, "sampling_rate": self.sampling_rate,
            "num_mel_bins": self.num_mel_bins, "min_freq": self.min_freq, "max_freq": self.max_freq,
            "power_to_db": self.power_to_db, "top_db": self.top_db, "mag_exp": self.mag_exp,
            "min_power": self.min_power, "ref_power": self.ref_power,
        }


def _dtype_type(name):
    """The scalar type of a dtype name (``float32`` -> ``xp.float32``), for scalars that keep an array's dtype."""
    return backend.xp.dtype(name).type
