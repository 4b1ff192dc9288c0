"""course_lib.applications.convnext on its own: LayerScale and StochasticDepth (forward, backward in float64,
StochasticDepth's drops counted, written with Keras's module and read back), the residual sums as operations,
the networks' errors, and weights='imagenet' read from a temporary KERAS_HOME."""
import numpy as np
import pytest

import course_lib as cl
from course_lib.applications import convnext

from keras2_h5 import write_keras2_h5  # noqa: E402

SMALL = (32, 32, 3)


@pytest.fixture(scope="module")
def tiny():
    """ConvNeXtTiny without the top at 32x32, built once."""
    cl.backend.clear_session()
    return convnext.ConvNeXtTiny(include_top=False, weights=None, input_shape=SMALL)


def test_layer_scale_multiplies_each_channel_and_its_backward_passes_the_gradient_check():
    with cl.backend.floatx_scope("float64"):
        layer = convnext.LayerScale(0.5, 4)
        x = np.random.default_rng(0).normal(size=(2, 3, 3, 4))
        np.testing.assert_allclose(np.asarray(layer(x)), 0.5 * x)
        layer.gamma.assign(np.array([0.5, -1.0, 2.0, 3.0]))
        np.testing.assert_allclose(np.asarray(layer(x)), x * np.array([0.5, -1.0, 2.0, 3.0]))
        report = cl.testing.assert_gradients_close(layer, x, tolerance=1e-6)
        assert report.passed
    assert [w.name for w in layer.weights] == ["variable"] and layer.weights[0].trainable
    assert layer.get_config()["init_values"] == 0.5 and layer.get_config()["projection_dim"] == 4


def test_layer_scale_refuses_a_wrong_projection_dim():
    with pytest.raises(ValueError, match=r"LayerScale: projection_dim must be a positive int. Received: "):
        convnext.LayerScale(1e-6, 0)
    with pytest.raises(ValueError, match=r"LayerScale 'ls': the last axis of the input must have projection_dim=4"):
        convnext.LayerScale(1e-6, 4, name="ls")(np.zeros((2, 3), dtype="float32"))


def test_stochastic_depth_is_the_identity_at_inference():
    x = np.random.default_rng(1).normal(size=(4, 2, 2, 3)).astype("float32")
    np.testing.assert_array_equal(np.asarray(convnext.StochasticDepth(0.5)(x)), x)
    with pytest.raises(ValueError, match=r"StochasticDepth: drop_path_rate must be a float in \[0, 1\)"):
        convnext.StochasticDepth(1.5)


def test_stochastic_depth_drops_whole_samples_at_its_rate_while_training():
    """Each sample is all zeros or all x / keep; over 20,000 samples the dropped fraction is the rate."""
    cl.backend.set_seed(0)
    rate, count = 0.3, 20_000
    x = np.ones((count, 2, 3), dtype="float32")
    y = np.asarray(convnext.StochasticDepth(rate)(x, training=True))
    per_sample = y.reshape(count, -1)
    assert np.all(per_sample.min(axis=1) == per_sample.max(axis=1))  # one draw per sample
    np.testing.assert_allclose(np.unique(per_sample), [0.0, 1 / (1 - rate)], rtol=1e-6)
    dropped = float(np.mean(per_sample[:, 0] == 0))
    assert abs(dropped - rate) < 4 * np.sqrt(rate * (1 - rate) / count)  # four standard errors
    np.testing.assert_allclose(y.mean(), 1.0, atol=0.02)  # the expectation is kept


def test_stochastic_depth_backward_uses_the_forward_s_drops():
    with cl.backend.floatx_scope("float64"):
        layer = convnext.StochasticDepth(0.4)
        x = np.random.default_rng(2).normal(size=(6, 3))

        def reseed():
            cl.backend.set_seed(7)

        report = cl.testing.assert_gradients_close(layer, x, training=True, before_forward=reseed, tolerance=1e-6)
        assert report.passed


def test_the_network_is_keras_s_shape(tiny):
    assert tiny.name == "convnext_tiny"
    assert tiny.output_shape == (None, 1, 1, 768)
    assert tiny.count_params() == convnext.count_params("tiny", include_top=False) == 27_820_128
    assert [layer.name for layer in tiny.layers[:3]] == ["input_layer", "convnext_tiny_prestem_normalization",
                                                        "convnext_tiny_stem"]
    out = tiny.predict(np.random.default_rng(3).uniform(0, 255, (2,) + SMALL).astype("float32"), verbose=0)
    assert out.shape == (2, 1, 1, 768) and np.all(np.isfinite(out))


@pytest.mark.parametrize("network", ["ConvNeXtTiny", "ConvNeXtSmall", "ConvNeXtBase", "ConvNeXtLarge",
                                     "ConvNeXtXLarge"])
@pytest.mark.parametrize("kwargs, message", [
    ({"weights": "missing.h5"}, r"`weights` must be None .* Received: weights='missing.h5'"),
    ({"classes": 10}, r"with weights='imagenet' and include_top=True, classes must be 1000. Received: classes=10"),
    ({"weights": None, "include_top": False, "input_shape": (16, 16, 3)}, r"the input must be at least 32x32"),
    ({"input_shape": (64, 64, 3)}, r"with include_top=True and weights='imagenet', input_shape must be \(224, 224, 3\)"),
    ({"weights": None, "input_shape": (None, None, 3)}, r"with include_top=True the input_shape must be static"),
    ({"include_top": False, "pooling": "min"}, r"pooling must be None, 'avg' or 'max'. Received: pooling='min'"),
    ({"classifier_activation": "relu"}, r"only None and 'softmax' are allowed as classifier_activation"),
])
def test_bad_arguments_are_refused_with_the_network_s_name(network, kwargs, message):
    with pytest.raises(ValueError, match=f"{network}: {message}"):
        getattr(cl.applications, network)(**kwargs)


def test_channels_first_is_refused():
    cl.config.set_image_data_format("channels_first")
    try:
        with pytest.raises(ValueError, match=r"ConvNeXtTiny: ConvNeXt does not support the 'channels_first'"):
            cl.applications.ConvNeXtTiny(weights=None)
    finally:
        cl.config.set_image_data_format("channels_last")


def test_imagenet_reads_keras_s_file_from_keras_home(tmp_path, monkeypatch, tiny):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    expected = tmp_path / "models" / "convnext_tiny_notop.h5"
    with pytest.raises(FileNotFoundError, match=f"ConvNeXtTiny: weights='imagenet' needs Keras's file "
                                                f"'convnext_tiny_notop.h5'.*Put it at {expected}"):
        cl.applications.ConvNeXtTiny(include_top=False, input_shape=SMALL)
    with pytest.raises(FileNotFoundError, match="'convnext_tiny.h5'"):
        cl.applications.ConvNeXtTiny()
    expected.parent.mkdir()
    rng = np.random.default_rng(4)
    tiny.set_weights([rng.normal(size=w.shape).astype("float32") for w in tiny.get_weights()])
    write_keras2_h5(tiny, expected)
    loaded = cl.applications.ConvNeXtTiny(include_top=False, input_shape=SMALL)
    for mine, written in zip(loaded.get_weights(), tiny.get_weights()):
        np.testing.assert_array_equal(mine, written)
    x = rng.uniform(0, 255, (2,) + SMALL).astype("float32")
    np.testing.assert_allclose(loaded.predict(x, verbose=0), tiny.predict(x, verbose=0), rtol=1e-6, atol=1e-6)


def test_imagenet_needs_the_variant_s_name():
    with pytest.raises(ValueError, match=r"ConvNeXtSmall: with weights='imagenet' the model name must contain "
                                         r"the variant 'convnext_small' .*Received: name='mine'"):
        cl.applications.ConvNeXtSmall(include_top=False, input_shape=SMALL, name="mine")


def test_a_course_lib_weights_file_round_trips(tmp_path, tiny):
    path = str(tmp_path / "tiny.weights.h5")
    tiny.save_weights(path)
    cl.backend.clear_session()
    again = cl.applications.ConvNeXtTiny(include_top=False, input_shape=SMALL, weights=path)
    for mine, saved in zip(again.get_weights(), tiny.get_weights()):
        np.testing.assert_array_equal(mine, saved)


def test_the_residual_sums_are_operations_not_layers(tiny):
    sums = [op for op in tiny.operations if type(op).__name__ == "Add"]
    assert [op.name for op in sums] == ["add"] + [f"add_{k}" for k in range(1, 18)]  # 3 + 3 + 9 + 3 blocks
    assert all(op not in tiny.layers for op in sums)
    assert len(tiny.layers) == 133 and len(tiny.operations) == 133 + 18  # Keras's counts
    assert "add" not in [layer.name for layer in tiny.layers]


@pytest.mark.parametrize("layer", [convnext.LayerScale(0.25, 4, name="scale"),
                                   convnext.StochasticDepth(0.3, name="drop")])
def test_the_block_layers_are_written_with_keras_s_module_and_read_back_without_custom_objects(layer):
    entry = cl.layers.serialize(layer)
    name = type(layer).__name__
    assert (entry["module"], entry["class_name"], entry["registered_name"]) == (
        "keras.src.applications.convnext", name, name)
    again = cl.layers.deserialize(entry)
    assert type(again) is type(layer) and again.get_config() == layer.get_config()


def test_a_subclass_of_a_block_layer_is_written_with_its_own_module():
    class MyScale(convnext.LayerScale):
        pass

    entry = cl.layers.serialize(MyScale(0.5, 2))
    assert entry["module"] == __name__ and entry["class_name"] == "MyScale"
    with pytest.raises(ValueError, match=r"layers.deserialize: unknown layer class 'MyScale'"):
        cl.layers.deserialize(entry)
    assert type(cl.layers.deserialize(entry, custom_objects={"MyScale": MyScale})) is MyScale


@pytest.mark.parametrize("module, class_name", [
    ("keras.src.applications.convnext", "Normalization"),  # imported there, not the application's own layer
    ("keras.src.applications.convnext", "ConvNeXtBlock"),  # a function, not a layer
    ("keras.src.applications.no_such_network", "LayerScale"),
    ("keras.src.applications.inception_resnet_v2", "LayerScale"),  # another application's
])
def test_only_an_application_s_own_layers_are_found_by_keras_s_module(module, class_name):
    entry = {"module": module, "class_name": class_name, "registered_name": class_name, "config": {"name": "x"}}
    if class_name == "Normalization":  # a built-in: found by its class name, as Keras finds it
        assert type(cl.layers.deserialize(entry)) is cl.layers.Normalization
        return
    with pytest.raises(ValueError, match=f"layers.deserialize: unknown layer class '{class_name}'"):
        cl.layers.deserialize(entry)


def test_a_model_with_stochastic_depth_round_trips_through_a_keras_file(tmp_path):
    cl.backend.clear_session()
    model = convnext.ConvNeXt(depths=[1, 1, 1, 1], projection_dims=[8, 16, 24, 32], drop_path_rate=0.2,
                              include_top=False, weights=None, input_shape=SMALL, name="convnext_sd")
    path = str(tmp_path / "sd.keras")
    model.save(path)
    loaded = cl.models.load_model(path)
    assert [type(layer) for layer in loaded.layers] == [type(layer) for layer in model.layers]
    assert [op.name for op in loaded.operations] == [op.name for op in model.operations]
    x = np.random.default_rng(4).uniform(0, 255, (2,) + SMALL).astype("float32")
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-6, atol=1e-6)


def test_count_params_refuses_an_unknown_variant():
    with pytest.raises(ValueError, match=r"count_params: variant must be one of .*Received: 'huge'"):
        convnext.count_params("huge")
    assert convnext.count_params("xlarge") == 350_196_968
