"""One small model with a layer that calls ``add_loss``, written for Keras 3 and for course_lib alike.

The layer penalises its inputs, ``0.05 * sum(x**2)``; in course_lib its
``backward`` adds the penalty's gradient ``0.1 * x`` itself, as a layer
with ``add_loss`` must. Used by the subclassing and the loss-scaling parity tests.
"""
import numpy as np

import course_lib as cl


def penalty_class(library):
    """The penalty layer for ``library`` (Keras 3 itself, or course_lib)."""
    if library is cl:
        class OurPenalty(cl.layers.Layer):
            def forward(self, inputs, training=False):
                self.add_loss(0.05 * np.sum(inputs ** 2))
                return inputs, inputs

            def backward(self, output_grads, inputs):
                return output_grads + 0.1 * inputs, {}  # the penalty's gradient is the layer's to add

        return OurPenalty

    class KerasPenalty(library.layers.Layer):
        def call(self, inputs):
            self.add_loss(0.05 * library.ops.sum(inputs ** 2))
            return inputs

    return KerasPenalty


def penalty_model(library):
    """Dense(4, tanh) -> the penalty layer -> Dense(1), seeded, not compiled."""
    library.utils.set_random_seed(0)
    inputs = library.Input((5,))
    hidden = penalty_class(library)()(library.layers.Dense(4, activation="tanh", name="hidden")(inputs))
    return library.Model(inputs, library.layers.Dense(1, name="out")(hidden))


def regression_data():
    generator = np.random.default_rng(0)
    return (generator.standard_normal((32, 5)).astype("float32"),
            generator.standard_normal((32, 1)).astype("float32"))
