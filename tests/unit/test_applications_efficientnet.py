"""course_lib.applications.efficientnet and efficientnet_v2: arguments, errors and weights from Keras's cache folder.

(Layer-by-layer equality with keras.applications is in tests/parity/test_applications_efficientnet_parity.py.)
"""
import numpy as np
import pytest

import course_lib as cl
from course_lib.applications import efficientnet, efficientnet_v2

from keras2_h5 import write_keras2_h5  # noqa: E402

SMALL = (32, 32, 3)


def test_the_networks_are_reachable_where_keras_has_them():
    for name in ("EfficientNetB0", "EfficientNetB7"):
        assert getattr(cl.applications, name) is getattr(efficientnet, name)
    for name in ("EfficientNetV2B0", "EfficientNetV2S", "EfficientNetV2M", "EfficientNetV2L"):
        assert getattr(cl.applications, name) is getattr(efficientnet_v2, name)
    assert cl.applications.efficientnet.preprocess_input is efficientnet.preprocess_input


def test_b0_s_structure():
    model = efficientnet.EfficientNetB0(weights=None, input_shape=SMALL, classes=10)
    assert model.name == "efficientnetb0"
    assert [type(l).__name__ for l in model.layers[:5]] == [
        "InputLayer", "Rescaling", "Normalization", "ZeroPadding2D", "Conv2D"]
    assert model.output_shape == (None, 10)
    norm = model.layers[2]
    assert [w.name for w in norm.weights] == ["mean", "variance", "count"]
    assert sum(l.name.endswith("_drop") for l in model.layers) == 9  # residual blocks after the first
    drop = model.get_layer("block7a_project_bn")  # the last block changes width: no residual
    assert drop is not None and "block7a_add" not in [l.name for l in model.layers]
    assert model.get_layer("block6d_drop").noise_shape == (None, 1, 1, 1)
    assert isinstance(model.get_layer("block2a_dwconv"), cl.layers.DepthwiseConv2D)
    assert model.get_layer("block2a_dwconv").padding == "valid"  # padded by block2a_dwconv_pad
    assert model.get_layer("top_dropout").rate == 0.2


def test_v2_structure_and_preprocessing_branches():
    b0 = efficientnet_v2.EfficientNetV2B0(weights=None, input_shape=SMALL, include_top=False)
    assert [type(l).__name__ for l in b0.layers[:4]] == ["InputLayer", "Rescaling", "Normalization", "Conv2D"]
    assert not b0.layers[2].weights  # mean and variance given: no weights
    assert "block1a_project_activation" in [l.name for l in b0.layers]  # Fused-MBConv without expansion
    assert "block4a_dwconv2" in [l.name for l in b0.layers]
    s = efficientnet_v2.EfficientNetV2S(weights=None, input_shape=SMALL, include_top=False)
    rescaling = s.layers[1]
    assert type(rescaling).__name__ == "Rescaling" and type(s.layers[2]).__name__ == "Conv2D"
    assert rescaling.scale == 1.0 / 128.0 and rescaling.offset == -1
    bare = efficientnet_v2.EfficientNetV2B0(weights=None, input_shape=SMALL, include_top=False,
                                            include_preprocessing=False)
    assert type(bare.layers[1]).__name__ == "Conv2D"
    assert b0.count_params() == bare.count_params()


def test_rounding():
    assert efficientnet.round_filters(32, 1.0) == 32
    assert efficientnet.round_filters(1280, 2.0) == 2560
    assert efficientnet.round_filters(16, 1.1) == 16  # 17.6 rounds to 16, within 10%
    assert efficientnet.round_filters(40, 1.4) == 56
    assert efficientnet.round_repeats(1, 3.1) == 4
    assert efficientnet_v2.round_filters(24, 1.0, 8, 8) == 24
    assert efficientnet_v2.round_filters(2, 1.0, 8, 8) == 8  # never below min_depth


def test_predicting_and_training_run():
    model = efficientnet.EfficientNetB0(weights=None, input_shape=SMALL, classes=3)
    x = np.random.default_rng(0).uniform(0, 255, (2, 32, 32, 3)).astype("float32")
    probabilities = model.predict(x, verbose=0)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    history = model.fit(x, np.array([0, 2]), epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])


@pytest.mark.parametrize("network, builder", [
    ("EfficientNetB0", efficientnet.EfficientNetB0), ("EfficientNetV2B0", efficientnet_v2.EfficientNetV2B0),
    ("EfficientNetV2L", efficientnet_v2.EfficientNetV2L)])
@pytest.mark.parametrize("kwargs, message", [
    ({"weights": "missing.h5"}, r"`weights` must be None .* Received: weights='missing.h5'"),
    ({"classes": 10}, r"with weights='imagenet' and include_top=True, classes must be 1000. Received: classes=10"),
    ({"weights": None, "input_shape": (16, 16, 3), "include_top": False}, r"the input must be at least 32x32"),
    ({"input_shape": (64, 64, 3)}, r"with include_top=True and weights='imagenet', input_shape must be"),
    ({"weights": None, "input_shape": (None, None, 3)}, r"with include_top=True the input_shape must be static"),
    ({"weights": None, "include_top": False, "pooling": "min"}, r"pooling must be None, 'avg' or 'max'"),
    ({"classifier_activation": "relu"}, r"only None and 'softmax' are allowed as classifier_activation"),
])
def test_errors_name_the_network(network, builder, kwargs, message):
    with pytest.raises(ValueError, match=f"{network}: {message}"):
        builder(**kwargs)


def test_a_stage_without_blocks_is_refused():
    stages = [dict(efficientnet.DEFAULT_BLOCKS_ARGS[0], repeats=0)]
    with pytest.raises(ValueError, match=r"EfficientNetB0: the number of repeats .* Received: repeats=0"):
        efficientnet.EfficientNet(1.0, 1.0, 224, blocks_args=stages, weights=None, include_top=False,
                                  weights_name="b0")
    with pytest.raises(ValueError, match=r"EfficientNetV2\('mine'\): blocks_args='default' needs one of"):
        efficientnet_v2.EfficientNetV2(1.0, 1.0, 224, name="mine", weights=None)


def test_a_custom_name_keeps_the_variant_s_blocks():
    """Keras looks the V2 stages up by the model's name (a custom name is a KeyError there); course_lib by variant."""
    model = efficientnet_v2.EfficientNetV2B0(weights=None, input_shape=SMALL, include_top=False, name="mine")
    assert model.name == "mine"
    reference = efficientnet_v2.EfficientNetV2B0(weights=None, input_shape=SMALL, include_top=False)
    assert model.count_params() == reference.count_params()


@pytest.mark.parametrize("builder, file_name, first_conv", [
    (efficientnet.EfficientNetB0, "efficientnetb0_notop.h5", "stem_conv"),
    (efficientnet_v2.EfficientNetV2B0, "efficientnetv2-b0_notop.h5", "stem_conv"),
    (efficientnet_v2.EfficientNetV2S, "efficientnetv2-s_notop.h5", "stem_conv"),
])
def test_imagenet_weights_come_from_keras_s_cache_folder_by_keras_s_file_name(tmp_path, monkeypatch, builder,
                                                                              file_name, first_conv):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    expected = tmp_path / "models" / file_name
    with pytest.raises(FileNotFoundError, match=f"course_lib downloads nothing. Put it at {expected}"):
        builder(include_top=False, input_shape=SMALL)
    source = builder(include_top=False, weights=None, input_shape=SMALL)
    rng = np.random.default_rng(1)
    source.set_weights([rng.normal(size=w.shape).astype(w.dtype) if w.dtype.kind == "f" else w
                        for w in source.get_weights()])
    expected.parent.mkdir()
    write_keras2_h5(source, str(expected))
    loaded = builder(include_top=False, input_shape=SMALL)
    np.testing.assert_array_equal(loaded.get_layer(first_conv).get_weights()[0],
                                  source.get_layer(first_conv).get_weights()[0])


def test_b0_with_imagenet_weights_adds_keras_s_sqrt_std_correction(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    (tmp_path / "models").mkdir()
    source = efficientnet.EfficientNetB0(weights=None)
    write_keras2_h5(source, str(tmp_path / "models" / "efficientnetb0.h5"))
    model = efficientnet.EfficientNetB0()
    correction = model.layers[3]
    assert type(correction).__name__ == "Rescaling"
    np.testing.assert_allclose(correction.scale, [1 / np.sqrt(s) for s in efficientnet.IMAGENET_STDDEV_RGB])
    assert model.count_params() == source.count_params()
    with pytest.raises(FileNotFoundError, match="efficientnetb1.h5"):
        efficientnet.EfficientNetB1()


def test_a_weights_file_round_trips(tmp_path):
    source = efficientnet_v2.EfficientNetV2B0(weights=None, input_shape=SMALL, include_top=False, pooling="avg")
    path = str(tmp_path / "v2.weights.h5")
    source.save_weights(path)
    loaded = efficientnet_v2.EfficientNetV2B0(weights=path, input_shape=SMALL, include_top=False, pooling="avg")
    x = np.random.default_rng(2).uniform(0, 255, (2, 32, 32, 3)).astype("float32")
    np.testing.assert_allclose(loaded.predict(x, verbose=0), source.predict(x, verbose=0), rtol=1e-6)


def test_preprocess_input_passes_its_input_through():
    x = np.arange(12.0).reshape(1, 2, 2, 3)
    assert efficientnet.preprocess_input(x) is x
    assert efficientnet_v2.preprocess_input(x, data_format="channels_last") is x
    assert efficientnet.decode_predictions is cl.applications.imagenet_utils.decode_predictions
