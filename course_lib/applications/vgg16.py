"""VGG-16 (Simonyan and Zisserman, 2014) with Keras's layer names, shapes and parameter counts.

Five blocks of 3x3 ``same`` convolutions with ReLU (64, 128, 256, 512, 512 filters;
2, 2, 3, 3, 3 layers), each closed by a 2x2 max pooling, then Flatten and three
Dense layers (fc1 and fc2 of 4096 units, predictions). 138,357,544 parameters
with the top at 224x224x3; 14,714,688 without it. Keras's VGG16 has no Dropout
(the original paper's classifier has), and neither has this one.

course_lib downloads nothing: ``weights="imagenet"`` loads Keras's published file
from Keras's cache folder when it is there, and otherwise says where to put it;
``weights="path/to/file"`` loads a ``.weights.h5`` (Keras 3) or ``.h5`` (Keras 2)
file written by Keras or course_lib.
"""
from __future__ import annotations

from course_lib import layers
from course_lib.applications import imagenet_utils
from course_lib.models import Model

BLOCKS = ((64, 2), (128, 2), (256, 3), (512, 3), (512, 3))
"""(filters, convolutions) of each block."""
IMAGENET_FILES = {True: "vgg16_weights_tf_dim_ordering_tf_kernels.h5",
                  False: "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5"}
"""The names Keras gives its ImageNet weight files (with and without the top)."""


def VGG16(include_top=True, weights="imagenet", input_tensor=None, input_shape=None, pooling=None,
          classes=1000, classifier_activation="softmax", name="vgg16"):
    """The VGG-16 network as Keras's ``keras.applications.VGG16`` builds it.

    Args:
        include_top: whether to add Flatten, fc1, fc2 and predictions.
        weights: None (random), ``"imagenet"`` (Keras's file from its cache folder)
            or the path of a ``.weights.h5`` / ``.h5`` file.
        input_tensor: a symbolic tensor (``keras.Input``) to use as the input.
        input_shape: ``(height, width, 3)``; at least 32x32; with the top and
            ImageNet weights it must be ``(224, 224, 3)``.
        pooling: without the top: None (the 4D block5_pool output), ``"avg"`` or ``"max"``.
        classes: units of the predictions layer.
        classifier_activation: activation of the predictions layer.

    Returns:
        A functional :class:`~course_lib.models.Model`.
    """
    return build_vgg("VGG16", BLOCKS, IMAGENET_FILES, include_top, weights, input_tensor, input_shape, pooling,
                     classes, classifier_activation, name)


def build_vgg(where, blocks, imagenet_files, include_top=True, weights="imagenet", input_tensor=None,
              input_shape=None, pooling=None, classes=1000, classifier_activation="softmax", name="vgg"):
    """A VGG network with ``blocks`` (VGG16's, VGG19's), Keras's checks and weight loading; see :func:`VGG16`.

    ``where`` names the network in errors; ``imagenet_files`` maps include_top to Keras's file name.
    """
    imagenet_utils.check_arguments(where, weights, include_top, classes, pooling, classifier_activation)
    shape = _input_shape(where, input_shape, include_top, weights)
    inputs = imagenet_utils.inputs(shape, input_tensor, where)
    x = vgg_blocks(inputs, blocks)
    if include_top:
        x = vgg_top(x, (4096, 4096), classes, classifier_activation)
    else:
        x = imagenet_utils.pool(x, pooling)
    model = Model(inputs, x, name=name)
    return imagenet_utils.load_weights(model, where, weights, imagenet_files[include_top],
                                       f"keras.applications.{where}(include_top={include_top})")


def vgg_blocks(x, blocks=BLOCKS):
    """The convolutional part of a VGG network on the symbolic tensor ``x``, with Keras's names.

    ``blocks``: (filters, convolutions) per block; each convolution is 3x3 ``same`` with ReLU,
    each block ends in a 2x2 max pooling of stride 2 (``block{b}_conv{i}``, ``block{b}_pool``).
    """
    for block, (filters, count) in enumerate(blocks, start=1):
        for index in range(1, count + 1):
            x = layers.Conv2D(filters, (3, 3), activation="relu", padding="same",
                              name=f"block{block}_conv{index}")(x)
        x = layers.MaxPooling2D((2, 2), strides=(2, 2), name=f"block{block}_pool")(x)
    return x


def vgg_top(x, dense_units, classes, classifier_activation="softmax"):
    """The classifier on top: Flatten, one ReLU Dense per entry of ``dense_units`` (fc1, fc2 ...), predictions."""
    x = layers.Flatten(name="flatten")(x)
    for number, units in enumerate(dense_units, start=1):
        x = layers.Dense(units, activation="relu", name=f"fc{number}")(x)
    return layers.Dense(classes, activation=classifier_activation, name="predictions")(x)


def _input_shape(where, input_shape, include_top, weights):
    default = (224, 224, 3)
    if input_shape is None:
        return default if include_top or weights == "imagenet" else (None, None, 3)
    shape = tuple(input_shape)
    if len(shape) != 3:
        raise ValueError(f"{where}: input_shape must be (height, width, channels). Received: input_shape={input_shape!r}")
    if include_top and weights == "imagenet" and shape != default:
        raise ValueError(
            f"{where}: with include_top=True and weights='imagenet', input_shape must be {default}. "
            f"Received: input_shape={input_shape!r}"
        )
    if weights == "imagenet" and shape[-1] != 3:
        raise ValueError(f"{where}: ImageNet weights need 3 channels. Received: input_shape={input_shape!r}")
    if any(size is not None and size < 32 for size in shape[:2]):
        raise ValueError(f"{where}: the input must be at least 32x32. Received: input_shape={input_shape!r}")
    return shape


def preprocess_input(x, data_format=None):
    """Keras's "caffe" preprocessing: RGB -> BGR, then subtract ImageNet's mean pixel (no scaling).

    ``x``: images with pixel values 0 ... 255, ``(..., H, W, 3)`` (channels_last) or
    ``(N, 3, H, W)`` / ``(3, H, W)`` (channels_first). Returns a new float array. (Keras's own
    function modifies a float NumPy input in place; course_lib never changes its input.)
    See :func:`course_lib.applications.imagenet_utils.preprocess_input`.
    """
    return imagenet_utils.preprocess_input(x, data_format, mode="caffe")



decode_predictions = imagenet_utils.decode_predictions
