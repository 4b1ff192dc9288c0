"""RandomPerspective, RandAugment and AugMix: behaviour, errors, gradients."""
import numpy as np
import pytest

import course_lib as cl
from course_lib import backend
from course_lib.layers import AugMix, RandAugment, RandomPerspective
from course_lib.layers.preprocessing_extra import homography_transforms
from course_lib.testing import assert_gradients_close
from augmentation_checks import assert_same_numbers_strictly, pinned as _pinned  # noqa: E402

RANDOM_LAYERS = [
    (RandomPerspective, {"scale": 0.5}),
    (RandAugment, {"num_ops": 3}),
    (AugMix, {"factor": 0.5}),
]
_IDS = [c.__name__ for c, _ in RANDOM_LAYERS]


def _images(generator, shape=(4, 6, 7, 3), high=255.0):
    return (generator.random(shape) * high).astype("float32")


# ------------------------------------------------------------------ bad input
@pytest.mark.parametrize("layer_class, kwargs, error, message", [
    (RandomPerspective, {"factor": 1.5}, ValueError, r"RandomPerspective: factor .* \[0, 1\]"),
    (RandomPerspective, {"scale": 1.2}, ValueError, r"RandomPerspective: scale .* \[0, 1\]. Received: scale=1.2"),
    (RandomPerspective, {"scale": "big"}, ValueError, "RandomPerspective: scale"),
    (RandomPerspective, {"interpolation": "bicubic"}, NotImplementedError, "RandomPerspective: unknown interpolation"),
    (RandomPerspective, {"fill_value": "zero"}, TypeError, "RandomPerspective"),
    (RandomPerspective, {"seed": 1.5}, TypeError, "RandomPerspective: seed must be an int"),
    (RandAugment, {"num_ops": -1}, ValueError, "RandAugment: num_ops must be an int of at least 0"),
    (RandAugment, {"factor": (0.1, 0.2, 0.3)}, ValueError, "RandAugment: factor"),
    (RandAugment, {"factor": 2.0}, ValueError, r"RandAugment: factor .* \[0, 1\]"),
    (RandAugment, {"interpolation": "cubic"}, NotImplementedError, "RandomShear: unknown interpolation"),
    (RandAugment, {"value_range": 255}, ValueError, "RandomBrightness: value_range"),
    (AugMix, {"num_chains": 0}, ValueError, "AugMix: num_chains must be an int of at least 1"),
    (AugMix, {"chain_depth": 1.5}, ValueError, "AugMix: chain_depth"),
    (AugMix, {"alpha": 0}, ValueError, "AugMix: alpha must be a positive number"),
    (AugMix, {"factor": -0.5}, ValueError, "AugMix: factor"),
])
def test_bad_arguments_raise_naming_the_layer(layer_class, kwargs, error, message):
    with pytest.raises(error, match=message):
        layer_class(**kwargs)


@pytest.mark.parametrize("layer_class, kwargs", RANDOM_LAYERS, ids=_IDS)
def test_a_wrong_rank_names_the_layer(layer_class, kwargs, rng):
    with pytest.raises(ValueError, match=f"{layer_class.__name__} .* rank 3"):
        layer_class(**kwargs)(rng.random((5, 5)), training=True)


# ------------------------------------------------------------------ behaviour
@pytest.mark.parametrize("layer_class, kwargs", RANDOM_LAYERS, ids=_IDS)
def test_the_layers_only_cast_at_inference(layer_class, kwargs, rng):
    x = (rng.random((3, 6, 7, 3)) * 255).astype("uint8")
    out = layer_class(**kwargs)(x, training=False)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, x.astype("float32"))
    assert layer_class(**kwargs).get_random_transformation(x, training=False) is None


@pytest.mark.parametrize("layer_class, kwargs", RANDOM_LAYERS, ids=_IDS)
def test_a_call_without_training_augments_and_a_seed_fixes_the_draws(layer_class, kwargs, rng):
    x = _images(rng)
    first = layer_class(seed=4, **kwargs)(x)
    assert first.shape == x.shape and first.dtype == np.float32
    np.testing.assert_array_equal(layer_class(seed=4, **kwargs)(x), first)
    assert not np.allclose(first, x)


def test_the_homography_maps_the_corners_and_is_the_identity_without_moves():
    start = np.array([[0.0, 0.0], [9.0, 0.0], [0.0, 7.0], [9.0, 7.0]])
    np.testing.assert_allclose(homography_transforms(start, start), [[1, 0, 0, 0, 1, 0, 0, 0]], atol=1e-6)
    end = start + start * np.array([[0.1, -0.2], [0.3, 0.1], [-0.2, 0.2], [0.1, 0.15]])
    row = homography_transforms(start, end)[0].astype("float64")
    for (x, y), (u, v) in zip(end, start):  # output point (x, y) reads input point (u, v)
        w = row[6] * x + row[7] * y + 1
        np.testing.assert_allclose([(row[0] * x + row[1] * y + row[2]) / w, (row[3] * x + row[4] * y + row[5]) / w],
                                   [u, v], atol=1e-4)


def test_perspective_warps_with_the_probability_and_keeps_the_top_left_corner(rng):
    x = _images(rng, (6, 8, 9, 3))
    layer = RandomPerspective(seed=2)
    draw = layer.get_random_transformation(x)
    assert set(draw) == {"apply_perspective", "start_points", "end_points", "input_shape"}
    assert draw["start_points"].shape == draw["end_points"].shape == (6, 4, 2) and draw["input_shape"] == x.shape
    np.testing.assert_array_equal(draw["end_points"][:, 0], 0.0)
    draw["apply_perspective"] = np.array([True, False] * 3)
    out = layer.transform_images(x, draw)
    np.testing.assert_array_equal(out[1::2], x[1::2])
    assert not np.allclose(out[0::2], x[0::2])
    np.testing.assert_array_equal(RandomPerspective(factor=0.0)(x, training=True), x)
    np.testing.assert_allclose(RandomPerspective(scale=0.0)(x, training=True), x, rtol=1e-5, atol=1e-3)


def test_rand_augment_applies_the_picked_operations_in_order(rng):
    x = _images(rng)
    layer = RandAugment(num_ops=3, factor=0.6, seed=1)
    draw = layer.get_random_transformation(x)
    names = list(draw["transforms"])
    assert names == list(RandAugment._NAMES) and draw["layer_idxes"].dtype == np.int32
    for picks in ([2, 0, 9], [7, 7, 4], [10, 1, 5]):
        draw["layer_idxes"] = np.array(picks, "int32")
        expected = x
        for index in picks:
            sub = layer.augmentation_layers[names[index]]
            expected = sub.transform_images(expected, draw["transforms"][names[index]])
        np.testing.assert_array_equal(layer.transform_images(x, draw), expected)
    np.testing.assert_array_equal(RandAugment(num_ops=0)(x, training=True), x)


def test_rand_augment_makes_its_operations_from_factor_as_keras_does():
    layers = RandAugment(factor=0.5, value_range=(0, 1), seed=3).augmentation_layers
    assert layers["random_rotation"].factor == (0, 0.5)
    assert layers["random_translation"].height_lower == 0 and layers["random_translation"].width_upper == 0.5
    assert layers["random_posterization"].factor == (1, 4)
    assert layers["solarization"].addition_factor == (0, 0.5)
    assert layers["random_contrast"].value_range == (0, 1) and layers["random_brightness"].seed == 3


def test_aug_mix_mixes_its_chains_with_the_drawn_weights(rng):
    x = _images(rng)
    layer = AugMix(seed=2, chain_depth=4)
    draw = layer.get_random_transformation(x)
    assert draw["chain_mixing_weights"].shape == (3,) and draw["weight_sample"].shape == ()
    np.testing.assert_allclose(draw["chain_mixing_weights"].sum(), 1.0, rtol=1e-6)
    assert all(len(chain) <= 4 for chain in draw["chain_transforms"])
    weights, w = draw["chain_mixing_weights"], draw["weight_sample"]
    mixed = np.zeros_like(x)
    for k, chain in enumerate(draw["chain_transforms"]):
        copied = x
        for step in chain:
            copied = layer.augmentation_layers[step["layer_name"]].transform_images(copied, step["transformation"])
        mixed = mixed + copied * weights[k]
    np.testing.assert_allclose(layer.transform_images(x, draw), np.clip(w * x + (1 - w) * mixed, 0, 255),
                               rtol=1e-6, atol=1e-4)
    empty = dict(draw, chain_transforms=[[], [], []])
    np.testing.assert_allclose(layer.transform_images(x, empty), x, rtol=1e-6, atol=1e-4)
    assert set(AugMix(all_ops=False).augmentation_layers) == set(AugMix._NAMES[:7])


def test_channels_first_gives_the_channels_last_result(rng):
    x = _images(rng)
    first = np.moveaxis(x, -1, 1).copy()
    for layer_class, kwargs in RANDOM_LAYERS:
        last = layer_class(seed=6, **kwargs)
        draw = last.get_random_transformation(x)
        ours = layer_class(data_format="channels_first", **kwargs)
        expected = np.moveaxis(last.transform_images(x, draw), -1, 1)
        np.testing.assert_allclose(ours.transform_images(first, draw), expected, rtol=1e-5, atol=1e-3)


def test_configs_round_trip_through_serialization():
    layers = [RandomPerspective((0.2, 0.8), scale=0.3, interpolation="nearest", fill_value=2.0, seed=1),
              RandAugment(value_range=(0, 1), num_ops=4, factor=(0.1, 0.6), seed=2, data_format="channels_first"),
              AugMix(num_chains=2, chain_depth=1, factor=0.2, alpha=0.4, all_ops=False, interpolation="nearest")]
    for layer in layers:
        again = cl.layers.deserialize(cl.layers.serialize(layer))
        assert type(again) is type(layer)
        config, rebuilt = layer.get_config(), again.get_config()
        config.pop("name"), rebuilt.pop("name")
        assert rebuilt == config


# ---------------------------------------------------------------- gradients
def _check(layer, x):
    assert_gradients_close(layer, x, training=True)


def test_perspective_gradients(rng):
    x = rng.random((3, 6, 7, 2))
    with backend.floatx_scope("float64"):
        draw = RandomPerspective(scale=0.6, seed=3).get_random_transformation(x)
        draw["apply_perspective"] = np.array([True, False, True])
        for interpolation in ("bilinear", "nearest"):
            _check(_pinned(RandomPerspective, draw, interpolation=interpolation, fill_value=0.5), x)
        _check(_pinned(RandomPerspective, draw, data_format="channels_first"), np.moveaxis(x, -1, 1).copy())
        single = RandomPerspective(seed=4).get_random_transformation(x[0])
        _check(_pinned(RandomPerspective, single), x[0])


# The differentiable operations: the warps and the colour layers (posterization rounds, equalization looks up).
_SMOOTH = (0, 1, 2, 3, 4, 5, 6, 8, 9)


def test_rand_augment_gradients_and_no_gradient_behind_posterization(rng):
    x = rng.random((3, 6, 7, 3))
    unit = {"value_range": (0, 1), "factor": 0.6}
    with backend.floatx_scope("float64"):
        draw = RandAugment(seed=5, **unit).get_random_transformation(x)
        for picks in zip(_SMOOTH, _SMOOTH[3:] + _SMOOTH[:3]):
            _check(_pinned(RandAugment, dict(draw, layer_idxes=np.array(picks, "int32")), **unit), x)
        layer = _pinned(RandAugment, dict(draw, layer_idxes=np.array([2, 7], "int32")), **unit)
        layer(x, training=True)
        np.testing.assert_array_equal(layer.backward(np.ones_like(x)), 0.0)
        assert layer.differentiable is True


def test_aug_mix_gradients_and_no_gradient_through_a_posterized_chain(rng):
    x = rng.random((3, 6, 7, 3))
    unit = {"value_range": (0, 1), "factor": 0.5}
    with backend.floatx_scope("float64"):
        layer = AugMix(seed=6, **unit)
        names = [AugMix._NAMES[i] for i in (0, 1, 2, 4, 5, 7, 8, 9, 10)]  # all but posterization and equalization

        def step(name, seed):
            return {"layer_name": name,
                    "transformation": layer.augmentation_layers[name].get_random_transformation(x, seed=seed)}

        draw = layer.get_random_transformation(x)
        chains = [[step(name, 10 + i) for i, name in enumerate(names[k::3])] for k in range(3)]
        _check(_pinned(AugMix, dict(draw, chain_transforms=chains), **unit), x)
        posterized = [chains[0], chains[1] + [step("random_posterization", 30)], chains[2]]
        # Posterization is piecewise constant: the chain through it sends back nothing, its derivative almost
        # everywhere (and TensorFlow's), which the central differences see too.
        _check(_pinned(AugMix, dict(draw, chain_transforms=posterized), **unit), x)
        layer = _pinned(AugMix, dict(draw, chain_transforms=[[step("random_posterization", 31)]] * 3), **unit)
        out = layer(x, training=True)
        inside = (out > 0) & (out < 1)
        np.testing.assert_allclose(layer.backward(np.ones_like(x)), draw["weight_sample"] * inside, rtol=1e-12)


def test_a_planted_bug_in_a_backward_pass_is_caught(rng):
    """The checks above can fail: RandAugment running its operations' gradients in forward order does not pass."""
    x = rng.random((2, 5, 6, 3))
    unit = {"value_range": (0, 1), "factor": 0.6}
    with backend.floatx_scope("float64"):
        draw = dict(RandAugment(seed=5, **unit).get_random_transformation(x), layer_idxes=np.array([2, 5], "int32"))

        class Wrong(RandAugment):
            def get_random_transformation(self, data, training=True, seed=None):
                return draw

            def backward(self, output_grads, cache):
                for layer, inner in cache:  # forward order: wrong for operations that do not commute
                    output_grads = layer.backward(output_grads, inner)[0]
                return output_grads, {}

        _check(_pinned(RandAugment, draw, **unit), x)
        with pytest.raises(AssertionError, match="Gradient check failed"):
            _check(Wrong(**unit), x)


def test_a_model_trains_through_the_layers(rng):
    x = _images(rng, (8, 6, 6, 3)) / 255
    y = rng.random((8, 1)).astype("float32")
    model = cl.Sequential([
        cl.Input((6, 6, 3)), cl.layers.RandomPerspective(scale=0.3, seed=1),
        cl.layers.RandAugment(value_range=(0, 1), seed=2), cl.layers.AugMix(value_range=(0, 1), seed=3),
        cl.layers.Flatten(), cl.layers.Dense(1),
    ])
    model.compile(optimizer="sgd", loss="mse")
    history = model.fit(x, y, epochs=2, verbose=0)
    assert np.all(np.isfinite(history.history["loss"]))


def test_the_layers_give_the_same_numbers_strictly(rng):
    """Under the strict stand-in for CuPy: no NumPy-only call, no host number taken from a device array."""
    images = _images(rng, (3, 7, 8, 3))

    def workflow():
        x = backend.xp.asarray(images)
        results = []
        for layer in (RandomPerspective(seed=1), RandAugment(num_ops=4, seed=1), AugMix(seed=1)):
            out = layer(x, training=True)
            results += [out, layer.backward(out)]
        return [backend.to_numpy(value) for value in results]

    assert_same_numbers_strictly(workflow, atol=1e-5)
