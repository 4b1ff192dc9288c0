"""course_lib.applications.VGG16 and VGG19 against keras.applications', built in the same test.

No download anywhere: Keras's models are randomly initialised (weights=None) and the weight
files are the ones Keras writes here. Measured: predictions of the 32x32 networks agree to
about 2e-6 relative to the largest output (13 convolutions of float32 sums in a different
order), hence rtol 1e-4 with an atol of 1e-5 times the largest value.
"""
import numpy as np
import pytest

import course_lib as cl

tf = pytest.importorskip("tensorflow")
keras = tf.keras

pytestmark = [pytest.mark.parity, pytest.mark.slow]


def _assert_close(mine, theirs):
    scale = float(np.max(np.abs(theirs)))
    np.testing.assert_allclose(mine, theirs, rtol=1e-4, atol=1e-5 * scale)


def _images(count=2, size=32, seed=0):
    return np.random.default_rng(seed).uniform(0, 255, (count, size, size, 3)).astype("float32")


NETWORKS = pytest.mark.parametrize("network, total, without_top", [
    ("VGG16", 138_357_544, 14_714_688), ("VGG19", 143_667_240, 20_024_384)])


@NETWORKS
def test_the_full_network_has_keras_s_layers_and_parameter_counts(network, total, without_top):
    keras.backend.clear_session()
    cl.backend.clear_session()
    ours = getattr(cl.applications, network)(weights=None)
    theirs = getattr(keras.applications, network)(weights=None)
    assert ours.count_params() == theirs.count_params() == total
    assert [layer.name for layer in ours.layers] == [layer.name for layer in theirs.layers]
    assert [l.count_params() for l in ours.layers] == [l.count_params() for l in theirs.layers]
    assert [tuple(l.output.shape) for l in ours.layers] == [tuple(l.output.shape) for l in theirs.layers]
    assert ours.get_layer("fc1").count_params() == 102_764_544
    assert ours.name == theirs.name
    assert getattr(cl.applications, network)(include_top=False, weights=None).count_params() == without_top


@NETWORKS
def test_weights_copied_through_the_bridge_give_keras_s_predictions_without_the_top(network, total, without_top):
    theirs = getattr(keras.applications, network)(include_top=False, weights=None, input_shape=(32, 32, 3))
    ours = getattr(cl.applications, network)(include_top=False, weights=None, input_shape=(32, 32, 3))
    cl.testing.copy_weights(theirs, ours)
    x = getattr(cl.applications, network.lower()).preprocess_input(_images())
    _assert_close(ours.predict(x, verbose=0), theirs.predict(x, verbose=0))
    # The bridge also rebuilds Keras's model by itself, from its config.
    rebuilt = cl.testing.from_keras(theirs)
    _assert_close(rebuilt.predict(x, verbose=0), theirs.predict(x, verbose=0))


@pytest.mark.parametrize("pooling", ["avg", "max"])
def test_pooling_heads_match_keras(pooling):
    theirs = keras.applications.VGG16(include_top=False, weights=None, input_shape=(32, 32, 3), pooling=pooling)
    ours = cl.applications.VGG16(include_top=False, weights=None, input_shape=(32, 32, 3), pooling=pooling)
    cl.testing.copy_weights(theirs, ours)
    x = _images(seed=1) / 255.0
    assert ours.output_shape == (None, 512)
    _assert_close(ours.predict(x, verbose=0), theirs.predict(x, verbose=0))


def test_the_top_at_a_small_size_matches_keras():
    """include_top=True at 32x32 with 10 classes: fc1 then takes 512 features."""
    theirs = keras.applications.VGG16(weights=None, input_shape=(32, 32, 3), classes=10)
    ours = cl.applications.VGG16(weights=None, input_shape=(32, 32, 3), classes=10)
    assert ours.count_params() == theirs.count_params()
    cl.testing.copy_weights(theirs, ours)
    x = _images(seed=2) / 255.0
    _assert_close(ours.predict(x, verbose=0), theirs.predict(x, verbose=0))


@NETWORKS
@pytest.mark.parametrize("suffix", [".weights.h5", ".h5"])
def test_a_weights_file_written_by_keras_loads_into_course_lib(tmp_path, suffix, network, total, without_top):
    theirs = getattr(keras.applications, network)(include_top=False, weights=None, input_shape=(32, 32, 3))
    path = str(tmp_path / f"{network}{suffix}")
    if suffix == ".h5":
        theirs.save(path)  # Keras 2's legacy HDF5 format, the format of the published ImageNet files
    else:
        theirs.save_weights(path)
    ours = getattr(cl.applications, network)(include_top=False, weights=path, input_shape=(32, 32, 3))
    x = _images(seed=3) / 255.0
    _assert_close(ours.predict(x, verbose=0), theirs.predict(x, verbose=0))


def test_a_weights_file_written_by_course_lib_loads_into_keras(tmp_path):
    ours = cl.applications.VGG16(include_top=False, weights=None, input_shape=(32, 32, 3))
    path = str(tmp_path / "ours.weights.h5")
    ours.save_weights(path)
    theirs = keras.applications.VGG16(include_top=False, weights=path, input_shape=(32, 32, 3))
    x = _images(seed=4) / 255.0
    _assert_close(ours.predict(x, verbose=0), theirs.predict(x, verbose=0))


@NETWORKS
def test_imagenet_without_a_local_file_says_where_to_put_it(tmp_path, monkeypatch, network, total, without_top):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    expected = tmp_path / "models" / f"{network.lower()}_weights_tf_dim_ordering_tf_kernels_notop.h5"
    with pytest.raises(FileNotFoundError, match=f"{network}: .*course_lib downloads nothing. Put it at {expected}"):
        getattr(cl.applications, network)(include_top=False)
    # With the file in Keras's cache folder, the same call loads it (here: a file Keras wrote).
    expected.parent.mkdir()
    getattr(keras.applications, network)(include_top=False, weights=None).save(str(expected))
    model = getattr(cl.applications, network)(include_top=False, input_shape=(32, 32, 3))
    assert model.get_layer("block1_conv1").get_weights()[0].std() > 0


@pytest.mark.parametrize("kwargs, message", [
    ({"weights": "missing.h5"}, r"VGG16: `weights` must be None .* Received: weights='missing.h5'"),
    ({"classes": 10}, r"with weights='imagenet' and include_top=True, classes must be 1000"),
    ({"weights": None, "input_shape": (16, 16, 3), "include_top": False}, r"at least 32x32"),
    ({"input_shape": (64, 64, 3)}, r"input_shape must be \(224, 224, 3\)"),
])
@pytest.mark.parametrize("network", ["VGG16", "VGG19"])
def test_bad_arguments_are_refused_as_keras_refuses_them(kwargs, message, network):
    with pytest.raises(ValueError, match=message.replace("VGG16", network)):
        getattr(cl.applications, network)(**kwargs)
    with pytest.raises(ValueError):
        getattr(keras.applications, network)(**kwargs)


def test_an_unknown_pooling_is_refused_where_keras_ignores_it():
    """A deliberate difference: Keras builds the 4D feature output for pooling='min'; course_lib says no."""
    model = keras.applications.VGG16(include_top=False, weights=None, pooling="min", input_shape=(32, 32, 3))
    assert len(model.output.shape) == 4
    with pytest.raises(ValueError, match=r"pooling must be None, 'avg' or 'max'. Received: pooling='min'"):
        cl.applications.VGG16(include_top=False, weights=None, pooling="min", input_shape=(32, 32, 3))


def test_preprocess_input_matches_keras_and_leaves_its_input_alone():
    images = _images(seed=5)
    original = images.copy()
    ours = cl.applications.vgg16.preprocess_input(images)
    np.testing.assert_array_equal(images, original)
    theirs = keras.applications.vgg16.preprocess_input(images.copy())
    np.testing.assert_allclose(ours, theirs, rtol=1e-6)
    channels_first = images.transpose(0, 3, 1, 2)
    np.testing.assert_allclose(
        cl.applications.vgg16.preprocess_input(channels_first, data_format="channels_first"),
        keras.applications.vgg16.preprocess_input(channels_first.copy(), data_format="channels_first"), rtol=1e-6)
    # Keras changes a float input in place (an odd corner course_lib deliberately does not copy).
    mutated = images.copy()
    keras.applications.vgg16.preprocess_input(mutated)
    assert not np.array_equal(mutated, images)
    with pytest.raises(ValueError, match=r"preprocess_input: expected 3 color channels"):
        cl.applications.vgg16.preprocess_input(np.zeros((2, 8, 8, 4)))
    np.testing.assert_allclose(cl.applications.vgg19.preprocess_input(images),
                               keras.applications.vgg19.preprocess_input(images.copy()), rtol=1e-6)
