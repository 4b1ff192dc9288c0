"""MobileNetV2 (Sandler et al., 2018) with Keras's layer names, shapes and parameter counts.

A 3x3 convolution of stride 2 (``Conv1``), 17 *inverted residual* blocks, a 1x1
convolution to 1280 channels (``Conv_1``) and the classifier. An inverted
residual block widens its input six times with a 1x1 convolution
(``block_{i}_expand``, ReLU6), filters it with a 3x3 depthwise convolution
(``block_{i}_depthwise``, ReLU6), then projects it back to few channels with a
*linear* 1x1 convolution (``block_{i}_project``, no activation: a ReLU on so few
channels would lose information). When the block keeps the shape (stride 1,
same channels) its input is added to its output (``block_{i}_add``). The first
block (``expanded_conv_``) has no expansion. Every BatchNormalization has
epsilon 1e-3 and momentum 0.999.

3,538,984 parameters at alpha=1 with the top (34,112 of them moving
statistics), 2,257,984 without it. ``alpha`` scales the filters, rounded to a
multiple of 8 (:func:`make_divisible`); above 1 it widens ``Conv_1`` too.

course_lib downloads nothing: ``weights="imagenet"`` loads Keras's published file
(``mobilenet_v2_weights_tf_dim_ordering_tf_kernels_{alpha}_{rows}[_no_top].h5``) from
Keras's cache folder when it is there, and otherwise says where to put it; a path loads that file.
"""
from __future__ import annotations

import warnings

from course_lib import config, layers
from course_lib.applications import imagenet_utils
from course_lib.models import Model

IMAGENET_ALPHAS = (0.35, 0.50, 0.75, 1.0, 1.3, 1.4)
"""The widths Keras publishes ImageNet weights for."""
IMAGENET_SIZES = (96, 128, 160, 192, 224)
"""The square input sizes Keras publishes ImageNet weights for."""
BLOCKS = ((16, 1, 1), (24, 2, 6), (24, 1, 6), (32, 2, 6), (32, 1, 6), (32, 1, 6), (64, 2, 6), (64, 1, 6),
          (64, 1, 6), (64, 1, 6), (96, 1, 6), (96, 1, 6), (96, 1, 6), (160, 2, 6), (160, 1, 6), (160, 1, 6),
          (320, 1, 6))
"""(filters, stride, expansion) of the 17 inverted residual blocks."""


def MobileNetV2(input_shape=None, alpha=1.0, include_top=True, weights="imagenet", input_tensor=None, pooling=None,
                classes=1000, classifier_activation="softmax", name=None):
    """The MobileNetV2 network as Keras's ``keras.applications.MobileNetV2`` builds it.

    Args:
        input_shape: ``(height, width, 3)``, at least 32x32; with the top and ImageNet weights it
            must be square of a size in 96, 128, 160, 192, 224 (default 224).
        alpha: width multiplier (ImageNet weights: 0.35, 0.5, 0.75, 1.0, 1.3, 1.4).
        include_top: whether to add the global average pooling and the ``predictions`` Dense layer.
        weights: None (random), ``"imagenet"`` (Keras's file from its cache folder) or the path of a
            ``.weights.h5`` / ``.h5`` file.
        input_tensor: a symbolic tensor (``keras.Input``) to use as the input; with ``input_shape``
            too, their widths must agree.
        pooling: without the top: None (the 4D ``out_relu`` output), ``"avg"`` or ``"max"``.
        classes: units of the ``predictions`` layer.
        classifier_activation: activation of the ``predictions`` layer.
        name: the model's name; None: ``"mobilenetv2_{alpha:0.2f}_{rows}"`` as Keras names it.

    Returns:
        A functional :class:`~course_lib.models.Model`.
    """
    where = "MobileNetV2"
    imagenet_utils.check_arguments(where, weights, include_top, classes, pooling, classifier_activation)
    first = config.image_data_format() == "channels_first"
    # Checked here already (imagenet_utils.inputs checks again): the shape checks below read its shape.
    imagenet_utils.check_input_tensor(where, input_tensor)
    if input_shape is not None and input_tensor is not None:
        axis = 1 if first else 2
        if input_tensor.shape[axis] != input_shape[1]:
            raise ValueError(
                f"{where}: input_tensor.shape[{axis}] must equal input_shape[1]. "
                f"Received: input_tensor.shape={input_tensor.shape}, input_shape={input_shape}"
            )
    size = None
    if input_shape is not None:
        size = (input_shape[1], input_shape[2]) if first else (input_shape[0], input_shape[1])
    elif input_tensor is not None:
        size = tuple(input_tensor.shape[2:4]) if first else tuple(input_tensor.shape[1:3])
    default_size = size[0] if size is not None and size[0] == size[1] and size[0] in IMAGENET_SIZES else 224
    shape = imagenet_utils.obtain_input_shape(input_shape, default_size=default_size, min_size=32,
                                              require_flatten=include_top, weights=weights, where=where)
    rows, cols = (shape[1], shape[2]) if first else (shape[0], shape[1])
    if weights == "imagenet":
        if alpha not in IMAGENET_ALPHAS:
            raise ValueError(
                f"{where}: with weights='imagenet', alpha must be one of 0.35, 0.50, 0.75, 1.0, 1.3 or 1.4. "
                f"Received: alpha={alpha}"
            )
        if rows != cols or rows not in IMAGENET_SIZES:
            rows = 224
            warnings.warn(
                "`input_shape` is undefined or non-square, or `rows` is not in [96, 128, 160, 192, 224]. "
                "Weights for input shape (224, 224) will be loaded as the default.", stacklevel=2,
            )
    inputs = imagenet_utils.inputs(shape, input_tensor, where)
    channel_axis = 1 if first else -1
    x = layers.Conv2D(make_divisible(32 * alpha, 8), kernel_size=3, strides=(2, 2), padding="same", use_bias=False,
                      name="Conv1")(inputs)
    x = layers.BatchNormalization(axis=channel_axis, epsilon=1e-3, momentum=0.999, name="bn_Conv1")(x)
    x = layers.ReLU(6.0, name="Conv1_relu")(x)
    for block_id, (filters, stride, expansion) in enumerate(BLOCKS):
        x = inverted_res_block(x, expansion=expansion, stride=stride, alpha=alpha, filters=filters,
                               block_id=block_id)
    last_block_filters = make_divisible(1280 * alpha, 8) if alpha > 1.0 else 1280
    x = layers.Conv2D(last_block_filters, kernel_size=1, use_bias=False, name="Conv_1")(x)
    x = layers.BatchNormalization(axis=channel_axis, epsilon=1e-3, momentum=0.999, name="Conv_1_bn")(x)
    x = layers.ReLU(6.0, name="out_relu")(x)
    if include_top:
        x = layers.GlobalAveragePooling2D()(x)
        x = layers.Dense(classes, activation=classifier_activation, name="predictions")(x)
    else:
        x = imagenet_utils.pool(x, pooling)
    model = Model(inputs, x, name=f"mobilenetv2_{alpha:0.2f}_{rows}" if name is None else name)
    return imagenet_utils.load_weights(model, where, weights, imagenet_file(alpha, rows, include_top),
                                       f"keras.applications.MobileNetV2(alpha={alpha}, "
                                       f"input_shape=({rows}, {rows}, 3), include_top={include_top})")


def imagenet_file(alpha, rows, include_top):
    """Keras's name of the ImageNet file for ``alpha`` and input size ``rows`` (with or without the top)."""
    return f"mobilenet_v2_weights_tf_dim_ordering_tf_kernels_{float(alpha)}_{rows}{'' if include_top else '_no_top'}.h5"


def inverted_res_block(inputs, expansion, stride, alpha, filters, block_id):
    """One inverted residual block on ``inputs``: expand (1x1, ReLU6), depthwise 3x3 (ReLU6), linear projection.

    Block 0 has no expansion and the prefix ``expanded_conv_``; the others ``block_{block_id}_``. A
    stride-2 block pads with :func:`~course_lib.applications.imagenet_utils.correct_pad` and filters
    ``valid``. The input is added back when stride is 1 and the channels do not change.
    """
    channel_axis = 1 if config.image_data_format() == "channels_first" else -1
    in_channels = inputs.shape[channel_axis]
    pointwise_filters = make_divisible(int(filters * alpha), 8)
    x = inputs
    prefix = f"block_{block_id}_"
    if block_id:
        x = layers.Conv2D(expansion * in_channels, kernel_size=1, padding="same", use_bias=False, activation=None,
                          name=f"{prefix}expand")(x)
        x = layers.BatchNormalization(axis=channel_axis, epsilon=1e-3, momentum=0.999, name=f"{prefix}expand_BN")(x)
        x = layers.ReLU(6.0, name=f"{prefix}expand_relu")(x)
    else:
        prefix = "expanded_conv_"
    if stride == 2:
        x = layers.ZeroPadding2D(padding=imagenet_utils.correct_pad(x, 3), name=f"{prefix}pad")(x)
    x = layers.DepthwiseConv2D(kernel_size=3, strides=stride, activation=None, use_bias=False,
                               padding="same" if stride == 1 else "valid", name=f"{prefix}depthwise")(x)
    x = layers.BatchNormalization(axis=channel_axis, epsilon=1e-3, momentum=0.999, name=f"{prefix}depthwise_BN")(x)
    x = layers.ReLU(6.0, name=f"{prefix}depthwise_relu")(x)
    x = layers.Conv2D(pointwise_filters, kernel_size=1, padding="same", use_bias=False, activation=None,
                      name=f"{prefix}project")(x)
    x = layers.BatchNormalization(axis=channel_axis, epsilon=1e-3, momentum=0.999, name=f"{prefix}project_BN")(x)
    if in_channels == pointwise_filters and stride == 1:
        return layers.Add(name=f"{prefix}add")([inputs, x])
    return x


def make_divisible(v, divisor=8, min_value=None):
    """``v`` rounded to the nearest multiple of ``divisor`` (at least ``min_value``), never more than 10% lower.

    The rule of TensorFlow's slim MobileNets (Keras's ``_make_divisible`` / ``_depth``).
    """
    if min_value is None:
        min_value = divisor
    new_v = max(min_value, int(v + divisor / 2) // divisor * divisor)
    if new_v < 0.9 * v:
        new_v += divisor
    return new_v


def preprocess_input(x, data_format=None):
    """Keras's "tf" preprocessing: pixels 0 ... 255 scaled to -1 ... 1 (``x / 127.5 - 1``).

    Returns a new float array. See :func:`course_lib.applications.imagenet_utils.preprocess_input`.
    """
    return imagenet_utils.preprocess_input(x, data_format, mode="tf")


decode_predictions = imagenet_utils.decode_predictions
