"""EfficientNetV2 B0 ... B3, S, M, L (Tan and Le, 2021) with Keras's layer names, shapes and parameter counts.

EfficientNet's recipe (:mod:`course_lib.applications.efficientnet`) with three changes:

- **Fused-MBConv** in the early stages (:func:`FusedMBConvBlock`): the 1x1 expansion and
  the depthwise convolution are fused into one ordinary ``kernel_size`` convolution
  (strided where the stage strides), followed by a 1x1 projection; without expansion the
  block is a single convolution, BN and swish (``project_activation``). Later stages keep
  MBConv (:func:`MBConvBlock`, its depthwise layer is named ``dwconv2``) with squeeze and
  excitation. Every convolution pads ``"same"`` (no explicit ZeroPadding2D), and
  BatchNormalization uses ``bn_momentum`` (0.9);
- **preprocessing** (``include_preprocessing=True``): the B variants rescale by 1/255 and
  normalize with ImageNet's fixed means and variances (a ``Normalization`` layer with
  ``mean``/``variance`` given, so it holds no weights); S, M and L (and B variants on inputs
  without 3 channels) map 0 ... 255 to about -1 ... 1 (``Rescaling(1/128, offset=-1)``).
  With ``include_preprocessing=False`` the model expects inputs already in -1 ... 1;
- **widths** (:func:`round_filters`) round to multiples of 8 without EfficientNet's
  "never 10% lower" step, and the stages differ per variant (:data:`DEFAULT_BLOCKS_ARGS`).

As in Keras, a block's ``survival_probability`` is in fact the *drop* rate of its
drop-connect ``Dropout(rate, noise_shape=(None, 1, 1, 1))``, growing from 0 along the
network to ``drop_connect_rate``. EfficientNetV2B0 has 7,200,312 parameters (7,139,704
trainable) with the top at 224x224x3; EfficientNetV2L has 119,027,848.

course_lib downloads nothing: ``weights="imagenet"`` loads Keras's published file
(``efficientnetv2-b0.h5``, ``efficientnetv2-b0_notop.h5`` ...) from Keras's cache folder
when it is there, and otherwise says where to put it; ``weights="path/to/file"`` loads a
``.weights.h5`` (Keras 3) or ``.h5`` (Keras 2) file written by Keras or course_lib.
"""
from __future__ import annotations

import copy
import math

from course_lib import backend, config, initializers, layers
from course_lib.applications import imagenet_utils
from course_lib.applications.efficientnet import CONV_KERNEL_INITIALIZER, DENSE_KERNEL_INITIALIZER, squeeze_excite
from course_lib.models import Model


def _stages(*rows):
    keys = ("kernel_size", "num_repeat", "input_filters", "output_filters", "expand_ratio", "se_ratio",
            "strides", "conv_type")
    return [dict(zip(keys, row)) for row in rows]


_B_STAGES = _stages((3, 1, 32, 16, 1, 0, 1, 1), (3, 2, 16, 32, 4, 0, 2, 1), (3, 2, 32, 48, 4, 0, 2, 1),
                    (3, 3, 48, 96, 4, 0.25, 2, 0), (3, 5, 96, 112, 6, 0.25, 1, 0), (3, 8, 112, 192, 6, 0.25, 2, 0))
DEFAULT_BLOCKS_ARGS = {
    "efficientnetv2-s": _stages((3, 2, 24, 24, 1, 0.0, 1, 1), (3, 4, 24, 48, 4, 0.0, 2, 1),
                                (3, 4, 48, 64, 4, 0, 2, 1), (3, 6, 64, 128, 4, 0.25, 2, 0),
                                (3, 9, 128, 160, 6, 0.25, 1, 0), (3, 15, 160, 256, 6, 0.25, 2, 0)),
    "efficientnetv2-m": _stages((3, 3, 24, 24, 1, 0, 1, 1), (3, 5, 24, 48, 4, 0, 2, 1), (3, 5, 48, 80, 4, 0, 2, 1),
                                (3, 7, 80, 160, 4, 0.25, 2, 0), (3, 14, 160, 176, 6, 0.25, 1, 0),
                                (3, 18, 176, 304, 6, 0.25, 2, 0), (3, 5, 304, 512, 6, 0.25, 1, 0)),
    "efficientnetv2-l": _stages((3, 4, 32, 32, 1, 0, 1, 1), (3, 7, 32, 64, 4, 0, 2, 1), (3, 7, 64, 96, 4, 0, 2, 1),
                                (3, 10, 96, 192, 4, 0.25, 2, 0), (3, 19, 192, 224, 6, 0.25, 1, 0),
                                (3, 25, 224, 384, 6, 0.25, 2, 0), (3, 7, 384, 640, 6, 0.25, 1, 0)),
    "efficientnetv2-b0": _B_STAGES, "efficientnetv2-b1": _B_STAGES,
    "efficientnetv2-b2": _B_STAGES, "efficientnetv2-b3": _B_STAGES,
}
"""Keras's stages of each variant, by Keras's model name: kernel_size, num_repeat, input_filters,
output_filters, expand_ratio, se_ratio, strides and conv_type (1: Fused-MBConv, 0: MBConv)."""

VARIANTS = {
    # weights_name: (Keras's model name, width_coefficient, depth_coefficient, default_size)
    "b0": ("efficientnetv2-b0", 1.0, 1.0, 224), "b1": ("efficientnetv2-b1", 1.0, 1.1, 240),
    "b2": ("efficientnetv2-b2", 1.1, 1.2, 260), "b3": ("efficientnetv2-b3", 1.2, 1.4, 300),
    "-s": ("efficientnetv2-s", 1.0, 1.0, 384), "-m": ("efficientnetv2-m", 1.0, 1.0, 480),
    "-l": ("efficientnetv2-l", 1.0, 1.0, 480),
}
"""Keras's scaling of each variant, by the suffix of its ImageNet file (``efficientnetv2{suffix}.h5``)."""

IMAGENET_MEAN = [0.485, 0.456, 0.406]
IMAGENET_VARIANCE = [0.229**2, 0.224**2, 0.225**2]
"""The fixed statistics of the B variants' Normalization layer (pixels in 0 ... 1, R, G, B)."""


def round_filters(filters, width_coefficient, min_depth, depth_divisor):
    """``filters * width_coefficient`` rounded to the nearest multiple of ``depth_divisor``, at least ``min_depth``."""
    filters *= width_coefficient
    minimum_depth = min_depth or depth_divisor
    return int(max(minimum_depth, int(filters + depth_divisor / 2) // depth_divisor * depth_divisor))


def round_repeats(repeats, depth_coefficient):
    """``repeats * depth_coefficient`` rounded up."""
    return int(math.ceil(depth_coefficient * repeats))


def _bn(momentum, name):
    axis = 3 if config.image_data_format() == "channels_last" else 1
    return layers.BatchNormalization(axis=axis, momentum=momentum, name=name)


def _drop_and_add(x, inputs, survival_probability, name):
    if survival_probability:
        x = layers.Dropout(survival_probability, noise_shape=(None, 1, 1, 1), name=f"{name}drop")(x)
    return layers.add([x, inputs], name=f"{name}add")


def MBConvBlock(input_filters, output_filters, expand_ratio=1, kernel_size=3, strides=1, se_ratio=0.0,
                bn_momentum=0.9, activation="swish", survival_probability=0.8, name=None):
    """MBConv: 1x1 expansion, ``dwconv2`` depthwise convolution, squeeze and excitation, 1x1 projection.

    Returns a function of the block's input tensor (Keras's form). The residual (with drop-connect at
    rate ``survival_probability``) is added when ``strides == 1`` and the channels are unchanged.
    """
    bn_axis = 3 if config.image_data_format() == "channels_last" else 1
    if name is None:
        name = f"{backend.unique_name('block0')}_"

    def apply(inputs):
        filters = input_filters * expand_ratio
        if expand_ratio != 1:
            x = layers.Conv2D(filters=filters, kernel_size=1, strides=1, kernel_initializer=CONV_KERNEL_INITIALIZER,
                              padding="same", data_format=config.image_data_format(), use_bias=False,
                              name=f"{name}expand_conv")(inputs)
            x = _bn(bn_momentum, f"{name}expand_bn")(x)
            x = layers.Activation(activation, name=f"{name}expand_activation")(x)
        else:
            x = inputs
        x = layers.DepthwiseConv2D(kernel_size=kernel_size, strides=strides,
                                   depthwise_initializer=CONV_KERNEL_INITIALIZER, padding="same",
                                   data_format=config.image_data_format(), use_bias=False,
                                   name=f"{name}dwconv2")(x)
        x = _bn(bn_momentum, f"{name}bn")(x)
        x = layers.Activation(activation, name=f"{name}activation")(x)
        if 0 < se_ratio <= 1:
            x = squeeze_excite(x, filters, max(1, int(input_filters * se_ratio)), activation, name, bn_axis)
        x = layers.Conv2D(filters=output_filters, kernel_size=1, strides=1, kernel_initializer=CONV_KERNEL_INITIALIZER,
                          padding="same", data_format=config.image_data_format(), use_bias=False,
                          name=f"{name}project_conv")(x)
        x = _bn(bn_momentum, f"{name}project_bn")(x)
        if strides == 1 and input_filters == output_filters:
            x = _drop_and_add(x, inputs, survival_probability, name)
        return x

    return apply


def FusedMBConvBlock(input_filters, output_filters, expand_ratio=1, kernel_size=3, strides=1, se_ratio=0.0,
                     bn_momentum=0.9, activation="swish", survival_probability=0.8, name=None):
    """Fused-MBConv: one ``kernel_size`` expansion convolution (strided), optional squeeze, 1x1 projection.

    Without expansion (``expand_ratio=1``) the projection itself is the ``kernel_size`` strided
    convolution, followed by BN and ``project_activation``. Returns a function of the input tensor.
    """
    bn_axis = 3 if config.image_data_format() == "channels_last" else 1
    if name is None:
        name = f"{backend.unique_name('block0')}_"

    def apply(inputs):
        filters = input_filters * expand_ratio
        if expand_ratio != 1:
            x = layers.Conv2D(filters, kernel_size=kernel_size, strides=strides,
                              kernel_initializer=CONV_KERNEL_INITIALIZER, data_format=config.image_data_format(),
                              padding="same", use_bias=False, name=f"{name}expand_conv")(inputs)
            x = _bn(bn_momentum, f"{name}expand_bn")(x)
            x = layers.Activation(activation=activation, name=f"{name}expand_activation")(x)
        else:
            x = inputs
        if 0 < se_ratio <= 1:
            x = squeeze_excite(x, filters, max(1, int(input_filters * se_ratio)), activation, name, bn_axis)
        x = layers.Conv2D(output_filters, kernel_size=1 if expand_ratio != 1 else kernel_size,
                          strides=1 if expand_ratio != 1 else strides, kernel_initializer=CONV_KERNEL_INITIALIZER,
                          padding="same", use_bias=False, name=f"{name}project_conv")(x)
        x = _bn(bn_momentum, f"{name}project_bn")(x)
        if expand_ratio == 1:
            x = layers.Activation(activation=activation, name=f"{name}project_activation")(x)
        if strides == 1 and input_filters == output_filters:
            x = _drop_and_add(x, inputs, survival_probability, name)
        return x

    return apply


def EfficientNetV2(width_coefficient, depth_coefficient, default_size, dropout_rate=0.2, drop_connect_rate=0.2,
                   depth_divisor=8, min_depth=8, bn_momentum=0.9, activation="swish", blocks_args="default",
                   name="efficientnetv2", include_top=True, weights="imagenet", input_tensor=None, input_shape=None,
                   pooling=None, classes=1000, classifier_activation="softmax", include_preprocessing=True,
                   weights_name=None):
    """An EfficientNetV2 of any scaling, as Keras's ``keras.src.applications.efficientnet_v2.EfficientNetV2``.

    Args:
        width_coefficient, depth_coefficient, default_size, dropout_rate, drop_connect_rate, depth_divisor,
            activation: as in :func:`course_lib.applications.efficientnet.EfficientNet`.
        min_depth: the fewest channels a layer may have.
        bn_momentum: the momentum of every BatchNormalization.
        blocks_args: ``"default"`` (the variant's stages in :data:`DEFAULT_BLOCKS_ARGS`, found by
            ``weights_name``, else by ``name`` as Keras does) or a list of such dicts.
        name: the model's name.
        include_top, weights, input_tensor, input_shape, pooling, classes, classifier_activation,
            include_preprocessing: as in :func:`EfficientNetV2B0`.
        weights_name: ``"b0"`` ... ``"b3"``, ``"-s"``, ``"-m"``, ``"-l"``: names Keras's ImageNet file.

    Returns:
        A functional :class:`~course_lib.models.Model`.
    """
    variant = VARIANTS[weights_name][0] if weights_name in VARIANTS else name
    where = _where(name, weights_name)
    if blocks_args == "default":
        if variant not in DEFAULT_BLOCKS_ARGS:
            raise ValueError(
                f"{where}: blocks_args='default' needs one of Keras's variant names "
                f"{sorted(DEFAULT_BLOCKS_ARGS)}. Received: name={name!r}"
            )
        blocks_args = DEFAULT_BLOCKS_ARGS[variant]
    imagenet_utils.check_arguments(where, weights, include_top, classes, pooling, classifier_activation)
    input_shape = imagenet_utils.obtain_input_shape(input_shape, default_size=default_size, min_size=32,
                                                    data_format=config.image_data_format(),
                                                    require_flatten=include_top, weights=weights, where=where)
    img_input = imagenet_utils.inputs(input_shape, input_tensor, where)
    bn_axis = 3 if config.image_data_format() == "channels_last" else 1

    x = img_input
    if include_preprocessing:
        num_channels = input_shape[bn_axis - 1]
        if variant.split("-")[-1].startswith("b") and num_channels == 3:
            x = layers.Rescaling(scale=1.0 / 255)(x)
            x = layers.Normalization(mean=IMAGENET_MEAN, variance=IMAGENET_VARIANCE, axis=bn_axis)(x)
        else:
            x = layers.Rescaling(scale=1.0 / 128.0, offset=-1)(x)

    stem_filters = round_filters(blocks_args[0]["input_filters"], width_coefficient, min_depth, depth_divisor)
    x = layers.Conv2D(filters=stem_filters, kernel_size=3, strides=2, kernel_initializer=CONV_KERNEL_INITIALIZER,
                      padding="same", use_bias=False, name="stem_conv")(x)
    x = _bn(bn_momentum, "stem_bn")(x)
    x = layers.Activation(activation, name="stem_activation")(x)

    blocks_args = copy.deepcopy(blocks_args)
    b = 0
    blocks = float(sum(args["num_repeat"] for args in blocks_args))  # Keras: before depth scaling
    for i, args in enumerate(blocks_args):
        if args["num_repeat"] <= 0:
            raise ValueError(
                f"{where}: the number of repeats of every stage must be > 0. Received: num_repeat={args['num_repeat']}"
            )
        args["input_filters"] = round_filters(args["input_filters"], width_coefficient, min_depth, depth_divisor)
        args["output_filters"] = round_filters(args["output_filters"], width_coefficient, min_depth, depth_divisor)
        block = {0: MBConvBlock, 1: FusedMBConvBlock}[args.pop("conv_type")]
        for j in range(round_repeats(args.pop("num_repeat"), depth_coefficient)):
            if j > 0:
                args["strides"] = 1
                args["input_filters"] = args["output_filters"]
            x = block(activation=activation, bn_momentum=bn_momentum,
                      survival_probability=drop_connect_rate * b / blocks, name=f"block{i + 1}{chr(j + 97)}_",
                      **args)(x)
            b += 1

    top_filters = round_filters(1280, width_coefficient, min_depth, depth_divisor)
    x = layers.Conv2D(filters=top_filters, kernel_size=1, strides=1, kernel_initializer=CONV_KERNEL_INITIALIZER,
                      padding="same", data_format=config.image_data_format(), use_bias=False, name="top_conv")(x)
    x = _bn(bn_momentum, "top_bn")(x)
    x = layers.Activation(activation=activation, name="top_activation")(x)
    if include_top:
        x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
        if dropout_rate > 0:
            x = layers.Dropout(dropout_rate, name="top_dropout")(x)
        x = layers.Dense(classes, activation=classifier_activation, kernel_initializer=DENSE_KERNEL_INITIALIZER,
                         bias_initializer=initializers.Constant(0.0), name="predictions")(x)
    else:
        x = imagenet_utils.pool(x, pooling, named=True)

    model = Model(img_input, x, name=name)
    file_name = variant + (".h5" if include_top else "_notop.h5")
    return imagenet_utils.load_weights(model, where, weights, file_name,
                                       f"keras.applications.{where}(include_top={include_top})")


_NAMES = {"b0": "B0", "b1": "B1", "b2": "B2", "b3": "B3", "-s": "S", "-m": "M", "-l": "L"}


def _where(name, weights_name):
    return f"EfficientNetV2{_NAMES[weights_name]}" if weights_name in _NAMES else f"EfficientNetV2({name!r})"


def _variant(weights_name, include_top, weights, input_tensor, input_shape, pooling, classes,
             classifier_activation, include_preprocessing, name):
    _, width, depth, size = VARIANTS[weights_name]
    return EfficientNetV2(width_coefficient=width, depth_coefficient=depth, default_size=size, name=name,
                          include_top=include_top, weights=weights, input_tensor=input_tensor,
                          input_shape=input_shape, pooling=pooling, classes=classes,
                          classifier_activation=classifier_activation, include_preprocessing=include_preprocessing,
                          weights_name=weights_name)


def EfficientNetV2B0(include_top=True, weights="imagenet", input_tensor=None, input_shape=None, pooling=None,
                     classes=1000, classifier_activation="softmax", include_preprocessing=True,
                     name="efficientnetv2-b0"):
    return _variant("b0", include_top, weights, input_tensor, input_shape, pooling, classes,
                    classifier_activation, include_preprocessing, name)


def EfficientNetV2B1(include_top=True, weights="imagenet", input_tensor=None, input_shape=None, pooling=None,
                     classes=1000, classifier_activation="softmax", include_preprocessing=True,
                     name="efficientnetv2-b1"):
    return _variant("b1", include_top, weights, input_tensor, input_shape, pooling, classes,
                    classifier_activation, include_preprocessing, name)


def EfficientNetV2B2(include_top=True, weights="imagenet", input_tensor=None, input_shape=None, pooling=None,
                     classes=1000, classifier_activation="softmax", include_preprocessing=True,
                     name="efficientnetv2-b2"):
    return _variant("b2", include_top, weights, input_tensor, input_shape, pooling, classes,
                    classifier_activation, include_preprocessing, name)


def EfficientNetV2B3(include_top=True, weights="imagenet", input_tensor=None, input_shape=None, pooling=None,
                     classes=1000, classifier_activation="softmax", include_preprocessing=True,
                     name="efficientnetv2-b3"):
    return _variant("b3", include_top, weights, input_tensor, input_shape, pooling, classes,
                    classifier_activation, include_preprocessing, name)


def EfficientNetV2S(include_top=True, weights="imagenet", input_tensor=None, input_shape=None, pooling=None,
                    classes=1000, classifier_activation="softmax", include_preprocessing=True,
                    name="efficientnetv2-s"):
    return _variant("-s", include_top, weights, input_tensor, input_shape, pooling, classes,
                    classifier_activation, include_preprocessing, name)


def EfficientNetV2M(include_top=True, weights="imagenet", input_tensor=None, input_shape=None, pooling=None,
                    classes=1000, classifier_activation="softmax", include_preprocessing=True,
                    name="efficientnetv2-m"):
    return _variant("-m", include_top, weights, input_tensor, input_shape, pooling, classes,
                    classifier_activation, include_preprocessing, name)


def EfficientNetV2L(include_top=True, weights="imagenet", input_tensor=None, input_shape=None, pooling=None,
                    classes=1000, classifier_activation="softmax", include_preprocessing=True,
                    name="efficientnetv2-l"):
    return _variant("-l", include_top, weights, input_tensor, input_shape, pooling, classes,
                    classifier_activation, include_preprocessing, name)


_ARGS_DOC = """

    Args:
        include_top: whether to add global average pooling, Dropout and the ``predictions`` layer.
        weights: None (random), ``"imagenet"`` (Keras's file ``{file}.h5`` or ``{file}_notop.h5`` from
            its cache folder) or the path of a ``.weights.h5`` / ``.h5`` file.
        input_tensor: a symbolic tensor (``keras.Input``) to use as the input.
        input_shape: ``(height, width, channels)``, at least 32x32; with the top and ImageNet
            weights it must be ``({size}, {size}, 3)``.
        pooling: without the top: None (the 4D ``top_activation`` output), ``"avg"`` or ``"max"``.
        classes: units of the predictions layer.
        classifier_activation: activation of the predictions layer.
        include_preprocessing: whether the model rescales its pixels (0 ... 255) itself; without it,
            inputs are expected in -1 ... 1.
        name: the model's name.

    Returns:
        A functional :class:`~course_lib.models.Model` ({params} parameters with the top at its default size).
    """

for _function, _suffix, _params in (
        (EfficientNetV2B0, "b0", "7,200,312"), (EfficientNetV2B1, "b1", "8,212,124"),
        (EfficientNetV2B2, "b2", "10,178,374"), (EfficientNetV2B3, "b3", "14,467,622"),
        (EfficientNetV2S, "-s", "21,612,360"), (EfficientNetV2M, "-m", "54,431,388"),
        (EfficientNetV2L, "-l", "119,027,848")):
    _keras_name, _width, _depth, _size = VARIANTS[_suffix]
    _function.__doc__ = (
        f"{_function.__name__} as Keras's ``keras.applications.{_function.__name__}`` builds it: "
        f"width x{_width}, depth x{_depth}, {_size}x{_size} by default; see :func:`EfficientNetV2`."
        + _ARGS_DOC.format(file=_keras_name, size=_size, params=_params)
    )
del _function, _suffix, _params, _keras_name, _width, _depth, _size


def preprocess_input(x, data_format=None):
    """Keras's pass-through: EfficientNetV2 rescales its pixels inside the model (``include_preprocessing``).

    Returns ``x`` itself, unchanged, as Keras does (``data_format`` is accepted and ignored).
    """
    return x


decode_predictions = imagenet_utils.decode_predictions


__all__ = ["EfficientNetV2", "EfficientNetV2B0", "EfficientNetV2B1", "EfficientNetV2B2", "EfficientNetV2B3",
           "EfficientNetV2L", "EfficientNetV2M", "EfficientNetV2S", "FusedMBConvBlock", "MBConvBlock",
           "decode_predictions", "preprocess_input", "round_filters", "round_repeats"]
