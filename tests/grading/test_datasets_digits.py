"""course_lib.datasets.digits: the data of assignment 1, from scikit-learn's bundled file."""
import numpy as np
import pytest

from course_lib.datasets import digits


def test_shapes_types_and_range():
    (x_train, y_train), (x_test, y_test) = digits.load_data()
    assert x_train.shape == (1438, 64) and x_test.shape == (359, 64)
    assert y_train.shape == (1438,) and y_test.shape == (359,)
    assert x_train.dtype == np.float32 and y_train.dtype.kind == "i"
    assert x_train.min() == 0.0 and x_train.max() == 1.0
    assert set(np.unique(y_train)) == set(range(10)) and set(np.unique(y_test)) == set(range(10))


def test_split_is_deterministic_and_seeded():
    first = digits.load_data(seed=0)
    second = digits.load_data(seed=0)
    other = digits.load_data(seed=1)
    np.testing.assert_array_equal(first[0][0], second[0][0])
    np.testing.assert_array_equal(first[1][1], second[1][1])
    assert not np.array_equal(first[1][0], other[1][0])


def test_split_covers_every_image_once():
    from sklearn.datasets import load_digits

    (x_train, _), (x_test, _) = digits.load_data(test_split=0.25)
    assert len(x_test) == round(1797 * 0.25)
    together = np.concatenate([x_train, x_test])
    original = (load_digits().data / 16.0).astype("float32")
    # Same multiset of rows: sort both by their bytes.
    key = lambda rows: sorted(row.tobytes() for row in rows)  # noqa: E731
    assert key(together) == key(original)


@pytest.mark.parametrize("test_split", [0, 1, -0.1, 1.5, "0.2", True])
def test_rejects_bad_test_split(test_split):
    with pytest.raises(ValueError, match=r"digits.load_data: test_split must be a number strictly between 0 and 1"):
        digits.load_data(test_split=test_split)


def test_rejects_splits_that_leave_a_set_empty():
    with pytest.raises(ValueError, match="leaves an empty train or test set"):
        digits.load_data(test_split=1e-6)


def test_rejects_bad_seed():
    with pytest.raises(ValueError, match="digits.load_data: seed must be an int. Received: seed=1.5"):
        digits.load_data(seed=1.5)
