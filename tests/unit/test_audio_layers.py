"""STFTSpectrogram and MelSpectrogram: shapes, values against NumPy DFTs, gradients (float64), errors, configs."""
import numpy as np
import pytest

import course_lib as cl
from course_lib.testing import assert_gradients_close, layer_test


def _signal(shape, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(shape[-1] if len(shape) < 3 else shape[1]) / 8000.0
    base = np.sin(2 * np.pi * 440 * t) + 0.3 * np.sin(2 * np.pi * (50 + 2000 * t) * t)
    if len(shape) == 3:
        base = base[None, :, None]
    return base + 0.2 * rng.standard_normal(shape)


STFT_CASES = [
    {"mode": "log"}, {"mode": "magnitude", "padding": "same"}, {"mode": "psd"}, {"mode": "real"},
    {"mode": "imag", "scaling": "spectrum"}, {"mode": "angle"}, {"mode": "stft", "expand_dims": True},
    {"mode": "log", "data_format": "channels_first", "frame_step": 5, "padding": "same"},
    {"mode": "magnitude", "data_format": "channels_first", "expand_dims": True, "window": None},
]


@pytest.mark.parametrize("kwargs", STFT_CASES)
def test_stft_gradients_float64(kwargs):
    kwargs = dict({"frame_length": 16, "frame_step": 6}, **kwargs)
    x = _signal((2, 50, 2))
    if kwargs.get("data_format") == "channels_first":
        x = np.ascontiguousarray(x.transpose(0, 2, 1))
    with cl.backend.floatx_scope("float64"):
        layer = cl.layers.STFTSpectrogram(**kwargs)
    y = layer(x)
    upstream = np.random.default_rng(3).standard_normal(y.shape)
    if kwargs["mode"] in ("log", "magnitude", "angle"):
        # The DC and Nyquist bins have an imaginary part of exactly 0 (up to rounding): the angle jumps
        # by 2 pi there and |z| is even in it, so central differences cannot see a first derivative.
        mask = np.ones((2, 2, y.size // 2 // 2 // 9, 9))
        mask[..., [0, -1]] = 0
        upstream = upstream * layer._to_layout(mask)
    assert_gradients_close(layer, x, upstream=upstream)


@pytest.mark.parametrize("kwargs", STFT_CASES)
def test_stft_layer_contract(kwargs):
    kwargs = dict({"frame_length": 16, "frame_step": 6}, **kwargs)
    shape = (2, 2, 50) if kwargs.get("data_format") == "channels_first" else (2, 50, 2)
    layer = layer_test(cl.layers.STFTSpectrogram, kwargs, input_shape=shape)
    names = {"real": ["real_kernel"], "imag": ["imag_kernel"]}.get(kwargs["mode"], ["real_kernel", "imag_kernel"])
    assert [w.name for w in layer.weights] == names
    assert all(w.shape == (16, 1, 9) for w in layer.weights)


def test_stft_values_are_the_windowed_dft_of_each_frame():
    x = _signal((1, 64, 1))
    layer = cl.layers.STFTSpectrogram(mode="stft", frame_length=16, frame_step=8, dtype="float64")
    y = cl.backend.to_numpy(layer(x))
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(16) / 15)  # symmetric Hann (periodic=False)
    frames = np.stack([x[0, i * 8:i * 8 + 16, 0] for i in range(7)])
    spectrum = np.fft.rfft(frames * window, n=16) / np.sqrt(np.sum(window ** 2))
    np.testing.assert_allclose(y[0], np.concatenate([spectrum.real, spectrum.imag], -1), atol=1e-12)
    log = cl.backend.to_numpy(cl.layers.STFTSpectrogram(frame_length=16, frame_step=8, dtype="float64")(x))
    np.testing.assert_allclose(log[0], np.log(np.abs(spectrum)), rtol=1e-9)
    psd = cl.backend.to_numpy(cl.layers.STFTSpectrogram(mode="psd", frame_length=16, frame_step=8, dtype="float64")(x))
    doubled = np.abs(spectrum) ** 2 * np.r_[1, [2] * 7, 1]
    np.testing.assert_allclose(psd[0], doubled, rtol=1e-9)


def test_stft_frozen_has_no_weight_gradients_and_defaults():
    layer = cl.layers.STFTSpectrogram(trainable=False)
    y = layer(_signal((1, 1000, 1)).astype("float32"))
    assert y.shape == (1, 6, 129) and layer._frame_step == 128 and layer._fft_length == 256
    assert layer.trainable_weights == [] and len(layer.non_trainable_weights) == 2
    layer.backward(np.ones_like(y))
    assert layer.grads == {}


def test_stft_errors():
    with pytest.raises(ValueError, match="STFTSpectrogram: mode"):
        cl.layers.STFTSpectrogram(mode="power")
    with pytest.raises(ValueError, match="frame_step"):
        cl.layers.STFTSpectrogram(frame_length=8, frame_step=9)
    with pytest.raises(ValueError, match="fft_length"):
        cl.layers.STFTSpectrogram(frame_length=8, fft_length=4)
    with pytest.warns(UserWarning, match="power of two"):
        cl.layers.STFTSpectrogram(frame_length=8, fft_length=12)
    with pytest.raises(ValueError, match="scaling"):
        cl.layers.STFTSpectrogram(scaling="l2")
    with pytest.raises(ValueError, match="padding"):
        cl.layers.STFTSpectrogram(padding="causal")
    with pytest.raises(ValueError, match="window"):
        cl.layers.STFTSpectrogram(window="kaiser")
    with pytest.raises(ValueError, match="data_format"):
        cl.layers.STFTSpectrogram(data_format="channels_middle")
    with pytest.raises(TypeError, match="float16, float32 or float64"):
        cl.layers.STFTSpectrogram(frame_length=4)(np.ones((1, 8, 1), "int32"))
    with pytest.raises(ValueError, match="at least frame_length"):
        cl.layers.STFTSpectrogram(frame_length=16)(np.ones((1, 8, 1), "float32"))
    with pytest.raises(ValueError, match="ndim=3"):
        cl.layers.STFTSpectrogram(frame_length=4)(np.ones((8, 1), "float32"))
    with pytest.raises(ValueError, match="frame_length=4"):
        cl.layers.STFTSpectrogram(frame_length=4, window=[1.0, 2.0])(np.ones((1, 8, 1), "float32"))


def test_stft_custom_window_and_symbolic_graph():
    window = np.linspace(0.5, 1.0, 8)
    layer = cl.layers.STFTSpectrogram(mode="real", frame_length=8, frame_step=4, window=window, scaling=None,
                                      dtype="float64")
    x = _signal((1, 16, 1))
    y = cl.backend.to_numpy(layer(x))
    frames = np.stack([x[0, i * 4:i * 4 + 8, 0] for i in range(3)])
    np.testing.assert_allclose(y[0], np.fft.rfft(frames * window).real, atol=1e-12)
    inputs = cl.Input((None, 3))
    out = cl.layers.STFTSpectrogram(frame_length=8, padding="same", expand_dims=True)(inputs)
    assert out.shape == (None, None, 5, 3)


MEL_CASES = [
    {}, {"power_to_db": False}, {"mag_exp": 1.0, "top_db": 15.0}, {"window": "hamming", "sequence_length": 24},
    {"window": None, "ref_power": 3.0, "top_db": 10.0},
]


@pytest.mark.parametrize("kwargs", MEL_CASES)
def test_mel_gradients_float64(kwargs):
    kwargs = dict({"fft_length": 32, "sequence_stride": 10, "sampling_rate": 8000, "num_mel_bins": 6}, **kwargs)
    with cl.backend.floatx_scope("float64"):
        layer = cl.layers.MelSpectrogram(**kwargs)
    # epsilon 1e-5: outputs of tens of dB make the 1e-6 step's rounding noise visible at 1e-6
    assert_gradients_close(layer, _signal((2, 70)), epsilon=1e-5)
    assert_gradients_close(layer, _signal((70,), seed=1), epsilon=1e-5)


def test_mel_clipping_sends_the_clipped_gradient_to_the_maximum():
    with cl.backend.floatx_scope("float64"):
        layer = cl.layers.MelSpectrogram(fft_length=32, sequence_stride=8, num_mel_bins=5, sampling_rate=8000,
                                         top_db=5.0)
    x = _signal((1, 80))
    y = layer(x)
    clipped = np.isclose(y, y.max() - 5.0)
    assert clipped.any() and (~clipped).any()
    assert_gradients_close(layer, x, epsilon=1e-5)


@pytest.mark.parametrize("kwargs", MEL_CASES)
def test_mel_layer_contract_and_shapes(kwargs):
    kwargs = dict({"fft_length": 32, "sequence_stride": 10, "num_mel_bins": 6}, **kwargs)
    layer_test(cl.layers.MelSpectrogram, kwargs, input_shape=(2, 70), expected_output_shape=(None, 6, 8))
    assert cl.layers.MelSpectrogram(**kwargs)(_signal((70,)).astype("float32")).shape == (6, 8)


def test_mel_values_from_numpy_and_dtypes():
    x = _signal((2, 400))
    layer = cl.layers.MelSpectrogram(fft_length=64, sequence_stride=32, num_mel_bins=8, sampling_rate=8000,
                                     power_to_db=False, dtype="float64")
    y = layer(x)
    padded = np.pad(x, ((0, 0), (32, 32)), mode="reflect")
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(64) / 64)
    frames = np.stack([padded[:, i * 32:i * 32 + 64] for i in range(13)], 1)
    power = np.abs(np.fft.rfft(frames * window)) ** 2
    matrix = cl.backend.to_numpy(layer.linear_to_mel_weight_matrix(8, 33, 8000, 20.0, 4000)).astype("float64")
    assert matrix.shape == (33, 8) and np.all(matrix[0] == 0) and np.isclose(matrix.max(), 1.0, atol=0.1)
    np.testing.assert_allclose(cl.backend.to_numpy(y), np.swapaxes(power @ matrix, 1, 2), rtol=1e-10)
    half = cl.layers.MelSpectrogram(fft_length=64, sequence_stride=32, num_mel_bins=8, dtype="float16")
    assert half(x).dtype == np.float16
    assert cl.layers.MelSpectrogram().get_config()["max_freq"] == 8000


def test_mel_errors():
    with pytest.raises(ValueError, match="MelSpectrogram: fft_length must be greater"):
        cl.layers.MelSpectrogram(fft_length=32, sequence_length=64)
    with pytest.raises(ValueError, match="window"):
        cl.layers.MelSpectrogram(window="blackman")
    with pytest.raises(TypeError, match="top_db"):
        cl.layers.MelSpectrogram(top_db="80")
    with pytest.raises(ValueError, match="sequence_stride"):
        cl.layers.MelSpectrogram(sequence_stride=0)
    with pytest.raises(ValueError, match="more than 16 samples"):
        cl.layers.MelSpectrogram(fft_length=32)(np.ones((1, 10), "float32"))
    with pytest.raises(ValueError, match="1D"):
        cl.layers.MelSpectrogram(fft_length=32)(np.ones((1, 2, 40), "float32"))


def test_registration_and_serialization_round_trip():
    for layer in (cl.layers.STFTSpectrogram(mode="angle", frame_length=8), cl.layers.MelSpectrogram(num_mel_bins=7)):
        clone = cl.layers.deserialize(cl.layers.serialize(layer))
        assert type(clone) is type(layer) and clone.get_config() == layer.get_config()
        assert cl.layers.serialize(layer)["module"] == "keras.layers"
