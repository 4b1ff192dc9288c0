"""A multilayer perceptron classifier behind scikit-learn's API, trained by course_lib's own engine.

:class:`NeuralNetworkClassifier` builds a ``course_lib.Sequential`` of
``course_lib.layers.Dense`` layers and trains it with ``compile``/``fit``:
the backpropagation of chapter 3 and the training loop of chapter 5, now
usable wherever scikit-learn expects a classifier (``GridSearchCV``,
``cross_val_score``, pipelines). ``MLPClassifier`` is the same class under
scikit-learn's name.
"""
from __future__ import annotations

from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, _fit_context
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from course_lib import initializers, layers, models, optimizers
from course_lib.ml._named_validation import validate_named

__all__ = ["MLPClassifier", "NeuralNetworkClassifier"]

# scikit-learn's activation names -> course_lib's (Keras's) names.
_ACTIVATIONS = {"identity": "linear", "logistic": "sigmoid", "tanh": "tanh", "relu": "relu"}
_SOLVERS = {"adam": optimizers.Adam, "sgd": optimizers.SGD}


class NeuralNetworkClassifier(ClassifierMixin, BaseEstimator):
    """A fully connected network trained by backpropagation (多层感知机, MLP).

    Each hidden layer computes ``h_l = f(h_{l-1} W_l + b_l)`` and the output
    layer a softmax over the classes; training minimises the mean
    cross-entropy of mini-batches,

    .. math::

        L = -\\frac{1}{|B|} \\sum_{i \\in B} \\log \\operatorname{softmax}(z_i)_{y_i},

    with gradients from backpropagation (``course_lib.ops``) and the chosen
    optimizer's updates (``course_lib.optimizers``).

    Args:
        hidden_layer_sizes: units of each hidden layer, e.g. ``(64, 32)``;
            ``()`` gives multinomial logistic regression.
        activation: ``"relu"``, ``"tanh"``, ``"logistic"`` or ``"identity"``
            (scikit-learn's names).
        solver: ``"adam"`` or ``"sgd"``.
        learning_rate: the optimizer's step size.
        epochs: passes over the training data.
        batch_size: samples per gradient step (the whole set when larger).
        random_state: seed, ``RandomState`` or None: the initial weights and
            the order of the samples in each epoch.

    Attributes:
        classes_: the class labels, sorted, shape ``(n_classes,)``.
        model_: the trained ``course_lib.Sequential``.
        loss_curve_: the mean training loss of each epoch.
        n_features_in_: the number of features seen by ``fit``.

    Example::

        clf = NeuralNetworkClassifier(hidden_layer_sizes=(32,), epochs=30, random_state=0)
        clf.fit(X_train, y_train).score(X_test, y_test)
    """

    _parameter_constraints: dict = {
        "hidden_layer_sizes": ["array-like", Interval(Integral, 1, None, closed="left")],
        "activation": [StrOptions(set(_ACTIVATIONS))],
        "solver": [StrOptions(set(_SOLVERS))],
        "learning_rate": [Interval(Real, 0, None, closed="neither")],
        "epochs": [Interval(Integral, 1, None, closed="left")],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "random_state": ["random_state"],
    }

    def __init__(self, hidden_layer_sizes=(32,), activation="relu", *, solver="adam", learning_rate=0.001,
                 epochs=50, batch_size=32, random_state=None):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.solver = solver
        self.learning_rate = learning_rate
        self.epochs = epochs
        self.batch_size = batch_size
        self.random_state = random_state

    def _layer_sizes(self):
        sizes = self.hidden_layer_sizes
        sizes = [sizes] if isinstance(sizes, Integral) else list(sizes)
        if any(isinstance(size, bool) or not isinstance(size, Integral) or size < 1 for size in sizes):
            raise ValueError(
                "NeuralNetworkClassifier: hidden_layer_sizes must hold positive ints. "
                f"Received: hidden_layer_sizes={self.hidden_layer_sizes!r}"
            )
        return [int(size) for size in sizes]

    def _build(self, n_features, n_classes, random_state):
        """The network: Dense layers with seeded Glorot-uniform weights, softmax on top."""
        def seeded():
            return initializers.GlorotUniform(seed=int(random_state.randint(2**31 - 1)))

        network = [layers.Input(shape=(n_features,))]
        for units in self._layer_sizes():
            network.append(layers.Dense(units, activation=_ACTIVATIONS[self.activation],
                                        kernel_initializer=seeded()))
        network.append(layers.Dense(n_classes, activation="softmax", kernel_initializer=seeded()))
        model = models.Sequential(network)
        model.compile(optimizer=_SOLVERS[self.solver](learning_rate=self.learning_rate),
                      loss="sparse_categorical_crossentropy")
        return model

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y):
        """Train the network on ``X`` and the labels ``y``.

        Args:
            X: samples, shape ``(n_samples, n_features)``.
            y: class labels of any type, shape ``(n_samples,)``.

        Returns:
            self.
        """
        X, y = validate_named(self, X, y, classifier=True, dtype=[np.float64, np.float32])
        self.classes_, targets = np.unique(y, return_inverse=True)
        random_state = check_random_state(self.random_state)
        model = self._build(X.shape[1], len(self.classes_), random_state)
        X = X.astype(np.float32)
        losses = []
        for _ in range(self.epochs):
            # Shuffled here, from random_state, so that one seed gives one result (the engine's
            # own shuffling draws from course_lib's global generator).
            order = random_state.permutation(X.shape[0])
            history = model.fit(X[order], targets[order], batch_size=min(self.batch_size, X.shape[0]),
                                epochs=1, shuffle=False, verbose=0)
            losses.append(history.history["loss"][0])
        self.model_ = model
        self.loss_curve_ = losses
        return self

    def predict_proba(self, X):
        """Class probabilities: shape ``(n_samples, n_classes)``, columns in the order of ``classes_``."""
        check_is_fitted(self)
        X = validate_named(self, X, reset=False, dtype=[np.float64, np.float32])
        probabilities = np.asarray(self.model_.predict(X.astype(np.float32), verbose=0), dtype=np.float64)
        return probabilities / probabilities.sum(axis=1, keepdims=True)

    def predict(self, X):
        """The most probable class of each sample: shape ``(n_samples,)``."""
        probabilities = self.predict_proba(X)  # first: it checks that the model is fitted
        return self.classes_[np.argmax(probabilities, axis=1)]


MLPClassifier = NeuralNetworkClassifier
