"""course_lib.applications.MobileNet / MobileNetV2 / MobileNetV3Small / MobileNetV3Large without TensorFlow.

The errors name the network; weights='imagenet' reads Keras's file by its exact name from a temporary
KERAS_HOME (written here by a course_lib model) and says where to put it when it is missing; V3's hard
sigmoid is two operations (+ 3 and * 1/6, in model.operations, not model.layers) with exact gradients.
"""
import numpy as np
import pytest

import course_lib as cl
from course_lib.applications import mobilenet, mobilenet_v2, mobilenet_v3

from keras2_h5 import write_keras2_h5  # noqa: E402

NETWORKS = ["MobileNet", "MobileNetV2", "MobileNetV3Small", "MobileNetV3Large"]


def _build(network, **kwargs):
    return getattr(cl.applications, network)(**kwargs)


@pytest.mark.parametrize("network", NETWORKS)
@pytest.mark.parametrize("kwargs, message", [
    ({"weights": "nowhere.h5"}, r"`weights` must be None .* Received: weights='nowhere.h5'"),
    ({"classes": 5}, r"classes must be 1000. Received: classes=5"),
    ({"weights": None, "include_top": False, "input_shape": (31, 64, 3)}, r"at least 32x32"),
    ({"weights": None, "include_top": False, "pooling": "min"}, r"pooling must be None, 'avg' or 'max'"),
    ({"classifier_activation": "relu"}, r"only None and 'softmax' are allowed as classifier_activation"),
    ({"include_top": False, "alpha": 0.6}, r"with weights='imagenet', alpha must be"),
])
def test_errors_name_the_network(network, kwargs, message):
    with pytest.raises(ValueError, match=f"{network}: .*{message}"):
        _build(network, **kwargs)


def test_each_network_s_own_checks():
    with pytest.raises(ValueError, match=r"MobileNet: with weights='imagenet', depth_multiplier must be 1. "
                                         r"Received: depth_multiplier=2"):
        cl.applications.MobileNet(include_top=False, depth_multiplier=2)
    with pytest.raises(ValueError, match=r"MobileNet: with include_top=True the input_shape must be static"):
        cl.applications.MobileNet(weights=None, input_shape=(None, None, 3))
    with pytest.raises(ValueError, match=r"MobileNetV2: input_tensor.shape\[2\] must equal input_shape\[1\]"):
        cl.applications.MobileNetV2(weights=None, input_shape=(64, 64, 3), input_tensor=cl.layers.Input((32, 32, 3)))
    with pytest.raises(ValueError, match=r"MobileNetV2: input_tensor must be a symbolic tensor"):
        cl.applications.MobileNetV2(weights=None, input_tensor=np.zeros((1, 32, 32, 3)))
    with pytest.raises(ValueError, match=r"MobileNetV3Large: .*alpha must be .* Received: alpha=0.75, "
                                         r"minimalistic=True"):
        cl.applications.MobileNetV3Large(include_top=False, alpha=0.75, minimalistic=True)


@pytest.mark.parametrize("call, expected", [
    (lambda: mobilenet.imagenet_file(1.0, 224, True), "mobilenet_1_0_224_tf.h5"),
    (lambda: mobilenet.imagenet_file(0.75, 160, False), "mobilenet_7_5_160_tf_no_top.h5"),
    (lambda: mobilenet.imagenet_file(0.5, 128, True), "mobilenet_5_0_128_tf.h5"),
    (lambda: mobilenet.imagenet_file(0.25, 192, False), "mobilenet_2_5_192_tf_no_top.h5"),
    (lambda: mobilenet_v2.imagenet_file(1.0, 224, True), "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224.h5"),
    (lambda: mobilenet_v2.imagenet_file(1.4, 96, False),
     "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.4_96_no_top.h5"),
])
def test_keras_s_weight_file_names(call, expected):
    assert call() == expected


@pytest.mark.parametrize("network, kwargs, file_name, layer", [
    ("MobileNet", {"alpha": 0.25, "input_shape": (128, 128, 3)}, "mobilenet_2_5_128_tf_no_top.h5", "conv1"),
    ("MobileNetV2", {"alpha": 0.35, "input_shape": (96, 96, 3)},
     "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_0.35_96_no_top.h5", "Conv1"),
    ("MobileNetV3Small", {"minimalistic": True, "input_shape": (224, 224, 3)},
     "weights_mobilenet_v3_small_minimalistic_224_1.0_float_no_top_v2.h5", "conv"),
    ("MobileNetV3Large", {"alpha": 0.75, "input_shape": (224, 224, 3)},
     "weights_mobilenet_v3_large_224_0.75_float_no_top_v2.h5", "conv"),
])
def test_imagenet_weights_come_from_keras_s_cache_folder(tmp_path, monkeypatch, network, kwargs, file_name, layer):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    expected = tmp_path / "models" / file_name
    with pytest.raises(FileNotFoundError, match=f"{network}: weights='imagenet' needs Keras's file "
                                                f"'{file_name}' and course_lib downloads nothing. Put it at {expected}"):
        _build(network, include_top=False, **kwargs)
    source = _build(network, include_top=False, weights=None, **kwargs)
    expected.parent.mkdir()
    write_keras2_h5(source, expected)
    loaded = _build(network, include_top=False, **kwargs)
    for mine, theirs in zip(loaded.get_layer(layer).get_weights(), source.get_layer(layer).get_weights()):
        np.testing.assert_array_equal(mine, theirs)


def test_the_top_s_file_with_the_top(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    with pytest.warns(UserWarning, match=r"will be loaded as the default"):  # the input size is free
        with pytest.raises(FileNotFoundError, match=r"'weights_mobilenet_v3_small_224_1.0_float.h5'"):
            cl.applications.MobileNetV3Small()
    with pytest.raises(FileNotFoundError, match=r"'mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_160.h5'"):
        cl.applications.MobileNetV2(input_shape=(160, 160, 3))


@pytest.mark.parametrize("network, kwargs", [
    ("MobileNet", {"input_shape": (64, 64, 3)}), ("MobileNetV2", {"input_shape": (96, 128, 3)}),
    ("MobileNetV3Small", {}), ("MobileNetV3Large", {"input_shape": (160, 160, 3)}),
])
def test_imagenet_at_another_size_warns_as_keras(tmp_path, monkeypatch, network, kwargs):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    with pytest.warns(UserWarning, match=r"Weights for input shape \(224, 224\) will be loaded as the default"):
        with pytest.raises(FileNotFoundError, match=r"_224_"):
            _build(network, include_top=False, **kwargs)


def test_names_follow_keras():
    assert cl.applications.MobileNet(weights=None, alpha=0.5, input_shape=(128, 128, 3)).name == "mobilenet_0.50_128"
    assert cl.applications.MobileNetV2(weights=None, include_top=False).name == "mobilenetv2_1.00_None"
    assert cl.applications.MobileNetV3Small(weights=None, name="small").name == "small"


def test_v3_has_its_own_preprocessing_and_hard_swish():
    model = cl.applications.MobileNetV3Small(weights=None, input_shape=(32, 32, 3), include_top=False)
    rescaling = model.layers[1]
    assert type(rescaling).__name__ == "Rescaling"
    assert (rescaling.scale, rescaling.offset) == (1.0 / 127.5, -1.0)
    activations = [layer.get_config()["activation"] for layer in model.layers if type(layer).__name__ == "Activation"]
    assert activations and set(activations) == {"hard_silu"}
    # 9 squeeze-excite blocks: a Multiply layer each (squeeze_excite_mul), and the hard sigmoid's multiply operation
    assert [type(l).__name__ for l in model.layers].count("Multiply") == 9
    assert [type(op).__name__ for op in model.operations].count("Multiply") == 2 * 9
    bare = cl.applications.MobileNetV3Small(weights=None, input_shape=(32, 32, 3), include_top=False,
                                            include_preprocessing=False, minimalistic=True)
    names = [type(l).__name__ for l in bare.layers]
    assert "Rescaling" not in names and "Activation" not in names and "Multiply" not in names
    images = np.arange(12.0).reshape(1, 2, 2, 3)
    assert mobilenet_v3.preprocess_input(images) is images


def test_preprocess_input_scales_to_minus_one_one():
    images = np.array([[[[0.0, 127.5, 255.0]]]], dtype="float32")
    for module in (mobilenet, mobilenet_v2):
        np.testing.assert_allclose(module.preprocess_input(images), [[[[-1.0, 0.0, 1.0]]]])
        np.testing.assert_array_equal(images, [[[[0.0, 127.5, 255.0]]]])
    assert cl.applications.mobilenet.decode_predictions is cl.applications.imagenet_utils.decode_predictions


def test_make_divisible_rounds_as_tensorflow_s_slim():
    assert [mobilenet_v2.make_divisible(v) for v in (32 * 0.35, 16, 4.5 * 16, 1280 * 1.4, 3)] == [16, 16, 72, 1792, 8]
    assert mobilenet_v2.make_divisible(11.2, 8) == 16  # 8 would be more than 10% below


def test_the_hard_sigmoid_is_two_operations_around_a_relu6_with_exact_gradients():
    cl.backend.clear_session()
    with cl.backend.floatx_scope("float64"):
        inputs = cl.Input((1, 1, 5))
        model = cl.models.Model(inputs, mobilenet_v3.hard_sigmoid(inputs))
        assert [(type(op).__name__, op.name) for op in model.operations] == [
            ("InputLayer", "input_layer"), ("Add", "add"), ("ReLU", "re_lu"), ("Multiply", "multiply")]
        assert [type(layer).__name__ for layer in model.layers] == ["InputLayer", "ReLU"]
        # both sides of ReLU6's flat parts and its slope, away from the kinks at -3 and 3
        x = np.array([-4.5, -3.5, -2.2, -0.7, 0.4, 1.3, 2.6, 2.9, 3.4, 5.0]).reshape(2, 1, 1, 5)
        np.testing.assert_allclose(cl.backend.to_numpy(model(x)), np.clip(x + 3, 0, 6) / 6, rtol=1e-12)
        cl.testing.assert_gradients_close(model, x)


def test_a_v3_model_has_its_operations_out_of_its_layers():
    cl.backend.clear_session()
    model = cl.applications.MobileNetV3Small(weights=None, input_shape=(32, 32, 3), include_top=False)
    operations = [op for op in model.operations if op not in model.layers]
    names = [op.name for op in operations]
    # 9 squeeze-and-excite blocks (blocks 0, 3 ... 10), one add and one multiply each
    assert names == [name for k in range(9) for name in (f"add_{k}" if k else "add",
                                                          f"multiply_{k}" if k else "multiply")]
    assert not any(type(layer).__module__ == mobilenet_v3.__name__ for layer in model.layers)


def test_a_v3_model_round_trips_through_course_lib_s_keras_file(tmp_path):
    model = cl.applications.MobileNetV3Small(weights=None, input_shape=(32, 32, 3), include_top=False,
                                             pooling="avg", alpha=0.75)
    path = str(tmp_path / "small.keras")
    model.save(path)
    loaded = cl.models.load_model(path)
    x = np.random.default_rng(1).uniform(0, 255, (2, 32, 32, 3)).astype("float32")
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-6, atol=1e-6)
