"""Recurrent layers (循环层): one generic ``RNN`` over a cell, and SimpleRNN, LSTM, GRU on top.

``RNN(cell)`` runs a cell over the time axis, as Keras's does: the built-in
cells (:class:`SimpleRNNCell`, :class:`LSTMCell`, :class:`GRUCell`) take the
fast path of :mod:`course_lib.ops.recurrent` (the input projection of all time
steps in one matrix product, one recurrent product per step, the backward
pass its mirror image); any other cell, written as Keras writes one (a
``state_size`` and ``call(inputs, states) -> (output, new_states)``), runs
step by step, and trains when it also defines ``forward_step`` and
``backward_step`` (see :class:`RNNCell`).

Weights, gate orders and configs are Keras's, so they copy both ways: kernel
``(features, G*units)``, recurrent kernel ``(units, G*units)``, bias
``(G*units,)`` (GRU with ``reset_after=True``: ``(2, 3*units)``).
"""
from __future__ import annotations

from course_lib import activations, backend, constraints, initializers, regularizers
from course_lib.layers.base import InputSpec, KerasTensor, Layer
from course_lib.ops import recurrent as ops


def _positive_int(where, name, value):
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise ValueError(f"{where}: {name} must be a positive int. Received: {name}={value!r}")
    return value


def _rate(where, name, value):
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{where}: {name} must be a float in [0, 1]. Received: {name}={value!r}")
    return min(1.0, max(0.0, float(value)))  # Keras clips it


class RNNCell(Layer):
    """Base of the cells: what ``RNN`` needs beyond Keras's ``state_size`` and ``call``.

    A cell written for Keras works here for the forward pass. To train
    through it, also write the pure pair

    - ``forward_step(inputs, states, training) -> (output, new_states, cache)``
    - ``backward_step(d_output, d_new_states, cache) -> (d_inputs, d_states, weight_grads)``

    where ``d_new_states`` entries may be None (no gradient) and
    ``weight_grads`` is keyed like the cell's weights; ``RNN`` sums them over
    the time steps.
    """

    def forward_step(self, inputs, states, training=False):
        output, new_states = self.call(inputs, states, training=training)
        return output, _as_list(new_states), None

    def backward_step(self, d_output, d_states, cache):
        raise TypeError(
            f"Cell '{self.name}' ({type(self).__name__}) defines no backward_step, so no gradient can "
            "flow through the RNN that runs it. Write `forward_step(inputs, states, training) -> "
            "(output, new_states, cache)` and `backward_step(d_output, d_states, cache) -> "
            "(d_inputs, d_states, weight_grads)` on the cell."
        )


def forget_bias_initializer(base, units):
    """Keras's ``unit_forget_bias``: the LSTM bias (gates i, f, c, o) drawn by ``base``, the forget gate's ones."""
    def forget_bias_ones(shape, dtype=None):
        xp = backend.xp
        return xp.concatenate([
            xp.asarray(base((units,), dtype=dtype)), xp.ones((units,), dtype=dtype),
            xp.asarray(base((2 * units,), dtype=dtype)),
        ])

    return forget_bias_ones


def set_cell_options(cell, where, activation, recurrent_activation, use_bias, kernel_initializer,
                     recurrent_initializer, bias_initializer, kernel_regularizer, recurrent_regularizer,
                     bias_regularizer, kernel_constraint, recurrent_constraint, bias_constraint, dropout,
                     recurrent_dropout, seed):
    """The options every gated cell has (the built-in cells' and ConvLSTM's), resolved as Keras resolves them."""
    cell.activation = activations.get(activation)
    cell.recurrent_activation = activations.get(recurrent_activation)
    cell.use_bias = bool(use_bias)
    cell.kernel_initializer = initializers.get(kernel_initializer)
    cell.recurrent_initializer = initializers.get(recurrent_initializer)
    cell.bias_initializer = initializers.get(bias_initializer)
    cell.kernel_regularizer = regularizers.get(kernel_regularizer)
    cell.recurrent_regularizer = regularizers.get(recurrent_regularizer)
    cell.bias_regularizer = regularizers.get(bias_regularizer)
    cell.kernel_constraint = constraints.get(kernel_constraint)
    cell.recurrent_constraint = constraints.get(recurrent_constraint)
    cell.bias_constraint = constraints.get(bias_constraint)
    cell.dropout = _rate(where, "dropout", dropout)
    cell.recurrent_dropout = _rate(where, "recurrent_dropout", recurrent_dropout)
    cell.seed = seed
    cell._rng = backend.rng(seed) if seed is not None else None


class _GatedCell(RNNCell):
    """The options and weights the three built-in cells share (Keras's names and defaults)."""

    gates = 1
    math_class = ops.SimpleRNNMath

    def __init__(self, units, activation="tanh", recurrent_activation="sigmoid", use_bias=True,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal", bias_initializer="zeros",
                 kernel_regularizer=None, recurrent_regularizer=None, bias_regularizer=None,
                 kernel_constraint=None, recurrent_constraint=None, bias_constraint=None,
                 dropout=0.0, recurrent_dropout=0.0, seed=None, **kwargs):
        where = type(self).__name__
        kwargs.pop("implementation", None)  # Keras's choice of kernel; the numbers are the same
        super().__init__(**kwargs)
        self.units = _positive_int(where, "units", units)
        set_cell_options(self, where, activation, recurrent_activation, use_bias, kernel_initializer,
                         recurrent_initializer, bias_initializer, kernel_regularizer, recurrent_regularizer,
                         bias_regularizer, kernel_constraint, recurrent_constraint, bias_constraint, dropout,
                         recurrent_dropout, seed)

    @property
    def state_size(self):
        return self.units

    @property
    def output_size(self):
        return self.units

    def _bias_shape(self):
        return (self.gates * self.units,)

    def _bias_initializer(self):
        return self.bias_initializer

    def build(self, input_shape):
        features = input_shape[-1]
        if features is None:
            raise ValueError(
                f"{type(self).__name__} '{self.name}': the last dimension of the input (the features) "
                f"must be known. Received: input_shape={tuple(input_shape)}"
            )
        width = self.gates * self.units
        self.kernel = self.add_weight("kernel", (features, width), self.kernel_initializer,
                                      regularizer=self.kernel_regularizer, constraint=self.kernel_constraint)
        self.recurrent_kernel = self.add_weight(
            "recurrent_kernel", (self.units, width), self.recurrent_initializer,
            regularizer=self.recurrent_regularizer, constraint=self.recurrent_constraint)
        self.bias = None
        if self.use_bias:
            self.bias = self.add_weight("bias", self._bias_shape(), self._bias_initializer(),
                                        regularizer=self.bias_regularizer, constraint=self.bias_constraint)
        self.built = True

    # ------------------------------------------------------------- dropout
    def _separate_masks(self):
        # Keras 3: with recurrent_dropout it switches to "implementation 1", one mask per gate.
        return self.recurrent_dropout > 0 and self.gates > 1

    def _applies(self, rate):
        return 0.0 < rate < 1.0

    def dropout_masks(self, batch, features, dtype):
        """``(input_masks, recurrent_masks)`` for one call in training: lists of masks, or None.

        Drawn once per sequence and reused at every time step, as Keras does;
        kept entries are ``1 / (1 - rate)``. Tests replace this method to give
        course_lib and Keras the same masks.
        """
        count = self.gates if self._separate_masks() else 1
        return (self._draw(self.dropout, (batch, features), count, dtype),
                self._draw(self.recurrent_dropout, (batch, self.units), count, dtype))

    def _draw(self, rate, shape, count, dtype):
        if not self._applies(rate):
            return None
        generator = self._rng or backend.rng()
        scale = backend.xp.asarray(1.0 / (1.0 - rate), dtype=dtype)
        return [(backend.random_uniform(shape, generator) >= rate).astype(dtype) * scale for _ in range(count)]

    def math(self, training, batch, features, dtype):
        """The arithmetic of one call (:class:`course_lib.ops.recurrent.CellMath`), masks drawn."""
        input_masks = recurrent_masks = None
        if training:
            input_masks, recurrent_masks = self.dropout_masks(batch, features, dtype)
        return self.math_class(
            self.units, self.kernel.value, self.recurrent_kernel.value,
            None if self.bias is None else self.bias.value, self.activation, self.recurrent_activation,
            input_masks=input_masks, recurrent_masks=recurrent_masks, **self._math_options())

    def _math_options(self):
        return {}

    # ------------------------------------------------- as a plain cell (step)
    def call(self, inputs, states, training=False):
        output, new_states, _ = self.forward_step(inputs, states, training)
        return output, new_states

    def forward_step(self, inputs, states, training=False):
        math = self.math(training, inputs.shape[0], inputs.shape[-1], inputs.dtype)
        xz = math.project(inputs[None])[0]
        output, new_states, cache = math.step(xz, _as_list(states))
        return output, new_states, (math, inputs, cache)

    def backward_step(self, d_output, d_states, cache):
        math, inputs, step_cache = cache
        dxz, dprev = math.step_backward(d_output, d_states, step_cache)
        dx, dkernel, dbias = math.project_backward(dxz[None], inputs[None])
        return dx[0], dprev, math.weight_gradients(dxz[None], dkernel, dbias)

    def get_config(self):
        config = super().get_config()
        config.update(
            units=self.units,
            activation=activations.serialize(self.activation),
            recurrent_activation=activations.serialize(self.recurrent_activation),
            use_bias=self.use_bias,
            kernel_initializer=initializers.serialize(self.kernel_initializer),
            recurrent_initializer=initializers.serialize(self.recurrent_initializer),
            bias_initializer=initializers.serialize(self.bias_initializer),
            kernel_regularizer=regularizers.serialize(self.kernel_regularizer),
            recurrent_regularizer=regularizers.serialize(self.recurrent_regularizer),
            bias_regularizer=regularizers.serialize(self.bias_regularizer),
            kernel_constraint=constraints.serialize(self.kernel_constraint),
            recurrent_constraint=constraints.serialize(self.recurrent_constraint),
            bias_constraint=constraints.serialize(self.bias_constraint),
            dropout=self.dropout,
            recurrent_dropout=self.recurrent_dropout,
            seed=self.seed,
        )
        return config


class SimpleRNNCell(_GatedCell):
    """The cell of :class:`SimpleRNN`: ``h = activation(x @ kernel + h_prev @ recurrent_kernel + bias)``.

    Args: as :class:`SimpleRNN`'s cell arguments (units, activation, use_bias,
    the initializers, regularizers and constraints, dropout, recurrent_dropout, seed).
    """

    def __init__(self, units, activation="tanh", use_bias=True, **kwargs):
        super().__init__(units, activation=activation, recurrent_activation=None, use_bias=use_bias, **kwargs)

    def _applies(self, rate):
        return rate > 0.0  # Keras's SimpleRNNCell applies any positive rate

    def get_config(self):
        config = super().get_config()
        del config["recurrent_activation"]
        return config


class LSTMCell(_GatedCell):
    """The cell of :class:`LSTM`; gates i, f, c, o.

    Args: as :class:`SimpleRNNCell`, plus ``recurrent_activation`` (sigmoid)
    and ``unit_forget_bias`` (True: the forget gate's bias starts at 1).
    """

    gates = 4
    math_class = ops.LSTMMath

    def __init__(self, units, unit_forget_bias=True, **kwargs):
        super().__init__(units, **kwargs)
        self.unit_forget_bias = bool(unit_forget_bias)

    @property
    def state_size(self):
        return [self.units, self.units]

    def _bias_initializer(self):
        return forget_bias_initializer(self.bias_initializer, self.units) if self.unit_forget_bias \
            else self.bias_initializer

    def get_config(self):
        config = super().get_config()
        config["unit_forget_bias"] = self.unit_forget_bias
        return config


class GRUCell(_GatedCell):
    """The cell of :class:`GRU`; gates z, r, h.

    Args: as :class:`LSTMCell` without ``unit_forget_bias``, plus
    ``reset_after`` (True, Keras's default: the reset gate multiplies the
    recurrent product, and the bias has shape ``(2, 3*units)``).
    """

    gates = 3
    math_class = ops.GRUMath

    def __init__(self, units, reset_after=True, **kwargs):
        super().__init__(units, **kwargs)
        self.reset_after = bool(reset_after)

    def _bias_shape(self):
        return (2, 3 * self.units) if self.reset_after else (3 * self.units,)

    def _math_options(self):
        return {"reset_after": self.reset_after}

    def get_config(self):
        config = super().get_config()
        config["reset_after"] = self.reset_after
        return config


def _as_list(states):
    return list(states) if isinstance(states, (list, tuple)) else [states]


def _state_sizes(cell):
    size = getattr(cell, "state_size", None)
    if size is None:
        raise ValueError(
            f"RNN: the cell {cell!r} has no `state_size` attribute. A cell needs `state_size` (an int, "
            "or a list of ints for several states) and `call(inputs, states) -> (output, new_states)`."
        )
    return _flat(size)


def _flat(nested):
    """A state size, or a structure of states, as one flat list (a StackedRNNCells' per-cell lists)."""
    if not isinstance(nested, (list, tuple)):
        return [nested]
    return [item for part in nested for item in _flat(part)]


class RNN(Layer):
    """Runs a cell over the time axis of ``(batch, timesteps, features)`` inputs (Keras's ``RNN``).

    Args:
        cell: a cell: :class:`SimpleRNNCell`, :class:`LSTMCell`, :class:`GRUCell`
            or your own (``state_size`` and ``call``; see :class:`RNNCell`).
        return_sequences: return the output of every step ``(batch, timesteps, units)``
            instead of the last one ``(batch, units)``.
        return_state: also return the final states: ``[output, *states]``.
        go_backwards: process the sequence from its end; with
            ``return_sequences`` the outputs come in that reversed order, as in Keras.
        stateful: the final states of a batch are the initial states of the
            next (sample i continues sample i); needs a fixed batch size.
            ``reset_states()`` sets them back to zeros.
        unroll: accepted for Keras's sake; the loop is the same either way.
        zero_output_for_mask: at a masked step output zeros instead of
            repeating the previous output.

    Call arguments:
        inputs: ``(batch, timesteps, features)``.
        initial_state: a list of initial states (``[h]``, or ``[h, c]`` for an LSTM).
        mask: a boolean ``(batch, timesteps)`` array; masked steps carry the
            states through unchanged. In a model it comes from
            ``Embedding(mask_zero=True)`` or ``Masking``.
        training: dropout and recurrent_dropout apply only when True.
    """

    uses_mask = True
    supports_masking = True

    def __init__(self, cell, return_sequences=False, return_state=False, go_backwards=False, stateful=False,
                 unroll=False, zero_output_for_mask=False, **kwargs):
        if isinstance(cell, (list, tuple)):
            cell = StackedRNNCells(cell)  # as Keras: a list of cells runs as one stacked cell
        if not hasattr(cell, "call"):
            raise ValueError(f"RNN: `cell` should have a `call` method. Received: cell={cell!r}")
        _state_sizes(cell)
        super().__init__(**kwargs)
        self.cell = cell
        self.return_sequences = bool(return_sequences)
        self.return_state = bool(return_state)
        self.go_backwards = bool(go_backwards)
        self.stateful = bool(stateful)
        self.unroll = bool(unroll)
        self.zero_output_for_mask = bool(zero_output_for_mask)
        self.states = None
        self.input_spec = InputSpec(min_ndim=3)

    # ------------------------------------------------------------ the cell
    @property
    def state_size(self):
        return _state_sizes(self.cell)

    @property
    def _fast(self):
        # The vectorised loop, unless a subclass of a built-in cell changed its step.
        cell = type(self.cell)
        return (issubclass(cell, _GatedCell) and cell.call is _GatedCell.call
                and cell.forward_step is _GatedCell.forward_step)

    @Layer.trainable.setter
    def trainable(self, value):
        self._trainable = bool(value)
        if isinstance(self.cell, Layer):
            self.cell.trainable = value  # the weights are the cell's

    def saving_children(self):
        return [("cell", self.cell)] if isinstance(self.cell, Layer) else []

    def build(self, input_shape):
        sequence_shape = input_shape[0] if isinstance(input_shape, list) else input_shape
        if len(sequence_shape) != 3:
            self._rank_error(sequence_shape)
        step_shape = (sequence_shape[0],) + tuple(sequence_shape[2:])
        if isinstance(self.cell, Layer) and not self.cell.built:
            self.cell._maybe_build(step_shape)
        if isinstance(self.cell, Layer):
            # The layer's weights are the cell's (the same Variables), in Keras's order.
            self._params, self._variables = self.cell._params, self.cell._variables
            self._trainable_names = self.cell._trainable_names
        if self.stateful:
            if sequence_shape[0] is None:
                raise ValueError(
                    f"{type(self).__name__} '{self.name}': when using `stateful=True` in a RNN, the batch "
                    f"size must be static. Found dynamic batch size: sequence.shape={tuple(sequence_shape)}. "
                    "Give it with Input(batch_shape=...) or batch_size=..."
                )
            self.reset_states(batch_size=sequence_shape[0])
        self.built = True

    def _rank_error(self, shape):
        raise ValueError(
            f"Input 0 of layer '{self.name}' is incompatible with the layer: expected ndim=3 "
            f"(batch, timesteps, features), found ndim={len(shape)}. Full shape received: {tuple(shape)}"
        )

    def _check_input(self, shapes):
        sequence_shape = shapes[0] if isinstance(shapes, list) else shapes
        if len(sequence_shape) != 3:
            self._rank_error(sequence_shape)

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
        self.states = [backend.xp.zeros((batch_size, size), dtype=self.dtype) for size in self.state_size]

    reset_state = reset_states

    # ------------------------------------------------------------ calling
    def __call__(self, inputs, initial_state=None, training=None, mask=None, **kwargs):
        if initial_state is not None:
            inputs = [inputs] + _flat(initial_state)
        return super().__call__(inputs, training=training, mask=mask, **kwargs)

    def _initial_states(self, given, batch, dtype):
        sizes = self.state_size
        if given:
            if len(given) != len(sizes):
                raise ValueError(
                    f"{type(self).__name__} '{self.name}': expected {len(sizes)} initial state(s) "
                    f"(state_size={self.cell.state_size}), received {len(given)}."
                )
            for index, (state, size) in enumerate(zip(given, sizes)):
                if tuple(state.shape) != (batch, size):
                    raise ValueError(
                        f"{type(self).__name__} '{self.name}': initial_state[{index}] must have shape "
                        f"(batch, {size}) = {(batch, size)}. Received: shape={tuple(state.shape)}"
                    )
            return [backend.xp.asarray(state, dtype=dtype) for state in given]
        if self.stateful:
            if self.states[0].shape[0] != batch:
                raise ValueError(
                    f"{type(self).__name__} '{self.name}': if an RNN is stateful, the batch size of the "
                    f"input sequences must be the same as the batch size of the initial state. "
                    f"Expected batch size: {self.states[0].shape[0]}. Received batch size: {batch}"
                )
            return list(self.states)
        return [backend.xp.zeros((batch, size), dtype=dtype) for size in sizes]

    def forward(self, inputs, training=False, mask=None):
        given = []
        if isinstance(inputs, list):
            inputs, given = inputs[0], inputs[1:]
        if isinstance(mask, list):
            mask = mask[0]
        if inputs.ndim != 3:
            self._rank_error(inputs.shape)
        batch, steps, features = inputs.shape
        states = self._initial_states(given, batch, inputs.dtype)
        x = ops.time_major(inputs)
        mask_t = None
        if mask is not None:
            mask_t = ops.time_major(backend.xp.asarray(mask, dtype=bool).reshape(batch, steps))
        if self.go_backwards:
            x = x[::-1]
            mask_t = None if mask_t is None else mask_t[::-1]
        if self._fast:
            math = self.cell.math(training, batch, features, inputs.dtype)
            projected = math.project(x)
            outputs, final, caches = ops.rnn_loop(math.step, projected, states, mask_t, self.zero_output_for_mask)
        else:
            math = None
            step = self._cell_step(training)
            outputs, final, caches = ops.rnn_loop(step, x, states, mask_t, self.zero_output_for_mask)
        if self.stateful:
            self.states = [backend.xp.array(state, dtype=self.dtype) for state in final]
        output = outputs.swapaxes(0, 1) if self.return_sequences else outputs[-1]
        result = [output] + list(final) if self.return_state else output
        cache = (math, x, caches, mask_t, len(given), batch, steps)
        return result, cache

    def _cell_step(self, training):
        cell = self.cell
        if hasattr(cell, "sequence_step"):  # a step that keeps something per sequence (StackedRNNCells' masks)
            return cell.sequence_step(training)
        if hasattr(cell, "forward_step"):
            return lambda step_input, states: cell.forward_step(step_input, states, training)

        def step(step_input, states):
            output, new_states = cell.call(step_input, states if len(states) > 1 else states[0])
            return output, _as_list(new_states), None

        return step

    def backward(self, output_grads, cache):
        return self.backpropagate(output_grads, cache)

    def backpropagate(self, output_grads, cache, need_dx=True):
        """Backpropagation through time: ``(input_grads, weight_grads)``; ``need_dx=False`` skips ``dx``."""
        math, x, caches, mask_t, given_count, batch, steps = cache
        xp = backend.xp
        grads = list(output_grads) if self.return_state else [output_grads]
        d_output, d_states = grads[0], list(grads[1:]) if self.return_state else [None] * len(self.state_size)
        if self.return_sequences and d_output is not None:
            d_out_t = ops.time_major(d_output)
        else:
            units = getattr(self.cell, "output_size", None) or self.state_size[0]
            d_out_t = xp.zeros((steps, batch, units), dtype=x.dtype)
            if d_output is not None:
                d_out_t[-1] = d_output
        if self._fast:
            step_backward = math.step_backward
            weight_grads = None
        else:
            weight_grads = {}
            step_backward = self._cell_step_backward(weight_grads)
        input_grads, d_initial = ops.rnn_loop_backward(
            step_backward, d_out_t, d_states, caches, mask_t, self.zero_output_for_mask)
        if self._fast:
            dx, dkernel, dbias = math.project_backward(input_grads, x, need_dx=need_dx)
            weight_grads = math.weight_gradients(input_grads, dkernel, dbias)
        else:
            dx = input_grads if need_dx else None
        if dx is not None:
            if self.go_backwards:
                dx = dx[::-1]
            dx = dx.swapaxes(0, 1)
        if given_count:
            state_grads = [xp.zeros((batch, size), dtype=x.dtype) if d is None else d
                           for d, size in zip(d_initial, self.state_size)]
            return [dx] + state_grads, weight_grads
        return dx, weight_grads

    def weight_gradients(self, output_grads, cache):
        return self.backpropagate(output_grads, cache, need_dx=False)[1]

    def _cell_step_backward(self, totals):
        cell = self.cell

        def step_backward(d_output, d_states, step_cache):
            d_input, d_prev, weight_grads = cell.backward_step(d_output, d_states, step_cache)
            for name, value in (weight_grads or {}).items():
                totals[name] = value if name not in totals else totals[name] + value
            return d_input, _as_list(d_prev)

        return step_backward

    # ------------------------------------------------------------- shapes
    def compute_output_shape(self, input_shape):
        sequence_shape = input_shape[0] if isinstance(input_shape, list) else input_shape
        batch, steps = sequence_shape[0], sequence_shape[1]
        units = getattr(self.cell, "output_size", None) or self.state_size[0]
        output_shape = (batch, steps, units) if self.return_sequences else (batch, units)
        if self.return_state:
            return [output_shape] + [(batch, size) for size in self.state_size]
        return output_shape

    def compute_mask(self, inputs, previous_mask=None):
        if isinstance(previous_mask, list):
            previous_mask = previous_mask[0]
        output_mask = previous_mask if self.return_sequences else None
        if self.return_state:
            return [output_mask] + [None] * len(self.state_size)
        return output_mask

    def _symbolic_call(self, inputs):
        if isinstance(inputs, list) and not all(isinstance(t, KerasTensor) for t in inputs):
            raise TypeError(
                f"Layer '{self.name}': with a symbolic input, initial_state must be symbolic too "
                "(tensors from keras.Input or from other layers)."
            )
        return super()._symbolic_call(inputs)

    def get_config(self):
        from course_lib import layers as layers_module

        config = super().get_config()
        config.update(
            return_sequences=self.return_sequences,
            return_state=self.return_state,
            go_backwards=self.go_backwards,
            stateful=self.stateful,
            unroll=self.unroll,
            zero_output_for_mask=self.zero_output_for_mask,
            cell=layers_module.serialize(self.cell),
        )
        return config

    @classmethod
    def from_config(cls, config):
        from course_lib import layers as layers_module

        config = dict(config)
        cell = layers_module.deserialize(config.pop("cell"))
        return cls(cell, **config)


_CELL_ARGUMENTS = (
    "activation", "recurrent_activation", "use_bias", "kernel_initializer", "recurrent_initializer",
    "bias_initializer", "kernel_regularizer", "recurrent_regularizer", "bias_regularizer", "kernel_constraint",
    "recurrent_constraint", "bias_constraint", "dropout", "recurrent_dropout", "seed",
    "unit_forget_bias", "reset_after", "implementation",
)
_RNN_ARGUMENTS = ("return_sequences", "return_state", "go_backwards", "stateful", "unroll",
                  "zero_output_for_mask")


class _CellLayer(RNN):
    """SimpleRNN, LSTM and GRU: an RNN over its own cell, configured by the cell's arguments."""

    cell_class = SimpleRNNCell
    lists_activity_regularizer = True  # Keras's SimpleRNN/LSTM/GRU configs always have the key

    def __init__(self, units, **kwargs):
        kwargs.pop("use_cudnn", None)  # Keras's choice of kernel on a GPU; the numbers are the same
        cell_kwargs = {key: kwargs.pop(key) for key in _CELL_ARGUMENTS if key in kwargs}
        rnn_kwargs = {key: kwargs.pop(key) for key in _RNN_ARGUMENTS if key in kwargs}
        dtype = kwargs.get("dtype")
        cell = self.cell_class(units, name=f"{backend.snake_case(self.cell_class.__name__)}", dtype=dtype,
                               trainable=kwargs.get("trainable", True), **cell_kwargs)
        super().__init__(cell, **rnn_kwargs, **kwargs)

    def __getattr__(self, name):
        # Keras's layer exposes the cell's options as its own (layer.units, layer.dropout ...).
        if name in ("units",) + _CELL_ARGUMENTS and "cell" in self.__dict__:
            return getattr(self.__dict__["cell"], name)
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    def get_config(self):
        config = super().get_config()
        del config["cell"]
        cell_config = self.cell.get_config()
        for key in ("name", "trainable", "dtype"):
            cell_config.pop(key, None)
        config.update(cell_config)
        return config

    @classmethod
    def from_config(cls, config):
        return cls(**config)


class SimpleRNN(_CellLayer):
    """A fully connected RNN (全连接RNN): ``h_t = activation(x_t @ kernel + h_{t-1} @ recurrent_kernel + bias)``.

    Args:
        units: size of the state and the output.
        activation: tanh by default.
        use_bias, kernel_initializer (glorot_uniform), recurrent_initializer
            (orthogonal), bias_initializer (zeros), the regularizers and constraints:
            as Dense's, with ``recurrent_*`` for the recurrent kernel.
        dropout: fraction of the inputs dropped (one mask per sequence).
        recurrent_dropout: fraction of the recurrent state dropped (one mask per sequence).
        return_sequences, return_state, go_backwards, stateful, unroll: see :class:`RNN`.
    """

    cell_class = SimpleRNNCell

    def get_config(self):
        config = super().get_config()
        del config["seed"]  # Keras's SimpleRNN leaves its cell's seed out of its config
        return config


class LSTM(_CellLayer):
    """Long short-term memory (长短期记忆网络), gates i, f, c, o as in Keras.

    ``c_t = f*c_{t-1} + i*tanh(x W_c + h U_c + b_c)``, ``h_t = o*tanh(c_t)``, with
    ``i, f, o = sigmoid(x W + h U + b)`` for their blocks.

    Args: as :class:`SimpleRNN`, plus ``recurrent_activation`` (sigmoid) and
    ``unit_forget_bias`` (True: the forget gate's bias starts at 1).
    """

    cell_class = LSTMCell


class GRU(_CellLayer):
    """Gated recurrent unit (门控循环单元), gates z, r, h as in Keras.

    Args: as :class:`LSTM` without ``unit_forget_bias``, plus ``reset_after``
    (True by default, as Keras 3: bias of shape ``(2, 3*units)``).
    """

    cell_class = GRUCell


def _is_builtin_cell(cell):
    """A built-in cell whose step is its CellMath's (what ``RNN._fast`` runs vectorised)."""
    kind = type(cell)
    return (issubclass(kind, _GatedCell) and kind.call is _GatedCell.call
            and kind.forward_step is _GatedCell.forward_step and kind.backward_step is _GatedCell.backward_step)


class StackedRNNCells(RNNCell):
    """Several cells run as one (Keras's ``StackedRNNCells``): at each step the output of a cell is the
    input of the next, and each cell keeps its own states.

    ``RNN(StackedRNNCells([...]))`` and ``RNN([cell, cell])`` (Keras stacks a list) are the same
    layer. ``state_size`` is Keras's, one entry per cell (``[[4, 4], 3]`` for an LSTMCell(4) under a
    GRUCell(3)); inside the RNN the states are that list flattened, in the same order, so
    ``return_state=True`` returns ``[output, h1, c1, h2]`` (Keras nests them per cell:
    ``[output, [h1, c1], [h2]]``) and ``initial_state`` may be given nested or flat. Dropout masks
    are drawn once per sequence for every cell, as Keras does.

    Args:
        cells: a list of cells (built-in ones, or your own with ``state_size``, ``call`` and, to
            train, ``forward_step``/``backward_step``; see :class:`RNNCell`).
    """

    def __init__(self, cells, **kwargs):
        if isinstance(cells, Layer) or not isinstance(cells, (list, tuple)) or not cells:
            raise ValueError(f"StackedRNNCells: cells must be a non-empty list of RNN cells. Received: cells={cells!r}")
        for cell in cells:
            if not hasattr(cell, "call"):
                raise ValueError(
                    f"StackedRNNCells: all cells must have a `call` method. Received cell without a `call` "
                    f"method: {cell!r}")
            if not hasattr(cell, "state_size"):
                raise ValueError(
                    f"StackedRNNCells: all cells must have a `state_size` attribute. Received cell without a "
                    f"`state_size`: {cell!r}")
        super().__init__(**kwargs)
        self.cells = list(cells)

    @property
    def state_size(self):
        return [cell.state_size for cell in self.cells]

    @property
    def output_size(self):
        return _cell_output_size(self.cells[-1])

    @Layer.trainable.setter
    def trainable(self, value):
        self._trainable = bool(value)
        for cell in self.cells:
            if isinstance(cell, Layer):
                cell.trainable = value

    def saving_children(self):
        # Keras saves a list of layers under cells/<snake_case class name>, then _1, _2 for repeats.
        children, used = [], {}
        for cell in self.cells:
            if not isinstance(cell, Layer):
                continue
            base = backend.snake_case(type(cell).__name__)
            count = used.get(base)
            used[base] = 0 if count is None else count + 1
            children.append((f"cells/{base}" if count is None else f"cells/{base}_{count + 1}", cell))
        return children

    def build(self, input_shape):
        shape = tuple(input_shape)
        for cell in self.cells:
            if isinstance(cell, Layer) and not cell.built:
                cell._maybe_build(shape)
            shape = (shape[0], _cell_output_size(cell))
        # The stack's weights are its cells' (the same arrays), first cell first, as Keras lists them.
        self._params, self._variables, self._trainable_names = {}, {}, []
        for prefix, cell in self.saving_children():
            for name in cell._params:
                key = f"{prefix}/{name}"
                self._params[key] = cell._params[name]
                self._variables[key] = cell._variables[name]
                if name in cell._trainable_names:
                    self._trainable_names.append(key)
        self.built = True

    def _prefixes(self):
        names = dict((id(cell), prefix) for prefix, cell in self.saving_children())
        return [names.get(id(cell)) for cell in self.cells]

    # ------------------------------------------------------------- stepping
    def call(self, inputs, states, training=False):
        output, new_states, _ = self.forward_step(inputs, _flat(states), training)
        return output, new_states

    def forward_step(self, inputs, states, training=False):
        return self.sequence_step(training)(inputs, states)

    def sequence_step(self, training):
        """``step(input_t, states) -> (output, new_states, cache)`` for one sequence (flat states).

        A built-in cell's dropout masks are drawn at the first step and reused at every later one.
        """
        masks = {}

        def step(inputs, states):
            states, new_states, caches, offset = list(states), [], [], 0
            for index, cell in enumerate(self.cells):
                count = len(_state_sizes(cell))
                own, offset = states[offset:offset + count], offset + count
                if _is_builtin_cell(cell):
                    if index not in masks:
                        masks[index] = (cell.dropout_masks(inputs.shape[0], inputs.shape[-1], inputs.dtype)
                                        if training else (None, None))
                    input_masks, recurrent_masks = masks[index]
                    math = cell.math_class(
                        cell.units, cell.kernel.value, cell.recurrent_kernel.value,
                        None if cell.bias is None else cell.bias.value, cell.activation, cell.recurrent_activation,
                        input_masks=input_masks, recurrent_masks=recurrent_masks, **cell._math_options())
                    output, cell_states, cache = math.step(math.project(inputs[None])[0], own)
                    caches.append((math, inputs, cache, count))
                elif hasattr(cell, "forward_step"):
                    output, cell_states, cache = cell.forward_step(inputs, own, training)
                    caches.append((None, inputs, cache, count))
                else:
                    output, cell_states = cell.call(inputs, own if count > 1 else own[0])
                    caches.append((None, inputs, None, count))
                new_states.extend(_as_list(cell_states))
                inputs = output
            return inputs, new_states, caches

        return step

    def backward_step(self, d_output, d_states, cache):
        d_states = list(d_states)
        bounds, offset = [], 0
        for _, _, _, count in cache:
            bounds.append((offset, offset + count))
            offset += count
        d_previous, weight_grads = [None] * offset, {}
        for index in range(len(self.cells) - 1, -1, -1):
            cell, prefix = self.cells[index], self._prefixes()[index]
            math, inputs, step_cache, _ = cache[index]
            start, stop = bounds[index]
            if math is not None:
                dxz, d_prev = math.step_backward(d_output, d_states[start:stop], step_cache)
                dx, dkernel, dbias = math.project_backward(dxz[None], inputs[None])
                d_output, grads = dx[0], math.weight_gradients(dxz[None], dkernel, dbias)
            else:
                d_output, d_prev, grads = cell.backward_step(d_output, d_states[start:stop], step_cache)
            d_previous[start:stop] = _as_list(d_prev)
            for name, value in (grads or {}).items():
                weight_grads[f"{prefix}/{name}"] = value
        return d_output, d_previous, weight_grads

    def get_config(self):
        from course_lib import layers as layers_module

        config = super().get_config()
        config["cells"] = [layers_module.serialize(cell) for cell in self.cells]
        return config

    @classmethod
    def from_config(cls, config):
        from course_lib import layers as layers_module

        config = dict(config)
        cells = [layers_module.deserialize(cell, build=False) for cell in config.pop("cells")]
        return cls(cells, **config)


def _cell_output_size(cell):
    size = getattr(cell, "output_size", None)
    if size is not None:
        return size
    return _state_sizes(cell)[0]
