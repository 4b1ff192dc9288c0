"""VGG-19 (Simonyan and Zisserman, 2014) with Keras's layer names, shapes and parameter counts.

VGG-16 with one more convolution in each of its last three blocks: 2, 2, 4, 4, 4
convolutions of 64, 128, 256, 512, 512 filters. 143,667,240 parameters with the top
at 224x224x3; 20,024,384 without it. Weights load as for :mod:`course_lib.applications.vgg16`
(a local file, never a download), and the preprocessing is the same "caffe" mode.
"""
from __future__ import annotations

from course_lib.applications.imagenet_utils import decode_predictions
from course_lib.applications.vgg16 import build_vgg, preprocess_input

BLOCKS = ((64, 2), (128, 2), (256, 4), (512, 4), (512, 4))
"""(filters, convolutions) of each block."""
IMAGENET_FILES = {True: "vgg19_weights_tf_dim_ordering_tf_kernels.h5",
                  False: "vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5"}
"""The names Keras gives its ImageNet weight files (with and without the top)."""


def VGG19(include_top=True, weights="imagenet", input_tensor=None, input_shape=None, pooling=None,
          classes=1000, classifier_activation="softmax", name="vgg19"):
    """The VGG-19 network as Keras's ``keras.applications.VGG19`` builds it.

    The arguments are those of :func:`course_lib.applications.VGG16`.

    Returns:
        A functional :class:`~course_lib.models.Model`.
    """
    return build_vgg("VGG19", BLOCKS, IMAGENET_FILES, include_top, weights, input_tensor, input_shape, pooling,
                     classes, classifier_activation, name)


__all__ = ["VGG19", "decode_predictions", "preprocess_input"]
