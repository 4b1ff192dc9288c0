"""Depthwise and separable convolutions (深度可分离卷积): DepthwiseConv1D/2D, SeparableConv1D/2D.

As Keras's ``BaseDepthwiseConv`` and ``BaseSeparableConv``. A *depthwise*
convolution filters every input channel on its own, with ``depth_multiplier``
kernels per channel, and never mixes channels: an input with ``C`` channels
gives ``C * depth_multiplier`` output channels, output channel
``c * depth_multiplier + m`` being channel ``c`` filtered by
``kernel[..., c, m]`` (Keras's and ``tf.nn.depthwise_conv2d``'s order).

That is exactly a grouped convolution with ``groups = C``: the kernel of
shape ``(*kernel_size, C, depth_multiplier)``, read (reshaped, no copy) as
``(*kernel_size, 1, C * depth_multiplier)``, gives group ``c`` its one input
channel and its ``depth_multiplier`` filters. So the arithmetic is
:func:`course_lib.ops.conv.conv_forward` / ``conv_backward`` with
``groups=C`` through that reshape, forward and backward (no loop over
channels).

A *separable* convolution (MobileNet, Xception) is that depthwise step
without bias, then a 1x1 ("pointwise") convolution that mixes the
``C * depth_multiplier`` channels into ``filters``, plus the bias: far fewer
weights than a full convolution of the same window.
"""
from __future__ import annotations

import numbers

from course_lib import activations, constraints, initializers, regularizers
from course_lib.layers.base import InputSpec
from course_lib.layers.convolutional import BaseConv
from course_lib.layers.core import KernelLayer
from course_lib.ops.arguments import check_data_format, from_channels_last, positive_ints, to_channels_last
from course_lib.ops.conv import conv_backward, conv_forward

__all__ = [
    "DepthwiseConv1D", "DepthwiseConv2D", "SeparableConv1D", "SeparableConv2D", "SeparableConvolution1D",
    "SeparableConvolution2D", "depthwise_conv_backward", "depthwise_conv_forward", "separable_conv_backward",
    "separable_conv_forward",
]


# --------------------------------------------------------------------------
# The arithmetic: grouped convolutions of course_lib.ops.conv
# --------------------------------------------------------------------------

def depthwise_conv_forward(x, kernel, bias=None, strides=1, padding="valid", dilation_rate=1):
    """Depthwise convolution of a ``channels_last`` input: ``(out, cache)``.

    Args:
        x: ``(N, *spatial, C)``.
        kernel: ``(*kernel_size, C, depth_multiplier)``.
        bias: ``(C * depth_multiplier,)`` or None.
        strides, padding, dilation_rate: as
            :func:`course_lib.ops.conv.conv_forward` (``"valid"`` or ``"same"``).

    Returns:
        ``out`` of shape ``(N, *out_spatial, C * depth_multiplier)`` and the cache
        for :func:`depthwise_conv_backward`.
    """
    *window, channels, multiplier = kernel.shape
    if x.shape[-1] != channels:
        raise ValueError(
            f"depthwise_conv_forward: the input has {x.shape[-1]} channels but the kernel expects {channels}. "
            f"Received: x.shape={tuple(x.shape)}, kernel.shape={tuple(kernel.shape)}"
        )
    grouped = kernel.reshape(tuple(window) + (1, channels * multiplier))
    out, cache = conv_forward(x, grouped, bias, strides, padding, dilation_rate, groups=channels)
    return out, (cache, tuple(kernel.shape))


def depthwise_conv_backward(dout, cache, need_dx=True):
    """Gradients of :func:`depthwise_conv_forward`: ``(dx, dkernel, dbias)``.

    ``dkernel`` has the kernel's shape ``(*kernel_size, C, depth_multiplier)``;
    ``dbias`` is None without a bias, ``dx`` None when ``need_dx`` is False.
    """
    conv_cache, kernel_shape = cache
    dx, dgrouped, dbias = conv_backward(dout, conv_cache, need_dx=need_dx)
    return dx, dgrouped.reshape(kernel_shape), dbias


def separable_conv_forward(x, depthwise_kernel, pointwise_kernel, bias=None, strides=1, padding="valid",
                           dilation_rate=1):
    """Separable convolution of a ``channels_last`` input: depthwise, then a 1x1 convolution.

    Args:
        x: ``(N, *spatial, C)``.
        depthwise_kernel: ``(*kernel_size, C, depth_multiplier)``.
        pointwise_kernel: ``(1, ..., 1, C * depth_multiplier, filters)``.
        bias: ``(filters,)`` or None, added after the pointwise step.

    Returns:
        ``(out, cache)``, ``out`` of shape ``(N, *out_spatial, filters)``.
    """
    middle, depthwise_cache = depthwise_conv_forward(x, depthwise_kernel, None, strides, padding, dilation_rate)
    out, pointwise_cache = conv_forward(middle, pointwise_kernel, bias, 1, "valid", 1, 1)
    return out, (depthwise_cache, pointwise_cache)


def separable_conv_backward(dout, cache, need_dx=True):
    """Gradients of :func:`separable_conv_forward`: ``(dx, ddepthwise_kernel, dpointwise_kernel, dbias)``."""
    depthwise_cache, pointwise_cache = cache
    dmiddle, dpointwise, dbias = conv_backward(dout, pointwise_cache)
    dx, ddepthwise, _ = depthwise_conv_backward(dmiddle, depthwise_cache, need_dx=need_dx)
    return dx, ddepthwise, dpointwise, dbias


# --------------------------------------------------------------------------
# The layers
# --------------------------------------------------------------------------

def _positive_int(where, argument, value):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value <= 0:
        raise ValueError(f"{where}: {argument} must be a positive int. Received: {argument}={value!r}")
    return int(value)


class BaseDepthwiseConv(KernelLayer):
    """The N-dimensional depthwise convolution behind DepthwiseConv1D and DepthwiseConv2D.

    Args:
        rank: the number of spatial axes (1 or 2).
        depth_multiplier: positive int, the number of output channels per input
            channel.
        kernel_size: an int or ``rank`` ints, the window.
        strides: an int or ``rank`` ints (default 1).
        padding: ``"valid"`` or ``"same"`` (case is ignored; as in Keras there is
            no ``"causal"``); ``"same"`` puts the odd padding element at the end.
        data_format: ``"channels_last"`` (default) or ``"channels_first"``.
        dilation_rate: an int or ``rank`` ints. Unlike Conv2D, Keras accepts
            strides > 1 together with dilation > 1 here, and so does course_lib.
        activation, use_bias: as Dense.
        depthwise_initializer, bias_initializer: initializers of the kernel and
            the bias (default ``"glorot_uniform"`` and ``"zeros"``).
        depthwise_regularizer, bias_regularizer, activity_regularizer: penalties.
        depthwise_constraint, bias_constraint: projections after each step.

    Weights:
        ``kernel`` of shape ``(*kernel_size, in_channels, depth_multiplier)``
        (Keras 3 names it ``kernel``, Keras 2 ``depthwise_kernel``) and
        ``bias`` of shape ``(in_channels * depth_multiplier,)``, in that order.

    Input shape:
        ``(batch, *spatial, channels)`` (channels_last) or ``(batch, channels, *spatial)``.

    Output shape:
        ``(batch, *new_spatial, channels * depth_multiplier)`` (or channels first).
    """

    _channel_axis = BaseConv._channel_axis
    _checked_rank = BaseConv._checked_rank
    _output_shape = BaseConv._output_shape

    def __init__(self, rank, depth_multiplier, kernel_size, strides=1, padding="valid", data_format=None,
                 dilation_rate=1, activation=None, use_bias=True, depthwise_initializer="glorot_uniform",
                 bias_initializer="zeros", depthwise_regularizer=None, bias_regularizer=None,
                 activity_regularizer=None, depthwise_constraint=None, bias_constraint=None, **kwargs):
        where = type(self).__name__
        depth_multiplier = _positive_int(where, "depth_multiplier", depth_multiplier)
        if not isinstance(padding, str) or padding.lower() not in ("valid", "same"):
            raise ValueError(f"{where}: padding must be one of ('valid', 'same'). Received: padding={padding!r}")
        super().__init__(activity_regularizer=activity_regularizer, **kwargs)
        self.rank = rank
        self.depth_multiplier = depth_multiplier
        self.kernel_size = positive_ints(where, "kernel_size", kernel_size, rank)
        self.strides = positive_ints(where, "strides", strides, rank)
        self.dilation_rate = positive_ints(where, "dilation_rate", dilation_rate, rank)
        self.padding = padding.lower()
        self.data_format = check_data_format(where, data_format)
        self.activation = activations.get(activation)
        self.use_bias = bool(use_bias)
        self.depthwise_initializer = initializers.get(depthwise_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.depthwise_regularizer = regularizers.get(depthwise_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        self.depthwise_constraint = constraints.get(depthwise_constraint)
        self.bias_constraint = constraints.get(bias_constraint)
        self.input_spec = InputSpec(ndim=rank + 2)

    def _input_channels(self, input_shape):
        channels = input_shape[self._channel_axis()]
        if channels is None:
            raise ValueError(
                f"{type(self).__name__} '{self.name}': the channel dimension of the input must be known. "
                f"Received: input_shape={tuple(input_shape)}"
            )
        return channels

    def _add_bias(self, size):
        self.bias = None
        if self.use_bias:
            self.bias = self.add_weight("bias", (size,), self.bias_initializer, regularizer=self.bias_regularizer,
                                        constraint=self.bias_constraint)

    def build(self, input_shape):
        self._checked_rank(input_shape)
        channels = self._input_channels(input_shape)
        self.compute_output_shape(input_shape)  # a kernel larger than the input fails here, before any weight
        self.kernel = self.add_weight("kernel", self.kernel_size + (channels, self.depth_multiplier),
                                      self.depthwise_initializer, regularizer=self.depthwise_regularizer,
                                      constraint=self.depthwise_constraint)
        self._add_bias(channels * self.depth_multiplier)
        self.input_spec = InputSpec(ndim=self.rank + 2, axes={self._channel_axis(): channels})
        self.built = True

    def forward_pre_activation(self, inputs, training=False):
        x = to_channels_last(inputs, self.data_format)
        out, cache = depthwise_conv_forward(x, self.kernel.value, None if self.bias is None else self.bias.value,
                                            self.strides, self.padding, self.dilation_rate)
        return from_channels_last(out, self.data_format), cache

    def backward_pre_activation(self, dpre, cache, need_dx=True):
        dx, dkernel, dbias = depthwise_conv_backward(to_channels_last(dpre, self.data_format), cache,
                                                     need_dx=need_dx)
        return (None if dx is None else from_channels_last(dx, self.data_format)), self._weight_grads(dkernel, dbias)

    def compute_output_shape(self, input_shape):
        channels = self._checked_rank(input_shape)[self._channel_axis()]
        return self._output_shape(input_shape, None if channels is None else channels * self.depth_multiplier)

    def _geometry_config(self):
        return dict(
            kernel_size=self.kernel_size,
            strides=self.strides,
            padding=self.padding,
            data_format=self.data_format,
            dilation_rate=self.dilation_rate,
            activation=activations.serialize(self.activation),
            use_bias=self.use_bias,
        )

    def get_config(self):
        config = super().get_config()
        config.update(
            depth_multiplier=self.depth_multiplier,
            **self._geometry_config(),
            depthwise_initializer=initializers.serialize(self.depthwise_initializer),
            bias_initializer=initializers.serialize(self.bias_initializer),
            depthwise_regularizer=regularizers.serialize(self.depthwise_regularizer),
            bias_regularizer=regularizers.serialize(self.bias_regularizer),
            activity_regularizer=regularizers.serialize(self.activity_regularizer),
            depthwise_constraint=constraints.serialize(self.depthwise_constraint),
            bias_constraint=constraints.serialize(self.bias_constraint),
        )
        return config


class BaseSeparableConv(BaseDepthwiseConv):
    """The N-dimensional separable convolution behind SeparableConv1D and SeparableConv2D.

    The depthwise convolution of :class:`BaseDepthwiseConv` (without its bias),
    then a 1x1 convolution to ``filters`` channels, then the bias and the
    activation.

    Args:
        rank: the number of spatial axes (1 or 2).
        depth_multiplier: positive int, depthwise output channels per input channel.
        filters: positive int, the number of output channels.
        kernel_size, strides, padding, data_format, dilation_rate, activation,
        use_bias: as :class:`BaseDepthwiseConv`.
        depthwise_initializer, pointwise_initializer, bias_initializer,
        depthwise_regularizer, pointwise_regularizer, bias_regularizer,
        activity_regularizer, depthwise_constraint, pointwise_constraint,
        bias_constraint: for each of the three weights.

    Weights:
        ``depthwise_kernel`` ``(*kernel_size, in_channels, depth_multiplier)``,
        ``pointwise_kernel`` ``(1, ..., 1, in_channels * depth_multiplier, filters)``
        and ``bias`` ``(filters,)``, in that order.
    """

    def __init__(self, rank, depth_multiplier, filters, kernel_size, strides=1, padding="valid", data_format=None,
                 dilation_rate=1, activation=None, use_bias=True, depthwise_initializer="glorot_uniform",
                 pointwise_initializer="glorot_uniform", bias_initializer="zeros", depthwise_regularizer=None,
                 pointwise_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 depthwise_constraint=None, pointwise_constraint=None, bias_constraint=None, **kwargs):
        filters = _positive_int(type(self).__name__, "filters", filters)
        super().__init__(rank, depth_multiplier, kernel_size, strides, padding, data_format, dilation_rate,
                         activation, use_bias, depthwise_initializer, bias_initializer, depthwise_regularizer,
                         bias_regularizer, activity_regularizer, depthwise_constraint, bias_constraint, **kwargs)
        self.filters = filters
        self.pointwise_initializer = initializers.get(pointwise_initializer)
        self.pointwise_regularizer = regularizers.get(pointwise_regularizer)
        self.pointwise_constraint = constraints.get(pointwise_constraint)

    def build(self, input_shape):
        self._checked_rank(input_shape)
        channels = self._input_channels(input_shape)
        self.compute_output_shape(input_shape)  # a kernel larger than the input fails here, before any weight
        self.depthwise_kernel = self.add_weight(
            "depthwise_kernel", self.kernel_size + (channels, self.depth_multiplier), self.depthwise_initializer,
            regularizer=self.depthwise_regularizer, constraint=self.depthwise_constraint)
        self.pointwise_kernel = self.add_weight(
            "pointwise_kernel", (1,) * self.rank + (channels * self.depth_multiplier, self.filters),
            self.pointwise_initializer, regularizer=self.pointwise_regularizer, constraint=self.pointwise_constraint)
        self._add_bias(self.filters)
        self.input_spec = InputSpec(ndim=self.rank + 2, axes={self._channel_axis(): channels})
        self.built = True

    def forward_pre_activation(self, inputs, training=False):
        x = to_channels_last(inputs, self.data_format)
        out, cache = separable_conv_forward(x, self.depthwise_kernel.value, self.pointwise_kernel.value,
                                            None if self.bias is None else self.bias.value, self.strides,
                                            self.padding, self.dilation_rate)
        return from_channels_last(out, self.data_format), cache

    def backward_pre_activation(self, dpre, cache, need_dx=True):
        dx, ddepthwise, dpointwise, dbias = separable_conv_backward(to_channels_last(dpre, self.data_format), cache,
                                                                    need_dx=need_dx)
        grads = {"depthwise_kernel": ddepthwise, "pointwise_kernel": dpointwise}
        if self.use_bias:
            grads["bias"] = dbias
        return (None if dx is None else from_channels_last(dx, self.data_format)), grads

    def compute_output_shape(self, input_shape):
        return self._output_shape(input_shape, self.filters)

    def get_config(self):
        config = super(BaseDepthwiseConv, self).get_config()  # the Layer's part: name, trainable, dtype
        config.update(
            depth_multiplier=self.depth_multiplier,
            filters=self.filters,
            **self._geometry_config(),
            depthwise_initializer=initializers.serialize(self.depthwise_initializer),
            pointwise_initializer=initializers.serialize(self.pointwise_initializer),
            bias_initializer=initializers.serialize(self.bias_initializer),
            depthwise_regularizer=regularizers.serialize(self.depthwise_regularizer),
            pointwise_regularizer=regularizers.serialize(self.pointwise_regularizer),
            bias_regularizer=regularizers.serialize(self.bias_regularizer),
            activity_regularizer=regularizers.serialize(self.activity_regularizer),
            depthwise_constraint=constraints.serialize(self.depthwise_constraint),
            pointwise_constraint=constraints.serialize(self.pointwise_constraint),
            bias_constraint=constraints.serialize(self.bias_constraint),
        )
        return config


class DepthwiseConv1D(BaseDepthwiseConv):
    """1D depthwise convolution (一维深度卷积): each channel of ``(batch, steps, channels)`` filtered alone.

    Output ``(batch, new_steps, channels * depth_multiplier)``; see :class:`BaseDepthwiseConv`.
    """

    def __init__(self, kernel_size, strides=1, padding="valid", depth_multiplier=1, data_format=None,
                 dilation_rate=1, activation=None, use_bias=True, **kwargs):
        super().__init__(1, depth_multiplier, kernel_size, strides, padding, data_format, dilation_rate,
                         activation, use_bias, **kwargs)


class DepthwiseConv2D(BaseDepthwiseConv):
    """2D depthwise convolution (二维深度卷积): each channel of an image filtered alone.

    Input ``(batch, height, width, channels)``, output ``(batch, new_height,
    new_width, channels * depth_multiplier)``; MobileNet's first half of a
    separable block. See :class:`BaseDepthwiseConv`.
    """

    def __init__(self, kernel_size, strides=(1, 1), padding="valid", depth_multiplier=1, data_format=None,
                 dilation_rate=(1, 1), activation=None, use_bias=True, **kwargs):
        super().__init__(2, depth_multiplier, kernel_size, strides, padding, data_format, dilation_rate,
                         activation, use_bias, **kwargs)


class SeparableConv1D(BaseSeparableConv):
    """1D separable convolution (一维深度可分离卷积): depthwise over steps, then a pointwise mix to ``filters``.

    See :class:`BaseSeparableConv`.
    """

    def __init__(self, filters, kernel_size, strides=1, padding="valid", data_format=None, dilation_rate=1,
                 depth_multiplier=1, activation=None, use_bias=True, **kwargs):
        super().__init__(1, depth_multiplier, filters, kernel_size, strides, padding, data_format, dilation_rate,
                         activation, use_bias, **kwargs)


class SeparableConv2D(BaseSeparableConv):
    """2D separable convolution (二维深度可分离卷积), as in Xception and MobileNet.

    Input ``(batch, height, width, channels)``, output ``(batch, new_height,
    new_width, filters)``, with ``k*k*C*M + C*M*filters (+ filters)`` weights
    instead of a Conv2D's ``k*k*C*filters (+ filters)``. See :class:`BaseSeparableConv`.
    """

    def __init__(self, filters, kernel_size, strides=(1, 1), padding="valid", data_format=None,
                 dilation_rate=(1, 1), depth_multiplier=1, activation=None, use_bias=True, **kwargs):
        super().__init__(2, depth_multiplier, filters, kernel_size, strides, padding, data_format, dilation_rate,
                         activation, use_bias, **kwargs)


# Keras's other names: the same classes (their configs say SeparableConv1D, SeparableConv2D).
SeparableConvolution1D, SeparableConvolution2D = SeparableConv1D, SeparableConv2D
