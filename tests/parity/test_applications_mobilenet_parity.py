"""course_lib.applications' MobileNet, MobileNetV2, MobileNetV3Small and MobileNetV3Large against keras.applications'.

Built in the same test, nothing downloaded: Keras's models are randomly initialised (weights=None),
their BatchNormalization statistics redrawn so that they matter, and the weight files are the ones
Keras writes here. Measured at 32x32 (batch 2): predictions agree to about 1e-6 relative to the
largest output (up to 30 convolutions of float32 sums in a different order), hence rtol 1e-4 with
an atol of 1e-5 times the largest value. One SGD step is compared in float64, where every
weight agrees to ~1e-12 of its update (why not float32: see that test).
"""
import warnings

import numpy as np
import pytest

import course_lib as cl

tf = pytest.importorskip("tensorflow")
keras = tf.keras

from applications_checks import (  # noqa: E402  (it imports tensorflow)
    assert_close, layer_table, pair, randomize_batch_norms, trainable_count,
)

pytestmark = [pytest.mark.parity, pytest.mark.slow]

NETWORKS = ["MobileNet", "MobileNetV2", "MobileNetV3Small", "MobileNetV3Large"]
MODULES = {"MobileNet": "mobilenet", "MobileNetV2": "mobilenet_v2", "MobileNetV3Small": "mobilenet_v3",
           "MobileNetV3Large": "mobilenet_v3"}


def _images(count=2, size=32, seed=0):
    return np.random.default_rng(seed).uniform(0, 255, (count, size, size, 3)).astype("float32")


def _inputs(network, seed=0):
    """What the network is fed: V3 rescales itself, the others take preprocess_input's -1 ... 1."""
    return getattr(cl.applications, MODULES[network]).preprocess_input(_images(seed=seed))


def _operations(model):
    return [(type(op).__name__, op.name, tuple(op.output.shape)) for op in model.operations]


@pytest.mark.parametrize("network, total, trainable, without_top", [
    ("MobileNet", 4_253_864, 4_231_976, 3_228_864), ("MobileNetV2", 3_538_984, 3_504_872, 2_257_984),
    ("MobileNetV3Small", 2_554_968, 2_542_856, 939_120), ("MobileNetV3Large", 5_507_432, 5_483_032, 2_996_352)])
def test_the_full_network_has_keras_s_layers_and_parameter_counts(network, total, trainable, without_top):
    keras.backend.clear_session()
    cl.backend.clear_session()  # the automatic names (V3's re_lu_7, activation_3 ...) count from zero on both sides
    ours = getattr(cl.applications, network)(weights=None)
    theirs = getattr(keras.applications, network)(weights=None)
    assert ours.count_params() == theirs.count_params() == total
    assert trainable_count(ours) == trainable_count(theirs) == trainable
    assert ours.name == theirs.name
    # V3's hard sigmoid is two keras.ops operations (add, multiply ...) on both sides: in `operations`, not `layers`
    assert layer_table(ours) == layer_table(theirs)
    assert _operations(ours) == _operations(theirs)
    keras_layers = {layer.name: layer for layer in theirs.layers}
    for layer in ours.layers:
        if layer.name in keras_layers and type(layer).__name__ not in ("InputLayer",):
            mine, keras_config = layer.get_config(), keras_layers[layer.name].get_config()
            assert mine == keras_config, layer.name
    without = getattr(cl.applications, network)(include_top=False, weights=None)
    assert without.count_params() == without_top


@pytest.mark.parametrize("network, kwargs", [
    ("MobileNet", {}), ("MobileNet", {"alpha": 0.5, "depth_multiplier": 2}), ("MobileNetV2", {}),
    ("MobileNetV2", {"alpha": 1.3}), ("MobileNetV3Small", {}), ("MobileNetV3Small", {"minimalistic": True}),
    ("MobileNetV3Large", {"alpha": 0.75}), ("MobileNetV3Large", {"alpha": 1.25, "minimalistic": True})])
def test_variants_have_keras_s_parameter_counts(network, kwargs):
    for include_top in (True, False):
        ours = getattr(cl.applications, network)(weights=None, input_shape=(32, 32, 3), include_top=include_top,
                                                 classes=10, **kwargs)
        theirs = getattr(keras.applications, network)(weights=None, input_shape=(32, 32, 3),
                                                      include_top=include_top, classes=10, **kwargs)
        assert ours.count_params() == theirs.count_params()
        assert trainable_count(ours) == trainable_count(theirs)
        assert [l.name for l in ours.layers if l.get_weights()] == [l.name for l in theirs.layers if l.get_weights()]
        assert ours.name == theirs.name


@pytest.mark.parametrize("network", NETWORKS)
@pytest.mark.parametrize("pooling", [None, "avg", "max"])
def test_predictions_without_the_top_match_keras(network, pooling):
    ours, theirs = pair(network, include_top=False, input_shape=(32, 32, 3), pooling=pooling)
    x = _inputs(network, seed=1)
    mine, expected = ours.predict(x, verbose=0), theirs.predict(x, verbose=0)
    assert mine.shape == expected.shape
    assert_close(mine, expected)


@pytest.mark.parametrize("network, kwargs", [
    ("MobileNet", {"alpha": 0.25, "depth_multiplier": 2}), ("MobileNetV2", {"alpha": 0.35}),
    ("MobileNetV3Small", {"minimalistic": True}), ("MobileNetV3Large", {"alpha": 0.75})])
def test_predictions_with_the_top_match_keras(network, kwargs):
    ours, theirs = pair(network, input_shape=(32, 32, 3), classes=10, **kwargs)
    x = _inputs(network, seed=2)
    assert_close(ours.predict(x, verbose=0), theirs.predict(x, verbose=0))


@pytest.mark.parametrize("network, alpha", [("MobileNet", 0.5), ("MobileNetV2", 0.5), ("MobileNetV3Small", 0.75),
                                            ("MobileNetV3Large", 0.75)])
def test_the_bridge_rebuilds_keras_s_model(network, alpha):
    """from_keras rebuilds each from Keras's config, V3's hard-sigmoid operations included."""
    keras.backend.clear_session()
    theirs = getattr(keras.applications, network)(include_top=False, weights=None, input_shape=(32, 32, 3),
                                                  alpha=alpha)
    randomize_batch_norms(theirs)
    rebuilt = cl.testing.from_keras(theirs)
    assert layer_table(rebuilt) == layer_table(theirs)
    assert _operations(rebuilt) == _operations(theirs)
    x = _inputs(network, seed=3)
    assert_close(rebuilt.predict(x, verbose=0), theirs.predict(x, verbose=0))


@pytest.mark.parametrize("network", ["MobileNetV3Small", "MobileNetV3Large"])
def test_keras_files_of_v3_go_both_ways(tmp_path, network):
    """Keras's .keras file (the hard sigmoid as keras.src.ops.numpy Add / Multiply) opens in course_lib, and
    course_lib's opens in Keras, both without custom_objects, with the same operations and predictions."""
    keras.backend.clear_session()
    cl.backend.clear_session()
    ours, theirs = pair(network, include_top=True, input_shape=(32, 32, 3), classes=10)
    x = _inputs(network, seed=7)
    expected = theirs.predict(x, verbose=0)
    path = str(tmp_path / "keras_s.keras")
    theirs.save(path)
    loaded = cl.models.load_model(path)
    assert layer_table(loaded) == layer_table(theirs)
    assert _operations(loaded) == _operations(theirs)
    assert_close(loaded.predict(x, verbose=0), expected)
    path = str(tmp_path / "ours.keras")
    ours.save(path)
    back = keras.models.load_model(path)
    assert layer_table(back) == layer_table(theirs)
    assert _operations(back) == _operations(theirs)
    assert_close(back.predict(x, verbose=0), expected)


@pytest.mark.parametrize("network, kwargs", [
    ("MobileNet", {"alpha": 0.25, "dropout": 0.0}), ("MobileNetV2", {"alpha": 0.35}),
    ("MobileNetV3Small", {"dropout_rate": 0.0})])
def test_one_epoch_of_sgd_gives_keras_s_weights(network, kwargs, float64_in_both):
    """Training mode: batch statistics and moving averages of every BatchNormalization, squeeze-excite's backward.

    One step on 4 images of 64x64, in float64. In float32 this comparison is ill-conditioned, not
    wrong: with 4 images, deep BatchNormalizations normalise a few values per channel, and a channel
    that a ReLU left (nearly) constant has a standard deviation near sqrt(epsilon), so its backward
    multiplies the two libraries' different float32 roundings by ~30 at each such layer (MobileNet's
    and V2's first kernels then differed by 0.1 % to 45 % of their update, depending on the draw).
    In float64 MobileNet's and V2's weights agree to ~1e-12 of their update, V3Small's to ~1e-8 (Keras's
    TensorFlow backend rounds Rescaling's 1/255 to float32 even in float64, course_lib does not), hence
    1e-6 of the update and a loss within 1e-8. Two kinds of weights get no update in
    exact arithmetic, only rounding: the beta of a BatchNormalization whose output feeds only a
    linear layer and another BatchNormalization (V2's project_BN without a residual), and the moving
    mean behind it; hence the absolute floor, far below any real update.
    """
    keras.utils.set_random_seed(1)
    ours, theirs = pair(network, input_shape=(64, 64, 3), classes=3, **kwargs)
    x = getattr(cl.applications, MODULES[network]).preprocess_input(_images(count=4, size=64, seed=4))
    x = x.astype("float64")
    y = np.eye(3)[[0, 1, 2, 1]]
    before = theirs.get_weights()
    theirs.compile(optimizer=keras.optimizers.SGD(0.01), loss="categorical_crossentropy")
    ours.compile(optimizer=cl.optimizers.SGD(0.01), loss="categorical_crossentropy")
    history_theirs = theirs.fit(x, y, batch_size=4, epochs=1, shuffle=False, verbose=0)
    history_ours = ours.fit(x, y, batch_size=4, epochs=1, shuffle=False, verbose=0)
    np.testing.assert_allclose(history_ours.history["loss"], history_theirs.history["loss"], rtol=1e-8)
    assert len(ours.get_weights()) == len(theirs.get_weights())
    for mine, expected, start, variable in zip(ours.get_weights(), theirs.get_weights(), before, theirs.weights):
        assert mine.dtype == expected.dtype == np.float64, variable.path
        update = float(np.max(np.abs(expected - start)))
        np.testing.assert_allclose(mine, expected, rtol=0, atol=1e-6 * update + 1e-12, err_msg=variable.path)


@pytest.mark.parametrize("network", NETWORKS)
def test_weights_files_go_both_ways(tmp_path, network):
    theirs = getattr(keras.applications, network)(include_top=False, weights=None, input_shape=(32, 32, 3))
    randomize_batch_norms(theirs)
    x = _inputs(network, seed=5)
    expected = theirs.predict(x, verbose=0)
    for suffix in (".weights.h5", ".h5"):
        path = str(tmp_path / f"keras{suffix}")
        if suffix == ".h5":
            theirs.save(path)  # Keras 2's legacy HDF5 format, the format of the published ImageNet files
        else:
            theirs.save_weights(path)
        ours = getattr(cl.applications, network)(include_top=False, weights=path, input_shape=(32, 32, 3))
        assert_close(ours.predict(x, verbose=0), expected)
    path = str(tmp_path / "ours.weights.h5")
    ours.save_weights(path)
    back = getattr(keras.applications, network)(include_top=False, weights=path, input_shape=(32, 32, 3))
    assert_close(back.predict(x, verbose=0), expected)


BAD = [
    ({"weights": "missing.h5"}, r"`weights` must be None"),
    ({"classes": 10}, r"classes must be 1000"),
    ({"weights": None, "include_top": False, "input_shape": (16, 16, 3)}, r"at least 32x32"),
    ({"weights": None, "include_top": False, "input_shape": (64, 31, 3)}, r"at least 32x32"),
    ({"include_top": False, "alpha": 0.3}, r"alpha must be"),
]


@pytest.mark.parametrize("network", NETWORKS)
@pytest.mark.parametrize("kwargs, message", BAD)
def test_bad_arguments_are_refused_as_keras_refuses_them(network, kwargs, message):
    with pytest.raises(ValueError, match=f"{network}: .*{message}"):
        getattr(cl.applications, network)(**kwargs)
    with pytest.raises(ValueError):
        getattr(keras.applications, network)(**kwargs)


@pytest.mark.parametrize("network, kwargs, message", [
    ("MobileNet", {"input_shape": (64, 64, 3)}, r"input_shape must be \(224, 224, 3\)"),
    ("MobileNet", {"input_shape": (128, 128, 3), "include_top": False, "depth_multiplier": 2},
     r"depth_multiplier must be 1"),
    ("MobileNet", {"weights": None, "input_shape": (None, None, 3)}, r"must be static"),
    ("MobileNetV2", {"weights": None, "input_shape": (None, None, 3)}, r"must be static"),
    ("MobileNetV2", {"input_shape": (100, 100, 3)}, r"input_shape must be \(224, 224, 3\)"),
    ("MobileNetV3Small", {"include_top": False, "alpha": 0.75, "minimalistic": True}, r"alpha must be"),
    ("MobileNetV2", {"weights": None, "input_shape": (64, 64, 3), "input_tensor": keras.Input((32, 32, 3))},
     r"input_tensor.shape\[2\] must equal input_shape\[1\]"),
])
def test_the_network_s_own_checks_match_keras(network, kwargs, message):
    with pytest.raises(ValueError):
        getattr(keras.applications, network)(**kwargs)
    if "input_tensor" in kwargs:
        kwargs = dict(kwargs, input_tensor=cl.layers.Input(tuple(kwargs["input_tensor"].shape[1:])))
    with pytest.raises(ValueError, match=f"{network}: .*{message}"):
        getattr(cl.applications, network)(**kwargs)


@pytest.mark.parametrize("network, kwargs", [
    ("MobileNet", {"input_shape": (128, 128, 3)}), ("MobileNetV2", {"input_shape": (96, 96, 3)}),
    ("MobileNetV3Small", {"input_shape": None}), ("MobileNetV3Large", {"input_shape": (32, 32, 3)})])
def test_the_top_is_built_at_the_sizes_keras_allows(network, kwargs):
    """MobileNet and V2 with the top take their smaller ImageNet sizes; V3's top takes any size, even None."""
    ours = getattr(cl.applications, network)(weights=None, **kwargs)
    theirs = getattr(keras.applications, network)(weights=None, **kwargs)
    assert ours.input_shape == theirs.input_shape
    assert ours.name == theirs.name
    assert ours.count_params() == theirs.count_params()


@pytest.mark.parametrize("network", ["MobileNet", "MobileNetV2", "MobileNetV3Small"])
def test_keras_s_warning_for_imagenet_weights_at_another_size(tmp_path, monkeypatch, network):
    from keras.src.utils import file_utils

    def no_download(*args, **kwargs):
        raise FileNotFoundError("no download in tests")

    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    monkeypatch.setattr(file_utils, "get_file", no_download)
    messages = []
    for library in (keras.applications, cl.applications):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            with pytest.raises(FileNotFoundError):
                getattr(library, network)(include_top=False, input_shape=(64, 80, 3))
        messages.append([str(w.message) for w in caught if "will be loaded as the default" in str(w.message)])
    assert len(messages[1]) == 1
    assert messages[0] == messages[1]


@pytest.mark.parametrize("module", ["mobilenet", "mobilenet_v2", "mobilenet_v3"])
def test_preprocess_input_matches_keras(module):
    images = _images(seed=6)
    ours = getattr(cl.applications, module).preprocess_input(images)
    theirs = getattr(keras.applications, module).preprocess_input(images.copy())
    np.testing.assert_allclose(ours, theirs, rtol=1e-6)
    channels_first = images.transpose(0, 3, 1, 2)
    np.testing.assert_allclose(
        getattr(cl.applications, module).preprocess_input(channels_first, data_format="channels_first"),
        getattr(keras.applications, module).preprocess_input(channels_first.copy(), data_format="channels_first"),
        rtol=1e-6)
