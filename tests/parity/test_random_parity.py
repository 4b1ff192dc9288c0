"""course_lib.random against keras.random, called the same way in the same test.

The two libraries use different generators (TensorFlow's Philox, NumPy's PCG64), so the
numbers differ; what must agree is everything else: each call Keras refuses, course_lib
refuses; the same calls give the same shapes and dtypes; the seed semantics (an int seed
repeats, a SeedGenerator advances its state [seed, counter] the same way, its first draw
is its int seed's draw); and the moments of large draws agree within statistical bounds.

Measured against tf.keras 3.15 on CPU with 200,000 draws, fixed seeds: the means differ by
0.013 (normal, stddev 2; bound 0.032), 0.0033 (uniform), 0.001 (truncated normal), 0.0017
(gamma 3), 0.0015 (gamma 0.5), 0.00096 (beta 2, 5; bound 0.0025), 0.011 (binomial 20, 0.3),
the variances by at most 1.1 % (binomial). The bounds are 5 standard errors of the
difference of two independent means (``5 * sqrt(2 var / N)``), and 5 % for variances.
"""
import math

import numpy as np
import pytest

import course_lib.random as cl_random

tf = pytest.importorskip("tensorflow")
import keras  # noqa: E402  (Keras 3, the library tf.keras is)

pytestmark = pytest.mark.parity

N = 200_000
X = np.ones((4, 5), "float32")

# Calls Keras refuses; course_lib must refuse each of them too.
REFUSED = {
    "shape an int": lambda r: r.normal(3, seed=1),
    "shape with None": lambda r: r.normal((None, 3), seed=1),
    "negative size": lambda r: r.normal((-1, 3), seed=1),
    "float size": lambda r: r.normal((2.0, 3), seed=1),
    "normal int dtype": lambda r: r.normal((2, 3), dtype="int32", seed=1),
    "truncated_normal int dtype": lambda r: r.truncated_normal((2, 3), dtype="int32", seed=1),
    "uniform int dtype": lambda r: r.uniform((2, 3), dtype="int32", seed=1),
    "seed float": lambda r: r.normal((2, 3), seed=1.5),
    "seed str": lambda r: r.normal((2, 3), seed="a"),
    "seed bool": lambda r: r.normal((2, 3), seed=True),
    "seed numpy int": lambda r: r.normal((2, 3), seed=np.int64(3)),
    "seed over 64 bits": lambda r: r.normal((2, 3), seed=2**70),
    "randint float dtype": lambda r: r.randint((2, 3), 0, 5, dtype="float32", seed=1),
    "randint bool dtype": lambda r: r.randint((2, 3), 0, 2, dtype="bool", seed=1),
    "randint None dtype": lambda r: r.randint((2, 3), 0, 2, dtype=None, seed=1),
    "randint minval == maxval": lambda r: r.randint((2, 3), 5, 5, seed=1),
    "randint minval > maxval": lambda r: r.randint((2, 3), 6, 5, seed=1),
    "randint float bounds": lambda r: r.randint((2, 3), 0.5, 5.5, seed=1),
    "categorical 1-D logits": lambda r: r.categorical(np.zeros(3), 2, seed=1),
    "categorical 3-D logits": lambda r: r.categorical(np.zeros((2, 3, 4)), 2, seed=1),
    "categorical no class": lambda r: r.categorical(np.zeros((2, 0)), 3, seed=1),
    "categorical float num_samples": lambda r: r.categorical(np.zeros((2, 3)), 2.5, seed=1),
    "categorical negative num_samples": lambda r: r.categorical(np.zeros((2, 3)), -1, seed=1),
    "dropout negative rate": lambda r: r.dropout(X, -0.1, seed=1),
    "dropout rate over 1": lambda r: r.dropout(X, 1.5, seed=1),
    "dropout int inputs": lambda r: r.dropout(np.ones((4, 5), "int32"), 0.5, seed=1),
    "dropout noise_shape not broadcast": lambda r: r.dropout(X, 0.5, noise_shape=(4, 3), seed=1),
    "dropout noise_shape too short": lambda r: r.dropout(X, 0.5, noise_shape=(4,), seed=1),
    "shuffle axis out of range": lambda r: r.shuffle(np.arange(12).reshape(3, 4), axis=2, seed=1),
    "shuffle a scalar": lambda r: r.shuffle(np.float32(3), seed=1),
    "gamma alpha not broadcast": lambda r: r.gamma((2, 3), np.array([1.0, 2.0]), seed=1),
    "gamma int dtype": lambda r: r.gamma((2, 3), 2.0, dtype="int32", seed=1),
    "beta int dtype": lambda r: r.beta((2, 3), 2.0, 3.0, dtype="int32", seed=1),
    "beta alpha not broadcast": lambda r: r.beta((2, 3), np.array([1.0, 2.0]), 3.0, seed=1),
    "SeedGenerator float seed": lambda r: r.SeedGenerator(1.5),
    "SeedGenerator bool seed": lambda r: r.SeedGenerator(True).get_config(),
    "SeedGenerator unknown keyword": lambda r: r.SeedGenerator(1, foo=2),
}


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_each_call_keras_refuses_course_lib_refuses(case):
    call = REFUSED[case]
    with pytest.raises(Exception):
        np.asarray(call(keras.random))
    with pytest.raises((ValueError, TypeError)):
        call(cl_random)


# Calls both accept: the same shape and dtype.
ACCEPTED = {
    "normal": lambda r: r.normal((2, 3), seed=1),
    "normal list shape": lambda r: r.normal([2, 3], seed=1),
    "normal float16": lambda r: r.normal((2, 3), dtype="float16", seed=1),
    "normal float64": lambda r: r.normal((2, 3), dtype="float64", seed=1),
    "normal mean per column": lambda r: r.normal((2, 3), mean=np.array([0.0, 1.0, 2.0]), seed=1),
    "normal negative seed": lambda r: r.normal((2, 3), seed=-5),
    "normal empty": lambda r: r.normal((0, 3), seed=1),
    "normal scalar": lambda r: r.normal((), seed=1),
    "uniform": lambda r: r.uniform((5,), minval=-1.0, maxval=2.0, seed=1),
    "uniform minval > maxval": lambda r: r.uniform((2, 3), minval=2.0, maxval=1.0, seed=1),
    "uniform float64": lambda r: r.uniform((2, 3), dtype="float64", seed=1),
    "truncated_normal": lambda r: r.truncated_normal((4, 2), mean=1.0, stddev=3.0, seed=1),
    "randint": lambda r: r.randint((2, 3), 0, 5, seed=1),
    "randint uint8": lambda r: r.randint((2, 3), 0, 5, dtype="uint8", seed=1),
    "randint int8 negative": lambda r: r.randint((2, 3), -3, 5, dtype="int8", seed=1),
    "randint int64": lambda r: r.randint((2, 3), 0, 5, dtype="int64", seed=1),
    "categorical": lambda r: r.categorical(np.zeros((2, 3)), 5, seed=1),
    "categorical float32 logits": lambda r: r.categorical(np.zeros((2, 3), "float32"), 5, seed=1),
    "categorical float32 dtype": lambda r: r.categorical(np.zeros((2, 3)), 5, dtype="float32", seed=1),
    "categorical int64": lambda r: r.categorical(np.zeros((2, 3)), 5, dtype="int64", seed=1),
    "categorical no samples": lambda r: r.categorical(np.zeros((2, 3)), 0, seed=1),
    "dropout": lambda r: r.dropout(X, 0.5, seed=1),
    "dropout rate 1": lambda r: r.dropout(X, 1.0, seed=1),
    "dropout rate 0": lambda r: r.dropout(X, 0.0, seed=1),
    "dropout float64": lambda r: r.dropout(np.ones((4, 5)), 0.5, seed=1),
    "dropout noise_shape": lambda r: r.dropout(X, 0.5, noise_shape=(None, 1), seed=1),
    "dropout list": lambda r: r.dropout([[1.0, 2.0]], 0.5, seed=1),
    "shuffle": lambda r: r.shuffle(np.arange(10), seed=1),
    "shuffle axis 1 float32": lambda r: r.shuffle(np.arange(12, dtype="float32").reshape(3, 4), axis=1, seed=1),
    "shuffle axis -1": lambda r: r.shuffle(np.arange(12).reshape(3, 4), axis=-1, seed=1),
    "gamma": lambda r: r.gamma((2, 3), 2.0, seed=1),
    "gamma alpha per column": lambda r: r.gamma((2, 3), np.array([1.0, 2.0, 3.0]), seed=1),
    "gamma float64": lambda r: r.gamma((2, 3), 2.0, dtype="float64", seed=1),
    "beta": lambda r: r.beta((2, 3), 2.0, 3.0, seed=1),
    "beta float16": lambda r: r.beta((2, 3), 2.0, 3.0, dtype="float16", seed=1),
    "binomial": lambda r: r.binomial((2, 3), 10, 0.5, seed=1),
    "binomial int32": lambda r: r.binomial((2, 3), 10, 0.5, dtype="int32", seed=1),
    "binomial arrays": lambda r: r.binomial((2, 3), np.array([1.0, 5.0, 10.0]), np.array([0.1, 0.5, 0.9]), seed=1),
}


@pytest.mark.parametrize("case", sorted(ACCEPTED))
def test_the_same_calls_give_the_same_shapes_and_dtypes(case):
    theirs = np.asarray(keras.ops.convert_to_numpy(ACCEPTED[case](keras.random)))
    ours = np.asarray(ACCEPTED[case](cl_random))
    assert ours.shape == theirs.shape
    assert ours.dtype == theirs.dtype


def test_seed_semantics_and_seed_generator_state_as_keras():
    for library in (keras.random, cl_random):
        generator = library.SeedGenerator(42, name="noise_seed")
        # An int seed repeats; a SeedGenerator's first draw is its int seed's draw, then it moves on.
        first = np.asarray(library.normal((3,), seed=generator))
        np.testing.assert_array_equal(first, np.asarray(library.normal((3,), seed=42)))
        np.testing.assert_array_equal(np.asarray(library.normal((3,), seed=42)), np.asarray(library.normal((3,), seed=42)))
        assert not np.array_equal(first, np.asarray(library.normal((3,), seed=generator)))
        # Two generators of one seed give one sequence.
        a, b = library.SeedGenerator(7), library.SeedGenerator(7)
        for _ in range(3):
            np.testing.assert_array_equal(np.asarray(library.uniform((4,), seed=a)), np.asarray(library.uniform((4,), seed=b)))
    keras_generator, cl_generator = keras.random.SeedGenerator(42, name="s"), cl_random.SeedGenerator(42, name="s")
    for draw in ("normal", "uniform", "truncated_normal"):
        getattr(keras.random, draw)((2,), seed=keras_generator)
        getattr(cl_random, draw)((2,), seed=cl_generator)
        np.testing.assert_array_equal(np.asarray(cl_generator.state), keras_generator.state.numpy())
    keras.random.beta((2,), 1.0, 1.0, seed=keras_generator)
    cl_random.beta((2,), 1.0, 1.0, seed=cl_generator)
    np.testing.assert_array_equal(np.asarray(cl_generator.state), keras_generator.state.numpy())
    np.testing.assert_array_equal(np.asarray(cl_generator.next()), keras_generator.next().numpy())
    np.testing.assert_array_equal(np.asarray(cl_generator.next(ordered=False)), keras_generator.next(ordered=False).numpy())
    np.testing.assert_array_equal(np.asarray(cl_generator.state), keras_generator.state.numpy())
    assert cl_generator.state.dtype == keras_generator.state.numpy().dtype
    for seed in (42, None):
        assert cl_random.SeedGenerator(seed, name="s").get_config() == keras.random.SeedGenerator(seed, name="s").get_config()
    config = keras.random.SeedGenerator(9, name="from_keras").get_config()
    assert cl_random.SeedGenerator.from_config(config).get_config() == config


def _moments(call):
    theirs = np.asarray(keras.ops.convert_to_numpy(call(keras.random)), "float64")
    ours = np.asarray(call(cl_random), "float64")
    return ours, theirs


@pytest.mark.parametrize("case, call", [
    ("normal", lambda r: r.normal((N,), mean=3.0, stddev=2.0, dtype="float64", seed=1)),
    ("uniform", lambda r: r.uniform((N,), minval=-1.0, maxval=3.0, dtype="float64", seed=2)),
    ("truncated_normal", lambda r: r.truncated_normal((N,), mean=1.0, stddev=0.5, dtype="float64", seed=3)),
    ("randint", lambda r: r.randint((N,), 2, 12, dtype="int64", seed=4)),
    ("gamma", lambda r: r.gamma((N,), 3.0, dtype="float64", seed=5)),
    ("gamma small alpha", lambda r: r.gamma((N,), 0.5, dtype="float64", seed=6)),
    ("beta", lambda r: r.beta((N,), 2.0, 5.0, dtype="float64", seed=7)),
    ("binomial", lambda r: r.binomial((N,), 20, 0.3, dtype="float64", seed=8)),
])
def test_moments_of_large_draws_agree_with_keras(case, call):
    ours, theirs = _moments(call)
    bound = 5 * math.sqrt(2 * theirs.var() / N)
    assert abs(ours.mean() - theirs.mean()) < bound, (ours.mean(), theirs.mean(), bound)
    assert abs(ours.var() / theirs.var() - 1) < 0.05, (ours.var(), theirs.var())
    if case == "truncated_normal":
        assert ours.min() >= 0.0 and ours.max() <= 2.0 and theirs.min() >= 0.0 and theirs.max() <= 2.0


def test_categorical_dropout_and_shuffle_statistics_agree_with_keras():
    logits = np.log(np.array([[0.1, 0.2, 0.7], [0.25, 0.25, 0.5]]))
    ours, theirs = _moments(lambda r: r.categorical(logits, 50_000, seed=9))
    for row in range(2):
        ours_freq = np.bincount(ours[row].astype(int), minlength=3) / 50_000
        theirs_freq = np.bincount(theirs[row].astype(int), minlength=3) / 50_000
        np.testing.assert_allclose(ours_freq, theirs_freq, atol=0.01)
    x = np.full((400, 500), 2.0, "float32")
    ours, theirs = _moments(lambda r: r.dropout(x, 0.3, seed=10))
    assert abs((ours != 0).mean() - (theirs != 0).mean()) < 0.006
    np.testing.assert_allclose(np.unique(ours[ours != 0]), np.unique(theirs[theirs != 0]), rtol=1e-6)
    ours, theirs = _moments(lambda r: r.dropout(np.ones((300, 4, 6), "float32"), 0.5, noise_shape=(None, 1, 6), seed=11))
    assert (ours == ours[:, :1]).all() and (theirs == theirs[:, :1]).all()
    ours, theirs = _moments(lambda r: r.shuffle(np.arange(2000), seed=12))
    np.testing.assert_array_equal(np.sort(ours), np.sort(theirs))
