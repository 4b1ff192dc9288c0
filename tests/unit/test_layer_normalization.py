"""LayerNormalization: gradient checks, the per-sample formula, dtypes, masks, the Layer contract, bad input.

Every configuration is checked against central differences in float64
(relative error < 1e-6 on the input and on gamma/beta, through
``cl.testing.assert_gradients_close``) with the checker's random upstream
gradient and with one of our own. The tf.keras comparison lives in
``tests/parity/test_layer_normalization_parity.py``.
"""
import re
import warnings

import numpy as np
import pytest

import course_lib as cl
from course_lib import layers

GRADIENT_TOLERANCE = 1e-6
# The finite-difference step: as for BatchNormalization, 1e-4 keeps the float64 rounding of the
# objective sum(y * dy) far below the smallest gradient entries (the layer is smooth, so the truncation
# error stays tiny).
STEP = 1e-4

# (id, constructor arguments, input shape).
CASES = [
    ("dense-2d", {}, (6, 5)),
    ("sequence-3d", {}, (3, 4, 5)),
    ("axis-1-3d", {"axis": 1}, (3, 4, 5)),
    ("axes-1-2-4d", {"axis": [1, 2]}, (3, 4, 5, 2)),
    ("axes-all-4d", {"axis": [1, 2, 3]}, (2, 3, 4, 2)),
    ("axes-out-of-order", {"axis": [-1, 1]}, (3, 4, 2, 5)),
    ("no-center", {"center": False}, (6, 5)),
    ("no-scale", {"scale": False, "axis": [1, 2]}, (3, 4, 5, 2)),
    ("neither", {"center": False, "scale": False}, (5, 4)),
    ("rms-scaling", {"rms_scaling": True}, (6, 5)),
    ("rms-scaling-axes-no-scale", {"rms_scaling": True, "scale": False, "axis": [1, 2]}, (3, 4, 5, 2)),
    ("epsilon", {"epsilon": 0.5}, (4, 3)),
]


def _normal(shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


def _layer(kwargs, shape, seed=1):
    """Built, with random gamma and beta (the defaults, ones and zeros, would hide mistakes)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # rms_scaling's deprecation warning
        layer = layers.LayerNormalization(**kwargs)
    layer.build(shape)
    generator = np.random.default_rng(seed)
    layer.set_weights([generator.standard_normal(w.shape) + 1 for w in layer.weights])
    return layer


def _reference(x, weights, kwargs):
    """Layer normalization from its definition: each sample's normalized values as one row of a matrix."""
    axis = kwargs.get("axis", -1)
    normalized = sorted(a % x.ndim for a in (axis if isinstance(axis, list) else [axis]))
    rms = kwargs.get("rms_scaling", False)
    # Keras lays gamma and beta onto the input's axes by a reshape (see the class docstring).
    broadcast = [x.shape[i] if i in normalized else 1 for i in range(x.ndim)]
    weights = list(weights)
    gamma = weights.pop(0).reshape(broadcast) if kwargs.get("scale", True) or rms else 1.0
    beta = weights.pop(0).reshape(broadcast) if kwargs.get("center", True) and not rms else 0.0
    last = list(range(x.ndim - len(normalized), x.ndim))
    moved = np.moveaxis(x, normalized, last)
    rows = moved.reshape(-1, int(np.prod([x.shape[a] for a in normalized])))
    mean = rows.mean(axis=1, keepdims=True)
    variance = np.square(rows - mean).mean(axis=1, keepdims=True)  # biased
    scaled = (rows if rms else rows - mean) / np.sqrt(variance + kwargs.get("epsilon", 1e-3))
    return gamma * np.moveaxis(scaled.reshape(moved.shape), last, normalized) + beta


def _trainable(kwargs):
    rms = kwargs.get("rms_scaling", False)
    return (["gamma"] if kwargs.get("scale", True) or rms else []) + (
        ["beta"] if kwargs.get("center", True) and not rms else [])


# ------------------------------------------------------------- gradient checks
@pytest.mark.parametrize("case, kwargs, shape", CASES, ids=[c[0] for c in CASES])
def test_gradients_match_central_differences(case, kwargs, shape):
    with cl.backend.floatx_scope("float64"):
        layer = _layer(kwargs, shape)
        x = 2 * _normal(shape, seed=2) + 0.5
        report = cl.testing.assert_gradients_close(layer, x, tolerance=GRADIENT_TOLERANCE, epsilon=STEP)
        assert set(report.entries) == {"input"} | set(_trainable(kwargs))
        # One upstream gradient of our own, with a nonzero mean per sample (it exercises the mean terms).
        upstream = 3 * _normal(shape, seed=3) + 1.0
        report = cl.testing.assert_gradients_close(layer, x, upstream=upstream, tolerance=GRADIENT_TOLERANCE,
                                                   seed=4, epsilon=STEP)
    assert report.max_error < GRADIENT_TOLERANCE


def test_the_input_gradient_goes_through_the_mean_and_the_variance():
    """Without gamma, dx sums to zero per sample and (with epsilon 0) is orthogonal to x_hat."""
    with cl.backend.floatx_scope("float64"):
        layer = _layer({"scale": False, "epsilon": 0.0}, (5, 6))
        x, dy = 3 * _normal((5, 6), seed=5) + 2, _normal((5, 6), seed=6)
        y = layer(x)
        dx = layer.backward(dy)
    x_hat = y - layer.beta.numpy()
    np.testing.assert_allclose(dx.sum(axis=1), 0, atol=1e-12)
    np.testing.assert_allclose((dx * x_hat).sum(axis=1), 0, atol=1e-12)
    inverse_std = 1 / np.sqrt(x.var(axis=1, keepdims=True))
    assert not np.allclose(dx, dy * inverse_std)  # not the affine map a frozen statistic would give


def test_gradient_check_of_a_dense_layer_normalization_dense_model():
    with cl.backend.floatx_scope("float64"):
        model = cl.Sequential([cl.Input((5,)), layers.Dense(4, activation="tanh"),
                               layers.LayerNormalization(), layers.Dense(2)])
        model.layers[1].set_weights([_normal(4, seed=1) + 1, _normal(4, seed=2)])
        cl.testing.assert_gradients_close(model, _normal((7, 5), seed=8), tolerance=GRADIENT_TOLERANCE,
                                          epsilon=STEP)


# --------------------------------------------------------------- the numbers
@pytest.mark.parametrize("case, kwargs, shape", CASES, ids=[c[0] for c in CASES])
def test_forward_equals_the_definition(case, kwargs, shape):
    with cl.backend.floatx_scope("float64"):
        layer = _layer(kwargs, shape)
        x = 2 * _normal(shape, seed=2) + 0.5
        y = layer(x)
    np.testing.assert_allclose(y, _reference(x, layer.get_weights(), kwargs), rtol=1e-12, atol=1e-12)


def test_training_and_inference_are_the_same_and_change_nothing():
    layer = _layer({}, (4, 3))
    before = layer.get_weights()
    x = _normal((4, 3)).astype("float32")
    np.testing.assert_array_equal(layer(x, training=True), layer(x, training=False))
    for was, now in zip(before, layer.get_weights()):
        np.testing.assert_array_equal(was, now)


def test_the_variance_is_biased_and_epsilon_is_added_to_it():
    """Features 0 and 2: mean 1, biased variance 1 (the unbiased one would be 2)."""
    y = layers.LayerNormalization(epsilon=0.0)(np.array([[0.0, 2.0]], dtype="float32"))
    np.testing.assert_array_equal(y, [[-1.0, 1.0]])
    y = layers.LayerNormalization(epsilon=3.0)(np.array([[0.0, 2.0]], dtype="float32"))
    np.testing.assert_allclose(y, [[-0.5, 0.5]], rtol=1e-7)  # 1 / sqrt(1 + 3)


def test_each_sample_has_its_own_statistics():
    """Normalizing a batch equals normalizing each sample alone; rescaling one sample leaves the others."""
    layer = _layer({"axis": [1, 2]}, (4, 3, 5))
    x = (3 * _normal((4, 3, 5)) + 2).astype("float32")
    y = layer(x)
    for sample in range(4):
        np.testing.assert_allclose(layer(x[sample:sample + 1])[0], y[sample], rtol=1e-6, atol=1e-6)
    changed = x.copy()
    changed[0] = 100 * changed[0] - 50
    y_changed = layer(changed)
    np.testing.assert_array_equal(y_changed[1:], y[1:])
    np.testing.assert_allclose(y_changed[0], y[0], rtol=1e-4, atol=1e-4)  # scale-free, up to epsilon


def test_rms_scaling_divides_the_uncentred_input_and_has_no_beta():
    with pytest.warns(UserWarning, match=r"rms_scaling=True.*deprecated.*by the variance"):
        layer = layers.LayerNormalization(rms_scaling=True, center=True, scale=False, epsilon=0.0)
    y = layer(np.array([[1.0, 3.0]], dtype="float32"))  # variance 1 around the mean 2
    np.testing.assert_array_equal(y, [[1.0, 3.0]])
    assert layer.weight_names == ["gamma"]
    assert layer.get_config()["rms_scaling"] is True
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        layers.LayerNormalization()  # no warning without it


def test_float16_is_computed_in_float32_and_returned_in_the_layer_dtype():
    layer = layers.LayerNormalization()
    x = (_normal((4, 6)) * 300 + 100).astype("float16")  # its squares overflow float16 (max 65504)
    y = layer(x)
    expected = _reference(x.astype("float64"), layer.get_weights(), {})
    # Keras's path: float32 maths, the result cast to the input's float16, then to the layer's float32.
    assert y.dtype == np.float32
    np.testing.assert_array_equal(y, y.astype("float16").astype("float32"))
    np.testing.assert_allclose(y, expected, rtol=2e-3, atol=2e-3)
    dx = layer.backward(np.ones_like(y))
    assert dx.dtype == np.float16 and layer.grads["gamma"].dtype == np.float32
    half = layers.LayerNormalization(dtype="float16")
    assert half(x).dtype == np.float16 and half.gamma.dtype == np.float16
    assert np.all(np.isfinite(half(x)))


def test_float64_inputs_are_not_rounded_before_the_statistics():
    """Keras does not autocast here: a float64 input is normalized in float64, the result made float32."""
    x = np.array([[1.0, 1.0 + 1e-9, 1.0 + 2e-9]])  # differences float32 cannot hold
    y = layers.LayerNormalization(epsilon=1e-30)(x)
    assert y.dtype == np.float32
    np.testing.assert_allclose(y, [[-np.sqrt(1.5), 0.0, np.sqrt(1.5)]], rtol=1e-5, atol=1e-5)
    assert np.all(layers.LayerNormalization(epsilon=1e-30)(x.astype("float32")) == 0)  # all 1.0 in float32


def test_integer_inputs_are_normalized_as_floats():
    """A deliberate difference: Keras casts its float result back to the integer dtype ([-1, 0, 1] here)."""
    y = layers.LayerNormalization(epsilon=0.0)(np.array([[1, 2, 4]], dtype="int32"))
    assert y.dtype == np.float32
    x = np.array([1.0, 2.0, 4.0])
    np.testing.assert_allclose(y[0], (x - x.mean()) / x.std(), rtol=1e-6)


def test_the_mask_passes_through_to_the_layers_after_it():
    """Embedding(mask_zero) -> LayerNormalization -> GlobalAveragePooling1D averages the kept steps only."""
    model = cl.Sequential([cl.Input((4,), dtype="int32"), layers.Embedding(6, 3, mask_zero=True),
                           layers.LayerNormalization(), layers.GlobalAveragePooling1D()])
    ids = np.array([[1, 2, 0, 0], [3, 4, 5, 0]])
    assert layers.LayerNormalization.supports_masking
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a dropped mask would warn
        y = model.predict(ids, verbose=0)
    normalized = model.layers[1](model.layers[0](ids))
    np.testing.assert_allclose(y[0], normalized[0, :2].mean(axis=0), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(y[1], normalized[1, :3].mean(axis=0), rtol=1e-6, atol=1e-6)
    mask = np.array([[True, False]])
    assert layers.LayerNormalization().compute_mask(np.zeros((1, 2, 3)), mask) is mask


def test_other_ranks_are_accepted_when_the_normalized_axes_keep_their_sizes():
    """As Keras: built on (None, 5), the layer also normalizes (2, 3, 5) inputs."""
    layer = _layer({}, (None, 5))
    x = _normal((2, 3, 5)).astype("float32")
    np.testing.assert_allclose(layer(x), _reference(x, layer.get_weights(), {}), rtol=1e-5, atol=1e-5)
    plain = layers.LayerNormalization(center=False, scale=False)
    plain.build((None, 5))
    assert plain(np.ones((2, 7), "float32")).shape == (2, 7)  # no weights: any size, as in Keras


def test_strict_backend_gives_numpy_numbers():
    x, dy = 2 * _normal((3, 4, 5, 2)) + 1, _normal((3, 4, 5, 2), seed=1)
    results = []
    for name in ("numpy", "strict"):
        cl.backend.clear_session()
        with cl.backend.backend_scope(name), cl.backend.floatx_scope("float64"):
            xp = cl.backend.xp
            outputs = []
            for kwargs in ({"axis": [1, 2]}, {"rms_scaling": True}):
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", UserWarning)
                    layer = _layer(kwargs, x.shape)
                outputs += [layer(xp.asarray(x)), layer.backward(xp.asarray(dy)), *layer.grads.values()]
            results.append([cl.backend.to_numpy(value) for value in outputs])
    for numpy_value, strict_value in zip(*results):
        np.testing.assert_array_equal(numpy_value, strict_value)


# ------------------------------------------------------------- the contract
@pytest.mark.parametrize("case, kwargs, shape", CASES, ids=[c[0] for c in CASES])
def test_layer_contract(case, kwargs, shape):
    axis = kwargs.get("axis", -1)
    features = int(np.prod([shape[a] for a in (axis if isinstance(axis, list) else [axis])]))
    trainable = _trainable(kwargs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        layer = cl.testing.layer_test(
            layers.LayerNormalization, kwargs=kwargs, input_shape=shape, expected_output_shape=shape,
            expected_num_weights=len(trainable), expected_num_params=len(trainable) * features,
        )
    assert layer.weight_names == trainable
    assert all(w.trainable for w in layer.weights)


def test_weights_shapes_order_and_paths():
    layer = layers.LayerNormalization(axis=[2, 1], name="ln")
    layer.build((None, 3, 4, 5))
    assert [w.path for w in layer.weights] == ["ln/gamma", "ln/beta"]
    assert [w.shape for w in layer.weights] == [(3, 4), (3, 4)]
    np.testing.assert_array_equal(layer.gamma.numpy(), np.ones((3, 4)))
    np.testing.assert_array_equal(layer.beta.numpy(), np.zeros((3, 4)))
    out_of_order = layers.LayerNormalization(axis=[-1, 1])
    out_of_order.build((None, 3, 4, 5))
    assert out_of_order.gamma.shape == (5, 3)  # sorted as given: -1 before 1, as Keras does


def test_axis_becomes_a_sorted_list_at_build_as_in_keras():
    layer = layers.LayerNormalization(name="ln")
    assert layer.get_config()["axis"] == -1
    layer(np.ones((2, 3), "float32"))
    assert layer.get_config()["axis"] == [-1]
    listed = layers.LayerNormalization(axis=(3, 1))
    assert listed.get_config()["axis"] == [3, 1]
    listed.build((2, 3, 4, 5))
    assert listed.get_config()["axis"] == [1, 3]


def test_config_round_trip_and_deserialize():
    layer = layers.LayerNormalization(axis=[1, 2], epsilon=1e-5, center=False, name="ln",
                                      gamma_initializer="random_normal", beta_regularizer="l2")
    config = layer.get_config()
    assert {key: config[key] for key in ("axis", "epsilon", "center", "scale", "rms_scaling",
                                         "beta_regularizer", "gamma_constraint")} == {
        "axis": [1, 2], "epsilon": 1e-5, "center": False, "scale": True, "rms_scaling": False,
        "beta_regularizer": {"module": "keras.regularizers", "class_name": "L2", "config": {"l2": 0.01},
                             "registered_name": None},
        "gamma_constraint": None,
    }
    assert layers.LayerNormalization.from_config(config).get_config() == config
    rebuilt = layers.deserialize({"class_name": "LayerNormalization", "config": config,
                                  "build_config": {"input_shape": [None, 3, 4, 2]}})
    assert isinstance(rebuilt, layers.LayerNormalization) and rebuilt.built
    assert rebuilt.gamma.shape == (3, 4) and rebuilt.beta is None


def test_initializers_regularizers_and_constraints_reach_gamma_and_beta():
    layer = layers.LayerNormalization(gamma_initializer="zeros", beta_initializer=cl.initializers.Constant(2.0),
                                      gamma_regularizer="l2", beta_regularizer=cl.regularizers.L1(0.5),
                                      gamma_constraint="non_neg", beta_constraint=cl.constraints.MaxNorm(1.0))
    layer.build((4, 3))
    np.testing.assert_array_equal(np.stack(layer.get_weights()), [[0] * 3, [2] * 3])
    assert isinstance(layer.gamma.regularizer, cl.regularizers.L2)
    assert isinstance(layer.beta.regularizer, cl.regularizers.L1)
    assert isinstance(layer.gamma.constraint, cl.constraints.NonNeg)
    assert isinstance(layer.beta.constraint, cl.constraints.MaxNorm)


def test_a_gamma_regularizer_adds_its_penalty_to_the_training_loss():
    layer = layers.LayerNormalization(gamma_regularizer=cl.regularizers.L2(0.5))
    model = cl.Sequential([cl.Input((3,)), layer])
    model.compile(optimizer=cl.optimizers.SGD(0.0), loss="mse")
    x = _normal((8, 3)).astype("float32")
    plain = float(np.mean(np.square(model(x))))
    assert model.train_on_batch(x, np.zeros((8, 3), "float32")) == pytest.approx(plain + 0.5 * 3, rel=1e-5)


def test_fit_trains_gamma_and_beta():
    model = cl.Sequential([cl.Input((4,)), layers.Dense(3), layers.LayerNormalization(), layers.Dense(1)])
    model.compile(optimizer=cl.optimizers.Adam(0.05), loss="mse")
    x = _normal((32, 4)).astype("float32")
    y = (x[:, :1] * 2 + 1).astype("float32")
    history = model.fit(x, y, epochs=20, batch_size=8, verbose=0, shuffle=False).history["loss"]
    assert history[-1] < 0.5 * history[0]
    gamma, beta = model.layers[1].get_weights()
    assert not np.allclose(gamma, 1) and not np.allclose(beta, 0)


def test_symbolic_call_and_compute_output_shape():
    inputs = cl.Input((4, 5, 3))
    outputs = layers.LayerNormalization(axis=[1, 2])(inputs)
    assert outputs.shape == (None, 4, 5, 3)
    assert layers.LayerNormalization(axis=1).compute_output_shape((None, 4, 5)) == (None, 4, 5)


def test_summary_counts():
    lines = []
    model = cl.Sequential([cl.Input((5,)), layers.Dense(4), layers.LayerNormalization(), layers.Dense(2)])
    model.summary(print_fn=lines.append)
    text = "\n".join(lines)
    assert re.search(r"Total params: 42\b", text) and re.search(r"Non-trainable params: 0\b", text)


# ------------------------------------------------------------- bad input
def test_axis_of_the_wrong_type_is_refused():
    with pytest.raises(TypeError, match=r"LayerNormalization 'ln_type': axis must be an int or a non-empty "
                                        r"list of ints\. Received: axis='1'"):
        layers.LayerNormalization(axis="1", name="ln_type")
    with pytest.raises(TypeError, match=r"Received: axis=\[\]"):
        layers.LayerNormalization(axis=[])
    with pytest.raises(TypeError, match=r"Received: axis=\[1, 2\.0\]"):
        layers.LayerNormalization(axis=[1, 2.0])


def test_axis_out_of_range_names_the_layer_the_range_and_the_axis():
    layer = layers.LayerNormalization(axis=2, name="ln_bad")
    with pytest.raises(ValueError, match=r"LayerNormalization 'ln_bad': axis 2 is out of bounds for an input "
                                         r"of rank 2: expected -2 <= axis < 2\. Received: axis=2"):
        layer(np.zeros((4, 5), "float32"))
    with pytest.raises(ValueError, match=r"'ln_neg'.*axis -3 .* Received: axis=\[1, -3\]"):
        layers.LayerNormalization(axis=[1, -3], name="ln_neg").compute_output_shape((None, 5))
    with pytest.raises(ValueError, match=r"'ln_twice'.*the same axis twice.*Received: axis=\[1, -1\]"):
        layers.LayerNormalization(axis=[1, -1], name="ln_twice").build((2, 3))


@pytest.mark.parametrize("epsilon", [-1e-3, float("nan"), "0.1", True])
def test_a_bad_epsilon_is_refused(epsilon):
    with pytest.raises(ValueError, match=r"LayerNormalization 'ln_e': epsilon must be a float >= 0\. "
                                         rf"Received: epsilon={re.escape(repr(epsilon))}"):
        layers.LayerNormalization(epsilon=epsilon, name="ln_e")


def test_an_unknown_normalized_size_is_refused_at_build():
    with pytest.raises(ValueError, match=r"'ln_none': the size of the normalized axis \(axes\) \[-1\] must be "
                                         r"known.*Received: input_shape=\(None, 3, None\)"):
        layers.LayerNormalization(name="ln_none").build((None, 3, None))


def test_an_input_whose_normalized_axes_changed_size_is_refused():
    layer = layers.LayerNormalization(name="ln_sizes")
    layer(np.zeros((2, 5), "float32"))
    with pytest.raises(ValueError, match=r"LayerNormalization 'ln_sizes': the normalized axes \[-1\] must have "
                                         r"the sizes \(5,\) the layer was built with.*Received: input with "
                                         r"shape \(2, 6\)"):
        layer(np.zeros((2, 6), "float32"))
    with pytest.raises(ValueError, match=r"'ln_sizes'.*Received: input with shape \(None, 4\)"):
        layer(cl.Input((4,)))
    with pytest.raises(TypeError, match=r"unrecognized keyword arguments: \['momentum'\]"):
        layers.LayerNormalization(momentum=0.9)
