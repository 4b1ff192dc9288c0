"""MobileNetV3Small and MobileNetV3Large (Howard et al., 2019) with Keras's layer names, shapes and parameter counts.

The network rescales its own input (a ``Rescaling`` of 1/127.5 with offset -1:
pass pixels 0 ... 255, ``preprocess_input`` does nothing), then a 3x3 convolution
of stride 2 (``conv``, 16 filters), a stack of inverted residual blocks
(``expanded_conv_{i}_``: 1x1 expansion, depthwise convolution, optional
*squeeze-and-excite*, linear 1x1 projection, the input added back when the shape
is kept; see :mod:`course_lib.applications.mobilenet_v2`), a 1x1 convolution to
six times the channels (``conv_1``) and the top: global average pooling, a 1x1
convolution (``conv_2``, 1024 or 1280 channels), Dropout, the ``logits`` 1x1
convolution, Flatten and the softmax.

Two novelties of V3:

- **hard-swish**, ``x * ReLU6(x + 3) / 6``: swish (``x * sigmoid(x)``) made of
  pieces that are cheap on phones, used in the later blocks (the early ones use ReLU);
- **squeeze-and-excite**: a block's channels are averaged over the image, passed
  through two 1x1 convolutions (ReLU, then the *hard sigmoid* ``ReLU6(x + 3) / 6``),
  and the result scales each channel of the block (``squeeze_excite_mul``).

The hard sigmoid is written ``ReLU(6)(x + 3.0) * (1.0 / 6.0)``, as in Keras: its
``x + 3`` and ``* (1 / 6)`` are two keras.ops operations (``add``, ``multiply``
...), in ``model.operations`` and ``summary()`` but not in ``model.layers``.
``minimalistic=True`` drops hard-swish (ReLU everywhere), the
squeeze-and-excite blocks and the 5x5 kernels (3x3 everywhere).

Parameters at alpha=1 with the top: 2,554,968 (Small), 5,507,432 (Large);
without it 939,120 and 2,996,352.

course_lib downloads nothing: ``weights="imagenet"`` loads Keras's published file
(``weights_mobilenet_v3_{small|large}[_minimalistic]_224_{alpha}_float[_no_top_v2].h5``)
from Keras's cache folder when it is there, and otherwise says where to put it; a path loads that file.
"""
from __future__ import annotations

import warnings

from course_lib import config, layers
from course_lib.applications import imagenet_utils
from course_lib.applications.mobilenet_v2 import make_divisible
from course_lib.models import Model


IMAGENET_FILES = ("large_224_0.75_float", "large_224_1.0_float", "large_minimalistic_224_1.0_float",
                  "small_224_0.75_float", "small_224_1.0_float", "small_minimalistic_224_1.0_float")
"""The variants Keras publishes ImageNet weights for (``{type}[_minimalistic]_224_{alpha}_float``)."""


def MobileNetV3(stack_fn, last_point_ch, input_shape=None, alpha=1.0, model_type="large", minimalistic=False,
                include_top=True, weights="imagenet", input_tensor=None, classes=1000, pooling=None,
                dropout_rate=0.2, classifier_activation="softmax", include_preprocessing=True, name=None):
    """The network around ``stack_fn(x, kernel, activation, se_ratio)`` (Small's or Large's blocks); see
    :func:`MobileNetV3Small`. ``last_point_ch``: the channels of ``conv_2`` (1024 or 1280)."""
    where = f"MobileNetV3{model_type.capitalize()}"
    imagenet_utils.check_arguments(where, weights, include_top, classes, pooling, classifier_activation)
    first = config.image_data_format() == "channels_first"
    # Checked here already (imagenet_utils.inputs checks again): the shape checks below read its shape.
    imagenet_utils.check_input_tensor(where, input_tensor)
    if input_shape is not None and input_tensor is not None:
        axis = 1 if first else 2
        if input_tensor.shape[axis] != input_shape[1]:
            raise ValueError(
                f"{where}: input_shape[1] must equal input_tensor.shape[{axis}]. "
                f"Received: input_shape={input_shape}, input_tensor.shape={input_tensor.shape}"
            )
    if input_shape is None and input_tensor is not None:
        # Keras's own order (columns, rows), which only matters for a non-square input_tensor
        rows, cols = input_tensor.shape[2:4] if first else input_tensor.shape[1:3]
        input_shape = (3, cols, rows) if first else (cols, rows, 3)
    if input_shape is None:
        input_shape = (3, None, None) if first else (None, None, 3)
    input_shape = tuple(input_shape)
    rows, cols = (input_shape[1], input_shape[2]) if first else (input_shape[0], input_shape[1])
    if rows and cols and (rows < 32 or cols < 32):
        raise ValueError(f"{where}: the input must be at least 32x32. Received: input_shape={input_shape}")
    if weights == "imagenet":
        if (not minimalistic and alpha not in (0.75, 1.0)) or (minimalistic and alpha != 1.0):
            raise ValueError(
                f"{where}: with weights='imagenet', alpha must be 0.75 or 1.0 (not minimalistic) or 1.0 "
                f"(minimalistic). Received: alpha={alpha}, minimalistic={minimalistic}"
            )
        if rows != cols or rows != 224:
            warnings.warn(
                "`input_shape` is undefined or non-square, or `rows` is not 224. "
                "Weights for input shape (224, 224) will be loaded as the default.", stacklevel=3,
            )
    inputs = imagenet_utils.inputs(input_shape, input_tensor, where)
    channel_axis = 1 if first else -1
    kernel, activation, se_ratio = (3, relu, None) if minimalistic else (5, hard_swish, 0.25)
    x = inputs
    if include_preprocessing:
        x = layers.Rescaling(scale=1.0 / 127.5, offset=-1.0)(x)
    x = layers.Conv2D(16, kernel_size=3, strides=(2, 2), padding="same", use_bias=False, name="conv")(x)
    x = layers.BatchNormalization(axis=channel_axis, epsilon=1e-3, momentum=0.999, name="conv_bn")(x)
    x = activation(x)
    x = stack_fn(x, kernel, activation, se_ratio)
    last_conv_ch = make_divisible(x.shape[channel_axis] * 6)
    if alpha > 1.0:
        last_point_ch = make_divisible(last_point_ch * alpha)
    x = layers.Conv2D(last_conv_ch, kernel_size=1, padding="same", use_bias=False, name="conv_1")(x)
    x = layers.BatchNormalization(axis=channel_axis, epsilon=1e-3, momentum=0.999, name="conv_1_bn")(x)
    x = activation(x)
    if include_top:
        x = layers.GlobalAveragePooling2D(keepdims=True)(x)
        x = layers.Conv2D(last_point_ch, kernel_size=1, padding="same", use_bias=True, name="conv_2")(x)
        x = activation(x)
        if dropout_rate > 0:
            x = layers.Dropout(dropout_rate)(x)
        x = layers.Conv2D(classes, kernel_size=1, padding="same", name="logits")(x)
        x = layers.Flatten()(x)
        x = layers.Activation(activation=classifier_activation, name="predictions")(x)
    else:
        x = imagenet_utils.pool(x, pooling, named=True)
    model = Model(inputs, x, name=name)
    variant = f"{model_type}{'_minimalistic' if minimalistic else ''}_224_{alpha}_float"
    file_name = f"weights_mobilenet_v3_{variant}{'.h5' if include_top else '_no_top_v2.h5'}"
    return imagenet_utils.load_weights(model, where, weights, file_name,
                                       f"keras.applications.{where}(alpha={alpha}, minimalistic={minimalistic}, "
                                       f"include_top={include_top})")


def MobileNetV3Small(input_shape=None, alpha=1.0, minimalistic=False, include_top=True, weights="imagenet",
                     input_tensor=None, classes=1000, pooling=None, dropout_rate=0.2,
                     classifier_activation="softmax", include_preprocessing=True, name="MobileNetV3Small"):
    """The MobileNetV3Small network as Keras's ``keras.applications.MobileNetV3Small`` builds it.

    Args:
        input_shape: ``(height, width, 3)``, at least 32x32; None: any size (``(None, None, 3)``),
            even with the top. ImageNet weights were trained at 224x224 (a warning says so otherwise).
        alpha: width multiplier, rounded to multiples of 8 (ImageNet weights: 0.75 or 1.0; 1.0 if minimalistic).
        minimalistic: ReLU and 3x3 kernels everywhere, no squeeze-and-excite.
        include_top: whether to add the pooling, ``conv_2``, Dropout, ``logits`` and the softmax.
        weights: None (random), ``"imagenet"`` (Keras's file from its cache folder) or the path of a
            ``.weights.h5`` / ``.h5`` file.
        input_tensor: a symbolic tensor (``keras.Input``) to use as the input.
        classes: channels of the ``logits`` convolution.
        pooling: without the top: None (the 4D output of ``conv_1``), ``"avg"`` or ``"max"``.
        dropout_rate: rate of the Dropout before ``logits`` (0: no Dropout layer).
        classifier_activation: activation of the ``predictions`` layer.
        include_preprocessing: whether the network starts with its ``Rescaling`` to -1 ... 1.
        name: the model's name.

    Returns:
        A functional :class:`~course_lib.models.Model`.
    """
    def stack_fn(x, kernel, activation, se_ratio):
        def depth(d):
            return make_divisible(d * alpha)

        x = inverted_res_block(x, 1, depth(16), 3, 2, se_ratio, relu, 0)
        x = inverted_res_block(x, 72.0 / 16, depth(24), 3, 2, None, relu, 1)
        x = inverted_res_block(x, 88.0 / 24, depth(24), 3, 1, None, relu, 2)
        x = inverted_res_block(x, 4, depth(40), kernel, 2, se_ratio, activation, 3)
        x = inverted_res_block(x, 6, depth(40), kernel, 1, se_ratio, activation, 4)
        x = inverted_res_block(x, 6, depth(40), kernel, 1, se_ratio, activation, 5)
        x = inverted_res_block(x, 3, depth(48), kernel, 1, se_ratio, activation, 6)
        x = inverted_res_block(x, 3, depth(48), kernel, 1, se_ratio, activation, 7)
        x = inverted_res_block(x, 6, depth(96), kernel, 2, se_ratio, activation, 8)
        x = inverted_res_block(x, 6, depth(96), kernel, 1, se_ratio, activation, 9)
        x = inverted_res_block(x, 6, depth(96), kernel, 1, se_ratio, activation, 10)
        return x

    return MobileNetV3(stack_fn, 1024, input_shape, alpha, "small", minimalistic, include_top, weights,
                       input_tensor, classes, pooling, dropout_rate, classifier_activation, include_preprocessing,
                       name=name)


def MobileNetV3Large(input_shape=None, alpha=1.0, minimalistic=False, include_top=True, weights="imagenet",
                     input_tensor=None, classes=1000, pooling=None, dropout_rate=0.2,
                     classifier_activation="softmax", include_preprocessing=True, name="MobileNetV3Large"):
    """The MobileNetV3Large network as Keras's ``keras.applications.MobileNetV3Large`` builds it.

    The arguments are :func:`MobileNetV3Small`'s; the stack has 15 blocks and ``conv_2`` 1280 channels.
    """
    def stack_fn(x, kernel, activation, se_ratio):
        def depth(d):
            return make_divisible(d * alpha)

        x = inverted_res_block(x, 1, depth(16), 3, 1, None, relu, 0)
        x = inverted_res_block(x, 4, depth(24), 3, 2, None, relu, 1)
        x = inverted_res_block(x, 3, depth(24), 3, 1, None, relu, 2)
        x = inverted_res_block(x, 3, depth(40), kernel, 2, se_ratio, relu, 3)
        x = inverted_res_block(x, 3, depth(40), kernel, 1, se_ratio, relu, 4)
        x = inverted_res_block(x, 3, depth(40), kernel, 1, se_ratio, relu, 5)
        x = inverted_res_block(x, 6, depth(80), 3, 2, None, activation, 6)
        x = inverted_res_block(x, 2.5, depth(80), 3, 1, None, activation, 7)
        x = inverted_res_block(x, 2.3, depth(80), 3, 1, None, activation, 8)
        x = inverted_res_block(x, 2.3, depth(80), 3, 1, None, activation, 9)
        x = inverted_res_block(x, 6, depth(112), 3, 1, se_ratio, activation, 10)
        x = inverted_res_block(x, 6, depth(112), 3, 1, se_ratio, activation, 11)
        x = inverted_res_block(x, 6, depth(160), kernel, 2, se_ratio, activation, 12)
        x = inverted_res_block(x, 6, depth(160), kernel, 1, se_ratio, activation, 13)
        x = inverted_res_block(x, 6, depth(160), kernel, 1, se_ratio, activation, 14)
        return x

    return MobileNetV3(stack_fn, 1280, input_shape, alpha, "large", minimalistic, include_top, weights,
                       input_tensor, classes, pooling, dropout_rate, classifier_activation, include_preprocessing,
                       name=name)


def relu(x):
    """A ReLU layer (automatic name) on ``x``."""
    return layers.ReLU()(x)


def hard_sigmoid(x):
    """``ReLU6(x + 3) / 6`` on ``x``: the operations ``add`` and ``multiply`` around a ReLU6 layer, as Keras's."""
    return layers.ReLU(6.0)(x + 3.0) * (1.0 / 6.0)


def hard_swish(x):
    """An ``Activation("hard_swish")`` layer (automatic name) on ``x``: ``x * ReLU6(x + 3) / 6``."""
    return layers.Activation("hard_swish")(x)


def se_block(inputs, filters, se_ratio, prefix):
    """Squeeze-and-excite: scale each channel of ``inputs`` by a hard sigmoid of its global mean, through
    ``make_divisible(filters * se_ratio)`` hidden channels."""
    x = layers.GlobalAveragePooling2D(keepdims=True, name=f"{prefix}squeeze_excite_avg_pool")(inputs)
    x = layers.Conv2D(make_divisible(filters * se_ratio), kernel_size=1, padding="same",
                      name=f"{prefix}squeeze_excite_conv")(x)
    x = layers.ReLU(name=f"{prefix}squeeze_excite_relu")(x)
    x = layers.Conv2D(filters, kernel_size=1, padding="same", name=f"{prefix}squeeze_excite_conv_1")(x)
    x = hard_sigmoid(x)
    return layers.Multiply(name=f"{prefix}squeeze_excite_mul")([inputs, x])


def inverted_res_block(x, expansion, filters, kernel_size, stride, se_ratio, activation, block_id):
    """One V3 block: 1x1 expansion (not in block 0), depthwise ``kernel_size``, squeeze-and-excite when
    ``se_ratio``, linear 1x1 projection, the input added back at stride 1 with unchanged channels."""
    channel_axis = 1 if config.image_data_format() == "channels_first" else -1
    shortcut = x
    prefix = "expanded_conv_"
    infilters = x.shape[channel_axis]
    if block_id:
        prefix = f"expanded_conv_{block_id}_"
        x = layers.Conv2D(make_divisible(infilters * expansion), kernel_size=1, padding="same", use_bias=False,
                          name=f"{prefix}expand")(x)
        x = layers.BatchNormalization(axis=channel_axis, epsilon=1e-3, momentum=0.999, name=f"{prefix}expand_bn")(x)
        x = activation(x)
    if stride == 2:
        x = layers.ZeroPadding2D(padding=imagenet_utils.correct_pad(x, kernel_size), name=f"{prefix}depthwise_pad")(x)
    x = layers.DepthwiseConv2D(kernel_size, strides=stride, padding="same" if stride == 1 else "valid",
                               use_bias=False, name=f"{prefix}depthwise")(x)
    x = layers.BatchNormalization(axis=channel_axis, epsilon=1e-3, momentum=0.999, name=f"{prefix}depthwise_bn")(x)
    x = activation(x)
    if se_ratio:
        x = se_block(x, make_divisible(infilters * expansion), se_ratio, prefix)
    x = layers.Conv2D(filters, kernel_size=1, padding="same", use_bias=False, name=f"{prefix}project")(x)
    x = layers.BatchNormalization(axis=channel_axis, epsilon=1e-3, momentum=0.999, name=f"{prefix}project_bn")(x)
    if stride == 1 and infilters == filters:
        x = layers.Add(name=f"{prefix}add")([shortcut, x])
    return x


def preprocess_input(x, data_format=None):
    """The identity, as Keras's: MobileNetV3 rescales its input itself (its ``Rescaling`` layer).

    Pass pixels 0 ... 255 to the network. ``data_format`` is accepted and ignored, as in Keras.
    """
    return x


decode_predictions = imagenet_utils.decode_predictions
