"""course_lib.applications' ResNets (ResNet50/101/152, ResNet50V2/101V2/152V2) without TensorFlow.

The errors name the network; weights='imagenet' reads Keras's file by its exact name from a temporary
KERAS_HOME (written here from a course_lib model, in the layout of Keras's published files) and says
where to put it when it is missing; the blocks have Keras's structure.
"""
import numpy as np
import pytest

import course_lib as cl
from course_lib.applications import resnet, resnet50, resnet_v2

from keras2_h5 import write_keras2_h5  # noqa: E402

NETWORKS = ["ResNet50", "ResNet101", "ResNet152", "ResNet50V2", "ResNet101V2", "ResNet152V2"]


def _build(network, **kwargs):
    return getattr(cl.applications, network)(**kwargs)


@pytest.mark.parametrize("network", NETWORKS)
@pytest.mark.parametrize("kwargs, message", [
    ({"weights": "nowhere.h5"}, r"`weights` must be None .* Received: weights='nowhere.h5'"),
    ({"classes": 5}, r"classes must be 1000. Received: classes=5"),
    ({"weights": None, "include_top": False, "input_shape": (31, 64, 3)}, r"at least 32x32"),
    ({"weights": None, "include_top": False, "pooling": "min"}, r"pooling must be None, 'avg' or 'max'"),
    ({"classifier_activation": "relu"}, r"only None and 'softmax' are allowed as classifier_activation"),
    ({"weights": None, "input_shape": (None, None, 3)}, r"with include_top=True the input_shape must be static"),
    ({"input_shape": (64, 64, 3)}, r"input_shape must be \(224, 224, 3\)"),
    ({"include_top": False, "input_shape": (64, 64, 1)}, r"ImageNet weights need 3 channels"),
    ({"weights": None, "input_tensor": np.zeros((1, 32, 32, 3))}, r"input_tensor must be a symbolic tensor"),
])
def test_errors_name_the_network(network, kwargs, message):
    with pytest.raises(ValueError, match=f"{network}: .*{message}"):
        _build(network, **kwargs)


def test_a_custom_builder_is_named_by_its_model_name():
    with pytest.raises(ValueError, match=r"ResNet\('tiny'\): pooling must be"):
        resnet.ResNet(lambda x: x, False, True, weights=None, pooling="min", name="tiny")


@pytest.mark.parametrize("network, include_top, expected", [
    ("ResNet50", True, "resnet50_weights_tf_dim_ordering_tf_kernels.h5"),
    ("ResNet101", False, "resnet101_weights_tf_dim_ordering_tf_kernels_notop.h5"),
    ("ResNet152", False, "resnet152_weights_tf_dim_ordering_tf_kernels_notop.h5"),
    ("ResNet50V2", False, "resnet50v2_weights_tf_dim_ordering_tf_kernels_notop.h5"),
    ("ResNet101V2", True, "resnet101v2_weights_tf_dim_ordering_tf_kernels.h5"),
    ("ResNet152V2", False, "resnet152v2_weights_tf_dim_ordering_tf_kernels_notop.h5"),
])
def test_imagenet_without_the_file_says_where_to_put_it(tmp_path, monkeypatch, network, include_top, expected):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    path = tmp_path / "models" / expected
    with pytest.raises(FileNotFoundError, match=f"{network}: weights='imagenet' needs Keras's file '{expected}' "
                                                f"and course_lib downloads nothing. Put it at {path}"):
        _build(network, include_top=include_top)


@pytest.mark.parametrize("network", ["ResNet50", "ResNet50V2"])
def test_imagenet_weights_come_from_keras_s_cache_folder(tmp_path, monkeypatch, network):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    file_name = f"{network.lower()}_weights_tf_dim_ordering_tf_kernels_notop.h5"
    source = _build(network, include_top=False, weights=None, input_shape=(32, 32, 3))
    (tmp_path / "models").mkdir()
    write_keras2_h5(source, tmp_path / "models" / file_name)
    loaded = _build(network, include_top=False, input_shape=(32, 32, 3), pooling="avg")
    for mine, theirs in zip(loaded.get_weights(), source.get_weights()):
        np.testing.assert_array_equal(mine, theirs)
    images = np.random.default_rng(0).uniform(-1, 1, (2, 32, 32, 3)).astype("float32")
    np.testing.assert_allclose(loaded.predict(images, verbose=0),
                               np.asarray(source.predict(images, verbose=0)).mean(axis=(1, 2)), rtol=1e-5, atol=1e-6)


def test_a_builder_without_a_weights_name_loads_nothing_for_imagenet(tmp_path, monkeypatch):
    """Keras's rule: ResNet(..., weights='imagenet') with no weights_name builds the network and loads nothing."""
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    model = resnet.ResNet(lambda x: resnet.stack_residual_blocks_v1(x, 8, 1, name="conv2"), False, True,
                          include_top=False, input_shape=(32, 32, 3), name="tiny")
    assert model.name == "tiny" and model.output_shape == (None, 4, 4, 32)  # stride1=2 by default


def _types(model):
    return {layer.name: type(layer).__name__ for layer in model.layers}


def test_resnet50_s_blocks():
    model = cl.applications.ResNet50(weights=None, input_shape=(64, 64, 3), include_top=False)
    names = _types(model)
    assert len(model.layers) == 175  # 177 with avg_pool and predictions
    assert names["conv1_pad"] == "ZeroPadding2D" and names["pool1_pool"] == "MaxPooling2D"
    assert [n for n in names if n.endswith("_0_conv")] == [f"conv{s}_block1_0_conv" for s in range(2, 6)]
    assert sum(name.endswith("_add") for name in names) == 16
    assert model.get_layer("conv3_block1_1_conv").strides == (2, 2)  # v1 halves at a stack's start
    assert model.get_layer("conv2_block1_1_conv").strides == (1, 1)
    bn = model.get_layer("conv2_block1_1_bn")
    assert (bn.axis, bn.epsilon) == (3, 1.001e-5)
    assert model.get_layer("conv2_block1_2_conv").padding == "same"
    assert model.output_shape == (None, 2, 2, 2048)


def test_resnet50v2_s_blocks():
    model = cl.applications.ResNet50V2(weights=None, input_shape=(64, 64, 3), include_top=False)
    names = _types(model)
    assert "conv1_bn" not in names and names["post_bn"] == "BatchNormalization"
    assert [n for n in names if n.endswith("_0_conv")] == [f"conv{s}_block1_0_conv" for s in range(2, 6)]
    assert sum(kind == "MaxPooling2D" for kind in names.values()) == 4  # pool1 and 3 unnamed 1x1 shortcuts
    assert model.get_layer("conv2_block3_2_conv").strides == (2, 2)  # v2 halves at a stack's end
    assert model.get_layer("conv5_block3_2_conv").strides == (1, 1)
    assert not model.get_layer("conv2_block1_1_conv").use_bias and model.get_layer("conv2_block1_3_conv").use_bias
    assert model.output_shape == (None, 2, 2, 2048)


def test_the_keras2_names_of_the_blocks():
    assert resnet.stack1 is resnet.stack_residual_blocks_v1 and resnet.block1 is resnet.residual_block_v1
    assert resnet.stack2 is resnet.stack_residual_blocks_v2 and resnet.block2 is resnet.residual_block_v2


def test_modules_and_names():
    assert resnet50.ResNet50 is resnet.ResNet50 is cl.applications.ResNet50
    assert resnet50.preprocess_input is resnet.preprocess_input
    assert cl.applications.ResNet101(weights=None, include_top=False, name="mine").name == "mine"
    for network in NETWORKS:
        assert network in cl.applications.__all__


def test_preprocess_input_modes():
    images = np.arange(2 * 2 * 2 * 3, dtype="float32").reshape(2, 2, 2, 3) * 10
    copy = images.copy()
    caffe = resnet.preprocess_input(images)
    np.testing.assert_allclose(caffe[..., 0], images[..., 2] - 103.939, rtol=1e-6)
    np.testing.assert_allclose(caffe[..., 2], images[..., 0] - 123.68, rtol=1e-6)
    np.testing.assert_allclose(resnet_v2.preprocess_input(images), images / 127.5 - 1, rtol=1e-6)
    np.testing.assert_array_equal(images, copy)


def test_decode_predictions_reads_the_class_index(tmp_path, monkeypatch):
    import json

    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "imagenet_class_index.json").write_text(
        json.dumps({str(i): [f"n{i:08d}", f"class_{i}"] for i in range(1000)}))
    scores = np.zeros((1, 1000), dtype="float32")
    scores[0, [7, 3]] = [0.6, 0.3]
    for module in (resnet, resnet_v2, resnet50):
        decoded = module.decode_predictions(scores, top=2)
        assert [entry[:2] for entry in decoded[0]] == [("n00000007", "class_7"), ("n00000003", "class_3")]
