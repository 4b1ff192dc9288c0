"""LossScaleOptimizer through tf.keras and course_lib: the same steps, the same scale, the same files.

The loss scale is a power of two, so in float32 the unscaled gradients are
the plain ones exactly: weights after ``fit`` agree as the inner optimizer's
do (measured 6e-8), and the scale and its step counter, which move only on the
schedule Keras gives them (double after ``dynamic_growth_steps`` finite steps,
halve and skip on a non-finite one), agree exactly.
"""
import numpy as np
import pytest

import course_lib as cl
from course_lib.testing import from_keras

tf = pytest.importorskip("tensorflow")
keras = tf.keras

pytestmark = pytest.mark.parity

RTOL, ATOL = 1e-5, 1e-6


def _data():
    generator = np.random.default_rng(0)
    return generator.standard_normal((64, 5)).astype("float32"), generator.integers(0, 3, 64)


def _pair(initial_scale=2.0 ** 10, dynamic_growth_steps=3):
    keras.utils.set_random_seed(0)
    theirs = keras.Sequential([
        keras.Input((5,)),
        keras.layers.Dense(8, activation="relu", kernel_regularizer="l2", activity_regularizer="l1"),
        keras.layers.Dense(3, activation="softmax"),
    ])
    ours = from_keras(theirs)
    for lib, model in ((keras, theirs), (cl, ours)):
        optimizer = lib.optimizers.LossScaleOptimizer(lib.optimizers.Adam(0.01), initial_scale=initial_scale,
                                                      dynamic_growth_steps=dynamic_growth_steps)
        model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy")
    return theirs, ours


def _state(optimizer):
    return (float(np.asarray(optimizer.dynamic_scale)), int(np.asarray(optimizer.step_counter)),
            int(np.asarray(optimizer.iterations)))


def _assert_same_weights(theirs, ours):
    for mine, keras_s in zip(ours.get_weights(), theirs.get_weights()):
        np.testing.assert_allclose(mine, keras_s, rtol=RTOL, atol=ATOL)


def test_fit_takes_keras_s_steps_and_moves_the_scale_as_keras_does():
    x, y = _data()
    theirs, ours = _pair()
    keras_history = theirs.fit(x, y, batch_size=16, epochs=3, shuffle=False, verbose=0).history
    our_history = ours.fit(x, y, batch_size=16, epochs=3, shuffle=False, verbose=0).history
    np.testing.assert_allclose(our_history["loss"], keras_history["loss"], rtol=RTOL)
    _assert_same_weights(theirs, ours)
    assert _state(ours.optimizer) == _state(theirs.optimizer) == (2.0 ** 14, 0, 12)  # doubled 4 times in 12 steps
    assert ours.optimizer.learning_rate == pytest.approx(float(theirs.optimizer.learning_rate))


@pytest.mark.parametrize("bad", [np.inf, np.nan])
def test_a_non_finite_step_is_skipped_and_halves_the_scale_as_in_keras(bad):
    theirs, ours = _pair()
    x, y = _data()
    theirs.fit(x, y, batch_size=16, epochs=1, shuffle=False, verbose=0)
    ours.fit(x, y, batch_size=16, epochs=1, shuffle=False, verbose=0)
    before = ours.get_weights()
    for model, to_tensor in ((theirs, tf.convert_to_tensor), (ours, np.asarray)):
        grads = [np.zeros(w.shape, "float32") for w in model.get_weights()]
        grads[1][0] = bad
        model.optimizer.apply([to_tensor(g) for g in grads], model.trainable_weights)
    assert _state(ours.optimizer) == _state(theirs.optimizer) == (2.0 ** 10, 0, 4)
    for mine, unchanged in zip(ours.get_weights(), before):
        np.testing.assert_array_equal(mine, unchanged)


def test_keras_files_carry_the_scale_and_the_inner_state_both_ways(tmp_path):
    x, y = _data()
    theirs, ours = _pair()
    theirs.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0)
    ours.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0)
    theirs.save(tmp_path / "keras.keras")
    ours.save(tmp_path / "ours.keras")
    ours_from_keras = cl.models.load_model(tmp_path / "keras.keras")
    keras_from_ours = keras.models.load_model(tmp_path / "ours.keras")
    assert type(ours_from_keras.optimizer) is cl.optimizers.LossScaleOptimizer
    assert _state(ours_from_keras.optimizer) == _state(keras_from_ours.optimizer) == _state(theirs.optimizer)
    loaded, original = keras_from_ours.optimizer.get_config(), theirs.optimizer.get_config()
    for config in (loaded, original, loaded["inner_optimizer"]["config"], original["inner_optimizer"]["config"]):
        config.pop("name")  # numbered per process (adam_3)
    assert loaded == original
    keras_history = keras_from_ours.fit(x, y, batch_size=16, epochs=1, shuffle=False, verbose=0).history
    our_history = ours_from_keras.fit(x, y, batch_size=16, epochs=1, shuffle=False, verbose=0).history
    np.testing.assert_allclose(our_history["loss"], keras_history["loss"], rtol=RTOL)
    _assert_same_weights(keras_from_ours, ours_from_keras)
    assert _state(ours_from_keras.optimizer) == _state(keras_from_ours.optimizer)


def test_the_config_is_keras_s_and_rebuilds_the_same_optimizer():
    theirs = keras.optimizers.LossScaleOptimizer(keras.optimizers.SGD(0.1, momentum=0.5), initial_scale=64.0,
                                                 dynamic_growth_steps=7)
    ours = cl.optimizers.LossScaleOptimizer(cl.optimizers.SGD(0.1, momentum=0.5), initial_scale=64.0,
                                            dynamic_growth_steps=7)
    keras_s = keras.utils.serialize_keras_object(theirs)
    mine = cl.saving.serialize_keras_object(ours)
    for config in (mine, keras_s):  # numbered per process (sgd_3)
        config["config"].pop("name")
        config["config"]["inner_optimizer"]["config"].pop("name")
    assert mine == keras_s
    rebuilt = cl.saving.deserialize_keras_object(keras.utils.serialize_keras_object(theirs))
    assert type(rebuilt.inner_optimizer) is cl.optimizers.SGD and rebuilt.inner_optimizer.momentum == 0.5
    rebuilt_config, our_config = rebuilt.get_config(), ours.get_config()
    for config in (rebuilt_config, our_config):
        config.pop("name")
        config["inner_optimizer"]["config"].pop("name")
    assert rebuilt_config == our_config
    assert float(ours.scale_loss(np.float32(0.5))) == float(theirs.scale_loss(0.5)) == 32.0


@pytest.mark.parametrize("kwargs, message", [
    ({"dynamic": False}, "no longer supports `dynamic=False`"),
    ({"clipnorm": 1.0}, "does not support `clipnorm`. Instead, set `clipnorm` on the `inner_optimizer`"),
    ({"use_ema": True}, "does not support `use_ema`"),
    ({"momentum": 0.9}, "does not support arguments: `momentum`"),
])
def test_arguments_keras_refuses_are_refused_with_keras_s_words(kwargs, message):
    with pytest.raises(ValueError, match=message):
        keras.optimizers.LossScaleOptimizer(keras.optimizers.SGD(), **kwargs)
    with pytest.raises(ValueError, match=message):
        cl.optimizers.LossScaleOptimizer(cl.optimizers.SGD(), **kwargs)
    # the defaults older Keras wrote into this optimizer's config load
    cl.optimizers.LossScaleOptimizer(cl.optimizers.SGD(), clipnorm=None, use_ema=False, ema_momentum=0.99)


def test_a_layer_that_adds_its_own_loss_trains_as_in_keras_under_loss_scaling():
    """Its backward adds the penalty's gradient itself: the engine must hand it unscaled gradients."""
    import keras as keras3

    from penalty_model import penalty_model, regression_data

    x, y = regression_data()
    theirs, ours = penalty_model(keras3), penalty_model(cl)
    for library, model in ((keras3, theirs), (cl, ours)):
        model.compile(library.optimizers.LossScaleOptimizer(library.optimizers.SGD(0.05), initial_scale=2.0 ** 12),
                      "mse")
    ours.set_weights(theirs.get_weights())
    expected = theirs.fit(x, y, epochs=3, batch_size=8, shuffle=False, verbose=0).history["loss"]
    received = ours.fit(x, y, epochs=3, batch_size=8, shuffle=False, verbose=0).history["loss"]
    np.testing.assert_allclose(received, expected, rtol=RTOL)
    _assert_same_weights(theirs, ours)
