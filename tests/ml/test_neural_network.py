"""course_lib.ml.neural_network: a course_lib network behind scikit-learn's classifier API.

Accuracy on digits is compared with ``sklearn.neural_network.MLPClassifier``
trained in the same test with the same settings (one hidden layer of 32 ReLU
units, Adam with learning rate 1e-3, batches of 32, 30 epochs, no L2
penalty): the two test accuracies must be within 2 points. The model is then
put through scikit-learn's model selection tools and its estimator checks.
"""
import pickle
import warnings

import numpy as np
import pytest
from sklearn.datasets import load_digits, load_iris
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.model_selection import GridSearchCV, cross_val_score, train_test_split
from sklearn.neural_network import MLPClassifier as SklearnMLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils._param_validation import InvalidParameterError
from sklearn.utils.estimator_checks import parametrize_with_checks

import course_lib
from course_lib.ml.neural_network import MLPClassifier, NeuralNetworkClassifier

ACCURACY_GAP = 0.02

DIGITS_X, DIGITS_Y = load_digits(return_X_y=True)
DIGITS_X = DIGITS_X / 16.0
IRIS_X, IRIS_Y = load_iris(return_X_y=True)


def test_digits_accuracy_comparable_to_sklearn_mlp():
    X_train, X_test, y_train, y_test = train_test_split(DIGITS_X, DIGITS_Y, test_size=0.3, random_state=0,
                                                        stratify=DIGITS_Y)
    ours = NeuralNetworkClassifier(hidden_layer_sizes=(32,), learning_rate=1e-3, epochs=30, batch_size=32,
                                   random_state=0).fit(X_train, y_train)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # it stops at max_iter by design here
        theirs = SklearnMLPClassifier(hidden_layer_sizes=(32,), learning_rate_init=1e-3, max_iter=30, batch_size=32,
                                      alpha=0.0, n_iter_no_change=30, random_state=0).fit(X_train, y_train)
    ours_accuracy, theirs_accuracy = ours.score(X_test, y_test), theirs.score(X_test, y_test)
    assert ours_accuracy > 0.93
    assert abs(ours_accuracy - theirs_accuracy) < ACCURACY_GAP, (ours_accuracy, theirs_accuracy)
    assert ours.loss_curve_[-1] < ours.loss_curve_[0] / 5


def test_builds_a_course_lib_network():
    model = NeuralNetworkClassifier(hidden_layer_sizes=(16, 8), activation="tanh", epochs=2,
                                    random_state=0).fit(IRIS_X, IRIS_Y)
    assert isinstance(model.model_, course_lib.Sequential)
    dense = [layer for layer in model.model_.layers if isinstance(layer, course_lib.layers.Dense)]
    assert [layer.units for layer in dense] == [16, 8, 3]
    assert model.model_.count_params() == (4 * 16 + 16) + (16 * 8 + 8) + (8 * 3 + 3)
    assert len(model.loss_curve_) == 2


def test_no_hidden_layer_is_multinomial_logistic_regression():
    model = NeuralNetworkClassifier(hidden_layer_sizes=(), epochs=40, learning_rate=0.05, random_state=0)
    model.fit(IRIS_X, IRIS_Y)
    assert len(model.model_.layers) == 1 and model.model_.count_params() == 4 * 3 + 3
    assert model.score(IRIS_X, IRIS_Y) > 0.9


def test_predict_proba_and_labels_of_any_type():
    names = np.array(["setosa", "versicolor", "virginica"])[IRIS_Y]
    model = NeuralNetworkClassifier(epochs=60, learning_rate=0.01, random_state=0).fit(IRIS_X, names)
    assert list(model.classes_) == ["setosa", "versicolor", "virginica"]
    probabilities = model.predict_proba(IRIS_X)
    assert probabilities.shape == (150, 3) and probabilities.dtype == np.float64
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-12)
    np.testing.assert_array_equal(model.predict(IRIS_X), model.classes_[probabilities.argmax(axis=1)])
    assert model.score(IRIS_X, names) > 0.9


def test_binary_labels():
    mask = IRIS_Y > 0
    model = NeuralNetworkClassifier(epochs=40, learning_rate=0.01, random_state=0).fit(IRIS_X[mask], IRIS_Y[mask] * 10)
    assert list(model.classes_) == [10, 20] and model.predict_proba(IRIS_X[:3]).shape == (3, 2)


def test_one_seed_one_result_and_pickling():
    first = NeuralNetworkClassifier(epochs=3, random_state=7).fit(IRIS_X, IRIS_Y)
    second = NeuralNetworkClassifier(epochs=3, random_state=7).fit(IRIS_X, IRIS_Y)
    np.testing.assert_array_equal(first.predict_proba(IRIS_X), second.predict_proba(IRIS_X))
    restored = pickle.loads(pickle.dumps(first))
    np.testing.assert_array_equal(restored.predict_proba(IRIS_X), first.predict_proba(IRIS_X))
    other_seed = NeuralNetworkClassifier(epochs=3, random_state=8).fit(IRIS_X, IRIS_Y)
    assert not np.allclose(other_seed.predict_proba(IRIS_X), first.predict_proba(IRIS_X))


def test_cross_val_score_and_grid_search():
    X, y = DIGITS_X[::3], DIGITS_Y[::3]
    scores = cross_val_score(NeuralNetworkClassifier(epochs=15, random_state=0), X, y, cv=3)
    assert scores.shape == (3,) and scores.min() > 0.8
    search = GridSearchCV(
        make_pipeline(StandardScaler(), NeuralNetworkClassifier(epochs=10, random_state=0)),
        {"neuralnetworkclassifier__hidden_layer_sizes": [(8,), (32,)],
         "neuralnetworkclassifier__learning_rate": [1e-4, 1e-2]},
        cv=3,
    ).fit(X, y)
    # A hundred times the step size in 10 epochs must win, whatever the width.
    assert search.best_params_["neuralnetworkclassifier__learning_rate"] == 1e-2
    assert search.best_score_ > 0.85


def test_mlp_classifier_is_the_same_class():
    assert MLPClassifier is NeuralNetworkClassifier


def test_bad_input():
    with pytest.raises(ValueError, match="NeuralNetworkClassifier: Found input variables with inconsistent numbers"):
        NeuralNetworkClassifier().fit(IRIS_X, IRIS_Y[:-1])
    X = IRIS_X.copy()
    X[0, 0] = np.inf
    with pytest.raises(ValueError, match="infinity"):
        NeuralNetworkClassifier().fit(X, IRIS_Y)
    with pytest.raises(NotFittedError, match="This NeuralNetworkClassifier instance is not fitted yet"):
        NeuralNetworkClassifier().predict(IRIS_X)
    with pytest.raises(InvalidParameterError, match="'learning_rate' parameter of NeuralNetworkClassifier.*Got 'fast'"):
        NeuralNetworkClassifier(learning_rate="fast").fit(IRIS_X, IRIS_Y)
    with pytest.raises(InvalidParameterError, match="'activation' parameter"):
        NeuralNetworkClassifier(activation="sigmoid").fit(IRIS_X, IRIS_Y)
    with pytest.raises(ValueError, match=r"hidden_layer_sizes must hold positive ints. Received: hidden_layer_sizes=\(8, 0\)"):
        NeuralNetworkClassifier(hidden_layer_sizes=(8, 0)).fit(IRIS_X, IRIS_Y)
    with pytest.raises(ValueError, match="NeuralNetworkClassifier: Unknown label type"):
        NeuralNetworkClassifier().fit(IRIS_X, IRIS_X[:, 0])
    model = NeuralNetworkClassifier(epochs=1).fit(IRIS_X, IRIS_Y)
    with pytest.raises(ValueError, match="X has 2 features, but NeuralNetworkClassifier is expecting 4"):
        model.predict(IRIS_X[:, :2])


@parametrize_with_checks([NeuralNetworkClassifier(epochs=20, learning_rate=0.01, random_state=0)])
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)
