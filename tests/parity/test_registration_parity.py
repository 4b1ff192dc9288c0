"""Registration, serialize_keras_object and keras.config against tf.keras, in the same test.

The same call is made on Keras's objects and on course_lib's, and the answers
(registered names, serialized dicts, numbers under a changed epsilon, a model
with a registered custom layer moving through a `.keras` file) must agree.
"""
import numpy as np
import pytest

import course_lib as cl
from course_lib import backend, saving

tf = pytest.importorskip("tensorflow")
keras = pytest.importorskip("keras")

pytestmark = pytest.mark.parity

RTOL, ATOL = 1e-5, 1e-6


@pytest.fixture(autouse=True)
def _restore_both():
    """Both registries and both libraries' settings come back as they were."""
    ours = dict(saving._GLOBAL_CUSTOM_OBJECTS), dict(saving._GLOBAL_CUSTOM_NAMES)
    from keras.src.saving import object_registration

    theirs = dict(object_registration.GLOBAL_CUSTOM_OBJECTS), dict(object_registration.GLOBAL_CUSTOM_NAMES)
    epsilon, keras_epsilon, keras_floatx = backend.epsilon(), keras.config.epsilon(), keras.config.floatx()
    yield
    for live, saved in ((saving._GLOBAL_CUSTOM_OBJECTS, ours[0]), (saving._GLOBAL_CUSTOM_NAMES, ours[1]),
                        (object_registration.GLOBAL_CUSTOM_OBJECTS, theirs[0]),
                        (object_registration.GLOBAL_CUSTOM_NAMES, theirs[1])):
        live.clear()
        live.update(saved)
    cl.config.set_epsilon(epsilon)
    keras.config.set_epsilon(keras_epsilon)
    keras.config.set_floatx(keras_floatx)
    cl.config.set_floatx("float32")
    from keras.src.backend.common import global_state

    global_state.set_global_attribute("dtype_policy", None)


def _keras_doubler():
    class Doubler(keras.layers.Layer):
        def __init__(self, factor=2.0, **kwargs):
            super().__init__(**kwargs)
            self.factor = factor

        def call(self, x):
            return x * self.factor

        def get_config(self):
            return {**super().get_config(), "factor": self.factor}

    return Doubler


def _our_doubler():
    class Doubler(cl.layers.Layer):
        def __init__(self, factor=2.0, **kwargs):
            super().__init__(**kwargs)
            self.factor = factor

        def forward(self, inputs, training=False):
            return inputs * inputs.dtype.type(self.factor), None

        def backward(self, output_grads, cache):
            return output_grads * output_grads.dtype.type(self.factor), {}

        def get_config(self):
            return {**super().get_config(), "factor": self.factor}

    return Doubler


def _plain(value):
    """Tuples as lists, for comparing a config with one that went through JSON in the other library."""
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    return value


def test_registered_names_and_objects_equal_keras():
    theirs, ours = _keras_doubler(), _our_doubler()

    def fn(x):
        return x

    their_fn, our_fn = fn, (lambda: None).__class__(fn.__code__, {}, "fn")
    for package, name in (("Custom", None), ("my_pkg", None), ("my_pkg", "Twice")):
        keras.saving.register_keras_serializable(package, name)(theirs)
        cl.saving.register_keras_serializable(package, name)(ours)
        keras.saving.register_keras_serializable(package + "_fns", name)(their_fn)
        cl.saving.register_keras_serializable(package + "_fns", name)(our_fn)
        key = keras.saving.get_registered_name(theirs)
        assert cl.saving.get_registered_name(ours) == key
        assert cl.saving.get_registered_name(our_fn) == keras.saving.get_registered_name(their_fn)
        assert keras.saving.get_registered_object(key) is theirs and cl.saving.get_registered_object(key) is ours
    assert cl.utils.get_registered_name(cl.layers.Dense) == keras.utils.get_registered_name(keras.layers.Dense)
    assert (cl.saving.get_registered_object("nope", {"nope": 1}, {"nope": 2})
            == keras.saving.get_registered_object("nope", {"nope": 1}, {"nope": 2}))
    assert cl.saving.get_registered_object("none") is keras.saving.get_registered_object("none") is None


def test_scopes_nest_and_end_as_in_keras():
    for library in (keras.saving, cl.saving):
        seen = []
        with library.custom_object_scope({"a": 1}):
            seen.append(library.get_registered_object("a"))
            with library.CustomObjectScope({"b": 2}):
                seen += [library.get_registered_object("a"), library.get_registered_object("b")]
            seen.append(library.get_registered_object("b"))
        try:
            with library.custom_object_scope({"c": 3}):
                raise KeyError("c")
        except KeyError:
            pass
        seen.append(library.get_registered_object("c"))
        if library is keras.saving:
            expected = seen
        else:
            assert seen == expected == [1, None, 2, None, None]


@pytest.mark.parametrize("make", [
    # Explicit names: automatic ones count the objects each library made before (dense_4 ...).
    lambda lib: lib.layers.Dense(4, activation="relu", kernel_regularizer=lib.regularizers.L2(0.1), name="d"),
    lambda lib: lib.layers.Conv2D(3, 2, padding="same", kernel_constraint=lib.constraints.MaxNorm(2.0), name="c"),
    lambda lib: lib.layers.Dropout(0.3, seed=2, name="drop"),
    lambda lib: lib.losses.MeanSquaredError(),
    lambda lib: lib.losses.CategoricalCrossentropy(from_logits=True, label_smoothing=0.1),
    lambda lib: lib.losses.BinaryCrossentropy(from_logits=True),
    lambda lib: lib.metrics.Accuracy(name="accuracy"),  # Keras numbers repeated metric names (auc_2)
    lambda lib: lib.metrics.AUC(num_thresholds=50, name="auc"),
    lambda lib: lib.optimizers.Adam(0.01, name="adam"),
    lambda lib: lib.optimizers.SGD(0.1, momentum=0.9, nesterov=True, name="sgd"),
    lambda lib: lib.optimizers.RMSprop(name="rmsprop"),
    lambda lib: lib.optimizers.schedules.ExponentialDecay(0.1, 10, 0.9),
    lambda lib: lib.initializers.HeNormal(seed=3),
    lambda lib: lib.regularizers.L1L2(0.1, 0.2),
    lambda lib: lib.constraints.MinMaxNorm(0.1, 0.9),
    lambda lib: lib.activations.relu,
    lambda lib: lib.losses.mean_squared_error,
    lambda lib: [1, (2.5, "a"), None, {"k": True}, b"hi", slice(1, 4, None)],
    lambda lib: np.arange(6.0, dtype="float32").reshape(2, 3),
])
def test_serialize_keras_object_equals_keras(make):
    theirs = keras.saving.serialize_keras_object(make(keras))
    ours = cl.saving.serialize_keras_object(make(cl))
    assert ours == theirs
    # and Keras's dict rebuilds the same object in course_lib
    rebuilt = cl.saving.deserialize_keras_object(theirs)
    assert cl.saving.serialize_keras_object(rebuilt) == theirs if not isinstance(rebuilt, list) else True


def test_serialize_keras_object_of_a_built_layer_and_a_registered_one_equals_keras():
    theirs = keras.layers.Dense(2, name="d")
    theirs(keras.Input((3,)))
    ours = cl.layers.Dense(2, name="d")
    ours(cl.Input((3,)))
    # Keras keeps the build shape a tuple, course_lib a list: the same once written to JSON
    assert _plain(cl.saving.serialize_keras_object(ours)) == _plain(keras.saving.serialize_keras_object(theirs))
    their_cls = keras.saving.register_keras_serializable("pkg")(_keras_doubler())
    our_cls = cl.saving.register_keras_serializable("pkg")(_our_doubler())
    their_entry = keras.saving.serialize_keras_object(their_cls(3.0, name="dbl"))
    our_entry = cl.saving.serialize_keras_object(our_cls(3.0, name="dbl"))
    assert our_entry == their_entry
    rebuilt = cl.saving.deserialize_keras_object(their_entry)
    assert type(rebuilt) is our_cls and rebuilt.factor == 3.0


def test_a_keras_file_with_a_registered_custom_layer_loads_in_course_lib_and_back(tmp_path):
    their_cls = keras.saving.register_keras_serializable("pkg")(_keras_doubler())
    our_cls = cl.saving.register_keras_serializable("pkg")(_our_doubler())
    x = np.random.default_rng(0).standard_normal((5, 3)).astype("float32")
    theirs = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2), their_cls(3.0)])
    theirs.save(tmp_path / "k.keras")
    ours = cl.models.load_model(tmp_path / "k.keras")
    assert type(ours.layers[-1]) is our_cls
    np.testing.assert_allclose(ours.predict(x, verbose=0), theirs.predict(x, verbose=0), rtol=RTOL, atol=ATOL)
    ours.save(tmp_path / "c.keras")
    back = keras.models.load_model(tmp_path / "c.keras")
    np.testing.assert_allclose(back.predict(x, verbose=0), theirs.predict(x, verbose=0), rtol=RTOL, atol=ATOL)
    # in a scope, unregistered
    del saving._GLOBAL_CUSTOM_OBJECTS["pkg>Doubler"]
    with cl.saving.custom_object_scope({"pkg>Doubler": our_cls}):
        scoped = cl.models.load_model(tmp_path / "k.keras")
    np.testing.assert_allclose(scoped.predict(x, verbose=0), theirs.predict(x, verbose=0), rtol=RTOL, atol=ATOL)


def test_set_epsilon_changes_the_clipping_as_in_keras():
    y_true = np.array([[1.0, 0.0, 1.0], [0.0, 1.0, 0.0]], "float32")
    y_pred = np.array([[0.0, 1.0, 0.5], [1e-5, 0.99999, 0.2]], "float32")
    for value in (1e-7, 1e-3):
        keras.config.set_epsilon(value)
        cl.config.set_epsilon(value)
        assert cl.config.epsilon() == keras.config.epsilon()
        for name in ("BinaryCrossentropy", "CategoricalCrossentropy", "KLDivergence"):
            expected = float(getattr(keras.losses, name)()(y_true, y_pred))
            got = float(getattr(cl.losses, name)()(y_true, y_pred))
            np.testing.assert_allclose(got, expected, rtol=RTOL, atol=ATOL, err_msg=f"{name} eps={value}")


def test_set_floatx_makes_new_layers_float64_as_in_keras():
    from keras.src.backend.common import global_state

    # Keras caches its global dtype policy on first use; forget it, as in a fresh process
    global_state.set_global_attribute("dtype_policy", None)
    keras.config.set_floatx("float64")
    cl.config.set_floatx("float64")
    theirs, ours = keras.layers.Dense(2, name="d"), cl.layers.Dense(2, name="d")
    theirs(keras.Input((3,)))
    ours(cl.Input((3,)))
    assert cl.config.floatx() == keras.config.floatx() == "float64"
    assert ours.kernel.numpy().dtype == np.asarray(theirs.kernel).dtype == np.float64
    assert _plain(cl.saving.serialize_keras_object(ours)) == _plain(keras.saving.serialize_keras_object(theirs))


def test_config_defaults_equal_keras():
    assert cl.config.floatx() == keras.config.floatx()
    assert cl.config.image_data_format() == keras.config.image_data_format()
    assert cl.config.is_interactive_logging_enabled() == keras.config.is_interactive_logging_enabled()
    for name in cl.config.__all__:
        assert hasattr(keras.config, name), name
