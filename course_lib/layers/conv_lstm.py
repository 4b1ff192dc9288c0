"""Convolutional LSTMs (卷积LSTM): ConvLSTM1D, ConvLSTM2D and ConvLSTM3D from one N-dimensional base.

As Keras's ``ConvLSTM(rank=...)``: an LSTM whose input and recurrent
products are convolutions. For inputs ``(batch, time, *spatial, channels)``
(``channels_last``) the state ``h`` and the carry ``c`` are images
``(batch, *out_spatial, filters)``; at every step, with Keras's gates i, f, c, o::

    z = conv(x_t, kernel, strides, padding, dilation) + bias + conv(h, recurrent_kernel, "same")
    c = f*c_prev + i*activation(z_c),   h = o*activation(c),   i, f, o = recurrent_activation(z_i, z_f, z_o)

Weights as Keras's, so they copy both ways: kernel ``(*kernel_size, channels,
4*filters)``, recurrent kernel ``(*kernel_size, filters, 4*filters)``, bias
``(4*filters,)``, gate blocks in the order i, f, c, o along the last axis.
The recurrent convolution always has stride 1, no dilation and ``same``
padding (the state keeps its size).

Speed: the input convolution of ALL time steps is one call of
:func:`course_lib.ops.conv.conv_forward` on the ``time * batch`` images, and
its gradient one :func:`~course_lib.ops.conv.conv_backward`; only the
recurrent convolution runs once per step, in the loop over time of
:func:`course_lib.ops.recurrent.rnn_loop` (and its mirror image backward).

Dropout as Keras's ``ConvLSTMCell``: four input masks (one per gate, shaped
like a step's input) and four recurrent masks (shaped like the state), drawn
once per sequence, applied only for ``0 < rate < 1`` in training.
"""
from __future__ import annotations

from course_lib import activations, backend, constraints, initializers, regularizers
from course_lib.layers.base import InputSpec
from course_lib.layers.recurrent import RNN, RNNCell, _positive_int, forget_bias_initializer, set_cell_options
from course_lib.ops import recurrent as rnn_ops
from course_lib.ops.arguments import check_data_format, positive_ints
from course_lib.ops.conv import conv_backward, conv_forward, conv_output_length

GATES = 4


class ConvLSTMCell(RNNCell):
    """The cell of the ConvLSTM layers: options, weights and dropout masks (Keras's ``ConvLSTMCell``).

    Args:
        rank: the number of spatial axes (1, 2 or 3).
        filters, kernel_size, strides, padding, data_format, dilation_rate, activation,
        recurrent_activation, use_bias, the initializers, ``unit_forget_bias``, the regularizers
        and constraints, dropout, recurrent_dropout, seed: as :class:`ConvLSTM2D`.

    The layer (:class:`ConvLSTM`) runs it over time; ``state_size`` is -1 as in Keras (the
    states are images, their shape known once the cell is built).
    """

    def __init__(self, rank, filters, kernel_size, strides=1, padding="valid", data_format=None, dilation_rate=1,
                 activation="tanh", recurrent_activation="sigmoid", use_bias=True,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal", bias_initializer="zeros",
                 unit_forget_bias=True, kernel_regularizer=None, recurrent_regularizer=None, bias_regularizer=None,
                 kernel_constraint=None, recurrent_constraint=None, bias_constraint=None, dropout=0.0,
                 recurrent_dropout=0.0, seed=None, **kwargs):
        where = type(self).__name__
        if rank not in (1, 2, 3):
            raise ValueError(f"{where}: rank must be 1, 2 or 3. Received: rank={rank!r}")
        if not isinstance(padding, str) or padding.lower() not in ("valid", "same"):
            raise ValueError(f"{where}: padding must be 'valid' or 'same'. Received: padding={padding!r}")
        super().__init__(**kwargs)
        self.rank = rank
        self.filters = _positive_int(where, "filters", filters)
        self.kernel_size = positive_ints(where, "kernel_size", kernel_size, rank)
        self.strides = positive_ints(where, "strides", strides, rank)
        self.padding = padding.lower()
        self.data_format = check_data_format(where, data_format)
        self.dilation_rate = positive_ints(where, "dilation_rate", dilation_rate, rank)
        if max(self.strides) > 1 and max(self.dilation_rate) > 1:
            raise ValueError(
                f"{where}: specifying `strides > 1` is not compatible with `dilation_rate > 1` (as in Keras). "
                f"Received: strides={self.strides} and dilation_rate={self.dilation_rate}"
            )
        set_cell_options(self, where, activation, recurrent_activation, use_bias, kernel_initializer,
                         recurrent_initializer, bias_initializer, kernel_regularizer, recurrent_regularizer,
                         bias_regularizer, kernel_constraint, recurrent_constraint, bias_constraint, dropout,
                         recurrent_dropout, seed)
        self.unit_forget_bias = bool(unit_forget_bias)
        self.state_size = -1  # as Keras: the states are images, see state_shape

    # ------------------------------------------------------------- shapes
    def _spatial(self, step_shape):
        return tuple(step_shape[1:-1] if self.data_format == "channels_last" else step_shape[2:])

    def _channels(self, step_shape):
        return step_shape[-1] if self.data_format == "channels_last" else step_shape[1]

    def output_spatial(self, spatial):
        """The spatial shape of the state for inputs of spatial shape ``spatial``."""
        return tuple(conv_output_length(size, k, s, self.padding, d)
                     for size, k, s, d in zip(spatial, self.kernel_size, self.strides, self.dilation_rate))

    def compute_output_shape(self, step_shape):
        """The shape of one step's output (and of each state) for one step's input ``(batch, ...)``."""
        outs = self.output_spatial(self._spatial(step_shape))
        if self.data_format == "channels_last":
            return (step_shape[0],) + outs + (self.filters,)
        return (step_shape[0], self.filters) + outs

    def build(self, input_shape):
        where = f"{type(self).__name__} '{self.name}'"
        step_shape = tuple(input_shape)
        spatial, channels = self._spatial(step_shape), self._channels(step_shape)
        if None in spatial:
            raise ValueError(
                f"{where}: ConvLSTM layers only support static input shapes for the spatial dimension. "
                f"Received invalid input shape: input_shape={step_shape}")
        if channels is None:
            raise ValueError(
                f"{where}: the channel dimension of the inputs should be defined. Found None. Full input "
                f"shape received: input_shape={step_shape}")
        outs = self.output_spatial(spatial)
        if min(outs) <= 0:
            raise ValueError(
                f"{where}: the input is too small for the kernel: the state would have spatial shape {outs}. "
                f"Received: input shape {step_shape}, kernel_size={self.kernel_size}, "
                f"dilation_rate={self.dilation_rate}, strides={self.strides}, padding={self.padding!r}")
        self.spatial_dims, self.input_dim = spatial, channels
        width = GATES * self.filters
        self.kernel = self.add_weight("kernel", self.kernel_size + (channels, width), self.kernel_initializer,
                                      regularizer=self.kernel_regularizer, constraint=self.kernel_constraint)
        self.recurrent_kernel = self.add_weight(
            "recurrent_kernel", self.kernel_size + (self.filters, width), self.recurrent_initializer,
            regularizer=self.recurrent_regularizer, constraint=self.recurrent_constraint)
        self.bias = None
        if self.use_bias:
            self.bias = self.add_weight("bias", (width,), self._bias_initializer(),
                                        regularizer=self.bias_regularizer, constraint=self.bias_constraint)
        self.built = True

    def _bias_initializer(self):
        return forget_bias_initializer(self.bias_initializer, self.filters) if self.unit_forget_bias \
            else self.bias_initializer

    # ------------------------------------------------------------ dropout
    def dropout_masks(self, input_shape, state_shape, dtype):
        """``(input_masks, recurrent_masks)`` for one call in training: lists of 4 masks, or None.

        ``input_shape`` and ``state_shape`` are one step's, ``channels_last``. Drawn once per
        sequence, kept entries ``1 / (1 - rate)``, as Keras's ConvLSTMCell. Tests replace this
        method to give course_lib and Keras the same masks.
        """
        return self._draw(self.dropout, input_shape, dtype), self._draw(self.recurrent_dropout, state_shape, dtype)

    def _draw(self, rate, shape, dtype):
        if not 0.0 < rate < 1.0:
            return None
        generator = self._rng or backend.rng()
        scale = backend.xp.asarray(1.0 / (1.0 - rate), dtype=dtype)
        return [(backend.random_uniform(tuple(shape), generator) >= rate).astype(dtype) * scale
                for _ in range(GATES)]

    def call(self, inputs, states, training=False):
        raise TypeError(
            f"{type(self).__name__} '{self.name}': course_lib runs this cell only inside its layer "
            "(ConvLSTM1D/2D/3D), which convolves all time steps at once; call the layer instead.")

    def get_config(self):
        config = super().get_config()
        config.update(_options(self))
        return config


_OPTION_NAMES = (
    "filters", "kernel_size", "strides", "padding", "data_format", "dilation_rate", "activation",
    "recurrent_activation", "use_bias", "kernel_initializer", "recurrent_initializer", "bias_initializer",
    "unit_forget_bias", "kernel_regularizer", "recurrent_regularizer", "bias_regularizer", "kernel_constraint",
    "recurrent_constraint", "bias_constraint", "dropout", "recurrent_dropout", "seed",
)


def _options(cell):
    """The cell's options as Keras writes them into a config."""
    return {
        "filters": cell.filters, "kernel_size": cell.kernel_size, "strides": cell.strides, "padding": cell.padding,
        "data_format": cell.data_format, "dilation_rate": cell.dilation_rate,
        "activation": activations.serialize(cell.activation),
        "recurrent_activation": activations.serialize(cell.recurrent_activation),
        "use_bias": cell.use_bias,
        "kernel_initializer": initializers.serialize(cell.kernel_initializer),
        "recurrent_initializer": initializers.serialize(cell.recurrent_initializer),
        "bias_initializer": initializers.serialize(cell.bias_initializer),
        "unit_forget_bias": cell.unit_forget_bias,
        "kernel_regularizer": regularizers.serialize(cell.kernel_regularizer),
        "recurrent_regularizer": regularizers.serialize(cell.recurrent_regularizer),
        "bias_regularizer": regularizers.serialize(cell.bias_regularizer),
        "kernel_constraint": constraints.serialize(cell.kernel_constraint),
        "recurrent_constraint": constraints.serialize(cell.recurrent_constraint),
        "bias_constraint": constraints.serialize(cell.bias_constraint),
        "dropout": cell.dropout, "recurrent_dropout": cell.recurrent_dropout, "seed": cell.seed,
    }


class ConvLSTMMath:
    """The arithmetic of one ConvLSTM call (``channels_last``): input projection, step, their gradients.

    Args:
        cell: a built :class:`ConvLSTMCell`.
        input_masks, recurrent_masks: None, or the 4 dropout masks of the inputs / of the state.
    """

    def __init__(self, cell, input_masks=None, recurrent_masks=None):
        self.cell = cell
        self.filters = cell.filters
        self.kernel = cell.kernel.value
        self.recurrent_kernel = cell.recurrent_kernel.value
        self.bias = None if cell.bias is None else cell.bias.value
        self.activation = cell.activation
        self.recurrent_activation = cell.recurrent_activation
        self.input_masks = input_masks
        self.recurrent_masks = recurrent_masks
        self.recurrent_kernel_grad = None

    def _block(self, gate):
        return slice(gate * self.filters, (gate + 1) * self.filters)

    # ------------------------------------------------------ the projection
    def project(self, x):
        """``conv(x_t, kernel) + bias`` for all steps at once: ``(T, N, *spatial, C) -> (T, N, *out, 4F)``."""
        cell, xp = self.cell, backend.xp
        steps, batch = x.shape[:2]
        flat = x.reshape((steps * batch,) + x.shape[2:])
        options = (cell.strides, cell.padding, cell.dilation_rate)
        if self.input_masks is None:
            out, cache = conv_forward(flat, self.kernel, self.bias, *options)
            self._projection = [cache]
        else:
            parts, self._projection = [], []
            for gate, mask in enumerate(self.input_masks):
                block = self._block(gate)
                masked = (x * mask).reshape(flat.shape)
                part, cache = conv_forward(masked, self.kernel[..., block],
                                           None if self.bias is None else self.bias[block], *options)
                parts.append(part)
                self._projection.append(cache)
            out = xp.concatenate(parts, axis=-1)
        return out.reshape((steps, batch) + out.shape[1:])

    def project_backward(self, dxz, input_shape, need_dx=True):
        """Gradients of :meth:`project`: ``(dx, dkernel, dbias)``; ``dx`` None when not needed."""
        xp = backend.xp
        steps, batch = dxz.shape[:2]
        flat = dxz.reshape((steps * batch,) + dxz.shape[2:])
        if self.input_masks is None:
            dx, dkernel, dbias = conv_backward(flat, self._projection[0], need_dx=need_dx)
            return (None if dx is None else dx.reshape(input_shape)), dkernel, dbias
        dkernel = xp.empty_like(self.kernel)
        dbias = None if self.bias is None else xp.empty_like(self.bias)
        dx = xp.zeros(input_shape, dtype=dxz.dtype) if need_dx else None
        for gate, (mask, cache) in enumerate(zip(self.input_masks, self._projection)):
            block = self._block(gate)
            dpart, dkernel[..., block], dgate_bias = conv_backward(
                xp.ascontiguousarray(flat[..., block]), cache, need_dx=need_dx)
            if dbias is not None:
                dbias[block] = dgate_bias
            if need_dx:
                dx += dpart.reshape(input_shape) * mask
        return dx, dkernel, dbias

    # ------------------------------------------------ the recurrent product
    def _recurrent(self, h):
        if self.recurrent_masks is None:
            out, cache = conv_forward(h, self.recurrent_kernel, None, 1, "same", 1)
            return out, [cache]
        parts, caches = [], []
        for gate, mask in enumerate(self.recurrent_masks):
            part, cache = conv_forward(h * mask, self.recurrent_kernel[..., self._block(gate)], None, 1, "same", 1)
            parts.append(part)
            caches.append(cache)
        return backend.xp.concatenate(parts, axis=-1), caches

    def _recurrent_backward(self, dz, caches):
        xp = backend.xp
        if self.recurrent_kernel_grad is None:
            self.recurrent_kernel_grad = xp.zeros_like(self.recurrent_kernel)
        if self.recurrent_masks is None:
            dh, dkernel, _ = conv_backward(dz, caches[0])
            self.recurrent_kernel_grad += dkernel
            return dh
        dh = None
        for gate, (mask, cache) in enumerate(zip(self.recurrent_masks, caches)):
            block = self._block(gate)
            dpart, dkernel, _ = conv_backward(xp.ascontiguousarray(dz[..., block]), cache)
            self.recurrent_kernel_grad[..., block] += dkernel
            dpart = dpart * mask
            dh = dpart if dh is None else dh + dpart
        return dh

    # ------------------------------------------------------------ the step
    def step(self, xz, states):
        """One step: ``(h, [h, c], cache)`` from the projected input ``xz`` and ``[h_prev, c_prev]``."""
        h_prev, c_prev = states
        rec, caches = self._recurrent(h_prev)
        z = xz + rec
        act, gate = self.activation, self.recurrent_activation
        i, f = gate(z[..., self._block(0)]), gate(z[..., self._block(1)])
        g, o = act(z[..., self._block(2)]), gate(z[..., self._block(3)])
        c = f * c_prev + i * g
        tc = act(c)
        h = o * tc
        return h, [h, c], (z, i, f, g, o, c_prev, c, tc, caches)

    def step_backward(self, dout, dstates, cache):
        """Gradients of :meth:`step`: ``(dxz, [dh_prev, dc_prev])``; ``dstates`` entries may be None."""
        z, i, f, g, o, c_prev, c, tc, caches = cache
        act, gate = self.activation, self.recurrent_activation
        dh = dout if dstates[0] is None else dout + dstates[0]
        dc = act.backward(c, tc, dh * o)
        if dstates[1] is not None:
            dc = dc + dstates[1]
        dz = backend.xp.empty_like(z)
        dz[..., self._block(0)] = gate.backward(z[..., self._block(0)], i, dc * g)
        dz[..., self._block(1)] = gate.backward(z[..., self._block(1)], f, dc * c_prev)
        dz[..., self._block(2)] = act.backward(z[..., self._block(2)], g, dc * i)
        dz[..., self._block(3)] = gate.backward(z[..., self._block(3)], o, dh * tc)
        return dz, [self._recurrent_backward(dz, caches), dc * f]


def _to_last(x, data_format, lead=1):
    """``(*lead axes, C, *spatial)`` -> ``(*lead axes, *spatial, C)`` for channels_first (a view)."""
    if data_format == "channels_last":
        return x
    return x.transpose(tuple(range(lead)) + tuple(range(lead + 1, x.ndim)) + (lead,))


def _from_last(x, data_format, lead=1):
    """The inverse of :func:`_to_last`."""
    if data_format == "channels_last":
        return x
    return x.transpose(tuple(range(lead)) + (x.ndim - 1,) + tuple(range(lead, x.ndim - 1)))


class ConvLSTM(RNN):
    """The N-dimensional convolutional LSTM behind ConvLSTM1D, ConvLSTM2D and ConvLSTM3D.

    Args:
        rank: the number of spatial axes.
        Everything else: as :class:`ConvLSTM2D`.
    """

    lists_activity_regularizer = True  # Keras's ConvLSTM configs always have the key
    rank = None

    def __init__(self, rank, filters, kernel_size, strides=1, padding="valid", data_format=None, dilation_rate=1,
                 activation="tanh", recurrent_activation="sigmoid", use_bias=True,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal", bias_initializer="zeros",
                 unit_forget_bias=True, kernel_regularizer=None, recurrent_regularizer=None, bias_regularizer=None,
                 kernel_constraint=None, recurrent_constraint=None, bias_constraint=None, dropout=0.0,
                 recurrent_dropout=0.0, seed=None, return_sequences=False, return_state=False,
                 go_backwards=False, stateful=False, **kwargs):
        cell = ConvLSTMCell(
            rank, filters, kernel_size, strides=strides, padding=padding, data_format=data_format,
            dilation_rate=dilation_rate, activation=activation, recurrent_activation=recurrent_activation,
            use_bias=use_bias, kernel_initializer=kernel_initializer, recurrent_initializer=recurrent_initializer,
            bias_initializer=bias_initializer, unit_forget_bias=unit_forget_bias,
            kernel_regularizer=kernel_regularizer, recurrent_regularizer=recurrent_regularizer,
            bias_regularizer=bias_regularizer, kernel_constraint=kernel_constraint,
            recurrent_constraint=recurrent_constraint, bias_constraint=bias_constraint, dropout=dropout,
            recurrent_dropout=recurrent_dropout, seed=seed, name="conv_lstm_cell", dtype=kwargs.get("dtype"),
            trainable=kwargs.get("trainable", True))
        super().__init__(cell, return_sequences=return_sequences, return_state=return_state,
                         go_backwards=go_backwards, stateful=stateful, **kwargs)
        self.rank = rank
        self.input_spec = InputSpec(ndim=rank + 3)

    def __getattr__(self, name):
        # Keras's layer exposes the cell's options as its own (layer.filters, layer.padding ...).
        if name in _OPTION_NAMES and "cell" in self.__dict__:
            return getattr(self.__dict__["cell"], name)
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    # ------------------------------------------------------------- shapes
    def _rank_error(self, shape):
        raise ValueError(
            f"Input 0 of layer '{self.name}' is incompatible with the layer: expected ndim={self.rank + 3} "
            f"(batch, time, {'*spatial, channels' if self.cell.data_format == 'channels_last' else 'channels, *spatial'}), "
            f"found ndim={len(shape)}. Full shape received: {tuple(shape)}"
        )

    def _check_input(self, shapes):
        sequence_shape = shapes[0] if isinstance(shapes, list) else shapes
        if len(sequence_shape) != self.rank + 3:
            self._rank_error(sequence_shape)

    def _state_shape(self, sequence_shape, batch=None):
        """The shape of each state (``data_format`` order) for a sequence of ``sequence_shape``."""
        step_shape = (sequence_shape[0] if batch is None else batch,) + tuple(sequence_shape[2:])
        return self.cell.compute_output_shape(step_shape)

    def build(self, input_shape):
        sequence_shape = input_shape[0] if isinstance(input_shape, list) else input_shape
        self._check_input(sequence_shape)
        step_shape = (sequence_shape[0],) + tuple(sequence_shape[2:])
        if not self.cell.built:
            self.cell._maybe_build(step_shape)
        self._params, self._variables = self.cell._params, self.cell._variables
        self._trainable_names = self.cell._trainable_names
        self._sequence_shape = tuple(sequence_shape)
        if self.stateful:
            if sequence_shape[0] is None:
                raise ValueError(
                    f"{type(self).__name__} '{self.name}': when using `stateful=True` in a RNN, the batch "
                    f"size must be static. Found dynamic batch size: sequence.shape={tuple(sequence_shape)}. "
                    "Give it with Input(batch_shape=...) or batch_size=..."
                )
            self.reset_states(batch_size=sequence_shape[0])
        self.built = True

    def reset_states(self, batch_size=None):
        """Set a stateful layer's states back to zeros (Keras's ``reset_states``/``reset_state``)."""
        if not self.stateful:
            raise AttributeError(
                f"Layer '{self.name}' is not stateful: only a stateful RNN keeps states between batches."
            )
        if batch_size is None:
            if self.states is None:
                return
            batch_size = self.states[0].shape[0]
        shape = self._state_shape(self._sequence_shape, batch_size)
        self.states = [backend.xp.zeros(shape, dtype=self.dtype) for _ in range(2)]

    reset_state = reset_states

    def compute_output_shape(self, input_shape):
        sequence_shape = input_shape[0] if isinstance(input_shape, list) else input_shape
        self._check_input(sequence_shape)
        state_shape = self._state_shape(sequence_shape)
        if any(size is not None and size <= 0 for size in state_shape[1:]):
            raise ValueError(
                f"{type(self).__name__} '{self.name}': the input is too small for the kernel: the state would "
                f"have shape {state_shape[1:]}. Received: input shape {tuple(sequence_shape)}, "
                f"kernel_size={self.cell.kernel_size}, padding={self.cell.padding!r}")
        output_shape = ((state_shape[0], sequence_shape[1]) + state_shape[1:] if self.return_sequences
                        else state_shape)
        if self.return_state:
            return [output_shape, state_shape, state_shape]
        return output_shape

    def compute_mask(self, inputs, previous_mask=None):
        if isinstance(previous_mask, list):
            previous_mask = previous_mask[0]
        output_mask = previous_mask if self.return_sequences else None
        return [output_mask, None, None] if self.return_state else output_mask

    # ------------------------------------------------------------ calling
    def _initial_states(self, given, sequence_shape, dtype):
        batch = sequence_shape[0]
        shape = self._state_shape(sequence_shape)
        if given:
            if len(given) != 2:
                raise ValueError(
                    f"{type(self).__name__} '{self.name}': expected 2 initial states ([h, c]), "
                    f"received {len(given)}.")
            for index, state in enumerate(given):
                if tuple(state.shape) != shape:
                    raise ValueError(
                        f"{type(self).__name__} '{self.name}': initial_state[{index}] must have shape {shape}. "
                        f"Received: shape={tuple(state.shape)}")
            return [backend.xp.asarray(state, dtype=dtype) for state in given]
        if self.stateful:
            if self.states[0].shape[0] != batch:
                raise ValueError(
                    f"{type(self).__name__} '{self.name}': if an RNN is stateful, the batch size of the "
                    f"input sequences must be the same as the batch size of the initial state. "
                    f"Expected batch size: {self.states[0].shape[0]}. Received batch size: {batch}"
                )
            return list(self.states)
        return [backend.xp.zeros(shape, dtype=dtype) for _ in range(2)]

    def forward(self, inputs, training=False, mask=None):
        xp, cell = backend.xp, self.cell
        given = []
        if isinstance(inputs, list):
            inputs, given = inputs[0], inputs[1:]
        if isinstance(mask, list):
            mask = mask[0]
        if inputs.ndim != self.rank + 3:
            self._rank_error(inputs.shape)
        batch, steps = inputs.shape[:2]
        fmt = cell.data_format
        states = [xp.ascontiguousarray(_to_last(s, fmt)) for s in self._initial_states(given, inputs.shape, inputs.dtype)]
        x = rnn_ops.time_major(_to_last(inputs, fmt, lead=2))  # (T, N, *spatial, C)
        mask_t = None
        if mask is not None:
            mask_t = rnn_ops.time_major(xp.asarray(mask, dtype=bool).reshape(batch, steps))
            mask_t = mask_t.reshape(mask_t.shape + (1,) * self.rank)  # broadcasts over the state's axes
        if self.go_backwards:
            x = x[::-1]
            mask_t = None if mask_t is None else mask_t[::-1]
        input_masks = recurrent_masks = None
        if training:
            input_masks, recurrent_masks = cell.dropout_masks(x.shape[1:], states[0].shape, x.dtype)
        math = ConvLSTMMath(cell, input_masks, recurrent_masks)
        projected = math.project(x)
        outputs, final, caches = rnn_ops.rnn_loop(math.step, projected, states, mask_t, self.zero_output_for_mask)
        final = [_from_last(state, fmt) for state in final]
        if self.stateful:
            self.states = [xp.array(state, dtype=self.dtype) for state in final]
        output = _from_last(outputs.swapaxes(0, 1), fmt, lead=2) if self.return_sequences else \
            _from_last(outputs[-1], fmt)
        result = [output] + final if self.return_state else output
        return result, (math, x.shape, caches, mask_t, len(given), outputs.shape)

    def backpropagate(self, output_grads, cache, need_dx=True):
        """Backpropagation through time: ``(input_grads, weight_grads)``; ``need_dx=False`` skips ``dx``."""
        xp, fmt = backend.xp, self.cell.data_format
        math, x_shape, caches, mask_t, given_count, outputs_shape = cache
        grads = list(output_grads) if self.return_state else [output_grads]
        d_output = grads[0]
        d_states = [None if d is None else _to_last(d, fmt) for d in grads[1:]] if self.return_state else [None] * 2
        if self.return_sequences and d_output is not None:
            d_out_t = rnn_ops.time_major(_to_last(d_output, fmt, lead=2))
        else:
            d_out_t = xp.zeros(outputs_shape, dtype=math.kernel.dtype)
            if d_output is not None:
                d_out_t[-1] = _to_last(d_output, fmt)
        math.recurrent_kernel_grad = None  # a backward pass over the same call starts again
        dxz, d_initial = rnn_ops.rnn_loop_backward(
            math.step_backward, d_out_t, d_states, caches, mask_t, self.zero_output_for_mask)
        dx, dkernel, dbias = math.project_backward(dxz, x_shape, need_dx=need_dx)
        weight_grads = {"kernel": dkernel, "recurrent_kernel": math.recurrent_kernel_grad}
        if math.bias is not None:
            weight_grads["bias"] = dbias
        if dx is not None:
            if self.go_backwards:
                dx = dx[::-1]
            dx = _from_last(dx.swapaxes(0, 1), fmt, lead=2)
        if given_count:
            return [dx] + [_from_last(d, fmt) for d in d_initial], weight_grads
        return dx, weight_grads

    # ------------------------------------------------------------- config
    def get_config(self):
        config = super().get_config()
        del config["cell"]
        config.update(_options(self.cell))
        return config

    @classmethod
    def from_config(cls, config):
        return cls(**config)


class ConvLSTM1D(ConvLSTM):
    """1D convolutional LSTM: inputs ``(batch, time, steps, channels)`` (``channels_last``).

    Args:
        filters: positive int, the number of output channels (of the state).
        kernel_size, strides, dilation_rate: an int or one int; strides > 1 together with
            dilation_rate > 1 is refused, as in Keras.
        padding: ``"valid"`` or ``"same"`` (of the input convolution; the recurrent one is
            always ``same``, stride 1).
        data_format: ``"channels_last"`` (default) or ``"channels_first"`` ``(batch, time, channels, ...)``.
        activation: tanh by default; recurrent_activation: sigmoid by default (the gates).
        use_bias, kernel_initializer (glorot_uniform), recurrent_initializer (orthogonal),
            bias_initializer (zeros), unit_forget_bias (True: the forget gate's bias starts at 1),
            the regularizers (with activity_regularizer) and constraints: as LSTM's.
        dropout, recurrent_dropout, seed: fractions of the inputs / of the state dropped, one mask
            per gate and per sequence.
        return_sequences, return_state, go_backwards, stateful: see :class:`RNN`.

    Call arguments: ``inputs``, ``initial_state`` (``[h, c]``, each shaped like the state),
    ``mask`` (``(batch, time)`` booleans: masked steps carry the states through) and ``training``.
    """

    def __init__(self, filters, kernel_size, **kwargs):
        super().__init__(1, filters, kernel_size, **kwargs)


class ConvLSTM2D(ConvLSTM):
    """2D convolutional LSTM: inputs ``(batch, time, rows, cols, channels)`` (``channels_last``).

    Args: as :class:`ConvLSTM1D`, with 2 ints for kernel_size, strides and dilation_rate.
    """

    def __init__(self, filters, kernel_size, **kwargs):
        super().__init__(2, filters, kernel_size, **kwargs)


class ConvLSTM3D(ConvLSTM):
    """3D convolutional LSTM: inputs ``(batch, time, depth, rows, cols, channels)`` (``channels_last``).

    Args: as :class:`ConvLSTM1D`, with 3 ints for kernel_size, strides and dilation_rate.
    """

    def __init__(self, filters, kernel_size, **kwargs):
        super().__init__(3, filters, kernel_size, **kwargs)
