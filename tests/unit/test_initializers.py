"""course_lib.initializers: distributions against tf.keras, exact values, seeds, configs, errors.

NumPy's and TensorFlow's generators differ, so random initializers are compared
by statistics of large draws, each taken from both libraries in the same test:
the standard deviation within 2 % (or 5/sqrt(n) for smaller draws, about five
sampling standard errors), the means within 5*sqrt(2/n) standard deviations of
each other (2 % for 400x300, 10 % for a 3x3x16x32 kernel), and the extremes as
each distribution allows.
Both are also checked against the standard deviation the fans predict.
"""
import json
import math

import numpy as np
import pytest

from course_lib import backend, initializers

LARGE = (400, 300)
CONV = (3, 3, 16, 32)
SEED = 11  # the tolerances were also checked to hold for seeds 1-13
TRUNCATION = 0.87962566103423978

# name -> (course_lib arguments, expected std(shape), support(shape) or None)
RANDOM = {
    "RandomNormal": ({"mean": 0.1, "stddev": 0.3}, lambda s: 0.3, None),
    "TruncatedNormal": ({"mean": -0.2, "stddev": 0.5}, lambda s: 0.5 * TRUNCATION, lambda s: 1.0),
    "RandomUniform": ({"minval": -0.3, "maxval": 0.7}, lambda s: 1 / math.sqrt(12), None),
    "GlorotUniform": ({}, lambda s: math.sqrt(2 / sum(initializers.compute_fans(s))), None),
    "GlorotNormal": ({}, lambda s: math.sqrt(2 / sum(initializers.compute_fans(s))), None),
    "HeUniform": ({}, lambda s: math.sqrt(2 / initializers.compute_fans(s)[0]), None),
    "HeNormal": ({}, lambda s: math.sqrt(2 / initializers.compute_fans(s)[0]), None),
    "LecunUniform": ({}, lambda s: math.sqrt(1 / initializers.compute_fans(s)[0]), None),
    "LecunNormal": ({}, lambda s: math.sqrt(1 / initializers.compute_fans(s)[0]), None),
    "VarianceScaling": (
        {"scale": 3.0, "mode": "fan_out", "distribution": "untruncated_normal"},
        lambda s: math.sqrt(3 / initializers.compute_fans(s)[1]),
        None,
    ),
    "Orthogonal": ({"gain": 1.5}, lambda s: 1.5 / math.sqrt(math.prod(s[:-1])), None),
}
NORMAL_LIKE = {"RandomNormal", "VarianceScaling", "Orthogonal"}
TRUNCATED_LIKE = {"TruncatedNormal", "GlorotNormal", "HeNormal", "LecunNormal"}
UNIFORM_LIKE = {"RandomUniform", "GlorotUniform", "HeUniform", "LecunUniform"}


def keras_draw(name, kwargs, shape, seed):
    from tensorflow import keras

    return np.asarray(getattr(keras.initializers, name)(**kwargs, seed=seed)(shape))


@pytest.mark.parity
@pytest.mark.parametrize("shape", [LARGE, CONV], ids=["dense", "conv"])
@pytest.mark.parametrize("name", sorted(RANDOM))
def test_random_initializers_match_keras_statistics(name, shape):
    kwargs, expected_std, _ = RANDOM[name]
    ours = getattr(initializers, name)(**kwargs, seed=SEED)(shape)
    theirs = keras_draw(name, kwargs, shape, seed=SEED)

    assert ours.shape == theirs.shape == shape
    assert ours.dtype == theirs.dtype == np.float32
    size = ours.size
    std_tolerance = max(0.02, 5 / math.sqrt(size))
    std = expected_std(shape)
    for values in (ours, theirs):
        assert values.std() == pytest.approx(std, rel=std_tolerance)
    assert ours.std() == pytest.approx(theirs.std(), rel=std_tolerance)
    # Two independent sample means differ by sqrt(2/n) std on average; allow 5 times that.
    mean_tolerance = 5 * math.sqrt(2 / size) * std
    assert abs(ours.mean() - theirs.mean()) < mean_tolerance

    if name in UNIFORM_LIKE:
        # With 4608+ draws both reach within 0.5 % of the ends of the interval.
        span = float(theirs.max() - theirs.min())
        assert ours.min() == pytest.approx(theirs.min(), abs=0.005 * span)
        assert ours.max() == pytest.approx(theirs.max(), abs=0.005 * span)
    elif name in TRUNCATED_LIKE:
        # Both reach close to the same cut at two (pre-truncation) stddevs. With
        # density 0.0566 per stddev at the cut, the gap left by n draws is
        # exponential with mean 1/(0.0566 n) stddevs; allow 10 such means.
        sigma = std / TRUNCATION
        gap = 10 / (0.0566 * size) * sigma
        assert abs(float(ours.max() - theirs.max())) < gap
        assert abs(float(ours.min() - theirs.min())) < gap
    else:
        # Normal extremes are random (about 4.4 sigma here); a generous band still
        # catches a wrong scale.
        assert abs(ours.max() - theirs.max()) < 1.5 * std
        assert abs(ours.min() - theirs.min()) < 1.5 * std


@pytest.mark.parametrize("name", sorted(UNIFORM_LIKE))
@pytest.mark.parametrize("dtype", ["float16", "float32", "float64"])
def test_uniform_bounds_hold_exactly(name, dtype):
    shape = (200, 50)
    init = getattr(initializers, name)(**RANDOM[name][0], seed=0)
    values = init(shape, dtype=dtype)
    if name == "RandomUniform":
        low, high = init.minval, init.maxval
    else:
        low, high = -math.sqrt(3 * init.variance(shape)), math.sqrt(3 * init.variance(shape))
    low, high = np.dtype(dtype).type(low), np.dtype(dtype).type(high)
    assert values.min() >= low
    assert values.max() < high


@pytest.mark.parametrize("name", sorted(TRUNCATED_LIKE))
def test_truncated_normals_stay_within_two_stddev(name):
    kwargs = RANDOM[name][0]
    init = getattr(initializers, name)(**kwargs, seed=1)
    values = init(LARGE, dtype="float64")
    if name == "TruncatedNormal":
        centre, bound = init.mean, 2 * init.stddev
    else:
        centre, bound = 0.0, 2 * math.sqrt(init.variance(LARGE)) / TRUNCATION
    assert np.max(np.abs(values - centre)) <= bound
    # Not merely clipped: values near the cut are as rare as the density says.
    assert np.mean(np.abs(values - centre) > 0.999 * bound) < 0.001


def test_fans_count_the_receptive_field_like_keras():
    assert initializers.compute_fans(()) == (1, 1)
    assert initializers.compute_fans((7,)) == (7, 7)
    assert initializers.compute_fans((4, 9)) == (4, 9)
    assert initializers.compute_fans((3, 3, 16, 32)) == (144, 288)
    assert initializers.compute_fans((5, 8, 2)) == (40, 10)
    assert initializers.compute_fans((2, 3, 4), input_axes=[0, 1], output_axes=[2]) == (6, 4)


def test_variance_scaling_modes_and_distributions():
    shape = (3, 3, 16, 32)
    assert initializers.VarianceScaling(2.0, "fan_in").variance(shape) == 2.0 / 144
    assert initializers.VarianceScaling(2.0, "fan_out").variance(shape) == 2.0 / 288
    assert initializers.VarianceScaling(2.0, "fan_avg").variance(shape) == 2.0 / 216
    # n is never below 1, so an empty shape keeps the scale.
    assert initializers.VarianceScaling(0.5).variance(()) == 0.5
    assert initializers.VarianceScaling(distribution="Normal").distribution == "truncated_normal"


@pytest.mark.parametrize("gain", [1.0, 0.5, 3.0])
@pytest.mark.parametrize("shape", [(400, 300), (300, 400), (3, 3, 16, 32), (64, 64)])
def test_orthogonal_is_orthogonal_up_to_gain(shape, gain):
    values = initializers.Orthogonal(gain=gain, seed=4)(shape, dtype="float64")
    assert values.shape == shape
    matrix = values.reshape(-1, shape[-1])
    gram = matrix.T @ matrix if matrix.shape[0] >= matrix.shape[1] else matrix @ matrix.T
    np.testing.assert_allclose(gram, gain**2 * np.eye(gram.shape[0]), atol=1e-10)


@pytest.mark.parity
def test_orthogonal_matches_keras_properties():
    ours = initializers.Orthogonal(gain=2.0, seed=1)((50, 20))
    theirs = keras_draw("Orthogonal", {"gain": 2.0}, (50, 20), seed=1)
    for values in (ours, theirs):
        np.testing.assert_allclose(values.T @ values, 4 * np.eye(20), atol=1e-4)


@pytest.mark.parity
@pytest.mark.parametrize(
    "name, kwargs, shape, dtype",
    [
        ("Zeros", {}, (3, 4), "float32"),
        ("Ones", {}, (2, 3, 4), "float64"),
        ("Ones", {}, (5,), "int32"),
        ("Constant", {"value": 2.5}, (4, 2), "float32"),
        ("Constant", {"value": -3}, (2, 2), "float64"),
        ("Identity", {"gain": 2.0}, (3, 5), "float32"),
        ("Identity", {}, (4, 4), "float64"),
    ],
)
def test_constant_initializers_equal_keras_exactly(name, kwargs, shape, dtype):
    from tensorflow import keras

    ours = getattr(initializers, name)(**kwargs)(shape, dtype=dtype)
    theirs = np.asarray(getattr(keras.initializers, name)(**kwargs)(shape, dtype=dtype))
    assert ours.dtype == theirs.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(ours, theirs)


@pytest.mark.parity
@pytest.mark.parametrize("kwargs", [{}, {"side": "imag"}, {"window": "hamming", "scaling": "spectrum", "periodic": True},
                                    {"window": None, "scaling": None}, {"window": list(np.linspace(0.1, 1.0, 16))}])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_stft_kernels_equal_keras(kwargs, dtype):
    from tensorflow import keras

    ours = initializers.STFT(**kwargs)((16, 1, 9), dtype=dtype)
    theirs = np.asarray(keras.initializers.STFT(**kwargs)((16, 1, 9), dtype=dtype))
    assert ours.dtype == theirs.dtype == np.dtype(dtype) and ours.shape == theirs.shape
    # float32: one rounding of the two libraries' float32 cos and sin (3e-8 measured); float64 to the last bits.
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-7 if dtype == "float32" else 1e-15)
    assert initializers.STFTInitializer is initializers.stft is initializers.STFT
    config = keras.initializers.STFT(**kwargs).get_config()
    assert initializers.STFT.from_config(config).get_config() == {key: config[key] for key in
                                                                 ("side", "window", "scaling", "periodic")}


def test_stft_refuses_what_it_cannot_make():
    with pytest.raises(ValueError, match="STFT: side must be 'real' or 'imag'"):
        initializers.STFT(side="both")
    with pytest.raises(ValueError, match="STFT: window must be one of 'hann'"):
        initializers.STFT(window="kaiser")
    with pytest.raises(ValueError, match="STFT: scaling must be None"):
        initializers.STFT(scaling="energy")
    with pytest.raises(ValueError, match="STFT: the window must be a 1D array of frame_length=8"):
        initializers.STFT(window=[1.0, 2.0])((8, 1, 5))
    with pytest.raises(ValueError, match=r"STFT: the shape must be \(frame_length, channels, bins\)"):
        initializers.STFT()((8, 5))


def test_constant_values_by_hand():
    np.testing.assert_array_equal(initializers.Zeros()((2, 3)), np.zeros((2, 3)))
    np.testing.assert_array_equal(initializers.Ones()((2,)), [1.0, 1.0])
    np.testing.assert_array_equal(initializers.Constant(7.0)((2, 2)), np.full((2, 2), 7.0))
    np.testing.assert_array_equal(initializers.Identity(3.0)((2, 3)), [[3, 0, 0], [0, 3, 0]])


@pytest.mark.parametrize("name", sorted(RANDOM))
def test_int_seed_repeats_and_none_draws_fresh_values(name):
    cls = getattr(initializers, name)
    kwargs = RANDOM[name][0]
    seeded = cls(**kwargs, seed=42)
    first = seeded((6, 5))
    np.testing.assert_array_equal(first, seeded((6, 5)))
    np.testing.assert_array_equal(first, cls(**kwargs, seed=42)((6, 5)))
    assert not np.array_equal(first, cls(**kwargs, seed=43)((6, 5)))

    unseeded = cls(**kwargs)
    assert not np.array_equal(unseeded((6, 5)), unseeded((6, 5)))
    backend.set_seed(7)
    again = [unseeded((6, 5))]
    backend.set_seed(7)
    again.append(unseeded((6, 5)))
    np.testing.assert_array_equal(*again)


@pytest.mark.parametrize("name", sorted(RANDOM))
def test_dtype_is_respected(name):
    init = getattr(initializers, name)(**RANDOM[name][0], seed=0)
    assert init((4, 3)).dtype == np.float32
    assert init((4, 3), dtype="float64").dtype == np.float64
    assert init((4, 3), dtype=np.float16).dtype == np.float16
    with backend.floatx_scope("float64"):
        assert init((4, 3)).dtype == np.float64
    with pytest.raises(ValueError, match=rf"{name}: dtype must be a float dtype.*int32"):
        init((4, 3), dtype="int32")


ALL_INSTANCES = [
    initializers.STFT(side="imag", window="hamming", scaling=None, periodic=True),
    initializers.Zeros(),
    initializers.Ones(),
    initializers.Constant(0.25),
    initializers.Identity(gain=2.0),
    initializers.RandomNormal(mean=1.0, stddev=0.2, seed=3),
    initializers.RandomUniform(minval=0.0, maxval=2.0, seed=3),
    initializers.TruncatedNormal(mean=0.0, stddev=1.0, seed=None),
    initializers.VarianceScaling(scale=0.5, mode="fan_avg", distribution="uniform", seed=9),
    initializers.VarianceScaling(input_axes=[0], output_axes=[1], seed=2),
    initializers.GlorotUniform(seed=1),
    initializers.GlorotNormal(),
    initializers.HeUniform(seed=5),
    initializers.HeNormal(seed=5),
    initializers.LecunUniform(),
    initializers.LecunNormal(seed=8),
    initializers.Orthogonal(gain=0.5, seed=6),
]


@pytest.mark.parametrize("init", ALL_INSTANCES, ids=lambda i: i.__class__.__name__)
def test_config_round_trip(init):
    config = init.get_config()
    json.dumps(config)  # configs must be storable as JSON
    rebuilt = init.__class__.from_config(config)
    assert type(rebuilt) is type(init) and rebuilt.get_config() == config
    via_dict = initializers.get(initializers.serialize(init))
    assert type(via_dict) is type(init) and via_dict.get_config() == config
    assert initializers.deserialize(initializers.serialize(init)).get_config() == config
    assert init.clone().get_config() == config
    if getattr(init, "seed", None) is not None:
        np.testing.assert_array_equal(init((4, 4)), rebuilt((4, 4)))


@pytest.mark.parity
@pytest.mark.parametrize("init", ALL_INSTANCES, ids=lambda i: i.__class__.__name__)
def test_configs_travel_between_keras_and_course_lib(init):
    from tensorflow import keras

    name = init.__class__.__name__
    keras_init = keras.initializers.deserialize(initializers.serialize(init))
    assert type(keras_init).__name__ == name
    back = initializers.deserialize(keras.initializers.serialize(keras_init))
    if name == "Identity":
        # Keras 3.15's Identity.get_config forgets gain; ours keeps it.
        assert back.get_config() == {"gain": 1.0}
    else:
        assert back.get_config() == init.get_config()


@pytest.mark.parity
@pytest.mark.parametrize(
    "identifier",
    ["glorot_uniform", "glorot_normal", "he_normal", "he_uniform", "lecun_normal",
     "lecun_uniform", "zeros", "ones", "orthogonal", "truncated_normal", "random_normal",
     "random_uniform", "variance_scaling", "identity", "GlorotUniform",
     "Orthogonal", "normal", "uniform", "one", "zero"],
)
def test_get_accepts_the_names_keras_accepts(identifier):
    from tensorflow import keras

    ours = initializers.get(identifier)
    theirs = keras.initializers.get(identifier)
    assert type(ours).__name__ == type(theirs).__name__
    config = ours.get_config()
    keras_config = theirs.get_config()
    if type(ours).__name__ != "Identity":
        assert set(config) == set(keras_config)
        for key, value in keras_config.items():
            if key != "seed":  # Keras stores None too; unseeded either way
                assert config[key] == value, key


def test_get_instances_classes_callables_and_none():
    init = initializers.HeNormal(seed=1)
    assert initializers.get(init) is init
    assert isinstance(initializers.get(initializers.Ones), initializers.Ones)

    def halves(shape, dtype=None):
        return np.full(shape, 0.5, dtype=dtype or backend.floatx())

    assert initializers.get(halves) is halves
    assert initializers.get(None) is None
    dict_form = {"class_name": "RandomUniform", "config": {"minval": 1.0, "maxval": 2.0, "seed": 3}}
    made = initializers.get(dict_form)
    assert isinstance(made, initializers.RandomUniform) and made.minval == 1.0
    assert isinstance(initializers.get({"class_name": "zeros"}), initializers.Zeros)
    # keras.initializers.get("constant") raises KeyError in Keras 3.15 (its
    # Constant.from_config insists on 'value'); ours gives the default Constant(0.0).
    assert initializers.get("constant").get_config() == {"value": 0.0}


@pytest.mark.parametrize(
    "bad",
    ["glorot", "xavier_uniform", "", 3, np.ones(3), {"class_name": "Nope", "config": {}}, {"config": {}}, int],
    ids=repr,
)
def test_unknown_identifiers_raise_a_clear_value_error(bad):
    with pytest.raises(ValueError) as info:
        initializers.get(bad)
    message = str(info.value)
    assert "initializers.get" in message
    assert repr(bad) in message
    assert "'glorot_uniform'" in message and "'he_normal'" in message


def test_bad_dict_configs_are_explained():
    with pytest.raises(TypeError, match=r"RandomNormal\.from_config.*stdev"):
        initializers.get({"class_name": "RandomNormal", "config": {"stdev": 1.0}})
    with pytest.raises(ValueError, match=r"initializers\.deserialize.*'config' must be a dict"):
        initializers.deserialize({"class_name": "Zeros", "config": [1]})
    with pytest.raises(TypeError, match=r"initializers\.serialize.*Initializer instance or a callable"):
        initializers.serialize("zeros")


def test_plain_functions_serialize_by_name_but_cannot_come_back():
    def halves(shape, dtype=None):
        return np.full(shape, 0.5, dtype=dtype or backend.floatx())

    config = initializers.serialize(halves)
    assert config == {"class_name": "function", "config": "halves"}
    with pytest.raises(ValueError, match=r"initializers\.deserialize.*halves.*pass the function itself"):
        initializers.deserialize(config)


@pytest.mark.parametrize(
    "make, error, pattern",
    [
        (lambda: initializers.RandomNormal(stddev=-1.0), ValueError, r"RandomNormal: stddev must be >= 0.*stddev=-1.0"),
        (lambda: initializers.TruncatedNormal(stddev=-0.1), ValueError, r"TruncatedNormal: stddev must be >= 0"),
        (lambda: initializers.RandomNormal(mean="0"), TypeError, r"RandomNormal: mean must be a real number.*'0'"),
        (lambda: initializers.RandomNormal(stddev=float("nan")), ValueError, r"stddev must be finite"),
        (lambda: initializers.RandomUniform(minval=1.0, maxval=1.0), ValueError, r"minval must be smaller than maxval.*minval=1.0, maxval=1.0"),
        (lambda: initializers.RandomUniform(minval=2.0, maxval=-2.0), ValueError, r"minval must be smaller"),
        (lambda: initializers.VarianceScaling(scale=0.0), ValueError, r"VarianceScaling: scale must be a positive float.*scale=0.0"),
        (lambda: initializers.VarianceScaling(scale=-2), ValueError, r"scale must be a positive"),
        (lambda: initializers.VarianceScaling(mode="fan_mean"), ValueError, r"mode must be one of.*'fan_mean'"),
        (lambda: initializers.VarianceScaling(distribution="gaussian"), ValueError, r"distribution must be one of.*'gaussian'"),
        (lambda: initializers.GlorotUniform(seed=-1), ValueError, r"GlorotUniform: seed must be None or a non-negative int.*-1"),
        (lambda: initializers.HeNormal(seed=1.5), ValueError, r"HeNormal: seed must be"),
        (lambda: initializers.Orthogonal(seed=True), ValueError, r"Orthogonal: seed must be"),
        (lambda: initializers.Orthogonal(gain="big"), TypeError, r"Orthogonal: gain must be a real number"),
        (lambda: initializers.Constant([1.0, 2.0]), TypeError, r"Constant: value must be a real scalar"),
    ],
)
def test_bad_arguments_raise_at_construction(make, error, pattern):
    with pytest.raises(error, match=pattern):
        make()


def test_bad_shapes_raise_at_call():
    with pytest.raises(ValueError, match=r"Orthogonal: the shape must have at least 2 dimensions.*\(5,\)"):
        initializers.Orthogonal()((5,))
    with pytest.raises(ValueError, match=r"Identity: can only initialize 2-D matrices.*rank 3"):
        initializers.Identity()((2, 2, 2))
    with pytest.raises(ValueError, match=r"GlorotUniform: shape must be a tuple of non-negative ints.*-3"):
        initializers.GlorotUniform()((4, -3))
    with pytest.raises(ValueError, match=r"Zeros: shape must be a tuple"):
        initializers.Zeros()("big")
    with pytest.raises(ValueError, match=r"Ones: dtype must be a numeric or bool dtype"):
        initializers.Ones()((2,), dtype="str")


def test_integer_shape_and_empty_shapes():
    assert initializers.Zeros()(3).shape == (3,)
    assert initializers.HeNormal(seed=0)((0, 5)).shape == (0, 5)
    assert initializers.RandomNormal(seed=0)(()).shape == ()


@pytest.mark.parity
def test_every_name_keras_exports_names_the_same_class():
    """Keras's snake_case and long aliases (he_normal, OrthogonalInitializer) are its classes; so are ours."""
    from tensorflow import keras

    theirs = {name for name in dir(keras.initializers) if not name.startswith("_")}
    for name in sorted(theirs & set(initializers.__all__)):
        keras_class = getattr(keras.initializers, name)
        if isinstance(keras_class, type):
            assert getattr(initializers, name).__name__ == keras_class.__name__, name
    assert initializers.he_normal is initializers.HeNormal
    assert initializers.OrthogonalInitializer is initializers.Orthogonal
    assert initializers.get("he_normal").__class__ is initializers.he_normal
