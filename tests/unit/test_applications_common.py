"""What every network in course_lib.applications shares through ``imagenet_utils``.

Keras wraps an eager ``input_tensor`` in an Input; course_lib's symbolic
tensors cannot hold data, so every network refuses one with the same
message, naming the network.
"""
import numpy as np
import pytest

import course_lib as cl

NETWORKS = [
    "VGG16", "VGG19", "ResNet50", "ResNet50V2", "DenseNet121", "Xception", "InceptionV3",
    "InceptionResNetV2", "MobileNet", "MobileNetV2", "MobileNetV3Small", "MobileNetV3Large",
    "EfficientNetB0", "EfficientNetV2B0", "ConvNeXtTiny",
]


@pytest.mark.parametrize("network", NETWORKS)
def test_every_network_refuses_an_array_as_input_tensor(network):
    build = getattr(cl.applications, network)
    with pytest.raises(ValueError, match=rf"^{network}: input_tensor must be a symbolic tensor \(keras.Input\)\. "
                                         r"Received: input_tensor of type ndarray$"):
        build(include_top=False, weights=None, input_tensor=np.zeros((1, 75, 75, 3), "float32"))


def test_pool_names_its_layers_only_when_asked():
    x = cl.Input((4, 4, 3))
    assert cl.applications.imagenet_utils.pool(x, None) is x
    for pooling, name in (("avg", "avg_pool"), ("max", "max_pool")):
        named = cl.applications.imagenet_utils.pool(x, pooling, named=True)
        unnamed = cl.applications.imagenet_utils.pool(x, pooling)
        assert named.shape == unnamed.shape == (None, 3)
        assert cl.Model(x, named).layers[-1].name == name
        assert cl.Model(x, unnamed).layers[-1].name != name
