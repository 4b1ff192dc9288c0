"""Inception v3 (Szegedy et al., 2016) with Keras's layer names, shapes and parameter counts.

Every convolution is a ``conv2d_bn``: a convolution without bias, a
BatchNormalization without scale (``scale=False``: a ReLU follows, so a scale
would add nothing) and a ReLU. A stem of five of them with two 3x3 stride-2 max
poolings takes 299x299 to 35x35x192; then eleven *Inception modules*, each a
concatenation (``mixed0`` ... ``mixed10``) of parallel branches:

- ``mixed0``-``mixed2`` (35x35): 1x1; 1x1 then 5x5; 1x1 then two 3x3; a 3x3 average pooling then 1x1;
- ``mixed3``: the grid reduction to 17x17 (a stride-2 3x3, a stride-2 double 3x3, a max pooling);
- ``mixed4``-``mixed7`` (17x17): 7x7 convolutions factorised into 1x7 and 7x1 pairs;
- ``mixed8``: the reduction to 8x8;
- ``mixed9``, ``mixed10`` (8x8): 3x3 convolutions split into parallel 1x3 and 3x1 branches,
  themselves concatenated (``mixed9_0``, ``mixed9_1`` and two unnamed Concatenates).

23,851,784 parameters with the top at 299x299x3 (34,432 of them the non-trainable
moving statistics), 21,802,784 without it. Keras names only the concatenations
(and the top): every other layer gets an automatic name (``conv2d_5``,
``batch_normalization_5``, ``activation_5``), and this module creates them in
Keras's order so that the names match in a fresh session. Inputs are prepared in
Keras's "tf" mode; the smallest input is 75x75. ``weights="imagenet"`` loads
Keras's published file from Keras's cache folder (course_lib downloads nothing).
"""
from __future__ import annotations

from course_lib import config, layers
from course_lib.applications import imagenet_utils
from course_lib.models import Model

IMAGENET_FILES = {True: "inception_v3_weights_tf_dim_ordering_tf_kernels.h5",
                  False: "inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5"}
"""The names Keras gives its ImageNet weight files (with and without the top)."""


def InceptionV3(include_top=True, weights="imagenet", input_tensor=None, input_shape=None, pooling=None,
                classes=1000, classifier_activation="softmax", name="inception_v3"):
    """The Inception v3 network as Keras's ``keras.applications.InceptionV3`` builds it.

    Args:
        include_top: whether to add the global average pooling ``avg_pool`` and the Dense ``predictions``.
        weights: None (random), ``"imagenet"`` (Keras's file from its cache folder)
            or the path of a ``.weights.h5`` / ``.h5`` file.
        input_tensor: a symbolic tensor (``keras.Input``) to use as the input.
        input_shape: ``(height, width, 3)``, at least 75x75; with the top and ImageNet weights
            it must be ``(299, 299, 3)``; without the top height and width may be free (None).
        pooling: without the top: None (the 4D ``mixed10`` output), ``"avg"`` or ``"max"``.
        classes: units of the predictions layer.
        classifier_activation: activation of the predictions layer (None or ``"softmax"`` with
            pretrained weights).
        name: the model's name.

    Returns:
        A functional :class:`~course_lib.models.Model`.
    """
    imagenet_utils.check_arguments("InceptionV3", weights, include_top, classes, pooling, classifier_activation)
    shape = imagenet_utils.obtain_input_shape(input_shape, default_size=299, min_size=75,
                                              require_flatten=include_top, weights=weights, where="InceptionV3")
    inputs = imagenet_utils.inputs(shape, input_tensor, "InceptionV3")
    axis = _channel_axis()

    x = conv2d_bn(inputs, 32, 3, 3, strides=(2, 2), padding="valid")
    x = conv2d_bn(x, 32, 3, 3, padding="valid")
    x = conv2d_bn(x, 64, 3, 3)
    x = layers.MaxPooling2D((3, 3), strides=(2, 2))(x)
    x = conv2d_bn(x, 80, 1, 1, padding="valid")
    x = conv2d_bn(x, 192, 3, 3, padding="valid")
    x = layers.MaxPooling2D((3, 3), strides=(2, 2))(x)

    for index, pool_filters in enumerate((32, 64, 64)):  # mixed0 ... mixed2: 35x35
        branch1x1 = conv2d_bn(x, 64, 1, 1)
        branch5x5 = conv2d_bn(conv2d_bn(x, 48, 1, 1), 64, 5, 5)
        branch3x3dbl = conv2d_bn(conv2d_bn(conv2d_bn(x, 64, 1, 1), 96, 3, 3), 96, 3, 3)
        branch_pool = conv2d_bn(_average_3x3(x), pool_filters, 1, 1)
        x = layers.concatenate([branch1x1, branch5x5, branch3x3dbl, branch_pool], axis=axis, name=f"mixed{index}")

    branch3x3 = conv2d_bn(x, 384, 3, 3, strides=(2, 2), padding="valid")  # mixed3: to 17x17
    branch3x3dbl = conv2d_bn(conv2d_bn(x, 64, 1, 1), 96, 3, 3)
    branch3x3dbl = conv2d_bn(branch3x3dbl, 96, 3, 3, strides=(2, 2), padding="valid")
    branch_pool = layers.MaxPooling2D((3, 3), strides=(2, 2))(x)
    x = layers.concatenate([branch3x3, branch3x3dbl, branch_pool], axis=axis, name="mixed3")

    for index, filters in zip(range(4, 8), (128, 160, 160, 192)):  # mixed4 ... mixed7: 17x17
        branch1x1 = conv2d_bn(x, 192, 1, 1)
        branch7x7 = conv2d_bn(conv2d_bn(conv2d_bn(x, filters, 1, 1), filters, 1, 7), 192, 7, 1)
        branch7x7dbl = conv2d_bn(x, filters, 1, 1)
        for (rows, cols) in ((7, 1), (1, 7), (7, 1)):
            branch7x7dbl = conv2d_bn(branch7x7dbl, filters, rows, cols)
        branch7x7dbl = conv2d_bn(branch7x7dbl, 192, 1, 7)
        branch_pool = conv2d_bn(_average_3x3(x), 192, 1, 1)
        x = layers.concatenate([branch1x1, branch7x7, branch7x7dbl, branch_pool], axis=axis, name=f"mixed{index}")

    branch3x3 = conv2d_bn(conv2d_bn(x, 192, 1, 1), 320, 3, 3, strides=(2, 2), padding="valid")  # mixed8: to 8x8
    branch7x7x3 = conv2d_bn(conv2d_bn(conv2d_bn(x, 192, 1, 1), 192, 1, 7), 192, 7, 1)
    branch7x7x3 = conv2d_bn(branch7x7x3, 192, 3, 3, strides=(2, 2), padding="valid")
    branch_pool = layers.MaxPooling2D((3, 3), strides=(2, 2))(x)
    x = layers.concatenate([branch3x3, branch7x7x3, branch_pool], axis=axis, name="mixed8")

    for index in range(2):  # mixed9, mixed10: 8x8
        branch1x1 = conv2d_bn(x, 320, 1, 1)
        branch3x3 = conv2d_bn(x, 384, 1, 1)
        branch3x3 = layers.concatenate([conv2d_bn(branch3x3, 384, 1, 3), conv2d_bn(branch3x3, 384, 3, 1)],
                                       axis=axis, name=f"mixed9_{index}")
        branch3x3dbl = conv2d_bn(conv2d_bn(x, 448, 1, 1), 384, 3, 3)
        branch3x3dbl = layers.concatenate(
            [conv2d_bn(branch3x3dbl, 384, 1, 3), conv2d_bn(branch3x3dbl, 384, 3, 1)], axis=axis)
        branch_pool = conv2d_bn(_average_3x3(x), 192, 1, 1)
        x = layers.concatenate([branch1x1, branch3x3, branch3x3dbl, branch_pool], axis=axis, name=f"mixed{9 + index}")

    if include_top:
        x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
        x = layers.Dense(classes, activation=classifier_activation, name="predictions")(x)
    else:
        x = imagenet_utils.pool(x, pooling)
    model = Model(inputs, x, name=name)
    return imagenet_utils.load_weights(model, "InceptionV3", weights, IMAGENET_FILES[bool(include_top)],
                                       f"keras.applications.InceptionV3(include_top={bool(include_top)})")


def conv2d_bn(x, filters, num_row, num_col, padding="same", strides=(1, 1), name=None):
    """A ``num_row`` x ``num_col`` convolution without bias, BatchNormalization without scale, ReLU.

    ``name`` names the three ``{name}_conv``, ``{name}_bn`` and ``{name}`` (Keras's ``conv2d_bn``);
    None leaves them automatic names.
    """
    conv_name, bn_name = (None, None) if name is None else (f"{name}_conv", f"{name}_bn")
    x = layers.Conv2D(filters, (num_row, num_col), strides=strides, padding=padding, use_bias=False,
                      name=conv_name)(x)
    x = layers.BatchNormalization(axis=_channel_axis(), scale=False, name=bn_name)(x)
    return layers.Activation("relu", name=name)(x)


def _average_3x3(x):
    return layers.AveragePooling2D((3, 3), strides=(1, 1), padding="same")(x)


def _channel_axis():
    return 1 if config.image_data_format() == "channels_first" else 3


def preprocess_input(x, data_format=None):
    """Keras's "tf" preprocessing: pixels 0 ... 255 scaled to -1 ... 1 (``x / 127.5 - 1``).

    Returns a new float array (Keras's own function changes a float NumPy input in place;
    course_lib never changes its input). See :func:`course_lib.applications.imagenet_utils.preprocess_input`.
    """
    return imagenet_utils.preprocess_input(x, data_format, mode="tf")


decode_predictions = imagenet_utils.decode_predictions

__all__ = ["InceptionV3", "decode_predictions", "preprocess_input"]
