"""Input checks whose every error names the estimator, for the estimators of course_lib.ml.

scikit-learn's :func:`~sklearn.utils.validation.validate_data` already names
the estimator in most of its messages (NaN or infinity in X, a wrong number of
features). A few of its messages do not: X and y of different lengths, a
string that cannot be read as a number, a continuous target given to a
classifier. :func:`validate_named` puts the estimator's name in front of
those, so every message says which estimator refused what.
"""
import contextlib

from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import validate_data

__all__ = ["named_errors", "validate_named"]


@contextlib.contextmanager
def named_errors(estimator):
    """Put the estimator's name in front of a plain ValueError that does not carry it.

    scikit-learn says what is wrong ("Found input variables with inconsistent
    numbers of samples: [10, 9]", "could not convert string to float: 'a'")
    but not always who refused it. Subclasses (``NotFittedError``) pass unchanged.
    """
    name = type(estimator).__name__
    try:
        yield
    except ValueError as error:
        if type(error) is not ValueError or name in str(error):
            raise
        raise ValueError(f"{name}: {error}") from error


def validate_named(estimator, X="no_validation", y="no_validation", *, classifier=False, **check_params):
    """``validate_data(estimator, X, y, **check_params)`` with the estimator's name in every error.

    Args:
        estimator: the estimator being fitted or asked to predict.
        X: the input samples, shape ``(n_samples, n_features)``.
        y: the targets, shape ``(n_samples,)``, or ``"no_validation"`` when predicting.
        classifier: when True, also check that ``y`` holds class labels
            (scikit-learn's ``check_classification_targets``).
        **check_params: passed to ``validate_data`` (``reset``, ``dtype``, ...).

    Returns:
        What ``validate_data`` returns: ``X``, or ``(X, y)`` when ``y`` is given.

    Raises:
        ValueError: scikit-learn's message, prefixed with the estimator's name
            when the message does not contain it already.
    """
    with named_errors(estimator):
        checked = validate_data(estimator, X, y, **check_params)
        if classifier:
            check_classification_targets(checked[1])
    return checked
