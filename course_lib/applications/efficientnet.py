"""EfficientNet B0 ... B7 (Tan and Le, 2019) with Keras's layer names, shapes and parameter counts.

One stem, seven stages of MBConv blocks (mobile inverted bottlenecks), one head:

- **preprocessing inside the model**: ``Rescaling(1/255)`` then a ``Normalization`` layer
  (its ``mean``/``variance``/``count`` weights come with the ImageNet file: ImageNet's
  channel means and squared standard deviations), and, with ``weights="imagenet"`` only,
  a second ``Rescaling(1/sqrt(std))``: the original network divided by the *variance*,
  Keras's ``Normalization`` divides by the standard deviation, so Keras corrects by
  ``1/sqrt(std)`` per channel. The model takes pixels in 0 ... 255, and
  :func:`preprocess_input` passes its input through unchanged;
- **stem**: zero padding (:func:`~course_lib.applications.imagenet_utils.correct_pad`), a
  3x3 stride-2 convolution without bias, BatchNormalization, swish (``x * sigmoid(x)``);
- **an MBConv block** (:func:`block`): a 1x1 *expansion* convolution to ``expand_ratio``
  times the channels (BN, swish), a ``DepthwiseConv2D`` (3x3 or 5x5, padded explicitly
  when strided; BN, swish), *squeeze and excitation* (global average pooling, reshape to
  1x1, a 1x1 swish convolution to ``filters_in * se_ratio`` channels, a 1x1 sigmoid
  convolution back, multiplied into the features), a 1x1 *projection* without activation
  (BN), and, when the shape is unchanged, a residual ``add`` after *drop-connect*: a
  ``Dropout(rate, noise_shape=(None, 1, 1, 1))`` that drops a sample's whole branch, with a
  rate growing linearly from 0 to ``drop_connect_rate`` along the network;
- **head**: a 1x1 convolution to ``round_filters(1280)`` channels (BN, swish), then global
  average pooling, ``Dropout`` and the ``predictions`` Dense layer.

B1 ... B7 scale the width by ``width_coefficient`` (:func:`round_filters`: to a multiple of
8, never 10% below) and the depth by ``depth_coefficient`` (:func:`round_repeats`: rounded
up), and the default resolution from 224 to 600. EfficientNetB0 has 5,330,571 parameters
(5,288,548 trainable; 42,023 non-trainable: BatchNormalization's moving statistics and the
Normalization layer's 7 numbers) with the top at 224x224x3; B7 has 66,658,687.

course_lib downloads nothing: ``weights="imagenet"`` loads Keras's published file
(``efficientnetb0.h5``, ``efficientnetb0_notop.h5`` ...) from Keras's cache folder when it
is there, and otherwise says where to put it; ``weights="path/to/file"`` loads a
``.weights.h5`` (Keras 3) or ``.h5`` (Keras 2) file written by Keras or course_lib.
"""
from __future__ import annotations

import copy
import math

from course_lib import config, layers
from course_lib.applications import imagenet_utils
from course_lib.models import Model

DEFAULT_BLOCKS_ARGS = [
    {"kernel_size": 3, "repeats": 1, "filters_in": 32, "filters_out": 16, "expand_ratio": 1,
     "id_skip": True, "strides": 1, "se_ratio": 0.25},
    {"kernel_size": 3, "repeats": 2, "filters_in": 16, "filters_out": 24, "expand_ratio": 6,
     "id_skip": True, "strides": 2, "se_ratio": 0.25},
    {"kernel_size": 5, "repeats": 2, "filters_in": 24, "filters_out": 40, "expand_ratio": 6,
     "id_skip": True, "strides": 2, "se_ratio": 0.25},
    {"kernel_size": 3, "repeats": 3, "filters_in": 40, "filters_out": 80, "expand_ratio": 6,
     "id_skip": True, "strides": 2, "se_ratio": 0.25},
    {"kernel_size": 5, "repeats": 3, "filters_in": 80, "filters_out": 112, "expand_ratio": 6,
     "id_skip": True, "strides": 1, "se_ratio": 0.25},
    {"kernel_size": 5, "repeats": 4, "filters_in": 112, "filters_out": 192, "expand_ratio": 6,
     "id_skip": True, "strides": 2, "se_ratio": 0.25},
    {"kernel_size": 3, "repeats": 1, "filters_in": 192, "filters_out": 320, "expand_ratio": 6,
     "id_skip": True, "strides": 1, "se_ratio": 0.25},
]
"""Keras's seven stages of B0 (before width and depth scaling)."""

CONV_KERNEL_INITIALIZER = {
    "class_name": "VarianceScaling",
    "config": {"scale": 2.0, "mode": "fan_out", "distribution": "truncated_normal"},
}
DENSE_KERNEL_INITIALIZER = {
    "class_name": "VarianceScaling",
    "config": {"scale": 1.0 / 3.0, "mode": "fan_out", "distribution": "uniform"},
}
IMAGENET_STDDEV_RGB = [0.229, 0.224, 0.225]
"""ImageNet's channel standard deviations, R, G, B (the 1/sqrt(std) correction of the ImageNet weights)."""

VARIANTS = {
    # name: (width_coefficient, depth_coefficient, default_size, dropout_rate)
    "b0": (1.0, 1.0, 224, 0.2), "b1": (1.0, 1.1, 240, 0.2), "b2": (1.1, 1.2, 260, 0.3),
    "b3": (1.2, 1.4, 300, 0.3), "b4": (1.4, 1.8, 380, 0.4), "b5": (1.6, 2.2, 456, 0.4),
    "b6": (1.8, 2.6, 528, 0.5), "b7": (2.0, 3.1, 600, 0.5),
}
"""Keras's scaling of each variant."""


def round_filters(filters, width_coefficient=1.0, depth_divisor=8):
    """``filters * width_coefficient`` rounded to the nearest multiple of ``depth_divisor``, never 10% lower."""
    filters *= width_coefficient
    new_filters = max(depth_divisor, int(filters + depth_divisor / 2) // depth_divisor * depth_divisor)
    if new_filters < 0.9 * filters:
        new_filters += depth_divisor
    return int(new_filters)


def round_repeats(repeats, depth_coefficient=1.0):
    """``repeats * depth_coefficient`` rounded up."""
    return int(math.ceil(depth_coefficient * repeats))


def EfficientNet(width_coefficient, depth_coefficient, default_size, dropout_rate=0.2, drop_connect_rate=0.2,
                 depth_divisor=8, activation="swish", blocks_args="default", name="efficientnet",
                 include_top=True, weights="imagenet", input_tensor=None, input_shape=None, pooling=None,
                 classes=1000, classifier_activation="softmax", weights_name=None):
    """An EfficientNet of any scaling, as Keras's ``keras.src.applications.efficientnet.EfficientNet``.

    Args:
        width_coefficient, depth_coefficient: the scaling of the channels and of the blocks per stage.
        default_size: the input size with the top (and the default one).
        dropout_rate: the rate of the Dropout before ``predictions`` (0: no such layer).
        drop_connect_rate: the largest drop-connect rate (the last block's; 0: no ``{block}drop`` layers).
        depth_divisor: channels are rounded to multiples of it.
        activation: the activation of every block (swish).
        blocks_args: ``"default"`` (:data:`DEFAULT_BLOCKS_ARGS`) or a list of such dicts.
        name: the model's name.
        include_top, weights, input_tensor, input_shape, pooling, classes, classifier_activation:
            as in :func:`EfficientNetB0`.
        weights_name: ``"b0"`` ... ``"b7"``: names Keras's ImageNet file (``efficientnet{weights_name}.h5``).

    Returns:
        A functional :class:`~course_lib.models.Model`.
    """
    where = _where(name, weights_name)
    if blocks_args == "default":
        blocks_args = DEFAULT_BLOCKS_ARGS
    imagenet_utils.check_arguments(where, weights, include_top, classes, pooling, classifier_activation)
    input_shape = imagenet_utils.obtain_input_shape(input_shape, default_size=default_size, min_size=32,
                                                    data_format=config.image_data_format(),
                                                    require_flatten=include_top, weights=weights, where=where)
    img_input = imagenet_utils.inputs(input_shape, input_tensor, where)
    bn_axis = 3 if config.image_data_format() == "channels_last" else 1

    x = layers.Rescaling(1.0 / 255.0)(img_input)
    x = layers.Normalization(axis=bn_axis)(x)
    if weights == "imagenet":
        # The original network divides by the variance, Normalization by its square root.
        x = layers.Rescaling([1.0 / math.sqrt(stddev) for stddev in IMAGENET_STDDEV_RGB])(x)
    x = layers.ZeroPadding2D(padding=imagenet_utils.correct_pad(x, 3), name="stem_conv_pad")(x)
    x = layers.Conv2D(round_filters(32, width_coefficient, depth_divisor), 3, strides=2, padding="valid",
                      use_bias=False, kernel_initializer=CONV_KERNEL_INITIALIZER, name="stem_conv")(x)
    x = layers.BatchNormalization(axis=bn_axis, name="stem_bn")(x)
    x = layers.Activation(activation, name="stem_activation")(x)

    blocks_args = copy.deepcopy(blocks_args)
    b = 0
    blocks = float(sum(round_repeats(args["repeats"], depth_coefficient) for args in blocks_args))
    for i, args in enumerate(blocks_args):
        if args["repeats"] <= 0:
            raise ValueError(
                f"{where}: the number of repeats of every stage must be > 0. Received: repeats={args['repeats']}"
            )
        args["filters_in"] = round_filters(args["filters_in"], width_coefficient, depth_divisor)
        args["filters_out"] = round_filters(args["filters_out"], width_coefficient, depth_divisor)
        for j in range(round_repeats(args.pop("repeats"), depth_coefficient)):
            if j > 0:  # only the first block of a stage strides and changes the width
                args["strides"] = 1
                args["filters_in"] = args["filters_out"]
            x = block(x, activation, drop_connect_rate * b / blocks, name=f"block{i + 1}{chr(j + 97)}_", **args)
            b += 1

    x = layers.Conv2D(round_filters(1280, width_coefficient, depth_divisor), 1, padding="same", use_bias=False,
                      kernel_initializer=CONV_KERNEL_INITIALIZER, name="top_conv")(x)
    x = layers.BatchNormalization(axis=bn_axis, name="top_bn")(x)
    x = layers.Activation(activation, name="top_activation")(x)
    if include_top:
        x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
        if dropout_rate > 0:
            x = layers.Dropout(dropout_rate, name="top_dropout")(x)
        x = layers.Dense(classes, activation=classifier_activation, kernel_initializer=DENSE_KERNEL_INITIALIZER,
                         name="predictions")(x)
    else:
        x = imagenet_utils.pool(x, pooling, named=True)

    model = Model(img_input, x, name=name)
    file_name = f"efficientnet{weights_name}" + (".h5" if include_top else "_notop.h5")
    return imagenet_utils.load_weights(model, where, weights, file_name,
                                       f"keras.applications.{where}(include_top={include_top})")


def block(inputs, activation="swish", drop_rate=0.0, name="", filters_in=32, filters_out=16, kernel_size=3,
          strides=1, expand_ratio=1, se_ratio=0.0, id_skip=True):
    """One MBConv block (inverted residual with squeeze and excitation) on the symbolic tensor ``inputs``.

    Args:
        inputs: the block's input.
        activation: the activation after the expansion, the depthwise convolution and in the squeeze.
        drop_rate: the drop-connect rate of the residual branch (0: no Dropout layer).
        name: the prefix of every layer's name (``"block1a_"``).
        filters_in, filters_out: channels in and out.
        kernel_size, strides: of the depthwise convolution.
        expand_ratio: the expansion's channel multiplier (1: no expansion layers).
        se_ratio: the squeeze's channels as a fraction of ``filters_in`` (0: no squeeze and excitation).
        id_skip: whether to add the residual when the shape allows it.

    Returns:
        The block's output tensor.
    """
    bn_axis = 3 if config.image_data_format() == "channels_last" else 1
    filters = filters_in * expand_ratio
    if expand_ratio != 1:
        x = layers.Conv2D(filters, 1, padding="same", use_bias=False, kernel_initializer=CONV_KERNEL_INITIALIZER,
                          name=f"{name}expand_conv")(inputs)
        x = layers.BatchNormalization(axis=bn_axis, name=f"{name}expand_bn")(x)
        x = layers.Activation(activation, name=f"{name}expand_activation")(x)
    else:
        x = inputs

    if strides == 2:
        x = layers.ZeroPadding2D(padding=imagenet_utils.correct_pad(x, kernel_size), name=f"{name}dwconv_pad")(x)
        conv_pad = "valid"
    else:
        conv_pad = "same"
    x = layers.DepthwiseConv2D(kernel_size, strides=strides, padding=conv_pad, use_bias=False,
                               depthwise_initializer=CONV_KERNEL_INITIALIZER, name=f"{name}dwconv")(x)
    x = layers.BatchNormalization(axis=bn_axis, name=f"{name}bn")(x)
    x = layers.Activation(activation, name=f"{name}activation")(x)

    if 0 < se_ratio <= 1:
        x = squeeze_excite(x, filters, max(1, int(filters_in * se_ratio)), activation, name, bn_axis)

    x = layers.Conv2D(filters_out, 1, padding="same", use_bias=False, kernel_initializer=CONV_KERNEL_INITIALIZER,
                      name=f"{name}project_conv")(x)
    x = layers.BatchNormalization(axis=bn_axis, name=f"{name}project_bn")(x)
    if id_skip and strides == 1 and filters_in == filters_out:
        if drop_rate > 0:
            x = layers.Dropout(drop_rate, noise_shape=(None, 1, 1, 1), name=f"{name}drop")(x)
        x = layers.add([x, inputs], name=f"{name}add")
    return x


def squeeze_excite(x, filters, filters_se, activation, name, bn_axis=3):
    """Squeeze and excitation: ``x`` times a per-channel gate in (0, 1) computed from its global average.

    Layers ``{name}se_squeeze`` (GlobalAveragePooling2D), ``se_reshape`` (to 1x1), ``se_reduce`` (1x1
    convolution to ``filters_se`` channels, ``activation``), ``se_expand`` (1x1 convolution back to
    ``filters``, sigmoid) and ``se_excite`` (Multiply). EfficientNetV2's blocks use it too.
    """
    se = layers.GlobalAveragePooling2D(name=f"{name}se_squeeze")(x)
    se_shape = (filters, 1, 1) if bn_axis == 1 else (1, 1, filters)
    se = layers.Reshape(se_shape, name=f"{name}se_reshape")(se)
    se = layers.Conv2D(filters_se, 1, padding="same", activation=activation,
                       kernel_initializer=CONV_KERNEL_INITIALIZER, name=f"{name}se_reduce")(se)
    se = layers.Conv2D(filters, 1, padding="same", activation="sigmoid",
                       kernel_initializer=CONV_KERNEL_INITIALIZER, name=f"{name}se_expand")(se)
    return layers.multiply([x, se], name=f"{name}se_excite")


def _where(name, weights_name):
    """The network named in errors: ``EfficientNetB0`` for ``weights_name="b0"``, else the model's name."""
    return f"EfficientNet{weights_name.upper()}" if weights_name else f"EfficientNet({name!r})"


def _variant(weights_name, include_top, weights, input_tensor, input_shape, pooling, classes,
             classifier_activation, name):
    width, depth, size, dropout = VARIANTS[weights_name]
    return EfficientNet(width, depth, size, dropout, name=name, include_top=include_top, weights=weights,
                        input_tensor=input_tensor, input_shape=input_shape, pooling=pooling, classes=classes,
                        classifier_activation=classifier_activation, weights_name=weights_name)


_ARGS_DOC = """

    Args:
        include_top: whether to add global average pooling, Dropout and the ``predictions`` layer.
        weights: None (random), ``"imagenet"`` (Keras's file ``{file}`` or ``{notop}`` from its cache
            folder) or the path of a ``.weights.h5`` / ``.h5`` file.
        input_tensor: a symbolic tensor (``keras.Input``) to use as the input.
        input_shape: ``(height, width, channels)``, at least 32x32; with the top and ImageNet
            weights it must be ``({size}, {size}, 3)``. Pixels in 0 ... 255 (the model rescales them).
        pooling: without the top: None (the 4D ``top_activation`` output), ``"avg"`` or ``"max"``.
        classes: units of the predictions layer.
        classifier_activation: activation of the predictions layer.
        name: the model's name.

    Returns:
        A functional :class:`~course_lib.models.Model` ({params} parameters with the top at its default size).
    """


def _documented(function, weights_name, params):
    width, depth, size, _ = VARIANTS[weights_name]
    function.__doc__ = (
        f"EfficientNet{weights_name.upper()} as Keras's ``keras.applications.EfficientNet{weights_name.upper()}`` "
        f"builds it: width x{width}, depth x{depth}, {size}x{size} by default; see :func:`EfficientNet`."
        + _ARGS_DOC.format(file=f"efficientnet{weights_name}.h5", notop=f"efficientnet{weights_name}_notop.h5",
                           size=size, params=params)
    )
    return function


def EfficientNetB0(include_top=True, weights="imagenet", input_tensor=None, input_shape=None, pooling=None,
                   classes=1000, classifier_activation="softmax", name="efficientnetb0"):
    return _variant("b0", include_top, weights, input_tensor, input_shape, pooling, classes,
                    classifier_activation, name)


def EfficientNetB1(include_top=True, weights="imagenet", input_tensor=None, input_shape=None, pooling=None,
                   classes=1000, classifier_activation="softmax", name="efficientnetb1"):
    return _variant("b1", include_top, weights, input_tensor, input_shape, pooling, classes,
                    classifier_activation, name)


def EfficientNetB2(include_top=True, weights="imagenet", input_tensor=None, input_shape=None, pooling=None,
                   classes=1000, classifier_activation="softmax", name="efficientnetb2"):
    return _variant("b2", include_top, weights, input_tensor, input_shape, pooling, classes,
                    classifier_activation, name)


def EfficientNetB3(include_top=True, weights="imagenet", input_tensor=None, input_shape=None, pooling=None,
                   classes=1000, classifier_activation="softmax", name="efficientnetb3"):
    return _variant("b3", include_top, weights, input_tensor, input_shape, pooling, classes,
                    classifier_activation, name)


def EfficientNetB4(include_top=True, weights="imagenet", input_tensor=None, input_shape=None, pooling=None,
                   classes=1000, classifier_activation="softmax", name="efficientnetb4"):
    return _variant("b4", include_top, weights, input_tensor, input_shape, pooling, classes,
                    classifier_activation, name)


def EfficientNetB5(include_top=True, weights="imagenet", input_tensor=None, input_shape=None, pooling=None,
                   classes=1000, classifier_activation="softmax", name="efficientnetb5"):
    return _variant("b5", include_top, weights, input_tensor, input_shape, pooling, classes,
                    classifier_activation, name)


def EfficientNetB6(include_top=True, weights="imagenet", input_tensor=None, input_shape=None, pooling=None,
                   classes=1000, classifier_activation="softmax", name="efficientnetb6"):
    return _variant("b6", include_top, weights, input_tensor, input_shape, pooling, classes,
                    classifier_activation, name)


def EfficientNetB7(include_top=True, weights="imagenet", input_tensor=None, input_shape=None, pooling=None,
                   classes=1000, classifier_activation="softmax", name="efficientnetb7"):
    return _variant("b7", include_top, weights, input_tensor, input_shape, pooling, classes,
                    classifier_activation, name)


for _function, _params in ((EfficientNetB0, "5,330,571"), (EfficientNetB1, "7,856,239"),
                           (EfficientNetB2, "9,177,569"), (EfficientNetB3, "12,320,535"),
                           (EfficientNetB4, "19,466,823"), (EfficientNetB5, "30,562,527"),
                           (EfficientNetB6, "43,265,143"), (EfficientNetB7, "66,658,687")):
    _documented(_function, _function.__name__[-2:].lower(), _params)
del _function, _params


def preprocess_input(x, data_format=None):
    """Keras's pass-through: EfficientNet rescales and normalizes its pixels (0 ... 255) inside the model.

    Returns ``x`` itself, unchanged, as Keras does (``data_format`` is accepted and ignored).
    """
    return x


decode_predictions = imagenet_utils.decode_predictions


__all__ = ["EfficientNet", "EfficientNetB0", "EfficientNetB1", "EfficientNetB2", "EfficientNetB3",
           "EfficientNetB4", "EfficientNetB5", "EfficientNetB6", "EfficientNetB7", "block",
           "decode_predictions", "preprocess_input", "round_filters", "round_repeats", "squeeze_excite"]
