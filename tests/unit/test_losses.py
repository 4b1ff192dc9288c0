"""course_lib.losses: values and gradients against tf.keras, finite differences, errors.

Parity tests compute the tf.keras value in the same test. Tolerances (float32):
values rtol 1e-6 / atol 1e-6; gradients rtol 1e-5 / atol 1e-6 (a gradient
near the clip bound is ~1/epsilon-sized, so a relative bound is the fair one).
Finite differences run in float64 with relative error < 1e-6.
"""
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from course_lib import backend, losses

tf = pytest.importorskip("tensorflow")
keras = pytest.importorskip("keras")  # Keras 3, the package behind tf.keras

VALUE_TOL = dict(rtol=1e-6, atol=1e-6)
GRADIENT_TOL = dict(rtol=1e-5, atol=1e-6)
REDUCTIONS = ["sum_over_batch_size", "sum", "mean", "mean_with_sample_weight", None]


def make_data(kind, rng, batch=6, classes=4, dtype="float32"):
    """Labels and predictions for one family of losses (with clip corner cases)."""
    if kind == "regression":
        y_true = rng.normal(size=(batch, classes))
        y_pred = y_true + rng.normal(scale=1.5, size=(batch, classes))
    elif kind == "mape":
        y_true = rng.normal(size=(batch, classes))
        y_true[0, 0] = 0.0  # max(|t|, epsilon) keeps this finite
        y_pred = rng.normal(size=(batch, classes))
    elif kind == "msle":
        y_true = rng.uniform(0, 3, size=(batch, classes))
        y_true[0, 0] = 0.0
        y_pred = rng.uniform(-0.5, 3, size=(batch, classes))
        y_pred[1, 1] = 0.0
    elif kind == "hinge01":
        y_true = rng.integers(0, 2, size=(batch, classes)).astype(float)
        y_pred = rng.normal(scale=2, size=(batch, classes))
    elif kind == "hinge_pm":
        y_true = rng.choice([-1.0, 1.0], size=(batch, classes))
        y_pred = rng.normal(scale=2, size=(batch, classes))
    elif kind == "kld":
        y_true = rng.dirichlet(np.ones(classes), size=batch)
        y_true[0, 1] = 0.0
        y_pred = rng.dirichlet(np.ones(classes), size=batch)
        y_pred[1] = [0.0, 1.0] + [0.0] * (classes - 2)
    elif kind == "binary":
        y_true = rng.integers(0, 2, size=(batch, classes)).astype(float)
        y_pred = rng.uniform(0, 1, size=(batch, classes))
        y_pred[0, :2] = [0.0, 1.0][:classes]  # exactly on the clip
        y_pred[1, :2] = [1.0, 0.0][:classes]
    elif kind in ("binary_logits", "onehot_logits", "sparse_logits"):
        y_pred = rng.normal(scale=3, size=(batch, classes))
        if kind == "binary_logits":
            y_true = rng.integers(0, 2, size=(batch, classes)).astype(float)
        elif kind == "onehot_logits":
            y_true = np.eye(classes)[rng.integers(0, classes, batch)]
        else:
            y_true = rng.integers(0, classes, batch)
    elif kind in ("onehot", "sparse"):
        # Rows that do not sum to one: categorical CE renormalises them.
        y_pred = rng.uniform(0, 2, size=(batch, classes))
        y_pred[0] = [0.0, 1.0] + [0.0] * (classes - 2)
        y_pred[1, 0] = 0.0
        ids = rng.integers(0, classes, batch)
        ids[0], ids[1] = 1, 0
        y_true = np.eye(classes)[ids] if kind == "onehot" else ids
    else:
        raise AssertionError(kind)
    y_true = y_true if y_true.dtype.kind == "i" else y_true.astype(dtype)
    return y_true, y_pred.astype(dtype)


# (class name, constructor kwargs, data kind, per-sample function name)
CASES = [
    ("MeanSquaredError", {}, "regression", "mean_squared_error"),
    ("MeanAbsoluteError", {}, "regression", "mean_absolute_error"),
    ("MeanAbsolutePercentageError", {}, "mape", "mean_absolute_percentage_error"),
    ("MeanSquaredLogarithmicError", {}, "msle", "mean_squared_logarithmic_error"),
    ("Huber", {}, "regression", "huber"),
    ("Huber", {"delta": 0.5}, "regression", "huber"),
    ("Hinge", {}, "hinge01", "hinge"),
    ("Hinge", {}, "hinge_pm", "hinge"),
    ("KLDivergence", {}, "kld", "kl_divergence"),
    ("BinaryCrossentropy", {}, "binary", "binary_crossentropy"),
    ("BinaryCrossentropy", {"label_smoothing": 0.2}, "binary", "binary_crossentropy"),
    ("BinaryCrossentropy", {"from_logits": True}, "binary_logits", "binary_crossentropy"),
    ("BinaryCrossentropy", {"from_logits": True, "label_smoothing": 0.1}, "binary_logits",
     "binary_crossentropy"),
    ("CategoricalCrossentropy", {}, "onehot", "categorical_crossentropy"),
    ("CategoricalCrossentropy", {"label_smoothing": 0.1}, "onehot", "categorical_crossentropy"),
    ("CategoricalCrossentropy", {"from_logits": True}, "onehot_logits", "categorical_crossentropy"),
    ("CategoricalCrossentropy", {"from_logits": True, "label_smoothing": 0.2}, "onehot_logits",
     "categorical_crossentropy"),
    ("SparseCategoricalCrossentropy", {}, "sparse", "sparse_categorical_crossentropy"),
    ("SparseCategoricalCrossentropy", {"from_logits": True}, "sparse_logits",
     "sparse_categorical_crossentropy"),
]
CASE_IDS = [f"{c[0]}-{c[2]}-{'-'.join(f'{k}={v}' for k, v in c[1].items()) or 'default'}"
            for c in CASES]


def keras_gradient(loss_object, y_true, y_pred, sample_weight=None):
    prediction = tf.constant(y_pred)
    with tf.GradientTape() as tape:
        tape.watch(prediction)
        value = loss_object(y_true, prediction, sample_weight=sample_weight)
    return value.numpy(), tape.gradient(value, prediction).numpy()


# --------------------------------------------------------------------------- values


@pytest.mark.parity
@pytest.mark.parametrize("class_name,kwargs,kind,function_name", CASES, ids=CASE_IDS)
def test_per_sample_function_matches_keras(class_name, kwargs, kind, function_name, rng):
    y_true, y_pred = make_data(kind, rng)
    ours = getattr(losses, function_name)(y_true, y_pred, **kwargs)
    theirs = getattr(keras.losses, function_name)(y_true, y_pred, **kwargs).numpy()
    assert ours.shape == theirs.shape == (y_pred.shape[0],)
    assert ours.dtype == np.float32
    np.testing.assert_allclose(ours, theirs, **VALUE_TOL)


@pytest.mark.parity
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("class_name,kwargs,kind,function_name", CASES, ids=CASE_IDS)
def test_loss_class_value_and_gradient_match_keras(class_name, kwargs, kind, function_name,
                                                   reduction, weighted, rng):
    y_true, y_pred = make_data(kind, rng)
    sample_weight = rng.uniform(0, 2, size=y_pred.shape[0]).astype("float32") if weighted else None
    ours = getattr(losses, class_name)(reduction=reduction, **kwargs)
    theirs = getattr(keras.losses, class_name)(reduction=reduction, **kwargs)

    value = ours(y_true, y_pred, sample_weight=sample_weight)
    keras_value, keras_grad = keras_gradient(theirs, y_true, y_pred, sample_weight)
    if reduction is None:
        assert isinstance(value, np.ndarray) and value.shape == keras_value.shape
    else:
        assert isinstance(value, float)
    np.testing.assert_allclose(value, keras_value, **VALUE_TOL)

    grad = ours.gradient(y_true, y_pred, sample_weight=sample_weight)
    assert grad.shape == y_pred.shape and grad.dtype == y_pred.dtype
    np.testing.assert_allclose(grad, keras_grad, **GRADIENT_TOL)

    # The training step's entry point (fused for some losses) agrees with both.
    step_value, step_grad = ours.value_and_gradient(y_true, y_pred, sample_weight=sample_weight)
    np.testing.assert_allclose(step_value, keras_value, **VALUE_TOL)
    assert step_grad.shape == y_pred.shape and step_grad.dtype == y_pred.dtype
    np.testing.assert_allclose(step_grad, keras_grad, **GRADIENT_TOL)


@pytest.mark.parity
@pytest.mark.parametrize("class_name,kind", [
    ("MeanSquaredError", "regression"), ("MeanAbsoluteError", "regression"),
    ("BinaryCrossentropy", "binary"), ("Huber", "regression"), ("Hinge", "hinge01"),
])
def test_rank_1_labels_against_column_predictions_are_reshaped(class_name, kind, rng):
    y_true, y_pred = make_data(kind, rng, batch=7, classes=1)
    y_true = y_true[:, 0]  # (N,) labels against (N, 1) predictions
    ours, theirs = getattr(losses, class_name)(), getattr(keras.losses, class_name)()
    keras_value, keras_grad = keras_gradient(theirs, y_true, y_pred)
    np.testing.assert_allclose(ours(y_true, y_pred), keras_value, **VALUE_TOL)
    np.testing.assert_allclose(ours.gradient(y_true, y_pred), keras_grad, **GRADIENT_TOL)
    per_sample = getattr(losses, class_name)(reduction=None)(y_true, y_pred)
    assert per_sample.shape == (7,)  # not (7, 7): no broadcasting
    # and the other way round: (N, 1) labels against (N,) predictions
    np.testing.assert_allclose(ours(y_true[:, None], y_pred[:, 0]),
                               float(theirs(y_true[:, None], y_pred[:, 0])), **VALUE_TOL)


@pytest.mark.parity
def test_sparse_labels_with_trailing_axis_and_float_type(rng):
    y_true, y_pred = make_data("sparse", rng)
    ours = losses.SparseCategoricalCrossentropy()
    theirs = keras.losses.SparseCategoricalCrossentropy()
    column = y_true[:, None].astype("float32")
    keras_value, keras_grad = keras_gradient(theirs, column, y_pred)
    np.testing.assert_allclose(ours(column, y_pred), keras_value, **VALUE_TOL)
    np.testing.assert_allclose(ours.gradient(column, y_pred), keras_grad, **GRADIENT_TOL)


@pytest.mark.parity
@pytest.mark.parametrize("name", ["BinaryCrossentropy", "CategoricalCrossentropy"])
def test_crossentropy_along_another_axis(name, rng):
    kind = "binary" if name == "BinaryCrossentropy" else "onehot"
    y_true, y_pred = make_data(kind, rng, batch=4, classes=3)
    # classes on axis 1 of a (batch, classes, 2) array
    y_true = np.stack([y_true, y_true[::-1]], axis=-1)
    y_pred = np.stack([y_pred, y_pred[::-1]], axis=-1)
    for from_logits in (False, True):
        ours = getattr(losses, name)(axis=1, from_logits=from_logits)
        theirs = getattr(keras.losses, name)(axis=1, from_logits=from_logits)
        keras_value, keras_grad = keras_gradient(theirs, y_true, y_pred)
        np.testing.assert_allclose(ours(y_true, y_pred), keras_value, **VALUE_TOL)
        np.testing.assert_allclose(ours.gradient(y_true, y_pred), keras_grad, **GRADIENT_TOL)


@pytest.mark.parity
def test_clipped_predictions_have_zero_gradient_like_tf_clip_by_value():
    y_true = np.array([[1.0, 0.0, 1.0, 0.0]], "float32")
    y_pred = np.array([[0.0, 1.0, 1.0, 0.0]], "float32")
    ours = losses.BinaryCrossentropy()
    keras_value, keras_grad = keras_gradient(keras.losses.BinaryCrossentropy(), y_true, y_pred)
    grad = ours.gradient(y_true, y_pred)
    assert np.all(grad == 0) and np.all(keras_grad == 0)
    np.testing.assert_allclose(ours(y_true, y_pred), keras_value, **VALUE_TOL)
    # -log(1e-7) ~ 16.1 for the two confidently wrong entries
    assert 7.5 < ours(y_true, y_pred) < 8.5


# --------------------------------------------------------------------------- finite differences


def finite_difference_case(class_name, kwargs, kind, rng):
    """float64 data kept away from clip bounds and kinks."""
    y_true, y_pred = make_data(kind, rng, batch=4, classes=3, dtype="float64")
    if kind in ("binary", "kld", "onehot", "sparse"):
        y_pred = rng.uniform(0.05, 0.95, size=y_pred.shape)
    if kind == "msle":
        y_pred = rng.uniform(0.1, 3, size=y_pred.shape)
    if kind == "mape":
        # A zero target (covered by the parity test) scales one entry by 1e7,
        # which drowns central differences in rounding error.
        y_true = rng.uniform(0.5, 2, size=y_true.shape) * rng.choice([-1, 1], size=y_true.shape)
    if kind == "kld":
        y_true = rng.dirichlet(np.ones(3), size=4)
    return y_true, y_pred


def relative_error(a, b):
    return np.max(np.abs(a - b) / np.maximum(np.abs(a) + np.abs(b), 1e-12))


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("class_name,kwargs,kind,function_name", CASES, ids=CASE_IDS)
def test_gradient_matches_central_differences_in_float64(class_name, kwargs, kind, function_name,
                                                         weighted, rng):
    y_true, y_pred = finite_difference_case(class_name, kwargs, kind, rng)
    sample_weight = rng.uniform(0.5, 2, size=4) if weighted else None
    with backend.floatx_scope("float64"):
        loss = getattr(losses, class_name)(**kwargs)
        analytic = loss.gradient(y_true, y_pred, sample_weight=sample_weight)
        assert analytic.dtype == np.float64
        numeric = np.zeros_like(y_pred)
        step = 1e-6
        for index in np.ndindex(y_pred.shape):
            plus, minus = y_pred.copy(), y_pred.copy()
            plus[index] += step
            minus[index] -= step
            numeric[index] = (loss(y_true, plus, sample_weight) -
                              loss(y_true, minus, sample_weight)) / (2 * step)
    # Kinks (|error| = delta, margin = 0, error = 0) are measure-zero for this data.
    assert relative_error(analytic, numeric) < 1e-6, (
        f"{class_name}: relative error {relative_error(analytic, numeric):.2e}; expected < 1e-6"
    )


# --------------------------------------------------------------------------- with_logits


@pytest.mark.parity
@pytest.mark.parametrize("name,kind", [("BinaryCrossentropy", "binary_logits"),
                                       ("CategoricalCrossentropy", "onehot_logits"),
                                       ("SparseCategoricalCrossentropy", "sparse_logits")])
def test_with_logits_scores_the_pre_activation(name, kind, rng):
    y_true, logits = make_data(kind, rng)
    loss = getattr(losses, name)(**({"label_smoothing": 0.1} if name != "SparseCategoricalCrossentropy" else {}))
    from_logits = loss.with_logits()
    assert type(from_logits) is type(loss) and from_logits.from_logits and not loss.from_logits
    assert from_logits.get_config() == {**loss.get_config(), "from_logits": True}
    keras_loss = keras.losses.get({"class_name": name, "config": from_logits.get_config()})
    keras_value, keras_grad = keras_gradient(keras_loss, y_true, logits)
    np.testing.assert_allclose(from_logits(y_true, logits), keras_value, **VALUE_TOL)
    np.testing.assert_allclose(from_logits.gradient(y_true, logits), keras_grad, **GRADIENT_TOL)
    again = from_logits.with_logits()  # already from logits: the same loss (the engine warns, as Keras)
    assert type(again) is type(loss) and again.get_config() == from_logits.get_config()


# --------------------------------------------------------------------------- get / serialize


@pytest.mark.parametrize("identifier,expected_class", [
    ("mse", losses.MeanSquaredError), ("MSE", losses.MeanSquaredError),
    ("mean_squared_error", losses.MeanSquaredError), ("MeanSquaredError", losses.MeanSquaredError),
    ("mae", losses.MeanAbsoluteError), ("mape", losses.MeanAbsolutePercentageError),
    ("msle", losses.MeanSquaredLogarithmicError), ("huber", losses.Huber), ("Huber", losses.Huber),
    ("hinge", losses.Hinge), ("kld", losses.KLDivergence), ("kl_divergence", losses.KLDivergence),
    ("kullback_leibler_divergence", losses.KLDivergence),
    ("binary_crossentropy", losses.BinaryCrossentropy),
    ("categorical_crossentropy", losses.CategoricalCrossentropy),
    ("CategoricalCrossentropy", losses.CategoricalCrossentropy),
    ("sparse_categorical_crossentropy", losses.SparseCategoricalCrossentropy),
])
def test_get_returns_instances(identifier, expected_class):
    loss = losses.get(identifier)
    assert type(loss) is expected_class
    assert not getattr(loss, "from_logits", False)


def test_get_passes_instances_and_instantiates_classes():
    loss = losses.CategoricalCrossentropy(from_logits=True)
    assert losses.get(loss) is loss
    assert type(losses.get(losses.Hinge)) is losses.Hinge
    assert losses.get(None) is None


@pytest.mark.parity
@pytest.mark.parametrize("y_true_shape,y_pred_shape", [((8,), (8, 1)), ((8, 1), (8, 1)),
                                                       ((8,), (8, 3)), ((8, 1), (8, 3)),
                                                       ((8, 3), (8, 3))])
@pytest.mark.parametrize("identifier", ["crossentropy", "ce", "CE"])
def test_crossentropy_shortcut_is_picked_like_keras_compile(identifier, y_true_shape, y_pred_shape):
    from keras.src.trainers import compile_utils

    y_true, y_pred = np.zeros(y_true_shape, "float32"), np.zeros(y_pred_shape, "float32")
    keras_loss = compile_utils.get_loss(identifier, y_true, y_pred)
    ours = losses.get(identifier, y_true=y_true, y_pred=y_pred)
    assert ours.name == keras_loss.name == identifier
    assert backend.snake_case(type(ours).__name__) == keras_loss.fn.__name__
    with pytest.raises(ValueError, match="needs y_true= and y_pred="):
        losses.get(identifier)


def test_custom_function_evaluates_but_has_no_gradient():
    def squared_gap(y_true, y_pred):
        return np.mean((y_true - y_pred) ** 2, axis=-1)

    loss = losses.get(squared_gap)
    assert isinstance(loss, losses.Loss) and loss.name == "squared_gap"
    y_true, y_pred = np.ones((3, 2), "float32"), np.zeros((3, 2), "float32")
    assert loss(y_true, y_pred) == pytest.approx(1.0)
    with pytest.raises(TypeError, match="custom function 'squared_gap'.*no derivative"):
        loss.gradient(y_true, y_pred)


def test_user_subclass_with_backward_trains_and_without_it_explains():
    class Quartic(losses.Loss):
        def call(self, y_true, y_pred):
            return np.mean((y_pred - y_true) ** 4, axis=-1)

    class QuarticWithBackward(Quartic):
        def backward(self, y_true, y_pred, d_losses):
            return d_losses[:, None] * 4 * (y_pred - y_true) ** 3 / y_pred.shape[-1]

    y_true, y_pred = np.zeros((2, 2)), np.array([[1.0, 2.0], [0.5, -1.0]])
    assert Quartic().name == "quartic"
    with pytest.raises(TypeError, match="Quartic.*defines no backward"):
        Quartic().gradient(y_true, y_pred)
    np.testing.assert_allclose(QuarticWithBackward().gradient(y_true, y_pred),
                               4 * y_pred ** 3 / 4)


def test_get_unknown_name_is_a_clear_error():
    with pytest.raises(ValueError, match=r"losses\.get.*'mean_sqared_error'.*Known names:.*mse"):
        losses.get("mean_sqared_error")
    with pytest.raises(ValueError, match=r"losses\.get.*42"):
        losses.get(42)


@pytest.mark.parametrize("loss", [
    losses.MeanSquaredError(reduction="sum", name="my_mse"), losses.Huber(delta=0.3),
    losses.BinaryCrossentropy(from_logits=True, label_smoothing=0.1, axis=-1),
    losses.CategoricalCrossentropy(label_smoothing=0.2, reduction=None),
    losses.SparseCategoricalCrossentropy(from_logits=True), losses.KLDivergence(),
], ids=lambda loss: type(loss).__name__)
def test_serialize_round_trip(loss):
    config = losses.serialize(loss)
    rebuilt = losses.deserialize(config)
    assert type(rebuilt) is type(loss) and rebuilt.get_config() == loss.get_config()
    assert losses.get(config).get_config() == loss.get_config()


@pytest.mark.parity
@pytest.mark.parametrize("name", ["BinaryCrossentropy", "CategoricalCrossentropy", "MeanSquaredError",
                                  "Hinge", "KLDivergence"])
def test_keras_configs_load(name):
    keras_config = getattr(keras.losses, name)(reduction="sum").get_config()
    keras_config.pop("dtype", None)
    ours = losses.deserialize({"class_name": name, "config": keras_config})
    assert ours.reduction == "sum" and ours.name == keras_config["name"]


def test_serialize_refuses_custom_functions():
    with pytest.raises(TypeError, match="cannot be serialised"):
        losses.serialize(losses.get(lambda t, p: t - p))
    with pytest.raises(ValueError, match="unknown loss class 'Nope'"):
        losses.deserialize({"class_name": "Nope", "config": {}})


# --------------------------------------------------------------------------- bad input


def test_mismatched_batch_sizes_name_the_loss_and_shapes():
    with pytest.raises(ValueError, match=r"MeanSquaredError.*y_true.shape=\(4, 2\), y_pred.shape=\(5, 2\)"):
        losses.MeanSquaredError()(np.zeros((4, 2)), np.zeros((5, 2)))
    with pytest.raises(ValueError, match=r"BinaryCrossentropy.*same shape.*\(4, 1\).*\(5, 1\)"):
        losses.BinaryCrossentropy()(np.zeros((4,)), np.zeros((5, 1)))
    with pytest.raises(ValueError, match=r"binary_crossentropy.*same shape"):
        losses.binary_crossentropy(np.zeros((4, 2)), np.zeros((4, 3)))
    with pytest.raises(ValueError, match=r"SparseCategoricalCrossentropy.*\(4,\).*\(5, 3\)"):
        losses.SparseCategoricalCrossentropy().gradient(np.zeros(4), np.ones((5, 3)) / 3)


def test_wrong_ranks_are_refused():
    with pytest.raises(ValueError, match=r"CategoricalCrossentropy.*same rank.*\(4,\).*\(4, 3\)"):
        losses.CategoricalCrossentropy()(np.zeros(4), np.ones((4, 3)) / 3)
    with pytest.raises(ValueError, match=r"sparse_categorical_crossentropy.*one class id per sample"):
        losses.sparse_categorical_crossentropy(np.zeros((4, 2)), np.ones((4, 3)) / 3)
    with pytest.raises(ValueError, match="mean_absolute_error: y_pred must have at least one axis"):
        losses.mean_absolute_error(1.0, 2.0)


def test_sparse_labels_out_of_range():
    with pytest.raises(ValueError, match=r"class ids must be in \[0, 3\).*\[3\]"):
        losses.SparseCategoricalCrossentropy()(np.array([0, 3]), np.ones((2, 3)) / 3)
    with pytest.raises(ValueError, match=r"class ids must be in \[0, 3\).*\[-1\]"):
        losses.sparse_categorical_crossentropy(np.array([-1, 0]), np.ones((2, 3)) / 3)


def test_bad_arguments():
    with pytest.raises(ValueError, match="MeanSquaredError: reduction must be one of"):
        losses.MeanSquaredError(reduction="average")
    with pytest.raises(ValueError, match="label_smoothing must be a float in \\[0, 1\\]"):
        losses.BinaryCrossentropy(label_smoothing=1.5)
    with pytest.raises(ValueError, match="Huber: delta must be a non-negative number"):
        losses.Huber(delta=-1)
    with pytest.raises(ValueError, match="only axis=-1"):
        losses.SparseCategoricalCrossentropy(axis=0)
    with pytest.raises(TypeError, match=r"MeanSquaredError \(y_true\): expected a numeric array"):
        losses.MeanSquaredError()(np.array(["a", "b"]), np.zeros(2))
    with pytest.raises(ValueError, match="sample_weight of shape \\(3,\\) does not fit"):
        losses.MeanSquaredError()(np.zeros((4, 2)), np.zeros((4, 2)), sample_weight=np.ones(3))


def test_single_column_categorical_warns_like_keras():
    with pytest.warns(SyntaxWarning, match="binary_crossentropy"):
        losses.categorical_crossentropy(np.ones((3, 1)), np.ones((3, 1)))


def test_float64_stays_float64():
    y_true = np.eye(3)[[0, 2]]
    y_pred = np.array([[0.7, 0.2, 0.1], [0.1, 0.3, 0.6]])
    loss = losses.CategoricalCrossentropy()
    assert loss.gradient(y_true, y_pred).dtype == np.float64
    assert losses.categorical_crossentropy(y_true, y_pred).dtype == np.float64
    expected = -(np.log(0.7) + np.log(0.6)) / 2
    assert loss(y_true, y_pred) == pytest.approx(expected, rel=1e-12)


# --------------------------------------------------------------------------- properties


probability_rows = hnp.arrays(
    np.float32, hnp.array_shapes(min_dims=2, max_dims=3, min_side=1, max_side=6),
    elements=st.floats(0, 1, width=32),
)


@settings(max_examples=60, deadline=None)
@given(y_pred=probability_rows, seed=st.integers(0, 2**16))
def test_categorical_crossentropy_is_finite_and_non_negative(y_pred, seed):
    rng = np.random.default_rng(seed)
    y_pred = y_pred + np.float32(1e-3)  # rows of zeros are 0/0 in Keras too
    classes = y_pred.shape[-1]
    y_true = np.eye(classes, dtype="float32")[rng.integers(0, classes, y_pred.shape[:-1])]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SyntaxWarning)
        values = losses.categorical_crossentropy(y_true, y_pred)
        gradient = losses.CategoricalCrossentropy().gradient(y_true, y_pred)
    assert values.shape == y_pred.shape[:-1]
    assert np.all(np.isfinite(values)) and np.all(values >= 0)
    # -log(1e-7) bounds one-hot cross-entropy after clipping
    assert np.all(values <= -np.log(np.float32(1e-7)) + 1e-3)
    assert gradient.shape == y_pred.shape and np.all(np.isfinite(gradient))


@settings(max_examples=40, deadline=None)
@given(logits=hnp.arrays(np.float64, st.tuples(st.integers(1, 5), st.integers(2, 5)),
                         elements=st.floats(-50, 50)),
       seed=st.integers(0, 2**16))
def test_from_logits_and_from_probabilities_agree(logits, seed):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, logits.shape[1], logits.shape[0])
    shifted = logits - logits.max(axis=1, keepdims=True)
    probabilities = np.exp(shifted) / np.exp(shifted).sum(axis=1, keepdims=True)
    from_logits = losses.sparse_categorical_crossentropy(labels, logits, from_logits=True)
    from_probabilities = losses.sparse_categorical_crossentropy(labels, probabilities)
    assert np.all(np.isfinite(from_logits))
    # They differ only in rows where clipping to [1e-7, 1 - 1e-7] bites.
    clipped = np.any((probabilities < 1e-7) | (probabilities > 1 - 1e-7), axis=1)
    np.testing.assert_allclose(from_logits[~clipped], from_probabilities[~clipped], rtol=1e-6, atol=1e-7)
