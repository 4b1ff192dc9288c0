"""Wrappers (包装器): layers that run another layer in a new way.

:class:`Wrapper` is the shared base, as Keras's: it holds the wrapped layer,
checks that it is a layer instance and writes it into the config.
:class:`TimeDistributed` applies the wrapped layer to every time step.
"""
from __future__ import annotations

from course_lib.layers.base import Layer


class Wrapper(Layer):
    """Base of the layers that wrap another layer (Keras's ``Wrapper``); not a layer to use itself.

    Args:
        layer: the wrapped :class:`Layer` instance, kept as ``self.layer``.

    ``get_config`` holds the wrapped layer under ``"layer"`` in Keras's
    serialized form, and ``from_config`` rebuilds it, so configs and
    ``.keras`` files move between course_lib and Keras. ``trainable`` set on
    the wrapper is set on the wrapped layer too (as Keras propagates it to
    sublayers).
    """

    def __init__(self, layer, **kwargs):
        self._check_layer(layer)
        super().__init__(**kwargs)
        self.layer = layer

    def _check_layer(self, layer):
        where = type(self).__name__
        if isinstance(layer, type) and issubclass(layer, Layer):
            raise ValueError(
                f"{where}: please initialize `{where}` with a layer instance, not a class: "
                f"`{where}({layer.__name__}(...))`. Received: layer={layer!r}"
            )
        if not isinstance(layer, Layer):
            raise ValueError(
                f"{where}: please initialize `{where}` with a `keras.layers.Layer` instance. "
                f"Received: layer={layer!r} (of type {type(layer).__name__})"
            )
        from course_lib.models import Model

        if isinstance(layer, Model):
            raise ValueError(
                f"{where}: wrapping a model is not supported by course_lib; wrap each of its layers "
                f"instead. Received: layer={layer.name!r} ({type(layer).__name__})"
            )

    @property
    def trainable(self):
        return self._trainable and self.layer.trainable

    @trainable.setter
    def trainable(self, value):
        self._trainable = bool(value)
        if "layer" in self.__dict__:
            self.layer.trainable = value

    def _share_weights(self):
        """Make the wrapped layer's weights this layer's own (the same arrays and Variables).

        Called once the wrapped layer is built; ``RNN.build`` shares its cell's
        weights the same way, so a model, an optimizer and the saving code see
        one set of weights, keyed like the wrapped layer's.
        """
        self._params, self._variables = self.layer._params, self.layer._variables
        self._trainable_names = self.layer._trainable_names

    def saving_children(self):
        # Keras's files keep the wrapped layer's variables in its own group: <wrapper>/layer/vars.
        return [("layer", self.layer)]

    @property
    def differentiable(self):
        return self.layer.differentiable

    @property
    def keeps_integers(self):
        # Integer inputs reach the wrapped layer as they would reach it directly (Embedding's ids).
        return self.layer.keeps_integers

    def _output_dtype(self, input_dtypes):
        return self.layer._output_dtype(input_dtypes)

    def get_config(self):
        from course_lib import layers as layers_module

        config = super().get_config()
        config["layer"] = layers_module.serialize(self.layer)
        return config

    @classmethod
    def from_config(cls, config):
        from course_lib import layers as layers_module

        config = dict(config)
        layer = layers_module.deserialize(config.pop("layer"))
        return cls(layer, **config)


class TimeDistributed(Wrapper):
    """Applies ``layer`` to every time step of ``(batch, timesteps, ...)`` inputs (时间分布).

    The same layer, with the same weights, runs on each slice ``inputs[:, t]``.
    Keras loops over the time steps; here the time axis is folded into the
    batch axis, so the layer runs once on ``(batch * timesteps, ...)`` and the
    result is unfolded to ``(batch, timesteps, ...)``. The numbers are the
    same for every layer that treats the samples of a batch independently
    (Dense, convolutions, pooling, RNNs, Dropout at inference). A layer whose
    output depends on the whole batch differs: ``BatchNormalization`` in
    training normalises over ``batch * timesteps`` here, over each step's
    batch in Keras, and Dropout draws other random numbers.

    Args:
        layer: a layer instance (not a model).

    Call arguments:
        inputs: ``(batch, timesteps, ...)``: at least 3 dimensions.
        mask: a boolean ``(batch, timesteps, ...)`` mask; it passes through to
            the outputs unchanged (as in Keras), and a wrapped layer that
            takes a mask (an RNN) receives it folded like the inputs.
        training: passed to the wrapped layer.

    Input shape:
        ``(batch_size, timesteps, *step_shape)``.

    Output shape:
        ``(batch_size, timesteps, *layer_output_shape)``, where the wrapped
        layer maps ``(batch_size, *step_shape)`` to
        ``(batch_size, *layer_output_shape)``.

    Weights and gradients are the wrapped layer's, under the same names
    (``TimeDistributed(Dense(3))`` has ``kernel`` and ``bias``).
    """

    supports_masking = True
    uses_mask = True

    def __init__(self, layer, **kwargs):
        super().__init__(layer, **kwargs)
        if layer.built:
            self._share_weights()

    # ------------------------------------------------------------ shapes
    def _step_shape(self, input_shape):
        """The shape the wrapped layer sees: ``(batch, *step_shape)``."""
        several = isinstance(input_shape, list) and bool(input_shape) and isinstance(input_shape[0], (tuple, list))
        if several or not isinstance(input_shape, (tuple, list)):
            raise ValueError(
                f"TimeDistributed '{self.name}': expected one input tensor of shape (batch, timesteps, ...). "
                f"Received: input_shape={input_shape}"
            )
        if len(input_shape) < 3:
            raise ValueError(
                f"TimeDistributed '{self.name}': the input must have at least 3 dimensions "
                f"(batch, timesteps, ...), the time axis being axis 1. Received: input with shape "
                f"{tuple(input_shape)} (ndim={len(input_shape)}). For 2-D inputs, use the layer "
                f"'{self.layer.name}' directly."
            )
        return (input_shape[0],) + tuple(input_shape[2:])

    def build(self, input_shape):
        step_shape = self._step_shape(input_shape)
        if not self.layer.built:
            self.layer._maybe_build(step_shape)
        self._share_weights()
        self.built = True

    def _check_input(self, shapes):
        self.layer._check_input(self._step_shape(shapes))

    def compute_output_shape(self, input_shape):
        step_output = self.layer.compute_output_shape(self._step_shape(input_shape))
        self._check_single_output(step_output)
        return (step_output[0], input_shape[1]) + tuple(step_output[1:])

    def _check_single_output(self, step_output):
        if isinstance(step_output, list):
            raise ValueError(
                f"TimeDistributed '{self.name}': the wrapped layer '{self.layer.name}' returns several "
                "outputs, and TimeDistributed supports a layer with one output only (for an RNN, leave "
                "return_state=False)."
            )

    # ---------------------------------------------------- forward/backward
    def _folded_mask(self, mask, inputs):
        if isinstance(mask, list):
            mask = mask[0]
        if mask.ndim < 2:
            raise ValueError(
                f"TimeDistributed '{self.name}': the mask must be at least 2-D, (batch, timesteps). "
                f"Received: a mask of shape {tuple(mask.shape)}"
            )
        if tuple(mask.shape[:2]) != tuple(inputs.shape[:2]):
            raise ValueError(
                f"TimeDistributed '{self.name}': the mask of shape {tuple(mask.shape)} does not fit the input "
                f"of shape {tuple(inputs.shape)}: its first two dimensions (batch, timesteps) must be "
                f"{tuple(inputs.shape[:2])}."
            )
        return mask.reshape((-1,) + tuple(mask.shape[2:]))

    def forward(self, inputs, training=False, mask=None):
        shape = tuple(inputs.shape)
        step_shape = self._step_shape(shape)
        batch, steps = shape[0], shape[1]
        folded = self.layer._autocast(inputs.reshape((batch * steps,) + step_shape[1:]))
        step_mask = None
        if mask is not None:
            step_mask = self._folded_mask(mask, inputs)
            if not self.layer.uses_mask:
                step_mask = None
        if training is None:  # a model called directly: the wrapped layer's own default
            training = self.layer.training_default
        outputs, cache = self.layer._forward_with_mask(folded, training, step_mask)
        self._check_single_output(outputs)
        return outputs.reshape((batch, steps) + tuple(outputs.shape[1:])), (cache, batch, steps)

    def _fold_grads(self, output_grads, batch, steps):
        return output_grads.reshape((batch * steps,) + tuple(output_grads.shape[2:]))

    def backward(self, output_grads, cache):
        inner_cache, batch, steps = cache
        input_grads, weight_grads = self.layer.backward(self._fold_grads(output_grads, batch, steps), inner_cache)
        if input_grads is not None:
            input_grads = input_grads.reshape((batch, steps) + tuple(input_grads.shape[1:]))
        return input_grads, weight_grads

    def weight_gradients(self, output_grads, cache):
        inner_cache, batch, steps = cache
        return self.layer.weight_gradients(self._fold_grads(output_grads, batch, steps), inner_cache)
