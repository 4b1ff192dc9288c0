"""Pure kernels: each a ``*_forward`` returning ``(out, cache)`` and a ``*_backward``.

These are what the graded notebooks ask students to write; the layer classes in
:mod:`course_lib.layers` are thin wrappers around them.
"""
from course_lib.ops.activation import relu_backward, relu_forward, sigmoid_backward, sigmoid_forward
from course_lib.ops.attention import (
    causal_mask, merge_heads, multi_head_attention_backward, multi_head_attention_forward,
    scaled_dot_product_attention_backward, scaled_dot_product_attention_forward, softmax_backward, softmax_forward,
    split_heads,
)
from course_lib.ops.conv import (
    conv2d_backward, conv2d_forward, conv2d_forward_naive, conv2d_output_shape, conv_backward, conv_forward,
    conv_output_length,
)
from course_lib.ops.conv_transpose import conv_transpose_backward, conv_transpose_forward
from course_lib.ops.ctc import ctc_loss_backward, ctc_loss_forward
from course_lib.ops.dense import dense_backward, dense_forward
from course_lib.ops.gan import (
    discriminator_loss_backward, discriminator_loss_forward, generator_loss_backward, generator_loss_forward,
)
from course_lib.ops.image import (
    affine_transform, affine_transform_backward, affine_transform_forward, resize, resize_backward, resize_forward,
)
from course_lib.ops.pooling import (
    avg_pool2d_backward, avg_pool2d_forward, avg_pool2d_forward_naive, max_pool2d_backward, max_pool2d_forward,
    max_pool2d_forward_naive, pool_backward, pool_forward, pool_output_length,
)
from course_lib.ops.sgd import sgd_step
from course_lib.ops.softmax import softmax, softmax_cross_entropy

__all__ = [
    "causal_mask", "merge_heads", "multi_head_attention_backward", "multi_head_attention_forward",
    "scaled_dot_product_attention_backward", "scaled_dot_product_attention_forward", "softmax_backward",
    "softmax_forward", "split_heads", "conv_transpose_backward", "conv_transpose_forward",
    "ctc_loss_backward", "ctc_loss_forward", "discriminator_loss_backward", "discriminator_loss_forward", "generator_loss_backward", "generator_loss_forward",
    "affine_transform", "affine_transform_backward", "affine_transform_forward", "resize", "resize_backward",
    "resize_forward",
    "avg_pool2d_backward", "avg_pool2d_forward", "avg_pool2d_forward_naive", "conv2d_backward",
    "conv2d_forward", "conv2d_forward_naive", "conv2d_output_shape", "conv_backward", "conv_forward",
    "conv_output_length", "dense_backward", "dense_forward", "max_pool2d_backward", "max_pool2d_forward",
    "max_pool2d_forward_naive", "pool_backward", "pool_forward", "pool_output_length", "relu_backward",
    "relu_forward", "sgd_step", "sigmoid_backward", "sigmoid_forward", "softmax", "softmax_cross_entropy",
]
