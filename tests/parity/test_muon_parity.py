"""Muon through tf.keras and course_lib: the same steps for Muon's matrices and for the weights left to Adam.

The model has every kind of weight Muon sorts: an Embedding (left to Adam by
``exclude_embeddings``), a Conv1D kernel (rank 3: Adam), a wide and a tall
Dense kernel (Muon; the tall one is orthogonalized through its transpose),
biases (rank 1: Adam) and an output layer named in ``exclude_layers``.

Keras on TensorFlow hands Adam an Embedding's gradient as ``tf.IndexedSlices``
and sums the squares per occurrence (pinned in test_embedding_parity.py);
course_lib uses the dense gradient, as Keras on JAX does, so the Keras side
here densifies its gradients first. Measured against tf.keras 3.15 in
float32: weights within 2.3e-6 after 12 steps (the Newton-Schulz iterations
are matrix products summed in another order), the configs equal.
"""
import numpy as np
import pytest

import course_lib as cl
from course_lib.testing import from_keras

tf = pytest.importorskip("tensorflow")
keras = tf.keras

pytestmark = pytest.mark.parity

RTOL, ATOL = 1e-5, 1e-5


class DenseGradientMuon(keras.optimizers.Muon):
    """Keras's Muon, given dense gradients (see the module's docstring)."""

    def apply(self, grads, trainable_variables=None):
        grads = [tf.convert_to_tensor(g) if isinstance(g, tf.IndexedSlices) else g for g in grads]
        return super().apply(grads, trainable_variables)


def _model(lib):
    lib.utils.set_random_seed(0)
    inputs = lib.Input((6,), dtype="int32")
    x = lib.layers.Embedding(20, 8)(inputs)
    x = lib.layers.Conv1D(4, 3, activation="relu")(x)
    x = lib.layers.Flatten()(x)
    x = lib.layers.Dense(24, activation="tanh", name="wide")(x)  # kernel 16 x 24
    x = lib.layers.Dense(5, activation="tanh", name="tall")(x)  # kernel 24 x 5
    return lib.Model(inputs, lib.layers.Dense(3, activation="softmax", name="head")(x))


def _trained(kwargs, steps=12, keras_muon=DenseGradientMuon):
    generator = np.random.default_rng(0)
    x = generator.integers(0, 20, (steps * 8, 6)).astype("int32")
    y = generator.integers(0, 3, steps * 8)
    theirs = _model(keras)
    ours = from_keras(theirs)
    for muon, model in ((keras_muon, theirs), (cl.optimizers.Muon, ours)):
        model.compile(optimizer=muon(**kwargs), loss="sparse_categorical_crossentropy")
        model.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
    return theirs, ours


@pytest.mark.parametrize("kwargs", [
    {"learning_rate": 0.01, "exclude_layers": ["head"]},
    {"learning_rate": 0.02, "nesterov": False, "rms_rate": None, "weight_decay": 0.1, "adam_weight_decay": None},
    {"learning_rate": 0.01, "exclude_embeddings": False, "adam_lr_ratio": 0.5, "ns_steps": 3, "momentum": 0.8},
], ids=["default-rules", "plain-momentum-no-rms", "embedding-by-muon"])
def test_muon_trains_as_keras_s(kwargs):
    theirs, ours = _trained(kwargs)
    for weight, mine, keras_s in zip(theirs.weights, ours.get_weights(), theirs.get_weights()):
        np.testing.assert_allclose(mine, keras_s, rtol=RTOL, atol=ATOL, err_msg=weight.path)
    assert ours.optimizer.iterations == int(theirs.optimizer.iterations)
    # the same slots in the same order: a momentum per weight, a velocity after it for Adam's
    keras_slots = [v.numpy() for v in theirs.optimizer.variables[2:]]
    assert [s.shape for s in ours.optimizer.variables] == [s.shape for s in keras_slots]
    for mine, keras_s in zip(ours.optimizer.variables, keras_slots):
        np.testing.assert_allclose(mine, keras_s, rtol=RTOL, atol=ATOL)


def test_the_config_and_a_saved_model_carry_over_both_ways(tmp_path):
    theirs, ours = _trained({"learning_rate": 0.01, "exclude_layers": ["head"]}, steps=3,
                            keras_muon=keras.optimizers.Muon)
    keras_config, our_config = theirs.optimizer.get_config(), cl.saving.serialize_keras_object(ours.optimizer)["config"]
    keras_config.pop("name"), our_config.pop("name")  # numbered per process
    assert our_config == keras_config
    theirs.save(tmp_path / "keras.keras")
    ours.save(tmp_path / "ours.keras")
    reloaded = cl.models.load_model(tmp_path / "keras.keras")
    assert type(reloaded.optimizer) is cl.optimizers.Muon and reloaded.optimizer.exclude_layers == ["head"]
    for mine, keras_s in zip(reloaded.optimizer.variables, [v.numpy() for v in theirs.optimizer.variables[2:]]):
        np.testing.assert_array_equal(mine, keras_s)
    assert type(keras.models.load_model(tmp_path / "ours.keras").optimizer).__name__ == "Muon"
