"""PolynomialDecay, CosineDecay and CosineDecayRestarts against tf.keras's, computed in the same test.

Keras evaluates a schedule in float32 (the dtype of its initial rate), course_lib
in float64. Values are compared at many steps (0, fractional, past the end,
cycles, warmup, restarts): measured within 1.7e-7 of the largest rate, so each
value is asserted at rtol 1e-6 plus atol 1e-6 times the largest rate (a rate
near a cosine's end has float32 cancellation in Keras, hence the absolute part).
Steps stay below 130: further on, Keras's float32 ``step / first_decay_steps``
loses digits (1.7e-6 of the rate at step 194 of a 3-step period). On a restart step Keras's float32 logarithm sometimes gives the previous
period (``alpha`` times the rate instead of the new start); course_lib always
starts the new period (documented on the class, tested below against Keras's own
value). ``fit`` with SGD and each schedule: measured within 9e-8 (absolute) on the
weights after 4 epochs, asserted at rtol 1e-5 / atol 1e-6 (the project's fit
tolerance). Files: the schedule's config and the optimizer state cross both ways,
and training resumes to the same weights.
"""
import numpy as np
import pytest

import course_lib as cl

tf = pytest.importorskip("tensorflow")
from keras_tape import assert_same_fit  # noqa: E402  (it imports tensorflow)
import keras  # noqa: E402  (Keras 3, the library tf.keras is)

pytestmark = pytest.mark.parity

RTOL, ATOL = 1e-5, 1e-6
FRACTIONS = [0.5, 1.25, 2.75, 3.3, 7.75, 10.5, 12.01, 27.9, 61.5]

CASES = [
    ("PolynomialDecay", dict(initial_learning_rate=0.1, decay_steps=10)),
    ("PolynomialDecay", dict(initial_learning_rate=0.1, decay_steps=7, end_learning_rate=0.01, power=0.5)),
    ("PolynomialDecay", dict(initial_learning_rate=0.1, decay_steps=7, end_learning_rate=0.01, power=0.5, cycle=True)),
    ("PolynomialDecay", dict(initial_learning_rate=0.3, decay_steps=4, end_learning_rate=0.0, power=2.0, cycle=True)),
    ("PolynomialDecay", dict(initial_learning_rate=0.2, decay_steps=2.5, power=3.0)),
    ("CosineDecay", dict(initial_learning_rate=0.1, decay_steps=10)),
    ("CosineDecay", dict(initial_learning_rate=0.1, decay_steps=7, alpha=0.1)),
    ("CosineDecay", dict(initial_learning_rate=0.0, decay_steps=10, warmup_target=0.2, warmup_steps=5)),
    ("CosineDecay", dict(initial_learning_rate=0.05, decay_steps=10, alpha=0.3, warmup_target=0.2, warmup_steps=3)),
    ("CosineDecay", dict(initial_learning_rate=0.3, decay_steps=6, warmup_target=0.1, warmup_steps=2.5)),
    ("CosineDecay", dict(initial_learning_rate=0.05, decay_steps=10, warmup_target=0.2, warmup_steps=0)),
    ("CosineDecay", dict(initial_learning_rate=0.05, decay_steps=10, warmup_steps=4)),  # ignored without a target
    ("CosineDecayRestarts", dict(initial_learning_rate=0.1, first_decay_steps=3)),
    ("CosineDecayRestarts", dict(initial_learning_rate=0.1, first_decay_steps=4, t_mul=1.0, m_mul=0.5, alpha=0.1)),
    ("CosineDecayRestarts", dict(initial_learning_rate=0.5, first_decay_steps=1, t_mul=3.0, m_mul=0.9)),
    ("CosineDecayRestarts", dict(initial_learning_rate=0.5, first_decay_steps=5, t_mul=1.5, m_mul=0.8, alpha=0.2)),
    ("CosineDecayRestarts", dict(initial_learning_rate=0.2, first_decay_steps=2.5, t_mul=2.5)),
]


def _describe(name, config):
    return name + "-" + ",".join(f"{k}={v}" for k, v in config.items() if k != "initial_learning_rate")


def _pair(name, config):
    return getattr(cl.optimizers.schedules, name)(**config), getattr(keras.optimizers.schedules, name)(**config)


@pytest.mark.parametrize("name, config", CASES, ids=[_describe(n, c) for n, c in CASES])
def test_values_match_keras_at_many_steps(name, config):
    ours, theirs = _pair(name, config)
    steps = list(range(0, 130)) + FRACTIONS
    mine = np.array([ours(step) for step in steps])
    reference = np.array([float(theirs(step)) for step in steps])
    scale = max(config["initial_learning_rate"], config.get("warmup_target") or 0.0)
    np.testing.assert_allclose(mine, reference, rtol=1e-6, atol=1e-6 * scale)
    assert len(set(np.round(reference, 6))) > 3  # the schedule moved: not a comparison of constants


def test_restart_steps_agree_with_keras_or_differ_only_where_keras_rounds_into_the_old_period():
    agreed = differed = 0
    for t_mul in (2.0, 3.0, 4.0, 1.5):
        for first in (1, 2, 3, 8):
            ours, theirs = _pair("CosineDecayRestarts", dict(initial_learning_rate=1.0, first_decay_steps=first,
                                                             t_mul=t_mul, m_mul=0.5, alpha=0.1))
            start, length, period = 0.0, float(first), 0
            while start < 40000:
                start, length, period = start + length, length * t_mul, period + 1
                if start != int(start):
                    continue
                expected_start = 0.9 * 0.5 ** period + 0.1
                assert ours(start) == pytest.approx(expected_start, rel=1e-12)
                keras_value = float(theirs(start))
                if keras_value == pytest.approx(expected_start, rel=1e-5):
                    agreed += 1
                else:  # Keras's float32 log put the step at the end of the previous period
                    assert keras_value == pytest.approx(0.1, rel=1e-5), (t_mul, first, start)
                    differed += 1
                # just after the restart both are in the new period
                assert ours(start + 0.25) == pytest.approx(float(theirs(start + 0.25)), rel=1e-4)
    assert agreed > 50 and differed >= 2  # 8191 and 32767 with t_mul=2, first_decay_steps=1, among others


@pytest.mark.parametrize("name, config", CASES[::2], ids=[_describe(n, c) for n, c in CASES[::2]])
def test_configs_and_serialization_match_keras(name, config):
    ours, theirs = _pair(name, config)
    assert ours.get_config() == theirs.get_config()
    assert list(ours.get_config()) == list(theirs.get_config())
    assert cl.saving.serialize_keras_object(ours) == keras.optimizers.schedules.serialize(theirs)
    assert cl.optimizers.schedules.serialize(ours) == keras.optimizers.schedules.serialize(theirs)
    # each library rebuilds the other's serialized schedule
    rebuilt = cl.optimizers.schedules.deserialize(keras.optimizers.schedules.serialize(theirs))
    assert type(rebuilt) is type(ours) and rebuilt.get_config() == theirs.get_config()
    rebuilt = keras.optimizers.schedules.deserialize(cl.optimizers.schedules.serialize(ours))
    assert type(rebuilt).__name__ == name and rebuilt.get_config() == ours.get_config()
    rebuilt = keras.saving.deserialize_keras_object(cl.saving.serialize_keras_object(ours))
    assert type(rebuilt).__name__ == name and rebuilt.get_config() == ours.get_config()
    # and an optimizer's config carries it both ways
    keras_config = keras.optimizers.Adam(learning_rate=theirs).get_config()
    loaded = cl.optimizers.Adam.from_config(keras_config)
    assert type(loaded._learning_rate) is type(ours) and loaded._learning_rate.get_config() == theirs.get_config()
    our_config = cl.optimizers.Adam(learning_rate=ours).get_config()
    assert our_config["learning_rate"] == keras_config["learning_rate"]
    back = keras.optimizers.Adam.from_config(our_config)
    assert back._learning_rate.get_config() == ours.get_config()
    back = keras.saving.deserialize_keras_object(cl.saving.serialize_keras_object(cl.optimizers.Adam(learning_rate=ours)))
    assert type(back.learning_rate).__name__ != "float"
    assert back._learning_rate.get_config() == ours.get_config()


def test_defaults_match_keras():
    for name, required in (("PolynomialDecay", (0.1, 10)), ("CosineDecay", (0.1, 10)), ("CosineDecayRestarts", (0.1, 10))):
        assert getattr(cl.optimizers.schedules, name)(*required).get_config() == \
            getattr(keras.optimizers.schedules, name)(*required).get_config(), name


def test_keras_rejects_what_course_lib_rejects_for_the_steps():
    for name, argument in (("PolynomialDecay", "decay_steps"), ("CosineDecay", "decay_steps"),
                           ("CosineDecayRestarts", "first_decay_steps")):
        with pytest.raises(ValueError, match=f"{argument}=0"):
            getattr(keras.optimizers.schedules, name)(0.1, 0)
        with pytest.raises(ValueError, match=f"{name}: .*{argument}=0"):
            getattr(cl.optimizers.schedules, name)(0.1, 0)


FIT_SCHEDULES = [
    ("PolynomialDecay", dict(initial_learning_rate=0.2, decay_steps=6, end_learning_rate=0.01, power=0.5, cycle=True)),
    ("CosineDecay", dict(initial_learning_rate=0.02, decay_steps=12, alpha=0.1, warmup_target=0.2, warmup_steps=4)),
    ("CosineDecayRestarts", dict(initial_learning_rate=0.2, first_decay_steps=3, t_mul=2.0, m_mul=0.7, alpha=0.05)),
]


def _mlp(library):
    return library.Sequential([
        library.Input((6,)),
        library.layers.Dense(16, activation="relu"),
        library.layers.Dense(8, activation="tanh"),
        library.layers.Dense(3, activation="softmax"),
    ])


def _data(seed=0, samples=80):
    generator = np.random.default_rng(seed)
    return generator.standard_normal((samples, 6)).astype("float32"), generator.integers(0, 3, samples)


@pytest.mark.parametrize("name, config", FIT_SCHEDULES, ids=[n for n, _ in FIT_SCHEDULES])
def test_a_fit_with_sgd_and_the_schedule_matches_keras(name, config):
    x, y = _data()
    keras.utils.set_random_seed(0)
    theirs = _mlp(keras)
    ours = cl.testing.from_keras(theirs)
    initial = [w.copy() for w in ours.get_weights()]
    optimizers = []
    for model, library in ((theirs, keras), (ours, cl)):
        optimizer = library.optimizers.SGD(learning_rate=getattr(library.optimizers.schedules, name)(**config),
                                           momentum=0.5)
        model.compile(optimizer, "sparse_categorical_crossentropy", metrics=["accuracy"])
        optimizers.append(optimizer)
    assert_same_fit(ours, theirs, x, y, RTOL, ATOL, epochs=4, batch_size=16, shuffle=False, verbose=0)
    for mine, reference in zip(ours.get_weights(), theirs.get_weights(), strict=True):
        np.testing.assert_allclose(mine, reference, rtol=RTOL, atol=ATOL)
    assert any(not np.allclose(a, b) for a, b in zip(ours.get_weights(), initial))
    assert optimizers[1].iterations == int(optimizers[0].iterations.numpy()) == 20
    assert optimizers[1].learning_rate == pytest.approx(float(optimizers[0].learning_rate), rel=1e-6)


def _compiled(library, name, config):
    keras.utils.set_random_seed(1)
    model = library.Sequential([library.Input((6,)), library.layers.Dense(8, activation="tanh"),
                                library.layers.Dense(3, activation="softmax")])
    schedule = getattr(library.optimizers.schedules, name)(**config)
    model.compile(library.optimizers.Adam(learning_rate=schedule), "sparse_categorical_crossentropy")
    return model


def _resume_identically(original, loaded, x, y):
    ours_history = original.fit(x, y, epochs=2, batch_size=8, shuffle=False, verbose=0).history["loss"]
    resumed = loaded.fit(x, y, epochs=2, batch_size=8, shuffle=False, verbose=0).history["loss"]
    np.testing.assert_allclose(resumed, ours_history, rtol=RTOL, atol=ATOL)
    for mine, theirs in zip(original.get_weights(), loaded.get_weights(), strict=True):
        np.testing.assert_allclose(mine, theirs, rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("name, config", FIT_SCHEDULES, ids=[n for n, _ in FIT_SCHEDULES])
def test_a_course_lib_file_with_the_schedule_opens_in_keras_and_resumes(name, config, tmp_path):
    x, y = _data(2, samples=32)
    ours = _compiled(cl, name, config)
    ours.fit(x, y, epochs=1, batch_size=8, shuffle=False, verbose=0)
    ours.save(tmp_path / "ours.keras")
    theirs = keras.models.load_model(tmp_path / "ours.keras")
    schedule = theirs.optimizer._learning_rate
    assert type(schedule).__name__ == name and schedule.get_config() == ours.optimizer._learning_rate.get_config()
    assert int(theirs.optimizer.iterations.numpy()) == ours.optimizer.iterations == 4
    assert float(theirs.optimizer.learning_rate) == pytest.approx(ours.optimizer.learning_rate, rel=1e-6)
    _resume_identically(ours, theirs, x, y)


@pytest.mark.parametrize("name, config", FIT_SCHEDULES, ids=[n for n, _ in FIT_SCHEDULES])
def test_a_keras_file_with_the_schedule_loads_in_course_lib_and_resumes(name, config, tmp_path):
    x, y = _data(3, samples=32)
    theirs = _compiled(keras, name, config)
    theirs.fit(x, y, epochs=1, batch_size=8, shuffle=False, verbose=0)
    theirs.save(tmp_path / "keras.keras")
    ours = cl.models.load_model(tmp_path / "keras.keras")
    schedule = ours.optimizer._learning_rate
    assert type(schedule) is getattr(cl.optimizers.schedules, name)
    assert schedule.get_config() == theirs.optimizer._learning_rate.get_config()
    assert ours.optimizer.iterations == int(theirs.optimizer.iterations.numpy()) == 4
    _resume_identically(theirs, ours, x, y)
