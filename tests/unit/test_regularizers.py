"""Regularizers and constraints without TensorFlow: formulas, gradients, configs, errors, the engine.

The engine's gradient of the regularized training loss is checked in float64
against finite differences of the loss ``test_on_batch`` reports. The engine's
gradient is read off one real training step: with ``SGD(learning_rate=1)`` and
no constraint, ``train_on_batch`` moves every weight by exactly minus the
gradient the engine computed (loss step, backprop, activity and weight
penalty gradients), so ``before - after`` is that gradient; the weights are
then put back. The loss is the total ``test_on_batch`` reports, read just
before its float32 loss tracker rounds it (see ``_reported_loss``). (Parity with Keras's numbers is in
tests/parity/test_regularizers_parity.py.)
"""
import numpy as np
import pytest

import course_lib as cl
from course_lib import backend, constraints, layers, regularizers
from course_lib.variables import Variable


def _finite_difference(function, x, step=1e-6):
    x = np.array(x, dtype="float64")
    grad = np.zeros_like(x)
    for index in np.ndindex(x.shape):
        plus, minus = x.copy(), x.copy()
        plus[index] += step
        minus[index] -= step
        grad[index] = (float(function(plus)) - float(function(minus))) / (2 * step)
    return grad


# ------------------------------------------------------------------ regularizers
def test_penalties_are_keras_formulas_and_0d_arrays():
    x = np.array([[1.0, -2.0], [0.0, 3.0]], "float32")
    assert float(regularizers.L2(2.0)(np.ones((5, 5), "float32"))) == 50.0  # Keras's docstring example
    np.testing.assert_allclose(float(regularizers.L1(0.5)(x)), 0.5 * 6)
    np.testing.assert_allclose(float(regularizers.L2(0.1)(x)), 0.1 * 14, rtol=1e-6)
    np.testing.assert_allclose(float(regularizers.L1L2(0.5, 0.1)(x)), 3 + 1.4, rtol=1e-6)
    for regularizer in (regularizers.L1(), regularizers.L2(), regularizers.L1L2(), regularizers.Regularizer(),
                        regularizers.OrthogonalRegularizer()):
        penalty = regularizer(x)
        assert isinstance(penalty, np.ndarray) and penalty.ndim == 0 and penalty.dtype == np.float32
        assert regularizer.gradient(x).shape == x.shape and regularizer.gradient(x).dtype == np.float32
    assert float(regularizers.L1L2()(x)) == 0.0 and not regularizers.L1L2().gradient(x).any()
    # A Variable is penalized through its array.
    variable = Variable(x.copy(), "kernel", layers.Dense(1))
    assert float(regularizers.L2(0.1)(variable)) == float(regularizers.L2(0.1)(x))


def test_the_l1_subgradient_at_zero_is_zero():
    x = np.array([-1.0, 0.0, 2.0], "float32")
    np.testing.assert_array_equal(regularizers.L1(0.5).gradient(x), np.float32(0.5) * np.array([-1, 0, 1], "float32"))
    np.testing.assert_array_equal(regularizers.L1L2(0.5, 0.0).gradient(x)[1], 0.0)


@pytest.mark.parametrize("regularizer", [
    regularizers.L1(0.3), regularizers.L2(0.2), regularizers.L1L2(0.1, 0.4),
    regularizers.OrthogonalRegularizer(0.5), regularizers.OrthogonalRegularizer(0.5, mode="columns"),
], ids=["l1", "l2", "l1l2", "orthogonal_rows", "orthogonal_columns"])
def test_every_gradient_matches_finite_differences_in_float64(regularizer):
    x = np.random.default_rng(0).standard_normal((4, 5))
    np.testing.assert_allclose(regularizer.gradient(x), _finite_difference(regularizer, x), rtol=1e-6, atol=1e-8)


def test_orthogonal_regularizer_is_zero_for_orthogonal_rows():
    q = np.linalg.qr(np.random.default_rng(1).standard_normal((5, 5)))[0][:3]
    assert abs(float(regularizers.OrthogonalRegularizer(1.0)(q))) < 1e-12
    np.testing.assert_allclose(float(regularizers.OrthogonalRegularizer(1.0)(np.ones((3, 4)))), 1.0)


def test_get_names_defaults_and_round_trips():
    assert regularizers.get(None) is None
    assert regularizers.get("l1").get_config() == {"l1": float(np.float32(0.01))}  # float32, as Keras
    assert regularizers.get("l2").get_config() == {"l2": 0.01}
    assert regularizers.get("l1l2").get_config() == {"l1": 0.0, "l2": 0.0}  # Keras's defaults of L1L2
    assert regularizers.get("orthogonal_regularizer").get_config() == {"factor": float(np.float32(0.01)), "mode": "rows"}
    assert isinstance(regularizers.get(regularizers.L2), regularizers.L2)
    instance = regularizers.L2(0.3)
    assert regularizers.get(instance) is instance

    def penalty(x):
        return 0.1 * backend.xp.sum(x)

    assert regularizers.get(penalty) is penalty
    assert regularizers.serialize(penalty) == {"module": "builtins", "class_name": "function", "config": "penalty",
                                               "registered_name": "function"}
    assert regularizers.serialize(instance) == {"module": "keras.regularizers", "class_name": "L2",
                                                "config": {"l2": 0.3}, "registered_name": None}
    for regularizer in (regularizers.L1(0.2), regularizers.L1L2(0.1, 0.2), regularizers.OrthogonalRegularizer(0.1, "columns")):
        for rebuilt in (regularizers.deserialize(regularizers.serialize(regularizer)),
                        regularizers.get(regularizers.serialize(regularizer)),
                        type(regularizer).from_config(regularizer.get_config())):
            assert type(rebuilt) is type(regularizer) and rebuilt.get_config() == regularizer.get_config()
    assert regularizers.deserialize("L2").get_config() == {"l2": 0.01}
    assert constraints.get("max_norm").get_config() == {"max_value": 2, "axis": 0}
    assert constraints.get("MinMaxNorm").get_config() == {"min_value": 0.0, "max_value": 1.0, "rate": 1.0, "axis": 0}
    for constraint in (constraints.MaxNorm(3, [0, 1]), constraints.NonNeg(), constraints.UnitNorm(1),
                       constraints.MinMaxNorm(0.1, 0.9, 0.5, 1)):
        rebuilt = constraints.deserialize(constraints.serialize(constraint))
        assert type(rebuilt) is type(constraint) and rebuilt.get_config() == constraint.get_config()
    assert constraints.serialize(None) is None and constraints.get(None) is None


def test_a_registered_regularizer_of_your_own_serializes_with_its_name():
    @cl.saving.register_keras_serializable(package="regularizer_tests")
    class Sum(regularizers.Regularizer):
        def __init__(self, factor=1.0):
            self.factor = factor

        def __call__(self, x):
            return backend.xp.asarray(self.factor * backend.xp.sum(x))

        def gradient(self, x):
            return backend.xp.full_like(x, self.factor)

        def get_config(self):
            return {"factor": self.factor}

    entry = regularizers.serialize(Sum(2.0))
    assert entry["registered_name"] == "regularizer_tests>Sum" and entry["config"] == {"factor": 2.0}
    rebuilt = regularizers.deserialize(entry)
    assert type(rebuilt) is Sum and rebuilt.factor == 2.0
    with pytest.raises(TypeError, match="does not implement get_config"):
        regularizers.serialize(regularizers.Regularizer())


def test_bad_factors_names_and_axes_raise_clear_errors():
    for name, make in (("L1", regularizers.L1), ("L2", regularizers.L2), ("L1L2", regularizers.L1L2)):
        argument = name.lower()[:2]
        with pytest.raises(ValueError, match=rf"{name}: Invalid value for argument {argument}: expected a non-negative "
                                             rf"float\. Received: {argument}=-0\.5"):
            make(-0.5)
        for bad in (float("nan"), float("inf"), "0.1"):
            with pytest.raises(ValueError, match=rf"{name}: Invalid value for argument {argument}"):
                make(bad)
    with pytest.raises(ValueError, match="L1L2: Invalid value for argument l2.*Received: l2=-1"):
        regularizers.L1L2(0.1, -1)
    with pytest.raises(ValueError, match="OrthogonalRegularizer: Invalid value for argument factor"):
        regularizers.OrthogonalRegularizer(-1.0)
    with pytest.raises(ValueError, match=r"Could not interpret regularizer identifier: l3\. Known names: \[.*'l1l2'.*'l2'"):
        regularizers.get("l3")
    with pytest.raises(ValueError, match=r"Could not interpret regularizer identifier: L3\. Known names"):
        regularizers.deserialize({"class_name": "L3", "config": {}})
    with pytest.raises(ValueError, match="cannot be rebuilt from its name"):
        regularizers.deserialize({"class_name": "function", "config": "mine"})
    with pytest.raises(ValueError, match="Could not interpret regularizer identifier: 3"):
        regularizers.get(3)
    with pytest.raises(ValueError, match=r"Could not interpret constraint identifier: maxnorm\. Known names: \[.*'max_norm'"):
        constraints.get("maxnorm")
    for bad in ("0", 1.5, [], [0, "1"], True):
        with pytest.raises(ValueError, match="MaxNorm: axis must be an int or a list/tuple of ints"):
            constraints.MaxNorm(axis=bad)
    with pytest.raises(ValueError, match=r"UnitNorm: axis=2 is not valid for a weight of shape \(3, 4\) \(rank 2\)"):
        constraints.UnitNorm(axis=2)(np.ones((3, 4), "float32"))
    with pytest.raises(ValueError, match=r"MinMaxNorm: axis=\[0, -2\] is not valid"):
        constraints.MinMaxNorm(axis=[0, -2])(np.ones((3, 4), "float32"))
    with pytest.raises(ValueError, match="MaxNorm: max_value must be a real number"):
        constraints.MaxNorm("2")
    with pytest.raises(ValueError, match="Invalid value for attribute `regularizer`. Expected a callable"):
        layers.Dense(2).add_weight("w", (2,)).regularizer = 0.1
    with pytest.raises(ValueError, match="Invalid value for attribute `constraint`. Expected a callable"):
        layers.Dense(2).add_weight("w", (2,)).constraint = "max"
    with pytest.raises(ValueError, match="Dense: `quantization_config` is not supported"):
        layers.Dense(2, quantization_config={"mode": "int8"})


# ------------------------------------------------------------------- constraints
def test_constraints_are_keras_formulas_with_epsilon_outside_the_sqrt():
    w = np.random.default_rng(2).standard_normal((4, 3)).astype("float32")
    norms = np.sqrt(np.sum(np.square(w), axis=0, keepdims=True))
    np.testing.assert_allclose(constraints.MaxNorm(1.0)(w), w * (np.clip(norms, 0, 1.0) / (1e-7 + norms)), rtol=1e-7)
    np.testing.assert_allclose(constraints.UnitNorm()(w), w / (1e-7 + norms), rtol=1e-7)
    desired = 0.5 * np.clip(norms, 0.2, 0.8) + 0.5 * norms
    np.testing.assert_allclose(constraints.MinMaxNorm(0.2, 0.8, 0.5)(w), w * (desired / (1e-7 + norms)), rtol=1e-7)
    np.testing.assert_array_equal(constraints.NonNeg()(w), np.maximum(w, 0))
    np.testing.assert_array_equal(constraints.Constraint()(w), w)
    # Even inside the bound a weight moves by about epsilon / norm, as in Keras.
    small = np.full((2, 1), 0.1, "float32")
    assert not np.array_equal(constraints.MaxNorm(10.0)(small), small)
    rows = np.sqrt(np.sum(np.square(constraints.UnitNorm(axis=1)(w)), axis=1))
    np.testing.assert_allclose(rows, 1.0, rtol=1e-6)
    assert constraints.MaxNorm(2.0)(w).dtype == np.float32


@pytest.mark.parametrize("optimizer", ["sgd", "adam", "rmsprop", "adagrad", "adadelta", "adamax", "nadam"])
def test_every_optimizer_applies_constraints_after_the_update(optimizer):
    """Keras's order: update every variable, then project each that has a constraint."""
    generator = np.random.default_rng(3)
    start = generator.standard_normal((4, 3)).astype("float32")
    grads = [generator.standard_normal((4, 3)).astype("float32") for _ in range(3)]
    layer = layers.Dense(3)
    constrained = layer.add_weight("kernel", (4, 3), constraint=constraints.MaxNorm(0.5))
    free = layer.add_weight("free", (4, 3), constraint=constraints.NonNeg())
    plain = np.array(start)
    constrained.assign(start)
    free.assign(start)
    ours = cl.optimizers.get({"class_name": optimizer, "config": {"learning_rate": 0.1}})
    reference = cl.optimizers.get({"class_name": optimizer, "config": {"learning_rate": 0.1}})
    for step, grad in enumerate(grads):
        # The variable `free` gets no gradient: Keras neither updates nor projects it.
        with pytest.warns(UserWarning, match="gradients do not exist"):
            ours.apply([grad, None], [constrained, free])
        reference.apply([grad], [plain])
        plain[...] = constraints.MaxNorm(0.5)(plain)
        np.testing.assert_array_equal(constrained.numpy(), plain, err_msg=f"step {step}")
    np.testing.assert_array_equal(free.numpy(), start)
    assert np.max(np.linalg.norm(constrained.numpy(), axis=0)) <= 0.5
    # Built on Variables, apply() without variables still applies their constraints.
    ours.apply([grads[0], grads[0]])
    assert np.all(free.numpy() >= 0)


# ------------------------------------------------------------------------- engine
def _engine_gradients(model, x, y):
    """The gradient of the training loss the engine applies, read off one SGD(1.0) step (see the module docstring)."""
    before = model.get_weights()
    model.train_on_batch(x, y)
    after = model.get_weights()
    model.set_weights(before)
    return [b - a for b, a in zip(before, after)]


def _reported_loss(model, x, y):
    """The loss ``test_on_batch`` reports, read before its float32 Mean tracker rounds it.

    (Keras's loss tracker is float32 too; finite differences need the float64 total.)
    """
    captured = []
    track = model._update_trackers

    def capture(trackers, batch_size, total, *rest):
        captured.append(total)
        return track(trackers, batch_size, total, *rest)

    model._update_trackers = capture
    try:
        reported = model.test_on_batch(x, y)
    finally:
        del model._update_trackers
    assert captured[0] == pytest.approx(reported, rel=1e-6)
    return captured[0]


def _check_regularized_gradients(model, x, y, loss):
    model.compile(cl.optimizers.SGD(learning_rate=1.0), loss)
    engine = _engine_gradients(model, x, y)
    weights = model.get_weights()
    for position, weight in enumerate(weights):

        def loss_at(value, position=position):
            trial = [w.copy() for w in weights]
            trial[position] = value
            model.set_weights(trial)
            return _reported_loss(model, x, y)

        numeric = _finite_difference(loss_at, weight)
        model.set_weights(weights)
        np.testing.assert_allclose(engine[position], numeric, rtol=1e-5, atol=1e-8, err_msg=f"weight {position}")


class Scale(layers.Layer):
    """A layer written against the contract alone: it knows nothing of regularizers."""

    def build(self, input_shape):
        self.scale = self.add_weight("scale", (input_shape[-1],), "ones", regularizer=regularizers.L2(0.3))

    def forward(self, inputs, training=False):
        return inputs * self.scale.value, inputs

    def backward(self, output_grads, inputs):
        return output_grads * self.scale.value, {"scale": (output_grads * inputs).sum(axis=0)}


def test_the_regularized_training_loss_has_the_engines_gradient_in_float64():
    """Weight penalties, activity penalties (also on a softmax output scored from logits) and a
    custom layer with both, in a nested model: the finite differences of the reported loss."""
    generator = np.random.default_rng(4)
    x = generator.standard_normal((6, 5))
    y = generator.integers(0, 3, 6)
    with backend.floatx_scope("float64"):
        inner = cl.Sequential([
            cl.Input((5,)),
            layers.Dense(4, activation="tanh", kernel_regularizer=regularizers.L2(0.1),
                         bias_regularizer=regularizers.L1(0.05), activity_regularizer=regularizers.L1L2(0.02, 0.03)),
            Scale(activity_regularizer=regularizers.L1(0.1)),
        ], name="inner")
        inputs = cl.Input((5,))
        outputs = layers.Dense(3, activation="softmax", activity_regularizer=regularizers.L2(0.2),
                               kernel_regularizer=regularizers.OrthogonalRegularizer(0.4))(inner(inputs))
        model = cl.Model(inputs, outputs)
    _check_regularized_gradients(model, x, y, "sparse_categorical_crossentropy")
    assert model._logits_node(0) is not None  # the softmax output was scored from its logits


def test_the_reported_loss_is_data_plus_weight_and_batch_divided_activity_penalties():
    generator = np.random.default_rng(5)
    x = generator.standard_normal((8, 3)).astype("float32")
    y = generator.standard_normal((8, 2)).astype("float32")
    dense = layers.Dense(2, kernel_regularizer=regularizers.L2(0.1), bias_regularizer=regularizers.L1(0.2),
                         activity_regularizer=regularizers.L1(0.3), bias_initializer="ones")
    model = cl.Sequential([cl.Input((3,)), dense])
    model.compile("sgd", "mse")
    out = x @ dense.kernel.numpy() + 1.0
    expected = (np.mean((out - y) ** 2) + 0.1 * np.sum(dense.kernel.numpy() ** 2) + 0.2 * 2
                + np.float32(0.3) * np.sum(np.abs(out)) / 8)
    np.testing.assert_allclose(model.test_on_batch(x, y), expected, rtol=1e-6)
    np.testing.assert_allclose(model.evaluate(x, y, verbose=0), expected, rtol=1e-6)
    np.testing.assert_allclose(model.train_on_batch(x, y), expected, rtol=1e-6)  # at the weights before the update
    # model.losses: the activity penalty of the last call, then the weight penalties at the current weights.
    model(x)
    assert len(model.losses) == 3


def test_eager_layer_losses_as_keras_docstring():
    layer = layers.Dense(5, input_dim=5, kernel_initializer="ones", kernel_regularizer=regularizers.L1(0.01),
                         activity_regularizer=regularizers.L2(0.01))
    layer(np.ones((5, 5), "float32") * 2.0)
    np.testing.assert_allclose([float(v) for v in layer.losses], [5.0, 0.25], rtol=1e-6)
    assert layer.losses[0].ndim == 0


def test_frozen_weights_carry_no_penalty_and_the_cache_follows_changes():
    generator = np.random.default_rng(6)
    x = generator.standard_normal((4, 3)).astype("float32")
    y = generator.standard_normal((4, 1)).astype("float32")
    first = layers.Dense(2, kernel_regularizer=regularizers.L2(10.0))
    second = layers.Dense(1)
    model = cl.Sequential([cl.Input((3,)), first, second])
    model.compile("sgd", "mse")
    penalty = 10.0 * float(np.sum(first.kernel.numpy() ** 2))
    with_penalty = model.test_on_batch(x, y)
    first.trainable = False  # Keras: only trainable weights are penalized
    without = model.test_on_batch(x, y)
    np.testing.assert_allclose(with_penalty - without, penalty, rtol=1e-5)
    first.trainable = True
    second.kernel.regularizer = regularizers.L1(1.0)  # set after compile: picked up at the next step
    np.testing.assert_allclose(model.test_on_batch(x, y) - with_penalty,
                               float(np.sum(np.abs(second.kernel.numpy()))), rtol=1e-5)
    # Without any regularizer the engine's per-step check is one comparison on a cached empty list.
    plain = cl.Sequential([cl.Input((3,)), layers.Dense(1)])
    plain.compile("sgd", "mse")
    plain.train_on_batch(x, y)
    key, cached = plain._regularized_cache
    assert cached == [] and plain._weight_regularizers() == []
    assert plain._regularized_cache[0] == key


def test_a_plain_function_regularizer_counts_in_the_loss_but_cannot_train():
    def penalty(x):
        return 0.5 * backend.xp.sum(x)

    x = np.ones((2, 3), "float32")
    y = np.zeros((2, 1), "float32")
    model = cl.Sequential([cl.Input((3,)), layers.Dense(1, kernel_initializer="ones", kernel_regularizer=penalty)])
    model.compile("sgd", "mse")
    np.testing.assert_allclose(model.evaluate(x, y, verbose=0), 9.0 + 1.5)
    with pytest.raises(TypeError, match=r"weight 'sequential/dense/kernel' regularizer: the regularizer .* has no "
                                        r"`gradient\(x\)` method"):
        model.train_on_batch(x, y)


def test_a_regularized_workflow_is_the_same_under_the_strict_backend():
    generator = np.random.default_rng(7)
    x = generator.standard_normal((12, 4)).astype("float32")
    y = generator.integers(0, 3, 12)

    def workflow():
        model = cl.Sequential([
            cl.Input((4,)),
            layers.Dense(5, activation="relu", kernel_regularizer="l2", bias_regularizer=regularizers.L1(0.1),
                         activity_regularizer=regularizers.L1L2(0.01, 0.01), kernel_constraint=constraints.MaxNorm(0.8),
                         bias_constraint="non_neg"),
            layers.Dense(3, activation="softmax", kernel_regularizer=regularizers.OrthogonalRegularizer(0.1),
                         activity_regularizer="l2", kernel_constraint=constraints.MinMaxNorm(0.2, 0.9, axis=[0])),
        ])
        model.compile("adam", "sparse_categorical_crossentropy")
        history = model.fit(x, y, epochs=2, batch_size=5, shuffle=False, verbose=0).history["loss"]
        model(x)
        return [model.get_weights(), history, model.evaluate(x, y, verbose=0),
                [backend.to_float(v) for v in model.losses], constraints.UnitNorm(axis=1)(model.layers[0].kernel)]

    results = []
    for name in ("numpy", "strict"):
        backend.clear_session()
        backend.set_seed(11)
        with backend.backend_scope(name):
            weights, history, evaluated, penalties, unit = workflow()
            results.append(([backend.to_numpy(w) for w in weights], history, evaluated, penalties,
                            backend.to_numpy(unit)))
    numpy_run, strict_run = results
    for first, second in zip(numpy_run[0], strict_run[0], strict=True):
        np.testing.assert_allclose(first, second, rtol=1e-6, atol=1e-7)
    for first, second in zip(numpy_run[1:], strict_run[1:], strict=True):
        np.testing.assert_allclose(first, second, rtol=1e-6, atol=1e-7)


def test_configs_write_activity_regularizer_only_when_set_and_dense_round_trips():
    assert "activity_regularizer" not in layers.Dense(2).get_config()
    assert "activity_regularizer" not in layers.Activation("relu").get_config()
    dense = layers.Dense(3, kernel_regularizer="l1", bias_regularizer=regularizers.L2(0.2), activity_regularizer="l1l2",
                         kernel_constraint=constraints.UnitNorm(axis=[0]), bias_constraint="non_neg")
    config = dense.get_config()
    assert config["kernel_regularizer"] == {"module": "keras.regularizers", "class_name": "L1",
                                            "config": {"l1": float(np.float32(0.01))}, "registered_name": None}
    assert config["activity_regularizer"]["class_name"] == "L1L2"
    assert config["kernel_constraint"]["config"] == {"axis": [0]}
    rebuilt = layers.Dense.from_config(config)
    assert rebuilt.get_config() == config
    rebuilt.build((None, 4))
    assert isinstance(rebuilt.kernel.regularizer, regularizers.L1) and isinstance(rebuilt.bias.constraint, constraints.NonNeg)
    clone = cl.models.clone_model(cl.Sequential([cl.Input((4,)), dense]))
    assert clone.layers[0].get_config()["kernel_constraint"] == config["kernel_constraint"]
