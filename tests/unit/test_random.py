"""course_lib.random: shapes, dtypes, seeds (int, SeedGenerator, the global seed), argument errors
and the moments of each distribution (fixed seeds, bounds of several standard errors)."""
import math

import numpy as np
import pytest

import course_lib as cl
import course_lib.random as random
from course_lib import backend

N = 200_000  # draws for the moment checks: the standard error of a mean is stddev / 447


def host(array):
    return backend.to_numpy(array)


DRAWS = {
    "normal": lambda seed, **kw: random.normal((3, 4), seed=seed, **kw),
    "uniform": lambda seed, **kw: random.uniform((3, 4), seed=seed, **kw),
    "truncated_normal": lambda seed, **kw: random.truncated_normal((3, 4), seed=seed, **kw),
    "gamma": lambda seed, **kw: random.gamma((3, 4), 2.0, seed=seed, **kw),
    "beta": lambda seed, **kw: random.beta((3, 4), 2.0, 3.0, seed=seed, **kw),
    "binomial": lambda seed, **kw: random.binomial((3, 4), 10, 0.5, seed=seed, **kw),
}


@pytest.mark.parametrize("name", sorted(DRAWS))
def test_float_draws_have_the_shape_and_floatx_or_the_dtype_asked(name):
    draw = DRAWS[name](1)
    assert draw.shape == (3, 4) and draw.dtype == "float32"
    for dtype in ("float16", "float64"):
        assert DRAWS[name](1, dtype=dtype).dtype == dtype
    with backend.floatx_scope("float64"):
        assert DRAWS[name](1).dtype == "float64"


@pytest.mark.parametrize("name", sorted(DRAWS))
def test_an_int_seed_gives_the_same_draw_every_call_and_another_seed_another(name):
    np.testing.assert_array_equal(host(DRAWS[name](7)), host(DRAWS[name](7)))
    assert not np.array_equal(host(DRAWS[name](7)), host(DRAWS[name](8)))


@pytest.mark.parametrize("name", sorted(DRAWS))
def test_a_seed_generator_advances_and_a_new_one_repeats_the_sequence(name):
    first, second = random.SeedGenerator(5), random.SeedGenerator(5)
    a1, a2 = host(DRAWS[name](first)), host(DRAWS[name](first))
    assert not np.array_equal(a1, a2)
    np.testing.assert_array_equal(a1, host(DRAWS[name](second)))
    np.testing.assert_array_equal(a2, host(DRAWS[name](second)))
    np.testing.assert_array_equal(a1, host(DRAWS[name](5)))  # the first draw is the int seed's, as in Keras


@pytest.mark.parametrize("name", sorted(DRAWS))
def test_no_seed_draws_from_the_generator_set_random_seed_seeds(name):
    cl.utils.set_random_seed(11)
    first = [host(DRAWS[name](None)) for _ in range(2)]
    cl.utils.set_random_seed(11)
    again = [host(DRAWS[name](None)) for _ in range(2)]
    assert not np.array_equal(*first)
    for a, b in zip(first, again):
        np.testing.assert_array_equal(a, b)


def test_seed_generator_state_config_names_and_next():
    generator = random.SeedGenerator(42, name="noise_seed")
    np.testing.assert_array_equal(host(generator.state), [42, 0])
    assert generator.state.dtype == "int64"
    random.normal((2,), seed=generator)
    random.uniform((2,), seed=generator)
    np.testing.assert_array_equal(host(generator.state), [42, 2])
    np.testing.assert_array_equal(host(generator.next()), [42, 2])
    np.testing.assert_array_equal(host(generator.state), [42, 3])
    generator.next(ordered=False)
    np.testing.assert_array_equal(host(generator.state), [43 * 5387 % 933199, 4 * 5387 % 933199])
    assert generator.get_config() == {"seed": 42, "name": "noise_seed"}
    clone = random.SeedGenerator.from_config(generator.get_config())
    assert clone.name == "noise_seed" and clone.seed == 42
    cl.backend.clear_session()
    assert [random.SeedGenerator().name for _ in range(2)] == ["seed_generator", "seed_generator_1"]


def test_a_seed_generator_without_seed_is_reproducible_after_set_random_seed():
    cl.utils.set_random_seed(3)
    a = random.SeedGenerator()
    cl.utils.set_random_seed(3)
    b = random.SeedGenerator()
    assert a.seed == b.seed and 1 <= a.seed <= 10**9
    assert a.get_config()["seed"] is None  # Keras keeps the seed as given
    np.testing.assert_array_equal(host(random.normal((4,), seed=a)), host(random.normal((4,), seed=b)))


class NoisyIdentity(cl.layers.Layer):
    """A layer holding a SeedGenerator as Keras's Dropout does: new masks each training call."""

    def __init__(self, seed=1337, **kwargs):
        super().__init__(**kwargs)
        self.seed_generator = random.SeedGenerator(seed)

    def forward(self, inputs, training=False):
        if not training:
            return inputs, None
        mask = random.dropout(backend.xp.ones_like(inputs), 0.5, seed=self.seed_generator)
        return inputs * mask, mask

    def backward(self, output_grads, mask):
        return (output_grads if mask is None else output_grads * mask), {}


def test_a_seed_generator_as_a_layer_attribute():
    x = np.ones((8, 16), "float32")
    layer, twin = NoisyIdentity(), NoisyIdentity()
    first, second = host(layer(x, training=True)), host(layer(x, training=True))
    assert not np.array_equal(first, second)
    np.testing.assert_array_equal(first, host(twin(x, training=True)))
    np.testing.assert_array_equal(host(layer(x)), x)
    assert layer.weights == [] and layer.get_config()["name"] == layer.name


def test_a_gan_style_latent_draw_from_a_model_attribute():
    class Sampler(cl.Model):
        def __init__(self):
            super().__init__()
            self.seed_generator = random.SeedGenerator(1337)
            self.latent_dim = 8

        def sample(self, batch):
            return random.normal(shape=(batch, self.latent_dim), seed=self.seed_generator)

    sampler = Sampler()
    a, b = host(sampler.sample(4)), host(sampler.sample(4))
    assert a.shape == (4, 8) and a.dtype == "float32" and not np.array_equal(a, b)
    np.testing.assert_array_equal(a, host(Sampler().sample(4)))


# ---------------------------------------------------------------- moments


def test_normal_and_uniform_moments():
    draw = host(random.normal((N,), mean=3.0, stddev=2.0, dtype="float64", seed=1))
    assert abs(draw.mean() - 3.0) < 5 * 2.0 / math.sqrt(N)
    assert abs(draw.std() - 2.0) < 0.02
    draw = host(random.uniform((N,), minval=-1.0, maxval=3.0, seed=2))
    assert draw.min() >= -1.0 and draw.max() < 3.0
    assert abs(draw.mean() - 1.0) < 0.02 and abs(draw.var() - 16 / 12) < 0.02
    per_column = host(random.normal((N, 3), mean=[0.0, 10.0, -5.0], stddev=[1.0, 0.5, 2.0], seed=3))
    np.testing.assert_allclose(per_column.mean(0), [0.0, 10.0, -5.0], atol=0.03)
    np.testing.assert_allclose(per_column.std(0), [1.0, 0.5, 2.0], rtol=0.02)


def test_truncated_normal_stays_within_two_stddev_with_the_truncated_moments():
    draw = host(random.truncated_normal((N,), mean=1.0, stddev=0.5, dtype="float64", seed=4))
    assert draw.min() >= 0.0 and draw.max() <= 2.0
    # Var of a standard normal truncated to [-2, 2]: 1 - 4 phi(2) / (2 Phi(2) - 1) = 0.7737
    phi = math.exp(-2) / math.sqrt(2 * math.pi)
    variance = 1 - 4 * phi / math.erf(2 / math.sqrt(2))
    assert abs(draw.mean() - 1.0) < 0.01
    assert abs(draw.var() - 0.25 * variance) < 0.005


def test_randint_dtypes_range_and_frequencies():
    draw = random.randint((N,), 2, 7, seed=5)
    assert draw.dtype == "int32"
    counts = np.bincount(host(draw), minlength=7)
    assert counts[:2].sum() == 0 and counts[2:].sum() == N
    np.testing.assert_allclose(counts[2:] / N, 0.2, atol=0.01)
    for dtype in ("int8", "uint8", "int64", "uint16"):
        small = random.randint((50,), 0, 3, dtype=dtype, seed=1)
        assert small.dtype == dtype and host(small).min() >= 0 and host(small).max() <= 2
    negative = host(random.randint((1000,), -3, 0, dtype="int8", seed=2))
    assert set(negative.tolist()) == {-3, -2, -1}


def test_categorical_frequencies_follow_the_softmax_of_the_logits():
    logits = np.log(np.array([[0.1, 0.2, 0.7], [0.5, 0.5, 1e-30]]))
    logits[1, 2] = -np.inf
    draw = random.categorical(logits, 50_000, seed=6)
    assert draw.shape == (2, 50_000) and draw.dtype == "int32"
    for row, expected in zip(host(draw), ([0.1, 0.2, 0.7], [0.5, 0.5, 0.0])):
        np.testing.assert_allclose(np.bincount(row, minlength=3) / row.size, expected, atol=0.01)
    assert random.categorical(logits, 3, dtype="float32", seed=1).dtype == "float32"
    assert random.categorical(logits, 0, seed=1).shape == (2, 0)


def test_dropout_keeps_one_minus_rate_and_scales_the_kept():
    x = np.full((400, 500), 3.0, "float32")
    out = host(random.dropout(x, 0.3, seed=7))
    kept = out != 0
    assert out.dtype == np.float32
    assert abs(kept.mean() - 0.7) < 0.005
    np.testing.assert_allclose(out[kept], 3.0 / 0.7, rtol=1e-6)
    np.testing.assert_array_equal(host(random.dropout(x, 0.0)), x)
    np.testing.assert_array_equal(host(random.dropout(x, 1.0)), 0.0)
    channels = host(random.dropout(np.ones((300, 4, 6), "float32"), 0.5, noise_shape=(None, 1, 6), seed=8))
    assert (channels == channels[:, :1, :]).all()  # one mask entry per (sample, feature), shared over axis 1
    assert random.dropout([[1.0, 2.0]], 0.5, seed=1).dtype == "float32"


def test_shuffle_is_a_permutation_along_the_axis():
    x = np.arange(60).reshape(3, 20)
    along = host(random.shuffle(x, axis=1, seed=9))
    assert along.dtype == x.dtype
    order = along[0]  # the same permutation for every row
    np.testing.assert_array_equal(np.sort(order), np.arange(20))
    assert not np.array_equal(order, np.arange(20))
    np.testing.assert_array_equal(along, x[:, order])
    np.testing.assert_array_equal(host(random.shuffle(x, axis=-1, seed=9)), along)
    rows = host(random.shuffle(np.arange(1000), seed=10))
    np.testing.assert_array_equal(np.sort(rows), np.arange(1000))
    # each position is uniform: the mean position of the first 500 values is about 499.5
    assert abs(np.argsort(rows)[:500].mean() - 499.5) < 30


def test_gamma_beta_binomial_moments():
    draw = host(random.gamma((N,), 3.0, dtype="float64", seed=11))
    assert abs(draw.mean() - 3.0) < 0.03 and abs(draw.var() - 3.0) < 0.1
    per_column = host(random.gamma((N, 2), [0.5, 4.0], seed=12))
    np.testing.assert_allclose(per_column.mean(0), [0.5, 4.0], rtol=0.02)
    a, b = 2.0, 5.0
    draw = host(random.beta((N,), a, b, dtype="float64", seed=13))
    assert draw.min() >= 0 and draw.max() <= 1
    assert abs(draw.mean() - a / (a + b)) < 0.003
    assert abs(draw.var() - a * b / ((a + b) ** 2 * (a + b + 1))) < 0.001
    draw = host(random.binomial((N,), 20, 0.3, dtype="float64", seed=14))
    assert (draw == draw.round()).all() and draw.min() >= 0 and draw.max() <= 20
    assert abs(draw.mean() - 6.0) < 0.03 and abs(draw.var() - 4.2) < 0.1
    mixed = host(random.binomial((N, 2), np.array([5.0, 50.0]), np.array([0.9, 0.1]), dtype="int32", seed=15))
    np.testing.assert_allclose(mixed.mean(0), [4.5, 5.0], rtol=0.02)


# ---------------------------------------------------------------- errors


@pytest.mark.parametrize("call, error, message", [
    (lambda: random.normal(3), TypeError, r"random.normal: shape must be a tuple or list of ints. Received: shape=3"),
    (lambda: random.normal((None, 3)), ValueError, r"random.normal: shape must hold non-negative ints"),
    (lambda: random.normal((-1, 3)), ValueError, r"random.normal: shape must hold non-negative ints"),
    (lambda: random.normal((2.0, 3)), ValueError, r"random.normal: shape must hold"),
    (lambda: random.normal((2,), dtype="int32"), ValueError, r"random.normal: dtype must be one of .*Received: dtype='int32'"),
    (lambda: random.normal((2,), dtype="bfloat16"), ValueError, r"random.normal: dtype must be one of"),
    (lambda: random.normal((2,), seed=1.5), ValueError, r"random.normal: seed must be None, an integer or a SeedGenerator"),
    (lambda: random.normal((2,), seed=True), ValueError, r"seed must be None, an integer"),
    (lambda: random.normal((2,), seed=np.int64(3)), ValueError, r"of type int64"),
    (lambda: random.normal((2,), seed=2**70), ValueError, r"random.normal: seed must fit in 64 bits"),
    (lambda: random.normal((2, 3), mean=np.zeros(2)), ValueError, r"random.normal: mean must broadcast to shape \(2, 3\)"),
    (lambda: random.uniform((2,), dtype="int32"), ValueError, r"random.uniform: dtype must be one of"),
    (lambda: random.truncated_normal((2,), dtype="int32"), ValueError, r"random.truncated_normal: dtype"),
    (lambda: random.randint((2,), 0, 5, dtype="float32"), ValueError, r"random.randint: dtype must be one of"),
    (lambda: random.randint((2,), 0, 5, dtype=None), ValueError, r"random.randint: dtype must be one of .*None"),
    (lambda: random.randint((2,), 0, 2, dtype="bool"), ValueError, r"random.randint: dtype"),
    (lambda: random.randint((2,), 5, 5), ValueError, r"random.randint: minval must be less than maxval"),
    (lambda: random.randint((2,), 0.5, 5), TypeError, r"random.randint: minval must be an int. Received: minval=0.5"),
    (lambda: random.randint((2,), 0, 300, dtype="uint8"), ValueError, r"must fit in uint8 \(0 to 255\)"),
    (lambda: random.categorical(np.zeros(3), 2), ValueError, r"random.categorical: logits must be a 2-D array"),
    (lambda: random.categorical(np.zeros((2, 3, 4)), 2), ValueError, r"logits must be a 2-D array .*\(2, 3, 4\)"),
    (lambda: random.categorical(np.zeros((2, 0)), 2), ValueError, r"logits must have at least one class"),
    (lambda: random.categorical(np.zeros((2, 3)), 2.5), TypeError, r"num_samples must be an int"),
    (lambda: random.categorical(np.zeros((2, 3)), -1), ValueError, r"num_samples must be >= 0"),
    (lambda: random.dropout(np.ones((2, 2), "float32"), 1.5), ValueError, r"random.dropout: rate must be a float in"),
    (lambda: random.dropout(np.ones((2, 2), "float32"), -0.1), ValueError, r"rate must be a float in the range"),
    (lambda: random.dropout(np.ones((2, 2), "int32"), 0.5), ValueError, r"inputs must be a float array"),
    (lambda: random.dropout(np.ones((4, 5), "float32"), 0.5, noise_shape=(4, 3)), ValueError, r"noise_shape must broadcast"),
    (lambda: random.dropout(np.ones((4, 5), "float32"), 0.5, noise_shape=(4,)), ValueError, r"one entry per axis"),
    (lambda: random.shuffle(np.ones((3, 4)), axis=2), ValueError, r"random.shuffle: axis 2 is out of range"),
    (lambda: random.shuffle(np.float32(3)), ValueError, r"axis 0 is out of range for an array of 0 dimension"),
    (lambda: random.gamma((2,), 0.0), ValueError, r"random.gamma: alpha must be > 0"),
    (lambda: random.gamma((2, 3), np.ones(2)), ValueError, r"random.gamma: alpha must broadcast to shape"),
    (lambda: random.gamma((2,), 2.0, dtype="int32"), ValueError, r"random.gamma: dtype"),
    (lambda: random.beta((2,), -1.0, 3.0), ValueError, r"random.beta: alpha must be > 0"),
    (lambda: random.beta((2,), 1.0, 0.0), ValueError, r"random.beta: beta must be > 0"),
    (lambda: random.binomial((2,), 10, 1.5), ValueError, r"random.binomial: probabilities must lie in \[0, 1\]"),
    (lambda: random.binomial((2,), -1, 0.5), ValueError, r"random.binomial: counts must be whole numbers >= 0"),
    (lambda: random.binomial((2,), 2.5, 0.5), ValueError, r"counts must be whole numbers"),
    (lambda: random.SeedGenerator(1.5), ValueError, r"SeedGenerator: seed must be an integer. Received: seed=1.5"),
    (lambda: random.SeedGenerator(1, foo=2), ValueError, r"SeedGenerator: unrecognized keyword arguments: \{'foo': 2\}"),
])
def test_errors_name_the_function_what_it_expected_and_what_it_received(call, error, message):
    with pytest.raises(error, match=message):
        call()


def test_every_draw_is_an_array_of_the_strict_backend():
    with backend.backend_scope("strict"):
        from course_lib import strict_backend

        xp = backend.xp
        outputs = [
            random.normal((2, 3), mean=xp.asarray([0.0, 1.0, 2.0]), seed=1), random.uniform((2,), seed=1),
            random.truncated_normal((2,), seed=1), random.randint((2,), 0, 3, seed=1),
            random.categorical(xp.zeros((2, 3)), 4, seed=1), random.dropout(xp.ones((2, 3), dtype="float32"), 0.5),
            random.shuffle(xp.arange(5), seed=1), random.gamma((2,), xp.asarray([1.0, 2.0])),
            random.beta((2,), 2.0, 3.0), random.binomial((2,), 4, 0.5),
        ]
        assert all(isinstance(out, strict_backend.StrictArray) for out in outputs)
        np.testing.assert_array_equal(backend.to_numpy(random.normal((3,), seed=4)), host(random.normal((3,), seed=4)))
