"""course_lib.applications' NASNetMobile and NASNetLarge against keras.applications'.

Built in the same test, nothing downloaded: Keras's models are randomly initialised (weights=None),
their BatchNormalization statistics redrawn so that they matter, and the weight files are the ones
Keras writes here. At 32x32 (batch 2) predictions agree to about 1e-6 of the largest output; the
tolerances are those of the other applications (rtol 1e-4, atol 1e-5 of the largest value). One
SGD step is compared in float64, as for MobileNet (why: see that test).
"""
import numpy as np
import pytest

import course_lib as cl

tf = pytest.importorskip("tensorflow")
keras = tf.keras

from applications_checks import (  # noqa: E402  (it imports tensorflow)
    assert_close, layer_table, pair, randomize_batch_norms, trainable_count,
)

pytestmark = [pytest.mark.parity, pytest.mark.slow]

SMALL = dict(weights=None, input_shape=(32, 32, 3))


def _inputs(seed=0, count=2, size=32):
    images = np.random.default_rng(seed).uniform(0, 255, (count, size, size, 3)).astype("float32")
    return cl.applications.nasnet.preprocess_input(images)


def _pair(network="NASNetMobile", **kwargs):
    keras.backend.clear_session()
    cl.backend.clear_session()  # the automatic names count from zero on both sides
    return pair(network, **kwargs)


def test_nasnet_mobile_has_keras_s_layers_configs_and_parameter_counts():
    keras.backend.clear_session()
    cl.backend.clear_session()  # the automatic names (activation_37, add_3, zero_padding2d ...) count from zero
    ours, theirs = cl.applications.NASNetMobile(weights=None), keras.applications.NASNetMobile(weights=None)
    assert ours.count_params() == theirs.count_params() == 5_326_716
    assert trainable_count(ours) == trainable_count(theirs)
    assert ours.name == theirs.name == "nasnet_mobile"
    assert layer_table(ours) == layer_table(theirs)
    keras_layers = {layer.name: layer for layer in theirs.layers}
    for layer in ours.layers[1:]:
        assert layer.get_config() == keras_layers[layer.name].get_config(), layer.name
    without = (cl.applications.NASNetMobile(include_top=False, weights=None),
               keras.applications.NASNetMobile(include_top=False, weights=None))
    assert without[0].input_shape == without[1].input_shape == (None, 224, 224, 3)  # Keras's default without top
    assert without[0].count_params() == without[1].count_params()


def test_nasnet_large_skips_the_reductions_output_as_keras_does():
    """Six cells a stack and skip_reduction: built at 32x32 without the top (85 M parameters), with predictions."""
    ours, theirs = _pair("NASNetLarge", include_top=False, pooling="avg", **SMALL)
    assert ours.count_params() == theirs.count_params()
    assert layer_table(ours) == layer_table(theirs)
    x = _inputs(seed=6, count=1)
    assert_close(ours.predict(x, verbose=0), theirs.predict(x, verbose=0))


@pytest.mark.parametrize("pooling", [None, "avg", "max"])
def test_predictions_without_the_top_match_keras(pooling):
    ours, theirs = _pair(include_top=False, pooling=pooling, **SMALL)
    x = _inputs(seed=1)
    mine, expected = ours.predict(x, verbose=0), theirs.predict(x, verbose=0)
    assert mine.shape == expected.shape
    assert_close(mine, expected)


def test_predictions_with_the_top_and_the_builder_s_own_options_match_keras():
    ours, theirs = _pair(classes=10, **SMALL)
    assert_close(ours.predict(_inputs(seed=2), verbose=0), theirs.predict(_inputs(seed=2), verbose=0))
    options = dict(SMALL, penultimate_filters=192, num_blocks=1, stem_block_filters=16, skip_reduction=True,
                   filter_multiplier=2, classes=4, default_size=64, name="tiny")
    from keras.src.applications import nasnet as keras_nasnet

    keras.backend.clear_session()
    cl.backend.clear_session()
    theirs = keras_nasnet.NASNet(**options)
    randomize_batch_norms(theirs)
    ours = cl.applications.nasnet.NASNet(**options)
    assert layer_table(ours) == layer_table(theirs)
    cl.testing.copy_weights(theirs, ours)
    assert_close(ours.predict(_inputs(seed=3), verbose=0), theirs.predict(_inputs(seed=3), verbose=0))


def test_the_bridge_rebuilds_keras_s_model():
    keras.backend.clear_session()
    theirs = keras.applications.NASNetMobile(include_top=False, **SMALL)
    randomize_batch_norms(theirs)
    rebuilt = cl.testing.from_keras(theirs)
    assert layer_table(rebuilt) == layer_table(theirs)
    assert_close(rebuilt.predict(_inputs(seed=4), verbose=0), theirs.predict(_inputs(seed=4), verbose=0))


def test_keras_files_go_both_ways(tmp_path):
    ours, theirs = _pair(classes=10, **SMALL)
    x = _inputs(seed=7)
    expected = theirs.predict(x, verbose=0)
    theirs.save(tmp_path / "keras_s.keras")
    loaded = cl.models.load_model(tmp_path / "keras_s.keras")
    assert layer_table(loaded) == layer_table(theirs)
    assert_close(loaded.predict(x, verbose=0), expected)
    ours.save(tmp_path / "ours.keras")
    back = keras.models.load_model(tmp_path / "ours.keras")
    assert layer_table(back) == layer_table(theirs)
    assert_close(back.predict(x, verbose=0), expected)


def test_weights_files_go_both_ways(tmp_path):
    theirs = keras.applications.NASNetMobile(include_top=False, **SMALL)
    randomize_batch_norms(theirs)
    x = _inputs(seed=5)
    expected = theirs.predict(x, verbose=0)
    for suffix in (".weights.h5", ".h5"):  # .h5: Keras 2's format, that of the published ImageNet files
        path = str(tmp_path / f"keras{suffix}")
        theirs.save(path) if suffix == ".h5" else theirs.save_weights(path)
        ours = cl.applications.NASNetMobile(include_top=False, weights=path, input_shape=(32, 32, 3))
        assert_close(ours.predict(x, verbose=0), expected)
    ours.save_weights(tmp_path / "ours.weights.h5")
    back = keras.applications.NASNetMobile(include_top=False, weights=str(tmp_path / "ours.weights.h5"),
                                           input_shape=(32, 32, 3))
    assert_close(back.predict(x, verbose=0), expected)


def test_one_sgd_step_gives_keras_s_weights(float64_in_both):
    """Training mode through every cell: batch statistics, moving averages, the adjust paths' backward."""
    keras.utils.set_random_seed(1)
    ours, theirs = _pair(classes=3, **SMALL)
    x = _inputs(seed=8, count=4).astype("float64")
    y = np.eye(3)[[0, 1, 2, 1]]
    before = theirs.get_weights()
    theirs.compile(optimizer=keras.optimizers.SGD(0.01), loss="categorical_crossentropy")
    ours.compile(optimizer=cl.optimizers.SGD(0.01), loss="categorical_crossentropy")
    expected = theirs.fit(x, y, batch_size=4, epochs=1, shuffle=False, verbose=0).history["loss"]
    received = ours.fit(x, y, batch_size=4, epochs=1, shuffle=False, verbose=0).history["loss"]
    np.testing.assert_allclose(received, expected, rtol=1e-8)
    for mine, theirs_now, start, variable in zip(ours.get_weights(), theirs.get_weights(), before, theirs.weights,
                                                 strict=True):
        assert mine.dtype == theirs_now.dtype == np.float64, variable.path
        update = float(np.max(np.abs(theirs_now - start)))
        np.testing.assert_allclose(mine, theirs_now, rtol=0, atol=1e-6 * update + 1e-12, err_msg=variable.path)


@pytest.mark.parametrize("network, kwargs, message", [
    ("NASNetMobile", {"weights": "missing.h5"}, r"`weights` must be None"),
    ("NASNetMobile", {"classes": 10}, r"classes must be 1000"),
    ("NASNetLarge", {"input_shape": (64, 64, 3)}, r"input_shape must be \(331, 331, 3\)"),
    ("NASNetMobile", {"include_top": False, "input_shape": (None, None, 3)}, r"must be static \(no None\)"),
    ("NASNetMobile", {"weights": None, "include_top": False, "input_shape": (16, 40, 3)}, r"at least 32x32"),
    ("NASNetMobile", {"weights": None, "input_shape": (None, None, 3)}, r"must be static"),
])
def test_bad_arguments_are_refused_as_keras_refuses_them(network, kwargs, message):
    with pytest.raises(ValueError):
        getattr(keras.applications, network)(**kwargs)
    with pytest.raises(ValueError, match=f"{network}: .*{message}"):
        getattr(cl.applications, network)(**kwargs)


def test_the_builder_s_own_checks_match_keras():
    from keras.src.applications import nasnet as keras_nasnet

    for options, message in (({"penultimate_filters": 100}, "multiple of 24 \\* filter_multiplier\\*\\*2 = 96"),
                             ({"default_size": 64, "input_shape": (64, 64, 3)}, "NASNetMobile \\(224\\)")):
        with pytest.raises(ValueError):
            keras_nasnet.NASNet(**options)
        with pytest.raises(ValueError, match=f"NASNet: .*{message}"):
            cl.applications.nasnet.NASNet(**options)
    try:
        cl.config.set_image_data_format("channels_first")
        keras.config.set_image_data_format("channels_first")
        with pytest.raises(ValueError, match="channels_last"):
            keras.applications.NASNetMobile(weights=None)
        with pytest.raises(ValueError, match="NASNetMobile: the network exists for channels_last images only"):
            cl.applications.NASNetMobile(weights=None)
    finally:
        cl.config.set_image_data_format("channels_last")
        keras.config.set_image_data_format("channels_last")
