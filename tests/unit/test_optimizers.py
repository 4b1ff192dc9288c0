"""Optimizers and schedules: parity with tf.keras, training sanity, errors, configs.

Parity tests run the same gradient sequence through course_lib (NumPy arrays)
and tf.keras (tf.Variable + apply_gradients) in the same test and compare the
variables and every slot after each step. Tolerance: the largest difference,
divided by the largest magnitude of the Keras array, must stay below 1e-6
(float32). Measured: bit-identical for every formula without norm clipping;
with clipnorm / global_clipnorm the gradient norm can differ by one float32
ulp (summation order), which gives about 3e-7.
"""
import warnings

import numpy as np
import pytest

from course_lib import backend
from course_lib import optimizers
from course_lib.optimizers import schedules

OPTIMIZER_NAMES = ["SGD", "RMSprop", "Adam", "Adagrad", "Adadelta", "Adamax", "Nadam"]
SHAPES = [(3, 4), (5,), (2, 3, 2)]
STEPS = 10
PARITY_TOLERANCE = 1e-6

# A learning rate per optimizer large enough that ten steps move the weights
# visibly (Keras's defaults of 0.001 would hide a wrong update in rounding).
VISIBLE = {
    "SGD": dict(learning_rate=0.1, momentum=0.9),
    "RMSprop": dict(learning_rate=0.01),
    "Adam": dict(learning_rate=0.05),
    "Adagrad": dict(learning_rate=0.1),
    "Adadelta": dict(learning_rate=1.0),
    "Adamax": dict(learning_rate=0.05),
    "Nadam": dict(learning_rate=0.05),
}

VARIANTS = [
    ("SGD", {}),
    ("SGD", dict(learning_rate=0.1)),
    ("SGD", dict(learning_rate=0.1, momentum=0.9)),
    ("SGD", dict(learning_rate=0.1, momentum=0.9, nesterov=True)),
    ("RMSprop", {}),
    ("RMSprop", dict(learning_rate=0.01, momentum=0.5)),
    ("RMSprop", dict(learning_rate=0.01, centered=True)),
    ("RMSprop", dict(learning_rate=0.01, centered=True, momentum=0.3, rho=0.8)),
    ("Adam", {}),
    ("Adam", dict(learning_rate=0.05, beta_1=0.8, beta_2=0.99, epsilon=1e-4)),
    ("Adam", dict(learning_rate=0.05, amsgrad=True)),
    ("Adagrad", {}),
    ("Adagrad", dict(learning_rate=0.1, initial_accumulator_value=0.5)),
    ("Adadelta", {}),
    ("Adadelta", dict(learning_rate=1.0, rho=0.9)),
    ("Adamax", {}),
    ("Adamax", dict(learning_rate=0.05)),
    ("Nadam", {}),
    ("Nadam", dict(learning_rate=0.05, beta_1=0.85)),
]

OPTIONS = [
    dict(clipnorm=0.5),
    dict(clipvalue=0.3),
    dict(global_clipnorm=1.0),
    dict(weight_decay=0.1),
]

SCHEDULES = [
    ("ExponentialDecay", dict(initial_learning_rate=0.1, decay_steps=3, decay_rate=0.5)),
    ("ExponentialDecay",
     dict(initial_learning_rate=0.1, decay_steps=3, decay_rate=0.5, staircase=True)),
    ("InverseTimeDecay", dict(initial_learning_rate=0.1, decay_steps=2, decay_rate=0.7)),
    ("PiecewiseConstantDecay", dict(boundaries=[2, 5], values=[0.1, 0.05, 0.01])),
]


@pytest.fixture(scope="module")
def tf():
    return pytest.importorskip("tensorflow")


def _describe(name, kwargs):
    return name + "(" + ", ".join(f"{k}={v}" for k, v in kwargs.items()) + ")"


def _assert_close(ours, theirs, what):
    """Largest difference relative to the largest magnitude of the Keras array."""
    scale = max(float(np.max(np.abs(theirs))), 1e-12)
    error = float(np.max(np.abs(ours - theirs))) / scale
    assert ours.dtype == theirs.dtype, f"{what}: dtype {ours.dtype} vs keras {theirs.dtype}"
    assert error <= PARITY_TOLERANCE, (
        f"{what}: relative difference {error:.2e} exceeds {PARITY_TOLERANCE:.0e}")


def _run_parity(tf, make_ours, make_theirs, seed=0):
    """Ten steps with one random gradient sequence; compare after every step."""
    rng = np.random.default_rng(seed)
    initial = [rng.normal(size=shape).astype("float32") for shape in SHAPES]
    ours_variables = [value.copy() for value in initial]
    keras_variables = [tf.Variable(value) for value in initial]
    ours, theirs = make_ours(), make_theirs()
    for step in range(1, STEPS + 1):
        grads = [rng.normal(size=shape).astype("float32") for shape in SHAPES]
        ours.apply_gradients(zip(grads, ours_variables))
        theirs.apply_gradients(zip([tf.constant(g) for g in grads], keras_variables))
        assert ours.iterations == int(theirs.iterations.numpy()) == step
        for index, (a, b) in enumerate(zip(ours_variables, keras_variables)):
            _assert_close(a, b.numpy(), f"step {step}, variable {index}")
        # Keras lists the iteration counter (and a float learning rate) first.
        keras_slots = [v for v in theirs.variables
                       if v.name not in ("iteration", "learning_rate")]
        assert len(ours.variables) == len(keras_slots)
        for index, (a, b) in enumerate(zip(ours.variables, keras_slots)):
            _assert_close(a, b.numpy(), f"step {step}, slot {index} ({b.name})")
    return ours_variables, initial


@pytest.mark.parity
@pytest.mark.parametrize(
    "name, kwargs", VARIANTS, ids=[_describe(n, k) for n, k in VARIANTS])
def test_update_formulas_match_keras(tf, name, kwargs):
    final, initial = _run_parity(
        tf,
        lambda: getattr(optimizers, name)(**kwargs),
        lambda: getattr(tf.keras.optimizers, name)(**kwargs),
    )
    # Guard against a vacuous comparison: the weights did move.
    assert any(not np.array_equal(a, b) for a, b in zip(final, initial))


OPTION_CASES = [(name, options) for name in OPTIMIZER_NAMES for options in OPTIONS]


@pytest.mark.parity
@pytest.mark.parametrize(
    "name, options", OPTION_CASES, ids=[_describe(n, o) for n, o in OPTION_CASES])
def test_clipping_and_weight_decay_match_keras(tf, name, options):
    kwargs = {**VISIBLE[name], **options}
    _run_parity(
        tf,
        lambda: getattr(optimizers, name)(**kwargs),
        lambda: getattr(tf.keras.optimizers, name)(**kwargs),
    )


SCHEDULE_CASES = [(optimizer, schedule, config)
                  for optimizer in ("SGD", "Adam")
                  for schedule, config in SCHEDULES]


@pytest.mark.parity
@pytest.mark.parametrize(
    "name, schedule, config", SCHEDULE_CASES,
    ids=[f"{n}-{_describe(s, c)}" for n, s, c in SCHEDULE_CASES])
def test_schedules_inside_optimizers_match_keras(tf, name, schedule, config):
    extra = dict(momentum=0.9) if name == "SGD" else {}
    _run_parity(
        tf,
        lambda: getattr(optimizers, name)(
            learning_rate=getattr(schedules, schedule)(**config), **extra),
        lambda: getattr(tf.keras.optimizers, name)(
            learning_rate=getattr(tf.keras.optimizers.schedules, schedule)(**config), **extra),
    )


@pytest.mark.parity
@pytest.mark.parametrize("schedule, config", SCHEDULES, ids=[s for s, _ in SCHEDULES])
def test_schedule_values_match_keras(tf, schedule, config):
    ours = getattr(schedules, schedule)(**config)
    theirs = getattr(tf.keras.optimizers.schedules, schedule)(**config)
    for step in range(12):
        expected = float(theirs(step))
        assert ours(step) == pytest.approx(expected, rel=1e-6), f"step {step}"


@pytest.mark.parity
@pytest.mark.parametrize("name", OPTIMIZER_NAMES)
def test_defaults_match_keras(tf, name):
    ours = getattr(optimizers, name)().get_config()
    theirs = getattr(tf.keras.optimizers, name)().get_config()
    for key, value in ours.items():
        if key == "name":
            # Both number their optimizers; the stem is the snake-case class name.
            assert value.split("_")[0] == theirs[key].split("_")[0]
        elif isinstance(value, float):
            # Keras stores the learning rate as float32.
            assert value == pytest.approx(theirs[key], rel=1e-7), key
        else:
            assert value == theirs[key], key
    # Every Keras argument we do not implement sits at its inactive value.
    missing = set(theirs) - set(ours)
    assert missing == {"use_ema", "ema_momentum", "ema_overwrite_frequency",
                       "loss_scale_factor", "gradient_accumulation_steps"}


@pytest.mark.parity
@pytest.mark.parametrize("name", OPTIMIZER_NAMES)
def test_configs_load_across_libraries(tf, name):
    keras_config = getattr(tf.keras.optimizers, name)(
        learning_rate=0.25, clipnorm=2.0).get_config()
    ours = getattr(optimizers, name).from_config(keras_config)
    assert ours.learning_rate == pytest.approx(0.25)
    assert ours.clipnorm == 2.0

    our_config = getattr(optimizers, name)(learning_rate=0.25, weight_decay=0.01).get_config()
    theirs = getattr(tf.keras.optimizers, name).from_config(our_config)
    assert float(theirs.learning_rate) == pytest.approx(0.25)
    assert theirs.weight_decay == 0.01


@pytest.mark.parity
def test_keras_schedule_config_loads(tf):
    keras_schedule = tf.keras.optimizers.schedules.ExponentialDecay(0.1, 4, 0.5)
    config = tf.keras.optimizers.Adam(learning_rate=keras_schedule).get_config()
    ours = optimizers.Adam.from_config(config)
    ours.iterations = 8
    assert ours.learning_rate == pytest.approx(0.025)


@pytest.mark.parity
def test_none_gradient_skipped_like_keras(tf):
    rng = np.random.default_rng(3)
    initial = [rng.normal(size=shape).astype("float32") for shape in SHAPES]
    grads = [None, rng.normal(size=SHAPES[1]).astype("float32"), None]
    ours_variables = [value.copy() for value in initial]
    keras_variables = [tf.Variable(value) for value in initial]
    ours = optimizers.Adam(learning_rate=0.1, weight_decay=0.5)
    theirs = tf.keras.optimizers.Adam(learning_rate=0.1, weight_decay=0.5)
    with pytest.warns(UserWarning, match=r"positions \[0, 2\]"):
        ours.apply(grads, ours_variables)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs.apply(
            [None if g is None else tf.constant(g) for g in grads], keras_variables)
    assert ours.iterations == int(theirs.iterations.numpy()) == 1
    for a, b in zip(ours_variables, keras_variables):
        _assert_close(a, b.numpy(), "after a step with None gradients")
    np.testing.assert_array_equal(ours_variables[0], initial[0])


# --------------------------------------------------------------------------
# Training sanity: minimise a quadratic
# --------------------------------------------------------------------------

def _quadratic(seed=0, dtype="float32"):
    rng = np.random.default_rng(seed)
    curvature = [rng.uniform(0.5, 2.0, size=shape).astype(dtype) for shape in SHAPES]
    target = [rng.normal(size=shape).astype(dtype) for shape in SHAPES]
    weights = [rng.normal(size=shape).astype(dtype) * 3 for shape in SHAPES]

    def loss():
        return sum(0.5 * float(np.sum(a * (w - t) ** 2))
                   for a, w, t in zip(curvature, weights, target))

    def gradients():
        return [a * (w - t) for a, w, t in zip(curvature, weights, target)]

    return weights, loss, gradients


# Adadelta's first steps are about sqrt(epsilon) long, so a larger epsilon
# gets it going within a few hundred steps.
TUNED = {
    "SGD": dict(learning_rate=0.05, momentum=0.9),
    "RMSprop": dict(learning_rate=0.03),
    "Adam": dict(learning_rate=0.05),
    "Adagrad": dict(learning_rate=0.5),
    "Adadelta": dict(learning_rate=1.0, epsilon=1e-3),
    "Adamax": dict(learning_rate=0.05),
    "Nadam": dict(learning_rate=0.05),
}


@pytest.mark.parametrize("name", OPTIMIZER_NAMES)
def test_tuned_optimizer_minimises_a_quadratic(name):
    weights, loss, gradients = _quadratic()
    optimizer = getattr(optimizers, name)(**TUNED[name])
    start = loss()
    for _ in range(300):
        optimizer.apply(gradients(), weights)
    assert loss() < 0.05 * start, f"{name}: loss {start:.3f} -> {loss():.3f}"


@pytest.mark.parametrize("name", [n.lower() for n in OPTIMIZER_NAMES])
def test_default_optimizer_decreases_the_loss(name):
    weights, loss, gradients = _quadratic(seed=1)
    optimizer = optimizers.get(name)
    history = [loss()]
    for _ in range(50):
        optimizer.apply_gradients(zip(gradients(), weights))
        history.append(loss())
    assert history[-1] < history[0]
    assert optimizer.iterations == 50


def test_float64_weights_stay_float64_and_train():
    weights, loss, gradients = _quadratic(dtype="float64")
    optimizer = optimizers.Nadam(learning_rate=0.05)
    start = loss()
    for _ in range(100):
        # float32 gradients are cast to the weights' dtype, not the reverse.
        optimizer.apply([g.astype("float32") for g in gradients()], weights)
    assert loss() < 0.2 * start
    assert all(w.dtype == np.float64 for w in weights)
    assert all(slot.dtype == np.float64 for slot in optimizer.variables)


def test_float32_weights_stay_float32_with_float64_gradients():
    weights, _, gradients = _quadratic()
    optimizer = optimizers.Adam(learning_rate=0.1, global_clipnorm=1.0, weight_decay=0.01)
    optimizer.apply([g.astype("float64") for g in gradients()], weights)
    assert all(w.dtype == np.float32 for w in weights)
    assert all(slot.dtype == np.float32 for slot in optimizer.variables)


# --------------------------------------------------------------------------
# Behaviour of the base class
# --------------------------------------------------------------------------

def test_updates_happen_in_place():
    weights, _, gradients = _quadratic()
    originals = list(weights)
    before = [w.copy() for w in weights]
    optimizer = optimizers.SGD(learning_rate=0.1, momentum=0.5)
    optimizer.apply(gradients(), weights)
    assert all(w is o for w, o in zip(weights, originals))
    assert all(not np.array_equal(w, b) for w, b in zip(weights, before))


def test_sgd_single_step_by_hand():
    weight = np.array([1.0, -2.0], dtype="float32")
    optimizers.SGD(learning_rate=0.5).apply([np.array([2.0, 4.0])], [weight])
    np.testing.assert_array_equal(weight, np.array([0.0, -4.0], dtype="float32"))


def test_build_then_apply_without_variables_and_slot_order():
    weights, _, gradients = _quadratic()
    optimizer = optimizers.Adam(amsgrad=True)
    optimizer.build(weights)
    # Keras's order: momentum and velocity per weight, then the velocity_hats.
    shapes = [slot.shape for slot in optimizer.variables]
    assert shapes == [SHAPES[0], SHAPES[0], SHAPES[1], SHAPES[1], SHAPES[2], SHAPES[2],
                      *SHAPES]
    optimizer.apply(gradients())
    assert optimizer.iterations == 1


def test_subset_of_known_variables_is_accepted_like_keras():
    weights, _, gradients = _quadratic()
    optimizer = optimizers.SGD(learning_rate=0.1)
    optimizer.apply(gradients(), weights)
    untouched = weights[0].copy()
    optimizer.apply(gradients()[1:], weights[1:])
    np.testing.assert_array_equal(weights[0], untouched)
    assert optimizer.iterations == 2


def test_adagrad_accumulator_starts_at_initial_value():
    optimizer = optimizers.Adagrad(initial_accumulator_value=0.3)
    optimizer.build([np.zeros((2, 2), dtype="float32")])
    np.testing.assert_array_equal(optimizer.variables[0], np.full((2, 2), 0.3, "float32"))


def test_empty_gradient_list_is_a_no_op():
    optimizer = optimizers.Adam()
    optimizer.apply([], [])
    assert optimizer.apply_gradients([]) == 0
    assert optimizer.iterations == 0 and not optimizer.built


def test_learning_rate_property_and_setter():
    optimizer = optimizers.RMSprop(learning_rate=0.01)
    assert optimizer.learning_rate == 0.01
    optimizer.learning_rate = 0.5
    assert optimizer.learning_rate == 0.5
    optimizer.learning_rate = schedules.ExponentialDecay(0.2, 1, 0.5)
    assert optimizer.learning_rate == pytest.approx(0.2)
    with pytest.raises(ValueError, match=r"RMSprop: `learning_rate`.*Received: learning_rate=-1"):
        optimizers.RMSprop().learning_rate = -1.0


def test_schedule_is_evaluated_at_iterations():
    schedule = schedules.PiecewiseConstantDecay(boundaries=[1, 3], values=[1.0, 0.5, 0.1])
    optimizer = optimizers.SGD(learning_rate=schedule)
    weight = np.zeros(1, dtype="float32")
    seen = []
    for _ in range(5):
        seen.append(optimizer.learning_rate)
        before = float(weight[0])
        optimizer.apply([np.ones(1, "float32")], [weight])
        # With a gradient of one, each step moves the weight by exactly its rate.
        assert before - float(weight[0]) == pytest.approx(seen[-1])
    assert seen == [1.0, 1.0, 0.5, 0.5, 0.1]
    with pytest.raises(TypeError, match="SGD: this optimizer was created with a Learning"):
        optimizer.learning_rate = 0.1


def test_callable_learning_rate():
    rates = iter([0.5, 0.25])
    current = {"rate": next(rates)}
    optimizer = optimizers.SGD(learning_rate=lambda: current["rate"])
    weight = np.zeros(1, dtype="float32")
    optimizer.apply([np.ones(1)], [weight])
    current["rate"] = next(rates)
    optimizer.apply([np.ones(1)], [weight])
    assert float(weight[0]) == pytest.approx(-0.75)


def test_schedule_formulas_by_hand():
    exponential = schedules.ExponentialDecay(1.0, decay_steps=2, decay_rate=0.25)
    assert exponential(1) == pytest.approx(0.5)
    staircase = schedules.ExponentialDecay(1.0, decay_steps=2, decay_rate=0.25, staircase=True)
    assert staircase(1) == 1.0 and staircase(2) == 0.25
    inverse = schedules.InverseTimeDecay(1.0, decay_steps=1, decay_rate=0.5)
    assert inverse(2) == pytest.approx(0.5)


def test_schedules_module_is_importable():
    from course_lib.optimizers.schedules import ExponentialDecay

    assert ExponentialDecay is optimizers.ExponentialDecay
    assert optimizers.schedules.InverseTimeDecay is optimizers.InverseTimeDecay


def test_automatic_names_follow_keras():
    assert optimizers.Adam().name == "adam"
    assert optimizers.Adam().name == "adam_1"
    assert optimizers.RMSprop().name == "rm_sprop"  # Keras's own snake-casing
    assert optimizers.SGD(name="mine").name == "mine"


# --------------------------------------------------------------------------
# get, serialization, configs
# --------------------------------------------------------------------------

@pytest.mark.parametrize("identifier", ["sgd", "SGD", "rmsprop", "RMSProp", "adam", "Adam",
                                        "adagrad", "adadelta", "adamax", "NADAM"])
def test_get_by_name_is_case_insensitive(identifier):
    optimizer = optimizers.get(identifier)
    assert type(optimizer).__name__.lower() == identifier.lower()
    assert optimizer.iterations == 0 and not optimizer.built


def test_get_returns_instances_unchanged_and_none():
    optimizer = optimizers.Adam()
    assert optimizers.get(optimizer) is optimizer
    assert optimizers.get(None) is None


def test_get_from_dict():
    optimizer = optimizers.get({"class_name": "adam", "config": {"learning_rate": 0.3}})
    assert isinstance(optimizer, optimizers.Adam) and optimizer.learning_rate == 0.3


@pytest.mark.parametrize("identifier", ["adamw_typo", 3, ["adam"]])
def test_get_unknown_names_the_function_value_and_choices(identifier):
    with pytest.raises(ValueError) as error:
        optimizers.get(identifier)
    message = str(error.value)
    assert "optimizers.get" in message and repr(identifier) in message
    assert "'adam'" in message and "'rmsprop'" in message


ROUND_TRIP = [
    optimizers.SGD(learning_rate=0.2, momentum=0.8, nesterov=True, clipvalue=1.5, name="s"),
    optimizers.RMSprop(rho=0.8, momentum=0.1, epsilon=1e-5, centered=True, weight_decay=0.01),
    optimizers.Adam(beta_1=0.8, beta_2=0.9, amsgrad=True, global_clipnorm=3.0),
    optimizers.Adagrad(initial_accumulator_value=0.2, clipnorm=1.0),
    optimizers.Adadelta(learning_rate=1.0, rho=0.9),
    optimizers.Adamax(beta_1=0.7),
    optimizers.Nadam(learning_rate=schedules.InverseTimeDecay(0.1, 2, 0.3, staircase=True)),
    optimizers.Adam(learning_rate=schedules.PiecewiseConstantDecay([10], [0.1, 0.01])),
]


@pytest.mark.parametrize("optimizer", ROUND_TRIP, ids=lambda o: type(o).__name__)
def test_config_round_trip(optimizer):
    config = optimizer.get_config()
    rebuilt = type(optimizer).from_config(config)
    assert rebuilt.get_config() == config
    again = optimizers.deserialize(optimizers.serialize(optimizer))
    assert type(again) is type(optimizer) and again.get_config() == config


def test_schedule_serialization_round_trip():
    schedule = schedules.ExponentialDecay(0.1, 7, 0.9, staircase=True)
    rebuilt = schedules.deserialize(schedules.serialize(schedule))
    assert rebuilt.get_config() == schedule.get_config()
    with pytest.raises(ValueError, match="unknown schedule 'NoSuchDecay'"):
        schedules.deserialize({"class_name": "NoSuchDecay", "config": {}})


# --------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------

@pytest.mark.parametrize("name", OPTIMIZER_NAMES)
def test_lr_spelling_explains_the_rename(name):
    with pytest.raises(ValueError) as error:  # the exception class tf.keras raises
        getattr(optimizers, name)(lr=0.01)
    message = str(error.value)
    assert message.startswith(f"{name}:") and "learning_rate" in message
    assert "Keras 3" in message and "Received: lr=0.01" in message


def test_decay_points_to_schedules():
    with pytest.raises(ValueError) as error:
        optimizers.SGD(learning_rate=0.01, decay=1e-6)
    message = str(error.value)
    assert "removed in Keras 3" in message and "InverseTimeDecay" in message
    assert "Received: decay=1e-06" in message
    # decay=None or 0 changes nothing, so it is accepted.
    assert optimizers.SGD(decay=None).learning_rate == 0.01
    assert optimizers.SGD(decay=0.0).learning_rate == 0.01


def test_unknown_keyword_argument():
    with pytest.raises(ValueError, match=r"Adam: unexpected keyword argument\(s\) \['momentum'\]"):
        optimizers.Adam(momentum=0.9)


def test_unimplemented_keras_features_are_refused_not_ignored():
    assert optimizers.Adam(use_ema=True).use_ema  # moving averages are implemented (test_more_callbacks)
    with pytest.raises(ValueError, match="gradient accumulation"):
        optimizers.SGD(gradient_accumulation_steps=4)
    assert optimizers.Adam(use_ema=False, ema_momentum=0.99).learning_rate == 0.001


BAD_ARGUMENTS = [
    ("SGD", dict(learning_rate=-0.1), ValueError, "learning_rate=-0.1"),
    ("Adam", dict(learning_rate="fast"), TypeError, "learning_rate='fast'"),
    ("Adam", dict(learning_rate=float("nan")), ValueError, "learning_rate=nan"),
    ("SGD", dict(momentum=-0.1), ValueError, "momentum=-0.1"),
    ("SGD", dict(momentum=1.5), ValueError, "momentum=1.5"),
    ("SGD", dict(nesterov="yes"), TypeError, "nesterov='yes'"),
    ("RMSprop", dict(momentum=-1.0), ValueError, "momentum=-1.0"),
    ("RMSprop", dict(rho=1.0), ValueError, "rho=1.0"),
    ("RMSprop", dict(epsilon=-1e-7), ValueError, "epsilon=-1e-07"),
    ("RMSprop", dict(centered=1), TypeError, "centered=1"),
    ("Adam", dict(beta_1=1.0), ValueError, "beta_1=1.0"),
    ("Adam", dict(beta_2=-0.5), ValueError, "beta_2=-0.5"),
    ("Adam", dict(amsgrad="no"), TypeError, "amsgrad='no'"),
    ("Adamax", dict(beta_1=1.2), ValueError, "beta_1=1.2"),
    ("Nadam", dict(beta_2=1.0), ValueError, "beta_2=1.0"),
    ("Adagrad", dict(initial_accumulator_value=-0.1), ValueError,
     "initial_accumulator_value=-0.1"),
    ("Adadelta", dict(rho=-0.2), ValueError, "rho=-0.2"),
    ("Adam", dict(weight_decay=-0.01), ValueError, "weight_decay=-0.01"),
    ("SGD", dict(clipnorm=0.0), ValueError, "clipnorm=0.0"),
    ("SGD", dict(clipvalue=-1.0), ValueError, "clipvalue=-1.0"),
    ("SGD", dict(global_clipnorm="1"), TypeError, "global_clipnorm='1'"),
    ("SGD", dict(clipnorm=1.0, clipvalue=1.0), ValueError, "clipnorm=1.0, clipvalue=1.0"),
    ("Adam", dict(name=3), TypeError, "name=3"),
]


@pytest.mark.parametrize(
    "name, kwargs, error, received", BAD_ARGUMENTS,
    ids=[_describe(n, k) for n, k, _, _ in BAD_ARGUMENTS])
def test_bad_hyper_parameters_raise_at_construction(name, kwargs, error, received):
    with pytest.raises(error) as raised:
        getattr(optimizers, name)(**kwargs)
    message = str(raised.value)
    assert message.startswith(f"{name}:") and received in message


def test_mismatched_list_lengths():
    weights, _, gradients = _quadratic()
    with pytest.raises(ValueError, match="Adam.apply: .*Received: 2 gradients for 3 variables"):
        optimizers.Adam().apply(gradients()[:2], weights)


def test_gradient_shape_mismatch_names_index_and_shapes():
    weights, _, gradients = _quadratic()
    grads = gradients()
    grads[1] = np.zeros((5, 1), dtype="float32")
    with pytest.raises(ValueError, match=r"gradient 1 has shape \(5, 1\).*shape \(5,\)"):
        optimizers.SGD().apply(grads, weights)


def test_changed_variable_list_is_refused():
    weights, _, gradients = _quadratic()
    optimizer = optimizers.Adam()
    optimizer.apply(gradients(), weights)
    replaced = [weights[0], weights[1].copy(), weights[2]]
    with pytest.raises(ValueError, match=r"Adam.apply: variable 1 \(shape \(5,\)\) is not one"):
        optimizer.apply(gradients(), replaced)
    assert optimizer.iterations == 1


def test_variables_must_be_writeable_float_arrays():
    with pytest.raises(TypeError, match="SGD.apply: variable 0 must be a writeable"):
        optimizers.SGD().apply([np.ones(2)], [[1.0, 2.0]])
    with pytest.raises(TypeError, match="Received: an array of dtype int64"):
        optimizers.SGD().apply([np.ones(2)], [np.array([1, 2])])
    frozen = np.zeros(2, dtype="float32")
    frozen.flags.writeable = False
    with pytest.raises(TypeError, match="writeable"):
        optimizers.SGD().apply([np.ones(2)], [frozen])


def test_same_array_twice_is_refused():
    weight = np.zeros(3, dtype="float32")
    with pytest.raises(ValueError, match="Adam.build: variables 0 and 1 are the same array"):
        optimizers.Adam().build([weight, weight])


def test_apply_without_variables_before_build():
    with pytest.raises(ValueError, match="SGD.apply: without `variables`"):
        optimizers.SGD().apply([np.ones(2)])


def test_all_none_gradients_raise():
    with pytest.raises(ValueError, match="no gradients provided"):
        optimizers.SGD().apply([None, None], [np.zeros(2, "float32"), np.zeros(1, "float32")])


def test_non_numeric_gradient_is_refused():
    with pytest.raises(TypeError, match=r"SGD.apply \(gradient 0\): expected a numeric array"):
        optimizers.SGD().apply([np.array(["a", "b"])], [np.zeros(2, "float32")])


def test_apply_gradients_needs_pairs():
    with pytest.raises(ValueError, match="expected \\(gradient, variable\\) pairs"):
        optimizers.SGD().apply_gradients([np.ones(2)])


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: schedules.ExponentialDecay(0.1, 0, 0.5), "decay_steps=0"),
        (lambda: schedules.InverseTimeDecay(0.1, -2, 0.5), "decay_steps=-2"),
        (lambda: schedules.ExponentialDecay(-0.1, 10, 0.5), "initial_learning_rate=-0.1"),
        (lambda: schedules.PiecewiseConstantDecay([1, 2], [0.1, 0.2]), "one more entry"),
        (lambda: schedules.PiecewiseConstantDecay([3, 2], [0.1, 0.2, 0.3]), "strictly increasing"),
    ],
)
def test_bad_schedule_arguments(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_schedule_rejects_negative_step():
    with pytest.raises(ValueError, match="ExponentialDecay: `step`"):
        schedules.ExponentialDecay(0.1, 10, 0.5)(-1)


def test_iterations_setter_validates():
    optimizer = optimizers.Adam()
    optimizer.iterations = 5
    assert optimizer.iterations == 5
    with pytest.raises(ValueError, match="Adam: `iterations` must be an int >= 0"):
        optimizer.iterations = -1


def test_default_epsilon_is_the_backend_fuzz_factor():
    for name in ("RMSprop", "Adam", "Adagrad", "Adadelta", "Adamax", "Nadam"):
        assert getattr(optimizers, name)().epsilon == backend.epsilon(), name
