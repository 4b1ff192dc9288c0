"""Models: Sequential (a stack of layers) and Model (a graph of layers, the functional API).

Both share one training engine (:mod:`course_lib.training`). A model's forward
pass runs each layer's ``call``; its backward pass walks the layers in reverse
order, summing gradients where a tensor feeds several layers.
"""
from __future__ import annotations

import json
from typing import NamedTuple

from course_lib import backend, metrics as metrics_module, tape
from course_lib import layers as layers_module
from course_lib.layers.base import (
    _LOSS_COLLECTORS, KerasTensor, Layer, activity_gradients, activity_penalties, dtype_policy,
)
from course_lib.layers.core import InputLayer
from course_lib.layers.operations import is_operation
from course_lib.training import Trainer
from course_lib.utils.summary import print_summary


class Model(Trainer, Layer):
    """A model defined by its input and output tensors (函数式 API, the functional API).

    Args:
        inputs: a KerasTensor from ``Input`` or a list of them.
        outputs: the KerasTensor(s) obtained by calling layers on the inputs.
        name: the model's name.

    Example::

        inputs = Input(shape=(4,))
        hidden = Dense(8, activation="relu")(inputs)
        model = Model(inputs, Dense(3, activation="softmax")(hidden))
    """

    def __init__(self, inputs=None, outputs=None, name=None, trainable=True, **kwargs):
        subclassed = type(self) is not Model and not isinstance(self, Sequential)
        if not subclassed and type(self) is Model and (inputs is None or outputs is None):
            raise ValueError(
                "Model: pass both `inputs` and `outputs` (tensors from keras.Input and the layers "
                f"called on them). Received: inputs={inputs!r}, outputs={outputs!r}"
            )
        if isinstance(self, Sequential):
            default = "sequential"
        elif subclassed and inputs is None:
            default = backend.snake_case(type(self).__name__)
        else:
            default = "functional"
        self._tracked_layers = []
        Layer.__init__(self, name=name or backend.unique_name(default), trainable=trainable, **kwargs)
        Trainer.__init__(self)
        # A subclass of Model that defines `call` (Keras's model subclassing) is traced
        # into the same graph on its first call: one engine for every kind of model.
        self._traced = subclassed and inputs is None
        self._nodes = []
        self.inputs, self.outputs = [], []
        if inputs is not None:
            self._init_graph(inputs, outputs)

    def __setattr__(self, name, value):
        # As Keras: layers assigned as attributes are the model's layers, in assignment order.
        tracked = self.__dict__.get("_tracked_layers")
        if tracked is not None and isinstance(value, Layer) and value is not self and value not in tracked:
            tracked.append(value)
        if isinstance(value, metrics_module.Metric):
            # Keras's `model.metrics` lists metrics set as attributes too (a custom train_step's trackers).
            self.__dict__.setdefault("_tracked_metrics", [])
            if value not in self._tracked_metrics:
                self._tracked_metrics.append(value)
        object.__setattr__(self, name, value)

    def _trace(self, shapes, dtypes):
        """Run the subclass's ``call`` once on symbolic inputs of these shapes and keep the graph."""
        from course_lib.layers.core import Input

        tensors = [Input(batch_shape=(None,) + tuple(shape[1:]), dtype=dtype) for shape, dtype in zip(shapes, dtypes)]
        structure = tensors if len(tensors) > 1 else tensors[0]
        try:
            outputs = self.call(structure)
        except TypeError as error:
            raise TypeError(
                f"Model '{self.name}' ({type(self).__name__}): its `call` is traced once on symbolic "
                "inputs into a graph of layers, so it may only call layers (and the helpers of "
                f"course_lib.layers) on them, not array functions. Tracing failed with: {error}"
            ) from error
        self._init_graph(structure, outputs)
        graph_layers = [layer for layer in self._layers if not isinstance(layer, InputLayer)]
        # Keras lists the attributes; a weightless helper made inside call (layers.concatenate)
        # is not a layer of the model, one with weights must be (or its weights would be lost).
        self._layers = [l for l in self._tracked_layers if l in graph_layers]
        self._layers += [l for l in graph_layers if l not in self._layers and l._params]
        if self.compiled and len(self.outputs) != len(self._loss_weights):
            # Compiled before the outputs were known: spread the settings over them now.
            optimizer, (loss, metrics, loss_weights) = self.optimizer, self._loss_spec
            self.compile(optimizer, loss, metrics, loss_weights)

    def build(self, input_shape=None):
        """Build a subclassed model for inputs of ``input_shape`` (with the batch axis) by tracing its call."""
        if self._traced and not self.built:
            several = isinstance(input_shape, list)
            shapes = input_shape if several else [input_shape]
            self._trace([tuple(shape) for shape in shapes], [self.dtype] * len(shapes))
        self.built = True

    # ------------------------------------------------------------------ graph
    def _init_graph(self, inputs, outputs):
        self._inputs_are_list = isinstance(inputs, (list, tuple, dict))
        self._outputs_are_list = isinstance(outputs, (list, tuple, dict))
        self.inputs = _tensor_list(inputs, "inputs")
        self.outputs = _tensor_list(outputs, "outputs")
        for tensor in self.inputs:
            if tensor.node is None or not isinstance(tensor.node.layer, InputLayer):
                raise ValueError(
                    f"Model '{self.name}': every input must come from keras.Input. Received: {tensor}"
                )
        self._nodes, first_seen = _topological_nodes(self.outputs, self.inputs, self.name)
        if not isinstance(self, Sequential):
            # Keras's operations: the layers and the recorded arithmetic (`x + y`), in Keras's order;
            # `layers` are those that are layers.
            self._operations = _keras_layer_order(self._nodes, first_seen)
            self._layers = [layer for layer in self._operations if not is_operation(layer)]
        self._node_position = {id(node): position for position, node in enumerate(self._nodes)}
        # A new graph may hold other weights: the engine's cache of regularized weights follows this.
        self._graph_version = getattr(self, "_graph_version", 0) + 1
        self._consumers = {}
        for node in self._nodes:
            for tensor in node.inputs:
                self._consumers[id(tensor)] = self._consumers.get(id(tensor), 0) + 1
        self.built = True

    @property
    def layers(self):
        if "_layers" not in self.__dict__:
            return list(self._tracked_layers)  # a subclassed model not yet traced: its attributes
        return list(self._layers)

    @property
    def operations(self):
        """Keras's ``operations``: the layers and the operations (``x + y``, ``x * 0.5``) of the graph, in order."""
        if "_operations" not in self.__dict__:
            return self.layers
        return list(self._operations)

    @property
    def input_names(self):
        return [tensor.node.layer.name for tensor in self.inputs]

    @property
    def output_names(self):
        return [tensor.node.layer.name for tensor in self.outputs]

    @property
    def input_shape(self):
        shapes = [tensor.shape for tensor in self.inputs]
        return shapes if len(shapes) > 1 else shapes[0]

    @property
    def output_shape(self):
        shapes = [tensor.shape for tensor in self.outputs]
        return shapes if len(shapes) > 1 else shapes[0]

    def get_layer(self, name=None, index=None):
        """The layer called ``name``, or at position ``index`` in :attr:`layers`."""
        if index is not None:
            return self.layers[index]
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise ValueError(
            f"Model '{self.name}' has no layer named {name!r}. Layers: {[l.name for l in self.layers]}"
        )

    @Layer.trainable.setter
    def trainable(self, value):
        # As in Keras: freezing (or unfreezing) a model sets every layer inside it.
        self._trainable = bool(value)
        for layer in getattr(self, "_layers", []):
            layer.trainable = value

    # --------------------------------------------------------------- weights
    @property
    def weights(self):
        return [w for layer in self.layers for w in layer.weights]

    @property
    def trainable_weights(self):
        if not self.trainable:
            return []
        return [w for layer in self.layers for w in layer.trainable_weights]

    @property
    def non_trainable_weights(self):
        if not self.trainable:
            return self.weights
        return [w for layer in self.layers for w in layer.non_trainable_weights]

    def _regularized_weights(self, trainable_only=True):
        """The layers' regularized weights, named "layer/weight" like :attr:`trainable_weight_names`."""
        if trainable_only and not self.trainable:
            return []
        return [(f"{layer.name}/{name}", variable, regularizer)
                for layer in self.layers for name, variable, regularizer in layer._regularized_weights(trainable_only)]

    # A model used as a layer inside another model names its weights
    # "layer/weight", so that the outer model finds them like any layer's.
    @property
    def trainable_weight_names(self):
        if not self.trainable:
            return []
        return [f"{layer.name}/{name}" for layer in self.layers for name in layer.trainable_weight_names]

    @property
    def weight_names(self):
        return [f"{layer.name}/{name}" for layer in self.layers for name in layer.weight_names]

    def get_weights(self):
        return [w.numpy() for w in self.weights]

    def set_weights(self, weights):
        weights = list(weights)
        expected = sum(len(layer.weights) for layer in self.layers)
        if len(weights) != expected:
            raise ValueError(
                f"Model '{self.name}' expects {expected} weight arrays, but received {len(weights)}."
            )
        start = 0
        for layer in self.layers:
            count = len(layer.weights)
            layer.set_weights(weights[start:start + count])
            start += count

    def count_params(self):
        self._require_built("count_params")
        return int(sum(layer.count_params() for layer in self.layers))

    def _require_built(self, what):
        if not self.built:
            raise ValueError(
                f"Model '{self.name}': this model has not yet been built, so `{what}` cannot run. "
                "Build it by giving the first layer an input shape (keras.Input(shape=...) or "
                "input_shape=...), by calling `build(input_shape)`, or by calling it on data."
            )

    # --------------------------------------------------------- forward/back
    def __call__(self, inputs, training=None, **kwargs):
        if kwargs:
            raise TypeError(f"Model '{self.name}': unrecognized call arguments: {sorted(kwargs)}.")
        if _contains_symbolic(inputs):
            return Layer.__call__(self, inputs)
        # None stays None: each layer then takes its own default (see Layer.training_default).
        arrays = self._standardize_inputs(inputs, "call")
        with tape.recorded_call(self) as record:
            outputs, cache = self.forward(arrays, training)
        given = None
        if record.active:  # the caller's own arrays: a tape finds the gradient of a float64 input the model cast
            given = _structure_to_list(inputs, self.input_names, f"Model '{self.name}' call", "inputs")
            given = given if self._inputs_are_list else given[0]
        record(arrays if self._inputs_are_list else arrays[0], outputs, cache, given=given)
        # Only for the sugar `model.backward(dy)`; the engine passes caches explicitly.
        self._last_call = cache
        return outputs

    # A model inside a model takes its inputs' masks and hands its outputs' masks on.
    uses_mask = True
    supports_masking = True

    def forward(self, inputs, training=False, mask=None):
        """``(outputs, cache)``: the cache holds one entry per node of this call."""
        several = isinstance(inputs, list)
        masks = None if mask is None else (mask if isinstance(mask, list) and several else [mask])
        outputs, caches = self._run(
            inputs if several else [inputs], training, self._backward_plan(True).nodes, input_masks=masks
        )
        return (outputs if self._outputs_are_list else outputs[0]), caches

    def compute_mask(self, inputs, previous_mask=None):
        masks = getattr(self, "_last_output_masks", None) or [None] * len(self.outputs)
        return masks if self._outputs_are_list else masks[0]

    def backward(self, output_grads, cache):
        """``(input_grads, weight_grads)``; ``weight_grads`` is keyed like :attr:`trainable_weight_names`."""
        grads = output_grads if self._outputs_are_list else [output_grads]
        input_grads, weight_grads = self._backprop(grads, cache, self._backward_plan(inputs_need_grads=True))
        return (input_grads if self._inputs_are_list else input_grads[0]), weight_grads

    def weight_gradients(self, output_grads, cache):
        grads = output_grads if self._outputs_are_list else [output_grads]
        return self._backprop(grads, cache, self._backward_plan(inputs_need_grads=False))[1]

    def compute_output_shape(self, input_shape):
        return self.output_shape

    def _standardize_inputs(self, inputs, where):
        """A list of arrays, one per model input, checked against the Input shapes."""
        if self._traced and not self.built:
            given = list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]
            given = [backend.as_numeric(a, f"Model '{self.name}'") for a in given]
            self._trace([a.shape for a in given],
                        [a.dtype.name if a.dtype.kind in "biu" else self.dtype for a in given])
        arrays = _structure_to_list(inputs, self.input_names, f"Model '{self.name}' {where}", "inputs")
        # Each input takes its Input's dtype (as in Keras), not the floatx of the moment:
        # a float64 model called outside floatx_scope must not round its inputs to float32,
        # and an integer Input keeps its token ids integers.
        arrays = [
            _string_input(a, f"Model '{self.name}'") if tensor.dtype == "string"
            else backend.to_array(a, tensor.dtype, f"Model '{self.name}'") for a, tensor in zip(arrays, self.inputs)
        ]
        arrays = [_adjust_input_rank(array, tensor.shape) for array, tensor in zip(arrays, self.inputs)]
        self._check_input_arrays(arrays)
        return arrays

    def _check_input_arrays(self, arrays):
        for index, (tensor, array) in enumerate(zip(self.inputs, arrays)):
            expected = tensor.shape
            if array.ndim != len(expected) or any(
                e is not None and e != s for e, s in zip(expected, array.shape)
            ):
                raise ValueError(
                    f"Input {index} of model '{self.name}' is incompatible: expected shape={expected}, "
                    f"found shape={array.shape}"
                )

    def _run(self, inputs, training, keep=(), input_masks=None):
        """The forward pass over the graph.

        Args:
            inputs: one array per model input.
            keep: positions (in ``self._nodes``) whose caches are kept; the
                others are dropped as soon as their layer returns, so inference
                holds no caches.

        Returns:
            ``(outputs, caches)``: a list of arrays, one per model output, and a
            list with one cache (or None) per node.
        """
        values = {id(tensor): array for tensor, array in zip(self.inputs, inputs)}
        # Keras's masks travel with the tensors: id(tensor) -> boolean mask, where one exists.
        masks = {} if input_masks is None else {
            id(tensor): mask for tensor, mask in zip(self.inputs, input_masks) if mask is not None
        }
        caches = _Caches([None] * len(self._nodes))
        collected = []
        _LOSS_COLLECTORS.append(collected)
        try:
            for position, node in enumerate(self._nodes):
                layer = node.layer
                if isinstance(layer, InputLayer):
                    continue
                args = [values[id(t)] for t in node.inputs]
                layer_input = layer._autocast(args if node.inputs_are_list else args[0])
                layer._check_input([a.shape for a in args] if node.inputs_are_list else args[0].shape)
                before = len(collected)
                mask = _node_mask(node, masks)
                layer_training = (layer.training_default if training is None else training) \
                    if not isinstance(layer, Model) else training
                outputs, cache = layer._forward_with_mask(layer_input, layer_training, mask)
                outputs_list = outputs if node.outputs_are_list else [outputs]
                for tensor, value in zip(node.outputs, outputs_list):
                    values[id(tensor)] = value
                if layer.supports_masking:
                    out_masks = layer.compute_mask(layer_input, mask)
                    for tensor, out_mask in zip(node.outputs, out_masks if node.outputs_are_list else [out_masks]):
                        if out_mask is not None:
                            masks[id(tensor)] = out_mask
                elif mask is not None and not layer.uses_mask:
                    _warn_mask_dropped(layer)
                if position in keep:
                    caches[position] = cache
                if layer.activity_regularizer is not None:
                    # Keras's activity penalty of each call; its gradient joins the upstream one in _backprop.
                    collected.extend(activity_penalties(layer.activity_regularizer, outputs_list))
                    if position in keep:
                        caches.activity[position] = (layer.activity_regularizer, outputs_list)
                if len(collected) > before:  # add_loss: backward must run even without an upstream gradient
                    caches.loss_outputs[position] = [(v.shape, v.dtype) for v in outputs_list]
        finally:
            _LOSS_COLLECTORS.pop()
        if _LOSS_COLLECTORS:
            _LOSS_COLLECTORS[-1].extend(collected)  # a model inside a model: the outer one's losses too
        self._eager_losses = collected
        # The outputs' masks: the loss step weights by them (as Keras does); an outer model reads them.
        caches.output_masks = [masks.get(id(tensor)) for tensor in self.outputs]
        self._last_output_masks = caches.output_masks
        return [values[id(tensor)] for tensor in self.outputs], caches

    def _backward_plan(self, inputs_need_grads):
        """Which nodes run backward, and which of them must return input gradients.

        A tensor needs a gradient when it depends on a trainable weight (or on
        a model input whose gradient is wanted) through differentiable layers
        only; a non-differentiable layer (preprocessing, integer lookups) stops
        the gradient there. Recomputed per step: `trainable` may change.
        """
        needs = {id(tensor): inputs_need_grads for tensor in self.inputs}
        nodes, input_grads = set(), set()
        for position, node in enumerate(self._nodes):
            layer = node.layer
            if isinstance(layer, InputLayer):
                continue
            inputs_need = any(needs.get(id(t), False) for t in node.inputs)
            runs = layer.differentiable and (inputs_need or bool(layer.trainable_weight_names))
            if runs:
                nodes.add(position)
                if inputs_need:
                    input_grads.add(position)
            for tensor in node.outputs:
                needs[id(tensor)] = runs
        return _Plan(nodes, input_grads, needs)

    def _backprop(self, output_grads, caches, plan, logits_grads=None, loss_scale=None):
        """Backpropagate gradients of the outputs through the graph.

        Walks the nodes in reverse topological order, summing gradients where a
        tensor feeds several layers and weight gradients where a layer is used
        several times.

        Args:
            output_grads: one array (or None) per model output.
            caches: what :meth:`_run` returned.
            plan: what :meth:`_backward_plan` returned for this pass (the caller
                computed it to choose which caches ``_run`` keeps); with
                ``inputs_need_grads=False`` (training), layers fed by the
                inputs only skip computing their input gradients.
            logits_grads: ``{node position: gradient with respect to that output
                layer's pre-activation}``, from the engine's loss step (crossentropy
                scored from logits); those nodes start from it instead.
            loss_scale: None, or the factor the upstream gradients were multiplied
                by (``LossScaleOptimizer``): the activity penalties' gradients are
                scaled alike, and a layer that called ``add_loss`` (whose backward
                adds its penalty's gradient itself) gets the unscaled gradient and
                has what it returns scaled.

        Returns:
            ``(input_grads, weight_grads)``: one array (or None) per model input,
            and a dict keyed like :attr:`trainable_weight_names`.
        """
        logits_grads = logits_grads or {}
        grads = {}
        for tensor, grad in zip(self.outputs, output_grads):
            if grad is not None:
                _accumulate(grads, id(tensor), grad)
        by_layer = {}
        activity = getattr(caches, "activity", None) or {}
        for position in sorted(plan.nodes, reverse=True):
            node, cache = self._nodes[position], caches[position]
            layer = node.layer
            wants_dx = position in plan.input_grads
            extra = self._activity_grads(layer, activity[position]) if position in activity else None
            if extra is not None and loss_scale is not None:
                extra = _scaled(extra, loss_scale)
            if position in logits_grads:
                dpre = logits_grads[position]
                if extra is not None and extra[0] is not None:
                    # Scored from logits: the activity penalty of the (softmax/sigmoid) output goes
                    # back through the activation onto the logits' gradient.
                    dpre = dpre + layer.logits_gradient(extra[0], cache)
                dx, weight_grads = layer.backward_from_logits(dpre, cache, need_dx=wants_dx)
            else:
                dys = [grads.get(id(t)) for t in node.outputs]
                if extra is not None:
                    dys = [g if dy is None else (dy if g is None else dy + g) for dy, g in zip(dys, extra)]
                if all(dy is None for dy in dys):
                    if position not in getattr(caches, "loss_outputs", {}):
                        continue
                    dys = [backend.xp.zeros(shape, dtype) for shape, dtype in caches.loss_outputs[position]]
                adds_loss = loss_scale is not None and position in getattr(caches, "loss_outputs", {})
                if adds_loss:
                    dys = _scaled(dys, 1 / loss_scale)
                dy = dys if node.outputs_are_list else dys[0]
                if wants_dx:
                    dx, weight_grads = layer.backward(dy, cache)
                else:
                    dx, weight_grads = None, layer.weight_gradients(dy, cache)
                if adds_loss:
                    dx, weight_grads = _scaled(dx, loss_scale), _scaled(weight_grads, loss_scale)
            totals = by_layer.setdefault(layer, {})
            for name, value in (weight_grads or {}).items():
                _accumulate(totals, name, value)
            if dx is not None:
                for tensor, grad in zip(node.inputs, dx if node.inputs_are_list else [dx]):
                    if grad is not None and plan.needs.get(id(tensor)):
                        _accumulate(grads, id(tensor), grad)
        weight_grads = {
            f"{layer.name}/{name}": totals[name]
            for layer, totals in by_layer.items() for name in layer.trainable_weight_names if name in totals
        }
        return [grads.get(id(tensor)) for tensor in self.inputs], weight_grads

    def _activity_grads(self, layer, entry):
        regularizer, outputs = entry
        return activity_gradients(regularizer, outputs, f"Model '{self.name}', layer '{layer.name}' activity_regularizer")

    def _gradient_list(self, weight_grads):
        """Gradients aligned with :attr:`trainable_weights` (None where no gradient reached a weight)."""
        return [weight_grads.get(name) for name in self.trainable_weight_names]

    @property
    def grads(self):
        """The layers' gradients, keyed like :attr:`trainable_weight_names`."""
        return {
            f"{layer.name}/{name}": layer.grads[name]
            for layer in self.layers for name in layer.trainable_weight_names if name in layer.grads
        }

    @grads.setter
    def grads(self, value):
        # Gradients live in the layers: hand each its share ("layer/weight" keys).
        by_layer = {layer.name: {} for layer in getattr(self, "_layers", [])}
        for key, gradient in value.items():
            layer_name, name = key.split("/", 1)
            by_layer[layer_name][name] = gradient
        for layer_name, grads in by_layer.items():
            self.get_layer(layer_name).grads = grads

    # --------------------------------------------------------------- summary
    def summary(self, line_length=None, positions=None, print_fn=None, expand_nested=False, show_trainable=False,
                layer_range=None):
        """Print the layers, output shapes and parameter counts in Keras's table format (Keras's arguments).

        An unbuilt model prints as Keras's: unknown shapes ``?`` and ``0 (unbuilt)`` parameters.
        """
        # A functional model's rows are its operations, as Keras's (`add (Add)` for `x + y`).
        shown = _OperationsView(self) if not self._traced and "_operations" in self.__dict__ else self
        print_summary(shown, print_fn=print_fn, line_length=line_length, positions=positions,
                      expand_nested=expand_nested, show_trainable=show_trainable, layer_range=layer_range)

    # --------------------------------------------------------- serialization
    def get_config(self):
        """Keras 3's functional config: layers with their ``inbound_nodes``, input and output references."""
        def ref(tensor):
            layer = tensor.node.layer
            return [layer.name, self._node_index(tensor.node), tensor.index]

        def keras_tensor(tensor):
            return {"class_name": "__keras_tensor__",
                    "config": {"shape": list(tensor.shape), "dtype": tensor.dtype, "keras_history": ref(tensor)}}

        entries = []
        for layer in (self._layers if self._traced else self.operations):
            entry = layer.serialize() if is_operation(layer) else layers_module.serialize(layer)
            calls = [node for node in layer._inbound_nodes if id(node) in self._node_position and node.inputs]
            entry["name"] = layer.name
            entry["inbound_nodes"] = [_node_config(node, keras_tensor) for node in calls]
            entries.append(entry)
        inputs = [ref(t) for t in self.inputs]
        outputs = [ref(t) for t in self.outputs]
        return {
            "name": self.name, "trainable": self.trainable, "layers": entries,
            "input_layers": inputs if self._inputs_are_list else inputs[0],
            "output_layers": outputs if self._outputs_are_list else outputs[0],
        }

    def _node_index(self, node):
        """The node's position among its layer's calls inside this model (Keras's node index)."""
        calls = [n for n in node.layer._inbound_nodes if id(n) in self._node_position]
        return calls.index(node)

    @classmethod
    def from_config(cls, config, custom_objects=None):
        """Rebuild a functional model from Keras 3's config (course_lib's, or one Keras wrote)."""
        created, produced = {}, {}
        mask_ops = _keras_mask_ops(config["layers"], _tensor_configs_names(config.get("output_layers")))
        config = {**config, "layers": [entry for entry in config["layers"] if entry["name"] not in mask_ops]}
        for entry in config["layers"]:
            layer = layers_module.deserialize(entry, custom_objects, build=False)
            created[entry["name"]] = layer
            if isinstance(layer, InputLayer):
                produced[(layer.name, 0)] = [layer.output]
        pending = [entry for entry in config["layers"] if entry.get("inbound_nodes")]

        def resolve(item):
            """A call argument: the tensor a ``__keras_tensor__`` reference names, or the value itself."""
            if isinstance(item, list):  # Attention's layer([query, value], ...)
                return [resolve(part) for part in item]
            if not _is_tensor_config(item):
                return item
            layer_name, node, index = item["config"]["keras_history"]
            return produced[(layer_name, node)][index]

        while pending:
            progressed = False
            for entry in list(pending):
                name, calls = entry["name"], entry["inbound_nodes"]
                done = sum(1 for key in produced if key[0] == name)
                if done == len(calls):
                    pending.remove(entry)
                    continue
                call, target = calls[done], created[name]
                several_arguments = hasattr(target, "call_arguments")
                first = call["args"][0]
                as_list = isinstance(first, list)
                if several_arguments:  # the masks Keras recorded are recomputed here by the mask protocol
                    call = {**call, "kwargs": {key: item for key, item in call.get("kwargs", {}).items()
                                               if not _names_a_mask_op(item, mask_ops)}}
                refs = (_tensor_configs([call["args"], call.get("kwargs", {})]) if several_arguments
                        else (first if as_list else [first]))
                history = [tuple(t["config"]["keras_history"]) for t in refs]
                if all((layer, node) in produced for layer, node, _ in history):
                    if several_arguments:  # layer(query, value, key=...): Keras's args and kwargs, as written
                        output = target(*[resolve(item) for item in call["args"]],
                                        **{key: resolve(item) for key, item in call.get("kwargs", {}).items()})
                    else:
                        args = [produced[(layer, node)][index] for layer, node, index in history]
                        output = target(args if as_list else args[0])
                    produced[(name, done)] = output if isinstance(output, list) else [output]
                    progressed = True
            if not progressed and pending:
                raise ValueError(
                    f"Model.from_config: the graph of {config['name']!r} cannot be rebuilt: layers "
                    f"{[entry['name'] for entry in pending]} wait for inputs that no layer produces."
                )

        def tensors(refs):
            # Keras writes one reference bare (['x', 0, 0]), several as a list, or a dict by name.
            if isinstance(refs, dict):
                refs, several = list(refs.values()), True
            elif refs and isinstance(refs[0], str):
                refs, several = [refs], False
            else:
                several = True
            found = [produced[(name, node)][index] for name, node, index in refs]
            return found if several else found[0]

        return cls(tensors(config["input_layers"]), tensors(config["output_layers"]),
                   name=config["name"], trainable=config.get("trainable", True))

    def to_json(self, **kwargs):
        """The architecture as Keras's JSON (``keras.models.model_from_json`` reads it)."""
        return json.dumps(layers_module.serialize(self), **kwargs)

    def save_weights(self, filepath, overwrite=True):
        """Save the weights in Keras 3's ``.weights.h5`` format (Keras's ``load_weights`` reads it)."""
        from course_lib import saving

        saving.save_weights(self, filepath, overwrite=overwrite)

    def load_weights(self, filepath, skip_mismatch=False):
        """Load weights from a ``.weights.h5`` or ``.keras`` file (written by Keras or course_lib), or Keras 2's ``.h5``."""
        from course_lib import saving

        saving.load_weights(self, filepath, skip_mismatch=skip_mismatch)

    def save(self, filepath, overwrite=True, zipped=None, **kwargs):
        """Save architecture, weights and compile settings to a Keras 3 ``.keras`` file (see ``save_model``)."""
        from course_lib import saving

        saving.save_model(self, filepath, overwrite=overwrite, zipped=zipped, **kwargs)


class Sequential(Model):
    """A linear stack of layers (序贯模型): each layer's output is the next one's input.

    Args:
        layers: optional list of layers (an ``Input(...)`` may come first).
        name: the model's name.

    The input shape comes from an ``Input`` first, from the first layer's
    ``input_shape``/``input_dim``/``batch_input_shape``, or from the first batch
    the model sees.
    """

    def __init__(self, layers=None, name=None, trainable=True, **kwargs):
        Model.__init__(self, name=name, trainable=trainable, **kwargs)
        self._layers = []
        self._input_layer = None
        self.built = False
        self._own_nodes = []
        self._nodes = []
        for layer in layers or []:
            self.add(layer)

    @property
    def layers(self):
        return list(self._layers)

    def add(self, layer):
        """Append a layer (or an ``Input``) to the top of the stack."""
        if isinstance(layer, KerasTensor) and isinstance(layer.node.layer, InputLayer):
            layer = layer.node.layer
        if not isinstance(layer, Layer):
            raise TypeError(
                f"Sequential.add: expected a Layer instance. Received: {layer!r} "
                f"(of type {type(layer).__name__})"
            )
        if isinstance(layer, InputLayer):
            if self._layers or self._input_layer is not None:
                raise ValueError("Sequential.add: an Input can only be the first entry of the stack.")
            self._input_layer = layer
            self._build_from(layer.batch_shape)
            return
        if layer in self._layers:
            raise ValueError(f"Sequential.add: layer '{layer.name}' is already in the model.")
        if not self._layers and self._input_layer is None and layer._batch_input_shape is not None:
            self._input_layer = InputLayer(batch_shape=layer._batch_input_shape, dtype=layer._dtype)
        self._layers.append(layer)
        if self._input_layer is not None:
            self._build_from(self._input_layer.batch_shape)

    def pop(self):
        """Remove and return the top layer."""
        if not self._layers:
            raise TypeError("Sequential.pop: there are no layers in the model.")
        layer = self._layers.pop()
        if self._input_layer is not None:
            self._build_from(self._input_layer.batch_shape)
        return layer

    def build(self, input_shape=None):
        """Build every layer for inputs of ``input_shape`` (with the batch axis)."""
        if input_shape is None:
            self._require_built("build")
            return
        if self._input_layer is None:
            self._input_layer = InputLayer(batch_shape=tuple(input_shape))
        self._build_from(tuple(input_shape))

    def _build_from(self, batch_shape):
        # The stack is also recorded as a graph, so that `layer.output` and
        # `layer.input` work as in Keras; a rebuild (add, pop) replaces it.
        for node in self._own_nodes:
            if node in node.layer._inbound_nodes:
                node.layer._inbound_nodes.remove(node)
        tensor = self._input_layer.output
        self._own_nodes = []
        for layer in self._layers:
            if not layer.built:
                layer._path_prefix = f"{self.name}/"  # Keras builds them under the model's name scope
            tensor = layer._symbolic_call(tensor)
            self._own_nodes.append(tensor.node)
        # One engine: from here on the stack is a graph like any functional model's.
        self._init_graph(self._input_layer.output, tensor)

    @property
    def input_names(self):
        return [self._input_layer.name] if self._input_layer else ["input_layer"]

    @property
    def output_names(self):
        return [self._layers[-1].name] if self._layers else []

    def _standardize_inputs(self, inputs, where):
        if not self._layers:
            raise ValueError(f"Sequential model '{self.name}' has no layers yet: add some first.")
        if not self.built:
            # Like Keras: a model without an input shape builds on its first batch,
            # with an Input of the first layer's dtype.
            arrays = _structure_to_list(inputs, self.input_names, f"Model '{self.name}' {where}", "inputs")
            first = backend.as_numeric(arrays[0], f"Model '{self.name}'")
            self._input_layer = InputLayer(batch_shape=(None,) + first.shape[1:], dtype=self._layers[0].dtype)
            self._build_from(self._input_layer.batch_shape)
        return Model._standardize_inputs(self, inputs, where)

    def get_config(self):
        """Keras 3's Sequential config: the serialized layers, an InputLayer first when known."""
        entries = [layers_module.serialize(self._input_layer)] if self._input_layer is not None else []
        entries += [layers_module.serialize(layer) for layer in self._layers]
        config = {"name": self.name, "trainable": self.trainable, "dtype": dtype_policy(self.dtype),
                  "layers": entries}
        if self._input_layer is not None:
            config["build_input_shape"] = list(self._input_layer.batch_shape)
        return config

    @classmethod
    def from_config(cls, config, custom_objects=None):
        model = cls(name=config.get("name"), trainable=config.get("trainable", True))
        for entry in config["layers"]:
            model.add(layers_module.deserialize(entry, custom_objects, build=False))
        if model._input_layer is None and config.get("build_input_shape"):
            model.build(tuple(config["build_input_shape"]))
        return model


def save_model(model, filepath, overwrite=True, zipped=None, **kwargs):
    """``keras.models.save_model``: the same as ``model.save(filepath, ...)``, a Keras 3 ``.keras`` file."""
    from course_lib import saving

    if not isinstance(model, Model):
        raise TypeError(f"save_model: expected a course_lib model. Received: {model!r}")
    saving.save_model(model, filepath, overwrite=overwrite, zipped=zipped, **kwargs)


def load_model(filepath, custom_objects=None, compile=True, safe_mode=True):
    """Load a ``.keras`` file written by ``model.save`` (course_lib's or Keras's).

    ``safe_mode=True`` (Keras's default) refuses a ``Lambda`` whose function is a
    Python lambda: its saved bytecode would run on loading.
    """
    from course_lib import saving

    return saving.load_model(filepath, custom_objects=custom_objects, compile=compile, safe_mode=safe_mode)


def clone_model(model, input_tensors=None, clone_function=None):
    """A new Sequential or functional model with the same architecture and freshly initialised weights.

    As Keras's ``clone_model``: every layer is rebuilt by ``clone_function``
    (by default ``type(layer).from_config(layer.get_config())``) and the graph
    is called again on new Inputs (or on ``input_tensors``); a layer shared by
    several calls stays shared in the clone.
    """
    if clone_function is None:
        def clone_function(layer):
            return type(layer).from_config(layer.get_config())
    if model._traced:
        raise ValueError(
            f"clone_model: '{model.name}' is a subclassed model ({type(model).__name__}); as in Keras, "
            "clone_function and input_tensors apply to Sequential and functional models only. "
            "Rebuild it by calling its class again."
        )
    if isinstance(model, Sequential):
        start = input_tensors if input_tensors is not None else (
            [InputLayer(batch_shape=model._input_layer.batch_shape, dtype=model._input_layer.dtype)]
            if model._input_layer is not None else []
        )
        start = [start] if isinstance(start, KerasTensor) else list(start)
        return Sequential(start + [clone_function(layer) for layer in model.layers], name=model.name)
    clones, tensors = {}, {}
    given = None if input_tensors is None else (
        list(input_tensors) if isinstance(input_tensors, (list, tuple)) else [input_tensors]
    )
    for node in model._nodes:
        layer = node.layer
        if isinstance(layer, InputLayer):
            position = model.inputs.index(node.outputs[0])
            tensors[id(node.outputs[0])] = given[position] if given else InputLayer(
                batch_shape=layer.batch_shape, dtype=layer.dtype, name=layer.name).output
            continue
        args = [tensors[id(tensor)] for tensor in node.inputs]
        if is_operation(layer):  # `x + y` is applied again (with its constants), as Keras does
            tensors[id(node.outputs[0])] = layer.replay(args)
            continue
        clone = clones.setdefault(id(layer), clone_function(layer))
        results = clone(args if node.inputs_are_list else args[0])
        for tensor, result in zip(node.outputs, results if node.outputs_are_list else [results]):
            tensors[id(tensor)] = result
    inputs = [tensors[id(tensor)] for tensor in model.inputs]
    outputs = [tensors[id(tensor)] for tensor in model.outputs]
    return Model(inputs if model._inputs_are_list else inputs[0],
                 outputs if model._outputs_are_list else outputs[0], name=model.name)


def model_from_json(json_string, custom_objects=None):
    """Rebuild an (unbuilt-weights) model from :meth:`Model.to_json`'s or Keras's JSON."""
    return layers_module.deserialize(json.loads(json_string), custom_objects)


# ---------------------------------------------------------------- helpers
def _string_input(value, where):
    """A string input (``Input(dtype="string")``) as a host NumPy array of str: texts never go to the array module."""
    from course_lib.preprocessing.text import as_host_array

    return as_host_array(value, where, "string")


def _adjust_input_rank(array, expected):
    """Keras's leniency (Functional._adjust_input_rank): an array one axis longer than its Input whose last axis
    is 1 loses that axis, and one axis shorter gains it where the Input's last axis is 1 (MNIST's (N, 28, 28)
    images into ``Input((28, 28, 1))``)."""
    if array.ndim == len(expected) + 1 and array.shape[-1] == 1:
        return array[..., 0]
    if array.ndim == len(expected) - 1 and expected[-1] == 1:
        return array[..., None]
    return array


class _Caches(list):
    """One cache per node of a model call, the output shapes of the nodes that called add_loss,
    and the outputs of the nodes with an activity regularizer."""

    def __init__(self, items):
        super().__init__(items)
        self.loss_outputs = {}
        self.activity = {}  # node position -> (activity regularizer, the outputs it penalized)
        self.output_masks = []  # one boolean mask (or None) per model output


class _Plan(NamedTuple):
    nodes: set          # node positions whose backward runs
    input_grads: set    # ... and of those, the ones whose input gradients are needed
    needs: dict         # id(tensor) -> whether the tensor needs a gradient


def _node_config(node, keras_tensor):
    """Keras's record of one call of a layer, ``{"args": [...], "kwargs": {...}}``, tensors serialized.

    Most layers take one tensor or one list of tensors; a layer whose Keras
    call takes several tensor arguments (MultiHeadAttention's
    ``layer(query, value, key=...)``) gives them with ``call_arguments(node)``.
    """
    call_arguments = getattr(node.layer, "call_arguments", None)
    if call_arguments is None:
        return {"args": [[keras_tensor(t) for t in node.inputs] if node.inputs_are_list
                         else keras_tensor(node.inputs[0])], "kwargs": {}}
    args, kwargs = call_arguments(node)

    def convert(value):
        if isinstance(value, (list, tuple)):
            return [convert(item) for item in value]
        return keras_tensor(value) if isinstance(value, KerasTensor) else value

    return {"args": [convert(item) for item in args], "kwargs": {key: convert(item) for key, item in kwargs.items()}}


def _is_tensor_config(item):
    return isinstance(item, dict) and item.get("class_name") == "__keras_tensor__"


_MASK_OP_CLASSES = ("NotEqual", "ConvertToTensor")


def _keras_mask_ops(entries, outputs=()):
    """Names of the op layers Keras writes only to carry a mask (``NotEqual(ids, 0)`` -> ``ConvertToTensor``,
    and the ``keras.ops`` it combines masks with: ``Any``, ``ExpandDims``, ``LogicalOr``, ``Concatenate`` ...).

    Keras records an explicit mask argument (``mask=``, ``value_mask=`` ...) as
    these operations; course_lib recomputes masks by its mask protocol, so
    such layers are skipped, but only when nothing else uses their outputs (nor
    the model's ``outputs``: an arithmetic operation such as ``x + y`` stays).
    """
    candidates = {entry["name"] for entry in entries if entry.get("class_name") in _MASK_OP_CLASSES
                  or str(entry.get("module", "")).startswith("keras.src.ops")}
    while True:
        used_otherwise = set(outputs)
        for entry in entries:
            if entry["name"] in candidates:
                continue
            for call in entry.get("inbound_nodes") or []:
                kwargs = call.get("kwargs", {}) if isinstance(call, dict) else {}
                other = [call.get("args", []) if isinstance(call, dict) else call]
                other += [item for key, item in kwargs.items() if not key.endswith("mask")]
                used_otherwise |= {t["config"]["keras_history"][0] for t in _tensor_configs(other)}
        if not candidates & used_otherwise:
            return candidates
        candidates -= used_otherwise


def _tensor_configs_names(refs):
    """The layer names in a config's ``output_layers`` (one ``[name, node, index]``, a list or a dict of them)."""
    if isinstance(refs, dict):
        refs = list(refs.values())
    if not refs:
        return set()
    if isinstance(refs[0], str):
        refs = [refs]
    return {ref[0] for ref in refs}


class _OperationsView:
    """A functional model as ``print_summary`` reads it, with Keras's rows: ``operations`` for ``layers``."""

    def __init__(self, model):
        self._model = model

    @property
    def layers(self):
        return self._model.operations

    def __getattr__(self, name):
        return getattr(self._model, name)


def _names_a_mask_op(item, mask_ops):
    return any(t["config"]["keras_history"][0] in mask_ops for t in _tensor_configs(item))


def _tensor_configs(value):
    """The serialized tensors in a node's args/kwargs, in order (lists and dicts searched)."""
    if _is_tensor_config(value):
        return [value]
    if isinstance(value, dict):
        return [t for item in value.values() for t in _tensor_configs(item)]
    if isinstance(value, (list, tuple)):  # tuples: Keras's in-process serialize_keras_object writes them
        return [t for item in value for t in _tensor_configs(item)]
    return []


def _node_mask(node, masks):
    """The mask a node's layer receives: its input's, or one per input for a list (None when none)."""
    if not masks:
        return None
    if node.inputs_are_list:
        found = [masks.get(id(tensor)) for tensor in node.inputs]
        return found if any(mask is not None for mask in found) else None
    return masks.get(id(node.inputs[0]))


_MASK_WARNED = set()


def _warn_mask_dropped(layer):
    import warnings

    if id(layer) not in _MASK_WARNED:
        _MASK_WARNED.add(id(layer))
        warnings.warn(
            f"Layer '{layer.name}' ({type(layer).__name__}) does not support masking, but was passed "
            "an input with a mask attached to it. The mask stops here: downstream layers will not see "
            "it (as in Keras).",
            stacklevel=4,
        )


def _scaled(value, scale):
    """An array, a list of arrays (None kept) or a dict of them, times ``scale`` in each array's dtype."""
    if value is None:
        return None
    if isinstance(value, dict):
        return {name: _scaled(g, scale) for name, g in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_scaled(g, scale) for g in value)
    return value * value.dtype.type(scale)


def _accumulate(grads, key, value):
    grads[key] = grads[key] + value if key in grads else value


def _contains_symbolic(inputs):
    if isinstance(inputs, KerasTensor):
        return True
    return isinstance(inputs, (list, tuple)) and any(isinstance(i, KerasTensor) for i in inputs)


def _tensor_list(value, what):
    items = list(value.values()) if isinstance(value, dict) else (
        list(value) if isinstance(value, (list, tuple)) else [value]
    )
    for item in items:
        if not isinstance(item, KerasTensor):
            raise TypeError(
                f"Model: every entry of `{what}` must be a symbolic tensor (from keras.Input or a "
                f"layer called on one). Received: {type(item).__name__}"
            )
    return items


def _topological_nodes(outputs, inputs, model_name):
    """Every node between ``inputs`` and ``outputs``, each after the nodes it depends on.

    Returns:
        ``(nodes, first_seen)``: the nodes in execution order (a depth-first
        search from the outputs, as Keras walks the graph, then any input not
        used by an output) and, per layer, when the search first met it.
    """
    order, state, first_seen = [], {}, {}
    input_ids = {id(t) for t in inputs}

    def visit(tensor):
        node = tensor.node
        if node is None:
            raise ValueError(f"Model '{model_name}': tensor {tensor} was not produced by a layer.")
        if state.get(id(node)) == "done":
            return
        if isinstance(node.layer, InputLayer) and id(tensor) not in input_ids:
            raise ValueError(
                f"Model '{model_name}': graph disconnected: the output depends on input "
                f"'{node.layer.name}', which is not among the model's inputs "
                f"{[t.node.layer.name for t in inputs]}."
            )
        first_seen.setdefault(node.layer, len(first_seen))
        state[id(node)] = "visiting"
        for parent in node.inputs:
            visit(parent)
        state[id(node)] = "done"
        order.append(node)

    for tensor in outputs:
        visit(tensor)
    for tensor in inputs:
        if state.get(id(tensor.node)) != "done":
            first_seen[tensor.node.layer] = -1
            visit(tensor)
    return order, first_seen


def _depths(nodes):
    """Keras's depths (``map_graph``): ``({id(node): depth}, {layer: depth})``.

    A node's depth is its distance from the outputs (0 for an output); a layer
    called several times takes the largest depth of its calls.
    """
    node_depth, layer_depth = {}, {}
    for node in reversed(nodes):
        depth = max(node_depth.setdefault(id(node), 0), layer_depth.get(node.layer, 0))
        layer_depth[node.layer] = depth
        node_depth[id(node)] = depth
        for parent in node.inputs:
            key = id(parent.node)
            node_depth[key] = max(depth + 1, node_depth.get(key, 0))
    return node_depth, layer_depth


def _keras_layer_order(nodes, first_seen):
    """Layers in the order Keras lists them (and so orders ``get_weights``).

    Layers are listed from the deepest (the inputs) to depth 0 (see
    :func:`_depths`), ties broken by when the search from the outputs first met them.
    """
    layer_depth = _depths(nodes)[1]
    return sorted(layer_depth, key=lambda layer: (-layer_depth[layer], first_seen[layer]))


def _structure_to_list(value, names, where, what):
    """Accept one array, a list/tuple (one per model input or output) or a dict by name."""
    if isinstance(value, dict):
        missing = [name for name in names if name not in value]
        if missing:
            raise ValueError(
                f"{where}: the dict of {what} has keys {sorted(value)}, expected keys {names}."
            )
        return [value[name] for name in names]
    if isinstance(value, (list, tuple)) and len(names) > 1:
        if len(value) != len(names):
            raise ValueError(
                f"{where}: expected {len(names)} {what} ({names}), received a list of {len(value)}."
            )
        return list(value)
    if isinstance(value, (list, tuple)) and len(value) == 1 and hasattr(value[0], "shape"):
        return [value[0]]
    if len(names) > 1:
        raise ValueError(
            f"{where}: the model has {len(names)} {what} ({names}); pass a list or a dict of arrays. "
            f"Received: {type(value).__name__}"
        )
    return [value]
