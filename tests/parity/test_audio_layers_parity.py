"""STFTSpectrogram and MelSpectrogram give tf.keras's numbers (keras.layers.*), computed in the same test.

Synthetic signals (a sine, a chirp and noise). Compared: the initial kernels, the outputs of every
mode, padding, data format and expand_dims, the gradients of ``sum(y * dy)`` (``tf.GradientTape``)
with respect to the signal and the kernels, configs and ``.keras`` files both ways. Measured float32
(STFT): log outputs within ~4e-6 absolute, kernels within 3e-8. Mel: dB outputs within ~1.2e-5
absolute on values of tens of dB, compared with rtol 1e-5, atol 1e-4; float64 (no dB: Keras 3.15's float64
layer fails in its dB step) within rtol 5e-5, because Keras builds the filter bank in float32 (TensorFlow's float32
linspace). Gradients: rtol 1e-4 (STFT) / 1e-3 (Mel), atol a small fraction of the largest entry.
"""
import numpy as np
import pytest

import course_lib as cl

tf = pytest.importorskip("tensorflow")
keras = tf.keras

pytestmark = pytest.mark.parity
TOL = dict(rtol=1e-5, atol=1e-6)


def _signals(batch, samples, channels=None, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(samples) / 8000.0
    rows = []
    for b in range(batch):
        sine = np.sin(2 * np.pi * (300 + 200 * b) * t)
        chirp = np.sin(2 * np.pi * (100 + 1500 * t) * t)
        rows.append(sine + 0.5 * chirp + 0.1 * rng.standard_normal(samples))
    x = np.stack(rows)
    if channels:
        x = np.stack([x * (1 + 0.3 * c) + 0.05 * rng.standard_normal(x.shape) for c in range(channels)], -1)
    return x.astype("float32")


@pytest.mark.parametrize("kwargs", [
    {"mode": "log"}, {"mode": "magnitude", "padding": "same"}, {"mode": "psd", "scaling": "spectrum"},
    {"mode": "real", "window": "hamming", "periodic": True}, {"mode": "imag", "scaling": None},
    {"mode": "angle", "fft_length": 64}, {"mode": "stft", "expand_dims": True},
    {"mode": "log", "data_format": "channels_first", "padding": "same", "frame_step": 7},
    {"mode": "magnitude", "data_format": "channels_first", "expand_dims": True, "window": None},
])
def test_stft_spectrogram_outputs_gradients_and_config_match_keras(kwargs):
    kwargs = dict({"frame_length": 32, "frame_step": 8}, **kwargs)
    x = _signals(2, 200, channels=3)
    if kwargs.get("data_format") == "channels_first":
        x = np.ascontiguousarray(x.transpose(0, 2, 1))
    ours = cl.layers.STFTSpectrogram(name="stft", **kwargs)
    theirs = keras.layers.STFTSpectrogram(name="stft", **kwargs)
    xt = tf.constant(x)
    expected = theirs(xt)
    y = ours(x)
    assert ours.get_config() == theirs.get_config()
    assert [w.name for w in ours.weights] == [w.name for w in theirs.weights]
    for mine, keras_weight in zip(ours.get_weights(), theirs.get_weights()):
        assert mine.shape == keras_weight.shape
        np.testing.assert_allclose(mine, keras_weight, rtol=1e-5, atol=1e-6)
    ours.set_weights(theirs.get_weights())
    y = ours(x)
    assert y.shape == tuple(expected.shape) == ours.compute_output_shape(x.shape)
    np.testing.assert_allclose(y, expected.numpy(), rtol=1e-5, atol=2e-5 if kwargs["mode"] == "angle" else 1e-5)
    # The gradients in float64: the angle and the log of bins near zero (the Nyquist bin of a
    # real signal) are ill-conditioned, so float32 rounding alone moved some weight gradients
    # by 1e-3 relative on one CPU and not on another. TensorFlow's CPU convolution refuses
    # float64 channels_first, so those cases stay in float32 with rtol 1e-3.
    dtype, rtol = ("float32", 1e-3) if kwargs.get("data_format") == "channels_first" else ("float64", 1e-4)
    ours = cl.layers.STFTSpectrogram(name="stft", dtype=dtype, **kwargs)
    theirs = keras.layers.STFTSpectrogram(name="stft", dtype=dtype, **kwargs)
    x, xt = x.astype(dtype), tf.constant(x, dtype=dtype)
    theirs(xt)
    ours(x)
    ours.set_weights(theirs.get_weights())
    dy = np.random.default_rng(1).standard_normal(y.shape).astype(dtype)
    with tf.GradientTape() as tape:
        tape.watch(xt)
        expected = theirs(xt)
    grads = tape.gradient(expected, [xt] + theirs.trainable_weights, output_gradients=tf.constant(dy))
    dx = ours.backward(dy)
    assert dx.dtype == dtype
    scale = np.abs(grads[0].numpy()).max()
    np.testing.assert_allclose(dx, grads[0].numpy(), rtol=rtol, atol=1e-5 * scale)
    for name, grad in zip(ours.trainable_weight_names, grads[1:]):
        np.testing.assert_allclose(ours.grads[name], grad.numpy(), rtol=rtol, atol=1e-5 * np.abs(grad.numpy()).max())


def test_stft_spectrogram_keras_files_both_ways(tmp_path):
    x = _signals(2, 160, channels=2)
    theirs = keras.Sequential([keras.Input((160, 2)), keras.layers.STFTSpectrogram(frame_length=32, frame_step=16),
                               keras.layers.Dense(3)])
    theirs.save(tmp_path / "keras.keras")
    loaded = cl.models.load_model(tmp_path / "keras.keras")
    np.testing.assert_allclose(loaded.predict(x, verbose=0), theirs.predict(x, verbose=0), rtol=1e-5, atol=1e-5)
    ours = cl.Sequential([cl.Input((160, 2)), cl.layers.STFTSpectrogram(mode="psd", frame_length=32, padding="same"),
                          cl.layers.Dense(3)])
    ours.save(tmp_path / "course.keras")
    back = keras.models.load_model(tmp_path / "course.keras")
    np.testing.assert_allclose(back.predict(x, verbose=0), ours.predict(x, verbose=0), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("kwargs", [
    {}, {"power_to_db": False, "mag_exp": 1.0}, {"window": "hamming", "sequence_length": 48, "top_db": 20.0},
    {"window": None, "ref_power": 2.0, "min_freq": 100.0, "max_freq": 3000.0}, {"mag_exp": 1.5, "top_db": 30.0},
])
def test_mel_spectrogram_outputs_gradients_and_config_match_keras(kwargs):
    kwargs = dict({"fft_length": 64, "sequence_stride": 16, "sampling_rate": 8000, "num_mel_bins": 12}, **kwargs)
    x = _signals(2, 300)
    ours = cl.layers.MelSpectrogram(name="mel", **kwargs)
    theirs = keras.layers.MelSpectrogram(name="mel", **kwargs)
    xt = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(xt)
        expected = theirs(xt)
    dy = np.random.default_rng(2).standard_normal(expected.shape).astype("float32")
    dx_expected = tape.gradient(expected, xt, output_gradients=tf.constant(dy)).numpy()
    y = ours(x)
    assert ours.get_config() == theirs.get_config()
    assert y.shape == tuple(expected.shape) and y.dtype == np.float32
    if kwargs.get("power_to_db", True):
        np.testing.assert_allclose(y, expected.numpy(), rtol=1e-5, atol=1e-4)
    else:
        np.testing.assert_allclose(y, expected.numpy(), rtol=2e-5, atol=1e-6 * np.abs(y).max())
    dx = ours.backward(dy)
    np.testing.assert_allclose(dx, dx_expected, rtol=1e-3, atol=1e-4 * np.abs(dx_expected).max())
    np.testing.assert_allclose(ours(x[0]), theirs(x[0]).numpy(), rtol=1e-5, atol=1e-4)


def test_mel_spectrogram_float64_and_default_sizes_match_keras():
    # power_to_db=False: Keras 3.15's float64 layer fails in _dbscale (its ref_power is a float32 tensor).
    x = _signals(1, 16000, seed=3).astype("float64")
    ours = cl.layers.MelSpectrogram(dtype="float64", power_to_db=False)
    theirs = keras.layers.MelSpectrogram(dtype="float64", power_to_db=False)
    expected = theirs(x).numpy()
    y = ours(x)
    assert y.dtype == np.float64 and y.shape == expected.shape == (1, 128, 32)
    np.testing.assert_allclose(y, expected, rtol=5e-5, atol=1e-9 * np.abs(expected).max())  # the float32 filter bank


def test_mel_spectrogram_keras_files_both_ways(tmp_path):
    x = _signals(2, 400)
    theirs = keras.Sequential([keras.Input((400,)), keras.layers.MelSpectrogram(fft_length=64, sequence_stride=32,
                                                                              num_mel_bins=10, sampling_rate=8000)])
    theirs.save(tmp_path / "keras.keras")
    loaded = cl.models.load_model(tmp_path / "keras.keras")
    np.testing.assert_allclose(loaded.predict(x, verbose=0), theirs.predict(x, verbose=0), rtol=1e-5, atol=1e-4)
    ours = cl.Sequential([cl.Input((400,)), cl.layers.MelSpectrogram(fft_length=128, sequence_stride=64,
                                                                    num_mel_bins=16, sampling_rate=8000)])
    ours.save(tmp_path / "course.keras")
    back = keras.models.load_model(tmp_path / "course.keras")
    np.testing.assert_allclose(back.predict(x, verbose=0), ours.predict(x, verbose=0), rtol=1e-5, atol=1e-4)
