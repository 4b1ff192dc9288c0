"""Bidirectional (双向循环层): one RNN reads the sequence forwards, a second one backwards."""
from __future__ import annotations

from course_lib import backend
from course_lib.layers.base import Layer
from course_lib.layers.recurrent import RNN

MERGE_MODES = ("sum", "mul", "ave", "concat", None)


def _rebuilt(layer, name, **changes):
    """A fresh layer from ``layer``'s config (Keras builds both directions this way)."""
    from course_lib import layers as layers_module

    entry = layers_module.serialize(layer)
    entry.pop("build_config", None)
    entry["config"].update(name=name, **changes)
    return layers_module.deserialize(entry)


def _strip(name, prefix):
    return name[len(prefix):] if name.startswith(prefix) else name


class Bidirectional(Layer):
    """Runs ``layer`` over the sequence and a copy of it over the reversed sequence, and merges them.

    Args:
        layer: a recurrent layer (SimpleRNN, LSTM, GRU or RNN). As in Keras,
            the layer itself is not used: two new layers are built from its
            config, ``forward_<name>`` and ``backward_<name>`` (the latter with
            ``go_backwards`` flipped).
        merge_mode: ``'concat'`` (default), ``'sum'``, ``'mul'``, ``'ave'`` or
            None (the two outputs are returned as a list).
        backward_layer: an explicit backward layer (its ``go_backwards`` must
            differ from ``layer``'s).

    With ``return_sequences`` the backward layer's outputs are flipped back
    into time order before merging, and both layers output zeros at masked
    steps (Keras forces ``zero_output_for_mask``). With ``return_state`` the
    output is followed by the forward states, then the backward states.
    Weights: the forward layer's, then the backward layer's.
    """

    uses_mask = True
    supports_masking = True

    def __init__(self, layer, merge_mode="concat", weights=None, backward_layer=None, **kwargs):
        if not isinstance(layer, RNN):
            raise ValueError(
                "Bidirectional: please initialize `Bidirectional` layer with a recurrent layer "
                f"(SimpleRNN, LSTM, GRU or RNN). Received: layer={layer!r}"
            )
        if merge_mode not in MERGE_MODES:
            raise ValueError(
                f"Bidirectional: invalid merge mode. Received: merge_mode={merge_mode!r}. "
                'Merge mode should be one of {"sum", "mul", "ave", "concat", None}.'
            )
        if backward_layer is not None and not isinstance(backward_layer, RNN):
            raise ValueError(
                f"Bidirectional: backward_layer must be a recurrent layer. Received: backward_layer={backward_layer!r}"
            )
        super().__init__(**kwargs)
        self.forward_layer = _rebuilt(layer, "forward_" + _strip(layer.name, "forward_"))
        if backward_layer is None:
            self.backward_layer = _rebuilt(layer, "backward_" + _strip(layer.name, "backward_"),
                                           go_backwards=True)  # as Keras: True, not "the opposite"
        else:
            self.backward_layer = backward_layer
        if self.forward_layer.go_backwards == self.backward_layer.go_backwards:
            raise ValueError(
                "Bidirectional: forward_layer and backward_layer should have different `go_backwards` "
                f"values. Received: forward_layer.go_backwards={self.forward_layer.go_backwards}, "
                f"backward_layer.go_backwards={self.backward_layer.go_backwards}"
            )
        for attribute in ("stateful", "return_sequences", "return_state"):
            if getattr(self.forward_layer, attribute) != getattr(self.backward_layer, attribute):
                raise ValueError(
                    f"Bidirectional: forward_layer and backward_layer must have the same `{attribute}`. "
                    f"Received: {getattr(self.forward_layer, attribute)} and "
                    f"{getattr(self.backward_layer, attribute)}"
                )
        for direction in (self.forward_layer, self.backward_layer):
            direction.zero_output_for_mask = direction.return_sequences
        self.merge_mode = merge_mode
        self.return_sequences = self.forward_layer.return_sequences
        self.return_state = self.forward_layer.return_state
        self.stateful = self.forward_layer.stateful
        self._initial_weights = weights

    @Layer.trainable.setter
    def trainable(self, value):
        self._trainable = bool(value)
        for direction in (self.forward_layer, self.backward_layer):
            direction.trainable = value

    def saving_children(self):
        return [("forward_layer", self.forward_layer), ("backward_layer", self.backward_layer)]

    def build(self, input_shape):
        sequence_shape = input_shape[0] if isinstance(input_shape, list) else input_shape
        for direction in (self.forward_layer, self.backward_layer):
            direction._maybe_build(sequence_shape)
        # The weights are the two layers' (the same arrays), forward first, as Keras lists them.
        self._params, self._variables, self._trainable_names = {}, {}, []
        for prefix, direction in self.saving_children():
            for name in direction._params:
                key = f"{prefix}/{name}"
                self._params[key] = direction._params[name]
                self._variables[key] = direction._variables[name]
                if name in direction._trainable_names:
                    self._trainable_names.append(key)
        if self._initial_weights is not None:
            self.set_weights(self._initial_weights)
            self._initial_weights = None
        self.built = True

    def _check_input(self, shapes):
        self.forward_layer._check_input(shapes)

    def __call__(self, inputs, initial_state=None, training=None, mask=None, **kwargs):
        if initial_state is not None:
            inputs = [inputs] + list(initial_state if isinstance(initial_state, (list, tuple)) else [initial_state])
        return super().__call__(inputs, training=training, mask=mask, **kwargs)

    def _split_states(self, inputs):
        if not isinstance(inputs, list):
            return inputs, None, None
        sequence, states = inputs[0], inputs[1:]
        count = len(self.forward_layer.state_size)
        if len(states) != 2 * count:
            raise ValueError(
                f"Bidirectional '{self.name}': expected {2 * count} initial states (the forward "
                f"layer's {count}, then the backward layer's {count}), received {len(states)}."
            )
        return sequence, states[:count], states[count:]

    def forward(self, inputs, training=False, mask=None):
        sequence, forward_states, backward_states = self._split_states(inputs)
        if isinstance(mask, list):
            mask = mask[0]
        results, caches = [], []
        for direction, states in ((self.forward_layer, forward_states), (self.backward_layer, backward_states)):
            layer_input = sequence if states is None else [sequence] + list(states)
            result, cache = direction.forward(layer_input, training=training, mask=mask)
            results.append(result if self.return_state else [result])
            caches.append(cache)
        y, y_rev = results[0][0], results[1][0]
        if self.return_sequences:
            y_rev = y_rev[:, ::-1]
        output = self._merge(y, y_rev)
        states = results[0][1:] + results[1][1:]
        outputs = (output if isinstance(output, list) else [output]) + states
        several = self.return_state or self.merge_mode is None
        return (outputs if several else outputs[0]), (caches, y, y_rev, forward_states is not None)

    def _merge(self, y, y_rev):
        if self.merge_mode == "concat":
            return backend.xp.concatenate([y, y_rev], axis=-1)
        if self.merge_mode == "sum":
            return y + y_rev
        if self.merge_mode == "ave":
            return (y + y_rev) / y.dtype.type(2)
        if self.merge_mode == "mul":
            return y * y_rev
        return [y, y_rev]

    def _unmerge(self, grads, y, y_rev):
        """The gradients of the two directions' outputs from the merged outputs' gradient(s)."""
        xp = backend.xp
        if self.merge_mode is None:
            dy, dy_rev = grads[0], grads[1]
            zeros = xp.zeros_like
            return (zeros(y) if dy is None else dy), (zeros(y_rev) if dy_rev is None else dy_rev)
        d = grads[0]
        if d is None:
            return xp.zeros_like(y), xp.zeros_like(y_rev)
        if self.merge_mode == "concat":
            units = y.shape[-1]
            return d[..., :units], d[..., units:]
        if self.merge_mode == "sum":
            return d, d
        if self.merge_mode == "ave":
            half = d / d.dtype.type(2)
            return half, half
        return d * y_rev, d * y  # mul

    def backward(self, output_grads, cache):
        return self.backpropagate(output_grads, cache)

    def backpropagate(self, output_grads, cache, need_dx=True):
        """``(input_grads, weight_grads)`` of both directions; ``need_dx=False`` skips ``dx``."""
        caches, y, y_rev, states_given = cache
        several = self.return_state or self.merge_mode is None
        grads = list(output_grads) if several else [output_grads]
        merged = 2 if self.merge_mode is None else 1
        dy, dy_rev = self._unmerge(grads[:merged], y, y_rev)
        if self.return_sequences:
            dy_rev = dy_rev[:, ::-1]
        state_grads = grads[merged:]
        count = len(self.forward_layer.state_size)
        weight_grads, input_grads = {}, []
        for prefix, direction, d_out, d_states, direction_cache in (
            ("forward_layer", self.forward_layer, dy, state_grads[:count], caches[0]),
            ("backward_layer", self.backward_layer, dy_rev, state_grads[count:], caches[1]),
        ):
            upstream = [d_out] + list(d_states) if self.return_state else d_out
            dx, grads_of = direction.backpropagate(upstream, direction_cache, need_dx=need_dx)
            weight_grads.update({f"{prefix}/{name}": value for name, value in grads_of.items()})
            input_grads.append(dx)
        if not need_dx:
            return None, weight_grads
        if states_given:
            (dx_f, *ds_f), (dx_b, *ds_b) = input_grads
            return [dx_f + dx_b] + ds_f + ds_b, weight_grads
        return input_grads[0] + input_grads[1], weight_grads

    def weight_gradients(self, output_grads, cache):
        return self.backpropagate(output_grads, cache, need_dx=False)[1]

    def compute_output_shape(self, input_shape):
        shape = self.forward_layer.compute_output_shape(input_shape)
        output_shape, state_shapes = (shape[0], shape[1:]) if self.return_state else (shape, [])
        if self.merge_mode == "concat":
            output_shape = tuple(output_shape[:-1]) + (output_shape[-1] * 2,)
            outputs = [output_shape]
        elif self.merge_mode is None:
            outputs = [tuple(output_shape), tuple(output_shape)]
        else:
            outputs = [tuple(output_shape)]
        if self.return_state:
            return outputs + list(state_shapes) * 2
        return outputs if self.merge_mode is None else outputs[0]

    def compute_mask(self, inputs, previous_mask=None):
        if isinstance(previous_mask, list):
            previous_mask = previous_mask[0]
        output_mask = previous_mask if self.return_sequences else None
        masks = [output_mask, output_mask] if self.merge_mode is None else [output_mask]
        if self.return_state:
            return masks + [None] * (2 * len(self.forward_layer.state_size))
        return masks if self.merge_mode is None else output_mask

    def reset_states(self):
        for direction in (self.forward_layer, self.backward_layer):
            direction.reset_states()

    reset_state = reset_states

    def get_config(self):
        from course_lib import layers as layers_module

        config = super().get_config()
        config["merge_mode"] = self.merge_mode
        config["layer"] = layers_module.serialize(self.forward_layer)
        config["backward_layer"] = layers_module.serialize(self.backward_layer)
        return config

    @classmethod
    def from_config(cls, config):
        from course_lib import layers as layers_module

        config = dict(config)
        layer = layers_module.deserialize(config.pop("layer"))
        backward = config.pop("backward_layer", None)
        if backward is not None:
            backward = layers_module.deserialize(backward)
        return cls(layer, backward_layer=backward, **config)
