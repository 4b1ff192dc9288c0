"""DenseNet121/169/201, Xception, InceptionV3, InceptionResNetV2: errors, shapes, ImageNet files, CustomScaleLayer."""
import numpy as np
import pytest

import course_lib as cl
from course_lib.applications import densenet, inception_resnet_v2, inception_v3, xception
from course_lib.applications.inception_resnet_v2 import CustomScaleLayer

from keras2_h5 import write_keras2_h5  # noqa: E402

SMALLEST = {"DenseNet121": 32, "DenseNet169": 32, "DenseNet201": 32, "Xception": 71, "InceptionV3": 75,
            "InceptionResNetV2": 75}
FILES = {"DenseNet121": "densenet121", "DenseNet169": "densenet169", "DenseNet201": "densenet201",
         "Xception": "xception", "InceptionV3": "inception_v3", "InceptionResNetV2": "inception_resnet_v2"}


@pytest.mark.parametrize("network", list(SMALLEST))
def test_each_network_is_reachable_and_builds_at_its_smallest_size(network):
    size = SMALLEST[network]
    model = getattr(cl.applications, network)(include_top=False, weights=None, input_shape=(size, size, 3))
    assert model.output_shape[0] is None and len(model.output_shape) == 4
    pooled = getattr(cl.applications, network)(include_top=False, weights=None, pooling="avg",
                                                input_shape=(size, size, 3))
    assert pooled.output_shape == (None, model.output_shape[-1])
    assert pooled.count_params() == model.count_params()


def test_densenet_parameter_counts_and_free_sizes():
    model = densenet.DenseNet121(weights=None)
    assert model.count_params() == 8_062_504 and model.name == "densenet121"
    assert model.output_shape == (None, 1000)
    assert densenet.DenseNet121(include_top=False, weights=None).count_params() == 7_037_504
    free = densenet.DenseNet121(include_top=False, weights=None, pooling="max")
    assert free.input_shape == (None, None, None, 3) and free.layers[-1].name == "max_pool"
    x = np.random.default_rng(0).normal(size=(2, 40, 48, 3)).astype("float32")
    assert free.predict(x, verbose=0).shape == (2, 1024)
    # The generic builder with other block counts (no ImageNet weights for it).
    small = densenet.DenseNet([1, 1, 1, 1], weights=None, input_shape=(32, 32, 3), classes=5)
    # 64 channels, then each dense block adds 32 and each transition halves: 96, 48, 80, 40, 72, 36, 68.
    assert small.get_layer("conv5_block1_concat").output.shape[-1] == 68
    with pytest.raises(ValueError, match=r"DenseNet: ImageNet weights exist only for the blocks of DenseNet121"):
        densenet.DenseNet([1, 1, 1, 1], include_top=False)
    with pytest.raises(ValueError, match=r"DenseNet: blocks must be four integers. Received: blocks=\[1, 2\]"):
        densenet.DenseNet([1, 2], weights=None)


@pytest.mark.parametrize("network, total", [("Xception", 22_910_480), ("InceptionV3", 23_851_784),
                                            ("InceptionResNetV2", 55_873_736)])
def test_the_inception_family_counts(network, total):
    model = getattr(cl.applications, network)(weights=None)
    assert model.count_params() == total
    assert model.input_shape == (None, 299, 299, 3)


@pytest.mark.parametrize("kwargs, message", [
    ({"weights": "missing.h5"}, r"NET: `weights` must be None .* Received: weights='missing.h5'"),
    ({"classes": 10}, r"NET: with weights='imagenet' and include_top=True, classes must be 1000. Received: classes=10"),
    ({"weights": None, "include_top": False, "input_shape": "too small"}, r"NET: the input must be at least"),
    ({"weights": None, "input_shape": (None, None, 3)}, r"NET: with include_top=True the input_shape must be static"),
    ({"input_shape": (96, 96, 3)}, r"NET: with include_top=True and weights='imagenet', input_shape must be"),
    ({"weights": None, "pooling": "min", "include_top": False}, r"NET: pooling must be None, 'avg' or 'max'"),
    ({"weights": "imagenet", "classifier_activation": "relu"}, r"NET: only None and 'softmax' are allowed"),
])
@pytest.mark.parametrize("network", list(SMALLEST))
def test_errors_name_the_network(kwargs, message, network):
    if kwargs.get("input_shape") == "too small":
        kwargs = dict(kwargs, input_shape=(SMALLEST[network] - 1, SMALLEST[network], 3))
    with pytest.raises(ValueError, match=message.replace("NET", network)):
        getattr(cl.applications, network)(**kwargs)


def test_densenet_refuses_channels_first():
    cl.config.set_image_data_format("channels_first")
    try:
        with pytest.raises(ValueError, match=r"DenseNet169: DenseNet does not support the 'channels_first'"):
            densenet.DenseNet169(weights=None)
    finally:
        cl.config.set_image_data_format("channels_last")


@pytest.mark.parametrize("network", list(SMALLEST))
def test_imagenet_without_the_file_says_where_to_put_it(tmp_path, monkeypatch, network):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    for include_top, suffix in ((False, "_notop"), (True, "")):
        expected = tmp_path / "models" / f"{FILES[network]}_weights_tf_dim_ordering_tf_kernels{suffix}.h5"
        with pytest.raises(FileNotFoundError, match=f"{network}: weights='imagenet' needs Keras's file "
                                                    f"'{expected.name}' .* Put it at {expected}"):
            getattr(cl.applications, network)(include_top=include_top)


def test_imagenet_loads_keras_s_file_name_from_a_temporary_keras_home(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    source = densenet.DenseNet121(include_top=False, weights=None, input_shape=(32, 32, 3))
    rng = np.random.default_rng(6)
    for layer in source.layers:  # new gammas, betas and moving statistics (the kernels keep their random start)
        layer.set_weights([w if w.ndim > 1 else rng.uniform(0.5, 1.5, w.shape).astype("float32")
                           for w in layer.get_weights()])
    (tmp_path / "models").mkdir()
    write_keras2_h5(source, tmp_path / "models" / "densenet121_weights_tf_dim_ordering_tf_kernels_notop.h5")
    loaded = densenet.DenseNet121(include_top=False, input_shape=(32, 32, 3))  # weights="imagenet"
    for mine, theirs in zip(loaded.get_weights(), source.get_weights()):
        np.testing.assert_array_equal(mine, theirs)
    x = densenet.preprocess_input(np.random.default_rng(1).uniform(0, 255, (2, 32, 32, 3)))
    np.testing.assert_allclose(loaded.predict(x, verbose=0), source.predict(x, verbose=0), rtol=1e-6)


def test_a_course_lib_weights_file_loads_by_path(tmp_path):
    source = xception.Xception(include_top=False, weights=None, input_shape=(71, 71, 3), pooling="avg")
    path = str(tmp_path / "x.weights.h5")
    source.save_weights(path)
    loaded = xception.Xception(include_top=False, weights=path, input_shape=(71, 71, 3), pooling="avg")
    for mine, theirs in zip(loaded.get_weights(), source.get_weights()):
        np.testing.assert_array_equal(mine, theirs)


def test_inception_v3_names_only_its_mixed_layers():
    model = inception_v3.InceptionV3(include_top=False, weights=None, input_shape=(75, 75, 3))
    names = [layer.name for layer in model.layers]
    assert [n for n in names if n.startswith("mixed")] == [
        "mixed0", "mixed1", "mixed2", "mixed3", "mixed4", "mixed5", "mixed6", "mixed7", "mixed8",
        "mixed9_0", "mixed9", "mixed9_1", "mixed10"]
    assert model.output_shape == (None, 1, 1, 2048)
    assert sum(isinstance(layer, cl.layers.BatchNormalization) and not layer.scale for layer in model.layers) == 94


def test_inception_resnet_v2_blocks_and_scales():
    model = inception_resnet_v2.InceptionResNetV2(include_top=False, weights=None, input_shape=(75, 75, 3))
    scales = [layer.scale for layer in model.layers if isinstance(layer, CustomScaleLayer)]
    assert scales == [0.17] * 10 + [0.1] * 20 + [0.2] * 9 + [1.0]
    assert "block8_10_ac" not in [layer.name for layer in model.layers]  # the last block has no ReLU
    assert model.output_shape == (None, 1, 1, 1536)
    with pytest.raises(ValueError, match=r"inception_resnet_block: block_type must be .* Received: block_type='b9'"):
        inception_resnet_v2.inception_resnet_block(cl.Input((8, 8, 32)), 0.1, "b9", 1)


def test_custom_scale_layer_forward_config_and_errors():
    rng = np.random.default_rng(2)
    a, b = rng.normal(size=(2, 3, 3, 4)).astype("float32"), rng.normal(size=(2, 3, 3, 4)).astype("float32")
    layer = CustomScaleLayer(0.17, name="scale")
    out = layer([a, b])
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, a + b * 0.17, rtol=1e-7)
    assert layer.get_config() == {"name": "scale", "trainable": True, "dtype": layer.get_config()["dtype"],
                                  "scale": 0.17}
    again = CustomScaleLayer.from_config(layer.get_config())
    np.testing.assert_array_equal(again([a, b]), out)
    entry = cl.layers.serialize(layer)
    # Keras's module for it, found again without custom_objects
    assert (entry["module"], entry["class_name"], entry["registered_name"]) == (
        "keras.src.applications.inception_resnet_v2", "CustomScaleLayer", "CustomScaleLayer")
    rebuilt = cl.layers.deserialize(entry)
    assert type(rebuilt) is CustomScaleLayer and rebuilt.scale == 0.17
    with pytest.raises(TypeError, match=r"CustomScaleLayer: scale must be a number. Received: scale='big'"):
        CustomScaleLayer("big")
    with pytest.raises(ValueError, match=r"CustomScaleLayer 'scale' expects a list of two inputs"):
        layer(a)


def test_custom_scale_layer_gradients_in_float64():
    rng = np.random.default_rng(3)
    with cl.backend.floatx_scope("float64"):
        layer = CustomScaleLayer(0.2)
        inputs = [rng.normal(size=(2, 3, 3, 4)), rng.normal(size=(2, 3, 3, 4))]
        report = cl.testing.assert_gradients_close(layer, inputs, tolerance=1e-6)
    assert report.passed


def test_an_inception_resnet_block_backpropagates_in_float64():
    rng = np.random.default_rng(4)
    with cl.backend.floatx_scope("float64"):
        inputs = cl.Input((5, 5, 16))
        outputs = inception_resnet_v2.inception_resnet_block(inputs, 0.17, "block35", 1)
        model = cl.Model(inputs, outputs)
        for layer in model.layers:  # nonzero, smooth weights: the ReLUs away from their kink
            layer.set_weights([rng.normal(scale=0.3, size=w.shape) if w.ndim > 1 else np.abs(rng.normal(size=w.shape))
                               + 0.5 for w in layer.get_weights()])
        cl.testing.assert_gradients_close(model, rng.normal(size=(2, 5, 5, 16)), tolerance=1e-6, max_entries=16,
                                        epsilon=1e-5)


@pytest.mark.parametrize("module, mode", [(densenet, "torch"), (xception, "tf"), (inception_v3, "tf"),
                                          (inception_resnet_v2, "tf")])
def test_preprocess_input_and_decode_predictions(module, mode):
    images = np.random.default_rng(5).uniform(0, 255, (2, 4, 4, 3)).astype("float32")
    np.testing.assert_array_equal(module.preprocess_input(images),
                                  cl.applications.imagenet_utils.preprocess_input(images, mode=mode))
    if mode == "tf":
        np.testing.assert_allclose(module.preprocess_input(images), images / 127.5 - 1, rtol=1e-6)
    assert module.decode_predictions is cl.applications.imagenet_utils.decode_predictions
