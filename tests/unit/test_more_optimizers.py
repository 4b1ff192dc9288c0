"""Lion, Lamb, Ftrl and Adafactor: formulas on small cases, slots, configs, names, errors, files."""
import numpy as np
import pytest

import course_lib as cl
from course_lib import optimizers

NAMES = ["Lion", "Lamb", "Ftrl", "Adafactor"]


def test_exported_and_resolved_by_name():
    for name in NAMES:
        assert name in optimizers.__all__ and getattr(cl.optimizers, name) is getattr(optimizers, name)
    assert type(optimizers.get("lion")) is optimizers.Lion
    assert type(optimizers.get("FTRL")) is optimizers.Ftrl
    assert type(optimizers.get("adafactor")) is optimizers.Adafactor
    # As Keras: no string name for Lamb, but its serialized form deserializes.
    with pytest.raises(ValueError, match="could not interpret optimizer identifier 'lamb'"):
        optimizers.get("lamb")
    lamb = optimizers.deserialize(optimizers.serialize(optimizers.Lamb(learning_rate=0.5, beta_1=0.8)))
    assert type(lamb) is optimizers.Lamb and (lamb.learning_rate, lamb.beta_1) == (0.5, 0.8)
    assert [optimizers.get(name.lower()).name for name in ("Lion", "Ftrl", "Adafactor")] == ["lion_1", "ftrl_1", "adafactor_1"]


def test_lion_moves_every_element_by_exactly_the_learning_rate():
    weights = [np.array([1.0, 2.0, 3.0])]
    optimizer = optimizers.Lion(learning_rate=0.1, beta_1=0.9, beta_2=0.5)
    optimizer.apply([np.array([0.5, -2.0, 0.0])], weights)
    np.testing.assert_allclose(weights[0], [0.9, 2.1, 3.0])  # sign(0.1 * g): zero where g is zero
    np.testing.assert_allclose(optimizer.variables[0], [0.25, -1.0, 0.0])  # m = 0.5 * g
    # Second step: sign(0.9 * m + 0.1 * g) follows the momentum over a small opposite gradient.
    optimizer.apply([np.array([-0.1, 0.1, 1.0])], weights)
    np.testing.assert_allclose(weights[0], [0.8, 2.2, 2.9])


def test_lamb_trust_ratio():
    # One step from zero moments: u = g / (|g| + eps) elementwise (bias-corrected), r = ||w|| / ||u||.
    w0, g = np.array([3.0, 4.0]), np.array([1.0, -1.0])
    weights = [w0.copy()]
    optimizers.Lamb(learning_rate=0.1, epsilon=0.0).apply([g], weights)
    u = np.sign(g)
    # rtol: as Keras, the bias correction uses beta_2 cast through float32 and the moment update
    # the exact 1 - beta_2, so u is 1 - 6.7e-7 rather than 1 in float64.
    np.testing.assert_allclose(weights[0], w0 - np.linalg.norm(w0) / np.linalg.norm(u) * 0.1 * u, rtol=1e-5)
    # A zero weight: the ratio is 1, so the step is Adam-like.
    weights = [np.zeros(2)]
    optimizers.Lamb(learning_rate=0.1, epsilon=0.0).apply([g], weights)
    np.testing.assert_allclose(weights[0], -0.1 * u, rtol=1e-5)


def test_ftrl_one_step_and_l1_zeros():
    w, g, lr = np.array([0.5, -0.2]), np.array([0.3, 0.01]), 0.1
    weights = [w.copy()]
    optimizer = optimizers.Ftrl(learning_rate=lr, initial_accumulator_value=0.1, l1_regularization_strength=0.02)
    optimizer.apply([g], weights)
    n_new = 0.1 + g ** 2
    z = g - (np.sqrt(n_new) - np.sqrt(0.1)) / lr * w
    expected = (np.clip(z, -0.02, 0.02) - z) / (np.sqrt(n_new) / lr)
    np.testing.assert_allclose(weights[0], expected)
    assert weights[0][1] == 0.0  # |z| <= l1: exactly zero
    accumulator, linear = optimizer.variables
    np.testing.assert_allclose(accumulator, n_new)
    np.testing.assert_allclose(linear, z)


def test_adafactor_slots_follow_keras_shapes_and_placeholders():
    weights = [np.ones((3, 4), "float32"), np.ones(4, "float64"), np.ones((2, 3, 5), "float32")]
    optimizer = optimizers.Adafactor()
    optimizer.build(weights)
    described = [(v.shape, str(v.dtype)) for v in optimizer.variables]
    assert described == [((3,), "float32"), ((4,), "float32"), ((3, 4), "float32"),
                         ((), "int32"), ((), "int32"), ((4,), "float64"),
                         ((2, 3), "float32"), ((2, 5), "float32"), ((2, 3, 5), "float32")]


def test_adafactor_one_step_on_a_vector_and_a_matrix():
    generator = np.random.default_rng(0)
    for shape in [(4,), (3, 4)]:
        w, g = generator.standard_normal(shape), generator.standard_normal(shape)
        weights = [w.copy()]
        optimizers.Adafactor(learning_rate=0.01, clip_threshold=1.0).apply([g], weights)
        # Step 1: beta_2 = 1 - 1**-0.8 = 0, so v is G itself (or its rank-1 factorization).
        G = g ** 2 + 1e-30
        if len(shape) == 1:
            v = G
        else:
            r, c = G.mean(axis=-1), G.mean(axis=-2)
            v = (r / r.mean())[:, None] * c[None, :]
        u = g / np.sqrt(v)
        u /= max(1.0, np.sqrt(np.mean(u ** 2)))
        alpha = max(1e-3, np.sqrt(np.mean(w ** 2))) * min(0.01, 1.0)
        np.testing.assert_allclose(weights[0], w - alpha * u)


@pytest.mark.parametrize("name", NAMES)
def test_float32_stays_float32_and_configs_round_trip(name):
    weights = [np.ones((2, 3), "float32"), np.ones(3, "float32")]
    optimizer = getattr(optimizers, name)(weight_decay=0.1, clipnorm=1.0, name="mine")
    optimizer.apply([np.full((2, 3), 0.5, "float32"), np.full(3, -0.5, "float32")], weights)
    assert all(w.dtype == np.float32 for w in weights)
    assert all(v.dtype in (np.float32, np.int32) for v in optimizer.variables)
    config = optimizer.get_config()
    assert config["name"] == "mine" and config["weight_decay"] == 0.1 and "use_ema" not in config
    rebuilt = getattr(optimizers, name).from_config(config)
    assert rebuilt.get_config() == config
    again = optimizers.deserialize(optimizers.serialize(optimizer))
    assert type(again) is type(optimizer) and again.get_config() == config


@pytest.mark.parametrize("name", NAMES)
def test_a_saved_model_resumes_with_its_optimizer_state(name, tmp_path):
    generator = np.random.default_rng(3)
    x = generator.standard_normal((16, 3)).astype("float32")
    y = generator.standard_normal((16, 2)).astype("float32")
    model = cl.Sequential([cl.Input((3,)), cl.layers.Dense(4, activation="tanh"), cl.layers.Dense(2)])
    model.compile(getattr(optimizers, name)(learning_rate=0.05), "mse")
    model.fit(x, y, epochs=1, batch_size=8, shuffle=False, verbose=0)
    model.save(tmp_path / "m.keras")
    loaded = cl.models.load_model(tmp_path / "m.keras")
    assert type(loaded.optimizer) is getattr(optimizers, name) and loaded.optimizer.iterations == 2
    for mine, theirs in zip(loaded.optimizer.variables, model.optimizer.variables, strict=True):
        assert mine.dtype == theirs.dtype
        np.testing.assert_array_equal(mine, theirs)
    first = model.fit(x, y, epochs=2, batch_size=8, shuffle=False, verbose=0).history["loss"]
    second = loaded.fit(x, y, epochs=2, batch_size=8, shuffle=False, verbose=0).history["loss"]
    np.testing.assert_array_equal(first, second)


@pytest.mark.parametrize("name, kwargs, error, message", [
    ("Lion", {"beta_1": 0.0}, ValueError, r"Lion: argument `beta_1` must be in the \(0, 1\] range. Otherwise, the optimizer degenerates to SignSGD. Received: beta_1=0.0"),
    ("Lion", {"beta_2": 1.5}, ValueError, r"Lion: `beta_2` must be a finite float in \[0, 1\]. Received: beta_2=1.5"),
    ("Lion", {"beta_1": "0.9"}, TypeError, r"Lion: `beta_1` must be a float. Received: beta_1='0.9'"),
    ("Lamb", {"beta_2": 1.0}, ValueError, r"Lamb: `beta_2` must be a finite float in \[0, 1\)"),
    ("Lamb", {"epsilon": -1.0}, ValueError, r"Lamb: `epsilon` must be a finite float >= 0. Received: epsilon=-1.0"),
    ("Ftrl", {"learning_rate_power": 0.5}, ValueError, r"Ftrl: `learning_rate_power` must be a finite float <= 0. Received: learning_rate_power=0.5"),
    ("Ftrl", {"initial_accumulator_value": -0.1}, ValueError, r"Ftrl: `initial_accumulator_value` must be a finite float >= 0"),
    ("Ftrl", {"l1_regularization_strength": -1}, ValueError, r"Ftrl: `l1_regularization_strength` must be a finite float >= 0"),
    ("Ftrl", {"l2_regularization_strength": -1}, ValueError, r"Ftrl: `l2_regularization_strength`"),
    ("Ftrl", {"l2_shrinkage_regularization_strength": -1}, ValueError, r"Ftrl: `l2_shrinkage_regularization_strength`"),
    ("Adafactor", {"clip_threshold": 0.0}, ValueError, r"Adafactor: `clip_threshold` must be a finite float > 0. Received: clip_threshold=0.0"),
    ("Adafactor", {"relative_step": 1}, TypeError, r"Adafactor: `relative_step` must be True or False. Received: relative_step=1"),
    ("Adafactor", {"epsilon_1": -1e-30}, ValueError, r"Adafactor: `epsilon_1` must be a finite float >= 0"),
    ("Lamb", {"lr": 0.1}, ValueError, r"Lamb: the argument `lr` was renamed `learning_rate`"),
    ("Ftrl", {"gradient_accumulation_steps": 2}, ValueError, r"Ftrl: course_lib does not implement gradient accumulation"),
])
def test_bad_arguments_name_the_optimizer(name, kwargs, error, message):
    with pytest.raises(error, match=message):
        getattr(optimizers, name)(**kwargs)
