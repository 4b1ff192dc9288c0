"""course_lib's DenseNet121/169/201, Xception, InceptionV3 and InceptionResNetV2 against keras.applications'.

Both built in the same test (weights=None: no download anywhere), Keras's weights copied
into course_lib. Measured on 2 random images at the smallest sizes (32x32 DenseNet, 71x71
Xception, 75x75 Inception): the largest difference is 5e-7 to 2e-6 of the largest output
(up to 200 convolutions and BatchNormalizations of float32 sums in another order), hence
rtol 1e-4 with an atol of 1e-5 times the largest value, as for VGG.
"""
import importlib
import json
import re

import numpy as np
import pytest

import course_lib as cl

tf = pytest.importorskip("tensorflow")
keras = tf.keras

pytestmark = [pytest.mark.parity, pytest.mark.slow]

SMALLEST = {"DenseNet121": 32, "DenseNet169": 32, "DenseNet201": 32, "Xception": 71, "InceptionV3": 75,
            "InceptionResNetV2": 75}
MODULES = {"DenseNet121": "densenet", "DenseNet169": "densenet", "DenseNet201": "densenet",
           "Xception": "xception", "InceptionV3": "inception_v3", "InceptionResNetV2": "inception_resnet_v2"}
FILES = {"DenseNet121": "densenet121", "DenseNet169": "densenet169", "DenseNet201": "densenet201",
         "Xception": "xception", "InceptionV3": "inception_v3", "InceptionResNetV2": "inception_resnet_v2"}


def _assert_close(mine, theirs):
    theirs = np.asarray(theirs)
    scale = float(np.max(np.abs(theirs)))
    np.testing.assert_allclose(mine, theirs, rtol=1e-4, atol=1e-5 * scale)


def _images(size, count=2, seed=0):
    return np.random.default_rng(seed).uniform(0, 255, (count, size, size, 3)).astype("float32")


def _both(network, **kwargs):
    """(course_lib's, Keras's) network built with the same arguments in fresh sessions (same automatic names)."""
    keras.backend.clear_session()
    cl.backend.clear_session()
    return getattr(cl.applications, network)(**kwargs), getattr(keras.applications, network)(**kwargs)


def _normalized(config):
    """The config as JSON has it, without two things course_lib writes otherwise (both ignored on loading).

    Keras's nodes of BatchNormalization record a ``mask=None`` call argument, and Keras writes no
    ``build_config`` for the layers that have no build (Activation, pooling, padding, Concatenate).
    """
    config = json.loads(json.dumps(config))
    for entry in config["layers"]:
        entry.pop("build_config", None)
        for node in entry["inbound_nodes"]:
            if node["kwargs"] == {"mask": None}:
                node["kwargs"] = {}
    return config


def _count(weights):
    return sum(int(np.prod(w.shape)) for w in weights)


@pytest.mark.parametrize("network", list(SMALLEST))
def test_the_full_network_has_keras_s_layers_configs_and_parameter_counts(network):
    ours, theirs = _both(network, weights=None)
    assert ours.name == theirs.name
    assert ours.count_params() == theirs.count_params()
    assert _count(ours.trainable_weights) == _count(theirs.trainable_weights)
    assert _count(ours.non_trainable_weights) == _count(theirs.non_trainable_weights)
    assert [(l.name, type(l).__name__) for l in ours.layers] == [(l.name, type(l).__name__) for l in theirs.layers]
    assert [tuple(l.output.shape) for l in ours.layers] == [tuple(l.output.shape) for l in theirs.layers]
    mine, keras_s = cl.layers.serialize(ours)["config"], keras.layers.serialize(theirs)["config"]
    assert _normalized(mine) == _normalized(keras_s)  # CustomScaleLayer's module too: Keras's application's
    head = theirs.get_layer("predictions").count_params()
    assert getattr(cl.applications, network)(include_top=False, weights=None).count_params() == (
        theirs.count_params() - head)


@pytest.mark.parametrize("network", list(SMALLEST))
def test_keras_s_weights_give_keras_s_features_at_the_smallest_size(network):
    size = SMALLEST[network]
    ours, theirs = _both(network, include_top=False, weights=None, input_shape=(size, size, 3))
    ours.set_weights(theirs.get_weights())
    x = getattr(cl.applications, MODULES[network]).preprocess_input(_images(size))
    _assert_close(ours.predict(x, verbose=0), theirs(x, training=False))


@pytest.mark.parametrize("network", ["DenseNet121", "Xception"])
@pytest.mark.parametrize("pooling", ["avg", "max"])
def test_pooling_heads_match_keras(network, pooling):
    """DenseNet names its pooling layers avg_pool / max_pool; Xception leaves them automatic names."""
    size = SMALLEST[network]
    ours, theirs = _both(network, include_top=False, weights=None, input_shape=(size, size, 3), pooling=pooling)
    assert ours.layers[-1].name == theirs.layers[-1].name
    assert ours.output_shape == tuple(theirs.output.shape)
    cl.testing.copy_weights(theirs, ours)
    x = _images(size, seed=1) / 127.5 - 1
    _assert_close(ours.predict(x, verbose=0), theirs(x, training=False))


def test_the_top_at_a_small_size_and_the_bridge_match_keras():
    """DenseNet121 with its top at 32x32 and 10 classes, through set_weights and through from_keras."""
    ours, theirs = _both("DenseNet121", weights=None, input_shape=(32, 32, 3), classes=10)
    ours.set_weights(theirs.get_weights())
    x = cl.applications.densenet.preprocess_input(_images(32, seed=2))
    expected = theirs(x, training=False)
    _assert_close(ours.predict(x, verbose=0), expected)
    _assert_close(cl.testing.from_keras(theirs).predict(x, verbose=0), expected)


def test_one_epoch_of_sgd_gives_keras_s_weights_and_moving_statistics(float64_in_both):
    """DenseNet121 (120 BatchNormalizations) trained 1 epoch on 4 images (one batch of 4), in float64.

    In float32 the comparison is ill-conditioned: at 32x32 the last BatchNormalizations normalise a
    1x1 map over 4 samples, and channels a ReLU left nearly constant have a standard deviation near
    sqrt(epsilon), so each such backward multiplies the two libraries' roundings; the same step
    drifted 0.1 %-5 % of an update apart from one run to the next. In float64 it agrees to ~1e-12.
    """
    ours, theirs = _both("DenseNet121", weights=None, input_shape=(32, 32, 3), classes=3)
    ours.set_weights(theirs.get_weights())
    x = cl.applications.densenet.preprocess_input(_images(32, count=4, seed=3)).astype("float64")
    y = np.eye(3)[[0, 1, 2, 1]]
    before = [w.copy() for w in theirs.get_weights()]
    for model, library in ((ours, cl), (theirs, keras)):
        model.compile(optimizer=library.optimizers.SGD(learning_rate=0.01), loss="categorical_crossentropy")
    history_ours = ours.fit(x, y, epochs=1, batch_size=4, shuffle=False, verbose=0)
    history_theirs = theirs.fit(x, y, epochs=1, batch_size=4, shuffle=False, verbose=0)
    np.testing.assert_allclose(history_ours.history["loss"], history_theirs.history["loss"], rtol=1e-10)
    moved = 0
    for mine, keras_s, start in zip(ours.get_weights(), theirs.get_weights(), before):
        assert mine.dtype == keras_s.dtype == np.float64
        step = np.abs(keras_s - start).max()
        moved += step > 0
        np.testing.assert_allclose(mine, keras_s, rtol=0, atol=1e-12 + 1e-8 * step)
    assert moved > 300  # kernels, gammas, betas and moving statistics all moved


def test_an_inception_resnet_block_trains_as_keras_s():
    """One block35 (CustomScaleLayer's backward, the biased projection, BatchNormalizations without scale)."""
    from keras.src.applications import inception_resnet_v2 as keras_irv2

    def block(library, module):
        library.backend.clear_session()
        inputs = library.Input((8, 8, 32))
        outputs = module.inception_resnet_block(inputs, scale=0.17, block_type="block35", block_idx=1)
        model = library.Model(inputs, library.layers.GlobalAveragePooling2D()(outputs))
        model.compile(optimizer=library.optimizers.SGD(learning_rate=0.05), loss="mse")
        return model

    theirs = block(keras, keras_irv2)
    ours = block(cl, cl.applications.inception_resnet_v2)
    assert [l.name for l in ours.layers] == [l.name for l in theirs.layers]
    ours.set_weights(theirs.get_weights())
    rng = np.random.default_rng(4)
    x, y = rng.normal(size=(4, 8, 8, 32)).astype("float32"), rng.normal(size=(4, 32)).astype("float32")
    _assert_close(ours.predict(x, verbose=0), theirs(x, training=False))
    ours.fit(x, y, epochs=1, batch_size=2, shuffle=False, verbose=0)
    theirs.fit(x, y, epochs=1, batch_size=2, shuffle=False, verbose=0)
    for mine, keras_s in zip(ours.get_weights(), theirs.get_weights()):
        np.testing.assert_allclose(mine, keras_s, rtol=1e-4, atol=1e-6)


def test_custom_scale_layer_has_keras_s_config_and_keras_files_both_ways(tmp_path):
    from keras.src.applications.inception_resnet_v2 import CustomScaleLayer as KerasScale

    from course_lib.applications.inception_resnet_v2 import CustomScaleLayer

    assert CustomScaleLayer(0.17, name="s").get_config() == KerasScale(0.17, name="s").get_config()
    keras.backend.clear_session()
    a, b = keras.Input((4, 4, 3)), keras.Input((4, 4, 3))
    theirs = keras.Model([a, b], KerasScale(0.2)([a, b]))
    rng = np.random.default_rng(5)
    x = [rng.normal(size=(2, 4, 4, 3)).astype("float32") for _ in range(2)]
    path = str(tmp_path / "keras_s.keras")
    theirs.save(path)
    ours = cl.models.load_model(path)  # no custom_objects: found by Keras's module, keras.src.applications...
    assert type(ours.layers[-1]) is CustomScaleLayer and ours.layers[-1].scale == 0.2
    _assert_close(ours.predict(x, verbose=0), theirs(x))
    path = str(tmp_path / "ours.keras")
    ours.save(path)
    again = keras.models.load_model(path)
    assert type(again.layers[-1]) is KerasScale
    _assert_close(again(x), x[0] + 0.2 * x[1])


def test_inception_resnet_v2_through_keras_files_both_ways_and_the_bridge(tmp_path):
    """The whole network at 75x75 (40 CustomScaleLayers): Keras's file, course_lib's file, from_keras."""
    ours, theirs = _both("InceptionResNetV2", include_top=False, weights=None, input_shape=(75, 75, 3))
    cl.testing.copy_weights(theirs, ours)
    x = cl.applications.inception_resnet_v2.preprocess_input(_images(75, seed=8))
    expected = theirs.predict(x, verbose=0)
    names = [(type(layer).__name__, layer.name) for layer in theirs.layers]
    path = str(tmp_path / "keras_s.keras")
    theirs.save(path)
    loaded = cl.models.load_model(path)
    assert [(type(layer).__name__, layer.name) for layer in loaded.layers] == names
    _assert_close(loaded.predict(x, verbose=0), expected)
    path = str(tmp_path / "ours.keras")
    ours.save(path)
    back = keras.models.load_model(path)
    assert [(type(layer).__name__, layer.name) for layer in back.layers] == names
    _assert_close(back.predict(x, verbose=0), expected)
    rebuilt = cl.testing.from_keras(theirs)
    assert [(type(layer).__name__, layer.name) for layer in rebuilt.layers] == names
    _assert_close(rebuilt.predict(x, verbose=0), expected)


@pytest.mark.parametrize("suffix", [".weights.h5", ".h5"])
def test_a_weights_file_written_by_keras_loads_into_course_lib(tmp_path, suffix):
    theirs = keras.applications.DenseNet121(include_top=False, weights=None, input_shape=(32, 32, 3))
    path = str(tmp_path / f"densenet{suffix}")
    if suffix == ".h5":
        theirs.save(path)  # Keras 2's legacy HDF5 format, the format of the published ImageNet files
    else:
        theirs.save_weights(path)
    ours = cl.applications.DenseNet121(include_top=False, weights=path, input_shape=(32, 32, 3))
    x = _images(32, seed=6) / 255.0
    _assert_close(ours.predict(x, verbose=0), theirs(x, training=False))


def test_a_legacy_h5_of_keras_s_inception_v3_loads_by_layer_order(tmp_path):
    theirs = keras.applications.InceptionV3(include_top=False, weights=None, input_shape=(75, 75, 3))
    path = str(tmp_path / "inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5")
    theirs.save(path)
    ours = cl.applications.InceptionV3(include_top=False, weights=path, input_shape=(75, 75, 3))
    x = _images(75, seed=7) / 127.5 - 1
    _assert_close(ours.predict(x, verbose=0), theirs(x, training=False))


@pytest.mark.parametrize("network", ["DenseNet121", "Xception"])
def test_a_weights_file_written_by_course_lib_loads_into_keras(tmp_path, network):
    size = SMALLEST[network]
    ours = getattr(cl.applications, network)(include_top=False, weights=None, input_shape=(size, size, 3))
    path = str(tmp_path / "ours.weights.h5")
    ours.save_weights(path)
    theirs = getattr(keras.applications, network)(include_top=False, weights=path, input_shape=(size, size, 3))
    x = _images(size, seed=8) / 127.5 - 1
    _assert_close(ours.predict(x, verbose=0), theirs(x, training=False))


@pytest.mark.parametrize("network", list(SMALLEST))
def test_imagenet_reads_keras_s_file_name_from_the_cache_folder(tmp_path, monkeypatch, network):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    expected = tmp_path / "models" / f"{FILES[network]}_weights_tf_dim_ordering_tf_kernels_notop.h5"
    with pytest.raises(FileNotFoundError, match=f"{network}: .*downloads nothing. Put it at {expected}"):
        getattr(cl.applications, network)(include_top=False)
    # The name Keras itself asks its cache for (its download stopped before it starts):
    file_utils = importlib.import_module("keras.src.utils.file_utils")
    asked = []

    def get_file(fname, *args, **kwargs):
        asked.append((fname, kwargs.get("cache_subdir")))
        raise RuntimeError("no download in tests")

    monkeypatch.setattr(file_utils, "get_file", get_file)
    size = SMALLEST[network]
    for include_top, shape in ((False, (size, size, 3)), (True, None)):
        with pytest.raises(RuntimeError, match="no download"):
            getattr(keras.applications, network)(include_top=include_top, input_shape=shape)
    assert asked == [(expected.name, "models"), (expected.name.replace("_notop", ""), "models")]
    with pytest.raises(FileNotFoundError, match=re.escape(str(tmp_path / "models" / asked[1][0]))):
        getattr(cl.applications, network)()


@pytest.mark.parametrize("kwargs, message", [
    ({"weights": "missing.h5"}, r"NET: `weights` must be None .* Received: weights='missing.h5'"),
    ({"classes": 10}, r"NET: with weights='imagenet' and include_top=True, classes must be 1000"),
    ({"weights": None, "include_top": False, "input_shape": ("SIZE-1", "SIZE-1", 3)},
     r"NET: the input must be at least"),
    ({"weights": None, "input_shape": (None, None, 3)}, r"NET: with include_top=True the input_shape must be static"),
    ({"input_shape": (96, 96, 3)}, r"NET: with include_top=True and weights='imagenet', input_shape must be"),
    ({"weights": None, "include_top": False, "input_shape": (96, 96, 4)}, None),
])
@pytest.mark.parametrize("network", list(SMALLEST))
def test_bad_arguments_are_refused_as_keras_refuses_them(kwargs, message, network):
    if message is None:  # 4 channels without ImageNet weights: a warning in both, not an error
        with pytest.warns(UserWarning, match="input channels"):
            ours = getattr(cl.applications, network)(**kwargs)
        with pytest.warns(UserWarning, match="input channels"):
            theirs = getattr(keras.applications, network)(**kwargs)
        assert ours.count_params() == theirs.count_params()
        return
    kwargs = {key: tuple(SMALLEST[network] - 1 if v == "SIZE-1" else v for v in value) if key == "input_shape"
              else value for key, value in kwargs.items()}
    with pytest.raises(ValueError, match=message.replace("NET", network)):
        getattr(cl.applications, network)(**kwargs)
    with pytest.raises(ValueError):
        getattr(keras.applications, network)(**kwargs)


def test_densenet_refuses_channels_first_as_keras_does():
    cl.config.set_image_data_format("channels_first")
    keras.config.set_image_data_format("channels_first")
    try:
        with pytest.raises(ValueError, match="DenseNet121: DenseNet does not support the 'channels_first'"):
            cl.applications.DenseNet121(weights=None)
        with pytest.raises(ValueError, match="channels_first"):
            keras.applications.DenseNet121(weights=None)
    finally:
        cl.config.set_image_data_format("channels_last")
        keras.config.set_image_data_format("channels_last")


@pytest.mark.parametrize("module", ["densenet", "xception", "inception_v3", "inception_resnet_v2"])
def test_preprocess_input_matches_keras_and_leaves_its_input_alone(module):
    images = _images(8, seed=9)
    original = images.copy()
    ours = getattr(cl.applications, module).preprocess_input(images)
    np.testing.assert_array_equal(images, original)
    theirs = getattr(keras.applications, module).preprocess_input(images.copy())
    np.testing.assert_allclose(ours, theirs, rtol=1e-6, atol=1e-6)
    first = images.transpose(0, 3, 1, 2)
    np.testing.assert_allclose(
        getattr(cl.applications, module).preprocess_input(first, data_format="channels_first"),
        getattr(keras.applications, module).preprocess_input(first.copy(), data_format="channels_first"),
        rtol=1e-6, atol=1e-6)
    integers = np.arange(2 * 4 * 4 * 3).reshape(2, 4, 4, 3) % 256
    np.testing.assert_allclose(getattr(cl.applications, module).preprocess_input(integers),
                               getattr(keras.applications, module).preprocess_input(integers), rtol=1e-6, atol=1e-6)
