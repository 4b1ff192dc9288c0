"""ResNet (He et al., 2015, "Deep Residual Learning for Image Recognition") with Keras's layer names.

A residual network learns ``F(x)`` and outputs ``x + F(x)``: each block adds its
input (the *shortcut*) to what its convolutions compute, so the gradient reaches
the first layers through the additions unchanged however deep the network is.

The stem: ``conv1`` (7x7, 64 filters, stride 2, after a 3-pixel zero padding),
BatchNormalization, ReLU, then a 3x3 max pooling of stride 2 (224 -> 56 pixels).
Then four *stacks* (``conv2`` ... ``conv5``) of *bottleneck* blocks
(:func:`residual_block_v1`): a 1x1 convolution to ``filters`` channels, a 3x3
one, a 1x1 one back to ``4 * filters``, each followed by BatchNormalization,
the sum with the shortcut, then ReLU. The first block of a stack has a 1x1
convolution (with its BatchNormalization) on the shortcut to change the number
of channels and, from ``conv3`` on, halve the size (stride 2 on the first 1x1
convolution); the others add their input itself. ``filters`` is 64, 128, 256,
512 in the four stacks; the number of blocks makes the depth:

========= ============ ===================== ====================== ===========
network   blocks       parameters (with top) of them non-trainable  without top
========= ============ ===================== ====================== ===========
ResNet50  3, 4, 6, 3   25,636,712            53,120                 23,587,712
ResNet101 3, 4, 23, 3  44,707,176            105,344                42,658,176
ResNet152 3, 8, 36, 3  60,419,944            151,424                58,370,944
========= ============ ===================== ====================== ===========

(3 layers a block: 50 = 1 + 3 x 16 + 1.) The non-trainable parameters are the
BatchNormalization layers' moving means and variances. The top is a global
average pooling (``avg_pool``) and a Dense softmax ``predictions`` layer.
:func:`ResNet` builds any of them (and ResNetV2, :mod:`course_lib.applications.resnet_v2`)
from a ``stack_fn``, as Keras's does.

The ImageNet weights expect Keras's "caffe" preprocessing (:func:`preprocess_input`:
RGB -> BGR, ImageNet's mean pixel subtracted). course_lib downloads nothing:
``weights="imagenet"`` loads Keras's published file (``resnet50_weights_tf_dim_ordering_tf_kernels.h5``,
``..._notop.h5`` without the top) from Keras's cache folder, and otherwise says where to put it;
``weights="path/to/file"`` loads a ``.weights.h5`` or ``.h5`` file written by Keras or course_lib.
"""
from __future__ import annotations

from course_lib import config, layers
from course_lib.applications import imagenet_utils
from course_lib.models import Model

BN_EPSILON = 1.001e-5
"""The epsilon of every BatchNormalization of Keras's ResNets (the value of the original Caffe models)."""


def weights_file_name(weights_name, include_top):
    """Keras's file name of the ImageNet weights of ``weights_name`` (``"resnet50"``, ...), with or without the top."""
    suffix = "" if include_top else "_notop"
    return f"{weights_name}_weights_tf_dim_ordering_tf_kernels{suffix}.h5"


def _bn_axis():
    return 3 if config.image_data_format() == "channels_last" else 1


def ResNet(stack_fn, preact, use_bias, include_top=True, weights="imagenet", input_tensor=None, input_shape=None,
           pooling=None, classes=1000, classifier_activation="softmax", name="resnet", weights_name=None):
    """The ResNet / ResNetV2 network around ``stack_fn``, as Keras's ``keras.applications.resnet.ResNet``.

    Args:
        stack_fn: a function of the symbolic tensor after the stem, returning the output of the residual stacks.
        preact: False for ResNet (BatchNormalization and ReLU after ``conv1``), True for ResNetV2
            (no normalisation in the stem; ``post_bn`` and ``post_relu`` after the stacks).
        use_bias: whether ``conv1_conv`` has a bias (True in every Keras ResNet).
        include_top: whether to add ``avg_pool`` and the ``predictions`` layer.
        weights: None (random), ``"imagenet"`` (Keras's file from its cache folder) or the path of a
            ``.weights.h5`` / ``.h5`` file.
        input_tensor: a symbolic tensor (``keras.Input``) to use as the input (Keras also wraps an eager
            tensor in an Input; course_lib's symbolic tensors cannot hold one, so it refuses it).
        input_shape: ``(height, width, 3)``, at least 32x32; with the top and ImageNet weights it must be
            ``(224, 224, 3)`` (channels first: ``(3, 224, 224)``).
        pooling: without the top: None (the 4D output of the last stack), ``"avg"`` (``avg_pool``) or
            ``"max"`` (``max_pool``).
        classes: units of the predictions layer.
        classifier_activation: activation of the predictions layer (None or ``"softmax"`` with pretrained
            weights).
        name: the model's name.
        weights_name: the network's key in Keras's weight files (``"resnet50"``, ``"resnet101v2"``, ...);
            None: ``weights="imagenet"`` loads nothing, as in Keras.

    Returns:
        A functional :class:`~course_lib.models.Model`.
    """
    where = _display_name(name, weights_name)
    imagenet_utils.check_arguments(where, weights, include_top, classes, pooling, classifier_activation)
    shape = imagenet_utils.obtain_input_shape(input_shape, default_size=224, min_size=32,
                                              data_format=config.image_data_format(),
                                              require_flatten=include_top, weights=weights, where=where)
    img_input = imagenet_utils.inputs(shape, input_tensor, where)
    bn_axis = _bn_axis()
    x = layers.ZeroPadding2D(padding=((3, 3), (3, 3)), name="conv1_pad")(img_input)
    x = layers.Conv2D(64, 7, strides=2, use_bias=use_bias, name="conv1_conv")(x)
    if not preact:
        x = layers.BatchNormalization(axis=bn_axis, epsilon=BN_EPSILON, name="conv1_bn")(x)
        x = layers.Activation("relu", name="conv1_relu")(x)
    x = layers.ZeroPadding2D(padding=((1, 1), (1, 1)), name="pool1_pad")(x)
    x = layers.MaxPooling2D(3, strides=2, name="pool1_pool")(x)
    x = stack_fn(x)
    if preact:
        x = layers.BatchNormalization(axis=bn_axis, epsilon=BN_EPSILON, name="post_bn")(x)
        x = layers.Activation("relu", name="post_relu")(x)
    if include_top:
        x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
        x = layers.Dense(classes, activation=classifier_activation, name="predictions")(x)
    else:
        x = imagenet_utils.pool(x, pooling, named=True)
    model = Model(img_input, x, name=name)
    if weights == "imagenet" and weights_name is None:
        return model  # Keras's own rule: a builder without a weights_name has no ImageNet file to load
    return imagenet_utils.load_weights(model, where, weights, weights_file_name(weights_name, include_top),
                                       f"keras.applications.{where}(include_top={include_top})")


def _display_name(name, weights_name):
    known = {"resnet50": "ResNet50", "resnet101": "ResNet101", "resnet152": "ResNet152",
             "resnet50v2": "ResNet50V2", "resnet101v2": "ResNet101V2", "resnet152v2": "ResNet152V2"}
    return known.get(weights_name, f"ResNet({name!r})")


def residual_block_v1(x, filters, kernel_size=3, stride=1, conv_shortcut=True, name=None):
    """A bottleneck block of ResNet (v1): 1x1, ``kernel_size``, 1x1 convolutions, each normalised; the sum; ReLU.

    Args:
        x: the symbolic input tensor.
        filters: channels of the bottleneck; the block outputs ``4 * filters``.
        kernel_size: of the middle convolution (``same`` padding).
        stride: of the first 1x1 convolution (and of the shortcut's).
        conv_shortcut: a 1x1 convolution with BatchNormalization on the shortcut (``{name}_0_conv``,
            ``{name}_0_bn``); False: the input itself.
        name: the block's prefix (``conv3_block1``).

    Returns:
        The block's output tensor (``{name}_out``).
    """
    bn_axis = _bn_axis()
    if conv_shortcut:
        shortcut = layers.Conv2D(4 * filters, 1, strides=stride, name=f"{name}_0_conv")(x)
        shortcut = layers.BatchNormalization(axis=bn_axis, epsilon=BN_EPSILON, name=f"{name}_0_bn")(shortcut)
    else:
        shortcut = x
    x = layers.Conv2D(filters, 1, strides=stride, name=f"{name}_1_conv")(x)
    x = layers.BatchNormalization(axis=bn_axis, epsilon=BN_EPSILON, name=f"{name}_1_bn")(x)
    x = layers.Activation("relu", name=f"{name}_1_relu")(x)
    x = layers.Conv2D(filters, kernel_size, padding="SAME", name=f"{name}_2_conv")(x)
    x = layers.BatchNormalization(axis=bn_axis, epsilon=BN_EPSILON, name=f"{name}_2_bn")(x)
    x = layers.Activation("relu", name=f"{name}_2_relu")(x)
    x = layers.Conv2D(4 * filters, 1, name=f"{name}_3_conv")(x)
    x = layers.BatchNormalization(axis=bn_axis, epsilon=BN_EPSILON, name=f"{name}_3_bn")(x)
    x = layers.Add(name=f"{name}_add")([shortcut, x])
    return layers.Activation("relu", name=f"{name}_out")(x)


def stack_residual_blocks_v1(x, filters, blocks, stride1=2, name=None):
    """``blocks`` ResNet (v1) blocks: the first with a convolution shortcut and stride ``stride1``, the others not.

    ``name`` is the stack's prefix (``conv2`` ... ``conv5``); the blocks are ``{name}_block1`` ... .
    """
    x = residual_block_v1(x, filters, stride=stride1, name=f"{name}_block1")
    for i in range(2, blocks + 1):
        x = residual_block_v1(x, filters, conv_shortcut=False, name=f"{name}_block{i}")
    return x


def residual_block_v2(x, filters, kernel_size=3, stride=1, conv_shortcut=False, name=None):
    """A pre-activation bottleneck block of ResNetV2: BatchNormalization and ReLU first, then the convolutions.

    The normalised input (``{name}_preact_bn``, ``{name}_preact_relu``) feeds the 1x1 (no bias), the
    zero-padded ``kernel_size`` convolution of stride ``stride`` (no bias), each normalised and rectified,
    and a last 1x1 convolution to ``4 * filters`` (with bias, not normalised); ``{name}_out`` adds the
    shortcut: a 1x1 convolution of the normalised input (``conv_shortcut``), or the raw input itself,
    subsampled by a 1x1 max pooling of stride ``stride`` when ``stride > 1`` (that pooling layer has no
    name in Keras, so it gets the automatic ``max_pooling2d``, ``max_pooling2d_1``, ...).
    """
    bn_axis = _bn_axis()
    preact = layers.BatchNormalization(axis=bn_axis, epsilon=BN_EPSILON, name=f"{name}_preact_bn")(x)
    preact = layers.Activation("relu", name=f"{name}_preact_relu")(preact)
    if conv_shortcut:
        shortcut = layers.Conv2D(4 * filters, 1, strides=stride, name=f"{name}_0_conv")(preact)
    else:
        shortcut = layers.MaxPooling2D(1, strides=stride)(x) if stride > 1 else x
    x = layers.Conv2D(filters, 1, strides=1, use_bias=False, name=f"{name}_1_conv")(preact)
    x = layers.BatchNormalization(axis=bn_axis, epsilon=BN_EPSILON, name=f"{name}_1_bn")(x)
    x = layers.Activation("relu", name=f"{name}_1_relu")(x)
    x = layers.ZeroPadding2D(padding=((1, 1), (1, 1)), name=f"{name}_2_pad")(x)
    x = layers.Conv2D(filters, kernel_size, strides=stride, use_bias=False, name=f"{name}_2_conv")(x)
    x = layers.BatchNormalization(axis=bn_axis, epsilon=BN_EPSILON, name=f"{name}_2_bn")(x)
    x = layers.Activation("relu", name=f"{name}_2_relu")(x)
    x = layers.Conv2D(4 * filters, 1, name=f"{name}_3_conv")(x)
    return layers.Add(name=f"{name}_out")([shortcut, x])


def stack_residual_blocks_v2(x, filters, blocks, stride1=2, name=None):
    """``blocks`` ResNetV2 blocks: the first with a convolution shortcut, the LAST with stride ``stride1``.

    (ResNetV2 halves the size at the end of a stack, v1 at its start.)
    """
    x = residual_block_v2(x, filters, conv_shortcut=True, name=f"{name}_block1")
    for i in range(2, blocks):
        x = residual_block_v2(x, filters, name=f"{name}_block{i}")
    return residual_block_v2(x, filters, stride=stride1, name=f"{name}_block{blocks}")


block1, stack1 = residual_block_v1, stack_residual_blocks_v1
"""The names Keras 2 (``keras_applications``) gave :func:`residual_block_v1` and :func:`stack_residual_blocks_v1`."""
block2, stack2 = residual_block_v2, stack_residual_blocks_v2
"""The names Keras 2 gave :func:`residual_block_v2` and :func:`stack_residual_blocks_v2`."""


def _v1_stacks(blocks):
    def stack_fn(x):
        x = stack_residual_blocks_v1(x, 64, blocks[0], stride1=1, name="conv2")
        x = stack_residual_blocks_v1(x, 128, blocks[1], name="conv3")
        x = stack_residual_blocks_v1(x, 256, blocks[2], name="conv4")
        return stack_residual_blocks_v1(x, 512, blocks[3], name="conv5")
    return stack_fn


def ResNet50(include_top=True, weights="imagenet", input_tensor=None, input_shape=None, pooling=None, classes=1000,
             classifier_activation="softmax", name="resnet50"):
    """ResNet50 as Keras's ``keras.applications.ResNet50`` builds it: stacks of 3, 4, 6, 3 blocks.

    See :func:`ResNet` for the arguments; 25,636,712 parameters with the top.
    """
    return ResNet(_v1_stacks((3, 4, 6, 3)), preact=False, use_bias=True, weights_name="resnet50", name=name,
                  include_top=include_top, weights=weights, input_tensor=input_tensor, input_shape=input_shape,
                  pooling=pooling, classes=classes, classifier_activation=classifier_activation)


def ResNet101(include_top=True, weights="imagenet", input_tensor=None, input_shape=None, pooling=None,
              classes=1000, classifier_activation="softmax", name="resnet101"):
    """ResNet101 as Keras's ``keras.applications.ResNet101`` builds it: stacks of 3, 4, 23, 3 blocks.

    See :func:`ResNet` for the arguments; 44,707,176 parameters with the top.
    """
    return ResNet(_v1_stacks((3, 4, 23, 3)), preact=False, use_bias=True, name=name, weights_name="resnet101",
                  include_top=include_top, weights=weights, input_tensor=input_tensor, input_shape=input_shape,
                  pooling=pooling, classes=classes, classifier_activation=classifier_activation)


def ResNet152(include_top=True, weights="imagenet", input_tensor=None, input_shape=None, pooling=None,
              classes=1000, classifier_activation="softmax", name="resnet152"):
    """ResNet152 as Keras's ``keras.applications.ResNet152`` builds it: stacks of 3, 8, 36, 3 blocks.

    See :func:`ResNet` for the arguments; 60,419,944 parameters with the top.
    """
    return ResNet(_v1_stacks((3, 8, 36, 3)), preact=False, use_bias=True, name=name, weights_name="resnet152",
                  include_top=include_top, weights=weights, input_tensor=input_tensor, input_shape=input_shape,
                  pooling=pooling, classes=classes, classifier_activation=classifier_activation)


def preprocess_input(x, data_format=None):
    """Keras's "caffe" preprocessing of ResNet: RGB -> BGR, then ImageNet's mean pixel subtracted (no scaling).

    ``x``: images with pixel values 0 ... 255, channels last or first. Returns a new float array
    (Keras's own function overwrites a float NumPy input; course_lib never changes its input).
    See :func:`course_lib.applications.imagenet_utils.preprocess_input`.
    """
    return imagenet_utils.preprocess_input(x, data_format=data_format, mode="caffe")


def decode_predictions(preds, top=5):
    """The ``top`` ImageNet classes of each row of ``preds``; see :func:`course_lib.applications.imagenet_utils.decode_predictions`."""
    return imagenet_utils.decode_predictions(preds, top=top)
