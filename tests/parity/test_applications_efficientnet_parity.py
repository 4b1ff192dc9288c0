"""course_lib's EfficientNetB0 ... B7 and EfficientNetV2B0 ... L against keras.applications', built in the same test.

No download anywhere: Keras's models are randomly initialised (weights=None), their
BatchNormalization and Normalization statistics are redrawn so that they matter, and the weight
files are ones Keras writes here. Every variant is built once at its default size to compare its
layers (names, classes, configs) and parameter counts; only B0 and V2B0 (and V2B0 on a one-channel
input, which takes the other preprocessing branch) predict, at 32x32.

Measured: predictions agree to about 2e-6 absolute on outputs of size ~2 (80 layers of float32 sums in
a different order), hence rtol 1e-4 with an atol of 1e-5 times the largest value; weights after a
training step agree to about 1e-6.

A Keras corner met on the way: Keras's Normalization copies its mean and variance into constants at
build time and refreshes them only in ``adapt`` and the legacy ``.h5`` loader (``finalize_state``), so
``set_weights`` and a ``.weights.h5`` file change its weights but not its output. course_lib's
Normalization always uses its weights; the tests call Keras's ``finalize_state`` where Keras skips it.
"""
import numpy as np
import pytest

import course_lib as cl
from course_lib.applications import efficientnet, efficientnet_v2

tf = pytest.importorskip("tensorflow")
keras = tf.keras
from keras.src.applications import efficientnet as keras_efficientnet  # noqa: E402  (the base builder)

pytestmark = pytest.mark.parity

V1 = ["EfficientNetB0", "EfficientNetB1", "EfficientNetB2", "EfficientNetB3", "EfficientNetB4",
      "EfficientNetB5", "EfficientNetB6", "EfficientNetB7"]
V2 = ["EfficientNetV2B0", "EfficientNetV2B1", "EfficientNetV2B2", "EfficientNetV2B3", "EfficientNetV2S",
      "EfficientNetV2M", "EfficientNetV2L"]
SMALL = (32, 32, 3)


def _assert_close(mine, theirs):
    scale = float(np.max(np.abs(theirs)))
    np.testing.assert_allclose(mine, theirs, rtol=1e-4, atol=1e-5 * scale)


def _images(count=2, size=32, channels=3, seed=0):
    return np.random.default_rng(seed).uniform(0, 255, (count, size, size, channels)).astype("float32")


def _module(network):
    return efficientnet_v2 if "V2" in network else efficientnet


def _finalize(keras_model):
    """Keras's Normalization reads its weights only in finalize_state (see the module's docstring)."""
    for layer in keras_model.layers:
        if hasattr(layer, "finalize_state"):
            layer.finalize_state()


def _randomize(keras_model, seed=0):
    """Keras's weights with every vector (BN's gamma, beta, moving statistics; Normalization's) redrawn."""
    rng = np.random.default_rng(seed)
    values = [rng.uniform(0.5, 1.5, w.shape).astype(w.dtype) if w.dtype.kind == "f" and w.ndim == 1 else w
              for w in keras_model.get_weights()]
    keras_model.set_weights(values)
    _finalize(keras_model)


def _counts(model):
    trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    return trainable, model.count_params() - trainable


def _pair(network, **kwargs):
    keras.backend.clear_session()
    cl.backend.clear_session()
    theirs = getattr(keras.applications, network)(**kwargs)
    ours = getattr(cl.applications, network)(**kwargs)
    return ours, theirs


@pytest.mark.slow
@pytest.mark.parametrize("network", V1 + V2)
def test_every_variant_has_keras_s_layers_configs_and_parameter_counts(network):
    ours, theirs = _pair(network, weights=None)
    assert _counts(ours) == _counts(theirs)
    assert ours.name == theirs.name
    assert [(l.name, type(l).__name__) for l in ours.layers] == [(l.name, type(l).__name__) for l in theirs.layers]
    assert [l.count_params() for l in ours.layers] == [l.count_params() for l in theirs.layers]
    assert [tuple(l.output.shape) for l in ours.layers] == [tuple(l.output.shape) for l in theirs.layers]
    for mine, their in zip(ours.layers, theirs.layers):
        assert mine.get_config() == their.get_config(), mine.name
    # The count each docstring gives is the real one.
    assert f"{ours.count_params():,} parameters" in getattr(_module(network), network).__doc__


def test_b0_s_documented_counts_and_the_drop_connect_layers():
    ours, theirs = _pair("EfficientNetB0", weights=None)
    assert _counts(ours) == _counts(theirs) == (5_288_548, 42_023)
    drops = {l.name: l.rate for l in ours.layers if l.name.endswith("_drop")}
    assert drops == {l.name: l.rate for l in theirs.layers if l.name.endswith("_drop")}
    assert drops["block2b_drop"] == pytest.approx(0.2 * 2 / 16)  # the rate grows with the block's index
    assert ours.get_layer("block6d_drop").noise_shape == (None, 1, 1, 1)
    ours, theirs = _pair("EfficientNetB0", weights=None, include_top=False)
    assert _counts(ours) == _counts(theirs)


@pytest.fixture(scope="module")
def b0_pairs():
    """B0 without the top at 32x32 (pooling None, avg, max), Keras's weights copied into course_lib's."""
    pairs = {}
    for pooling in (None, "avg", "max"):
        ours, theirs = _pair("EfficientNetB0", include_top=False, weights=None, input_shape=SMALL, pooling=pooling)
        _randomize(theirs, seed=len(pairs))
        ours.set_weights(theirs.get_weights())
        pairs[pooling] = ours, theirs
    return pairs


@pytest.mark.parametrize("pooling", [None, "avg", "max"])
def test_b0_predicts_as_keras_without_the_top(b0_pairs, pooling):
    ours, theirs = b0_pairs[pooling]
    x = _images(seed=1)
    expected = theirs.predict(x, verbose=0)
    assert ours.output_shape == theirs.output_shape
    _assert_close(ours.predict(x, verbose=0), expected)
    assert np.abs(expected).max() > 0.1
    if pooling is None:  # the bridge rebuilds Keras's model from its config, and agrees too
        _assert_close(cl.testing.from_keras(theirs).predict(x, verbose=0), expected)


@pytest.mark.parametrize("kwargs", [
    {"include_top": False, "pooling": None}, {"include_top": False, "pooling": "avg"},
    {"include_top": False, "pooling": "max"}, {"include_top": True, "classes": 10},
    {"include_top": False, "include_preprocessing": False},
], ids=["none", "avg", "max", "top", "no-preprocessing"])
def test_v2b0_predicts_as_keras(kwargs):
    ours, theirs = _pair("EfficientNetV2B0", weights=None, input_shape=SMALL, **kwargs)
    _randomize(theirs, seed=5)
    ours.set_weights(theirs.get_weights())
    x = _images(seed=2)
    if not kwargs.get("include_preprocessing", True):
        x = x / 127.5 - 1.0
    _assert_close(ours.predict(x, verbose=0), theirs.predict(x, verbose=0))


def test_v2b0_on_one_channel_rescales_to_minus_one_one_as_keras():
    """A B variant on a non-RGB input takes Keras's other branch: Rescaling(1/128, offset=-1), no Normalization."""
    ours, theirs = _pair("EfficientNetV2B0", weights=None, input_shape=(32, 32, 1), include_top=False)
    assert [type(l).__name__ for l in ours.layers[:3]] == ["InputLayer", "Rescaling", "Conv2D"]
    assert ours.layers[1].get_config() == theirs.layers[1].get_config()
    _randomize(theirs, seed=6)
    ours.set_weights(theirs.get_weights())
    x = _images(channels=1, seed=3)
    _assert_close(ours.predict(x, verbose=0), theirs.predict(x, verbose=0))


def test_b0_with_the_top_at_a_small_size_matches_keras():
    ours, theirs = _pair("EfficientNetB0", weights=None, input_shape=SMALL, classes=10)
    _randomize(theirs, seed=7)
    ours.set_weights(theirs.get_weights())
    x = _images(seed=4)
    _assert_close(ours.predict(x, verbose=0), theirs.predict(x, verbose=0))


def _no_drop_b0(library, builder):
    (cl.backend if library is cl else keras.backend).clear_session()
    return builder(1.0, 1.0, 224, dropout_rate=0.0, drop_connect_rate=0.0, name="efficientnetb0",
                   include_top=True, weights=None, input_shape=(64, 64, 3), classes=10, weights_name="b0")


@pytest.mark.slow
def test_a_training_step_of_b0_gives_keras_s_weights():
    """fit, 1 epoch of 4 images in one batch, SGD: every weight after the step (BN's moving statistics too).

    Dropout and drop-connect are set to 0 (Keras's base builder takes both rates), so the step is
    deterministic; the drop-connect in training is tested statistically below. The input is 64x64:
    at 32x32 the last stages are 1x1, their BatchNormalization sees 4 numbers per channel, and the
    step becomes so ill-conditioned that float32 rounding alone moves weights by 1e-3 relative in
    both libraries' hands (batches of 2 are worse still). Measured at 64x64: every weight within
    1.4e-4 of its largest value (or of 1e-3 when smaller), the loss within 5e-6.
    """
    theirs = _no_drop_b0(keras, keras_efficientnet.EfficientNet)
    ours = _no_drop_b0(cl, efficientnet.EfficientNet)
    assert not [l for l in ours.layers if isinstance(l, cl.layers.Dropout)]
    assert [l.name for l in ours.layers] == [l.name for l in theirs.layers]
    ours.set_weights(theirs.get_weights())
    initial = {w.path: w.numpy().copy() for w in ours.weights}
    x = _images(count=4, size=64, seed=5)
    y = np.array([1, 3, 5, 7])
    theirs.compile(optimizer=keras.optimizers.SGD(learning_rate=0.01), loss="sparse_categorical_crossentropy")
    ours.compile(optimizer=cl.optimizers.SGD(learning_rate=0.01), loss="sparse_categorical_crossentropy")
    their_loss = theirs.fit(x, y, batch_size=4, epochs=1, shuffle=False, verbose=0).history["loss"]
    our_loss = ours.fit(x, y, batch_size=4, epochs=1, shuffle=False, verbose=0).history["loss"]
    np.testing.assert_allclose(our_loss, their_loss, rtol=1e-4)
    for mine, their in zip(ours.weights, theirs.weights):
        assert mine.path == their.path
        expected = their.numpy()
        scale = max(float(np.abs(expected).max()), 1e-3)
        np.testing.assert_allclose(mine.numpy(), expected, rtol=0, atol=1e-3 * scale, err_msg=mine.path)
    # The step really moved the weights (BN's moving statistics included).
    for path in ("stem_conv/kernel", "top_bn/moving_variance", "block1a_bn/gamma", "predictions/bias"):
        now = next(w for w in ours.weights if w.path == path).numpy()
        assert np.abs(now - initial[path]).max() > 1e-4, path


def test_drop_connect_in_training_drops_whole_samples_at_keras_s_rate():
    """The drop-connect Dropout(noise_shape=(None, 1, 1, 1)): each sample's branch is all kept or all zero.

    Random masks cannot be compared draw for draw, so both libraries' layers of the same network
    are measured: the dropped fraction is within 5 standard errors of the rate, and kept values are
    scaled by 1 / (1 - rate).
    """
    ours, theirs = _pair("EfficientNetB0", include_top=False, weights=None, input_shape=SMALL)
    samples = 4000
    x = np.ones((samples, 2, 2, 192), "float32")
    for layer in (ours.get_layer("block6d_drop"), theirs.get_layer("block6d_drop")):
        rate = layer.rate
        assert rate == pytest.approx(0.2 * 14 / 16)
        out = np.asarray(layer(x, training=True))
        per_sample = out.reshape(samples, -1)
        assert np.all(per_sample == per_sample[:, :1])  # one draw per sample
        kept = per_sample[:, 0] != 0
        np.testing.assert_allclose(per_sample[kept, 0], 1.0 / (1.0 - rate), rtol=1e-6)
        dropped = 1.0 - kept.mean()
        assert abs(dropped - rate) < 5 * np.sqrt(rate * (1 - rate) / samples)
        np.testing.assert_array_equal(np.asarray(layer(x, training=False)), x)


def test_a_weights_file_written_by_keras_loads_into_course_lib_and_back(tmp_path, b0_pairs):
    ours, theirs = b0_pairs[None]
    x = _images(seed=6)
    expected = theirs.predict(x, verbose=0)
    # Keras 3's .weights.h5, both ways.
    path = str(tmp_path / "theirs.weights.h5")
    theirs.save_weights(path)
    loaded = cl.applications.EfficientNetB0(include_top=False, weights=path, input_shape=SMALL)
    _assert_close(loaded.predict(x, verbose=0), expected)
    mine = str(tmp_path / "ours.weights.h5")
    loaded.save_weights(mine)
    back = keras.applications.EfficientNetB0(include_top=False, weights=mine, input_shape=SMALL)
    _finalize(back)  # Keras's .weights.h5 loader leaves its Normalization's constants stale
    _assert_close(back.predict(x, verbose=0), expected)
    # Keras 2's legacy .h5, the format of the published ImageNet files (Keras's loader finalizes itself).
    legacy = str(tmp_path / "theirs.h5")
    theirs.save(legacy)
    _assert_close(cl.applications.EfficientNetB0(include_top=False, weights=legacy, input_shape=SMALL)
                  .predict(x, verbose=0), expected)


def test_v2_weights_files_both_ways(tmp_path):
    ours, theirs = _pair("EfficientNetV2B0", include_top=False, weights=None, input_shape=SMALL)
    _randomize(theirs, seed=9)
    path = str(tmp_path / "theirs.weights.h5")
    theirs.save_weights(path)
    x = _images(seed=7)
    expected = theirs.predict(x, verbose=0)
    loaded = cl.applications.EfficientNetV2B0(include_top=False, weights=path, input_shape=SMALL)
    _assert_close(loaded.predict(x, verbose=0), expected)
    mine = str(tmp_path / "ours.weights.h5")
    loaded.save_weights(mine)
    back = keras.applications.EfficientNetV2B0(include_top=False, weights=mine, input_shape=SMALL)
    _assert_close(back.predict(x, verbose=0), expected)


@pytest.mark.parametrize("network, file_name", [("EfficientNetB0", "efficientnetb0_notop.h5"),
                                                ("EfficientNetV2B0", "efficientnetv2-b0_notop.h5")])
def test_imagenet_weights_build_keras_s_imagenet_model_from_the_cached_file(tmp_path, monkeypatch, network,
                                                                            file_name):
    """weights='imagenet' in both libraries on the same file (Keras's downloader pointed at it).

    For B0 this also checks the extra Rescaling(1/sqrt(std)) Keras adds with ImageNet weights only.
    """
    keras.backend.clear_session()
    source = getattr(keras.applications, network)(include_top=False, weights=None, input_shape=SMALL)
    _randomize(source, seed=10)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    (tmp_path / "models").mkdir()
    cached = tmp_path / "models" / file_name
    source.save(str(cached))
    module = keras_efficientnet if "V2" not in network else __import__(
        "keras.src.applications.efficientnet_v2", fromlist=["file_utils"])
    requested = []

    def cached_file(fname, origin, **kwargs):
        requested.append((fname, origin))
        return str(cached)

    monkeypatch.setattr(module.file_utils, "get_file", cached_file)
    keras.backend.clear_session()
    cl.backend.clear_session()
    theirs = getattr(keras.applications, network)(include_top=False, input_shape=SMALL)
    ours = getattr(cl.applications, network)(include_top=False, input_shape=SMALL)
    assert requested[0][0] == file_name and requested[0][1].endswith(file_name)
    assert [l.name for l in ours.layers] == [l.name for l in theirs.layers]
    for mine, their in zip(ours.layers, theirs.layers):
        assert mine.get_config() == their.get_config(), mine.name
    if network == "EfficientNetB0":
        assert ours.layers[3].name == "rescaling_1"
    x = _images(seed=8)
    _assert_close(ours.predict(x, verbose=0), theirs.predict(x, verbose=0))


@pytest.mark.parametrize("network", ["EfficientNetB0", "EfficientNetV2B0"])
@pytest.mark.parametrize("kwargs", [
    {"weights": "missing.h5"}, {"classes": 10}, {"weights": None, "input_shape": (16, 16, 3), "include_top": False},
    {"input_shape": (64, 64, 3)}, {"weights": None, "input_shape": (None, None, 3)},
    {"weights": "imagenet", "include_top": False, "input_shape": (64, 64, 1)},
], ids=["weights", "classes", "too-small", "imagenet-shape", "free-shape-with-top", "imagenet-channels"])
def test_bad_arguments_are_refused_as_keras_refuses_them(network, kwargs):
    with pytest.raises(ValueError, match=network):
        getattr(cl.applications, network)(**kwargs)
    with pytest.raises(ValueError):
        getattr(keras.applications, network)(**kwargs)


@pytest.mark.parametrize("module", ["efficientnet", "efficientnet_v2"])
def test_preprocess_input_is_keras_s_pass_through(module):
    x = _images(seed=9)
    ours = getattr(cl.applications, module).preprocess_input(x)
    theirs = getattr(keras.applications, module).preprocess_input(x)
    assert ours is x and theirs is x
    np.testing.assert_array_equal(ours, theirs)
    assert getattr(cl.applications, module).preprocess_input(x, data_format="channels_first") is x
    assert getattr(cl.applications, module).decode_predictions is cl.applications.imagenet_utils.decode_predictions


def test_round_filters_and_repeats_match_keras():
    from keras.src.applications import efficientnet_v2 as keras_v2

    for width in (1.0, 1.1, 1.2, 1.4, 1.6, 1.8, 2.0):
        for filters in (16, 24, 32, 40, 80, 112, 192, 320, 1280):
            assert efficientnet_v2.round_filters(filters, width, 8, 8) == keras_v2.round_filters(filters, width, 8, 8)
    for depth in (1.0, 1.1, 1.2, 1.4, 1.8, 2.2, 2.6, 3.1):
        for repeats in (1, 2, 3, 4):
            assert efficientnet.round_repeats(repeats, depth) == keras_v2.round_repeats(repeats, depth)
    # V1's rounding is a closure inside Keras's builder; the variants' widths are compared layer by layer above.
    assert efficientnet.round_filters(32, 1.1) == 32 and efficientnet.round_filters(1280, 1.1) == 1408
