"""course_lib: Keras's layers, losses, optimizers and training loop, from scratch in NumPy.

Write ``import course_lib as keras`` where a Keras tutorial writes
``from tensorflow import keras``: the names, arguments and numbers are the same.
"""
from course_lib import (
    activations,
    applications,
    backend,
    callbacks,
    config,
    constraints,
    datasets,
    initializers,
    layers,
    losses,
    metrics,
    models,
    ops,
    optimizers,
    preprocessing,
    random,
    regularizers,
    saving,
    tape,
    testing,
    utils,
)
from course_lib.layers import Input
from course_lib.models import Model, Sequential, load_model, model_from_json
from course_lib.tape import GradientTape

__version__ = "0.1.0"

__all__ = [
    "GradientTape", "Input", "Model", "Sequential", "activations", "applications", "backend", "callbacks", "initializers",
    "layers", "load_model", "losses", "model_from_json", "saving", "metrics", "tape", "models", "ops", "optimizers", "testing", "utils",
    "constraints", "regularizers", "preprocessing", "config", "datasets", "random",
]
