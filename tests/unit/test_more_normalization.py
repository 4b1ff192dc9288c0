"""UnitNormalization, GroupNormalization, RMSNormalization: gradient checks, formulas, dtypes, masks, bad input.

Every configuration is checked against central differences in float64
(relative error < 1e-6 on the input and on every weight, through
``cl.testing.assert_gradients_close``) with the checker's random upstream
gradient and with one of our own. The tf.keras comparison lives in
``tests/parity/test_more_normalization_parity.py``.
"""
import re
import warnings

import numpy as np
import pytest

import course_lib as cl
from course_lib import layers

GRADIENT_TOLERANCE = 1e-6
STEP = 1e-4  # as for LayerNormalization: smooth layers, float64 rounding far below the gradients

# (id, class name, constructor arguments, input shape).
CASES = [
    ("unit-2d", "UnitNormalization", {}, (6, 5)),
    ("unit-axis-1-3d", "UnitNormalization", {"axis": 1}, (3, 4, 5)),
    ("unit-axes-1-2-4d", "UnitNormalization", {"axis": [1, 2]}, (3, 4, 5, 2)),
    ("unit-axes-unsorted", "UnitNormalization", {"axis": (-1, 1)}, (3, 4, 2)),
    ("group-2-of-6", "GroupNormalization", {"groups": 2}, (3, 4, 6)),
    ("group-1", "GroupNormalization", {"groups": 1}, (3, 4, 6)),
    ("group-instance", "GroupNormalization", {"groups": -1}, (3, 4, 6)),
    ("group-channels-first", "GroupNormalization", {"groups": 3, "axis": 1}, (2, 6, 4, 3)),
    ("group-axis-minus-2", "GroupNormalization", {"groups": 2, "axis": -2}, (2, 3, 4, 5)),
    ("group-2d", "GroupNormalization", {"groups": 4}, (5, 8)),
    ("group-no-center", "GroupNormalization", {"groups": 2, "center": False}, (3, 4, 6)),
    ("group-no-scale", "GroupNormalization", {"groups": 3, "scale": False, "axis": 1}, (2, 6, 4)),
    ("group-neither", "GroupNormalization", {"groups": 2, "center": False, "scale": False}, (3, 4, 6)),
    ("group-epsilon", "GroupNormalization", {"groups": 2, "epsilon": 0.5}, (3, 4, 6)),
    ("rms-2d", "RMSNormalization", {}, (6, 5)),
    ("rms-3d", "RMSNormalization", {}, (3, 4, 5)),
    ("rms-axes-1-2", "RMSNormalization", {"axis": [1, 2]}, (3, 4, 5)),
    ("rms-axis-1-square", "RMSNormalization", {"axis": 1}, (3, 4, 4)),
    ("rms-epsilon", "RMSNormalization", {"epsilon": 0.5}, (4, 3)),
]
IDS = [case[0] for case in CASES]


def _normal(shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


def _layer(name, kwargs, shape, seed=1):
    """Built, with random weights (the defaults, ones and zeros, would hide mistakes)."""
    layer = getattr(layers, name)(**kwargs)
    layer.build(shape)
    generator = np.random.default_rng(seed)
    layer.set_weights([generator.standard_normal(w.shape) + 1 for w in layer.weights])
    return layer


def _axes(axis, ndim):
    return sorted(a % ndim for a in (axis if isinstance(axis, (list, tuple)) else [axis]))


def _reference(name, x, weights, kwargs):
    """Each layer from its definition, with loops over samples and groups (no shared code with the layer)."""
    weights = list(weights)
    if name == "UnitNormalization":
        axes = _axes(kwargs.get("axis", -1), x.ndim)
        norm = np.sqrt(np.sum(x ** 2, axis=tuple(axes), keepdims=True))
        return x / np.maximum(norm, 1e-12)
    if name == "RMSNormalization":
        axes = _axes(kwargs.get("axis", -1), x.ndim)
        rms = np.sqrt(np.mean(x ** 2, axis=tuple(axes), keepdims=True) + kwargs.get("epsilon", 1e-6))
        return x / rms * weights[0]  # Keras's broadcasting of scale, trailing axes first
    axis = kwargs.get("axis", -1) % x.ndim
    channels = x.shape[axis]
    groups = kwargs.get("groups", 32)
    groups = channels if groups == -1 else groups
    size = channels // groups
    gamma = weights.pop(0) if kwargs.get("scale", True) else np.ones(channels)
    beta = weights.pop(0) if kwargs.get("center", True) else np.zeros(channels)
    moved = np.moveaxis(x, axis, -1)  # channels last
    out = np.empty_like(moved)
    for sample in range(x.shape[0]):
        for group in range(groups):
            part = moved[sample, ..., group * size:(group + 1) * size]
            mean, variance = part.mean(), part.var()
            normalized = (part - mean) / np.sqrt(variance + kwargs.get("epsilon", 1e-3))
            channel = slice(group * size, (group + 1) * size)
            out[sample, ..., channel] = normalized * gamma[channel] + beta[channel]
    return np.moveaxis(out, -1, axis)


def _trainable(name, kwargs):
    if name == "UnitNormalization":
        return []
    if name == "RMSNormalization":
        return ["scale"]
    return (["gamma"] if kwargs.get("scale", True) else []) + (["beta"] if kwargs.get("center", True) else [])


# ------------------------------------------------------------- gradient checks
@pytest.mark.parametrize("case, name, kwargs, shape", CASES, ids=IDS)
def test_gradients_match_central_differences(case, name, kwargs, shape):
    with cl.backend.floatx_scope("float64"):
        layer = _layer(name, kwargs, shape)
        x = 2 * _normal(shape, seed=2) + 0.5
        report = cl.testing.assert_gradients_close(layer, x, tolerance=GRADIENT_TOLERANCE, epsilon=STEP)
        assert set(report.entries) == {"input"} | set(_trainable(name, kwargs))
        # An upstream gradient of our own, with a nonzero mean per sample (it exercises the mean terms).
        upstream = 3 * _normal(shape, seed=3) + 1.0
        report = cl.testing.assert_gradients_close(layer, x, upstream=upstream, tolerance=GRADIENT_TOLERANCE,
                                                   seed=4, epsilon=STEP)
    assert report.max_error < GRADIENT_TOLERANCE


def test_gradient_check_of_a_conv_group_normalization_dense_model():
    with cl.backend.floatx_scope("float64"):
        model = cl.Sequential([cl.Input((5, 5, 2)), layers.Conv2D(4, 3, activation="tanh"),
                               layers.GroupNormalization(groups=2), layers.Flatten(), layers.Dense(3),
                               layers.RMSNormalization(), layers.UnitNormalization()])
        model.layers[1].set_weights([_normal(4, seed=1) + 1, _normal(4, seed=2)])
        cl.testing.assert_gradients_close(model, _normal((3, 5, 5, 2), seed=8), tolerance=GRADIENT_TOLERANCE,
                                          epsilon=STEP)


def test_group_normalization_input_gradient_sums_to_zero_per_group():
    """Without gamma each group's dx sums to zero and is orthogonal to x_hat (epsilon 0)."""
    with cl.backend.floatx_scope("float64"):
        layer = _layer("GroupNormalization", {"groups": 2, "scale": False, "epsilon": 0.0}, (3, 4, 6))
        x, dy = 3 * _normal((3, 4, 6), seed=5) + 2, _normal((3, 4, 6), seed=6)
        y = layer(x)
        dx = layer.backward(dy)
    x_hat = (y - layer.beta.numpy()).reshape(3, 4, 2, 3)
    grouped = dx.reshape(3, 4, 2, 3)
    np.testing.assert_allclose(grouped.sum(axis=(1, 3)), 0, atol=1e-12)
    np.testing.assert_allclose((grouped * x_hat).sum(axis=(1, 3)), 0, atol=1e-12)


def test_unit_normalization_gradient_is_orthogonal_to_the_output():
    with cl.backend.floatx_scope("float64"):
        layer = layers.UnitNormalization()
        x, dy = _normal((4, 5), seed=1), _normal((4, 5), seed=2)
        y = layer(x)
        dx = layer.backward(dy)
    np.testing.assert_allclose((dx * x).sum(axis=1), 0, atol=1e-12)  # the norm's direction gets nothing
    np.testing.assert_allclose(np.linalg.norm(y, axis=1), 1, rtol=1e-12)


def test_unit_normalization_clips_a_zero_norm_as_keras_does():
    """Norm below 1e-12: x * 1e12 (a zero row stays zero), and the gradient is dy * 1e12, not NaN."""
    layer = layers.UnitNormalization()
    x = np.array([[0.0, 0.0, 0.0], [1e-13, 0.0, 0.0], [1.0, 2.0, 2.0]], dtype="float32")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no division by zero
        y = layer(x)
        dx = layer.backward(np.array([[1.0, 2.0, 3.0]] * 3, dtype="float32"))
    np.testing.assert_allclose(y, [[0, 0, 0], [0.1, 0, 0], [1 / 3, 2 / 3, 2 / 3]], rtol=1e-6)
    np.testing.assert_allclose(dx[:2], [[1e12, 2e12, 3e12]] * 2, rtol=1e-6)
    assert np.all(np.isfinite(dx))


# --------------------------------------------------------------- the numbers
@pytest.mark.parametrize("case, name, kwargs, shape", CASES, ids=IDS)
def test_forward_equals_the_definition(case, name, kwargs, shape):
    with cl.backend.floatx_scope("float64"):
        layer = _layer(name, kwargs, shape)
        x = 2 * _normal(shape, seed=2) + 0.5
        y = layer(x)
    np.testing.assert_allclose(y, _reference(name, x, layer.get_weights(), kwargs), rtol=1e-12, atol=1e-12)


def test_group_normalization_with_one_group_is_layer_normalization_with_per_channel_weights():
    x = (3 * _normal((4, 5, 6)) + 1).astype("float32")
    group = _layer("GroupNormalization", {"groups": 1}, x.shape)
    plain = layers.LayerNormalization(axis=[1, 2], center=False, scale=False)(x)
    gamma, beta = group.get_weights()
    np.testing.assert_allclose(group(x), plain * gamma + beta, rtol=1e-5, atol=1e-5)


def test_group_normalization_instance_mode_normalizes_each_channel_over_space():
    layer = layers.GroupNormalization(groups=-1, center=False, scale=False, epsilon=0.0)
    x = (3 * _normal((2, 5, 4, 3)) + 1).astype("float32")
    y = layer(x)
    assert layer.groups == 3 and layer.get_config()["groups"] == 3
    np.testing.assert_allclose(y.mean(axis=(1, 2)), 0, atol=1e-6)
    np.testing.assert_allclose(y.std(axis=(1, 2)), 1, rtol=1e-5)


def test_rms_normalization_does_not_centre_and_has_only_a_scale():
    layer = layers.RMSNormalization(epsilon=0.0)
    y = layer(np.array([[3.0, 4.0, 0.0, 0.0]], dtype="float32"))  # mean square 25 / 4
    np.testing.assert_allclose(y, [[1.2, 1.6, 0.0, 0.0]], rtol=1e-6)
    assert layer.weight_names == ["scale"] and layer.scale.path == f"{layer.name}/scale"
    np.testing.assert_array_equal(layer.scale.numpy(), np.ones(4))


def test_rms_normalization_scale_broadcasts_as_keras_does_on_non_trailing_axes():
    """axis=1 on (N, 4, 4): the statistics are over axis 1, scale multiplies the last axis (Keras's broadcast)."""
    layer = _layer("RMSNormalization", {"axis": 1, "epsilon": 0.0}, (2, 4, 4))
    x = _normal((2, 4, 4)).astype("float32")
    rms = np.sqrt(np.mean(x ** 2, axis=1, keepdims=True))
    np.testing.assert_allclose(layer(x), x / rms * layer.scale.numpy(), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name, kwargs", [("UnitNormalization", {}), ("GroupNormalization", {"groups": 2}),
                                          ("RMSNormalization", {})])
def test_training_and_inference_are_the_same(name, kwargs):
    layer = _layer(name, kwargs, (4, 6))
    x = _normal((4, 6)).astype("float32")
    np.testing.assert_array_equal(layer(x, training=True), layer(x, training=False))


def test_dtypes_follow_keras():
    x64 = np.array([[1.0, 1.0 + 1e-9, 1.0 + 2e-9, 1.0]])
    # GroupNormalization does not autocast: float64 statistics, result float32.
    y = layers.GroupNormalization(groups=1, epsilon=1e-30)(x64)
    assert y.dtype == np.float32 and not np.all(y == 0)
    # UnitNormalization and RMSNormalization autocast float inputs to the layer's dtype.
    assert layers.UnitNormalization()(x64).dtype == np.float32
    assert layers.RMSNormalization()(x64).dtype == np.float32
    x16 = (_normal((3, 8)) * 300 + 100).astype("float16")  # squares overflow float16
    # GroupNormalization: float32 maths, the result rounded to the input's float16, returned as float32.
    group = layers.GroupNormalization(groups=2)
    y = group(x16)
    assert y.dtype == np.float32 and np.all(np.isfinite(y))
    np.testing.assert_array_equal(y, y.astype("float16").astype("float32"))
    np.testing.assert_allclose(y, _reference("GroupNormalization", x16.astype("float64"), group.get_weights(),
                                             {"groups": 2}), rtol=2e-3, atol=2e-3)
    dx = group.backward(np.ones((3, 8), "float32"))
    assert dx.dtype == np.float16 and group.grads["gamma"].dtype == np.float32
    # RMSNormalization: autocast to float32 first, so no float16 rounding at all.
    y = layers.RMSNormalization()(x16)
    assert y.dtype == np.float32 and not np.array_equal(y, y.astype("float16").astype("float32"))
    for half in (layers.RMSNormalization(dtype="float16"), layers.GroupNormalization(2, dtype="float16")):
        y = half(x16)  # float16 layers still compute the statistics in float32: no overflow
        assert y.dtype == np.float16 and half.weights[0].dtype == np.float16 and np.all(np.isfinite(y))
    assert layers.GroupNormalization(groups=2, dtype="float64")(x16.astype("float64")).dtype == np.float64


def test_integer_inputs_are_normalized_as_floats():
    """A deliberate difference: Keras truncates GroupNormalization's and RMSNormalization's float results
    back to int32 and refuses integers in UnitNormalization."""
    x = np.array([[1, 2, 4, 8]], dtype="int32")
    floats = x.astype("float32")
    for layer in (layers.GroupNormalization(groups=2), layers.RMSNormalization(), layers.UnitNormalization()):
        y = layer(x)
        assert y.dtype == np.float32
        np.testing.assert_allclose(y, type(layer).from_config(layer.get_config())(floats), rtol=1e-6)


def test_masks_pass_through_unit_and_group_normalization_but_not_rms_normalization():
    ids = np.array([[1, 2, 0, 0], [3, 4, 5, 0]])
    for layer in (layers.UnitNormalization(), layers.GroupNormalization(groups=2)):
        model = cl.Sequential([cl.Input((4,), dtype="int32"), layers.Embedding(6, 4, mask_zero=True), layer,
                               layers.GlobalAveragePooling1D()])
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # a dropped mask would warn
            y = model.predict(ids, verbose=0)
        normalized = model.layers[1](model.layers[0](ids))
        np.testing.assert_allclose(y[0], normalized[0, :2].mean(axis=0), rtol=1e-6, atol=1e-6)
        np.testing.assert_allclose(y[1], normalized[1, :3].mean(axis=0), rtol=1e-6, atol=1e-6)
    assert layers.UnitNormalization.supports_masking and layers.GroupNormalization.supports_masking
    assert not layers.RMSNormalization.supports_masking  # as in Keras 3.15


def test_strict_backend_gives_numpy_numbers():
    x, dy = 2 * _normal((3, 4, 6)) + 1, _normal((3, 4, 6), seed=1)
    configs = [("UnitNormalization", {"axis": [1, 2]}), ("GroupNormalization", {"groups": 3}),
               ("GroupNormalization", {"groups": 2, "axis": 1}), ("RMSNormalization", {})]
    results = []
    for backend_name in ("numpy", "strict"):
        cl.backend.clear_session()
        with cl.backend.backend_scope(backend_name), cl.backend.floatx_scope("float64"):
            xp = cl.backend.xp
            outputs = []
            for name, kwargs in configs:
                layer = _layer(name, kwargs, x.shape)
                outputs += [layer(xp.asarray(x)), layer.backward(xp.asarray(dy)), *layer.grads.values()]
            results.append([cl.backend.to_numpy(value) for value in outputs])
    for numpy_value, strict_value in zip(*results, strict=True):
        np.testing.assert_array_equal(numpy_value, strict_value)


# ------------------------------------------------------------- the contract
@pytest.mark.parametrize("case, name, kwargs, shape", CASES, ids=IDS)
def test_layer_contract(case, name, kwargs, shape):
    trainable = _trainable(name, kwargs)
    layer = cl.testing.layer_test(getattr(layers, name), kwargs=kwargs, input_shape=shape,
                                  expected_output_shape=shape, expected_num_weights=len(trainable))
    assert layer.weight_names == trainable
    assert all(w.trainable for w in layer.weights)


def test_weights_shapes_order_initializers_and_paths():
    group = layers.GroupNormalization(groups=2, axis=1, name="gn")
    group.build((None, 6, 5))
    assert [w.path for w in group.weights] == ["gn/gamma", "gn/beta"]
    assert [w.shape for w in group.weights] == [(6,), (6,)]
    np.testing.assert_array_equal(np.stack(group.get_weights()), [np.ones(6), np.zeros(6)])
    rms = layers.RMSNormalization(axis=(2, 1), name="rms")
    rms.build((None, 3, 4, 5))
    assert [w.path for w in rms.weights] == ["rms/scale"] and rms.scale.shape == (3, 4)
    assert layers.UnitNormalization().weights == []


def test_initializers_regularizers_and_constraints_reach_gamma_and_beta():
    layer = layers.GroupNormalization(groups=1, gamma_initializer="zeros",
                                      beta_initializer=cl.initializers.Constant(2.0), gamma_regularizer="l2",
                                      beta_regularizer=cl.regularizers.L1(0.5), gamma_constraint="non_neg",
                                      beta_constraint=cl.constraints.MaxNorm(1.0))
    layer.build((4, 3))
    np.testing.assert_array_equal(np.stack(layer.get_weights()), [[0] * 3, [2] * 3])
    assert isinstance(layer.gamma.regularizer, cl.regularizers.L2)
    assert isinstance(layer.beta.regularizer, cl.regularizers.L1)
    assert isinstance(layer.gamma.constraint, cl.constraints.NonNeg)
    assert isinstance(layer.beta.constraint, cl.constraints.MaxNorm)


def test_a_gamma_regularizer_adds_its_penalty_to_the_training_loss():
    model = cl.Sequential([cl.Input((4,)), layers.GroupNormalization(2, gamma_regularizer=cl.regularizers.L2(0.5))])
    model.compile(optimizer=cl.optimizers.SGD(0.0), loss="mse")
    x = _normal((8, 4)).astype("float32")
    plain = float(np.mean(np.square(model(x))))
    assert model.train_on_batch(x, np.zeros((8, 4), "float32")) == pytest.approx(plain + 0.5 * 4, rel=1e-5)


def test_fit_trains_every_weight():
    model = cl.Sequential([cl.Input((6, 6, 1)), layers.Conv2D(4, 3), layers.GroupNormalization(2),
                           layers.Flatten(), layers.Dense(5), layers.RMSNormalization(), layers.UnitNormalization(),
                           layers.Dense(1)])
    model.compile(optimizer=cl.optimizers.Adam(0.05), loss="mse")
    x = _normal((32, 6, 6, 1)).astype("float32")
    y = (x[:, :3, :3, 0].mean(axis=(1, 2))[:, None] * 2 + 1).astype("float32")
    history = model.fit(x, y, epochs=15, batch_size=8, verbose=0, shuffle=False).history["loss"]
    assert history[-1] < 0.5 * history[0]
    gamma, beta = model.layers[1].get_weights()
    assert not np.allclose(gamma, 1) and not np.allclose(beta, 0)
    assert not np.allclose(model.layers[4].get_weights()[0], 1)


def test_config_round_trip_and_deserialize():
    group = layers.GroupNormalization(groups=-1, axis=1, epsilon=1e-5, center=False, name="gn",
                                      gamma_initializer="random_normal", beta_regularizer="l2")
    config = group.get_config()
    assert {key: config[key] for key in ("groups", "axis", "epsilon", "center", "scale", "beta_regularizer",
                                         "gamma_constraint")} == {
        "groups": -1, "axis": 1, "epsilon": 1e-5, "center": False, "scale": True,
        "beta_regularizer": {"module": "keras.regularizers", "class_name": "L2", "config": {"l2": 0.01},
                             "registered_name": None},
        "gamma_constraint": None,
    }
    assert "autocast" not in config  # Keras's GroupNormalization does not write it either
    assert layers.GroupNormalization.from_config(config).get_config() == config
    rebuilt = layers.deserialize({"class_name": "GroupNormalization", "config": config,
                                  "build_config": {"input_shape": [None, 4, 3]}})
    assert isinstance(rebuilt, layers.GroupNormalization) and rebuilt.built and rebuilt.groups == 4
    assert rebuilt.gamma.shape == (4,) and rebuilt.beta is None
    rms = layers.RMSNormalization(axis=(2, 1), epsilon=1e-4)
    assert rms.get_config()["axis"] == (2, 1)  # as given until build, as in Keras (UnitNormalization: a list)
    rms(np.ones((2, 3, 4), "float32"))
    assert rms.get_config()["axis"] == [1, 2] and rms.get_config()["epsilon"] == 1e-4
    rebuilt = layers.deserialize(layers.serialize(rms))
    assert isinstance(rebuilt, layers.RMSNormalization) and rebuilt.scale.shape == (3, 4)
    unit = layers.UnitNormalization(axis=(2, 1))
    assert unit.get_config()["axis"] == [2, 1]  # kept as given, never sorted
    assert isinstance(layers.deserialize(layers.serialize(unit)), layers.UnitNormalization)


def test_symbolic_calls_and_summary_counts():
    inputs = cl.Input((4, 5, 6))
    hidden = layers.GroupNormalization(groups=3)(inputs)
    hidden = layers.RMSNormalization(axis=[2, 3])(hidden)
    outputs = layers.UnitNormalization(axis=[1, 2])(hidden)
    assert outputs.shape == (None, 4, 5, 6)
    model = cl.Model(inputs, outputs)
    lines = []
    model.summary(print_fn=lines.append)
    assert re.search(r"Total params: 42\b", "\n".join(lines))  # 6 + 6 + 5 * 6


# ------------------------------------------------------------- bad input
@pytest.mark.parametrize("groups", [0, -2, 2.0, True, "4"])
def test_a_bad_groups_is_refused(groups):
    with pytest.raises(ValueError, match=r"GroupNormalization 'gn_g': groups must be a positive int \(or -1 for "
                                         rf"instance normalization\)\. Received: groups={re.escape(repr(groups))}"):
        layers.GroupNormalization(groups=groups, name="gn_g")


def test_groups_must_divide_the_channels():
    with pytest.raises(ValueError, match=r"GroupNormalization 'gn_d': groups must divide the number of channels "
                                         r"\(axis -1, 4\).*Received: groups=3, input_shape=\(None, 4\)"):
        layers.GroupNormalization(groups=3, name="gn_d").build((None, 4))
    with pytest.raises(ValueError, match=r"'gn_more'.*expected groups <= 4.*Received: groups=8"):
        layers.GroupNormalization(groups=8, name="gn_more")(np.ones((2, 4), "float32"))
    with pytest.raises(ValueError, match=r"'gn_none': axis -1 \(the channels\) must have a known size.*"
                                         r"Received: input_shape=\(None, None\)"):
        layers.GroupNormalization(groups=2, name="gn_none")(cl.Input((None,)))


def test_group_normalization_axis_errors():
    with pytest.raises(TypeError, match=r"GroupNormalization 'gn_l': axis must be an int \(the channels axis\)\. "
                                        r"Received: axis=\[1\]"):
        layers.GroupNormalization(groups=2, axis=[1], name="gn_l")
    with pytest.raises(ValueError, match=r"'gn_b': axis 0 is the batch axis"):
        layers.GroupNormalization(groups=2, axis=0, name="gn_b").build((4, 4))
    with pytest.raises(ValueError, match=r"'gn_o': axis 3 is out of bounds for an input of rank 2"):
        layers.GroupNormalization(groups=2, axis=3, name="gn_o")(np.ones((4, 4), "float32"))
    with pytest.raises(ValueError, match=r"out of bounds"):
        layers.GroupNormalization(groups=2, axis=3).compute_output_shape((None, 4))


def test_group_normalization_keeps_the_rank_and_channels_it_was_built_with():
    layer = layers.GroupNormalization(groups=2, name="gn_spec")
    layer(np.ones((2, 3, 4), "float32"))
    with pytest.raises(ValueError, match=r"layer 'gn_spec' is incompatible.*expected axis -1 of input shape to "
                                         r"have value 4.*Received: input with shape \(2, 3, 6\)"):
        layer(np.ones((2, 3, 6), "float32"))
    with pytest.raises(ValueError, match=r"'gn_spec' is incompatible.*expected ndim=3, found ndim=2"):
        layer(np.ones((2, 4), "float32"))


@pytest.mark.parametrize("name, kwargs", [("GroupNormalization", {"groups": 2}), ("RMSNormalization", {})])
@pytest.mark.parametrize("epsilon", [-1e-3, float("nan"), "0.1", True, None])
def test_a_bad_epsilon_is_refused(name, kwargs, epsilon):
    with pytest.raises(ValueError, match=rf"{name} 'bad_e': epsilon must be a float >= 0\. "
                                         rf"Received: epsilon={re.escape(repr(epsilon))}"):
        getattr(layers, name)(epsilon=epsilon, name="bad_e", **kwargs)


@pytest.mark.parametrize("name", ["UnitNormalization", "RMSNormalization"])
def test_axis_errors_name_the_layer(name):
    with pytest.raises(TypeError, match=rf"{name} 'bad_a': axis must be an int or a non-empty list of ints\. "
                                        r"Received: axis=2\.0"):
        getattr(layers, name)(axis=2.0, name="bad_a")
    with pytest.raises(ValueError, match=rf"{name} 'bad_r': axis 2 is out of bounds for an input of rank 2: "
                                         r"expected -2 <= axis < 2\. Received: axis=2"):
        getattr(layers, name)(axis=2, name="bad_r")(np.ones((3, 4), "float32"))
    with pytest.raises(ValueError, match=r"the same axis twice.*Received: axis=\[1, -1\]"):
        getattr(layers, name)(axis=[1, -1])(np.ones((3, 4), "float32"))
    with pytest.raises(ValueError, match=r"out of bounds"):
        getattr(layers, name)(axis=-3).compute_output_shape((None, 4))


def test_rms_normalization_refuses_an_input_its_scale_does_not_broadcast_against():
    """Keras fails at its multiplication ((2, 3, 4) times a (3,) scale); course_lib names the shapes."""
    with pytest.raises(ValueError, match=r"RMSNormalization 'rms_b': scale, of shape \(3,\), multiplies the input "
                                         r"by broadcasting.*last 1 axes must have the sizes \(3,\)\. Received: "
                                         r"axis=\[1\], input with shape \(2, 3, 4\)"):
        layers.RMSNormalization(axis=1, name="rms_b")(np.ones((2, 3, 4), "float32"))
    with pytest.raises(ValueError, match=r"'rms_s'.*Received: axis=\[1\], input with shape \(None, 3, 4\)"):
        layers.RMSNormalization(axis=1, name="rms_s")(cl.Input((3, 4)))
    with pytest.raises(ValueError, match=r"'rms_k': the size of the normalized axis \(axes\) \[-1\] must be known"):
        layers.RMSNormalization(name="rms_k").build((None, None))


def test_unknown_arguments_and_several_inputs_are_refused():
    with pytest.raises(TypeError, match=r"unrecognized keyword arguments: \['epsilon'\]"):
        layers.UnitNormalization(epsilon=1e-3)
    with pytest.raises(TypeError, match=r"unrecognized keyword arguments: \['center'\]"):
        layers.RMSNormalization(center=True)
    x = np.ones((2, 4), "float32")
    for layer in (layers.UnitNormalization(name="u2"), layers.GroupNormalization(2, name="g2"),
                  layers.RMSNormalization(name="r2")):
        with pytest.raises(TypeError, match=rf"'{layer.name}' takes one input\. Received: 2 inputs"):
            layer([x, x])
