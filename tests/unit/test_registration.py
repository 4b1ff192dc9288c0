"""Registration, custom objects, serialize/deserialize_keras_object and keras.config (course_lib only).

The same classes and calls are compared with tf.keras in tests/parity/test_registration_parity.py.
"""
import logging
import os

import numpy as np
import pytest

import course_lib as cl
from course_lib import activations, backend, config, constraints, initializers, losses, metrics, optimizers
from course_lib import regularizers, saving
from course_lib.layers import lambda_layer


@pytest.fixture(autouse=True)
def _clean_registry():
    """Each test registers into an empty-looking registry, and leaves the global settings as it found them."""
    objects, names = dict(saving._GLOBAL_CUSTOM_OBJECTS), dict(saving._GLOBAL_CUSTOM_NAMES)
    epsilon, data_format = backend.epsilon(), config.image_data_format()
    safe, floatx = lambda_layer.in_safe_mode(), backend._config["floatx"]
    yield
    saving._GLOBAL_CUSTOM_OBJECTS.clear()
    saving._GLOBAL_CUSTOM_OBJECTS.update(objects)
    saving._GLOBAL_CUSTOM_NAMES.clear()
    saving._GLOBAL_CUSTOM_NAMES.update(names)
    config.set_epsilon(epsilon)
    config.set_image_data_format(data_format)
    config.enable_interactive_logging()
    lambda_layer._SAFE_MODE["value"] = safe
    backend._config["floatx"] = floatx
    config.set_max_epochs(None)
    config.set_max_steps_per_epoch(None)


class Doubler(cl.layers.Layer):
    """A custom layer: ``factor * x``."""

    def __init__(self, factor=2.0, **kwargs):
        super().__init__(**kwargs)
        self.factor = factor

    def forward(self, inputs, training=False):
        return inputs * inputs.dtype.type(self.factor), None

    def backward(self, output_grads, cache):
        return output_grads * output_grads.dtype.type(self.factor), {}

    def get_config(self):
        return {**super().get_config(), "factor": self.factor}


class HalfMSE(losses.Loss):
    """A custom loss class: half the mean squared error."""

    def __init__(self, name="half_mse", **kwargs):
        super().__init__(name=name, **kwargs)

    def call(self, y_true, y_pred):
        return 0.5 * backend.xp.mean((y_pred - y_true) ** 2, axis=-1)


def cube(x):
    return x ** 3


def total_error(y_true, y_pred):
    return backend.xp.sum(y_pred - y_true, axis=-1)


def _model():
    model = cl.Sequential([cl.Input((3,)), cl.layers.Dense(2, name="d"), Doubler(3.0, name="double")])
    return model


# ------------------------------------------------------------------ registry
def test_register_puts_the_object_in_the_global_custom_objects_under_package_and_name():
    registered = saving.register_keras_serializable("pkg")(Doubler)
    assert registered is Doubler
    assert saving.get_custom_objects()["pkg>Doubler"] is Doubler
    assert saving.get_registered_name(Doubler) == "pkg>Doubler"
    assert saving.get_registered_object("pkg>Doubler") is Doubler
    saving.register_keras_serializable("pkg", "cube3")(cube)
    assert saving.get_registered_name(cube) == "pkg>cube3" and saving.get_registered_object("pkg>cube3") is cube
    # unregistered: the Python name, and None
    assert saving.get_registered_name(total_error) == "total_error"
    assert saving.get_registered_object("nothing>here") is None
    # as Keras: a second registration under the same name replaces the first
    saving.register_keras_serializable("pkg", "Doubler")(HalfMSE)
    assert saving.get_registered_object("pkg>Doubler") is HalfMSE


def test_get_registered_object_looks_in_scope_then_globals_then_custom_then_module_objects():
    saving.get_custom_objects()["thing"] = "global"
    assert saving.get_registered_object("thing", {"thing": "custom"}) == "global"
    assert saving.get_registered_object("other", {"other": "custom"}, {"other": "module"}) == "custom"
    assert saving.get_registered_object("mod", None, {"mod": "module"}) == "module"
    with saving.custom_object_scope({"thing": "scope"}):
        assert saving.get_registered_object("thing") == "scope"


def test_a_class_without_get_config_cannot_be_registered_and_bad_arguments_raise():
    class Plain:
        pass

    with pytest.raises(ValueError, match="register_keras_serializable.*'Plain'.*get_config"):
        saving.register_keras_serializable()(Plain)
    with pytest.raises(TypeError, match="CustomObjectScope: custom_objects must be a dict"):
        saving.CustomObjectScope(["Doubler"])
    with pytest.raises(TypeError, match="get_registered_name: expected a class or a function"):
        saving.get_registered_name(3)


def test_get_custom_objects_is_live_and_every_deserializer_reads_it():
    objects = saving.get_custom_objects()
    objects.update({"Doubler": Doubler, "HalfMSE": HalfMSE, "cube": activations.get(cube),
                    "total_error": total_error})
    layer = cl.layers.deserialize({"class_name": "Doubler", "config": {"factor": 4.0, "name": "x"}})
    assert type(layer) is Doubler and layer.factor == 4.0
    assert type(losses.deserialize({"class_name": "HalfMSE", "config": {}})) is HalfMSE
    assert type(losses.get("HalfMSE")) is HalfMSE
    assert activations.get("cube") is objects["cube"] and activations.deserialize("cube") is objects["cube"]
    assert metrics.get("total_error").name == "total_error"


# ------------------------------------------------------------------ scope
def test_a_scope_is_seen_by_each_deserializer_and_ends_with_the_block():
    class Scale(regularizers.Regularizer):
        def __init__(self, factor=1.0):
            self.factor = factor

        def __call__(self, x):
            return backend.xp.asarray(self.factor * backend.xp.sum(x))

        def get_config(self):
            return {"factor": self.factor}

    class Clip(constraints.Constraint):
        def __call__(self, w):
            return backend.xp.clip(w, -1, 1)

    class Fives(initializers.Initializer):
        def __call__(self, shape, dtype=None):
            return backend.xp.full(shape, 5.0, dtype=dtype or backend.floatx())

    class Faster(optimizers.SGD):
        pass

    class Count(metrics.Mean):
        pass

    scope = {"Doubler": Doubler, "HalfMSE": HalfMSE, "Scale": Scale, "Clip": Clip, "Fives": Fives,
             "Faster": Faster, "Count": Count, "cube": cube, "total_error": total_error}
    with saving.custom_object_scope(scope) as entered:
        assert isinstance(entered, saving.CustomObjectScope)
        assert type(cl.layers.deserialize({"class_name": "Doubler", "config": {"name": "s"}})) is Doubler
        assert type(losses.deserialize({"class_name": "HalfMSE", "config": {}})) is HalfMSE
        assert losses.deserialize({"module": "builtins", "class_name": "function", "config": "total_error",
                                   "registered_name": "function"}).fn is total_error
        assert regularizers.deserialize({"class_name": "Scale", "config": {"factor": 3.0}}).factor == 3.0
        assert type(regularizers.get("Scale")) is Scale
        assert type(constraints.deserialize({"class_name": "Clip", "config": {}})) is Clip
        assert type(initializers.deserialize({"class_name": "Fives", "config": {}})) is Fives
        assert type(optimizers.deserialize({"class_name": "Faster", "config": {"learning_rate": 0.5}})) is Faster
        assert type(metrics.deserialize({"class_name": "Count", "config": {"name": "count"}})) is Count
        assert activations.deserialize("cube")(np.array([2.0])) == 8.0
        dense = cl.layers.Dense.from_config({**cl.layers.Dense(2).get_config(), "activation": "cube"})
        assert dense.activation(np.array([3.0])) == 27.0
    assert saving.get_registered_object("Doubler") is None
    with pytest.raises(ValueError, match="unknown layer class 'Doubler'"):
        cl.layers.deserialize({"class_name": "Doubler", "config": {}})
    with pytest.raises(ValueError, match="unknown loss class 'HalfMSE'"):
        losses.deserialize({"class_name": "HalfMSE", "config": {}})
    with pytest.raises(ValueError, match="activations.get: could not interpret"):
        activations.get("cube")


def test_a_scope_ends_cleanly_on_an_exception_and_an_inner_scope_replaces_the_outer():
    with pytest.raises(RuntimeError, match="inside"):
        with saving.custom_object_scope({"Doubler": Doubler}):
            raise RuntimeError("inside")
    assert saving.get_registered_object("Doubler") is None
    with saving.CustomObjectScope({"a": 1}):
        with saving.CustomObjectScope({"b": 2}):
            # as Keras 3: a scope replaces the enclosing scope's objects
            assert saving.get_registered_object("a") is None and saving.get_registered_object("b") == 2
        assert saving.get_registered_object("a") == 1 and saving.get_registered_object("b") is None
    assert saving.get_registered_object("a") is None


# ------------------------------------------------------------------ load_model
def test_load_model_finds_a_registered_layer_without_custom_objects(tmp_path):
    saving.register_keras_serializable("tests")(Doubler)
    model = _model()
    x = np.random.default_rng(0).standard_normal((4, 3)).astype("float32")
    model.save(tmp_path / "m.keras")
    loaded = cl.models.load_model(tmp_path / "m.keras")
    assert type(loaded.layers[-1]) is Doubler and loaded.layers[-1].factor == 3.0
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-6)


def test_load_model_finds_custom_loss_metric_and_activation_in_a_scope_only(tmp_path):
    model = cl.Sequential([cl.Input((3,)), cl.layers.Dense(2, activation=activations.get(cube)), Doubler()])
    model.compile("sgd", loss=HalfMSE(), metrics=[total_error])
    x = np.random.default_rng(1).standard_normal((8, 3)).astype("float32")
    y = np.random.default_rng(2).standard_normal((8, 2)).astype("float32")
    model.save(tmp_path / "m.keras")
    with pytest.raises(ValueError, match="could not interpret activation identifier. Received: 'cube'"):
        cl.models.load_model(tmp_path / "m.keras")
    with saving.custom_object_scope({"Doubler": Doubler, "HalfMSE": HalfMSE, "cube": cube,
                                     "total_error": total_error}):
        loaded = cl.models.load_model(tmp_path / "m.keras")
    # The metric function saved by name was found while the scope was open: evaluate works after it.
    assert loaded.evaluate(x, y, verbose=0, return_dict=True) == pytest.approx(
        model.evaluate(x, y, verbose=0, return_dict=True), rel=1e-6)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-6)
    assert type(loaded._losses[0] if isinstance(loaded._losses, list) else loaded._losses) is HalfMSE
    # the same through custom_objects, and through the global custom objects
    again = cl.models.load_model(tmp_path / "m.keras", custom_objects={"Doubler": Doubler, "HalfMSE": HalfMSE,
                                                                     "cube": cube, "total_error": total_error})
    np.testing.assert_allclose(again.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-6)
    assert again.evaluate(x, y, verbose=0) == pytest.approx(model.evaluate(x, y, verbose=0), rel=1e-6)
    saving.get_custom_objects().update({"Doubler": Doubler, "HalfMSE": HalfMSE, "cube": cube,
                                        "total_error": total_error})
    assert cl.models.load_model(tmp_path / "m.keras").evaluate(x, y, verbose=0) == pytest.approx(
        model.evaluate(x, y, verbose=0), rel=1e-6)


# ------------------------------------------------------ serialize_keras_object
def test_serialize_and_deserialize_keras_object_round_trip_every_kind():
    objects = [cl.layers.Dense(3, activation="relu"), losses.Huber(delta=2.0), metrics.AUC(num_thresholds=50),
               optimizers.Adam(0.01), initializers.HeNormal(seed=3), regularizers.L1L2(0.1, 0.2),
               constraints.MaxNorm(2.0), optimizers.schedules.ExponentialDecay(0.1, 10, 0.9)]
    for obj in objects:
        entry = saving.serialize_keras_object(obj)
        assert entry["module"].startswith("keras") and entry["registered_name"] is None, entry
        rebuilt = saving.deserialize_keras_object(entry)
        assert type(rebuilt) is type(obj)
        if not isinstance(obj, optimizers.Optimizer):
            assert rebuilt.get_config() == obj.get_config()
    assert saving.deserialize_keras_object(saving.serialize_keras_object(activations.relu)) is activations.relu
    assert saving.deserialize_keras_object(saving.serialize_keras_object(losses.mean_squared_error)) \
        is losses.mean_squared_error


def test_serialize_keras_object_of_custom_and_plain_values():
    saving.register_keras_serializable("tests")(Doubler)
    saving.register_keras_serializable("tests")(cube)
    entry = saving.serialize_keras_object(Doubler(5.0, name="five"))
    assert entry["class_name"] == "Doubler" and entry["registered_name"] == "tests>Doubler"
    assert entry["module"] == __name__
    rebuilt = saving.deserialize_keras_object(entry)
    assert type(rebuilt) is Doubler and rebuilt.factor == 5.0 and rebuilt.name == "five"
    function = saving.serialize_keras_object(cube)
    assert function == {"module": "builtins", "class_name": "function", "config": "tests>cube",
                        "registered_name": "function"}
    assert saving.deserialize_keras_object(function) is cube
    assert saving.serialize_keras_object([1, (2.5, "a"), None, {"k": True}]) == [1, (2.5, "a"), None, {"k": True}]
    assert saving.deserialize_keras_object([1, {"k": True}]) == [1, {"k": True}]
    array = saving.deserialize_keras_object(saving.serialize_keras_object(np.arange(3.0)))
    np.testing.assert_array_equal(backend.to_numpy(array), [0.0, 1.0, 2.0])
    assert saving.deserialize_keras_object(saving.serialize_keras_object(b"hi")) == b"hi"
    assert saving.deserialize_keras_object(saving.serialize_keras_object(slice(1, 5, 2))) == slice(1, 5, 2)
    assert saving.deserialize_keras_object("tests>cube") is cube


def test_deserialize_keras_object_errors_and_safe_mode():
    with pytest.raises(TypeError, match="could not locate class 'Mystery'"):
        saving.deserialize_keras_object({"module": "my.module", "class_name": "Mystery", "config": {},
                                         "registered_name": "Mystery"})
    with pytest.raises(TypeError, match="could not locate function 'mystery'"):
        saving.deserialize_keras_object({"module": "builtins", "class_name": "function", "config": "mystery",
                                         "registered_name": "function"})
    with pytest.raises(ValueError, match="not a modeling function"):
        saving.deserialize_keras_object({"module": "keras.models", "class_name": "function",
                                         "config": "load_model", "registered_name": "function"})
    with pytest.raises(TypeError, match="expected 'config' to be a dict for Dense"):
        saving.deserialize_keras_object({"module": "keras.layers", "class_name": "Dense", "config": 3})
    with pytest.warns(UserWarning, match="lambda"):
        entry = saving.serialize_keras_object(lambda x: x + 1)
    with pytest.raises(ValueError, match="deserialization of a Python lambda"):
        saving.deserialize_keras_object(entry)
    assert saving.deserialize_keras_object(entry, safe_mode=False)(1) == 2
    config.enable_unsafe_deserialization()
    assert saving.deserialize_keras_object(entry)(2) == 3


def test_a_config_without_module_is_found_by_class_name():
    assert type(saving.deserialize_keras_object(losses.serialize(losses.Hinge()))) is losses.Hinge
    assert type(saving.deserialize_keras_object(optimizers.serialize(optimizers.RMSprop()))) is optimizers.RMSprop
    assert type(saving.deserialize_keras_object(metrics.serialize(metrics.Recall()))) is metrics.Recall


# ------------------------------------------------------------------ config
def test_config_floatx_sets_new_layers_dtype():
    assert config.floatx() == "float32"
    config.set_floatx("float64")
    try:
        layer = cl.layers.Dense(2)
        layer.build((None, 3))
        assert config.floatx() == "float64" and layer.kernel.numpy().dtype == np.float64
    finally:
        config.set_floatx("float32")
    with pytest.raises(ValueError, match="set_floatx"):
        config.set_floatx("bfloat16")
    with pytest.raises(ValueError, match="set_floatx"):
        config.set_floatx(np.float64)


def test_config_epsilon_is_read_where_keras_reads_backend_epsilon():
    y_true, y_pred = np.array([[1.0, 0.0]], "float32"), np.array([[0.0, 1.0]], "float32")
    default = float(losses.BinaryCrossentropy()(y_true, y_pred))
    config.set_epsilon(1e-3)
    assert config.epsilon() == backend.epsilon() == 1e-3
    clipped = float(losses.BinaryCrossentropy()(y_true, y_pred))
    assert clipped == pytest.approx(-np.log(1e-3), rel=1e-4) and clipped < default
    with pytest.raises(TypeError, match="set_epsilon: expected a float"):
        config.set_epsilon("small")


def test_config_image_data_format_backend_and_names():
    assert config.image_data_format() == "channels_last"
    config.set_image_data_format("Channels_First")
    assert config.image_data_format() == "channels_first"
    with pytest.raises(ValueError, match="set_image_data_format.*Received: data_format='nchw'"):
        config.set_image_data_format("nchw")
    assert config.backend() == backend.backend_name() in ("numpy", "cupy", "strict")
    assert cl.config is config and "config" in cl.__all__
    for name in config.__all__:
        assert callable(getattr(config, name))
    for name in ("CustomObjectScope", "custom_object_scope", "get_custom_objects", "get_registered_name",
                 "get_registered_object", "register_keras_serializable", "serialize_keras_object",
                 "deserialize_keras_object", "is_interactive_logging_enabled", "enable_interactive_logging",
                 "disable_interactive_logging"):
        assert name in cl.utils.__all__ and getattr(cl.utils, name) is not None


@pytest.mark.parametrize("name", ["set_max_epochs", "set_max_steps_per_epoch"])
def test_the_debugging_caps_take_an_int_or_none_and_refuse_anything_else(name):
    setter, getter = getattr(config, name), getattr(config, name[len("set_"):])
    assert getter() is None
    setter(3)
    assert getter() == 3
    setter(None)
    assert getter() is None
    for bad in (-1, 2.5, "3", True):
        with pytest.raises(ValueError, match=f"{name}: expected None or an int >= 0.*Received: {bad!r}"):
            setter(bad)


def test_the_debugging_caps_are_read_from_the_environment_at_import():
    import subprocess
    import sys

    program = "import course_lib as k; print(k.config.max_epochs(), k.config.max_steps_per_epoch())"
    environment = {**os.environ, "KERAS_MAX_EPOCHS": "2", "KERAS_MAX_STEPS_PER_EPOCH": "7"}
    done = subprocess.run([sys.executable, "-c", program], env=environment, capture_output=True, text=True)
    assert done.stdout.split() == ["2", "7"], done.stderr
    environment["KERAS_MAX_EPOCHS"] = "two"
    done = subprocess.run([sys.executable, "-c", program], env=environment, capture_output=True, text=True)
    assert "the environment variable KERAS_MAX_EPOCHS must be an int >= 0. Received: 'two'" in done.stderr


def test_disabled_interactive_logging_sends_fit_progress_to_the_logger(capsys, caplog):
    model = cl.Sequential([cl.Input((3,)), cl.layers.Dense(1)])
    model.compile("sgd", "mse")
    x, y = np.ones((4, 3), "float32"), np.ones((4, 1), "float32")
    assert config.is_interactive_logging_enabled()
    model.fit(x, y, epochs=1, batch_size=2, verbose=2)
    assert "2/2 - " in capsys.readouterr().out
    config.disable_interactive_logging()
    try:
        assert not config.is_interactive_logging_enabled() and not cl.utils.is_interactive_logging_enabled()
        with caplog.at_level(logging.INFO, logger="course_lib"):
            model.fit(x, y, epochs=1, batch_size=2, verbose=1)
        records = [r.getMessage() for r in caplog.records if r.name == "course_lib"]
        # The callbacks' lines go the same way as the bar, as Keras's io_utils.print_msg sends them.
        assert len(records) == 2 and records[0] == "Epoch 1/1"
        assert records[1].startswith("2/2 ") and "loss:" in records[1]
        assert "2/2" not in capsys.readouterr().out
    finally:
        config.enable_interactive_logging()
    assert config.is_interactive_logging_enabled()


def test_set_image_data_format_changes_the_default_of_the_image_layers():
    import numpy as np

    previous = cl.config.image_data_format()
    try:
        cl.config.set_image_data_format("channels_first")
        conv, flatten = cl.layers.Conv2D(2, 3), cl.layers.Flatten()
        assert conv.data_format == flatten.data_format == "channels_first"
        assert conv(np.zeros((1, 3, 5, 5), "float32")).shape == (1, 2, 3, 3)
        assert cl.layers.Conv2D(2, 3, data_format="channels_last").data_format == "channels_last"
    finally:
        cl.config.set_image_data_format(previous)
    assert cl.layers.Conv2D(2, 3).data_format == "channels_last"


def test_a_subclass_of_a_registered_layer_is_saved_under_its_own_name():
    @saving.register_keras_serializable(package="Course")
    class Scaled(Doubler):
        pass

    class Unregistered(Scaled):
        pass

    assert cl.layers.serialize(Scaled())["registered_name"] == "Course>Scaled"
    assert cl.layers.serialize(Unregistered())["registered_name"] == "Unregistered"
