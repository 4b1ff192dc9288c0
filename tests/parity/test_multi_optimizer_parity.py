"""``optimizers.MultiOptimizer`` and ``OptimizerMap`` against Keras's: lookups, steps, configs and files."""
import json
import warnings
import zipfile

import h5py
import numpy as np
import pytest

import course_lib as cl

tf = pytest.importorskip("tensorflow")
keras = tf.keras

pytestmark = pytest.mark.parity

X = np.random.default_rng(0).random((12, 3)).astype("float32")
Y = np.random.default_rng(1).random((12, 2)).astype("float32")


def _outcome(action):
    try:
        value = action()
    except Exception as error:  # the type is part of the behaviour
        return type(error).__name__
    return value.name if hasattr(value, "name") else value


def _lookup_script(lib):
    optimizers = lib.optimizers
    adam, sgd, rms = optimizers.Adam(name="adam"), optimizers.SGD(name="sgd"), optimizers.RMSprop(name="rmsprop")
    mapping = optimizers.OptimizerMap(rms, {"encoder/layer_0/dense": adam})
    steps = [lambda: mapping.__setitem__("encoder/.*", sgd), lambda: mapping.__setitem__("decoder", adam)]
    for key in ("decoder", "encoder/layer_0/dense", "encoder/layer_0/attention/query", "decoder/layer_0/dense",
                "encoder", "head/kernel"):
        steps.append(lambda key=key: mapping[key])
    steps += [
        lambda: mapping.__setitem__("decoder", sgd),  # a key twice
        lambda: mapping.__setitem__(3, sgd),
        lambda: mapping.__setitem__("x", optimizers.LossScaleOptimizer(optimizers.SGD())),
        lambda: (len(mapping), sorted(mapping)),
        lambda: mapping.__setitem__("encoder/layer_.*", adam),
        lambda: mapping["encoder/layer_1/x"],  # two patterns match
        lambda: mapping.__delitem__("encoder/layer_.*"),
        lambda: mapping["encoder/layer_1/x"],
        lambda: mapping.default_optimizer,
    ]
    return [_outcome(step) for step in steps]


def test_optimizer_map_finds_what_keras_s_finds():
    assert _lookup_script(cl) == _lookup_script(keras)


def _twins():
    keras.utils.set_random_seed(0)
    keras.backend.clear_session()
    cl.backend.clear_session()
    theirs = keras.Sequential([keras.Input((3,)), keras.layers.Dense(4), keras.layers.Dense(2)])
    return cl.testing.from_keras(theirs), theirs


def _by_map(lib):
    optimizers = lib.optimizers
    mapped = {"sequential/dense/.*": optimizers.Adam(0.01), "nothing": optimizers.Nadam()}  # Nadam gets no weight
    return optimizers.MultiOptimizer(optimizers.OptimizerMap(optimizers.SGD(0.1, momentum=0.5), mapped))


def _by_function(lib):
    adam, sgd = lib.optimizers.Adam(0.02), lib.optimizers.SGD(0.05)
    return lib.optimizers.MultiOptimizer(lambda variable: adam if variable.path.endswith("kernel") else sgd)


def _state(optimizer):
    """The saved variables as NumPy arrays (Keras: its Variables, course_lib: the same list)."""
    if hasattr(optimizer, "_saved_variables"):
        return [np.asarray(cl.backend.to_numpy(value)) for value in optimizer._saved_variables()]
    return [np.asarray(variable.numpy()) for variable in optimizer.variables]


@pytest.mark.parametrize("make", [_by_map, _by_function])
def test_training_steps_each_weight_with_its_own_optimizer_as_keras(make):
    ours, theirs = _twins()
    for model, lib in ((theirs, keras), (ours, cl)):
        model.compile(optimizer=make(lib), loss="mse")
        model.fit(X, Y, epochs=3, batch_size=4, shuffle=False, verbose=0)
    for mine, expected in zip(ours.get_weights(), theirs.get_weights(), strict=True):
        np.testing.assert_allclose(mine, expected, rtol=1e-5, atol=1e-6)
    assert ours.optimizer.iterations == int(theirs.optimizer.iterations.numpy()) == 9
    assert [o.name for o in ours.optimizer.optimizers] == [o.name for o in theirs.optimizer.optimizers]
    assert [o.iterations for o in ours.optimizer.optimizers] == \
        [int(o.iterations.numpy()) for o in theirs.optimizer.optimizers]
    mine, expected = _state(ours.optimizer), _state(theirs.optimizer)
    assert len(mine) == len(expected)
    for a, b in zip(mine, expected):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_the_learning_rate_belongs_to_the_inner_optimizers():
    for lib in (cl, keras):
        optimizer = _by_map(lib)
        with pytest.raises(AttributeError):
            optimizer.learning_rate
        with pytest.raises(AttributeError):
            optimizer.learning_rate = 0.1
    with pytest.raises(AttributeError, match="MultiOptimizer: the learning rate cannot be read"):
        _by_map(cl).learning_rate


def test_config_is_keras_s_and_comes_back():
    keras.backend.clear_session()
    cl.backend.clear_session()  # optimizers are named as layers are: multi_optimizer, adam ... on both sides
    ours, theirs = _by_map(cl), _by_map(keras)
    assert cl.optimizers.serialize(ours)["config"] == keras.optimizers.serialize(theirs)["config"]
    back = cl.optimizers.deserialize(json.loads(json.dumps(keras.optimizers.serialize(theirs))))
    assert isinstance(back, cl.optimizers.MultiOptimizer)
    assert [o.name for o in back.optimizers] == [o.name for o in ours.optimizers] == ["adam", "nadam", "sgd"]
    assert cl.optimizers.serialize(back)["config"] == keras.optimizers.serialize(theirs)["config"]


def _names(path, folder):
    with zipfile.ZipFile(path) as archive:
        archive.extract("model.weights.h5", folder)
    found = []
    with h5py.File(folder / "model.weights.h5") as handle:
        handle.visit(found.append)
    return found


def test_keras_files_carry_every_optimizer_s_state(tmp_path):
    ours, theirs = _twins()
    for model, lib in ((theirs, keras), (ours, cl)):
        model.compile(optimizer=_by_map(lib), loss="mse")
        model.fit(X, Y, epochs=2, batch_size=4, shuffle=False, verbose=0)
    theirs.save(tmp_path / "keras_s.keras")
    ours.save(tmp_path / "ours.keras")
    assert _names(tmp_path / "ours.keras", tmp_path / "o") == _names(tmp_path / "keras_s.keras", tmp_path / "t")
    loaded = cl.models.load_model(tmp_path / "keras_s.keras")
    assert isinstance(loaded.optimizer, cl.optimizers.MultiOptimizer)
    for a, b in zip(_state(loaded.optimizer), _state(theirs.optimizer), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    for model in (loaded, theirs):  # Keras goes on in memory; course_lib from Keras's file
        model.fit(X, Y, epochs=1, batch_size=4, shuffle=False, verbose=0)
    for mine, expected in zip(loaded.get_weights(), theirs.get_weights(), strict=True):
        np.testing.assert_allclose(mine, expected, rtol=1e-5, atol=1e-6)
    # Keras 3.15 opens either file but builds the optimizers only at their first step, so it skips their
    # saved state, with a warning; course_lib's file is read exactly as its own.
    for name in ("keras_s.keras", "ours.keras"):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            back = keras.models.load_model(tmp_path / name)
        assert type(back.optimizer).__name__ == "MultiOptimizer"
        assert any("Skipping variable loading for optimizer 'multi_optimizer'" in str(w.message) for w in caught)


def test_what_cannot_be_mapped_is_refused():
    with pytest.raises(TypeError, match="MultiOptimizer: optimizer_map must be an OptimizerMap or a function"):
        cl.optimizers.MultiOptimizer(cl.optimizers.Adam())
    with pytest.raises(ValueError, match="does not implement loss scaling"):
        cl.optimizers.MultiOptimizer(cl.optimizers.OptimizerMap(cl.optimizers.SGD()), loss_scale_factor=2.0)
    for lib in (keras, cl):
        inner = lib.optimizers.LossScaleOptimizer(lib.optimizers.SGD())
        optimizer = lib.optimizers.MultiOptimizer(lambda variable, inner=inner: inner)
        model = lib.Sequential([lib.Input((3,)), lib.layers.Dense(2)])
        model.compile(optimizer=optimizer, loss="mse")
        with pytest.raises(ValueError, match="LossScaleOptimizer"):
            model.fit(X, Y, epochs=1, verbose=0)
    with pytest.raises(TypeError, match="OptimizerMap: default_optimizer must be an optimizer"):
        cl.optimizers.OptimizerMap("sgd")
