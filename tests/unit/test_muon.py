"""Muon in course_lib alone: what its iteration does to a matrix, which weights it leaves to Adam, its errors.

tf.keras is compared in tests/parity/test_muon_parity.py.
"""
import numpy as np
import pytest

import course_lib as cl


@pytest.mark.parametrize("shape", [(16, 24), (24, 5), (7, 7)])
def test_newton_schulz_pushes_every_singular_value_towards_one(shape):
    x = np.random.default_rng(0).standard_normal(shape) * np.linspace(0.2, 3, shape[1])
    before = np.linalg.svd(x, compute_uv=False)
    singular = np.linalg.svd(cl.optimizers.Muon().orthogonalize(x), compute_uv=False)
    # Muon's quintic does not converge to 1: it maps the normalized values into a band around it.
    assert before.max() / before.min() > 5
    assert singular.min() > 0.6 and singular.max() < 1.25
    np.testing.assert_allclose(cl.optimizers.Muon(ns_steps=0).orthogonalize(x), x / (np.linalg.norm(x) + 1e-7))


def test_which_weights_take_adam_s_step():
    dense = cl.layers.Dense(3, name="out")
    embedding = cl.layers.Embedding(10, 4)
    model = cl.Sequential([cl.Input((2,), dtype="int32"), embedding, cl.layers.Flatten(), cl.layers.Dense(5), dense])
    optimizer = cl.optimizers.Muon(exclude_layers=["out"])
    optimizer.build(model.trainable_weights)
    adam = [velocity is not None for velocity in optimizer._velocities]
    assert adam == [True, False, True, True, True]  # embedding, kernel (Muon), bias, excluded kernel and bias
    bare = cl.optimizers.Muon()
    bare.build([np.zeros((3, 4), "float32"), np.zeros(4, "float32")])  # no paths: by rank alone
    assert [velocity is not None for velocity in bare._velocities] == [False, True]
    slots = [(3, 4), (4,), (4,)]  # a momentum per weight, a velocity after the rank-1 one's
    assert [s.shape for s in bare.variables] == slots


@pytest.mark.parametrize("kwargs, error, message", [
    ({"exclude_layers": "head"}, TypeError, "exclude_layers must be a list of str"),
    ({"ns_steps": -1}, ValueError, "ns_steps must be an int >= 0"),
    ({"momentum": 1.5}, ValueError, "momentum"),
    ({"adam_beta_1": 1.0}, ValueError, "beta_1"),
    ({"rms_rate": "0.2"}, TypeError, "rms_rate"),
    ({"nesterov": "yes"}, TypeError, "nesterov"),
])
def test_bad_arguments_name_muon_and_the_argument(kwargs, error, message):
    with pytest.raises(error, match=f"Muon.*{message}"):
        cl.optimizers.Muon(**kwargs)


def test_orthogonalize_refuses_a_vector():
    with pytest.raises(ValueError, match="Muon: expected a gradient or momentum of at least 2 dimensions"):
        cl.optimizers.Muon().orthogonalize(np.ones(3))
