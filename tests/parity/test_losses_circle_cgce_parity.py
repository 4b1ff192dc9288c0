"""Circle and CategoricalGeneralizedCrossEntropy give tf.keras's numbers, computed in the same test.

Per-sample values, reduced values and gradients (tf.GradientTape) for every
reduction, with and without sample weights, several shapes, Circle's masked
rows; configs both ways; whole fit() runs give Keras's History; a compiled
model's loss survives a .keras file both ways. Tolerances are float32's:
values rtol 1e-5 / atol 1e-6; gradients rtol 1e-4 / atol 1e-5 (Circle's
gradients are gamma-sized, ~100).
"""
import numpy as np
import pytest

import course_lib as cl
from course_lib import losses

tf = pytest.importorskip("tensorflow")
import keras  # noqa: E402  (Keras 3, the library tf.keras is)

pytestmark = pytest.mark.parity

VALUE_TOL = dict(rtol=1e-5, atol=1e-6)
GRADIENT_TOL = dict(rtol=1e-4, atol=1e-5)
REDUCTIONS = ["sum_over_batch_size", "sum", "mean", "mean_with_sample_weight", None]


def _embeddings(rng, batch, dim):
    x = rng.normal(size=(batch, dim)).astype("float32")
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def _data(kind, rng):
    if kind == "circle":
        return np.array([0, 1, 0, 2, 1, 0, 2, 1]), _embeddings(rng, 8, 5)
    if kind == "circle_lonely":  # labels 7 and 9 appear once: a loss of 0, masked out of the mean
        return np.array([0, 7, 0, 1, 1, 9]), _embeddings(rng, 6, 3)
    if kind == "circle_column":  # (batch, 1) labels, embeddings of one dimension
        return np.array([[0], [1], [0], [1]]), rng.choice(np.array([-1.0, 1.0], "float32"), (4, 1))
    if kind == "probabilities":
        y_pred = rng.uniform(0.05, 1.0, (7, 4)).astype("float32")
        return rng.integers(0, 4, 7), y_pred / y_pred.sum(axis=1, keepdims=True)
    if kind == "probabilities_3d":
        y_pred = rng.uniform(0.05, 1.0, (3, 5, 6)).astype("float32")
        return rng.integers(0, 6, (3, 5)), y_pred
    raise AssertionError(kind)


# (class name, function name, constructor kwargs, the function's kwargs, data kind)
CASES = [
    ("Circle", "circle", {}, {}, "circle"),
    ("Circle", "circle", {"gamma": 16.0, "margin": 0.25}, {"gamma": 16.0, "margin": 0.25}, "circle"),
    ("Circle", "circle", {"gamma": 4.0, "remove_diagonal": False}, {"gamma": 4.0, "remove_diagonal": False},
     "circle"),
    ("Circle", "circle", {}, {}, "circle_lonely"),
    ("Circle", "circle", {"gamma": 2.0}, {"gamma": 2.0}, "circle_column"),
    ("CategoricalGeneralizedCrossEntropy", "categorical_generalized_cross_entropy", {}, {"q": 0.5},
     "probabilities"),
    ("CategoricalGeneralizedCrossEntropy", "categorical_generalized_cross_entropy", {"q": 0.15}, {"q": 0.15},
     "probabilities"),
    ("CategoricalGeneralizedCrossEntropy", "categorical_generalized_cross_entropy", {"q": 0.8}, {"q": 0.8},
     "probabilities_3d"),
]
IDS = [f"{name}-{kind}-{'-'.join(f'{k}={v}' for k, v in kwargs.items()) or 'default'}"
       for name, _, kwargs, _, kind in CASES]


def _keras_value_and_gradient(loss, y_true, y_pred, sample_weight=None):
    prediction = tf.constant(y_pred)
    with tf.GradientTape() as tape:
        tape.watch(prediction)
        value = loss(y_true, prediction, sample_weight=sample_weight)
    return value.numpy(), tape.gradient(value, prediction).numpy()


@pytest.mark.parametrize("name,function,kwargs,function_kwargs,kind", CASES, ids=IDS)
def test_per_sample_function_matches_keras(name, function, kwargs, function_kwargs, kind, rng):
    y_true, y_pred = _data(kind, rng)
    ours = getattr(losses, function)(y_true, y_pred, **function_kwargs)
    theirs = getattr(keras.losses, function)(y_true, y_pred, **function_kwargs).numpy()
    assert ours.shape == theirs.shape and ours.dtype == np.float32
    np.testing.assert_allclose(ours, theirs, **VALUE_TOL)


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("name,function,kwargs,function_kwargs,kind", CASES, ids=IDS)
def test_loss_class_value_and_gradient_match_keras(name, function, kwargs, function_kwargs, kind, reduction,
                                                   weighted, rng):
    y_true, y_pred = _data(kind, rng)
    # One weight per per-sample loss (Keras does not broadcast (batch,) weights over a (batch, steps) loss).
    shape = y_pred.shape[:-1] if name == "CategoricalGeneralizedCrossEntropy" else y_pred.shape[:1]
    sample_weight = rng.uniform(0, 2, shape).astype("float32") if weighted else None
    ours = getattr(losses, name)(reduction=reduction, **kwargs)
    theirs = getattr(keras.losses, name)(reduction=reduction, **kwargs)
    keras_value, keras_gradient = _keras_value_and_gradient(theirs, y_true, y_pred, sample_weight)
    value = ours(y_true, y_pred, sample_weight=sample_weight)
    if reduction is None:
        assert isinstance(value, np.ndarray) and value.shape == keras_value.shape
    else:
        assert isinstance(value, float)
    np.testing.assert_allclose(value, keras_value, **VALUE_TOL)
    gradient = ours.gradient(y_true, y_pred, sample_weight=sample_weight)
    assert gradient.shape == y_pred.shape and gradient.dtype == np.float32
    np.testing.assert_allclose(gradient, keras_gradient, **GRADIENT_TOL)
    step_value, step_gradient = ours.value_and_gradient(y_true, y_pred, sample_weight=sample_weight)
    np.testing.assert_allclose(step_value, keras_value, **VALUE_TOL)
    np.testing.assert_allclose(step_gradient, keras_gradient, **GRADIENT_TOL)


def test_circle_against_separate_references_matches_keras(rng):
    y_true, y_pred = np.array([0, 1, 2]), _embeddings(rng, 3, 4)
    ref_labels, refs = np.array([0, 0, 1, 2, 2]), _embeddings(rng, 5, 4)
    for remove_diagonal in (True, False):
        kwargs = dict(ref_labels=ref_labels, ref_embeddings=refs, remove_diagonal=remove_diagonal, gamma=12.0)
        np.testing.assert_allclose(losses.circle(y_true, y_pred, **kwargs),
                                   keras.losses.circle(y_true, y_pred, **kwargs).numpy(), **VALUE_TOL)


@pytest.mark.parametrize("name,kwargs", [
    ("Circle", {}), ("Circle", {"gamma": 30.0, "margin": 0.1, "remove_diagonal": False, "reduction": "sum"}),
    ("CategoricalGeneralizedCrossEntropy", {}), ("CategoricalGeneralizedCrossEntropy", {"q": 0.3, "name": "g"}),
])
def test_loss_config_is_keras_config(name, kwargs):
    ours, theirs = getattr(losses, name)(**kwargs), getattr(keras.losses, name)(**kwargs)
    assert list(ours.get_config()) == list(theirs.get_config())
    assert ours.get_config() == theirs.get_config()
    rebuilt = losses.deserialize({"class_name": name, "config": theirs.get_config()})
    assert rebuilt.get_config() == ours.get_config()
    serialized = keras.saving.serialize_keras_object(theirs)
    assert losses.deserialize(serialized).get_config() == ours.get_config()
    back = keras.saving.deserialize_keras_object({**serialized, "config": ours.get_config()})
    assert back.get_config() == theirs.get_config()


def test_string_names_resolve_as_in_keras():
    assert type(keras.losses.get("Circle")).__name__ == type(losses.get("Circle")).__name__ == "Circle"
    assert keras.losses.get("circle") is keras.losses.circle and type(losses.get("circle")).__name__ == "Circle"
    # Keras resolves neither name of the generalized cross-entropy from a string; course_lib refuses the
    # function's name too, and takes the class name (its saved files name the class).
    with pytest.raises(ValueError):
        keras.losses.get("categorical_generalized_cross_entropy")
    with pytest.raises(ValueError, match="could not interpret"):
        losses.get("categorical_generalized_cross_entropy")
    assert keras.losses.deserialize("CategoricalGeneralizedCrossEntropy") == "CategoricalGeneralizedCrossEntropy"
    assert type(losses.get("CategoricalGeneralizedCrossEntropy")) is losses.CategoricalGeneralizedCrossEntropy


# --------------------------------------------------------------------------- fit


def _embedding_model(library, seed=0):
    library.utils.set_random_seed(seed)
    return library.Sequential([
        library.Input((5,)), library.layers.Dense(8, activation="tanh"), library.layers.Dense(4),
        library.layers.UnitNormalization(),
    ])


def _classifier(library, seed=0):
    library.utils.set_random_seed(seed)
    return library.Sequential([
        library.Input((5,)), library.layers.Dense(8, activation="tanh"),
        library.layers.Dense(3, activation="softmax"),
    ])


FIT_CASES = [
    ("circle", _embedding_model, 0.01),
    (("Circle", {"gamma": 10.0, "margin": 0.3}), _embedding_model, 0.05),
    (("CategoricalGeneralizedCrossEntropy", {}), _classifier, 0.5),
    (("CategoricalGeneralizedCrossEntropy", {"q": 0.2}), _classifier, 0.5),
]


def _loss_for(library, spec):
    if isinstance(spec, str):
        return spec
    name, kwargs = spec
    return getattr(library.losses, name)(**kwargs)


@pytest.mark.parametrize("loss,builder,learning_rate", FIT_CASES,
                         ids=[f"{c[0] if isinstance(c[0], str) else c[0][0]}-{i}" for i, c in enumerate(FIT_CASES)])
def test_fit_history_matches_keras(loss, builder, learning_rate):
    keras.utils.clear_session()
    cl.backend.clear_session()
    generator = np.random.default_rng(0)
    x = generator.standard_normal((48, 5)).astype("float32")
    y = (x[:, 0] > 0).astype("int64") + (x[:, 1] > 0.5)  # three classes
    keras_model = builder(keras)
    ours = cl.testing.from_keras(keras_model)
    keras_model.compile(keras.optimizers.SGD(learning_rate=learning_rate), _loss_for(keras, loss))
    ours.compile(cl.optimizers.SGD(learning_rate=learning_rate), _loss_for(cl, loss))
    kwargs = dict(epochs=3, batch_size=16, shuffle=False, verbose=0)
    expected = keras_model.fit(x, y, **kwargs).history["loss"]
    received = ours.fit(x, y, **kwargs).history["loss"]
    np.testing.assert_allclose(received, expected, **VALUE_TOL)
    assert expected[-1] != expected[0]
    for mine, theirs in zip(ours.get_weights(), keras_model.get_weights(), strict=True):
        np.testing.assert_allclose(mine, theirs, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name,kwargs", [("Circle", {"gamma": 20.0}), ("CategoricalGeneralizedCrossEntropy",
                                                                       {"q": 0.3})])
def test_a_compiled_loss_survives_keras_files_both_ways(name, kwargs, tmp_path):
    builder = _embedding_model if name == "Circle" else _classifier
    theirs = builder(keras)
    theirs.compile("sgd", getattr(keras.losses, name)(**kwargs))
    theirs.save(tmp_path / "k.keras")
    ours = cl.models.load_model(tmp_path / "k.keras")
    assert type(ours.loss).__name__ == name and ours.loss.get_config() == theirs.loss.get_config()
    ours.save(tmp_path / "c.keras")
    back = keras.models.load_model(tmp_path / "c.keras")
    assert type(back.loss).__name__ == name and back.loss.get_config() == theirs.loss.get_config()
