"""AdamW against tf.keras's AdamW computed in the same test: steps, exclusions, fit, configs, files.

Every test runs both libraries on the same initial weights and the same gradients or batches.
Steps compare the weights and every slot after each of ten steps (float32, difference relative to
the largest Keras value): measured bit-identical for every case without norm clipping (exclusions
and schedules included), up to 2.1e-7 with clipnorm / global_clipnorm (the gradient norm's
summation order), so 1e-6 is asserted, as for the other optimizers. Whole ``fit`` runs drift by
rounding only: measured within 1.1e-7 (relative) on the History and 1.2e-7 (absolute) on the
weights after 5 epochs, asserted at rtol 1e-5 / atol 1e-6 (the project's fit tolerance). The
``.keras`` files carry the AdamW slots bit for bit both ways, and training resumes to the same
numbers. ``exclude_from_weight_decay`` is not part of a file in either library.
"""
import re

import numpy as np
import pytest

import course_lib as cl

tf = pytest.importorskip("tensorflow")
from keras_tape import assert_same_fit  # noqa: E402  (it imports tensorflow)
import keras  # noqa: E402  (Keras 3, the library tf.keras is)

pytestmark = pytest.mark.parity

SHAPES = [(3, 4), (5,), (2, 3, 2)]
STEPS = 10
TOLERANCE = 1e-6
RTOL, ATOL = 1e-5, 1e-6


def _assert_close(ours, theirs, what):
    """The largest difference, relative to the largest magnitude of the Keras array."""
    scale = max(float(np.max(np.abs(theirs))), 1e-12)
    error = float(np.max(np.abs(ours - theirs))) / scale
    assert ours.dtype == theirs.dtype, what
    assert error <= TOLERANCE, f"{what}: relative difference {error:.2e} exceeds {TOLERANCE:.0e}"


def _steps(ours, theirs, seed=0):
    """Ten steps of random gradients on three bare variables; weights and slots compared after each."""
    generator = np.random.default_rng(seed)
    initial = [generator.standard_normal(shape).astype("float32") for shape in SHAPES]
    our_variables = [value.copy() for value in initial]
    keras_variables = [keras.Variable(value) for value in initial]
    for step in range(1, STEPS + 1):
        grads = [generator.standard_normal(shape).astype("float32") for shape in SHAPES]
        ours.apply_gradients(zip(grads, our_variables))
        theirs.apply_gradients(zip([tf.constant(g) for g in grads], keras_variables))
        assert ours.iterations == int(theirs.iterations.numpy()) == step
        for index, (mine, reference) in enumerate(zip(our_variables, keras_variables)):
            _assert_close(mine, reference.numpy(), f"step {step}, variable {index}")
        keras_slots = [v for v in theirs.variables if v.name not in ("iteration", "learning_rate")]
        for index, (mine, reference) in enumerate(zip(ours.variables, keras_slots, strict=True)):
            _assert_close(mine, reference.numpy(), f"step {step}, slot {index} ({reference.name})")
    return [float(np.max(np.abs(v - value))) for v, value in zip(our_variables, initial)]


VARIANTS = [
    {},
    {"learning_rate": 0.05},
    {"learning_rate": 0.05, "weight_decay": 0.3},
    {"learning_rate": 0.05, "weight_decay": 0.1, "amsgrad": True, "beta_1": 0.8, "beta_2": 0.99, "epsilon": 1e-4},
    {"learning_rate": 0.05, "weight_decay": 0.1, "clipnorm": 0.5},
    {"learning_rate": 0.05, "weight_decay": 0.1, "global_clipnorm": 1.0},
    {"learning_rate": 0.05, "weight_decay": 0.1, "clipvalue": 0.3},
]


@pytest.mark.parametrize("kwargs", VARIANTS, ids=lambda k: ",".join(f"{a}={b}" for a, b in k.items()) or "defaults")
def test_ten_steps_match_keras_weights_and_slots(kwargs):
    moved = _steps(cl.optimizers.AdamW(**kwargs), keras.optimizers.AdamW(**kwargs))
    assert min(moved) > 1e-3  # not a vacuous comparison


def test_a_schedule_drives_the_decay_and_the_step_as_in_keras():
    def make(library):
        schedule = library.optimizers.schedules.ExponentialDecay(0.1, decay_steps=3, decay_rate=0.5)
        return library.optimizers.AdamW(learning_rate=schedule, weight_decay=0.4)

    _steps(make(cl), make(keras))


def _net(library):
    """Named layers in a named model: the weights' paths ('net/hidden/kernel', ...) are the same in both."""
    return library.Sequential([
        library.Input((6,)),
        library.layers.Dense(5, activation="relu", name="hidden"),
        library.layers.LayerNormalization(name="norm"),
        library.layers.Dense(3, name="out"),
    ], name="net")


def _model_steps(exclude, kwargs, seed=0):
    """Ten AdamW steps of random gradients on a model's weights; ``exclude(optimizer, model)`` first."""
    generator = np.random.default_rng(seed)
    theirs = _net(keras)
    theirs.set_weights([generator.standard_normal(w.shape).astype("float32") for w in theirs.get_weights()])
    ours = _net(cl)
    ours.set_weights(theirs.get_weights())
    assert [w.path for w in ours.trainable_weights] == [w.path for w in theirs.trainable_weights]
    our_optimizer, keras_optimizer = cl.optimizers.AdamW(**kwargs), keras.optimizers.AdamW(**kwargs)
    if exclude is not None:
        exclude(our_optimizer, ours)
        exclude(keras_optimizer, theirs)
    for step in range(1, STEPS + 1):
        grads = [generator.standard_normal(w.shape).astype("float32") for w in theirs.trainable_weights]
        our_optimizer.apply_gradients(zip(grads, ours.trainable_weights))
        keras_optimizer.apply_gradients(zip([tf.constant(g) for g in grads], theirs.trainable_weights))
        for mine, reference in zip(ours.trainable_weights, theirs.trainable_weights):
            _assert_close(mine.numpy(), reference.numpy(), f"step {step}, {reference.path}")
        keras_slots = [v for v in keras_optimizer.variables if v.name not in ("iteration", "learning_rate")]
        for mine, reference in zip(our_optimizer.variables, keras_slots, strict=True):
            _assert_close(mine, reference.numpy(), f"step {step}, slot {reference.name}")
    return {w.path: w.numpy() for w in ours.trainable_weights}


EXCLUSIONS = {
    "names": lambda optimizer, model: optimizer.exclude_from_weight_decay(var_names=["bias"]),
    # tf.keras searches the TensorFlow variable's name, '<path>:0': a layer's name and anchors work on it.
    "layer-name": lambda optimizer, model: optimizer.exclude_from_weight_decay(var_names=["norm", "^net/out/k"]),
    "suffix": lambda optimizer, model: optimizer.exclude_from_weight_decay(var_names=["kernel:0$"]),
    "list": lambda optimizer, model: optimizer.exclude_from_weight_decay(
        var_list=[model.layers[0].kernel, model.layers[2].bias]),
    "list-and-names": lambda optimizer, model: optimizer.exclude_from_weight_decay(
        var_list=[model.layers[0].kernel], var_names=["gamma"]),
    # Keras's docstring says "before build", but its check (``self._built``) never fires: it takes effect.
    "after-build": lambda optimizer, model: (optimizer.build(model.trainable_weights),
                                             optimizer.exclude_from_weight_decay(var_names=["beta", "bias"])),
}


@pytest.mark.parametrize("how", list(EXCLUSIONS))
def test_exclude_from_weight_decay_matches_keras(how):
    kwargs = {"learning_rate": 0.05, "weight_decay": 0.5}
    excluded = _model_steps(EXCLUSIONS[how], kwargs)
    decayed = _model_steps(None, kwargs)
    # The exclusion did something: some weights end elsewhere than with every weight decayed.
    assert max(float(np.max(np.abs(excluded[path] - decayed[path]))) for path in decayed) > 1e-2


def _mlp(library):
    return library.Sequential([
        library.Input((6,)),
        library.layers.Dense(16, activation="relu"),
        library.layers.LayerNormalization(),
        library.layers.Dense(8, activation="tanh"),
        library.layers.Dense(3, activation="softmax"),
    ])


def _data(seed=0, samples=80):
    generator = np.random.default_rng(seed)
    return generator.standard_normal((samples, 6)).astype("float32"), generator.integers(0, 3, samples)


@pytest.mark.parametrize("exclusions", [None, ["bias", "layer_normalization"]], ids=["all-decayed", "exclude-bias-norm"])
def test_a_fit_history_matches_keras(exclusions):
    x, y = _data()
    keras.utils.set_random_seed(0)
    theirs = _mlp(keras)
    ours = cl.testing.from_keras(theirs)
    optimizers = []
    for model, library in ((theirs, keras), (ours, cl)):
        optimizer = library.optimizers.AdamW(learning_rate=0.01, weight_decay=0.2)
        if exclusions:
            optimizer.exclude_from_weight_decay(var_names=exclusions)
        model.compile(optimizer, "sparse_categorical_crossentropy", metrics=["accuracy"])
        optimizers.append(optimizer)
    kwargs = dict(epochs=5, batch_size=16, shuffle=False, verbose=0, validation_split=0.2)
    assert_same_fit(ours, theirs, x, y, RTOL, ATOL, **kwargs)
    for mine, reference in zip(ours.get_weights(), theirs.get_weights(), strict=True):
        np.testing.assert_allclose(mine, reference, rtol=RTOL, atol=ATOL)
    assert optimizers[1].iterations == int(optimizers[0].iterations.numpy()) == 20


def test_configs_defaults_and_names_match_keras():
    ours, theirs = cl.optimizers.AdamW().get_config(), keras.optimizers.AdamW().get_config()
    assert ours["name"] == "adam_w" and re.fullmatch(r"adam_w(_\d+)?", theirs["name"])  # Keras numbers them on
    for key, value in ours.items():
        if key == "name":
            continue
        assert value == pytest.approx(theirs[key], rel=1e-7) if isinstance(value, float) else value == theirs[key], key
    assert set(theirs) - set(ours) == {"use_ema", "ema_momentum", "ema_overwrite_frequency", "loss_scale_factor",
                                       "gradient_accumulation_steps"}
    keras_config = keras.optimizers.AdamW(learning_rate=0.25, weight_decay=0.02, amsgrad=True).get_config()
    loaded = cl.optimizers.AdamW.from_config(keras_config)
    assert (loaded.learning_rate, loaded.weight_decay, loaded.amsgrad) == (pytest.approx(0.25), 0.02, True)
    back = keras.optimizers.AdamW.from_config(cl.optimizers.AdamW(0.25, weight_decay=0.03).get_config())
    assert float(back.learning_rate) == pytest.approx(0.25) and back.weight_decay == 0.03
    assert type(keras.optimizers.get("adamw")).__name__ == type(cl.optimizers.get("adamw")).__name__ == "AdamW"
    with pytest.raises(ValueError, match=r"Argument `weight_decay` must be a float. Received: weight_decay=None"):
        keras.optimizers.AdamW(weight_decay=None)
    with pytest.raises(ValueError, match=r"AdamW: Argument `weight_decay` must be a float. Received: weight_decay=None"):
        cl.optimizers.AdamW(weight_decay=None)


def _compiled(library, amsgrad):
    keras.utils.set_random_seed(1)
    model = library.Sequential([library.Input((6,)), library.layers.Dense(8, activation="tanh"),
                                library.layers.Dense(3, activation="softmax")])
    model.compile(library.optimizers.AdamW(learning_rate=0.02, weight_decay=0.1, amsgrad=amsgrad),
                  "sparse_categorical_crossentropy")
    return model


def _resume_identically(original, loaded, x, y):
    ours_history = original.fit(x, y, epochs=2, batch_size=8, shuffle=False, verbose=0).history["loss"]
    resumed = loaded.fit(x, y, epochs=2, batch_size=8, shuffle=False, verbose=0).history["loss"]
    np.testing.assert_allclose(resumed, ours_history, rtol=RTOL, atol=ATOL)
    for mine, theirs in zip(original.get_weights(), loaded.get_weights(), strict=True):
        np.testing.assert_allclose(mine, theirs, rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("amsgrad", [False, True], ids=["adamw", "amsgrad"])
def test_a_keras_file_with_adamw_state_loads_and_resumes_identically(amsgrad, tmp_path):
    x, y = _data(1, samples=32)
    theirs = _compiled(keras, amsgrad)
    theirs.fit(x, y, epochs=1, batch_size=8, shuffle=False, verbose=0)
    theirs.save(tmp_path / "keras.keras")
    ours = cl.models.load_model(tmp_path / "keras.keras")
    assert type(ours.optimizer) is cl.optimizers.AdamW and ours.optimizer.name == theirs.optimizer.name
    assert ours.optimizer.iterations == int(theirs.optimizer.iterations.numpy()) == 4
    assert ours.optimizer.weight_decay == 0.1 and ours.optimizer.amsgrad is amsgrad
    keras_slots = [v.numpy() for v in theirs.optimizer.variables if v.name not in ("iteration", "learning_rate")]
    assert len(ours.optimizer.variables) == len(keras_slots) == 4 * (3 if amsgrad else 2)  # 4 weights
    for mine, reference in zip(ours.optimizer.variables, keras_slots, strict=True):
        np.testing.assert_array_equal(mine, reference)
    _resume_identically(theirs, ours, x, y)


@pytest.mark.parametrize("amsgrad", [False, True], ids=["adamw", "amsgrad"])
def test_a_course_lib_file_with_adamw_state_opens_in_keras_and_resumes_identically(amsgrad, tmp_path):
    x, y = _data(2, samples=32)
    ours = _compiled(cl, amsgrad)
    ours.fit(x, y, epochs=1, batch_size=8, shuffle=False, verbose=0)
    ours.save(tmp_path / "ours.keras")
    theirs = keras.models.load_model(tmp_path / "ours.keras")
    assert type(theirs.optimizer).__name__ == "AdamW" and theirs.optimizer.name == "adam_w"
    assert int(theirs.optimizer.iterations.numpy()) == ours.optimizer.iterations == 4
    assert theirs.optimizer.weight_decay == 0.1 and theirs.optimizer.amsgrad is amsgrad
    keras_slots = [v.numpy() for v in theirs.optimizer.variables if v.name not in ("iteration", "learning_rate")]
    for mine, reference in zip(ours.optimizer.variables, keras_slots, strict=True):
        np.testing.assert_array_equal(mine, reference)
    _resume_identically(ours, theirs, x, y)
