"""course_lib.applications.ConvNeXt* against keras.applications', built in the same test.

No download anywhere: Keras's models are randomly initialised (weights=None), their LayerScale factors
set to random values (they start at 1e-6, which would hide every block), and the weight files are the
ones Keras writes here. Measured at 32x32 (Tiny): predictions agree to about 1.5e-6 relative to the
largest output, hence rtol 1e-4 with an atol of 1e-5 times the largest value.

Each block's residual sum is ``inputs + x`` on both sides, a keras.ops operation (``add``, ``add_1`` ...):
in ``model.operations``, not in ``model.layers``; both lists are compared, names included.
"""
import gc
import json

import numpy as np
import pytest

import course_lib as cl
from course_lib.applications import convnext

tf = pytest.importorskip("tensorflow")
keras = tf.keras
keras_convnext = pytest.importorskip("keras.src.applications.convnext")  # ConvNeXt(), its layers: not exported
keras_serialize = pytest.importorskip("keras").layers.serialize

pytestmark = pytest.mark.parity

SMALL = (32, 32, 3)


def _assert_close(mine, theirs):
    scale = float(np.max(np.abs(theirs)))
    np.testing.assert_allclose(mine, theirs, rtol=1e-4, atol=1e-5 * scale)


def _images(count=2, size=32, seed=0):
    return np.random.default_rng(seed).uniform(0, 255, (count, size, size, 3)).astype("float32")


def _randomise_layer_scales(model, seed=0):
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if type(layer).__name__ == "LayerScale":
            layer.set_weights([rng.uniform(0.5, 1.5, layer.get_weights()[0].shape).astype("float32")])


def _summary(model):
    return [(layer.name, type(layer).__name__, layer.count_params(), tuple(layer.output.shape))
            for layer in model.layers]


def _operations(model):
    """``model.operations``: the layers and the operations (the residual sums), in the graph's order."""
    return [(op.name, type(op).__name__, tuple(op.output.shape)) for op in model.operations]


def _trainable(model):
    return sum(int(np.prod(w.shape)) for w in model.trainable_weights)


def _fresh():
    keras.backend.clear_session()
    cl.backend.clear_session()


@pytest.fixture(scope="module")
def tiny_pair():
    """Keras's and course_lib's ConvNeXtTiny without the top at 32x32, Keras's weights copied into ours."""
    _fresh()
    theirs = keras.applications.ConvNeXtTiny(include_top=False, weights=None, input_shape=SMALL)
    _randomise_layer_scales(theirs)
    ours = convnext.ConvNeXtTiny(include_top=False, weights=None, input_shape=SMALL)
    ours.set_weights(theirs.get_weights())
    return ours, theirs


def _check_counts_and_layers(network, total):
    _fresh()
    ours = getattr(cl.applications, network)(weights=None)
    mine = (_summary(ours), ours.count_params(), _trainable(ours), ours.name,
            json.dumps(ours.get_layer(f"{ours.name}_stem").get_config(), sort_keys=True, default=str),
            _operations(ours))
    adds = [op.name for op in ours.operations if type(op).__name__ == "Add"]
    del ours
    gc.collect()
    theirs = getattr(keras.applications, network)(weights=None)
    keras_side = (_summary(theirs), theirs.count_params(), _trainable(theirs), theirs.name,
                  json.dumps(theirs.get_layer(f"{theirs.name}_stem").get_config(), sort_keys=True, default=str),
                  _operations(theirs))
    depths = sum(convnext.MODEL_CONFIGS[network[len("ConvNeXt"):].lower()]["depths"])
    del theirs
    gc.collect()
    assert mine[1] == keras_side[1] == total
    assert mine[2] == keras_side[2] == total  # every weight is trainable; the Normalization holds constants
    assert mine[0] == keras_side[0]
    assert mine[3:] == keras_side[3:]  # model.operations too: the residual sums, named add, add_1 ...
    assert adds == ["add"] + [f"add_{k}" for k in range(1, depths)]
    assert "Add" not in [kind for _, kind, _, _ in mine[0]]
    variant = network[len("ConvNeXt"):].lower()
    assert convnext.count_params(variant) == total


@pytest.mark.parametrize("network, total", [
    ("ConvNeXtTiny", 28_589_128), ("ConvNeXtSmall", 50_223_688), ("ConvNeXtBase", 88_591_464)])
def test_the_full_network_has_keras_s_layers_and_parameter_counts(network, total):
    _check_counts_and_layers(network, total)


@pytest.mark.slow
@pytest.mark.parametrize("network, total", [("ConvNeXtLarge", 197_767_336), ("ConvNeXtXLarge", 350_196_968)])
def test_the_large_networks_have_keras_s_layers_and_parameter_counts(network, total):
    """Built once each side at 224x224 for the counts only (XLarge: 1.4 GB of float32 weights per model)."""
    _check_counts_and_layers(network, total)


@pytest.mark.parametrize("variant", sorted(convnext.MODEL_CONFIGS))
def test_the_counts_from_the_configuration_match_keras_without_the_top(variant):
    """No build on our side: count_params(variant, include_top=False) against Keras's notop model at 32x32."""
    _fresh()
    settings = convnext.MODEL_CONFIGS[variant]
    theirs = keras_convnext.ConvNeXt(
        depths=settings["depths"][:2] + [1, 1], projection_dims=settings["projection_dims"], include_top=False,
        weights=None, input_shape=SMALL, name=f"convnext_{variant}")
    # Blocks of the last two stages scaled down (Keras builds them quickly); the formula follows.
    block = [7 * 7 * d + d + 2 * d + 8 * d * d + 5 * d + d for d in settings["projection_dims"]]
    missing = (settings["depths"][2] - 1) * block[2] + (settings["depths"][3] - 1) * block[3]
    assert convnext.count_params(variant, include_top=False) == theirs.count_params() + missing
    del theirs
    gc.collect()


def test_predictions_without_the_top_match_keras(tiny_pair):
    ours, theirs = tiny_pair
    x = _images()
    assert ours.output_shape == theirs.output_shape == (None, 1, 1, 768)
    _assert_close(ours.predict(x, verbose=0), theirs.predict(x, verbose=0))
    assert convnext.preprocess_input(x) is x  # Keras's: the model normalises its own input


@pytest.mark.parametrize("pooling", ["avg", "max"])
def test_pooling_heads_match_keras(pooling):
    _fresh()
    theirs = keras.applications.ConvNeXtTiny(include_top=False, weights=None, input_shape=SMALL, pooling=pooling)
    _randomise_layer_scales(theirs, seed=1)
    ours = cl.applications.ConvNeXtTiny(include_top=False, weights=None, input_shape=SMALL, pooling=pooling)
    assert _summary(ours) == _summary(theirs)
    ours.set_weights(theirs.get_weights())
    x = _images(seed=1)
    assert ours.output_shape == (None, 768)
    _assert_close(ours.predict(x, verbose=0), theirs.predict(x, verbose=0))


def test_the_top_at_a_small_size_and_without_preprocessing_matches_keras():
    _fresh()
    kwargs = dict(weights=None, input_shape=SMALL, classes=10, include_preprocessing=False,
                  classifier_activation=None)
    theirs = keras.applications.ConvNeXtTiny(**kwargs)
    _randomise_layer_scales(theirs, seed=2)
    ours = cl.applications.ConvNeXtTiny(**kwargs)
    assert _summary(ours) == _summary(theirs)
    assert "convnext_tiny_prestem_normalization" not in [layer.name for layer in ours.layers]
    ours.set_weights(theirs.get_weights())
    x = _images(seed=2) / 255.0
    _assert_close(ours.predict(x, verbose=0), theirs.predict(x, verbose=0))


def test_the_custom_layers_have_keras_s_configs(tiny_pair):
    ours, theirs = tiny_pair
    for name in ("convnext_tiny_stage_0_block_0_layer_scale", "convnext_tiny_prestem_normalization",
                 "convnext_tiny_stage_0_block_0_depthwise_conv", "convnext_tiny_stage_3_block_2_pointwise_conv_1",
                 "convnext_tiny_stage_3_block_2_gelu", "convnext_tiny_stage_3_block_2_identity"):
        assert ours.get_layer(name).get_config() == theirs.get_layer(name).get_config(), name
    stochastic = convnext.StochasticDepth(0.25, name="sd")
    assert stochastic.get_config() == keras_convnext.StochasticDepth(0.25, name="sd").get_config()


def test_keras_files_go_both_ways_without_custom_objects(tmp_path, tiny_pair):
    """LayerScale written as Keras writes it (module keras.src.applications.convnext), the sums as operations."""
    ours, theirs = tiny_pair
    x = _images(seed=8)
    expected = theirs.predict(x, verbose=0)
    assert _operations(ours) == _operations(theirs)
    ours_entry = cl.layers.serialize(ours.get_layer("convnext_tiny_stage_0_block_0_layer_scale"))
    keras_entry = keras_serialize(theirs.get_layer("convnext_tiny_stage_0_block_0_layer_scale"))
    assert json.loads(json.dumps(ours_entry)) == json.loads(json.dumps(keras_entry))
    path = str(tmp_path / "keras_s.keras")
    theirs.save(path)
    loaded = cl.models.load_model(path)
    assert _operations(loaded) == _operations(theirs)
    assert type(loaded.get_layer("convnext_tiny_stage_0_block_0_layer_scale")) is convnext.LayerScale
    _assert_close(loaded.predict(x, verbose=0), expected)
    path = str(tmp_path / "ours.keras")
    ours.save(path)
    back = keras.models.load_model(path)
    assert type(back.get_layer("convnext_tiny_stage_0_block_0_layer_scale")) is keras_convnext.LayerScale
    assert _operations(back) == _operations(theirs)
    _assert_close(back.predict(x, verbose=0), expected)


def test_the_bridge_rebuilds_keras_s_convnext(tiny_pair):
    """from_keras: Keras's config as serialize_keras_object gives it in this process (tuples), its weights."""
    _, theirs = tiny_pair
    rebuilt = cl.testing.from_keras(theirs)
    assert _summary(rebuilt) == _summary(theirs)
    assert _operations(rebuilt) == _operations(theirs)
    x = _images(seed=9)
    _assert_close(rebuilt.predict(x, verbose=0), theirs.predict(x, verbose=0))


def test_a_stochastic_depth_block_goes_to_keras_and_back(tmp_path):
    """StochasticDepth (drop_path_rate > 0) written with Keras's module, read back by both, no custom_objects."""
    _fresh()
    ours = convnext.ConvNeXt(depths=[1, 1, 1, 1], projection_dims=[8, 16, 24, 32], drop_path_rate=0.3,
                             include_top=False, weights=None, input_shape=SMALL, name="convnext_sd_file")
    entry = cl.layers.serialize(ours.get_layer("convnext_sd_file_stage_3_block_0_stochastic_depth"))
    assert (entry["module"], entry["class_name"], entry["registered_name"]) == (
        "keras.src.applications.convnext", "StochasticDepth", "StochasticDepth")
    path = str(tmp_path / "sd.keras")
    ours.save(path)
    back = keras.models.load_model(path)
    layer = back.get_layer("convnext_sd_file_stage_3_block_0_stochastic_depth")
    assert type(layer) is keras_convnext.StochasticDepth and layer.drop_path_rate == 0.3
    back.save(str(tmp_path / "sd_keras.keras"))
    again = cl.models.load_model(str(tmp_path / "sd_keras.keras"))
    assert type(again.get_layer(layer.name)) is convnext.StochasticDepth
    x = _images(seed=10)
    _assert_close(again.predict(x, verbose=0), back.predict(x, verbose=0))
    _assert_close(ours.predict(x, verbose=0), back.predict(x, verbose=0))


def test_a_training_step_gives_keras_s_weights():
    """One epoch of SGD on 4 images (batch 2) through a short ConvNeXt with a top: same weights after."""
    _fresh()
    kwargs = dict(depths=[1, 1, 1, 1], projection_dims=[8, 16, 24, 32], include_top=True, weights=None,
                  input_shape=SMALL, classes=3, name="convnext_step")
    theirs = keras_convnext.ConvNeXt(**kwargs)
    _randomise_layer_scales(theirs, seed=3)
    ours = convnext.ConvNeXt(**kwargs)
    ours.set_weights(theirs.get_weights())
    x, y = _images(count=4, seed=3), np.array([0, 1, 2, 1])
    for model, module in ((theirs, keras), (ours, cl)):
        model.compile(optimizer=module.optimizers.SGD(learning_rate=0.1), loss="sparse_categorical_crossentropy")
        model.fit(x, y, batch_size=2, epochs=1, shuffle=False, verbose=0)
    for mine, keras_weight in zip(ours.get_weights(), theirs.get_weights()):
        np.testing.assert_allclose(mine, keras_weight, rtol=1e-4, atol=1e-6)
    scales = [w for w in ours.get_weights() if w.shape == (8,)]
    assert any(np.abs(w - 1).max() > 0 for w in scales)


def test_stochastic_depth_in_the_blocks_when_asked():
    """drop_path_rate > 0: Keras's schedule of rates (0 ... rate over the blocks) and layer names."""
    _fresh()
    kwargs = dict(depths=[1, 2, 1, 1], projection_dims=[8, 16, 24, 32], drop_path_rate=0.3, include_top=False,
                  weights=None, input_shape=SMALL, name="convnext_sd")
    theirs = keras_convnext.ConvNeXt(**kwargs)
    ours = convnext.ConvNeXt(**kwargs)
    assert _summary(ours) == _summary(theirs)
    rates = lambda model: [layer.drop_path_rate for layer in model.layers  # noqa: E731
                           if type(layer).__name__ == "StochasticDepth"]
    assert rates(ours) == rates(theirs)
    ours.set_weights(theirs.get_weights())
    x = _images(seed=4)
    _assert_close(ours.predict(x, verbose=0), theirs.predict(x, verbose=0))  # inference: the identity


@pytest.mark.parametrize("suffix", [".weights.h5", ".h5"])
def test_a_weights_file_written_by_keras_loads_into_course_lib(tmp_path, suffix, tiny_pair):
    _, theirs = tiny_pair
    path = str(tmp_path / f"convnext_tiny{suffix}")
    if suffix == ".h5":
        theirs.save(path)  # Keras 2's legacy HDF5 format, the format of the published ImageNet files
    else:
        theirs.save_weights(path)
    cl.backend.clear_session()
    ours = cl.applications.ConvNeXtTiny(include_top=False, weights=path, input_shape=SMALL)
    x = _images(seed=5)
    _assert_close(ours.predict(x, verbose=0), theirs.predict(x, verbose=0))


def test_a_weights_file_written_by_course_lib_loads_into_keras(tmp_path, tiny_pair):
    ours, _ = tiny_pair
    path = str(tmp_path / "ours.weights.h5")
    ours.save_weights(path)
    keras.backend.clear_session()
    theirs = keras.applications.ConvNeXtTiny(include_top=False, weights=path, input_shape=SMALL)
    x = _images(seed=6)
    _assert_close(ours.predict(x, verbose=0), theirs.predict(x, verbose=0))


def test_imagenet_loads_keras_s_file_by_its_name(tmp_path, monkeypatch, tiny_pair):
    _, theirs = tiny_pair
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    expected = tmp_path / "models" / "convnext_tiny_notop.h5"
    with pytest.raises(FileNotFoundError, match=f"ConvNeXtTiny: .*course_lib downloads nothing. Put it at {expected}"):
        cl.applications.ConvNeXtTiny(include_top=False, input_shape=SMALL)
    expected.parent.mkdir()
    theirs.save(str(expected))
    ours = cl.applications.ConvNeXtTiny(include_top=False, input_shape=SMALL)
    x = _images(seed=7)
    _assert_close(ours.predict(x, verbose=0), theirs.predict(x, verbose=0))


@pytest.mark.parametrize("kwargs, message", [
    ({"weights": "missing.h5"}, r"ConvNeXtTiny: `weights` must be None .* Received: weights='missing.h5'"),
    ({"classes": 10}, r"with weights='imagenet' and include_top=True, classes must be 1000"),
    ({"weights": None, "input_shape": (16, 16, 3), "include_top": False}, r"at least 32x32"),
    ({"input_shape": (64, 64, 3)}, r"input_shape must be \(224, 224, 3\)"),
    ({"weights": None, "input_shape": (None, None, 3)}, r"with include_top=True the input_shape must be static"),
])
def test_bad_arguments_are_refused_as_keras_refuses_them(kwargs, message):
    with pytest.raises(ValueError, match=message):
        cl.applications.ConvNeXtTiny(**kwargs)
    with pytest.raises(ValueError):
        keras.applications.ConvNeXtTiny(**kwargs)


def test_imagenet_needs_the_variant_s_name_and_architecture():
    for kwargs in ({"name": "my_net"}, {"depths": [1, 1, 1, 1]}):
        settings = dict(depths=[3, 3, 9, 3], projection_dims=[96, 192, 384, 768], include_top=False,
                        weights="imagenet", input_shape=SMALL, name="convnext_tiny", weights_name="convnext_tiny")
        settings.update(kwargs)
        with pytest.raises(ValueError):
            keras_convnext.ConvNeXt(**settings)
        with pytest.raises(ValueError, match=r"ConvNeXt: (with weights='imagenet' the model name|the architecture)"):
            convnext.ConvNeXt(**settings)


def test_decode_predictions_is_keras_s():
    assert cl.applications.convnext.decode_predictions is cl.applications.imagenet_utils.decode_predictions
    with pytest.raises(ValueError):
        keras.applications.convnext.decode_predictions(np.zeros((2, 10)))
    with pytest.raises(ValueError, match="decode_predictions: expected a batch"):
        cl.applications.convnext.decode_predictions(np.zeros((2, 10)))
