"""course_lib.applications' ResNet50/101/152 and ResNet50V2/101V2/152V2 against keras.applications', in the same test.

No download anywhere: Keras's models are randomly initialised (weights=None), their weights are
copied into course_lib's, and the weight files are the ones Keras writes here. Each network is
built at 224x224 only for counting; predictions run at 32x32 (Keras's minimum), batch 2.
Measured: the networks without their top agree to about 2e-6 of the largest output (ResNet50's
53 convolutions and BatchNormalizations, float32 sums in a different order), hence rtol 1e-4
with an atol of 1e-5 times the largest value.
"""
import numpy as np
import pytest

import course_lib as cl

tf = pytest.importorskip("tensorflow")
keras = tf.keras

pytestmark = pytest.mark.parity

COUNTS = {  # total, non-trainable, without the top: checked against Keras's in the tests below
    "ResNet50": (25_636_712, 53_120, 23_587_712), "ResNet101": (44_707_176, 105_344, 42_658_176),
    "ResNet152": (60_419_944, 151_424, 58_370_944), "ResNet50V2": (25_613_800, 45_440, 23_564_800),
    "ResNet101V2": (44_675_560, 97_664, 42_626_560), "ResNet152V2": (60_380_648, 143_744, 58_331_648),
}
NETWORKS = list(COUNTS)
MODULE = {name: "resnet_v2" if name.endswith("V2") else "resnet" for name in NETWORKS}


def _assert_close(mine, theirs):
    scale = float(np.max(np.abs(theirs)))
    np.testing.assert_allclose(mine, theirs, rtol=1e-4, atol=1e-5 * scale)


def _images(network, count=2, size=32, seed=0):
    pixels = np.random.default_rng(seed).uniform(0, 255, (count, size, size, 3)).astype("float32")
    return getattr(cl.applications, MODULE[network]).preprocess_input(pixels)


def _pair(network, **kwargs):
    """Keras's network and course_lib's with the same arguments, Keras's weights copied into course_lib's."""
    keras.backend.clear_session()
    cl.backend.clear_session()
    kwargs.setdefault("weights", None)
    theirs = getattr(keras.applications, network)(**kwargs)
    ours = getattr(cl.applications, network)(**kwargs)
    if kwargs["weights"] is None:
        ours.set_weights(theirs.get_weights())
    return ours, theirs


def _count(weights):
    return sum(int(np.prod(w.shape)) for w in weights)


def _comparable(config):
    config = dict(config)
    config.pop("dtype", None)
    return config


@pytest.fixture(scope="module", params=NETWORKS)
def full_pair(request):
    """Each network at its default shape (include_top=True, weights=None), built once, in both libraries."""
    return (request.param,) + _pair(request.param)


def test_the_full_network_has_keras_s_layers_configs_and_parameter_counts(full_pair):
    network, ours, theirs = full_pair
    total, frozen, _ = COUNTS[network]
    assert ours.count_params() == theirs.count_params() == total
    assert _count(ours.non_trainable_weights) == _count(theirs.non_trainable_weights) == frozen
    assert _count(ours.trainable_weights) == _count(theirs.trainable_weights) == total - frozen
    assert ours.name == theirs.name == network.lower()
    assert [l.name for l in ours.layers] == [l.name for l in theirs.layers]
    assert [type(l).__name__ for l in ours.layers] == [type(l).__name__ for l in theirs.layers]
    assert [l.count_params() for l in ours.layers] == [l.count_params() for l in theirs.layers]
    assert [tuple(l.output.shape) for l in ours.layers] == [tuple(l.output.shape) for l in theirs.layers]
    for mine, keras_layer in zip(ours.layers[1:], theirs.layers[1:]):
        assert _comparable(mine.get_config()) == _comparable(keras_layer.get_config()), mine.name
    # The same connections: every layer reads the outputs of the same layers.
    def inbound(model):
        return [[t._keras_history[0].name if hasattr(t, "_keras_history") else None
                 for t in tf.nest.flatten(layer.input)] for layer in model.layers[1:]]
    assert [sorted(map(str, names)) for names in inbound(theirs)] == \
        [sorted(map(str, names)) for names in _our_inbound(ours)]


def _our_inbound(model):
    """The names of the layers whose outputs feed each layer (after the input) of a course_lib model."""
    producer = {}
    for layer in model.layers:
        for tensor in (layer.output if isinstance(layer.output, (list, tuple)) else [layer.output]):
            producer[id(tensor)] = layer.name
    result = []
    for layer in model.layers[1:]:
        tensors = layer.input if isinstance(layer.input, (list, tuple)) else [layer.input]
        result.append([producer.get(id(t)) for t in tensors])
    return result


@pytest.mark.parametrize("network", NETWORKS)
def test_the_network_without_the_top_has_keras_s_parameter_count(network):
    keras.backend.clear_session()
    cl.backend.clear_session()
    ours = getattr(cl.applications, network)(include_top=False, weights=None)
    theirs = getattr(keras.applications, network)(include_top=False, weights=None)
    assert ours.count_params() == theirs.count_params() == COUNTS[network][2]
    assert ours.output_shape == theirs.output_shape == (None, None, None, 2048)


@pytest.mark.parametrize("network", [pytest.param(name, marks=pytest.mark.slow) if "50" not in name else name
                                     for name in NETWORKS])  # ResNet101 / 152: 5 to 30 s, by the load
def test_keras_s_weights_give_keras_s_features_without_the_top(network):
    ours, theirs = _pair(network, include_top=False, input_shape=(32, 32, 3))
    x = _images(network)
    assert ours.output_shape == theirs.output_shape == (None, 1, 1, 2048)
    _assert_close(ours.predict(x, verbose=0), theirs.predict(x, verbose=0))


@pytest.mark.parametrize("network", ["ResNet50", "ResNet50V2"])
@pytest.mark.parametrize("pooling", ["avg", "max"])
def test_pooling_heads_match_keras(network, pooling):
    ours, theirs = _pair(network, include_top=False, input_shape=(64, 48, 3), pooling=pooling)
    assert ours.layers[-1].name == theirs.layers[-1].name == f"{pooling}_pool"
    assert ours.output_shape == (None, 2048)
    x = _images(network, size=64, seed=1)[:, :, :48]
    _assert_close(ours.predict(x, verbose=0), theirs.predict(x, verbose=0))


@pytest.mark.parametrize("network", ["ResNet50", "ResNet50V2"])
def test_the_top_at_a_small_size_matches_keras(network):
    ours, theirs = _pair(network, input_shape=(32, 32, 3), classes=10, classifier_activation=None)
    assert ours.count_params() == theirs.count_params()
    x = _images(network, seed=2)
    _assert_close(ours.predict(x, verbose=0), theirs.predict(x, verbose=0))


def test_the_bridge_rebuilds_keras_s_resnet_from_its_config():
    theirs = keras.applications.ResNet50V2(include_top=False, weights=None, input_shape=(32, 32, 3))
    rebuilt = cl.testing.from_keras(theirs)
    x = _images("ResNet50V2", seed=3)
    _assert_close(rebuilt.predict(x, verbose=0), theirs.predict(x, verbose=0))


@pytest.mark.slow
@pytest.mark.parametrize("network", ["ResNet50", "ResNet50V2"])
def test_one_epoch_of_sgd_gives_keras_s_weights(network, float64_in_both):
    """BatchNormalization in training mode (batch statistics, moving averages) and the backward of every layer.

    One step on the 4 images, in float64. At 32x32 conv5's BatchNormalizations normalise 4 values a
    channel (1x1 pixels, 4 images), a badly conditioned division: in float32 the training-mode
    outputs of two implementations differ by 2e-3 from rounding alone (2e-12 in float64), and with
    batches of 2 the gradients reach 1e7 and the first step throws the kernels to 1e5 in both
    libraries, so float32 or smaller batches would test the conditioning, not the code. The conv
    biases before a BatchNormalization have a zero gradient (the normalisation removes any shift):
    their 1e-13 moves are rounding, hence an absolute tolerance.
    """
    keras.utils.set_random_seed(0)
    ours, theirs = _pair(network, input_shape=(32, 32, 3), classes=3)
    x = _images(network, count=4, seed=4).astype("float64")
    y = np.eye(3)[[0, 1, 2, 1]]
    for model, library in ((theirs, keras), (ours, cl)):
        model.compile(optimizer=library.optimizers.SGD(learning_rate=0.01), loss="categorical_crossentropy")
    start = theirs.get_weights()
    keras_loss = theirs.fit(x, y, batch_size=4, epochs=1, shuffle=False, verbose=0).history["loss"]
    our_loss = ours.fit(x, y, batch_size=4, epochs=1, shuffle=False, verbose=0).history["loss"]
    np.testing.assert_allclose(our_loss, keras_loss, rtol=1e-6)  # course_lib keeps the mean loss in float32
    for mine, keras_weight, first, variable in zip(ours.get_weights(), theirs.get_weights(), start, theirs.weights):
        assert mine.dtype == keras_weight.dtype == np.float64
        np.testing.assert_allclose(mine, keras_weight, rtol=1e-7, atol=1e-9, err_msg=variable.path)
        if variable.path.endswith("kernel") or "moving" in variable.path:
            assert np.max(np.abs(keras_weight - first)) > 1e-6, variable.path  # the step moved it


@pytest.mark.parametrize("network", ["ResNet50", "ResNet50V2"])
@pytest.mark.parametrize("suffix", [".weights.h5", ".h5"])
def test_a_weights_file_written_by_keras_loads_into_course_lib(tmp_path, network, suffix):
    keras.backend.clear_session()
    theirs = getattr(keras.applications, network)(include_top=False, weights=None, input_shape=(32, 32, 3))
    path = str(tmp_path / f"{network}{suffix}")
    if suffix == ".h5":
        theirs.save(path)  # Keras 2's legacy HDF5 format, the format of the published ImageNet files
    else:
        theirs.save_weights(path)
    ours = getattr(cl.applications, network)(include_top=False, weights=path, input_shape=(32, 32, 3))
    x = _images(network, seed=5)
    _assert_close(ours.predict(x, verbose=0), theirs.predict(x, verbose=0))


@pytest.mark.parametrize("network", ["ResNet50", "ResNet50V2"])
def test_a_weights_file_written_by_course_lib_loads_into_keras(tmp_path, network):
    cl.backend.clear_session()
    ours = getattr(cl.applications, network)(include_top=False, weights=None, input_shape=(32, 32, 3))
    path = str(tmp_path / "ours.weights.h5")
    ours.save_weights(path)
    theirs = getattr(keras.applications, network)(include_top=False, weights=path, input_shape=(32, 32, 3))
    x = _images(network, seed=6)
    _assert_close(ours.predict(x, verbose=0), theirs.predict(x, verbose=0))


class NetworkBlocked(AssertionError):
    pass


@pytest.mark.parametrize("network", ["ResNet50", "ResNet50V2"])
def test_imagenet_reads_the_file_keras_reads_from_its_cache(tmp_path, monkeypatch, network):
    """Both libraries load the same file, named as Keras names it, from the same cache folder."""
    from keras.src.backend import config as keras_config
    from keras.src.utils import file_utils

    def no_download(origin, *args, **kwargs):
        raise NetworkBlocked(f"Keras tried to download {origin}")

    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    monkeypatch.setattr(keras_config, "_KERAS_DIR", str(tmp_path))
    monkeypatch.setattr(file_utils, "urlretrieve", no_download)
    monkeypatch.setattr(file_utils, "validate_file", lambda *args, **kwargs: True)
    expected = tmp_path / "models" / f"{network.lower()}_weights_tf_dim_ordering_tf_kernels_notop.h5"
    with pytest.raises(FileNotFoundError, match=f"{network}: .*course_lib downloads nothing. Put it at {expected}"):
        getattr(cl.applications, network)(include_top=False, input_shape=(32, 32, 3))
    with pytest.raises(Exception, match="tried to download"):
        getattr(keras.applications, network)(include_top=False, input_shape=(32, 32, 3))
    expected.parent.mkdir(exist_ok=True)
    keras.backend.clear_session()
    getattr(keras.applications, network)(include_top=False, weights=None, input_shape=(32, 32, 3)).save(str(expected))
    theirs = getattr(keras.applications, network)(include_top=False, input_shape=(32, 32, 3))
    ours = getattr(cl.applications, network)(include_top=False, input_shape=(32, 32, 3))
    x = _images(network, seed=7)
    _assert_close(ours.predict(x, verbose=0), theirs.predict(x, verbose=0))


@pytest.mark.parametrize("kwargs, message", [
    ({"weights": "missing.h5"}, r"ResNet50: `weights` must be None .* Received: weights='missing.h5'"),
    ({"classes": 10}, r"ResNet50: with weights='imagenet' and include_top=True, classes must be 1000"),
    ({"weights": None, "input_shape": (16, 16, 3), "include_top": False}, r"ResNet50: .*at least 32x32"),
    ({"weights": None, "input_shape": (31, 64, 3)}, r"ResNet50: .*at least 32x32"),
    ({"input_shape": (64, 64, 3)}, r"ResNet50: .*input_shape must be \(224, 224, 3\)"),
    ({"weights": None, "input_shape": (None, None, 3)}, r"ResNet50: with include_top=True the input_shape must be"),
    ({"weights": "imagenet", "include_top": False, "input_shape": (64, 64, 1)}, r"ResNet50: ImageNet weights need 3"),
    ({"classifier_activation": "relu"}, r"ResNet50: only None and 'softmax' are allowed"),
])
@pytest.mark.parametrize("network", NETWORKS)
def test_bad_arguments_are_refused_as_keras_refuses_them(kwargs, message, network):
    with pytest.raises(ValueError, match=message.replace("ResNet50", network)):
        getattr(cl.applications, network)(**kwargs)
    with pytest.raises(ValueError):
        getattr(keras.applications, network)(**kwargs)


def test_an_unknown_pooling_is_refused_where_keras_ignores_it():
    """A deliberate difference (as VGG's): Keras builds the 4D feature output for pooling='min'."""
    model = keras.applications.ResNet50(include_top=False, weights=None, pooling="min", input_shape=(32, 32, 3))
    assert len(model.output.shape) == 4
    with pytest.raises(ValueError, match=r"ResNet50: pooling must be None, 'avg' or 'max'. Received: pooling='min'"):
        cl.applications.ResNet50(include_top=False, weights=None, pooling="min", input_shape=(32, 32, 3))


def test_an_input_tensor_is_used_as_keras_uses_it():
    keras.backend.clear_session()
    cl.backend.clear_session()
    theirs = keras.applications.ResNet50(include_top=False, weights=None,
                                         input_tensor=keras.Input((40, 40, 3)))
    ours = cl.applications.ResNet50(include_top=False, weights=None, input_tensor=cl.layers.Input((40, 40, 3)))
    assert ours.output_shape == theirs.output_shape == (None, 2, 2, 2048)
    ours.set_weights(theirs.get_weights())
    x = _images("ResNet50", size=40, seed=8)
    _assert_close(ours.predict(x, verbose=0), theirs.predict(x, verbose=0))


@pytest.mark.parametrize("module", ["resnet", "resnet50", "resnet_v2"])
def test_preprocess_input_matches_keras_and_leaves_its_input_alone(module):
    pixels = np.random.default_rng(9).uniform(0, 255, (2, 8, 8, 3)).astype("float32")
    original = pixels.copy()
    ours_module, keras_module = getattr(cl.applications, module), getattr(keras.applications, module)
    np.testing.assert_allclose(ours_module.preprocess_input(pixels), keras_module.preprocess_input(pixels.copy()),
                               rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(pixels, original)
    channels_first = pixels.transpose(0, 3, 1, 2)
    np.testing.assert_allclose(ours_module.preprocess_input(channels_first, data_format="channels_first"),
                               keras_module.preprocess_input(channels_first.copy(), data_format="channels_first"),
                               rtol=1e-6, atol=1e-6)
    whole = pixels.round().astype("uint8")
    np.testing.assert_allclose(ours_module.preprocess_input(whole), keras_module.preprocess_input(whole),
                               rtol=1e-6, atol=1e-6)


def test_the_modules_export_what_keras_s_export():
    assert cl.applications.resnet50.ResNet50 is cl.applications.ResNet50 is cl.applications.resnet.ResNet50
    for module in ("resnet", "resnet50", "resnet_v2"):
        keras_names = {n for n in dir(getattr(keras.applications, module)) if not n.startswith("_")}
        assert keras_names <= set(dir(getattr(cl.applications, module))), module
