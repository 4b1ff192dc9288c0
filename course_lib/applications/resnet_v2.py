"""ResNetV2 (He et al., 2016, "Identity Mappings in Deep Residual Networks") with Keras's layer names.

The same stacks as ResNet (:mod:`course_lib.applications.resnet`), with the order
inside a block changed to *pre-activation*: each block starts with
BatchNormalization and ReLU and ends with the addition, so the shortcut path
from the input to the output is nothing but additions (no ReLU after the sum, no
normalisation on it). The stem has no BatchNormalization; ``post_bn`` and
``post_relu`` normalise the last stack's output instead. A stack halves the size
in its *last* block (stride 2 on the 3x3 convolution, a 1x1 max pooling of stride
2 on the identity shortcut), and ``conv5`` keeps it (7x7 at 224x224). Only the
first block of a stack has a 1x1 convolution on its shortcut, and the inner
convolutions have no bias (the BatchNormalization that follows has its own).

=========== =========== ===================== ===================== ===========
network     blocks      parameters (with top) of them non-trainable without top
=========== =========== ===================== ===================== ===========
ResNet50V2  3, 4, 6, 3  25,613,800            45,440                23,564,800
ResNet101V2 3, 4, 23, 3 44,675,560            97,664                42,626,560
ResNet152V2 3, 8, 36, 3 60,380,648            143,744               58,331,648
=========== =========== ===================== ===================== ===========

The ImageNet weights expect Keras's "tf" preprocessing (:func:`preprocess_input`: pixels
scaled to -1 ... 1). ``weights="imagenet"`` loads Keras's file
(``resnet50v2_weights_tf_dim_ordering_tf_kernels.h5``, ``..._notop.h5``) from Keras's cache
folder; course_lib downloads nothing.
"""
from __future__ import annotations

from course_lib.applications import imagenet_utils, resnet


def _v2_stacks(blocks):
    def stack_fn(x):
        x = resnet.stack_residual_blocks_v2(x, 64, blocks[0], name="conv2")
        x = resnet.stack_residual_blocks_v2(x, 128, blocks[1], name="conv3")
        x = resnet.stack_residual_blocks_v2(x, 256, blocks[2], name="conv4")
        return resnet.stack_residual_blocks_v2(x, 512, blocks[3], stride1=1, name="conv5")
    return stack_fn


def ResNet50V2(include_top=True, weights="imagenet", input_tensor=None, input_shape=None, pooling=None,
               classes=1000, classifier_activation="softmax", name="resnet50v2"):
    """ResNet50V2 as Keras's ``keras.applications.ResNet50V2`` builds it: stacks of 3, 4, 6, 3 blocks.

    See :func:`course_lib.applications.resnet.ResNet` for the arguments; 25,613,800 parameters with the top.
    """
    return resnet.ResNet(_v2_stacks((3, 4, 6, 3)), True, True, name=name, weights_name="resnet50v2",
                         include_top=include_top, weights=weights, input_tensor=input_tensor,
                         input_shape=input_shape, pooling=pooling, classes=classes,
                         classifier_activation=classifier_activation)


def ResNet101V2(include_top=True, weights="imagenet", input_tensor=None, input_shape=None, pooling=None,
                classes=1000, classifier_activation="softmax", name="resnet101v2"):
    """ResNet101V2 as Keras's ``keras.applications.ResNet101V2`` builds it: stacks of 3, 4, 23, 3 blocks.

    See :func:`course_lib.applications.resnet.ResNet` for the arguments; 44,675,560 parameters with the top.
    """
    return resnet.ResNet(_v2_stacks((3, 4, 23, 3)), True, True, name=name, weights_name="resnet101v2",
                         include_top=include_top, weights=weights, input_tensor=input_tensor,
                         input_shape=input_shape, pooling=pooling, classes=classes,
                         classifier_activation=classifier_activation)


def ResNet152V2(include_top=True, weights="imagenet", input_tensor=None, input_shape=None, pooling=None,
                classes=1000, classifier_activation="softmax", name="resnet152v2"):
    """ResNet152V2 as Keras's ``keras.applications.ResNet152V2`` builds it: stacks of 3, 8, 36, 3 blocks.

    See :func:`course_lib.applications.resnet.ResNet` for the arguments; 60,380,648 parameters with the top.
    """
    return resnet.ResNet(_v2_stacks((3, 8, 36, 3)), True, True, name=name, weights_name="resnet152v2",
                         include_top=include_top, weights=weights, input_tensor=input_tensor,
                         input_shape=input_shape, pooling=pooling, classes=classes,
                         classifier_activation=classifier_activation)


def preprocess_input(x, data_format=None):
    """Keras's "tf" preprocessing of ResNetV2: pixels 0 ... 255 scaled to -1 ... 1 (``x / 127.5 - 1``).

    Returns a new float array (course_lib never changes its input).
    See :func:`course_lib.applications.imagenet_utils.preprocess_input`.
    """
    return imagenet_utils.preprocess_input(x, data_format=data_format, mode="tf")


def decode_predictions(preds, top=5):
    """The ``top`` ImageNet classes of each row of ``preds``; see :func:`course_lib.applications.imagenet_utils.decode_predictions`."""
    return imagenet_utils.decode_predictions(preds, top=top)
