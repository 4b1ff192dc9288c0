"""Regularizers and constraints give Keras's numbers: penalties, their gradients, projections,
configs, files, and whole training runs with every kind of penalty and a constraint.

Measured (float32, this machine): penalties within 2e-7 relative of TensorFlow's and
their gradients within 1e-8 absolute; constraints within 1 ulp; train_on_batch losses
(4 SGD / Adam steps) within 1.8e-7 relative, fit histories and evaluate within 1e-7
relative, final weights within 1e-8. The tolerances below leave room for other BLAS.
"""
import json

import numpy as np
import pytest

import course_lib as cl
from course_lib import constraints, regularizers

tf = pytest.importorskip("tensorflow")
import keras  # noqa: E402  (Keras 3, the library tf.keras is)

pytestmark = pytest.mark.parity

RTOL, ATOL = 1e-5, 1e-6


def _random(shape, seed=0, zeros=False):
    x = np.random.default_rng(seed).standard_normal(shape).astype("float32")
    if zeros:  # exact zeros: the L1 subgradient (0, as TensorFlow's gradient of abs)
        x.reshape(-1)[::3] = 0.0
    return x


def _tf_value_and_gradient(regularizer, x):
    variable = tf.Variable(x)
    with tf.GradientTape() as tape:
        penalty = regularizer(variable)
    gradient = tape.gradient(penalty, variable)  # None where the penalty is a constant (L1L2())
    return float(penalty), np.zeros_like(x) if gradient is None else gradient.numpy()


ELEMENTWISE = [
    ("L1", {}), ("L1", {"l1": 0.3}), ("L2", {}), ("L2", {"l2": 0.25}),
    ("L1L2", {"l1": 0.01, "l2": 0.02}), ("L1L2", {"l2": 0.1}), ("L1L2", {}),
]
# OrthogonalRegularizer takes rank-2 weights only (the error: test_bad_inputs_raise_like_keras).
REGULARIZERS = [(name, kwargs, shape) for name, kwargs in ELEMENTWISE for shape in [(5, 4), (7,), (2, 3, 4)]] + [
    ("OrthogonalRegularizer", {}, (5, 4)), ("OrthogonalRegularizer", {"factor": 0.3, "mode": "columns"}, (5, 4)),
    ("OrthogonalRegularizer", {"mode": "rows"}, (3, 8)), ("OrthogonalRegularizer", {"mode": "columns"}, (8, 3)),
]


@pytest.mark.parametrize("name, kwargs, shape", REGULARIZERS)
def test_every_regularizer_value_and_gradient_match_tensorflow(name, kwargs, shape):
    x = _random(shape, seed=len(shape), zeros=True)
    if name == "OrthogonalRegularizer":
        x[1] = 0.0  # a zero row: the clamp of the inverse norm at 1/epsilon
    value, gradient = _tf_value_and_gradient(getattr(keras.regularizers, name)(**kwargs), x)
    ours = getattr(regularizers, name)(**kwargs)
    penalty = ours(x)
    assert penalty.ndim == 0 and penalty.dtype == np.float32
    np.testing.assert_allclose(float(penalty), value, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(ours.gradient(x), gradient, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("name, kwargs", [("L1", {"l1": 0.01}), ("L2", {"l2": 0.01}), ("L1L2", {"l1": 0.1, "l2": 0.01})])
def test_factors_go_through_float32_even_on_float64_weights_as_in_keras(name, kwargs):
    x = np.random.default_rng(5).standard_normal((4, 3))  # float64
    value, gradient = _tf_value_and_gradient(getattr(keras.regularizers, name)(**kwargs), x)
    ours = getattr(regularizers, name)(**kwargs)
    assert ours(x).dtype == np.float64
    np.testing.assert_allclose(float(ours(x)), value, rtol=1e-15)
    np.testing.assert_allclose(ours.gradient(x), gradient, rtol=1e-15)
    assert float(regularizers.L2(0.01)(np.ones(3))) == 3 * float(np.float32(0.01)) != 0.03


CONSTRAINTS = [
    ("MaxNorm", {}), ("MaxNorm", {"max_value": 0.5, "axis": 1}), ("MaxNorm", {"max_value": 1.5, "axis": [0, 1]}),
    ("MaxNorm", {"max_value": 1.0, "axis": -1}), ("NonNeg", {}), ("UnitNorm", {}), ("UnitNorm", {"axis": (0, 2)}),
    ("MinMaxNorm", {}), ("MinMaxNorm", {"min_value": 0.5, "max_value": 1.2, "rate": 0.7, "axis": 1}),
    ("MinMaxNorm", {"min_value": 2.0, "max_value": 3.0, "axis": [1, 2]}),
]


@pytest.mark.parametrize("name, kwargs", CONSTRAINTS)
def test_every_constraint_matches_keras(name, kwargs):
    w = _random((4, 3, 5), seed=2) * 0.7
    w[:, 0] = 0.0  # a slice of norm 0: the epsilon keeps it at 0
    expected = getattr(keras.constraints, name)(**kwargs)(tf.constant(w)).numpy()
    projected = getattr(constraints, name)(**kwargs)(w)
    assert projected.dtype == np.float32
    np.testing.assert_allclose(projected, expected, rtol=2e-7, atol=1e-8)


def test_get_serialize_and_configs_equal_keras():
    pairs = [
        (regularizers.L1(0.5), keras.regularizers.L1(0.5)), (regularizers.L1(), keras.regularizers.L1()),
        (regularizers.l2(0.003), keras.regularizers.l2(0.003)), (regularizers.l1_l2(0.1, 0.2), keras.regularizers.l1_l2(0.1, 0.2)),
        (regularizers.L1L2(), keras.regularizers.L1L2()),
        (regularizers.OrthogonalRegularizer(0.3, "columns"), keras.regularizers.OrthogonalRegularizer(0.3, "columns")),
        (constraints.MaxNorm(3.5, axis=(0, 1)), keras.constraints.MaxNorm(3.5, axis=(0, 1))),
        (constraints.non_neg(), keras.constraints.non_neg()), (constraints.UnitNorm([0, 1]), keras.constraints.UnitNorm([0, 1])),
        (constraints.min_max_norm(0.5, 2.0, 0.7, 1), keras.constraints.min_max_norm(0.5, 2.0, 0.7, 1)),
        (constraints.Constraint(), keras.constraints.Constraint()),
    ]
    for ours, theirs in pairs:
        module = regularizers if isinstance(ours, regularizers.Regularizer) else constraints
        their_module = keras.regularizers if module is regularizers else keras.constraints
        assert module.serialize(ours) == their_module.serialize(theirs)
        assert ours.get_config() == theirs.get_config()
        rebuilt = module.deserialize(their_module.serialize(theirs))
        assert type(rebuilt) is type(ours) and rebuilt.get_config() == theirs.get_config()
        assert their_module.deserialize(module.serialize(ours)).get_config() == ours.get_config()
        assert type(ours).from_config(ours.get_config()).get_config() == ours.get_config()
    for name in ["l1", "l2", "l1l2", "L1", "L2", "L1L2", "orthogonal_regularizer", "OrthogonalRegularizer"]:
        assert regularizers.serialize(regularizers.get(name)) == keras.regularizers.serialize(keras.regularizers.get(name))
        assert regularizers.deserialize(name).get_config() == keras.regularizers.deserialize(name).get_config()
    for name in ["max_norm", "MaxNorm", "non_neg", "unit_norm", "UnitNorm", "min_max_norm", "MinMaxNorm"]:
        assert constraints.serialize(constraints.get(name)) == keras.constraints.serialize(keras.constraints.get(name))
    for value in [None, "l2"]:
        assert regularizers.serialize(value) == keras.regularizers.serialize(value)
    # Keras's get knows 'l1l2', not 'l1_l2' (only the function alias is spelled so).
    for module in (regularizers, keras.regularizers):
        with pytest.raises(ValueError, match="Could not interpret regularizer identifier: l1_l2"):
            module.get("l1_l2")
    # The aliases are the classes themselves, as in Keras.
    assert regularizers.l1 is regularizers.L1 and keras.regularizers.l1 is keras.regularizers.L1
    assert constraints.max_norm is constraints.MaxNorm and keras.constraints.max_norm is keras.constraints.MaxNorm


def test_bad_inputs_raise_like_keras():
    for bad in [-1, -0.5, float("nan"), float("inf"), "x", np.float32(0.1)]:
        with pytest.raises(ValueError, match="Invalid value for argument l2: expected a non-negative float"):
            keras.regularizers.L2(bad)
        with pytest.raises(ValueError, match=r"L2: Invalid value for argument l2: expected a non-negative float\. Received: l2="):
            regularizers.L2(bad)
    for module in (regularizers, keras.regularizers):
        with pytest.raises(ValueError, match="Could not interpret regularizer identifier: l3"):
            module.get("l3")
        with pytest.raises(ValueError, match="Could not interpret regularizer identifier: 5"):
            module.get(5)
        with pytest.raises(ValueError, match="Inputs to OrthogonalRegularizer must have rank 2"):
            module.OrthogonalRegularizer()(np.ones((2, 2, 2), "float32"))
        with pytest.raises(ValueError, match="Invalid value for argument `mode`"):
            module.OrthogonalRegularizer(mode="diagonal")
    for module in (constraints, keras.constraints):
        with pytest.raises(ValueError, match="Could not interpret constraint identifier: l3"):
            module.get("l3")
    # Keras only fails inside TensorFlow's reduction; course_lib says which axis and shape.
    with pytest.raises(tf.errors.InvalidArgumentError):
        keras.constraints.MaxNorm(axis=5)(tf.ones((2, 3)))
    with pytest.raises(ValueError, match=r"MaxNorm: axis=5 is not valid for a weight of shape \(2, 3\)"):
        constraints.MaxNorm(axis=5)(np.ones((2, 3), "float32"))


def _regularized_dense(library, **extra):
    return library.layers.Dense(
        4, activation="relu", name="hidden", kernel_regularizer=library.regularizers.l2(1e-3),
        bias_regularizer=library.regularizers.l1(0.01), activity_regularizer=library.regularizers.l1_l2(1e-3, 1e-2),
        kernel_constraint=library.constraints.max_norm(1.0), bias_constraint="non_neg", **extra)


def test_dense_config_and_the_bridge_round_trip_equal_keras():
    theirs, ours = _regularized_dense(keras), _regularized_dense(cl)
    assert ours.get_config() == theirs.get_config()
    assert json.dumps(ours.get_config(), sort_keys=True) == json.dumps(theirs.get_config(), sort_keys=True)
    assert cl.testing.layer_from_keras(theirs).get_config() == theirs.get_config()
    assert cl.testing.layer_to_keras(ours).get_config() == ours.get_config()
    assert cl.layers.Dense(3).get_config().keys() == keras.layers.Dense(3).get_config().keys()
    # Keras's base Layer writes activity_regularizer only when one is set, for every layer.
    # (Named, so that the automatic names of other tests' layers do not matter.)
    for ours, theirs in [(cl.layers.Activation("relu", activity_regularizer="l2", name="a"),
                          keras.layers.Activation("relu", activity_regularizer="l2", name="a")),
                         (cl.layers.Dropout(0.1, activity_regularizer="l1", name="d"),
                          keras.layers.Dropout(0.1, activity_regularizer="l1", name="d")),
                         (cl.layers.Flatten(name="f"), keras.layers.Flatten(name="f"))]:
        assert ours.get_config() == theirs.get_config()


def _keras_model(output_activation="softmax"):
    keras.utils.set_random_seed(0)
    return keras.Sequential([
        keras.Input((6,)),
        _regularized_dense(keras),
        keras.layers.Dense(3, activation=output_activation, activity_regularizer=keras.regularizers.L2(0.05),
                           kernel_regularizer="l1", name="out"),
    ], name="regularized")


def _data(samples=20):
    generator = np.random.default_rng(0)
    return generator.standard_normal((samples, 6)).astype("float32"), generator.integers(0, 3, samples)


def _max_relative(ours, theirs):
    ours, theirs = np.asarray(ours, "float64"), np.asarray(theirs, "float64")
    return float(np.max(np.abs(ours - theirs) / np.maximum(np.abs(theirs), 1e-12)))


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_regularized_training_matches_keras(optimizer):
    """Weight penalties (L2 kernel, L1 bias at its zero start), activity penalties (L1L2, and L2 on a
    softmax output scored from logits), a binding max-norm constraint and a non-neg bias constraint."""
    x, y = _data()
    theirs = _keras_model()
    ours = cl.testing.from_keras(theirs)
    assert np.max(np.linalg.norm(theirs.layers[0].kernel.numpy(), axis=0)) > 1.0  # the constraint binds
    theirs.compile(optimizer, "sparse_categorical_crossentropy")
    ours.compile(optimizer, "sparse_categorical_crossentropy")

    their_losses = [float(theirs.train_on_batch(x, y)) for _ in range(4)]
    our_losses = [ours.train_on_batch(x, y) for _ in range(4)]
    np.testing.assert_allclose(our_losses, their_losses, rtol=RTOL)
    assert np.max(np.linalg.norm(ours.layers[0].kernel.numpy(), axis=0)) <= 1.0
    np.testing.assert_allclose(ours.test_on_batch(x, y), float(theirs.test_on_batch(x, y)), rtol=RTOL)

    kwargs = dict(epochs=3, batch_size=8, shuffle=False, verbose=0)  # a last batch of 4: per-call batch sizes
    their_history = theirs.fit(x, y, **kwargs).history
    our_history = ours.fit(x, y, **kwargs).history
    np.testing.assert_allclose(our_history["loss"], their_history["loss"], rtol=RTOL)
    np.testing.assert_allclose(ours.evaluate(x, y, verbose=0), theirs.evaluate(x, y, verbose=0), rtol=RTOL)
    for mine, expected in zip(ours.get_weights(), theirs.get_weights(), strict=True):
        np.testing.assert_allclose(mine, expected, rtol=RTOL, atol=ATOL)
    # model.losses: activity penalties of the last call, then the weight penalties (Keras's order).
    theirs(x), ours(x)
    np.testing.assert_allclose([float(v) for v in ours.losses], [float(v) for v in theirs.losses], rtol=RTOL)


def test_a_nested_regularized_model_matches_keras():
    def build(library):
        inner = library.Sequential([library.Input((6,)), _regularized_dense(library)], name="inner")
        inputs = library.Input((6,))
        hidden = inner(inputs)
        outputs = library.layers.Dense(1, kernel_regularizer=library.regularizers.L2(0.1), name="head")(hidden)
        return library.Model(inputs, outputs)

    keras.utils.set_random_seed(1)
    theirs = build(keras)
    ours = cl.testing.from_keras(theirs)
    x, _ = _data()
    target = np.sin(x[:, :1])
    for model in (theirs, ours):
        model.compile(keras.optimizers.Adam(0.01) if model is theirs else cl.optimizers.Adam(0.01), "mse")
    their_losses = [float(theirs.train_on_batch(x, target)) for _ in range(3)]
    our_losses = [ours.train_on_batch(x, target) for _ in range(3)]
    np.testing.assert_allclose(our_losses, their_losses, rtol=RTOL)
    np.testing.assert_allclose(ours.evaluate(x, target, verbose=0), theirs.evaluate(x, target, verbose=0), rtol=RTOL)
    for mine, expected in zip(ours.get_weights(), theirs.get_weights(), strict=True):
        np.testing.assert_allclose(mine, expected, rtol=RTOL, atol=ATOL)


def test_regularized_models_cross_in_keras_files_both_ways(tmp_path):
    x, y = _data()
    theirs = _keras_model()
    theirs.compile("adam", "sparse_categorical_crossentropy")
    theirs.save(tmp_path / "keras.keras")
    loaded = cl.models.load_model(tmp_path / "keras.keras")
    for mine, expected in zip(loaded.layers, theirs.layers, strict=True):
        assert mine.get_config() == expected.get_config()
    np.testing.assert_allclose(loaded.evaluate(x, y, verbose=0), theirs.evaluate(x, y, verbose=0), rtol=RTOL)

    ours = cl.testing.from_keras(_keras_model())
    ours.compile("adam", "sparse_categorical_crossentropy")
    ours.fit(x, y, epochs=1, batch_size=10, shuffle=False, verbose=0)
    ours.save(tmp_path / "ours.keras")
    reloaded = keras.models.load_model(tmp_path / "ours.keras")
    for mine, expected in zip(ours.layers, reloaded.layers, strict=True):
        assert mine.get_config() == expected.get_config()
    assert isinstance(reloaded.layers[0].kernel.constraint, keras.constraints.MaxNorm)
    assert isinstance(reloaded.layers[0].kernel.regularizer, keras.regularizers.L2)
    np.testing.assert_allclose(ours.evaluate(x, y, verbose=0), reloaded.evaluate(x, y, verbose=0), rtol=RTOL)
    # Both go on training to the same losses (the Adam moments came along too).
    kwargs = dict(epochs=2, batch_size=10, shuffle=False, verbose=0)
    np.testing.assert_allclose(ours.fit(x, y, **kwargs).history["loss"], reloaded.fit(x, y, **kwargs).history["loss"],
                               rtol=RTOL)
