"""DenseNet (Huang, Liu, van der Maaten and Weinberger, 2017) with Keras's layer names and parameter counts.

A 7x7 stride-2 convolution and a 3x3 max pooling, then four *dense blocks*
separated by *transition blocks*. Inside a dense block every *conv block* sees
the concatenation of all the feature maps before it: BatchNormalization, ReLU,
a 1x1 convolution to 128 channels (the "bottleneck"), BatchNormalization, ReLU,
a 3x3 convolution to 32 channels (the *growth rate*), and its 32 new channels
are concatenated to its input. A transition block halves the channels (BN, ReLU,
1x1 convolution) and the size (2x2 average pooling). A last BatchNormalization
and ReLU close the features; the top is a global average pooling and a Dense.
No convolution has a bias: each is followed by a BatchNormalization (epsilon 1.001e-5).

Blocks of 6, 12, 24, 16 conv blocks make DenseNet121 (8,062,504 parameters with
the top, 7,037,504 without it, of which 83,648 are the non-trainable moving
means and variances); 6, 12, 32, 32 make DenseNet169 (14,307,880 / 12,642,880)
and 6, 12, 48, 32 DenseNet201 (20,242,984 / 18,321,984).

Inputs are prepared in Keras's "torch" mode (:func:`preprocess_input`). As in
Keras, only channels_last images are accepted. course_lib downloads nothing:
``weights="imagenet"`` loads Keras's published file from Keras's cache folder
(``$KERAS_HOME/models`` or ``~/.keras/models``) and otherwise says where to put it.
"""
from __future__ import annotations

from course_lib import config, layers
from course_lib.applications import imagenet_utils
from course_lib.models import Model

EPSILON = 1.001e-5
"""The epsilon of every BatchNormalization of Keras's DenseNets."""
GROWTH_RATE = 32
"""Channels each conv block adds."""
BLOCKS = {"DenseNet121": (6, 12, 24, 16), "DenseNet169": (6, 12, 32, 32), "DenseNet201": (6, 12, 48, 32)}
"""Conv blocks in each of the four dense blocks, by network."""
IMAGENET_FILES = {
    network: {True: f"{network.lower()}_weights_tf_dim_ordering_tf_kernels.h5",
              False: f"{network.lower()}_weights_tf_dim_ordering_tf_kernels_notop.h5"}
    for network in BLOCKS
}
"""The names Keras gives its ImageNet weight files, by network and include_top."""


def dense_block(x, blocks, name):
    """``blocks`` conv blocks on ``x``, named ``{name}_block1`` ... (Keras's ``dense_block``)."""
    for index in range(blocks):
        x = conv_block(x, GROWTH_RATE, name=f"{name}_block{index + 1}")
    return x


def transition_block(x, reduction, name):
    """BN, ReLU, a 1x1 convolution to ``reduction`` times the channels and a 2x2 average pooling."""
    axis = 3
    x = layers.BatchNormalization(axis=axis, epsilon=EPSILON, name=f"{name}_bn")(x)
    x = layers.Activation("relu", name=f"{name}_relu")(x)
    x = layers.Conv2D(int(x.shape[axis] * reduction), 1, use_bias=False, name=f"{name}_conv")(x)
    return layers.AveragePooling2D(2, strides=2, name=f"{name}_pool")(x)


def conv_block(x, growth_rate, name):
    """BN, ReLU, 1x1 conv to ``4 * growth_rate``, BN, ReLU, 3x3 conv to ``growth_rate``, concatenated to ``x``."""
    axis = 3
    y = layers.BatchNormalization(axis=axis, epsilon=EPSILON, name=f"{name}_0_bn")(x)
    y = layers.Activation("relu", name=f"{name}_0_relu")(y)
    y = layers.Conv2D(4 * growth_rate, 1, use_bias=False, name=f"{name}_1_conv")(y)
    y = layers.BatchNormalization(axis=axis, epsilon=EPSILON, name=f"{name}_1_bn")(y)
    y = layers.Activation("relu", name=f"{name}_1_relu")(y)
    y = layers.Conv2D(growth_rate, 3, padding="same", use_bias=False, name=f"{name}_2_conv")(y)
    return layers.Concatenate(axis=axis, name=f"{name}_concat")([x, y])


def DenseNet(blocks, include_top=True, weights="imagenet", input_tensor=None, input_shape=None, pooling=None,
             classes=1000, classifier_activation="softmax", name="densenet"):
    """A DenseNet with ``blocks`` conv blocks in its four dense blocks (Keras's ``densenet.DenseNet``).

    Args:
        blocks: four integers, e.g. ``[6, 12, 24, 16]`` (DenseNet121's).
        include_top: whether to add the global average pooling ``avg_pool`` and the Dense ``predictions``.
        weights: None (random), ``"imagenet"`` (Keras's file from its cache folder; only for the
            three published block counts) or the path of a ``.weights.h5`` / ``.h5`` file.
        input_tensor: a symbolic tensor (``keras.Input``) to use as the input.
        input_shape: ``(height, width, 3)``, at least 32x32; with the top and ImageNet weights it
            must be ``(224, 224, 3)``; without the top it may leave height and width free (None).
        pooling: without the top: None (the 4D ``relu`` output), ``"avg"`` (``avg_pool``) or
            ``"max"`` (``max_pool``).
        classes: units of the predictions layer.
        classifier_activation: activation of the predictions layer (None or ``"softmax"`` with
            pretrained weights).
        name: the model's name.

    Returns:
        A functional :class:`~course_lib.models.Model`.
    """
    blocks = tuple(blocks)
    where = next((network for network, counts in BLOCKS.items() if counts == blocks), "DenseNet")
    return _build(where, blocks, include_top, weights, input_tensor, input_shape, pooling, classes,
                  classifier_activation, name)


def DenseNet121(include_top=True, weights="imagenet", input_tensor=None, input_shape=None, pooling=None,
                classes=1000, classifier_activation="softmax", name="densenet121"):
    """DenseNet-121 as Keras's ``keras.applications.DenseNet121`` builds it; the arguments are :func:`DenseNet`'s.

    Returns:
        A functional :class:`~course_lib.models.Model`.
    """
    return _build("DenseNet121", BLOCKS["DenseNet121"], include_top, weights, input_tensor, input_shape,
                  pooling, classes, classifier_activation, name)


def DenseNet169(include_top=True, weights="imagenet", input_tensor=None, input_shape=None, pooling=None,
                classes=1000, classifier_activation="softmax", name="densenet169"):
    """DenseNet-169 as Keras's ``keras.applications.DenseNet169`` builds it; the arguments are :func:`DenseNet`'s.

    Returns:
        A functional :class:`~course_lib.models.Model`.
    """
    return _build("DenseNet169", BLOCKS["DenseNet169"], include_top, weights, input_tensor, input_shape,
                  pooling, classes, classifier_activation, name)


def DenseNet201(include_top=True, weights="imagenet", input_tensor=None, input_shape=None, pooling=None,
                classes=1000, classifier_activation="softmax", name="densenet201"):
    """DenseNet-201 as Keras's ``keras.applications.DenseNet201`` builds it; the arguments are :func:`DenseNet`'s.

    Returns:
        A functional :class:`~course_lib.models.Model`.
    """
    return _build("DenseNet201", BLOCKS["DenseNet201"], include_top, weights, input_tensor, input_shape,
                  pooling, classes, classifier_activation, name)


def _build(where, blocks, include_top, weights, input_tensor, input_shape, pooling, classes,
           classifier_activation, name):
    if config.image_data_format() == "channels_first":
        raise ValueError(
            f"{where}: DenseNet does not support the 'channels_first' image data format; switch to "
            "'channels_last' (keras.config.set_image_data_format). Received: image_data_format='channels_first'"
        )
    if len(blocks) != 4:
        raise ValueError(f"{where}: blocks must be four integers. Received: blocks={list(blocks)}")
    imagenet_utils.check_arguments(where, weights, include_top, classes, pooling, classifier_activation)
    if weights == "imagenet" and where not in IMAGENET_FILES:
        raise ValueError(
            f"{where}: ImageNet weights exist only for the blocks of DenseNet121, DenseNet169 and DenseNet201 "
            f"{[list(counts) for counts in BLOCKS.values()]}. Received: blocks={list(blocks)}"
        )
    shape = imagenet_utils.obtain_input_shape(input_shape, default_size=224, min_size=32,
                                              require_flatten=include_top, weights=weights, where=where)
    inputs = imagenet_utils.inputs(shape, input_tensor, where)
    x = layers.ZeroPadding2D(padding=((3, 3), (3, 3)))(inputs)
    x = layers.Conv2D(64, 7, strides=2, use_bias=False, name="conv1_conv")(x)
    x = layers.BatchNormalization(axis=3, epsilon=EPSILON, name="conv1_bn")(x)
    x = layers.Activation("relu", name="conv1_relu")(x)
    x = layers.ZeroPadding2D(padding=((1, 1), (1, 1)))(x)
    x = layers.MaxPooling2D(3, strides=2, name="pool1")(x)
    for number, count in enumerate(blocks, start=2):
        x = dense_block(x, count, name=f"conv{number}")
        if number < 5:
            x = transition_block(x, 0.5, name=f"pool{number}")
    x = layers.BatchNormalization(axis=3, epsilon=EPSILON, name="bn")(x)
    x = layers.Activation("relu", name="relu")(x)
    if include_top:
        x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
        x = layers.Dense(classes, activation=classifier_activation, name="predictions")(x)
    else:
        x = imagenet_utils.pool(x, pooling, named=True)
    model = Model(inputs, x, name=name)
    file_name = IMAGENET_FILES.get(where, IMAGENET_FILES["DenseNet121"])[bool(include_top)]
    return imagenet_utils.load_weights(model, where, weights, file_name,
                                       f"keras.applications.{where}(include_top={bool(include_top)})")


def preprocess_input(x, data_format=None):
    """Keras's "torch" preprocessing: pixels 0 ... 255 scaled to 0 ... 1, then each channel standardised.

    The means (0.485, 0.456, 0.406) and standard deviations (0.229, 0.224, 0.225) are ImageNet's,
    R, G, B. ``x``: 3D or 4D images, channels last or first. Returns a new float array (Keras's own
    function changes a float NumPy input in place; course_lib never changes its input).
    See :func:`course_lib.applications.imagenet_utils.preprocess_input`.
    """
    return imagenet_utils.preprocess_input(x, data_format, mode="torch")


decode_predictions = imagenet_utils.decode_predictions

__all__ = ["DenseNet121", "DenseNet169", "DenseNet201", "decode_predictions", "preprocess_input"]
