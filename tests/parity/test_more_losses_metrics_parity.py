"""The added losses and metrics give tf.keras's numbers, computed in the same test on the same inputs.

Losses: per-sample values, reduced values and gradients (tf.GradientTape) for
every reduction, with and without sample weights, with corner cases (clip
bounds, ties, zero vectors); whole fit() runs give Keras's History. Metrics:
streamed over several batches (and logged in History) as Keras streams them.
Tolerances are float32's: values rtol 1e-5 / atol 1e-6; gradients rtol 1e-4 /
atol 1e-6 (a gradient next to the clip bound is ~1/epsilon-sized).
"""
import numpy as np
import pytest

import course_lib as cl
from course_lib import losses, metrics

tf = pytest.importorskip("tensorflow")
import keras  # noqa: E402  (Keras 3, the library tf.keras is)

pytestmark = pytest.mark.parity

VALUE_TOL = dict(rtol=1e-5, atol=1e-6)
GRADIENT_TOL = dict(rtol=1e-4, atol=1e-6)
REDUCTIONS = ["sum_over_batch_size", "sum", "mean", "mean_with_sample_weight", None]


def _data(kind, rng, batch=6, classes=4):
    """float32 labels and predictions, with the corners each family has."""
    if kind == "binary":
        y_true = rng.integers(0, 2, (batch, classes)).astype("float32")
        y_pred = rng.uniform(0, 1, (batch, classes)).astype("float32")
        y_pred[0, :2] = [0.0, 1.0]  # exactly on the clip bounds
    elif kind == "scores01":
        y_true = rng.integers(0, 2, (batch, classes)).astype("float32")
        y_pred = rng.normal(scale=2.0, size=(batch, classes)).astype("float32")
        y_pred[1, 0] = 1.0 if y_true[1, 0] == 1 else -1.0  # a hinge margin of exactly 0
    elif kind == "hinge_pm":
        y_true = rng.choice(np.array([-1.0, 1.0], "float32"), (batch, classes))
        y_pred = rng.normal(scale=2.0, size=(batch, classes)).astype("float32")
    elif kind == "onehot_scores":
        y_true = np.eye(classes, dtype="float32")[rng.integers(0, classes, batch)]
        y_pred = rng.normal(scale=2.0, size=(batch, classes)).astype("float32")
        y_pred[0] = -np.abs(y_pred[0])  # every other score negative: the max ties at the true class's 0
        y_pred[1] = 0.5  # ties everywhere
    elif kind == "onehot":
        y_true = np.eye(classes, dtype="float32")[rng.integers(0, classes, batch)]
        y_pred = rng.uniform(0, 2, (batch, classes)).astype("float32")  # rows that do not sum to one
        y_pred[0] = [0.0, 1.0] + [0.0] * (classes - 2)
    elif kind == "counts":
        y_true = rng.poisson(2.0, (batch, classes)).astype("float32")
        y_pred = rng.uniform(0.05, 4.0, (batch, classes)).astype("float32")
    elif kind == "regression":
        y_true = rng.normal(size=(batch, classes)).astype("float32")
        y_pred = (y_true + rng.normal(scale=1.5, size=(batch, classes))).astype("float32")
        y_pred[2, 1] = y_true[2, 1]  # an error of exactly 0
        y_pred[3] = 0.0  # a zero vector: cosine similarity 0
    elif kind == "masks":
        y_true = rng.integers(0, 2, (batch, 3, 3, 1)).astype("float32")
        y_pred = rng.uniform(0, 1, (batch, 3, 3, 1)).astype("float32")
    else:
        raise AssertionError(kind)
    return y_true, y_pred


# (class name, function name, constructor kwargs, data kind)
LOSS_CASES = [
    ("SquaredHinge", "squared_hinge", {}, "scores01"),
    ("SquaredHinge", "squared_hinge", {}, "hinge_pm"),
    ("CategoricalHinge", "categorical_hinge", {}, "onehot_scores"),
    ("Poisson", "poisson", {}, "counts"),
    ("LogCosh", "log_cosh", {}, "regression"),
    ("CosineSimilarity", "cosine_similarity", {}, "regression"),
    ("CosineSimilarity", "cosine_similarity", {"axis": 0}, "regression"),
    ("BinaryFocalCrossentropy", "binary_focal_crossentropy", {}, "binary"),
    ("BinaryFocalCrossentropy", "binary_focal_crossentropy",
     {"apply_class_balancing": True, "alpha": 0.4, "gamma": 3.0, "label_smoothing": 0.1}, "binary"),
    ("BinaryFocalCrossentropy", "binary_focal_crossentropy", {"from_logits": True, "gamma": 1.5}, "scores01"),
    ("BinaryFocalCrossentropy", "binary_focal_crossentropy",
     {"from_logits": True, "apply_class_balancing": True, "label_smoothing": 0.2}, "scores01"),
    ("CategoricalFocalCrossentropy", "categorical_focal_crossentropy", {}, "onehot"),
    ("CategoricalFocalCrossentropy", "categorical_focal_crossentropy",
     {"alpha": [0.1, 0.2, 0.3, 0.4], "gamma": 1.0, "label_smoothing": 0.1}, "onehot"),
    ("CategoricalFocalCrossentropy", "categorical_focal_crossentropy",
     {"from_logits": True, "label_smoothing": 0.2}, "onehot_scores"),
    ("Dice", "dice", {}, "masks"),
    ("Dice", "dice", {"axis": (1, 2, 3)}, "masks"),
    ("Tversky", "tversky", {"alpha": 0.3, "beta": 0.7}, "masks"),
    ("Tversky", "tversky", {"axis": (1, 2)}, "masks"),
]
LOSS_IDS = [f"{name}-{kind}-{'-'.join(f'{k}={v}' for k, v in kwargs.items()) or 'default'}"
            for name, _, kwargs, kind in LOSS_CASES]


def _keras_value_and_gradient(loss, y_true, y_pred, sample_weight=None):
    prediction = tf.constant(y_pred)
    with tf.GradientTape() as tape:
        tape.watch(prediction)
        value = loss(y_true, prediction, sample_weight=sample_weight)
    return value.numpy(), tape.gradient(value, prediction).numpy()


@pytest.mark.parametrize("name,function,kwargs,kind", LOSS_CASES, ids=LOSS_IDS)
def test_per_sample_function_matches_keras(name, function, kwargs, kind, rng):
    y_true, y_pred = _data(kind, rng)
    ours = getattr(losses, function)(y_true, y_pred, **kwargs)
    theirs = getattr(keras.losses, function)(y_true, y_pred, **kwargs).numpy()
    assert ours.shape == theirs.shape and ours.dtype == np.float32
    np.testing.assert_allclose(ours, theirs, **VALUE_TOL)


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("name,function,kwargs,kind", LOSS_CASES, ids=LOSS_IDS)
def test_loss_class_value_and_gradient_match_keras(name, function, kwargs, kind, reduction, weighted, rng):
    y_true, y_pred = _data(kind, rng)
    sample_weight = None
    if weighted:
        # One weight per per-sample loss: per row, or per column for a similarity along axis 0.
        size = y_pred.shape[1] if kwargs.get("axis") == 0 else y_pred.shape[0]
        sample_weight = rng.uniform(0, 2, size).astype("float32")
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


@pytest.mark.parametrize("name,function,kwargs,kind", LOSS_CASES, ids=LOSS_IDS)
def test_loss_config_is_keras_config(name, function, kwargs, kind):
    ours, theirs = getattr(losses, name)(**kwargs), getattr(keras.losses, name)(**kwargs)
    expected = {key: list(value) if isinstance(value, tuple) else value
                for key, value in theirs.get_config().items()}
    received = {key: list(value) if isinstance(value, tuple) else value for key, value in ours.get_config().items()}
    assert list(received) == list(expected)
    assert received == expected
    # Keras's config builds the same loss here, and ours builds Keras's.
    rebuilt = losses.deserialize({"class_name": name, "config": theirs.get_config()})
    assert rebuilt.get_config() == ours.get_config()
    assert keras.losses.get({"class_name": name, "config": ours.get_config()}).get_config() == theirs.get_config()


def test_rank_1_labels_against_a_column_are_lined_up(rng):
    y_true = rng.integers(0, 2, 7).astype("float32")
    y_pred = rng.uniform(0.05, 0.95, (7, 1)).astype("float32")
    for name in ("BinaryFocalCrossentropy", "LogCosh", "Poisson", "Dice", "Tversky"):
        ours, theirs = getattr(losses, name)(), getattr(keras.losses, name)()
        keras_value, keras_gradient = _keras_value_and_gradient(theirs, y_true, y_pred)
        np.testing.assert_allclose(ours(y_true, y_pred), keras_value, **VALUE_TOL, err_msg=name)
        np.testing.assert_allclose(ours.gradient(y_true, y_pred), keras_gradient, **GRADIENT_TOL, err_msg=name)


def test_focal_crossentropies_along_another_axis(rng):
    y_true = np.stack([np.eye(3, dtype="float32")[rng.integers(0, 3, 4)]] * 2, axis=-1)  # classes on axis 1
    y_pred = rng.uniform(0.05, 1.0, (4, 3, 2)).astype("float32")
    for name in ("BinaryFocalCrossentropy", "CategoricalFocalCrossentropy"):
        for from_logits in (False, True):
            ours = getattr(losses, name)(axis=1, from_logits=from_logits)
            theirs = getattr(keras.losses, name)(axis=1, from_logits=from_logits)
            keras_value, keras_gradient = _keras_value_and_gradient(theirs, y_true, y_pred)
            np.testing.assert_allclose(ours(y_true, y_pred), keras_value, **VALUE_TOL)
            np.testing.assert_allclose(ours.gradient(y_true, y_pred), keras_gradient, **GRADIENT_TOL)


# --------------------------------------------------------------------------- fit


def _model(library, units, activation, seed=0, scale=1.0):
    library.utils.set_random_seed(seed)
    model = library.Sequential([
        library.Input((5,)), library.layers.Dense(8, activation="tanh"),
        library.layers.Dense(units, activation=activation),
    ])
    if scale != 1.0:
        model.set_weights([weight * scale for weight in model.get_weights()])
    return model


def _fit_data(kind, seed=0, samples=48):
    generator = np.random.default_rng(seed)
    x = generator.standard_normal((samples, 5)).astype("float32")
    if kind == "binary":
        y = (x[:, :3] + 0.5 * generator.standard_normal((samples, 3)) > 0).astype("float32")
    elif kind == "onehot":
        y = np.eye(3, dtype="float32")[generator.integers(0, 3, samples)]
    elif kind == "counts":
        y = generator.poisson(np.exp(0.5 * x[:, :3])).astype("float32")
    else:
        y = (x[:, :3] @ generator.standard_normal((3, 3))).astype("float32")
    return x, y


FIT_CASES = [
    # (loss for both libraries, output activation, data, initial weight scale)
    ("squared_hinge", "tanh", "binary", 1.0),
    ("categorical_hinge", "linear", "onehot", 1.0),
    ("poisson", "softplus", "counts", 1.0),
    ("log_cosh", "linear", "regression", 1.0),
    ("cosine_similarity", "linear", "regression", 1.0),
    ("binary_focal_crossentropy", "sigmoid", "binary", 1.0),
    ("binary_focal_crossentropy", "sigmoid", "binary", 12.0),  # saturated: Keras scores from the logits
    (("BinaryFocalCrossentropy", {"apply_class_balancing": True, "gamma": 3.0, "label_smoothing": 0.1}),
     "sigmoid", "binary", 1.0),
    (("BinaryFocalCrossentropy", {"from_logits": True}), "linear", "binary", 1.0),
    ("categorical_focal_crossentropy", "softmax", "onehot", 1.0),
    ("categorical_focal_crossentropy", "softmax", "onehot", 12.0),  # saturated: no logits shortcut in Keras
    (("CategoricalFocalCrossentropy", {"from_logits": True, "alpha": [0.2, 0.3, 0.5]}), "linear", "onehot", 1.0),
    ("dice", "sigmoid", "binary", 1.0),
    (("Dice", {"axis": 1}), "sigmoid", "binary", 1.0),
    (("Tversky", {"alpha": 0.7, "beta": 0.3}), "sigmoid", "binary", 1.0),
]


def _loss_for(library, spec):
    if isinstance(spec, str):
        return spec
    name, kwargs = spec
    return getattr(library.losses, name)(**kwargs)


@pytest.mark.parametrize("loss,activation,kind,scale", FIT_CASES,
                         ids=[f"{c[0] if isinstance(c[0], str) else c[0][0]}-{c[1]}-x{c[3]:g}" for c in FIT_CASES])
def test_fit_history_matches_keras(loss, activation, kind, scale):
    keras.utils.clear_session()
    cl.backend.clear_session()
    x, y = _fit_data(kind)
    keras_model = _model(keras, y.shape[1], activation, scale=scale)
    ours = cl.testing.from_keras(keras_model)
    keras_model.compile(keras.optimizers.SGD(learning_rate=0.1), _loss_for(keras, loss))
    ours.compile(cl.optimizers.SGD(learning_rate=0.1), _loss_for(cl, loss))
    kwargs = dict(epochs=3, batch_size=16, shuffle=False, verbose=0)
    expected = keras_model.fit(x, y, **kwargs).history["loss"]
    received = ours.fit(x, y, **kwargs).history["loss"]
    np.testing.assert_allclose(received, expected, **VALUE_TOL)
    for mine, theirs in zip(ours.get_weights(), keras_model.get_weights(), strict=True):
        np.testing.assert_allclose(mine, theirs, rtol=1e-4, atol=1e-5)


# --------------------------------------------------------------------------- metrics


def _batches(kind, rng, sizes=(7, 12, 5)):
    out = []
    for size in sizes:
        if kind == "binary":
            y_true = rng.integers(0, 2, (size, 3)).astype("float32")
            y_pred = rng.uniform(0, 1, (size, 3)).astype("float32")
            y_pred[0, 0] = 0.5  # on the threshold
        elif kind == "regression":
            y_true = rng.normal(size=(size, 3)).astype("float32")
            y_pred = (y_true + rng.normal(size=(size, 3))).astype("float32")
        elif kind == "counts":
            y_true = rng.poisson(2.0, (size, 3)).astype("float32")
            y_pred = rng.uniform(0.1, 4.0, (size, 3)).astype("float32")
        elif kind == "onehot":
            y_true = np.eye(4, dtype="float32")[rng.integers(0, 4, size)]
            y_pred = rng.normal(size=(size, 4)).astype("float32")
        elif kind == "ids":  # class ids, some out of range
            y_true = rng.integers(0, 4, (size, 2))
            y_pred = rng.integers(-1, 5, (size, 2))
        else:
            raise AssertionError(kind)
        out.append((y_true, y_pred))
    return out


METRIC_CASES = [
    ("TruePositives", {}, "binary"),
    ("FalsePositives", {"thresholds": [0.2, 0.7]}, "binary"),
    ("TrueNegatives", {"thresholds": [0.0, 0.5, 1.0]}, "binary"),  # evenly spaced: the bucketed update
    ("FalseNegatives", {"thresholds": 0.3}, "binary"),
    ("Poisson", {}, "counts"),
    ("LogCoshError", {}, "regression"),
    ("CosineSimilarity", {}, "regression"),
    ("CategoricalHinge", {}, "onehot"),
    ("SquaredHinge", {}, "binary"),
    ("R2Score", {}, "regression"),
    ("R2Score", {"class_aggregation": None}, "regression"),
    ("R2Score", {"class_aggregation": "variance_weighted_average", "num_regressors": 2}, "regression"),
    ("IoU", {"num_classes": 4, "target_class_ids": [1, 3]}, "ids"),
    ("MeanIoU", {"num_classes": 4}, "ids"),
    ("MeanIoU", {"num_classes": 4, "ignore_class": 2, "dtype": "float32"}, "ids"),
    ("BinaryIoU", {}, "binary"),
    ("BinaryIoU", {"target_class_ids": [1], "threshold": 0.3}, "binary"),
    ("OneHotIoU", {"num_classes": 4, "target_class_ids": [0, 2]}, "onehot"),
    ("OneHotMeanIoU", {"num_classes": 4}, "onehot"),
    ("PearsonCorrelation", {}, "regression"),
    ("ConcordanceCorrelation", {}, "regression"),
]
METRIC_IDS = [f"{name}-{kwargs}-{kind}" for name, kwargs, kind in METRIC_CASES]


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("name,kwargs,kind", METRIC_CASES, ids=METRIC_IDS)
def test_streamed_batches_match_keras(name, kwargs, kind, weighted, rng):
    keras.utils.clear_session()
    ours, theirs = getattr(metrics, name)(**kwargs), getattr(keras.metrics, name)(**kwargs)
    assert ours.name == theirs.name
    assert list(ours.get_config()) == list(theirs.get_config())
    assert ours.get_config() == theirs.get_config()
    for y_true, y_pred in _batches(kind, rng):
        sample_weight = None
        if weighted:  # whole numbers: the IoU matrices are int64, as in Keras
            shape = y_true.shape if kind in ("ids",) or name == "BinaryIoU" else y_true.shape[:1]
            sample_weight = rng.integers(0, 3, shape).astype("float32" if "IoU" not in name else "int64")
        ours.update_state(y_true, y_pred, sample_weight=sample_weight)
        theirs.update_state(y_true, y_pred, sample_weight=sample_weight)
        expected = np.asarray(theirs.result())
        received = ours.result()
        assert isinstance(received, float) if expected.ndim == 0 else received.shape == expected.shape
        np.testing.assert_allclose(received, expected, **VALUE_TOL)
    ours.reset_state()
    theirs.reset_state()
    assert ours.get_config() == theirs.get_config()


def test_sum_matches_keras(rng):
    ours, theirs = metrics.Sum(), keras.metrics.Sum()
    for values, weights in [(rng.normal(size=(4, 3)), None), (rng.normal(size=(5, 3)), rng.uniform(size=5)),
                            (rng.normal(size=(5, 3, 2)), rng.uniform(size=(5, 3))), (2.5, None)]:
        ours.update_state(values, weights)
        theirs.update_state(values, weights)
        np.testing.assert_allclose(ours.result(), float(theirs.result()), **VALUE_TOL)
    assert ours.get_config() == theirs.get_config()


def test_metric_functions_match_keras(rng):
    y_true, y_pred = _batches("regression", rng, sizes=(6,))[0]
    for name in ("pearson_correlation", "concordance_correlation", "log_cosh", "poisson", "huber", "hinge",
                 "squared_hinge", "categorical_hinge", "kl_divergence", "binary_focal_crossentropy"):
        truth = np.abs(y_true) if name in ("poisson", "kl_divergence") else y_true
        prediction = np.abs(y_pred) if name in ("poisson", "kl_divergence", "binary_focal_crossentropy") else y_pred
        if name == "binary_focal_crossentropy":
            truth, prediction = (y_true > 0).astype("float32"), 1 / (1 + np.exp(-y_pred))
        np.testing.assert_allclose(getattr(metrics, name)(truth, prediction),
                                   getattr(keras.metrics, name)(truth, prediction).numpy(), **VALUE_TOL,
                                   err_msg=name)
    for alias in ("kld", "KLD", "kullback_leibler_divergence", "logcosh"):
        np.testing.assert_allclose(getattr(metrics, alias)(np.abs(y_true), np.abs(y_pred)),
                                   getattr(tf.keras.metrics, alias)(np.abs(y_true), np.abs(y_pred)).numpy(),
                                   **VALUE_TOL)


def test_metrics_logged_in_history_match_keras():
    keras.utils.clear_session()
    cl.backend.clear_session()
    x, y = _fit_data("binary")

    def compiled(library):
        return ["true_positives", "false_negatives", "poisson", "squared_hinge", "cosine_similarity",
                "r2_score", library.metrics.FalsePositives(thresholds=0.3), library.metrics.LogCoshError(),
                library.metrics.BinaryIoU(target_class_ids=[1]), library.metrics.MeanIoU(num_classes=2),
                library.metrics.PearsonCorrelation(), library.metrics.ConcordanceCorrelation(),
                library.metrics.R2Score(class_aggregation="variance_weighted_average", name="r2_weighted")]

    keras_model = _model(keras, 3, "sigmoid")
    ours = cl.testing.from_keras(keras_model)
    keras_model.compile(optimizer="adam", loss="binary_focal_crossentropy", metrics=compiled(keras))
    ours.compile(optimizer="adam", loss="binary_focal_crossentropy", metrics=compiled(cl))
    kwargs = dict(epochs=3, batch_size=16, shuffle=False, verbose=0, validation_split=0.25)
    keras_history = keras_model.fit(x, y, **kwargs).history
    our_history = ours.fit(x, y, **kwargs).history
    assert sorted(our_history) == sorted(keras_history)
    for key in keras_history:
        np.testing.assert_allclose(our_history[key], keras_history[key], **VALUE_TOL, err_msg=key)
    np.testing.assert_allclose(ours.evaluate(x, y, verbose=0), keras_model.evaluate(x, y, verbose=0), **VALUE_TOL)


def test_keras_files_with_the_new_loss_and_metrics_cross_both_ways(tmp_path):
    keras.utils.clear_session()
    cl.backend.clear_session()
    x, y = _fit_data("onehot")

    def compile_(model, library):
        model.compile(
            optimizer="sgd",
            loss=library.losses.CategoricalFocalCrossentropy(alpha=[0.2, 0.3, 0.5], gamma=1.0),
            metrics=[library.metrics.OneHotMeanIoU(num_classes=3), library.metrics.TruePositives(),
                     library.metrics.CategoricalHinge(), "r2_score"])

    keras_model = _model(keras, 3, "softmax")
    compile_(keras_model, keras)
    keras_model.save(tmp_path / "from_keras.keras")
    loaded = cl.models.load_model(tmp_path / "from_keras.keras")
    assert type(loaded._losses[0]) is losses.CategoricalFocalCrossentropy
    assert loaded._losses[0].alpha == [0.2, 0.3, 0.5]

    ours = _model(cl, 3, "softmax")
    ours.set_weights(keras_model.get_weights())
    compile_(ours, cl)
    ours.save(tmp_path / "from_course_lib.keras")
    reopened = keras.models.load_model(tmp_path / "from_course_lib.keras")
    assert type(reopened.loss).__name__ == "CategoricalFocalCrossentropy"
    kwargs = dict(epochs=2, batch_size=16, shuffle=False, verbose=0)
    expected = reopened.fit(x, y, **kwargs).history
    received = loaded.fit(x, y, **kwargs).history
    assert sorted(received) == sorted(expected)
    for key in expected:
        np.testing.assert_allclose(received[key], expected[key], **VALUE_TOL, err_msg=key)


@pytest.mark.parametrize("loss_name, activation", [("BinaryFocalCrossentropy", "sigmoid"),
                                                   ("CategoricalFocalCrossentropy", "softmax"),
                                                   ("BinaryCrossentropy", "sigmoid")])
def test_from_logits_on_a_probability_output_warns_only_where_keras_does(loss_name, activation):
    """Keras warns for the plain crossentropies only: its focal losses apply the activation themselves."""
    import warnings

    counts = []
    for library in (keras, cl):
        model = library.Sequential([library.Input((3,)), library.layers.Dense(2, activation=activation)])
        model.compile(optimizer="sgd", loss=getattr(library.losses, loss_name)(from_logits=True))
        x, y = np.ones((4, 3), "float32"), np.eye(2, dtype="float32")[[0, 1, 0, 1]]
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            model.train_on_batch(x, y)
        counts.append(sum("does not represent logits" in str(w.message) for w in caught))
    assert (counts[0] > 0) == (counts[1] > 0) == (loss_name == "BinaryCrossentropy"), counts


def test_the_legacy_reduction_names_are_keras_s_and_auto_is_refused_by_both():
    ours, theirs = cl.losses.Reduction, tf.keras.losses.Reduction  # tf.keras's legacy name only
    assert ours.all() == theirs.all()
    for name in ("AUTO", "NONE", "SUM", "SUM_OVER_BATCH_SIZE"):
        assert getattr(ours, name) == getattr(theirs, name)
    assert ours.validate("sum") is None and theirs.validate("sum") is None
    for reduction_class in (ours, theirs):
        with pytest.raises(ValueError, match='Invalid Reduction Key: mean. Expected keys are "'):
            reduction_class.validate("mean")  # Keras 3's losses take "mean"; the legacy names never had it
    assert cl.losses.MeanSquaredError(reduction=ours.SUM).reduction == "sum"
    for lib in (tf.keras, cl):
        with pytest.raises(ValueError, match="reduction"):
            lib.losses.MeanSquaredError(reduction=lib.losses.Reduction.AUTO)
