"""NASNet-A (Zoph et al., 2018) Mobile and Large, with Keras's layer names, shapes and parameter counts.

The network was found by a search over cells, not drawn by hand. It repeats two cells, each
reading the two previous cells' outputs (``ip``, the last one, and ``p``, the one before):

- a *normal* cell keeps the size: five branches (separable 5x5 and 3x3 blocks, 3x3 average
  poolings, and the cell's own input) added in pairs and concatenated with ``p``;
- a *reduction* cell halves height and width: strided separable 5x5 and 7x7 blocks and 3x3 max
  and average poolings, four sums concatenated.

A separable block is ReLU, separable convolution, BatchNormalization, twice (the first one
strided in a reduction cell, after the zero padding of :func:`imagenet_utils.correct_pad`).
Before each cell ``p`` is adjusted to ``ip``: halved by two 1x1 strided paths (the second shifted
by one pixel) when its size differs, projected by a 1x1 convolution when its channels differ.

The whole network: a 3x3 stride-2 stem convolution, two reduction cells (``stem_1``, ``stem_2``),
then three stacks of ``num_blocks`` normal cells separated by reduction cells, the filters doubling
at each. NASNetMobile (4 cells a stack, 1056 penultimate filters, 224x224): 5,326,716 parameters
with the top; NASNetLarge (6 cells, 4032 filters, 331x331, the reductions' ``p`` skipped):
88,949,818. Every BatchNormalization has momentum 0.9997. Inputs are prepared in Keras's "tf"
mode (:func:`preprocess_input`); the smallest input is 32x32. course_lib downloads nothing:
``weights="imagenet"`` loads Keras's published file from Keras's cache folder.
"""
from __future__ import annotations

from course_lib import config, layers
from course_lib.applications import imagenet_utils
from course_lib.models import Model

IMAGENET_FILES = {(224, True): "nasnet_mobile.h5", (224, False): "nasnet_mobile_no_top.h5",
                  (331, True): "nasnet_large.h5", (331, False): "nasnet_large_no_top.h5"}
"""The names Keras gives its ImageNet weight files, by default size and top."""


def _batch_norm(x, name):
    return layers.BatchNormalization(axis=-1, momentum=0.9997, epsilon=1e-3, name=name)(x)


def _conv_bn(x, filters, conv_name, bn_name):
    """ReLU, a 1x1 convolution without bias and its BatchNormalization: the start of every cell."""
    x = layers.Activation("relu")(x)
    x = layers.Conv2D(filters, (1, 1), padding="same", use_bias=False, name=conv_name,
                      kernel_initializer="he_normal")(x)
    return _batch_norm(x, bn_name)


def _separable_block(x, filters, kernel_size, block_id, strides=1):
    """ReLU, separable convolution, BatchNormalization, twice; the first convolution strided when asked."""
    kernel_size = (kernel_size, kernel_size)
    x = layers.Activation("relu")(x)
    padding = "same"
    if strides == 2:
        x = layers.ZeroPadding2D(padding=imagenet_utils.correct_pad(x, kernel_size),
                                 name=f"separable_conv_1_pad_{block_id}")(x)
        padding = "valid"
    x = layers.SeparableConv2D(filters, kernel_size, strides=strides, padding=padding, use_bias=False,
                               name=f"separable_conv_1_{block_id}")(x)
    x = _batch_norm(x, f"separable_conv_1_bn_{block_id}")
    x = layers.Activation("relu")(x)
    x = layers.SeparableConv2D(filters, kernel_size, padding="same", use_bias=False,
                               name=f"separable_conv_2_{block_id}")(x)
    return _batch_norm(x, f"separable_conv_2_bn_{block_id}")


def _adjust(p, ip, filters, block_id):
    """The previous-but-one output ``p`` brought to ``ip``'s height, width and ``filters`` channels."""
    if p is None:
        return ip
    if p.shape[-2] != ip.shape[-2]:  # halve it: two 1x1 strided paths, the second one pixel further on
        p = layers.Activation("relu", name=f"adjust_relu_1_{block_id}")(p)
        paths = []
        for index, start in ((1, p), (2, None)):
            if start is None:
                start = layers.ZeroPadding2D(padding=((0, 1), (0, 1)))(p)
                start = layers.Cropping2D(cropping=((1, 0), (1, 0)))(start)
            path = layers.AveragePooling2D((1, 1), strides=(2, 2), padding="valid",
                                           name=f"adjust_avg_pool_{index}_{block_id}")(start)
            paths.append(layers.Conv2D(filters // 2, (1, 1), padding="same", use_bias=False,
                                       name=f"adjust_conv_{index}_{block_id}", kernel_initializer="he_normal")(path))
        return _batch_norm(layers.concatenate(paths, axis=-1), f"adjust_bn_{block_id}")
    if p.shape[-1] != filters:
        return _conv_bn(p, filters, f"adjust_conv_projection_{block_id}", f"adjust_bn_{block_id}")
    return p


def _average_pool(x, strides, padding, name):
    return layers.AveragePooling2D((3, 3), strides=strides, padding=padding, name=name)(x)


def _normal_cell(ip, p, filters, block_id):
    """NASNet-A's normal cell: ``(output, ip)``, the pair the next cell reads."""
    p = _adjust(p, ip, filters, block_id)
    h = _conv_bn(ip, filters, f"normal_conv_1_{block_id}", f"normal_bn_1_{block_id}")
    x1 = layers.add([_separable_block(h, filters, 5, f"normal_left1_{block_id}"),
                     _separable_block(p, filters, 3, f"normal_right1_{block_id}")], name=f"normal_add_1_{block_id}")
    x2 = layers.add([_separable_block(p, filters, 5, f"normal_left2_{block_id}"),
                     _separable_block(p, filters, 3, f"normal_right2_{block_id}")], name=f"normal_add_2_{block_id}")
    x3 = layers.add([_average_pool(h, 1, "same", f"normal_left3_{block_id}"), p], name=f"normal_add_3_{block_id}")
    x4 = layers.add([_average_pool(p, 1, "same", f"normal_left4_{block_id}"),
                     _average_pool(p, 1, "same", f"normal_right4_{block_id}")], name=f"normal_add_4_{block_id}")
    x5 = layers.add([_separable_block(h, filters, 3, f"normal_left5_{block_id}"), h], name=f"normal_add_5_{block_id}")
    return layers.concatenate([p, x1, x2, x3, x4, x5], axis=-1, name=f"normal_concat_{block_id}"), ip


def _reduction_cell(ip, p, filters, block_id):
    """NASNet-A's reduction cell (height and width halved): ``(output, ip)``."""
    p = _adjust(p, ip, filters, block_id)
    h = _conv_bn(ip, filters, f"reduction_conv_1_{block_id}", f"reduction_bn_1_{block_id}")
    h3 = layers.ZeroPadding2D(padding=imagenet_utils.correct_pad(h, 3), name=f"reduction_pad_1_{block_id}")(h)
    x1 = layers.add([_separable_block(h, filters, 5, f"reduction_left1_{block_id}", strides=2),
                     _separable_block(p, filters, 7, f"reduction_right1_{block_id}", strides=2)],
                    name=f"reduction_add_1_{block_id}")
    x2 = layers.add([layers.MaxPooling2D((3, 3), strides=(2, 2), padding="valid",
                                         name=f"reduction_left2_{block_id}")(h3),
                     _separable_block(p, filters, 7, f"reduction_right2_{block_id}", strides=2)],
                    name=f"reduction_add_2_{block_id}")
    x3 = layers.add([_average_pool(h3, 2, "valid", f"reduction_left3_{block_id}"),
                     _separable_block(p, filters, 5, f"reduction_right3_{block_id}", strides=2)],
                    name=f"reduction_add3_{block_id}")
    x4 = layers.add([x2, _average_pool(x1, 1, "same", f"reduction_left4_{block_id}")])  # unnamed in Keras
    x5 = layers.add([_separable_block(x1, filters, 3, f"reduction_left4_{block_id}"),
                     layers.MaxPooling2D((3, 3), strides=(2, 2), padding="valid",
                                         name=f"reduction_right5_{block_id}")(h3)],
                    name=f"reduction_add4_{block_id}")
    return layers.concatenate([x2, x3, x4, x5], axis=-1, name=f"reduction_concat_{block_id}"), ip


def NASNet(input_shape=None, penultimate_filters=4032, num_blocks=6, stem_block_filters=96, skip_reduction=True,
           filter_multiplier=2, include_top=True, weights="imagenet", input_tensor=None, pooling=None,
           classes=1000, default_size=None, classifier_activation="softmax", name="NASNet", *, _where="NASNet"):
    """A NASNet-A network as Keras's ``keras.applications.nasnet.NASNet`` builds it (see the module's notes).

    Args:
        input_shape: ``(height, width, 3)``, at least 32x32; with the top and ImageNet weights the
            default size.
        penultimate_filters: the channels of the last stack, a multiple of ``24 * filter_multiplier**2``.
        num_blocks: normal cells per stack.
        stem_block_filters: filters of the stem convolution.
        skip_reduction: let the cells after a reduction read its input instead of its output as ``p``.
        filter_multiplier: the filters' growth from one stack to the next.
        include_top, weights, input_tensor, pooling, classes, classifier_activation, name: as the
            other applications.
        default_size: the default height and width (None: 331).
        _where: the function named in errors (``NASNetMobile`` and ``NASNetLarge`` give their names).

    Returns:
        A functional :class:`~course_lib.models.Model`.
    """
    if config.image_data_format() == "channels_first":
        raise ValueError(f"{_where}: the network exists for channels_last images only; set "
                         "keras.config.set_image_data_format('channels_last').")
    imagenet_utils.check_arguments(_where, weights, include_top, classes, pooling, classifier_activation)
    if weights == "imagenet" and input_shape is not None and None in tuple(input_shape):
        raise ValueError(f"{_where}: with weights='imagenet' the input_shape must be static (no None). "
                         f"Received: input_shape={input_shape}")
    default_size = 331 if default_size is None else default_size
    shape = imagenet_utils.obtain_input_shape(input_shape, default_size=default_size, min_size=32,
                                              require_flatten=include_top, weights=weights, where=_where)
    inputs = imagenet_utils.inputs(shape, input_tensor, _where)
    if penultimate_filters % (24 * filter_multiplier ** 2):
        raise ValueError(f"{_where}: penultimate_filters must be a multiple of 24 * filter_multiplier**2 = "
                         f"{24 * filter_multiplier ** 2}. Received: penultimate_filters={penultimate_filters}")
    filters = penultimate_filters // 24

    x = layers.Conv2D(stem_block_filters, (3, 3), strides=(2, 2), padding="valid", use_bias=False,
                      name="stem_conv1", kernel_initializer="he_normal")(inputs)
    x = _batch_norm(x, "stem_bn1")
    x, p = _reduction_cell(x, None, filters // filter_multiplier ** 2, "stem_1")
    x, p = _reduction_cell(x, p, filters // filter_multiplier, "stem_2")
    for stack in range(3):
        stack_filters = filters * filter_multiplier ** stack
        if stack:
            x, reduced = _reduction_cell(x, p, stack_filters, f"reduce_{stack * num_blocks}")
            p = p if skip_reduction else reduced
        for index in range(num_blocks):
            x, p = _normal_cell(x, p, stack_filters, f"{stack * num_blocks + index + bool(stack)}")  # 0.., 5.., 9..
    x = layers.Activation("relu")(x)
    if include_top:
        x = layers.GlobalAveragePooling2D()(x)
        x = layers.Dense(classes, activation=classifier_activation, name="predictions")(x)
    else:
        x = imagenet_utils.pool(x, pooling)
    model = Model(inputs, x, name=name)
    if weights == "imagenet" and default_size not in (224, 331):
        raise ValueError(f"{_where}: ImageNet weights exist for NASNetMobile (224) and NASNetLarge (331) only. "
                         f"Received: default_size={default_size}")
    file_name = IMAGENET_FILES.get((default_size, bool(include_top)))
    network = "NASNetMobile" if default_size == 224 else "NASNetLarge"
    return imagenet_utils.load_weights(model, _where, weights, file_name,
                                       f"keras.applications.{network}(include_top={bool(include_top)})")


def NASNetMobile(input_shape=None, include_top=True, weights="imagenet", input_tensor=None, pooling=None,
                 classes=1000, classifier_activation="softmax", name="nasnet_mobile"):
    """NASNet-A Mobile (4 @ 1056) as Keras's ``keras.applications.NASNetMobile``: 5,326,716 parameters.

    Without the top and without ``input_shape`` the input is 224x224x3, as in Keras.
    """
    if not include_top and input_shape is None:
        input_shape = (224, 224, 3)
    return NASNet(input_shape, penultimate_filters=1056, num_blocks=4, stem_block_filters=32, skip_reduction=False,
                  filter_multiplier=2, include_top=include_top, weights=weights, input_tensor=input_tensor,
                  pooling=pooling, classes=classes, default_size=224, classifier_activation=classifier_activation,
                  name=name, _where="NASNetMobile")


def NASNetLarge(input_shape=None, include_top=True, weights="imagenet", input_tensor=None, pooling=None,
                classes=1000, classifier_activation="softmax", name="nasnet_large"):
    """NASNet-A Large (6 @ 4032) as Keras's ``keras.applications.NASNetLarge``: 88,949,818 parameters."""
    return NASNet(input_shape, penultimate_filters=4032, num_blocks=6, stem_block_filters=96, skip_reduction=True,
                  filter_multiplier=2, include_top=include_top, weights=weights, input_tensor=input_tensor,
                  pooling=pooling, classes=classes, default_size=331, classifier_activation=classifier_activation,
                  name=name, _where="NASNetLarge")


def preprocess_input(x, data_format=None):
    """Keras's "tf" preprocessing: pixels 0 ... 255 scaled to -1 ... 1 (``x / 127.5 - 1``), as a new array."""
    return imagenet_utils.preprocess_input(x, data_format, mode="tf")


decode_predictions = imagenet_utils.decode_predictions

__all__ = ["NASNet", "NASNetLarge", "NASNetMobile", "decode_predictions", "preprocess_input"]
