"""The one bridge between course_lib and tf.keras: same architecture, same weights.

``from_keras(keras_model)`` rebuilds a Keras model in course_lib and copies its
weights; ``to_keras(model)`` does the reverse; ``copy_weights`` copies between
two existing models, matching layers by name (then by position).
TensorFlow is imported only when a function here needs it.
"""
from __future__ import annotations

import inspect

import numpy as np

from course_lib import layers as layers_module
from course_lib.layers.core import InputLayer
from course_lib.models import Model, Sequential

# Config keys that do not change the computation once weights are copied.
_DROPPED = ("dtype", "kernel_initializer", "bias_initializer", "kernel_regularizer", "bias_regularizer",
            "activity_regularizer", "kernel_constraint", "bias_constraint", "quantization_config",
            "build_config", "lora_rank", "lora_alpha")


def _accepted(cls, config):
    parameters = set()
    for klass in cls.__mro__:
        if "__init__" in klass.__dict__:
            parameters |= set(inspect.signature(klass.__init__).parameters)
    return {k: v for k, v in config.items() if k in parameters and k not in _DROPPED}


def _layer_class(name, where):
    cls = getattr(layers_module, name, None)
    if cls is None:
        raise ValueError(f"{where}: course_lib has no layer {name!r} to match the Keras layer.")
    return cls


def layer_from_keras(keras_layer):
    """A course_lib layer with the same configuration (not yet built) as ``keras_layer``.

    A Keras model used as a layer becomes a course_lib model, weights included.
    """
    if type(keras_layer).__name__ in ("Sequential", "Functional"):
        return from_keras(keras_layer)
    cls = _layer_class(type(keras_layer).__name__, "from_keras")
    config = dict(keras_layer.get_config())
    if isinstance(config.get("target_shape"), list):
        config["target_shape"] = tuple(config["target_shape"])
    return cls(**_accepted(cls, config))


def from_keras(keras_model):
    """Rebuild a tf.keras Sequential or functional model in course_lib, with its weights."""
    class_name = type(keras_model).__name__
    if class_name == "Sequential":
        model = Sequential(name=keras_model.name)
        model.add(layers_module.Input(batch_shape=tuple(keras_model.inputs[0].shape)))
        for keras_layer in keras_model.layers:
            model.add(layer_from_keras(keras_layer))
    else:
        model = _functional_from_keras(keras_model)
    copy_weights(keras_model, model)
    return model


def _functional_from_keras(keras_model):
    config = keras_model.get_config()
    produced = {}
    for entry in config["layers"]:
        if entry["class_name"] == "InputLayer":
            cfg = entry["config"]
            produced[(entry["name"], 0, 0)] = layers_module.Input(
                batch_shape=tuple(cfg["batch_shape"]), name=cfg["name"]
            )
    keras_layers = {layer.name: layer for layer in keras_model.layers}
    pending = [e for e in config["layers"] if e["class_name"] != "InputLayer"]
    ours = {}
    while pending:
        progressed = False
        for entry in list(pending):
            name = entry["name"]
            done = sum(1 for key in produced if key[0] == name)
            nodes = entry["inbound_nodes"]
            if done == len(nodes):
                pending.remove(entry)
                continue
            first = nodes[done]["args"][0]
            as_list = isinstance(first, list)
            histories = [t["config"]["keras_history"] for t in (first if as_list else [first])]
            if all(tuple(h) in produced for h in histories):
                layer = ours.setdefault(name, layer_from_keras(keras_layers[name]))
                args = [produced[tuple(h)] for h in histories]
                produced[(name, done, 0)] = layer(args if as_list else args[0])
                progressed = True
        if not progressed and pending:
            raise ValueError(f"from_keras: cannot rebuild the graph of model {keras_model.name!r}.")
    input_refs, inputs_are_list = _tensor_refs(config["input_layers"])
    output_refs, outputs_are_list = _tensor_refs(config["output_layers"])
    inputs = [produced[tuple(ref)] for ref in input_refs]
    outputs = [produced[tuple(ref)] for ref in output_refs]
    return Model(
        inputs if inputs_are_list else inputs[0],
        outputs if outputs_are_list else outputs[0],
        name=keras_model.name,
    )


def _tensor_refs(refs):
    """``(list of [layer_name, node_index, tensor_index], given_as_a_structure)``.

    Keras 3 writes a single input or output as one bare reference ``['x', 0, 0]``,
    a list of them as ``[['x', 0, 0], ...]`` and a dict as ``{'name': ref}``.
    """
    if isinstance(refs, dict):
        return list(refs.values()), True
    if refs and isinstance(refs[0], str):
        return [refs], False
    return list(refs), True


def layer_to_keras(layer):
    """A tf.keras layer with the same configuration as a course_lib ``layer``."""
    from tensorflow import keras

    if isinstance(layer, Model):
        return to_keras(layer)
    cls = getattr(keras.layers, type(layer).__name__)
    config = {k: v for k, v in layer.get_config().items() if k not in ("dtype", "batch_input_shape")}
    config = {k: v for k, v in config.items() if not k.endswith("_initializer")}
    return cls(**config)


def to_keras(model):
    """Rebuild a course_lib model in tf.keras, with its weights."""
    from tensorflow import keras

    if isinstance(model, Sequential):
        batch_shape = tuple(model.inputs[0].shape)
        keras_model = keras.Sequential(
            [keras.Input(batch_shape=batch_shape)] + [layer_to_keras(layer) for layer in model.layers],
            name=model.name,
        )
    else:
        tensors, made = {}, {}
        for node in model._nodes:
            layer = node.layer
            if isinstance(layer, InputLayer):
                tensors[id(node.outputs[0])] = keras.Input(batch_shape=layer.batch_shape, name=layer.name)
                continue
            keras_layer = made.setdefault(layer, layer_to_keras(layer))
            args = [tensors[id(t)] for t in node.inputs]
            results = keras_layer(args if node.inputs_are_list else args[0])
            for tensor, result in zip(node.outputs, results if node.outputs_are_list else [results]):
                tensors[id(tensor)] = result
        inputs = [tensors[id(t)] for t in model.inputs]
        outputs = [tensors[id(t)] for t in model.outputs]
        keras_model = keras.Model(
            inputs if model._inputs_are_list else inputs[0],
            outputs if model._outputs_are_list else outputs[0],
            name=model.name,
        )
    copy_weights(model, keras_model)
    return keras_model


def copy_weights(source, target):
    """Copy every weight from ``source`` to ``target`` (course_lib or tf.keras, either way).

    Layers are matched by name when both models have the same set of names
    among layers that hold weights, else by position.
    """
    def weighted(model):
        return [layer for layer in model.layers if layer.get_weights()]

    source_layers, target_layers = weighted(source), weighted(target)
    if len(source_layers) != len(target_layers):
        raise ValueError(
            f"copy_weights: the source has {len(source_layers)} layers with weights, the target "
            f"{len(target_layers)}: {[l.name for l in source_layers]} vs {[l.name for l in target_layers]}"
        )
    by_name = {layer.name: layer for layer in source_layers}
    if set(by_name) == {layer.name for layer in target_layers}:
        pairs = [(by_name[layer.name], layer) for layer in target_layers]
    else:
        pairs = list(zip(source_layers, target_layers))
    for from_layer, to_layer in pairs:
        values = [np.asarray(w) for w in from_layer.get_weights()]
        to_layer.set_weights(values)
