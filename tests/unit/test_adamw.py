"""AdamW: decoupled weight decay on top of Adam's step, exclusions, configs, names, errors, files.

The formulas are checked against their definition (decay ``w -= w * wd * lr`` first, then exactly
Adam's step, computed here by a plain Adam on the decayed weights); tf.keras itself is compared in
tests/parity/test_adamw_parity.py.
"""
import numpy as np
import pytest

import course_lib as cl
from course_lib import backend, optimizers
from course_lib.optimizers import schedules

SHAPES = [(3, 4), (5,), (2, 3, 2)]


def _problem(seed=0, dtype="float32"):
    generator = np.random.default_rng(seed)
    weights = [generator.standard_normal(shape).astype(dtype) for shape in SHAPES]
    grads = [[generator.standard_normal(shape).astype(dtype) for shape in SHAPES] for _ in range(6)]
    return weights, grads


@pytest.mark.parametrize("kwargs", [
    {},
    {"learning_rate": 0.05, "weight_decay": 0.1},
    {"learning_rate": 0.05, "weight_decay": 0.3, "amsgrad": True, "beta_1": 0.8, "epsilon": 1e-4},
    {"learning_rate": 0.05, "weight_decay": 0.2, "clipnorm": 0.5},
])
def test_each_step_is_the_decay_then_exactly_adams_step(kwargs):
    weights, grads = _problem()
    reference = [w.copy() for w in weights]
    adamw = optimizers.AdamW(**kwargs)
    options = {k: v for k, v in kwargs.items() if k != "weight_decay"}
    adam = optimizers.Adam(**options)
    decay = kwargs.get("weight_decay", 0.004)
    for step, gradients in enumerate(grads, start=1):
        adamw.apply(gradients, weights)
        lr = np.float32(adam.learning_rate)
        for value in reference:
            value -= value * np.float32(decay) * lr  # decoupled: never seen by the moments
        adam.apply(gradients, reference)
        for mine, expected in zip(weights, reference):
            np.testing.assert_array_equal(mine, expected, err_msg=f"step {step}")
        for mine, expected in zip(adamw.variables, adam.variables):
            np.testing.assert_array_equal(mine, expected, err_msg=f"slots, step {step}")
    assert adamw.iterations == adam.iterations == len(grads)


def test_one_step_by_hand():
    # Keras's own test case: lr 0.5, the default weight_decay 0.004; float64, so the constants are exact.
    weight = np.array([1.0, 2.0, 3.0, 4.0])
    gradient = np.array([1.0, 6.0, 7.0, 2.0])
    optimizers.AdamW(learning_rate=0.5).apply([gradient], [weight])
    decayed = np.array([1.0, 2.0, 3.0, 4.0]) * (1 - 0.004 * 0.5)
    # First Adam step: m = 0.1 g, v = 0.001 g^2, alpha = lr sqrt(0.001) / 0.1 -> a step of ~lr * sign(g).
    step = 0.5 * np.sqrt(1 - 0.999) / (1 - 0.9) * (0.1 * gradient) / (np.sqrt(0.001 * gradient**2) + 1e-7)
    np.testing.assert_allclose(weight, decayed - step, rtol=1e-12)
    np.testing.assert_allclose(weight, [0.4980, 1.4960, 2.494, 3.492], atol=1e-4)


def test_a_zero_gradient_leaves_only_the_decay():
    weight = np.full(3, 2.0, "float32")
    optimizer = optimizers.AdamW(learning_rate=1.0, weight_decay=0.004)
    for _ in range(3):
        optimizer.apply([np.zeros(3, "float32")], [weight])
    np.testing.assert_allclose(weight, 2.0 * 0.996**3, rtol=1e-6)


def test_the_decay_uses_the_learning_rate_of_the_step_from_a_schedule():
    schedule = schedules.PiecewiseConstantDecay([1], [0.5, 0.1])  # 0.5 at steps 0 and 1, then 0.1
    weight = np.full(2, 1.0, "float64")
    optimizer = optimizers.AdamW(learning_rate=schedule, weight_decay=0.2)
    expected = 1.0
    for lr in (0.5, 0.5, 0.1, 0.1):
        optimizer.apply([np.zeros(2)], [weight])
        expected *= 1 - 0.2 * lr
    np.testing.assert_allclose(weight, expected, rtol=1e-12)


def test_weight_decay_zero_is_plain_adam():
    weights, grads = _problem(1)
    reference = [w.copy() for w in weights]
    adamw, adam = optimizers.AdamW(learning_rate=0.01, weight_decay=0.0), optimizers.Adam(learning_rate=0.01)
    for gradients in grads:
        adamw.apply(gradients, weights)
        adam.apply(gradients, reference)
    for mine, expected in zip(weights, reference):
        np.testing.assert_array_equal(mine, expected)


def test_slots_are_adams_in_keras_order():
    weights, grads = _problem()
    optimizer = optimizers.AdamW(amsgrad=True)
    optimizer.apply(grads[0], weights)
    assert [slot.shape for slot in optimizer.variables] == [
        SHAPES[0], SHAPES[0], SHAPES[1], SHAPES[1], SHAPES[2], SHAPES[2], *SHAPES]
    assert isinstance(optimizer, optimizers.Adam)


def test_float64_weights_stay_float64():
    weights, grads = _problem(dtype="float64")
    optimizer = optimizers.AdamW(learning_rate=0.1, weight_decay=0.5)
    for gradients in grads:
        optimizer.apply(gradients, weights)
    assert all(w.dtype == np.float64 for w in weights + optimizer.variables)


# --------------------------------------------------------------------------
# exclude_from_weight_decay
# --------------------------------------------------------------------------

def _dense_model(seed=0):
    backend.set_seed(seed)
    model = cl.Sequential([cl.Input((3,)), cl.layers.Dense(4, activation="tanh"), cl.layers.Dense(1)])
    model.layers[0].bias.assign(np.full(4, 0.5, "float32"))
    model.layers[1].bias.assign(np.full(1, -0.5, "float32"))
    return model


def _zero_steps(optimizer, variables, steps=2):
    for _ in range(steps):
        optimizer.apply([np.zeros(v.shape, "float32") for v in variables], variables)


def test_exclude_by_name_keeps_the_biases_and_decays_the_kernels():
    model = _dense_model()
    before = [w.numpy() for w in model.trainable_weights]
    optimizer = optimizers.AdamW(learning_rate=0.5, weight_decay=0.1)
    optimizer.exclude_from_weight_decay(var_names=["bias"])
    _zero_steps(optimizer, model.trainable_weights)
    for variable, value in zip(model.trainable_weights, before):
        factor = 1.0 if variable.name == "bias" else 0.95**2
        np.testing.assert_allclose(variable.numpy(), value * factor, rtol=1e-6, err_msg=variable.path)


def test_names_are_regular_expressions_searched_in_the_path_as_tf_keras_names_its_variables():
    model = _dense_model()  # weights 'sequential/dense/kernel', ..., searched as 'sequential/dense/kernel:0'
    assert [w.path for w in model.trainable_weights] == [
        "sequential/dense/kernel", "sequential/dense/bias", "sequential/dense_1/kernel", "sequential/dense_1/bias"]
    before = [w.numpy() for w in model.trainable_weights]
    optimizer = optimizers.AdamW(learning_rate=0.5, weight_decay=0.1)
    optimizer.exclude_from_weight_decay(var_names=["dense_1", "^sequential/dense/k", "^kernel", "bias:0$"])
    _zero_steps(optimizer, model.trainable_weights, steps=1)
    # dense_1's weights by the layer name, dense/kernel by the anchored path, dense/bias by the ':0' suffix.
    for variable, value in zip(model.trainable_weights, before):
        np.testing.assert_array_equal(variable.numpy(), value, err_msg=variable.path)
    optimizer.exclude_from_weight_decay(var_names=["^kernel$", "^bias"])  # the short names never match alone
    _zero_steps(optimizer, model.trainable_weights, steps=1)
    for variable, value in zip(model.trainable_weights, before):
        np.testing.assert_allclose(variable.numpy(), value * 0.95, rtol=1e-6, err_msg=variable.path)


@pytest.mark.parametrize("as_array", [False, True], ids=["variable", "array"])
def test_exclude_a_list_of_variables_or_their_arrays(as_array):
    model = _dense_model()
    first_kernel = model.layers[0].kernel
    before = [w.numpy() for w in model.trainable_weights]
    optimizer = optimizers.AdamW(learning_rate=0.5, weight_decay=0.1)
    optimizer.exclude_from_weight_decay(var_list=[first_kernel.value if as_array else first_kernel])
    _zero_steps(optimizer, model.trainable_weights, steps=1)
    for variable, value in zip(model.trainable_weights, before):
        factor = 1.0 if variable is first_kernel else 0.95
        np.testing.assert_allclose(variable.numpy(), value * factor, rtol=1e-6, err_msg=variable.path)


def test_a_later_call_replaces_the_exclusions_and_works_after_build_as_in_keras():
    model = _dense_model()
    optimizer = optimizers.AdamW(learning_rate=0.5, weight_decay=0.1)
    optimizer.exclude_from_weight_decay(var_names=["kernel"])
    _zero_steps(optimizer, model.trainable_weights, steps=1)
    assert optimizer.built
    kernel, bias = model.layers[0].kernel.numpy(), model.layers[0].bias.numpy()
    np.testing.assert_allclose(bias, 0.5 * 0.95, rtol=1e-6)  # decayed in step 1
    optimizer.exclude_from_weight_decay(var_names=["bias"])  # replaces "kernel"
    _zero_steps(optimizer, model.trainable_weights, steps=1)
    np.testing.assert_allclose(model.layers[0].bias.numpy(), bias, rtol=1e-7)
    np.testing.assert_allclose(model.layers[0].kernel.numpy(), kernel * 0.95, rtol=1e-6)
    optimizer.exclude_from_weight_decay()  # no exclusion at all
    _zero_steps(optimizer, model.trainable_weights, steps=1)
    np.testing.assert_allclose(model.layers[0].bias.numpy(), bias * 0.95, rtol=1e-6)


def test_bare_arrays_have_no_name_to_match():
    weight = np.ones(2, "float32")
    optimizer = optimizers.AdamW(learning_rate=1.0, weight_decay=0.5)
    optimizer.exclude_from_weight_decay(var_names=[".*"])
    optimizer.apply([np.zeros(2, "float32")], [weight])
    np.testing.assert_allclose(weight, 0.5)


def test_fit_excludes_the_biases_and_trains():
    model = _dense_model()
    optimizer = optimizers.AdamW(learning_rate=0.05, weight_decay=0.5)
    optimizer.exclude_from_weight_decay(var_names=["bias"])
    model.compile(optimizer, "mse")
    generator = np.random.default_rng(2)
    x = generator.standard_normal((32, 3)).astype("float32")
    y = (x @ np.array([[1.0], [-2.0], [0.5]])).astype("float32")
    history = model.fit(x, y, epochs=15, batch_size=8, verbose=0)
    assert history.history["loss"][-1] < 0.5 * history.history["loss"][0]
    assert optimizer.iterations == 60
    decayed = {id(w.value) for w in model.trainable_weights if optimizer._use_weight_decay(w.value)}
    assert decayed == {id(w.value) for w in model.trainable_weights if w.name == "kernel"}


# --------------------------------------------------------------------------
# names, configs, files
# --------------------------------------------------------------------------

@pytest.mark.parametrize("identifier", ["adamw", "AdamW", "ADAMW"])
def test_the_string_names_resolve(identifier):
    optimizer = optimizers.get(identifier)
    assert type(optimizer) is optimizers.AdamW and optimizer.weight_decay == 0.004
    assert cl.optimizers.AdamW is optimizers.AdamW and "AdamW" in optimizers.__all__


def test_defaults_config_and_automatic_names():
    optimizer = optimizers.AdamW()
    assert optimizer.name == "adam_w"  # Keras's snake-casing of AdamW
    assert optimizers.AdamW().name == "adam_w_1"
    assert optimizer.get_config() == {
        "name": "adam_w", "learning_rate": 0.001, "weight_decay": 0.004, "clipnorm": None,
        "global_clipnorm": None, "clipvalue": None, "beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-7,
        "amsgrad": False,
    }


def test_config_round_trips():
    optimizer = optimizers.AdamW(learning_rate=schedules.ExponentialDecay(0.1, 3, 0.5), weight_decay=0.01,
                                 beta_1=0.8, amsgrad=True, clipvalue=2.0, name="w")
    config = optimizer.get_config()
    assert optimizers.AdamW.from_config(config).get_config() == config
    again = optimizers.deserialize(optimizers.serialize(optimizer))
    assert type(again) is optimizers.AdamW and again.get_config() == config


def test_a_saved_model_resumes_with_its_adamw_state(tmp_path):
    generator = np.random.default_rng(3)
    x = generator.standard_normal((16, 3)).astype("float32")
    y = generator.standard_normal((16, 1)).astype("float32")
    model = _dense_model()
    model.compile(optimizers.AdamW(learning_rate=0.05, weight_decay=0.1, amsgrad=True), "mse")
    model.fit(x, y, epochs=1, batch_size=8, shuffle=False, verbose=0)
    model.save(tmp_path / "m.keras")
    loaded = cl.models.load_model(tmp_path / "m.keras")
    assert type(loaded.optimizer) is optimizers.AdamW and loaded.optimizer.iterations == 2
    # The file keeps the learning rate as float32, as Keras's does.
    assert loaded.optimizer.get_config() == model.optimizer.get_config() | {"learning_rate": float(np.float32(0.05))}
    for mine, theirs in zip(loaded.optimizer.variables, model.optimizer.variables):
        np.testing.assert_array_equal(mine, theirs)
    ours = model.fit(x, y, epochs=2, batch_size=8, shuffle=False, verbose=0).history["loss"]
    resumed = loaded.fit(x, y, epochs=2, batch_size=8, shuffle=False, verbose=0).history["loss"]
    np.testing.assert_array_equal(ours, resumed)
    for mine, theirs in zip(model.get_weights(), loaded.get_weights()):
        np.testing.assert_array_equal(mine, theirs)


# --------------------------------------------------------------------------
# errors
# --------------------------------------------------------------------------

@pytest.mark.parametrize("kwargs, error, message", [
    ({"weight_decay": None}, ValueError, r"AdamW: Argument `weight_decay` must be a float. Received: weight_decay=None"),
    ({"weight_decay": -0.1}, ValueError, r"AdamW: `weight_decay` must be a finite float >= 0. Received: weight_decay=-0.1"),
    ({"weight_decay": "0.1"}, TypeError, r"AdamW: `weight_decay` must be a float. Received: weight_decay='0.1'"),
    ({"amsgrad": 1}, TypeError, r"AdamW: `amsgrad` must be True or False. Received: amsgrad=1"),
    ({"beta_1": 1.0}, ValueError, r"AdamW: `beta_1` must be a finite float in \[0, 1\)"),
    ({"lr": 0.1}, ValueError, r"AdamW: the argument `lr` was renamed `learning_rate`"),
])
def test_bad_arguments_name_adamw(kwargs, error, message):
    with pytest.raises(error, match=message):
        optimizers.AdamW(**kwargs)


def test_bad_exclusions_are_refused():
    optimizer = optimizers.AdamW()
    with pytest.raises(TypeError, match=r"AdamW.exclude_from_weight_decay: `var_names` must be a list of str "
                                        r"\(a bare str would be read letter by letter\). Received: var_names='bias'"):
        optimizer.exclude_from_weight_decay(var_names="bias")
    with pytest.raises(TypeError, match=r"`var_names` must be a list of str. Received an item 3 of type int"):
        optimizer.exclude_from_weight_decay(var_names=["bias", 3])
    with pytest.raises(TypeError, match=r"`var_list` must hold Variables or arrays. Received at index 1: str"):
        optimizer.exclude_from_weight_decay(var_list=[np.zeros(2), "kernel"])


def test_the_strict_backend_gives_the_same_steps():
    results = []
    for name in ("numpy", "strict"):
        with backend.backend_scope(name):
            weights, grads = _problem(4)
            weights = [backend.xp.asarray(w) for w in weights]
            optimizer = optimizers.AdamW(learning_rate=0.05, weight_decay=0.2, amsgrad=True)
            optimizer.exclude_from_weight_decay(var_list=[weights[1]])
            for gradients in grads:
                optimizer.apply([backend.xp.asarray(g) for g in gradients], weights)
            results.append([backend.to_numpy(a) for a in weights + optimizer.variables])
    for mine, theirs in zip(*results, strict=True):
        np.testing.assert_array_equal(mine, theirs)
