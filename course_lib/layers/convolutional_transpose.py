"""Transposed convolution layers (转置卷积层): Conv1DTranspose, Conv2DTranspose and Conv3DTranspose.

As Keras's ``BaseConvTranspose(rank=...)``: one N-dimensional base, the
three layers differ only in ``rank``. A transposed convolution maps something
shaped like a convolution's output back to the shape of its input (a stride 2
layer doubles height and width), which is why generators and decoders
(DCGAN, U-Net) use it to upsample with learned weights. It is built on
:class:`course_lib.layers.convolutional.BaseConv` (arguments, activation,
initializers, regularizers, constraints, data formats); the arithmetic lives
in :mod:`course_lib.ops.conv_transpose`.
"""
from __future__ import annotations

from course_lib import regularizers
from course_lib.layers.base import InputSpec
from course_lib.layers.convolutional import BaseConv
from course_lib.ops.arguments import from_channels_last, positive_ints, to_channels_last
from course_lib.ops.conv_transpose import (
    conv_transpose_backward, conv_transpose_forward, conv_transpose_geometry, conv_transpose_output_length,
)


class BaseConvTranspose(BaseConv):
    """The N-dimensional transposed convolution behind Conv1DTranspose, Conv2DTranspose and Conv3DTranspose.

    Args:
        rank: the number of spatial axes.
        filters: positive int, the number of output channels.
        kernel_size: an int or ``rank`` ints, the window.
        strides: an int or ``rank`` ints (default 1): the upsampling factor.
        padding: ``"valid"`` or ``"same"`` (case is ignored). With the dilated
            kernel ``span = (kernel - 1) * dilation + 1``, the output length of an
            axis of length ``n`` is, for ``"valid"``, ``(n - 1) * stride + span +
            output_padding`` (a missing output_padding is ``max(span, stride) -
            span``); for ``"same"``, ``n * stride`` without output_padding, else
            ``(n - 1) * stride + span % 2 + output_padding``. ``"same"`` crops
            TensorFlow's "same" padding off the full result: when the amount to
            crop is odd, the extra element is cropped at the end (right, bottom).
        output_padding: None, an int or ``rank`` ints >= 0, each strictly less than
            the stride of its axis: extra length at the end of each output axis.
        data_format: ``"channels_last"`` (default) or ``"channels_first"``.
        dilation_rate: an int or ``rank`` ints; Keras refuses dilation > 1 together
            with strides > 1.
        activation, use_bias, kernel_initializer, bias_initializer: as Dense.
        kernel_regularizer, bias_regularizer, activity_regularizer,
        kernel_constraint, bias_constraint: as Dense.

    Weights:
        ``kernel`` of shape ``(*kernel_size, filters, in_channels)`` (the two
        channel axes swapped relative to a convolution's) and ``bias`` of shape
        ``(filters,)``, in that order.

    Input shape:
        ``(batch, *spatial, channels)`` (channels_last) or ``(batch, channels, *spatial)``.

    Output shape:
        ``(batch, *new_spatial, filters)`` or ``(batch, filters, *new_spatial)``.

    Differences from Keras, on purpose: an input of the wrong rank is refused
    with a message (Keras's ``InputSpec(min_ndim=...)`` lets a longer one through
    to a bare "tuple index out of range"); ``padding="same"`` with an even kernel
    span and ``output_padding=0``, which TensorFlow's kernel refuses when called,
    is refused already when the layer is built, saying why.
    """

    def __init__(self, rank, filters, kernel_size, strides=1, padding="valid", output_padding=None,
                 data_format=None, dilation_rate=1, activation=None, use_bias=True,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros", kernel_regularizer=None,
                 bias_regularizer=None, activity_regularizer=None, kernel_constraint=None, bias_constraint=None,
                 **kwargs):
        where = type(self).__name__ + (f" '{kwargs['name']}'" if isinstance(kwargs.get("name"), str) else "")
        if not isinstance(padding, str) or padding.lower() not in ("valid", "same"):
            raise ValueError(f"{where}: padding must be one of ('valid', 'same'). Received: padding={padding!r}")
        stride_tuple = positive_ints(where, "strides", strides, rank)
        if output_padding is not None:
            output_padding = positive_ints(where, "output_padding", output_padding, rank, minimum=0)
            for axis, (extra, stride) in enumerate(zip(output_padding, stride_tuple)):
                if extra >= stride:
                    raise ValueError(
                        f"{where}: `output_padding` must be strictly less than `strides` for all dimensions. "
                        f"At dimension {axis}, `output_padding` is {extra} but `strides` is {stride}. "
                        f"Received: output_padding={output_padding}, strides={stride_tuple}"
                    )
        super().__init__(rank, filters, kernel_size, strides, padding, data_format, dilation_rate, 1, activation,
                         use_bias, kernel_initializer, bias_initializer, kernel_regularizer, bias_regularizer,
                         activity_regularizer, kernel_constraint, bias_constraint, **kwargs)
        self.output_padding = output_padding

    def _spatial(self, input_shape):
        return tuple(input_shape[1:-1] if self.data_format == "channels_last" else input_shape[2:])

    def build(self, input_shape):
        channels = input_shape[self._channel_axis()]
        if channels is None:
            raise ValueError(
                f"{type(self).__name__} '{self.name}': the channel dimension of the input must be known. "
                f"Received: input_shape={tuple(input_shape)}"
            )
        self.compute_output_shape(input_shape)  # a wrong rank fails here, before any weight
        conv_transpose_geometry(f"{type(self).__name__} '{self.name}'", self._spatial(input_shape),
                                self.kernel_size, self.strides, self.padding, self.output_padding,
                                self.dilation_rate)
        self._add_kernel_and_bias(self.kernel_size + (self.filters, channels), self.filters)
        self.input_spec = InputSpec(ndim=self.rank + 2, axes={self._channel_axis(): channels})
        self.built = True

    def forward_pre_activation(self, inputs, training=False):
        x = to_channels_last(inputs, self.data_format)
        out, cache = conv_transpose_forward(x, self.kernel.value, None if self.bias is None else self.bias.value,
                                            self.strides, self.padding, self.output_padding, self.dilation_rate)
        return from_channels_last(out, self.data_format), cache

    def backward_pre_activation(self, dpre, cache, need_dx=True):
        dx, dkernel, dbias = conv_transpose_backward(to_channels_last(dpre, self.data_format), cache,
                                                     need_dx=need_dx)
        return (None if dx is None else from_channels_last(dx, self.data_format)), self._weight_grads(dkernel, dbias)

    def compute_output_shape(self, input_shape):
        input_shape = self._checked_rank(input_shape)
        extras = self.output_padding or (None,) * self.rank
        outs = tuple(conv_transpose_output_length(size, k, s, self.padding, extra, d)
                     for size, k, s, extra, d in zip(self._spatial(input_shape), self.kernel_size, self.strides,
                                                     extras, self.dilation_rate))
        if self.data_format == "channels_last":
            return (input_shape[0],) + outs + (self.filters,)
        return (input_shape[0], self.filters) + outs

    def get_config(self):
        config = super(BaseConv, self).get_config()  # the Layer's part: name, trainable, dtype
        kernel_config = self._kernel_config()
        config.update(
            filters=self.filters,
            kernel_size=self.kernel_size,
            strides=self.strides,
            padding=self.padding,
            output_padding=self.output_padding,
            data_format=self.data_format,
            dilation_rate=self.dilation_rate,
            **{key: kernel_config[key] for key in ("activation", "use_bias", "kernel_initializer",
                                                    "bias_initializer", "kernel_regularizer", "bias_regularizer")},
            activity_regularizer=regularizers.serialize(self.activity_regularizer),
            kernel_constraint=kernel_config["kernel_constraint"],
            bias_constraint=kernel_config["bias_constraint"],
        )
        return config


class Conv1DTranspose(BaseConvTranspose):
    """1D transposed convolution (一维转置卷积): ``(batch, steps, channels)`` -> ``(batch, new_steps, filters)``.

    See :class:`BaseConvTranspose` for the arguments and the output length.
    """

    def __init__(self, filters, kernel_size, strides=1, padding="valid", output_padding=None, data_format=None,
                 dilation_rate=1, activation=None, use_bias=True, **kwargs):
        super().__init__(1, filters, kernel_size, strides, padding, output_padding, data_format, dilation_rate,
                         activation, use_bias, **kwargs)


class Conv2DTranspose(BaseConvTranspose):
    """2D transposed convolution (二维转置卷积, "deconvolution"): upsamples images.

    Input ``(batch, height, width, channels)``, output ``(batch, new_height,
    new_width, filters)``; ``Conv2DTranspose(64, 5, strides=2, padding="same")``
    doubles height and width. See :class:`BaseConvTranspose`.
    """

    def __init__(self, filters, kernel_size, strides=(1, 1), padding="valid", output_padding=None,
                 data_format=None, dilation_rate=(1, 1), activation=None, use_bias=True, **kwargs):
        super().__init__(2, filters, kernel_size, strides, padding, output_padding, data_format, dilation_rate,
                         activation, use_bias, **kwargs)


class Conv3DTranspose(BaseConvTranspose):
    """3D transposed convolution (三维转置卷积): input ``(batch, depth, height, width, channels)``."""

    def __init__(self, filters, kernel_size, strides=(1, 1, 1), padding="valid", output_padding=None,
                 data_format=None, dilation_rate=(1, 1, 1), activation=None, use_bias=True, **kwargs):
        super().__init__(3, filters, kernel_size, strides, padding, output_padding, data_format, dilation_rate,
                         activation, use_bias, **kwargs)


# Keras's other names: the same classes (their configs say Conv1DTranspose, ...).
Convolution1DTranspose, Convolution2DTranspose, Convolution3DTranspose = (
    Conv1DTranspose, Conv2DTranspose, Conv3DTranspose,
)
