"""Tools to prove a layer right: gradient checks, the layer-test harness, the tf.keras bridge."""
from course_lib.testing.gradient_check import GradientReport, assert_gradients_close, check_gradients
from course_lib.testing.keras_bridge import copy_weights, from_keras, layer_from_keras, layer_to_keras, to_keras
from course_lib.testing.layer_test import layer_test

__all__ = [
    "GradientReport", "assert_gradients_close", "check_gradients", "copy_weights", "from_keras",
    "layer_from_keras", "layer_to_keras", "layer_test", "to_keras",
]
