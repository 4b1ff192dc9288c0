"""Xception (Chollet, 2017) with Keras's layer names, shapes and parameter counts.

"Extreme Inception": every Inception module is replaced by *depthwise separable*
convolutions (a 3x3 convolution of each channel alone, then a 1x1 convolution
mixing the channels: ``SeparableConv2D``), each followed by a BatchNormalization,
none with a bias. Three parts:

- entry flow: two plain 3x3 convolutions (32 and 64 filters, the first of stride 2),
  then three blocks (128, 256, 728 channels) of two separable convolutions and a
  3x3 stride-2 max pooling, each added to a *residual*: a 1x1 stride-2 convolution
  and a BatchNormalization of the block's input (Keras leaves those layers unnamed);
- middle flow: eight blocks (``block5`` ... ``block12``) of three ReLU + separable
  convolutions of 728 channels added to their input (an identity residual);
- exit flow: ``block13`` (728 then 1024 channels, max pooling, a 1x1 residual of 1024),
  ``block14`` (separable convolutions of 1536 and 2048 channels with ReLU).

22,910,480 parameters with the top at 299x299x3 (54,528 of them the non-trainable
moving statistics), 20,861,480 without it. Inputs are prepared in Keras's "tf"
mode (:func:`preprocess_input`); the smallest input is 71x71. course_lib downloads
nothing: ``weights="imagenet"`` loads Keras's published file from Keras's cache folder.
"""
from __future__ import annotations

from course_lib import config, layers
from course_lib.applications import imagenet_utils
from course_lib.models import Model

IMAGENET_FILES = {True: "xception_weights_tf_dim_ordering_tf_kernels.h5",
                  False: "xception_weights_tf_dim_ordering_tf_kernels_notop.h5"}
"""The names Keras gives its ImageNet weight files (with and without the top)."""


def Xception(include_top=True, weights="imagenet", input_tensor=None, input_shape=None, pooling=None,
             classes=1000, classifier_activation="softmax", name="xception"):
    """The Xception network as Keras's ``keras.applications.Xception`` builds it.

    Args:
        include_top: whether to add the global average pooling ``avg_pool`` and the Dense ``predictions``.
        weights: None (random), ``"imagenet"`` (Keras's file from its cache folder)
            or the path of a ``.weights.h5`` / ``.h5`` file.
        input_tensor: a symbolic tensor (``keras.Input``) to use as the input.
        input_shape: ``(height, width, 3)``, at least 71x71; with the top and ImageNet weights
            it must be ``(299, 299, 3)``; without the top height and width may be free (None).
        pooling: without the top: None (the 4D ``block14_sepconv2_act`` output), ``"avg"`` or ``"max"``.
        classes: units of the predictions layer.
        classifier_activation: activation of the predictions layer (None or ``"softmax"`` with
            pretrained weights).
        name: the model's name.

    Returns:
        A functional :class:`~course_lib.models.Model`.
    """
    imagenet_utils.check_arguments("Xception", weights, include_top, classes, pooling, classifier_activation)
    shape = imagenet_utils.obtain_input_shape(input_shape, default_size=299, min_size=71,
                                              require_flatten=include_top, weights=weights, where="Xception")
    inputs = imagenet_utils.inputs(shape, input_tensor, "Xception")
    axis = 1 if config.image_data_format() == "channels_first" else -1

    x = layers.Conv2D(32, (3, 3), strides=(2, 2), use_bias=False, name="block1_conv1")(inputs)
    x = layers.BatchNormalization(axis=axis, name="block1_conv1_bn")(x)
    x = layers.Activation("relu", name="block1_conv1_act")(x)
    x = layers.Conv2D(64, (3, 3), use_bias=False, name="block1_conv2")(x)
    x = layers.BatchNormalization(axis=axis, name="block1_conv2_bn")(x)
    x = layers.Activation("relu", name="block1_conv2_act")(x)

    for block, filters in ((2, 128), (3, 256), (4, 728)):
        x = _pooled_block(x, block, (filters, filters), axis, first_relu=block > 2)
    for block in range(5, 13):
        residual = x
        for index in (1, 2, 3):
            x = layers.Activation("relu", name=f"block{block}_sepconv{index}_act")(x)
            x = _separable_bn(x, 728, f"block{block}_sepconv{index}", axis)
        x = layers.add([x, residual])
    x = _pooled_block(x, 13, (728, 1024), axis, first_relu=True)

    x = _separable_bn(x, 1536, "block14_sepconv1", axis)
    x = layers.Activation("relu", name="block14_sepconv1_act")(x)
    x = _separable_bn(x, 2048, "block14_sepconv2", axis)
    x = layers.Activation("relu", name="block14_sepconv2_act")(x)
    if include_top:
        x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
        x = layers.Dense(classes, activation=classifier_activation, name="predictions")(x)
    else:
        x = imagenet_utils.pool(x, pooling)
    model = Model(inputs, x, name=name)
    return imagenet_utils.load_weights(model, "Xception", weights, IMAGENET_FILES[bool(include_top)],
                                       f"keras.applications.Xception(include_top={bool(include_top)})")


def _separable_bn(x, filters, name, axis):
    """A 3x3 ``same`` separable convolution without bias (``name``) and its BatchNormalization (``name_bn``)."""
    x = layers.SeparableConv2D(filters, (3, 3), padding="same", use_bias=False, name=name)(x)
    return layers.BatchNormalization(axis=axis, name=f"{name}_bn")(x)


def _pooled_block(x, block, filters, axis, first_relu):
    """An entry-flow (or block13) block: two separable convolutions and a stride-2 max pooling, plus a residual.

    The residual (a 1x1 stride-2 convolution of ``filters[1]`` channels and its BatchNormalization,
    unnamed as in Keras) is built first, as Keras builds it, so that the automatic names match.
    Block 2 starts without the ReLU (its input already passed ``block1_conv2_act``).
    """
    residual = layers.Conv2D(filters[1], (1, 1), strides=(2, 2), padding="same", use_bias=False)(x)
    residual = layers.BatchNormalization(axis=axis)(residual)
    if first_relu:
        x = layers.Activation("relu", name=f"block{block}_sepconv1_act")(x)
    x = _separable_bn(x, filters[0], f"block{block}_sepconv1", axis)
    x = layers.Activation("relu", name=f"block{block}_sepconv2_act")(x)
    x = _separable_bn(x, filters[1], f"block{block}_sepconv2", axis)
    x = layers.MaxPooling2D((3, 3), strides=(2, 2), padding="same", name=f"block{block}_pool")(x)
    return layers.add([x, residual])


def preprocess_input(x, data_format=None):
    """Keras's "tf" preprocessing: pixels 0 ... 255 scaled to -1 ... 1 (``x / 127.5 - 1``).

    Returns a new float array (Keras's own function changes a float NumPy input in place;
    course_lib never changes its input). See :func:`course_lib.applications.imagenet_utils.preprocess_input`.
    """
    return imagenet_utils.preprocess_input(x, data_format, mode="tf")


decode_predictions = imagenet_utils.decode_predictions

__all__ = ["Xception", "decode_predictions", "preprocess_input"]
