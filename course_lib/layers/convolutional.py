"""Convolution layers (卷积层): Conv1D, Conv2D and Conv3D from one N-dimensional base.

As Keras's ``BaseConv(rank=...)``: the layers differ only in ``rank``, the
number of spatial axes (1 for sequences, 2 for images, 3 for volumes). The
arithmetic lives in :mod:`course_lib.ops.conv`; this file adds the Keras
interface: arguments and their checks, weights (kernel ``(*kernel_size,
in_channels // groups, filters)``, bias ``(filters,)``), ``data_format``,
the activation, regularizers and constraints, output shapes and configs.
"""
from __future__ import annotations

from course_lib import regularizers
from course_lib.layers.base import InputSpec
from course_lib.layers.core import KernelLayer, _not_yet_supported
from course_lib.ops.arguments import check_data_format, from_channels_last, positive_ints, to_channels_last
from course_lib.ops.conv import conv_backward, conv_forward, conv_output_length

class BaseConv(KernelLayer):
    """The N-dimensional convolution behind Conv1D, Conv2D and Conv3D.

    Args:
        rank: the number of spatial axes.
        filters: positive int, the number of output channels.
        kernel_size: an int or ``rank`` ints, the window.
        strides: an int or ``rank`` ints (default 1).
        padding: ``"valid"`` (no padding), ``"same"`` (output size
            ``ceil(input / stride)``; the odd padding element goes to the end,
            as TensorFlow does) or, for Conv1D, ``"causal"`` (left padding only:
            output ``t`` sees inputs up to ``t``).
        data_format: ``"channels_last"`` (default) or ``"channels_first"``.
        dilation_rate: an int or ``rank`` ints: gaps between kernel taps (空洞卷积);
            Keras refuses dilation > 1 together with strides > 1.
        groups: split inputs and filters into this many independent groups.
        activation, use_bias, kernel_initializer, bias_initializer: as Dense.
        kernel_regularizer, bias_regularizer, activity_regularizer,
        kernel_constraint, bias_constraint: as Dense.
    """

    def __init__(self, rank, filters, kernel_size, strides=1, padding="valid", data_format=None,
                 dilation_rate=1, groups=1, activation=None, use_bias=True,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros", kernel_regularizer=None,
                 bias_regularizer=None, activity_regularizer=None, kernel_constraint=None,
                 bias_constraint=None, lora_rank=None, lora_alpha=None, **kwargs):
        where = type(self).__name__
        _not_yet_supported(where, lora_rank=lora_rank, lora_alpha=lora_alpha)
        if isinstance(filters, bool) or not isinstance(filters, int) or filters <= 0:
            raise ValueError(f"{where}: filters must be a positive int. Received: filters={filters!r}")
        if isinstance(groups, bool) or not isinstance(groups, int) or groups <= 0:
            raise ValueError(f"{where}: groups must be a positive int. Received: groups={groups!r}")
        if filters % groups:
            raise ValueError(
                f"{where}: the number of filters must be evenly divisible by the number of groups. "
                f"Received: groups={groups}, filters={filters}"
            )
        allowed = ("valid", "same", "causal") if rank == 1 else ("valid", "same")
        if not isinstance(padding, str) or padding.lower() not in allowed:
            raise ValueError(f"{where}: padding must be one of {allowed}. Received: padding={padding!r}")
        super().__init__(activity_regularizer=activity_regularizer, **kwargs)
        self.rank = rank
        self.filters = filters
        self.groups = groups
        self.kernel_size = positive_ints(where, "kernel_size", kernel_size, rank)
        self.strides = positive_ints(where, "strides", strides, rank)
        self.dilation_rate = positive_ints(where, "dilation_rate", dilation_rate, rank)
        if max(self.strides) > 1 and max(self.dilation_rate) > 1:
            raise ValueError(
                f"{where}: strides > 1 is not supported together with dilation_rate > 1 (as in Keras). "
                f"Received: strides={self.strides} and dilation_rate={self.dilation_rate}"
            )
        self.padding = padding.lower()
        self.data_format = check_data_format(where, data_format)
        self._kernel_options(activation, use_bias, kernel_initializer, bias_initializer, kernel_regularizer,
                             bias_regularizer, kernel_constraint, bias_constraint)
        self.input_spec = InputSpec(ndim=rank + 2)

    def _channel_axis(self):
        return -1 if self.data_format == "channels_last" else 1

    def build(self, input_shape):
        channels = input_shape[self._channel_axis()]
        if channels is None:
            raise ValueError(
                f"{type(self).__name__} '{self.name}': the channel dimension of the input must be known. "
                f"Received: input_shape={tuple(input_shape)}"
            )
        if channels % self.groups:
            raise ValueError(
                f"{type(self).__name__} '{self.name}': the number of input channels must be evenly divisible "
                f"by the number of groups. Received: groups={self.groups}, but the input has {channels} "
                f"channels (full input shape {tuple(input_shape)})"
            )
        self.compute_output_shape(input_shape)  # a kernel larger than the input fails here, before any weight
        self._add_kernel_and_bias(self.kernel_size + (channels // self.groups, self.filters), self.filters)
        self.input_spec = InputSpec(ndim=self.rank + 2, axes={self._channel_axis(): channels})
        self.built = True

    def forward_pre_activation(self, inputs, training=False):
        x = to_channels_last(inputs, self.data_format)
        out, cache = conv_forward(x, self.kernel.value, None if self.bias is None else self.bias.value,
                                  self.strides, self.padding, self.dilation_rate, self.groups)
        return from_channels_last(out, self.data_format), cache

    def backward_pre_activation(self, dpre, cache, need_dx=True):
        dx, dkernel, dbias = conv_backward(to_channels_last(dpre, self.data_format), cache, need_dx=need_dx)
        return (None if dx is None else from_channels_last(dx, self.data_format)), self._weight_grads(dkernel, dbias)

    def _checked_rank(self, input_shape):
        """``input_shape`` as a tuple, after Keras's error for a wrong number of axes."""
        input_shape = tuple(input_shape)
        if len(input_shape) != self.rank + 2:
            raise ValueError(
                f"Input 0 of layer '{self.name}' is incompatible with the layer: expected ndim={self.rank + 2}, "
                f"found ndim={len(input_shape)}. Received: input with shape {input_shape}"
            )
        return input_shape

    def compute_output_shape(self, input_shape):
        return self._output_shape(input_shape, self.filters)

    def _output_shape(self, input_shape, channels):
        """The output shape for ``channels`` output channels, after the kernel-too-large check."""
        input_shape = self._checked_rank(input_shape)
        spatial = input_shape[1:-1] if self.data_format == "channels_last" else input_shape[2:]
        outs = tuple(conv_output_length(size, k, s, self.padding, d)
                     for size, k, s, d in zip(spatial, self.kernel_size, self.strides, self.dilation_rate))
        if any(size is not None and size <= 0 for size in outs):
            raise ValueError(
                f"{type(self).__name__} '{self.name}': the input is too small for the kernel: the output "
                f"would have spatial shape {outs}. Received: input shape {input_shape}, "
                f"kernel_size={self.kernel_size}, dilation_rate={self.dilation_rate}, "
                f"strides={self.strides}, padding={self.padding!r}"
            )
        if self.data_format == "channels_last":
            return (input_shape[0],) + outs + (channels,)
        return (input_shape[0], channels) + outs

    def get_config(self):
        config = super().get_config()
        config.update(
            filters=self.filters,
            kernel_size=self.kernel_size,
            strides=self.strides,
            padding=self.padding,
            data_format=self.data_format,
            dilation_rate=self.dilation_rate,
            groups=self.groups,
            activity_regularizer=regularizers.serialize(self.activity_regularizer),
            **self._kernel_config(),
        )
        return config


class Conv1D(BaseConv):
    """1D convolution over sequences (一维卷积): input ``(batch, steps, channels)``.

    ``padding="causal"`` pads on the left only, so output ``t`` depends on
    inputs ``0 ... t`` (WaveNet-style temporal models). See :class:`BaseConv`.
    """

    def __init__(self, filters, kernel_size, strides=1, padding="valid", data_format=None, dilation_rate=1,
                 groups=1, activation=None, use_bias=True, **kwargs):
        super().__init__(1, filters, kernel_size, strides, padding, data_format, dilation_rate, groups,
                         activation, use_bias, **kwargs)


class Conv2D(BaseConv):
    """2D convolution over images (二维卷积): input ``(batch, height, width, channels)``.

    Output ``(batch, new_height, new_width, filters)``; see :class:`BaseConv`.
    """

    def __init__(self, filters, kernel_size, strides=(1, 1), padding="valid", data_format=None,
                 dilation_rate=(1, 1), groups=1, activation=None, use_bias=True, **kwargs):
        super().__init__(2, filters, kernel_size, strides, padding, data_format, dilation_rate, groups,
                         activation, use_bias, **kwargs)


class Conv3D(BaseConv):
    """3D convolution over volumes or video (三维卷积): input ``(batch, depth, height, width, channels)``."""

    def __init__(self, filters, kernel_size, strides=(1, 1, 1), padding="valid", data_format=None,
                 dilation_rate=(1, 1, 1), groups=1, activation=None, use_bias=True, **kwargs):
        super().__init__(3, filters, kernel_size, strides, padding, data_format, dilation_rate, groups,
                         activation, use_bias, **kwargs)


# Keras's older names: the same classes (their configs say Conv1D, Conv2D, Conv3D).
Convolution1D, Convolution2D, Convolution3D = Conv1D, Conv2D, Conv3D
