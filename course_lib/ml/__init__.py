"""Classical machine learning from scratch, with scikit-learn's estimator API (经典机器学习算法).

Every estimator subclasses ``sklearn.base.BaseEstimator`` and the mixin of its
kind, keeps scikit-learn's class and argument names where scikit-learn has the
algorithm, and passes scikit-learn's own estimator checks, so it works in
``Pipeline``, ``GridSearchCV`` and ``cross_val_score``: write
``from course_lib.ml import Ridge`` where a tutorial writes
``from sklearn.linear_model import Ridge``. The modules follow the source
documents' catalogue by family:

- :mod:`~course_lib.ml.linear`: least squares, ridge, lasso and elastic net (coordinate
  descent), logistic regression (Newton or gradient descent);
  :mod:`~course_lib.ml.regression`: forward stepwise regression, LOESS;
- :mod:`~course_lib.ml.neighbors`: k-nearest neighbours, learning vector quantisation,
  self-organising maps;
- :mod:`~course_lib.ml.tree`: CART, ID3, C4.5; :mod:`~course_lib.ml.ensemble`: random
  forests, gradient boosting;
- :mod:`~course_lib.ml.naive_bayes`: Gaussian and multinomial naive Bayes;
- :mod:`~course_lib.ml.svm`: support vector machines by SMO, RBF networks;
  :mod:`~course_lib.ml.discriminant`: linear discriminant analysis;
- :mod:`~course_lib.ml.cluster`: k-means, agglomerative clustering;
  :mod:`~course_lib.ml.association`: Apriori;
- :mod:`~course_lib.ml.semi_supervised`: label propagation and label spreading;
- :mod:`~course_lib.ml.reinforcement`: a grid world, value iteration, Q-learning, SARSA, TD(0);
- :mod:`~course_lib.ml.neural_network`: a backpropagation network built on course_lib's layers.

The package imports scikit-learn, so ``import course_lib`` does not load it;
import it as ``course_lib.ml``.
"""
from course_lib.ml.association import Rule, apriori, association_rules
from course_lib.ml.cluster import AgglomerativeClustering, KMeans, linkage_matrix
from course_lib.ml.discriminant import LinearDiscriminantAnalysis
from course_lib.ml.ensemble import (
    GradientBoostingClassifier, GradientBoostingRegressor, RandomForestClassifier, RandomForestRegressor,
)
from course_lib.ml.linear import (
    ElasticNet, Lasso, LinearRegression, LogisticRegression, Ridge, enet_path, lasso_path, ridge_path,
)
from course_lib.ml.naive_bayes import GaussianNB, MultinomialNB
from course_lib.ml.neighbors import (
    KNeighborsClassifier, KNeighborsRegressor, LearningVectorQuantization, SelfOrganizingMap,
)
from course_lib.ml.neural_network import MLPClassifier, NeuralNetworkClassifier
from course_lib.ml.regression import ForwardStepwiseRegression, LocallyWeightedRegression
from course_lib.ml.reinforcement import SARSA, TD0, GridWorld, QLearning, policy_evaluation, value_iteration
from course_lib.ml.semi_supervised import LabelPropagation, LabelSpreading
from course_lib.ml.svm import SVC, RBFNetworkClassifier, RBFNetworkRegressor
from course_lib.ml.tree import C45Classifier, DecisionTreeClassifier, DecisionTreeRegressor, ID3Classifier

__all__ = [
    "AgglomerativeClustering", "C45Classifier", "DecisionTreeClassifier", "DecisionTreeRegressor", "ElasticNet",
    "ForwardStepwiseRegression", "GaussianNB", "GradientBoostingClassifier", "GradientBoostingRegressor",
    "GridWorld", "ID3Classifier", "KMeans", "KNeighborsClassifier", "KNeighborsRegressor", "LabelPropagation",
    "LabelSpreading", "Lasso", "LearningVectorQuantization", "LinearDiscriminantAnalysis", "LinearRegression",
    "LocallyWeightedRegression", "LogisticRegression", "MLPClassifier", "MultinomialNB", "NeuralNetworkClassifier",
    "QLearning", "RBFNetworkClassifier", "RBFNetworkRegressor", "RandomForestClassifier", "RandomForestRegressor",
    "Ridge", "Rule", "SARSA", "SVC", "SelfOrganizingMap", "TD0", "apriori", "association_rules", "enet_path",
    "lasso_path", "linkage_matrix", "policy_evaluation", "ridge_path", "value_iteration",
]
