"""Position information for a Transformer (位置编码): a learned table and the fixed sinusoid.

Keras core has neither layer: these follow keras_hub (``keras_hub.layers.PositionEmbedding``
and ``keras_hub.layers.SinePositionEncoding``), with their names, arguments,
weight name and numbers. Both read only the SHAPE of their input
``(..., sequence_length, hidden)`` and return an array of that shape, meant to
be added to the token embeddings::

    tokens = keras.layers.Embedding(vocabulary, hidden)(ids)
    x = tokens + PositionEmbedding(sequence_length)(tokens)      # or SinePositionEncoding()(tokens)

Since the output does not depend on the input's values, the input gradient is
zero (an array of zeros; the token embeddings still get their gradient
through the addition).

Differences from keras_hub, on purpose:

- masks pass through both layers (``supports_masking``): in a model the
  padding mask of ``Embedding(mask_zero=True)`` reaches the layers after them
  (keras_hub's layers do not support masking, so the mask stops there);
- bad input raises at once with the layer's name: a ``sequence_length`` that
  is not a positive int, a ``max_wavelength`` that is not a positive number,
  an input of rank < 2, one longer than the table (from ``start_index``), a
  hidden size that differs from the table's, a negative ``start_index``;
- ``start_index`` is a call argument of an eager call (cached decoding); a
  functional graph records its layers at position 0;
- the newest keras_hub adds ``hierarchical_alpha`` to PositionEmbedding (inputs
  longer than the table, from hierarchical position embeddings); course_lib
  implements the classic layer, which refuses them.
"""
from __future__ import annotations

import operator

from course_lib import backend, initializers
from course_lib.layers.base import Layer, _is_symbolic


class _PositionLayer(Layer):
    """What both layers share: the ``start_index`` call argument, the rank check, shape in = shape out."""

    supports_masking = True
    _start_index = 0  # the start_index of the call in progress (0 outside a call and in a graph)

    def __call__(self, inputs, training=None, mask=None, start_index=0):
        start_index = self._check_start_index(start_index)
        if start_index and _is_symbolic(inputs):
            raise ValueError(
                f"{self._where}: start_index is an argument of a call on arrays (cached decoding); in a "
                f"functional graph the layer starts at position 0. Received: start_index={start_index}"
            )
        self._start_index = start_index
        try:
            return super().__call__(inputs, training=training, mask=mask)
        finally:
            self._start_index = 0

    def _forward_with_mask(self, inputs, training, mask):
        return self.forward(inputs, training=training, start_index=self._start_index)

    @property
    def _where(self):
        return f"{type(self).__name__} '{self.name}'"

    def _check_start_index(self, start_index):
        try:
            value = operator.index(start_index)
        except TypeError:
            value = None
        if value is None or isinstance(start_index, bool) or value < 0:
            raise ValueError(
                f"{self._where}: start_index must be a non-negative int. Received: start_index={start_index!r}"
            )
        return value

    def _check_input(self, shapes):
        if isinstance(shapes, list):
            raise TypeError(f"{self._where} takes one input. Received: {len(shapes)} inputs")
        self._check_shape(tuple(shapes), self._start_index)

    def _check_shape(self, shape, start_index):
        if len(shape) < 2:
            raise ValueError(
                f"{self._where}: expected an input of rank >= 2, (batch, sequence_length, hidden) as a "
                f"rule, whose last two axes are the positions and the features. Received: input with "
                f"shape {shape}"
            )

    def compute_output_shape(self, input_shape):
        self._check_shape(tuple(input_shape), 0)
        return tuple(input_shape)


class PositionEmbedding(_PositionLayer):
    """A learned position embedding (BERT's): one trainable row per position, as in keras_hub.

    ``outputs[..., t, :] = embeddings[start_index + t]``: the rows for the
    input's ``T`` positions, broadcast to the input's shape. It is
    ``Embedding(sequence_length, hidden)`` applied to the ids
    ``start_index + arange(T)``, and so is its gradient.

    Args:
        sequence_length: int > 0, the longest sequence (the table's rows).
        initializer: initializer of the table (keras_hub's ``"glorot_uniform"``).

    Call arguments:
        inputs: an array ``(..., T, hidden)``; only its shape is read.
        start_index: int >= 0, the position of the first step (cached
            decoding, one step at a time); ``start_index + T`` must not exceed
            ``sequence_length``.

    Weights: ``embeddings``, ``(sequence_length, hidden)`` (keras_hub's
    name; the attribute is ``position_embeddings``), created from the input's
    last axis at the first call.

    Input shape:
        ``(batch_size, T, hidden)`` (any rank >= 2) with ``T <= sequence_length``.

    Output shape:
        the input's shape.

    Backward: ``d embeddings[start_index + t] = sum of output_grads[..., t, :]``
    over every leading axis, zero for the rows not read; the input gradient is
    zero (the output does not depend on the input's values).
    """

    def __init__(self, sequence_length, initializer="glorot_uniform", **kwargs):
        super().__init__(**kwargs)
        if isinstance(sequence_length, bool) or not isinstance(sequence_length, int) or sequence_length <= 0:
            raise ValueError(
                f"PositionEmbedding '{self.name}': sequence_length must be a positive int, the longest "
                f"sequence the layer will see. Received: sequence_length={sequence_length!r}"
            )
        self.sequence_length = sequence_length
        self.initializer = initializers.get(initializer)
        self.position_embeddings = None

    def build(self, input_shape):
        input_shape = tuple(input_shape)
        self._check_shape(input_shape, 0)
        if input_shape[-1] is None:
            raise ValueError(
                f"PositionEmbedding '{self.name}': the hidden size (the input's last axis) must be known to "
                f"create the table. Received: input_shape={input_shape}"
            )
        self.position_embeddings = self.add_weight("embeddings", (self.sequence_length, input_shape[-1]),
                                                   self.initializer)
        self.built = True

    def forward(self, inputs, training=False, start_index=0):
        xp = backend.xp
        shape = tuple(inputs.shape)
        self._check_shape(shape, start_index)
        steps = shape[-2]
        rows = self.position_embeddings.value[start_index:start_index + steps]
        outputs = xp.broadcast_to(rows, shape).astype(self.dtype)  # a writable copy, not a view
        return outputs, (shape, inputs.dtype, start_index)

    def backward(self, output_grads, cache):
        xp = backend.xp
        shape, input_dtype, start_index = cache
        steps, hidden = shape[-2:]
        table = self.position_embeddings
        d_table = xp.zeros(table.shape, dtype=table.dtype)
        d_table[start_index:start_index + steps] = xp.sum(output_grads.reshape(-1, steps, hidden), axis=0)
        return xp.zeros(shape, dtype=input_dtype), {"embeddings": d_table}

    def _check_shape(self, shape, start_index):
        super()._check_shape(shape, start_index)
        steps, hidden = shape[-2:]
        if steps is not None and start_index + steps > self.sequence_length:
            where = f" from start_index={start_index}" if start_index else ""
            raise ValueError(
                f"PositionEmbedding '{self.name}': the input has {steps} positions{where}, more than the "
                f"table's sequence_length={self.sequence_length} (positions {start_index} to "
                f"{start_index + steps - 1} asked, 0 to {self.sequence_length - 1} learned). Received: input "
                f"with shape {shape}. Build the layer with a larger sequence_length, or truncate the inputs."
            )
        built = None if self.position_embeddings is None else self.position_embeddings.shape[1]
        if built is not None and hidden is not None and hidden != built:
            raise ValueError(
                f"PositionEmbedding '{self.name}': the input's hidden size (last axis) must be {built}, the "
                f"size the table {tuple(self.position_embeddings.shape)} was built with. Received: input "
                f"with shape {shape}"
            )

    def get_config(self):
        config = super().get_config()
        config.update(sequence_length=self.sequence_length, initializer=initializers.serialize(self.initializer))
        return config


class SinePositionEncoding(_PositionLayer):
    """The Transformer's fixed sinusoidal position encoding (Vaswani et al., 2017), as in keras_hub.

    For position ``p = start_index + t`` and feature ``i`` of ``hidden``::

        angle[p, i] = p * (1 / max_wavelength) ** (2 * (i // 2) / hidden)
        encoding[p, i] = sin(angle) if i is even else cos(angle)

    keras_hub interleaves them (sin on even features, cos on odd ones; the
    paper's ``PE(p, 2k) = sin(p / 10000^(2k/d))``, ``PE(p, 2k+1) = cos(...)``),
    computes in the layer's dtype, and broadcasts the ``(T, hidden)`` encoding
    to the input's shape. An odd ``hidden`` is accepted, as keras_hub does:
    the formula needs no pairs (the last feature is then a sine of its own).

    Args:
        max_wavelength: number > 0, the longest wavelength (the paper's 10000).

    Call arguments:
        inputs: an array ``(..., T, hidden)``; only its shape is read.
        start_index: int >= 0, the position of the first step.

    No weights. Input shape: any rank >= 2. Output shape: the input's shape.

    Backward: the output does not depend on the input's values, so the input
    gradient is zero, and there are no weight gradients.
    """

    def __init__(self, max_wavelength=10000, **kwargs):
        super().__init__(**kwargs)
        if (isinstance(max_wavelength, bool) or not isinstance(max_wavelength, (int, float))
                or not max_wavelength > 0 or max_wavelength == float("inf")):
            raise ValueError(
                f"SinePositionEncoding '{self.name}': max_wavelength must be a positive number (the "
                f"Transformer's is 10000). Received: max_wavelength={max_wavelength!r}"
            )
        self.max_wavelength = max_wavelength
        self.built = True  # no weights, as keras_hub

    def forward(self, inputs, training=False, start_index=0):
        xp = backend.xp
        shape = tuple(inputs.shape)
        self._check_shape(shape, start_index)
        steps, hidden = shape[-2:]
        dtype = self.dtype
        positions = (xp.arange(steps) + start_index).astype(dtype)
        features = xp.arange(hidden)
        min_frequency = xp.asarray(1 / self.max_wavelength, dtype=dtype)
        timescales = xp.power(min_frequency, (2 * (features // 2)).astype(dtype) / xp.asarray(hidden, dtype=dtype))
        angles = positions[:, None] * timescales[None, :]
        cos_mask = (features % 2).astype(dtype)  # even features are sines, odd ones cosines
        encoding = xp.sin(angles) * (1 - cos_mask) + xp.cos(angles) * cos_mask
        return xp.broadcast_to(encoding, shape).astype(dtype), (shape, inputs.dtype)

    def backward(self, output_grads, cache):
        shape, input_dtype = cache
        return backend.xp.zeros(shape, dtype=input_dtype), {}

    def get_config(self):
        config = super().get_config()
        config.update(max_wavelength=self.max_wavelength)
        return config
