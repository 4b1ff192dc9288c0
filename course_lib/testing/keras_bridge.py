"""The one bridge between course_lib and tf.keras: same architecture, same weights.

``from_keras(keras_model)`` rebuilds a Keras model in course_lib and copies its
weights; ``to_keras(model)`` does the reverse; ``copy_weights`` copies between
two existing models, matching layers by name (then by position).
TensorFlow is imported only when a function here needs it.
"""
from __future__ import annotations

import numpy as np

from course_lib import layers as layers_module
from course_lib.layers import lambda_layer


def _keras():
    import keras  # Keras 3 itself: tf.keras is the same library, but lacks the `saving` namespace

    return keras


def layer_from_keras(keras_layer):
    """A course_lib layer with the same configuration (not yet built) as ``keras_layer``.

    It goes through the same serialized form as the files both libraries
    write, so a Keras option course_lib lacks raises instead of being dropped.
    A Keras model used as a layer becomes a course_lib model, weights included.
    """
    if type(keras_layer).__name__ in ("Sequential", "Functional"):
        return from_keras(keras_layer)
    entry = _keras().saving.serialize_keras_object(keras_layer)
    entry.pop("build_config", None)
    with lambda_layer.safe_mode_scope(False):  # the caller's own layer, in this process
        return layers_module.deserialize(entry)


def from_keras(keras_model):
    """Rebuild a tf.keras Sequential or functional model in course_lib, with its weights."""
    # A model in this process, not a file from elsewhere: its lambdas are the caller's own code.
    with lambda_layer.safe_mode_scope(False):
        model = layers_module.deserialize(_keras().saving.serialize_keras_object(keras_model))
    copy_weights(keras_model, model)
    return model


def layer_to_keras(layer):
    """A tf.keras layer with the same configuration as a course_lib ``layer``."""
    from course_lib.models import Model

    if isinstance(layer, Model):
        return to_keras(layer)
    entry = layers_module.serialize(layer)
    entry.pop("build_config", None)
    return _keras().saving.deserialize_keras_object(entry)


def to_keras(model):
    """Rebuild a course_lib model in tf.keras (from the config course_lib saves), with its weights."""
    keras_model = _keras().saving.deserialize_keras_object(layers_module.serialize(model))
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
