"""PolynomialDecay, CosineDecay and CosineDecayRestarts: formulas, corners, errors, configs.

The values against tf.keras are in tests/parity/test_schedules_more_parity.py;
here each formula is checked at points where its value is known by hand.
"""
import math

import numpy as np
import pytest

import course_lib as cl
from course_lib import optimizers
from course_lib.optimizers import schedules


# --------------------------------------------------------------------------
# PolynomialDecay
# --------------------------------------------------------------------------

def test_polynomial_decay_is_a_straight_line_then_flat():
    schedule = schedules.PolynomialDecay(1.0, decay_steps=4, end_learning_rate=0.2)
    assert [schedule(step) for step in (0, 1, 2, 4)] == pytest.approx([1.0, 0.8, 0.6, 0.2], abs=1e-15)
    assert schedule(1.5) == pytest.approx(0.7)  # a float step lies on the line
    assert schedule(5) == schedule(400) == pytest.approx(0.2)  # past decay_steps: the end rate


def test_polynomial_decay_power():
    schedule = schedules.PolynomialDecay(1.0, decay_steps=4, end_learning_rate=0.0, power=2.0)
    assert schedule(2) == pytest.approx(0.25)
    assert schedules.PolynomialDecay(1.0, 4, 0.0, power=0.5)(3) == pytest.approx(0.5)
    assert schedules.PolynomialDecay(0.3, 4, 0.1, power=0.0)(4) == pytest.approx(0.3)  # 0 ** 0 == 1


def test_polynomial_decay_cycle_restarts_over_longer_decays():
    schedule = schedules.PolynomialDecay(1.0, decay_steps=4, end_learning_rate=0.0, cycle=True)
    assert schedule(0) == 1.0  # the multiplier is 1 at step 0, not ceil(0) = 0
    assert schedule(4) == pytest.approx(0.0)  # each multiple of decay_steps reaches the end rate ...
    assert schedule(5) == pytest.approx(1 - 5 / 8)  # ... and the next decay runs over 8 steps
    assert schedule(8) == pytest.approx(0.0)
    assert schedule(9) == pytest.approx(1 - 9 / 12)
    assert schedule(4.5) == pytest.approx(1 - 4.5 / 8)


# --------------------------------------------------------------------------
# CosineDecay
# --------------------------------------------------------------------------

def test_cosine_decay_half_a_cosine_to_alpha():
    schedule = schedules.CosineDecay(2.0, decay_steps=10, alpha=0.1)
    assert schedule(0) == pytest.approx(2.0)
    assert schedule(5) == pytest.approx(2.0 * (0.9 * 0.5 + 0.1))
    assert schedule(10) == pytest.approx(0.2)
    assert schedule(11) == schedule(1e6) == pytest.approx(0.2)
    assert schedule(2.5) == pytest.approx(2.0 * (0.9 * 0.5 * (1 + math.cos(math.pi / 4)) + 0.1))


def test_cosine_decay_warmup_climbs_then_decays_from_the_target():
    schedule = schedules.CosineDecay(0.0, decay_steps=4, warmup_target=1.0, warmup_steps=2)
    assert [schedule(step) for step in (0, 0.5, 1, 1.5)] == pytest.approx([0.0, 0.25, 0.5, 0.75])
    assert schedule(2) == pytest.approx(1.0)  # the end of the warmup starts the cosine
    assert schedule(4) == pytest.approx(0.5)
    assert schedule(6) == pytest.approx(0.0, abs=1e-15)
    assert schedule(7) == pytest.approx(0.0, abs=1e-15)


def test_cosine_decay_warmup_corners_follow_keras():
    # warmup_steps=0 with a target: the decay starts from the target at once.
    assert schedules.CosineDecay(0.1, 10, warmup_target=0.5, warmup_steps=0)(0) == pytest.approx(0.5)
    # warmup_steps without a target is ignored (no warmup, no shift of the cosine).
    assert schedules.CosineDecay(0.1, 10, warmup_steps=4)(5) == pytest.approx(schedules.CosineDecay(0.1, 10)(5))
    # a warmup may go down as well as up
    assert schedules.CosineDecay(0.4, 10, warmup_target=0.2, warmup_steps=2)(1) == pytest.approx(0.3)


# --------------------------------------------------------------------------
# CosineDecayRestarts
# --------------------------------------------------------------------------

def test_restarts_with_t_mul_one_repeat_the_same_period():
    schedule = schedules.CosineDecayRestarts(1.0, first_decay_steps=4, t_mul=1.0, m_mul=0.5)
    assert schedule(0) == 1.0
    assert schedule(2) == pytest.approx(0.5)
    assert schedule(4) == pytest.approx(0.5)  # the second period starts at m_mul
    assert schedule(6) == pytest.approx(0.25)
    assert schedule(8) == pytest.approx(0.25)
    assert schedule(3.9) == pytest.approx(0.5 * (1 + math.cos(math.pi * 3.9 / 4)))


def test_restarts_with_t_mul_two_double_each_period():
    schedule = schedules.CosineDecayRestarts(1.0, first_decay_steps=2, t_mul=2.0, m_mul=1.0, alpha=0.2)
    # periods: [0, 2), [2, 6), [6, 14), [14, 30)
    for start, length in ((0, 2), (2, 4), (6, 8), (14, 16)):
        assert schedule(start) == pytest.approx(1.0), start
        assert schedule(start + length / 2) == pytest.approx(0.8 * 0.5 + 0.2), start
        assert schedule(start + length - 1e-9) == pytest.approx(0.2, abs=1e-8), start


def test_restarts_start_the_new_period_exactly_on_every_restart():
    # On these steps a plain float64 log(...) / log(t_mul) rounds down (log(243) / log(3) = 4.999...),
    # or a float32 one does (Keras at 8191 with t_mul=2): the period is corrected by its exact boundaries.
    for t_mul, first, restart in ((3.0, 1, 121), (2.0, 1, 8191), (2.0, 1, 32767), (2.0, 3, 24573), (4.0, 1, 341)):
        schedule = schedules.CosineDecayRestarts(1.0, first, t_mul=t_mul, m_mul=0.5)
        period = round(math.log(1 + restart / first * (t_mul - 1)) / math.log(t_mul))
        assert schedule(restart) == pytest.approx(0.5 ** period), (t_mul, restart)
        assert schedule(restart - 1e-6) == pytest.approx(0.0, abs=1e-6), (t_mul, restart)


def test_restarts_alpha_is_not_scaled_by_m_mul():
    schedule = schedules.CosineDecayRestarts(1.0, 1, t_mul=1.0, m_mul=0.5, alpha=0.1)
    assert schedule(3) == pytest.approx(0.9 * 0.125 + 0.1)
    assert schedule(3.5) == pytest.approx(0.9 * 0.125 * 0.5 + 0.1)


# --------------------------------------------------------------------------
# In optimizers, configs, registration
# --------------------------------------------------------------------------

ALL = [
    schedules.PolynomialDecay(0.1, 7, end_learning_rate=0.01, power=0.5, cycle=True, name="poly"),
    schedules.CosineDecay(0.0, 5, alpha=0.1, warmup_target=0.2, warmup_steps=3),
    schedules.CosineDecayRestarts(0.1, 3, t_mul=1.5, m_mul=0.8, alpha=0.05),
]


@pytest.mark.parametrize("schedule", ALL, ids=lambda s: type(s).__name__)
def test_an_optimizer_evaluates_the_schedule_at_its_iterations(schedule):
    optimizer = optimizers.SGD(learning_rate=schedule)
    weight = np.ones(3, dtype="float64")
    for step in range(12):
        assert optimizer.learning_rate == schedule(step)
        before = weight.copy()
        optimizer.apply([np.ones(3)], [weight])
        np.testing.assert_array_equal(weight, before - schedule(step))


@pytest.mark.parametrize("schedule", ALL, ids=lambda s: type(s).__name__)
def test_configs_round_trip(schedule):
    config = schedule.get_config()
    assert type(schedule).from_config(config).get_config() == config
    assert schedules.serialize(schedule) == {"module": "keras.optimizers.schedules", "class_name": type(schedule).__name__,
                                             "config": config, "registered_name": None}
    rebuilt = schedules.deserialize(schedules.serialize(schedule))
    assert type(rebuilt) is type(schedule) and rebuilt.get_config() == config
    rebuilt = cl.saving.deserialize_keras_object(cl.saving.serialize_keras_object(schedule))
    assert type(rebuilt) is type(schedule) and rebuilt.get_config() == config
    optimizer = optimizers.Adam.from_config(optimizers.Adam(learning_rate=schedule).get_config())
    optimizer.iterations = 4
    assert optimizer.learning_rate == schedule(4)
    assert repr(schedule).startswith(type(schedule).__name__ + "(")


def test_config_keys_defaults_and_integers_are_kept():
    assert schedules.PolynomialDecay(0.1, 10).get_config() == {
        "initial_learning_rate": 0.1, "decay_steps": 10, "end_learning_rate": 0.0001, "power": 1.0,
        "cycle": False, "name": "PolynomialDecay"}
    assert schedules.CosineDecay(0.1, 10).get_config() == {
        "initial_learning_rate": 0.1, "decay_steps": 10, "alpha": 0.0, "name": "CosineDecay",
        "warmup_target": None, "warmup_steps": 0}
    assert schedules.CosineDecayRestarts(0.1, 10).get_config() == {
        "initial_learning_rate": 0.1, "first_decay_steps": 10, "t_mul": 2.0, "m_mul": 1.0, "alpha": 0.0,
        "name": "SGDRDecay"}
    config = schedules.CosineDecay(1, np.int64(8), warmup_steps=2.5).get_config()
    assert type(config["decay_steps"]) is int and config["warmup_steps"] == 2.5
    assert type(config["initial_learning_rate"]) is float


def test_the_schedules_namespace_lists_them():
    from course_lib.optimizers.schedules import CosineDecay, CosineDecayRestarts, PolynomialDecay

    assert CosineDecay is optimizers.CosineDecay is cl.optimizers.schedules.CosineDecay
    assert CosineDecayRestarts is optimizers.CosineDecayRestarts
    assert PolynomialDecay is optimizers.PolynomialDecay
    for name in ("CosineDecay", "CosineDecayRestarts", "PolynomialDecay"):
        assert name in schedules.__doc__
        assert isinstance(schedules.deserialize({"class_name": name, "config": {
            "initial_learning_rate": 0.1, ("first_decay_steps" if name.endswith("Restarts") else "decay_steps"): 3}}),
            getattr(schedules, name))


# --------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------

@pytest.mark.parametrize("build, error, message", [
    (lambda: schedules.PolynomialDecay(0.1, 0), ValueError, r"PolynomialDecay: `decay_steps` .* > 0\. Received: decay_steps=0"),
    (lambda: schedules.PolynomialDecay(0.1, -3), ValueError, r"PolynomialDecay: .*decay_steps=-3"),
    (lambda: schedules.PolynomialDecay(-0.1, 3), ValueError, r"PolynomialDecay: .*initial_learning_rate=-0.1"),
    (lambda: schedules.PolynomialDecay(0.1, 3, end_learning_rate=-1.0), ValueError, r"PolynomialDecay: .*end_learning_rate=-1.0"),
    (lambda: schedules.PolynomialDecay(0.1, 3, power=-1.0), ValueError, r"PolynomialDecay: `power` .*>= 0. Received: power=-1.0"),
    (lambda: schedules.PolynomialDecay(0.1, 3, cycle=1), TypeError, r"PolynomialDecay: `cycle` must be True or False"),
    (lambda: schedules.PolynomialDecay("0.1", 3), TypeError, r"PolynomialDecay: `initial_learning_rate` must be a float"),
    (lambda: schedules.PolynomialDecay(0.1, True), TypeError, r"PolynomialDecay: `decay_steps` must be a float"),
    (lambda: schedules.CosineDecay(0.1, 0), ValueError, r"CosineDecay: `decay_steps` .*Received: decay_steps=0"),
    (lambda: schedules.CosineDecay(0.1, 10, alpha=1.5), ValueError, r"CosineDecay: `alpha` .*\[0, 1\]. Received: alpha=1.5"),
    (lambda: schedules.CosineDecay(0.1, 10, alpha=-0.1), ValueError, r"CosineDecay: .*alpha=-0.1"),
    (lambda: schedules.CosineDecay(0.1, 10, warmup_target=-0.2), ValueError, r"CosineDecay: .*warmup_target=-0.2"),
    (lambda: schedules.CosineDecay(0.1, 10, warmup_target="0.2"), TypeError, r"CosineDecay: `warmup_target` must be a float"),
    (lambda: schedules.CosineDecay(0.1, 10, warmup_steps=-1), ValueError, r"CosineDecay: .*warmup_steps=-1"),
    (lambda: schedules.CosineDecay(0.1, float("nan")), ValueError, r"CosineDecay: .*decay_steps=nan"),
    (lambda: schedules.CosineDecayRestarts(0.1, 0), ValueError,
     r"CosineDecayRestarts: `first_decay_steps` .*Received: first_decay_steps=0"),
    (lambda: schedules.CosineDecayRestarts(0.1, 10, t_mul=0.5), ValueError,
     r"CosineDecayRestarts: `t_mul` .*>= 1. Received: t_mul=0.5"),
    (lambda: schedules.CosineDecayRestarts(0.1, 10, m_mul=-1.0), ValueError, r"CosineDecayRestarts: .*m_mul=-1.0"),
    (lambda: schedules.CosineDecayRestarts(0.1, 10, alpha=2.0), ValueError, r"CosineDecayRestarts: .*alpha=2.0"),
    (lambda: schedules.CosineDecayRestarts(None, 10), TypeError,
     r"CosineDecayRestarts: `initial_learning_rate` must be a float"),
])
def test_bad_arguments_name_the_class_and_the_value(build, error, message):
    with pytest.raises(error, match=message):
        build()


@pytest.mark.parametrize("schedule", ALL, ids=lambda s: type(s).__name__)
def test_bad_steps_name_the_class(schedule):
    name = type(schedule).__name__
    with pytest.raises(ValueError, match=rf"{name}: `step` .*>= 0. Received: step=-1"):
        schedule(-1)
    with pytest.raises(TypeError, match=rf"{name}: `step` must be a float"):
        schedule("3")


def test_unknown_arguments_in_a_config_raise():
    with pytest.raises(TypeError, match="decay_rate"):
        schedules.deserialize({"class_name": "CosineDecay", "config": {
            "initial_learning_rate": 0.1, "decay_steps": 3, "decay_rate": 0.5}})
