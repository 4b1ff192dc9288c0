"""MobileNet (Howard et al., 2017) with Keras's layer names, shapes and parameter counts.

A 3x3 convolution of stride 2 (``conv1``: 32 filters), then 13 *depthwise
separable* blocks: a 3x3 depthwise convolution (one filter per channel,
``conv_dw_{i}``) and a 1x1 pointwise convolution that mixes the channels
(``conv_pw_{i}``), each followed by BatchNormalization and ReLU6. Five of the
blocks have stride 2 (after a ``conv_pad_{i}`` of one zero row and column at the
end). The pointwise filters grow 64, 128, 128, 256, 256, 512 (x6), 1024, 1024.
The top is global average pooling (kept 4D), Dropout, a 1x1 convolution
(``conv_preds``) as the classifier, a Reshape and the softmax.

A depthwise separable block costs ``9 C + C C'`` weights where a full 3x3
convolution costs ``9 C C'``: 4,253,864 parameters at alpha=1 with the top
(21,888 of them BatchNormalization's moving statistics), 3,228,864 without it.
``alpha`` (the width multiplier) scales every layer's filters; ``depth_multiplier``
gives each channel several depthwise filters.

course_lib downloads nothing: ``weights="imagenet"`` loads Keras's published file
(``mobilenet_{1_0|7_5|5_0|2_5}_{128|160|192|224}_tf[_no_top].h5``) from Keras's
cache folder when it is there, and otherwise says where to put it; a path loads that file.
"""
from __future__ import annotations

import warnings

from course_lib import config, layers
from course_lib.applications import imagenet_utils
from course_lib.models import Model

IMAGENET_ALPHAS = (0.25, 0.50, 0.75, 1.0)
"""The widths Keras publishes ImageNet weights for."""
IMAGENET_SIZES = (128, 160, 192, 224)
"""The square input sizes Keras publishes ImageNet weights for."""
BLOCKS = ((64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2), (512, 1), (512, 1), (512, 1), (512, 1),
          (512, 1), (1024, 2), (1024, 1))
"""(pointwise filters, stride) of the 13 depthwise separable blocks."""


def MobileNet(input_shape=None, alpha=1.0, depth_multiplier=1, dropout=1e-3, include_top=True, weights="imagenet",
              input_tensor=None, pooling=None, classes=1000, classifier_activation="softmax", name=None):
    """The MobileNet network as Keras's ``keras.applications.MobileNet`` builds it.

    Args:
        input_shape: ``(height, width, 3)``, at least 32x32; with the top and ImageNet weights
            it must be square of a size in 128, 160, 192, 224 (default 224).
        alpha: width multiplier of every layer's filters (ImageNet weights: 0.25, 0.5, 0.75, 1.0).
        depth_multiplier: depthwise filters per input channel (ImageNet weights: 1).
        dropout: the rate of the Dropout before the classifier.
        include_top: whether to add the pooling, Dropout, ``conv_preds`` classifier and softmax.
        weights: None (random), ``"imagenet"`` (Keras's file from its cache folder) or the path of a
            ``.weights.h5`` / ``.h5`` file.
        input_tensor: a symbolic tensor (``keras.Input``) to use as the input.
        pooling: without the top: None (the 4D output of the last block), ``"avg"`` or ``"max"``.
        classes: units of the classifier.
        classifier_activation: activation of the ``predictions`` layer.
        name: the model's name; None: ``"mobilenet_{alpha:0.2f}_{rows}"`` as Keras names it.

    Returns:
        A functional :class:`~course_lib.models.Model`.
    """
    where = "MobileNet"
    imagenet_utils.check_arguments(where, weights, include_top, classes, pooling, classifier_activation)
    first = config.image_data_format() == "channels_first"
    default_size = 224
    if input_shape is not None:
        rows, cols = (input_shape[1], input_shape[2]) if first else (input_shape[0], input_shape[1])
        if rows == cols and rows in IMAGENET_SIZES:
            default_size = rows
    shape = imagenet_utils.obtain_input_shape(input_shape, default_size=default_size, min_size=32,
                                              require_flatten=include_top, weights=weights, where=where)
    rows, cols = (shape[1], shape[2]) if first else (shape[0], shape[1])
    if weights == "imagenet":
        if depth_multiplier != 1:
            raise ValueError(
                f"{where}: with weights='imagenet', depth_multiplier must be 1. "
                f"Received: depth_multiplier={depth_multiplier}"
            )
        if alpha not in IMAGENET_ALPHAS:
            raise ValueError(
                f"{where}: with weights='imagenet', alpha must be one of 0.25, 0.50, 0.75 or 1.0. "
                f"Received: alpha={alpha}"
            )
        if rows != cols or rows not in IMAGENET_SIZES:
            rows = 224
            warnings.warn(
                "`input_shape` is undefined or non-square, or `rows` is not in [128, 160, 192, 224]. "
                "Weights for input shape (224, 224) will be loaded as the default.", stacklevel=2,
            )
    inputs = imagenet_utils.inputs(shape, input_tensor, where)
    x = conv_block(inputs, 32, alpha, strides=(2, 2))
    for block_id, (filters, stride) in enumerate(BLOCKS, start=1):
        x = depthwise_conv_block(x, filters, alpha, depth_multiplier, strides=(stride, stride), block_id=block_id)
    if include_top:
        x = layers.GlobalAveragePooling2D(keepdims=True)(x)
        x = layers.Dropout(dropout, name="dropout")(x)
        x = layers.Conv2D(classes, (1, 1), padding="same", name="conv_preds")(x)
        x = layers.Reshape((classes,), name="reshape_2")(x)
        x = layers.Activation(activation=classifier_activation, name="predictions")(x)
    else:
        x = imagenet_utils.pool(x, pooling)
    model = Model(inputs, x, name=f"mobilenet_{alpha:0.2f}_{rows}" if name is None else name)
    return imagenet_utils.load_weights(model, where, weights, imagenet_file(alpha, rows, include_top),
                                       f"keras.applications.MobileNet(alpha={alpha}, input_shape=({rows}, {rows}, 3), "
                                       f"include_top={include_top})")


def imagenet_file(alpha, rows, include_top):
    """Keras's name of the ImageNet file for ``alpha`` and input size ``rows`` (with or without the top)."""
    alpha_text = {1.0: "1_0", 0.75: "7_5", 0.50: "5_0"}.get(alpha, "2_5")
    return f"mobilenet_{alpha_text}_{rows}_tf{'' if include_top else '_no_top'}.h5"


def conv_block(inputs, filters, alpha, kernel=(3, 3), strides=(1, 1)):
    """The first convolution (``conv1``, ``int(filters * alpha)`` filters, no bias), its BatchNormalization and ReLU6."""
    channel_axis = 1 if config.image_data_format() == "channels_first" else -1
    x = layers.Conv2D(int(filters * alpha), kernel, padding="same", use_bias=False, strides=strides,
                      name="conv1")(inputs)
    x = layers.BatchNormalization(axis=channel_axis, name="conv1_bn")(x)
    return layers.ReLU(6.0, name="conv1_relu")(x)


def depthwise_conv_block(inputs, pointwise_conv_filters, alpha, depth_multiplier=1, strides=(1, 1), block_id=1):
    """One depthwise separable block: 3x3 depthwise, BatchNormalization, ReLU6, then the same after a 1x1 convolution.

    With ``strides=(2, 2)`` a ``conv_pad_{block_id}`` adds one zero row and column at the end and the
    depthwise convolution is ``valid``; otherwise it is ``same``.
    """
    channel_axis = 1 if config.image_data_format() == "channels_first" else -1
    strides = tuple(strides)
    x = inputs
    if strides != (1, 1):
        x = layers.ZeroPadding2D(((0, 1), (0, 1)), name=f"conv_pad_{block_id}")(x)
    x = layers.DepthwiseConv2D((3, 3), padding="same" if strides == (1, 1) else "valid",
                               depth_multiplier=depth_multiplier, strides=strides, use_bias=False,
                               name=f"conv_dw_{block_id}")(x)
    x = layers.BatchNormalization(axis=channel_axis, name=f"conv_dw_{block_id}_bn")(x)
    x = layers.ReLU(6.0, name=f"conv_dw_{block_id}_relu")(x)
    x = layers.Conv2D(int(pointwise_conv_filters * alpha), (1, 1), padding="same", use_bias=False, strides=(1, 1),
                      name=f"conv_pw_{block_id}")(x)
    x = layers.BatchNormalization(axis=channel_axis, name=f"conv_pw_{block_id}_bn")(x)
    return layers.ReLU(6.0, name=f"conv_pw_{block_id}_relu")(x)


def preprocess_input(x, data_format=None):
    """Keras's "tf" preprocessing: pixels 0 ... 255 scaled to -1 ... 1 (``x / 127.5 - 1``).

    Returns a new float array. See :func:`course_lib.applications.imagenet_utils.preprocess_input`.
    """
    return imagenet_utils.preprocess_input(x, data_format, mode="tf")


decode_predictions = imagenet_utils.decode_predictions
