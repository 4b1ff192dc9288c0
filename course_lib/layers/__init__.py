"""Layers with Keras's names, arguments and weight layouts, each with a backward pass."""
from course_lib.layers.base import InputSpec, KerasTensor, Layer
from course_lib.layers.core import Activation, Dense, Dropout, Flatten, Input, InputLayer, Reshape
from course_lib.layers.leaky_relu import LeakyReLU
from course_lib.layers.merging import (
    Add, Average, Concatenate, Maximum, Minimum, Multiply, Subtract,
    add, average, concatenate, maximum, minimum, multiply, subtract,
)

_CLASSES = {
    cls.__name__: cls
    for cls in (Activation, Add, Average, Concatenate, Dense, Dropout, Flatten, InputLayer, LeakyReLU,
                Maximum, Minimum, Multiply, Reshape, Subtract)
}

__all__ = sorted(_CLASSES) + [
    "Input", "InputSpec", "KerasTensor", "Layer", "add", "average", "concatenate", "maximum", "minimum",
    "multiply", "subtract", "serialize", "deserialize",
]


def serialize(layer):
    """``{'class_name': ..., 'config': ...}`` for a layer."""
    return {"class_name": type(layer).__name__, "config": layer.get_config()}


def deserialize(config, custom_objects=None):
    """Rebuild a layer from :func:`serialize`'s output."""
    from course_lib import models  # models import layers: look them up only now

    classes = dict(_CLASSES, Sequential=models.Sequential, Model=models.Model, Functional=models.Model,
                   **(custom_objects or {}))
    name = config.get("class_name")
    if name not in classes:
        raise ValueError(
            f"layers.deserialize: unknown layer class {name!r}. Known: {sorted(classes)}"
        )
    return classes[name].from_config(dict(config.get("config", {})))
