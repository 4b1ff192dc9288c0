"""Inception-ResNet v2 (Szegedy, Ioffe, Vanhoucke and Alemi, 2017) with Keras's layer names and parameter counts.

Inception modules with residual connections. Each ``conv2d_bn`` is a convolution
without bias, a BatchNormalization without scale and a ReLU. The stem (as Inception
v3's) and ``mixed_5b`` take 299x299 to 35x35x320; then three stacks of
*Inception-ResNet blocks*, separated by the reductions ``mixed_6a`` (to 17x17)
and ``mixed_7a`` (to 8x8):

- 10 ``block35`` (scale 0.17), 20 ``block17`` (scale 0.1), 10 ``block8`` (scale 0.2,
  the last one 1.0 and without its ReLU);
- a block concatenates its branches (``{block}_mixed``), projects them back to the
  input's channels with a 1x1 convolution *with* bias (``{block}_conv``) and adds
  them, scaled, to its input: ``x + scale * up``, Keras's :class:`CustomScaleLayer`
  (the scaling keeps the sum of many residuals stable early in training), then a ReLU
  (``{block}_ac``);
- ``conv_7b`` (1x1, 1536 channels) closes the features.

55,873,736 parameters with the top at 299x299x3 (60,544 of them the non-trainable
moving statistics), 54,336,736 without it. Inputs are prepared in Keras's "tf"
mode; the smallest input is 75x75. ``weights="imagenet"`` loads Keras's published
file from Keras's cache folder (course_lib downloads nothing).
"""
from __future__ import annotations

from course_lib import config, layers
from course_lib.applications import imagenet_utils
from course_lib.layers.base import Layer
from course_lib.models import Model

IMAGENET_FILES = {True: "inception_resnet_v2_weights_tf_dim_ordering_tf_kernels.h5",
                  False: "inception_resnet_v2_weights_tf_dim_ordering_tf_kernels_notop.h5"}
"""The names Keras gives its ImageNet weight files (with and without the top)."""


class CustomScaleLayer(Layer):
    """``inputs[0] + inputs[1] * scale``: the scaled residual sum of an Inception-ResNet block (Keras's layer).

    Args:
        scale: the factor of the second input (the block's branches); Keras's blocks use 0.17,
            0.1, 0.2 and 1.0.

    Input: a list ``[x, up]`` of two tensors of the same shape. Output: their shape. It has no weights;
    its config is Keras's (``name``, ``trainable``, ``dtype``, ``scale``).
    """

    _keras_module = "keras.src.applications.inception_resnet_v2"  # in configs, read back without custom_objects

    def __init__(self, scale, **kwargs):
        if isinstance(scale, bool) or not isinstance(scale, (int, float)):
            raise TypeError(
                f"CustomScaleLayer: scale must be a number. Received: scale={scale!r} of type {type(scale).__name__}"
            )
        super().__init__(**kwargs)
        self.scale = scale

    def _check_input(self, shapes):
        if not isinstance(shapes, list) or len(shapes) != 2:
            raise ValueError(
                f"CustomScaleLayer '{self.name}' expects a list of two inputs [x, up]. "
                f"Received: {f'a list of {len(shapes)}' if isinstance(shapes, list) else f'an input of shape {shapes}'}"
            )

    def _maybe_build(self, shapes):
        self._check_input(shapes)
        super()._maybe_build(shapes)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[0])

    def forward(self, inputs, training=False):
        return inputs[0] + inputs[1] * self.scale, None

    def backward(self, output_grads, cache):
        return [output_grads, output_grads * self.scale], {}

    def get_config(self):
        return {**super().get_config(), "scale": self.scale}


def InceptionResNetV2(include_top=True, weights="imagenet", input_tensor=None, input_shape=None, pooling=None,
                      classes=1000, classifier_activation="softmax", name="inception_resnet_v2"):
    """The Inception-ResNet v2 network as Keras's ``keras.applications.InceptionResNetV2`` builds it.

    Args:
        include_top: whether to add the global average pooling ``avg_pool`` and the Dense ``predictions``.
        weights: None (random), ``"imagenet"`` (Keras's file from its cache folder)
            or the path of a ``.weights.h5`` / ``.h5`` file.
        input_tensor: a symbolic tensor (``keras.Input``) to use as the input.
        input_shape: ``(height, width, 3)``, at least 75x75; with the top and ImageNet weights
            it must be ``(299, 299, 3)``; without the top height and width may be free (None).
        pooling: without the top: None (the 4D ``conv_7b_ac`` output), ``"avg"`` or ``"max"``.
        classes: units of the predictions layer.
        classifier_activation: activation of the predictions layer (None or ``"softmax"`` with
            pretrained weights).
        name: the model's name.

    Returns:
        A functional :class:`~course_lib.models.Model`.
    """
    where = "InceptionResNetV2"
    imagenet_utils.check_arguments(where, weights, include_top, classes, pooling, classifier_activation)
    shape = imagenet_utils.obtain_input_shape(input_shape, default_size=299, min_size=75,
                                              require_flatten=include_top, weights=weights, where=where)
    inputs = imagenet_utils.inputs(shape, input_tensor, where)
    axis = _channel_axis()

    x = conv2d_bn(inputs, 32, 3, strides=2, padding="valid")
    x = conv2d_bn(x, 32, 3, padding="valid")
    x = conv2d_bn(x, 64, 3)
    x = layers.MaxPooling2D(3, strides=2)(x)
    x = conv2d_bn(x, 80, 1, padding="valid")
    x = conv2d_bn(x, 192, 3, padding="valid")
    x = layers.MaxPooling2D(3, strides=2)(x)

    branch_0 = conv2d_bn(x, 96, 1)
    branch_1 = conv2d_bn(conv2d_bn(x, 48, 1), 64, 5)
    branch_2 = conv2d_bn(conv2d_bn(conv2d_bn(x, 64, 1), 96, 3), 96, 3)
    branch_pool = conv2d_bn(layers.AveragePooling2D(3, strides=1, padding="same")(x), 64, 1)
    x = layers.Concatenate(axis=axis, name="mixed_5b")([branch_0, branch_1, branch_2, branch_pool])
    for block_idx in range(1, 11):
        x = inception_resnet_block(x, scale=0.17, block_type="block35", block_idx=block_idx)

    branch_0 = conv2d_bn(x, 384, 3, strides=2, padding="valid")
    branch_1 = conv2d_bn(conv2d_bn(conv2d_bn(x, 256, 1), 256, 3), 384, 3, strides=2, padding="valid")
    branch_pool = layers.MaxPooling2D(3, strides=2, padding="valid")(x)
    x = layers.Concatenate(axis=axis, name="mixed_6a")([branch_0, branch_1, branch_pool])
    for block_idx in range(1, 21):
        x = inception_resnet_block(x, scale=0.1, block_type="block17", block_idx=block_idx)

    branch_0 = conv2d_bn(conv2d_bn(x, 256, 1), 384, 3, strides=2, padding="valid")
    branch_1 = conv2d_bn(conv2d_bn(x, 256, 1), 288, 3, strides=2, padding="valid")
    branch_2 = conv2d_bn(conv2d_bn(conv2d_bn(x, 256, 1), 288, 3), 320, 3, strides=2, padding="valid")
    branch_pool = layers.MaxPooling2D(3, strides=2, padding="valid")(x)
    x = layers.Concatenate(axis=axis, name="mixed_7a")([branch_0, branch_1, branch_2, branch_pool])
    for block_idx in range(1, 10):
        x = inception_resnet_block(x, scale=0.2, block_type="block8", block_idx=block_idx)
    x = inception_resnet_block(x, scale=1.0, activation=None, block_type="block8", block_idx=10)
    x = conv2d_bn(x, 1536, 1, name="conv_7b")

    if include_top:
        x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
        x = layers.Dense(classes, activation=classifier_activation, name="predictions")(x)
    else:
        x = imagenet_utils.pool(x, pooling)
    model = Model(inputs, x, name=name)
    return imagenet_utils.load_weights(model, where, weights, IMAGENET_FILES[bool(include_top)],
                                       f"keras.applications.InceptionResNetV2(include_top={bool(include_top)})")


def conv2d_bn(x, filters, kernel_size, strides=1, padding="same", activation="relu", use_bias=False, name=None):
    """A convolution, then (without bias) a BatchNormalization without scale, then ``activation``.

    ``name`` names ``{name}`` (the convolution), ``{name}_bn`` and ``{name}_ac`` (Keras's ``conv2d_bn``);
    None leaves them automatic names.
    """
    x = layers.Conv2D(filters, kernel_size, strides=strides, padding=padding, use_bias=use_bias, name=name)(x)
    if not use_bias:
        x = layers.BatchNormalization(axis=_channel_axis(), scale=False,
                                      name=None if name is None else f"{name}_bn")(x)
    if activation is not None:
        x = layers.Activation(activation, name=None if name is None else f"{name}_ac")(x)
    return x


def inception_resnet_block(x, scale, block_type, block_idx, activation="relu"):
    """One Inception-ResNet block (``"block35"``, ``"block17"`` or ``"block8"``) on ``x``, Keras's names.

    Its branches are concatenated (``{block_type}_{block_idx}_mixed``), projected to ``x``'s channels
    by a 1x1 convolution with bias (``..._conv``), added as ``x + scale * up`` (:class:`CustomScaleLayer`)
    and passed through ``activation`` (``..._ac``; None: none).
    """
    if block_type == "block35":
        branch_0 = conv2d_bn(x, 32, 1)
        branch_1 = conv2d_bn(conv2d_bn(x, 32, 1), 32, 3)
        branch_2 = conv2d_bn(conv2d_bn(conv2d_bn(x, 32, 1), 48, 3), 64, 3)
        branches = [branch_0, branch_1, branch_2]
    elif block_type == "block17":
        branch_0 = conv2d_bn(x, 192, 1)
        branch_1 = conv2d_bn(conv2d_bn(conv2d_bn(x, 128, 1), 160, [1, 7]), 192, [7, 1])
        branches = [branch_0, branch_1]
    elif block_type == "block8":
        branch_0 = conv2d_bn(x, 192, 1)
        branch_1 = conv2d_bn(conv2d_bn(conv2d_bn(x, 192, 1), 224, [1, 3]), 256, [3, 1])
        branches = [branch_0, branch_1]
    else:
        raise ValueError(
            "inception_resnet_block: block_type must be 'block35', 'block17' or 'block8'. "
            f"Received: block_type={block_type!r}"
        )
    block_name = f"{block_type}_{block_idx}"
    axis = _channel_axis()
    mixed = layers.Concatenate(axis=axis, name=f"{block_name}_mixed")(branches)
    up = conv2d_bn(mixed, x.shape[axis], 1, activation=None, use_bias=True, name=f"{block_name}_conv")
    x = CustomScaleLayer(scale)([x, up])
    if activation is not None:
        x = layers.Activation(activation, name=f"{block_name}_ac")(x)
    return x


def _channel_axis():
    return 1 if config.image_data_format() == "channels_first" else 3


def preprocess_input(x, data_format=None):
    """Keras's "tf" preprocessing: pixels 0 ... 255 scaled to -1 ... 1 (``x / 127.5 - 1``).

    Returns a new float array (Keras's own function changes a float NumPy input in place;
    course_lib never changes its input). See :func:`course_lib.applications.imagenet_utils.preprocess_input`.
    """
    return imagenet_utils.preprocess_input(x, data_format, mode="tf")


decode_predictions = imagenet_utils.decode_predictions

__all__ = ["CustomScaleLayer", "InceptionResNetV2", "decode_predictions", "preprocess_input"]
