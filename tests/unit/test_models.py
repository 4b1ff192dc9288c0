"""Sequential and functional models: gradients, construction, summary, errors, saving.

Whole models are checked against central differences in float64 (relative
error < 1e-6 on every weight and every input). The tf.keras comparisons
(weights order, summary counts, forward and backward) live in
``tests/parity/test_models_parity.py``.
"""
import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import course_lib as cl
from course_lib import layers

GRADIENT_TOLERANCE = 1e-6


def _normal(shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


def summary_lines(model):
    calls = []
    model.summary(print_fn=calls.append)
    assert len(calls) == 1  # as Keras: print_fn gets the whole table at once
    return calls[0].splitlines()


def summary_total(lines):
    """The number after 'Total params:' in a printed summary."""
    match = re.search(r"Total params: ([\d,]+)", "\n".join(lines))
    assert match, "summary printed no 'Total params:' line"
    return int(match.group(1).replace(",", ""))


def summary_params_by_layer(lines):
    """{layer name: Param #} read from the rows of a printed summary table."""
    counts = {}
    for line in lines:
        cells = [cell.strip() for cell in line.split("│")[1:-1]]
        if len(cells) >= 3 and re.fullmatch(r"[\d,]+", cells[2]):
            name = cells[0].split(" (")[0]
            counts[name] = counts.get(name, 0) + int(cells[2].replace(",", ""))
    return counts


def shared_fan_out_model():
    """A graph where one Dense is called twice and one tensor feeds three layers."""
    inputs = cl.Input((4,))
    hidden = layers.Dense(5, activation="tanh")(inputs)
    shared = layers.Dense(5, activation="tanh", bias_initializer="glorot_uniform", name="shared")
    once = shared(hidden)
    twice = shared(once)
    summed = layers.Add()([hidden, once, twice])
    outputs = layers.Dense(3, activation="softmax")(layers.Concatenate()([summed, hidden]))
    return cl.Model(inputs, outputs)


# ------------------------------------------------------------- gradient checks
def test_sequential_mlp_gradients():
    with cl.backend.floatx_scope("float64"):
        model = cl.Sequential([
            cl.Input((2, 3)),
            layers.Flatten(),
            layers.Dense(8, activation="relu", bias_initializer="glorot_uniform"),
            layers.Dropout(0.5),
            layers.Dense(6, activation="tanh"),
            layers.Reshape((3, 2)),
            layers.Flatten(),
            layers.Dense(4, activation="softmax"),
        ])
    # Called outside the scope on purpose: the float64 model must keep float64 inputs.
    report = cl.testing.assert_gradients_close(model, _normal((5, 2, 3)), tolerance=GRADIENT_TOLERANCE)
    assert len(report.entries) == 1 + 6
    assert report.max_error < GRADIENT_TOLERANCE


def test_functional_model_with_shared_layer_and_fan_out_gradients():
    with cl.backend.floatx_scope("float64"):
        model = shared_fan_out_model()
    assert sum(node.layer is model.get_layer("shared") for node in model._nodes) == 2
    report = cl.testing.assert_gradients_close(model, _normal((3, 4)))
    assert {"input", "shared/kernel", "shared/bias"} <= set(report.entries)
    assert len(report.entries) == 1 + 2 * 3


def test_two_input_two_output_model_gradients():
    with cl.backend.floatx_scope("float64"):
        first, second = cl.Input((3,), name="a"), cl.Input((2,), name="b")
        merged = layers.Concatenate()([first, second])
        hidden = layers.Dense(6, activation="sigmoid")(merged)
        out_1 = layers.Dense(2, name="out_1")(hidden)
        out_2 = layers.Dense(2, activation="softmax", name="out_2")(layers.Add()([hidden, layers.Dense(6)(merged)]))
        model = cl.Model([first, second], [out_1, out_2])
    # Both outputs have shape (N, 2), so the checker can stack them into one array.
    report = cl.testing.assert_gradients_close(model, [_normal((4, 3)), _normal((4, 2), seed=1)])
    assert {"input_0", "input_1"} <= set(report.entries)


def test_model_backward_sums_the_gradient_of_a_fan_out_tensor():
    inputs = cl.Input((3,))
    twice = layers.Add()([inputs, inputs])
    model = cl.Model(inputs, twice)
    model(np.ones((2, 3)))
    np.testing.assert_array_equal(model.backward(np.ones((2, 3))), np.full((2, 3), 2.0))


# ------------------------------------------------------- building Sequential
@pytest.mark.parametrize(
    "first_layer_input",
    [
        lambda: [cl.Input((6,))],
        lambda: [cl.Input(shape=(6,), batch_size=None)],
        lambda: [layers.InputLayer(shape=(6,))],
    ],
)
def test_sequential_with_an_input_first(first_layer_input):
    model = cl.Sequential(first_layer_input() + [layers.Dense(4), layers.Dense(2)])
    assert model.built and model.count_params() == 6 * 4 + 4 + 4 * 2 + 2
    assert model.inputs[0].shape == (None, 6) and model.output_shape == (None, 2)


@pytest.mark.parametrize(
    "kwargs, batch_shape",
    [({"input_shape": (6,)}, (None, 6)), ({"input_dim": 6}, (None, 6)),
     ({"batch_input_shape": (None, 6)}, (None, 6)), ({"batch_input_shape": (8, 6)}, (8, 6)),
     ({"input_shape": (6,), "batch_size": 8}, (8, 6))],
)
def test_sequential_input_from_first_layer_arguments(kwargs, batch_shape):
    model = cl.Sequential([layers.Dense(4, **kwargs), layers.Dense(2)])
    assert model.built
    assert model.inputs[0].shape == batch_shape
    assert model.count_params() == 38
    assert model.predict(np.ones((8, 6)), verbose=0).shape == (8, 2)


def test_sequential_fixed_batch_size_is_enforced():
    model = cl.Sequential([layers.Dense(2, batch_input_shape=(8, 6))])
    with pytest.raises(ValueError, match=r"expected shape=\(8, 6\), found shape=\(5, 6\)"):
        model.predict_on_batch(np.ones((5, 6)))


def test_sequential_deferred_build_from_the_first_batch():
    model = cl.Sequential()
    model.add(layers.Dense(4, activation="relu"))
    model.add(layers.Dense(2))
    assert not model.built
    printed = []
    model.summary(print_fn=printed.append)  # as Keras: unknown shapes and "0 (unbuilt)"
    assert "0 (unbuilt)" in printed[0] and " Total params: 0 (0.00 B)" in printed[0]
    with pytest.raises(ValueError, match=r"not yet been built, so `count_params` cannot run"):
        model.count_params()
    output = model.predict(np.ones((3, 5)), verbose=0)
    assert output.shape == (3, 2) and model.built
    assert model.count_params() == 5 * 4 + 4 + 4 * 2 + 2
    assert summary_total(summary_lines(model)) == model.count_params()


def test_sequential_build_with_an_explicit_shape():
    model = cl.Sequential([layers.Dense(3)])
    model.build((None, 7))
    assert model.count_params() == 24 and model.inputs[0].shape == (None, 7)


def test_sequential_add_pop_and_layers_property():
    model = cl.Sequential([cl.Input((5,))])
    dense_1, dense_2, dense_3 = layers.Dense(4), layers.Dense(3), layers.Dense(2)
    for layer in (dense_1, dense_2, dense_3):
        model.add(layer)
    assert model.layers == [dense_1, dense_2, dense_3]
    assert model.output_shape == (None, 2)
    assert model.pop() is dense_3
    assert model.layers == [dense_1, dense_2]
    assert model.output_shape == (None, 3)
    assert model.predict(np.ones((2, 5)), verbose=0).shape == (2, 3)
    # The list returned by `layers` is a copy: changing it does not change the model.
    model.layers.append(dense_3)
    assert len(model.layers) == 2
    model.pop()
    model.pop()
    with pytest.raises(TypeError, match=r"Sequential.pop: there are no layers"):
        model.pop()


def test_sequential_add_errors():
    model = cl.Sequential()
    with pytest.raises(TypeError, match=r"Sequential.add: expected a Layer instance\. Received: 'dense'"):
        model.add("dense")
    layer = layers.Dense(2)
    model.add(layer)
    with pytest.raises(ValueError, match=r"layer 'dense' is already in the model"):
        model.add(layer)
    with pytest.raises(ValueError, match=r"an Input can only be the first entry"):
        model.add(cl.Input((3,)))
    with pytest.raises(ValueError, match=r"has no layers yet"):
        cl.Sequential().predict(np.ones((2, 3)), verbose=0)


def test_get_layer_by_name_and_index():
    model = cl.Sequential([cl.Input((3,)), layers.Dense(4, name="hidden"), layers.Dense(2, name="top")])
    assert model.get_layer("hidden") is model.layers[0]
    assert model.get_layer(index=1).name == "top"
    with pytest.raises(ValueError, match=r"has no layer named 'missing'\. Layers: \['hidden', 'top'\]"):
        model.get_layer("missing")


def test_functional_model_layers_include_inputs_once_each():
    model = shared_fan_out_model()
    names = [layer.name for layer in model.layers]
    assert names[0] == "input_layer"
    assert len(names) == len(set(names))
    assert model.input_names == ["input_layer"]


def test_model_weights_order_is_layer_order_kernel_then_bias():
    model = cl.Sequential([cl.Input((3,)), layers.Dense(4), layers.Dropout(0.1), layers.Dense(2, use_bias=False)])
    assert [w.shape for w in model.get_weights()] == [(3, 4), (4,), (4, 2)]
    assert [w.shape for w in model.trainable_weights] == [(3, 4), (4,), (4, 2)]


# ------------------------------------------------------------------- summary
def test_summary_total_and_per_layer_counts_for_an_mlp():
    model = cl.Sequential([
        layers.Dense(512, activation="relu", input_shape=(784,)), layers.Dropout(0.2),
        layers.Dense(256, activation="relu"), layers.Dropout(0.2), layers.Dense(10, activation="softmax"),
    ])
    lines = summary_lines(model)
    expected = 784 * 512 + 512 + 512 * 256 + 256 + 256 * 10 + 10
    assert summary_total(lines) == model.count_params() == expected
    assert summary_params_by_layer(lines) == {
        "dense": 784 * 512 + 512, "dropout": 0, "dense_1": 512 * 256 + 256, "dropout_1": 0, "dense_2": 2570,
    }
    text = "\n".join(lines)
    assert 'Model: "sequential"' in text and "(None, 512)" in text
    assert "Trainable params: 535,818" in text and "Non-trainable params: 0" in text


def test_summary_of_a_functional_model_lists_connections():
    model = shared_fan_out_model()
    lines = summary_lines(model)
    assert summary_total(lines) == model.count_params() == 4 * 5 + 5 + 5 * 5 + 5 + 10 * 3 + 3
    text = "\n".join(lines)
    assert "Connected to" in text and "shared[1][0]" in text
    # A layer called twice is counted once.
    assert summary_params_by_layer(lines)["shared"] == 30


def test_summary_counts_non_trainable_params():
    model = cl.Sequential([cl.Input((3,)), layers.Dense(4, trainable=False), layers.Dense(2)])
    text = "\n".join(summary_lines(model))
    assert "Total params: 26" in text
    assert "Trainable params: 10" in text
    assert "Non-trainable params: 16" in text


@settings(max_examples=25, deadline=None)
@given(widths=st.lists(st.integers(1, 40), min_size=2, max_size=5), use_bias=st.booleans())
def test_sequential_count_params_matches_the_formula(widths, use_bias):
    model = cl.Sequential([cl.Input((widths[0],))] + [layers.Dense(w, use_bias=use_bias) for w in widths[1:]])
    expected = sum(a * b + (b if use_bias else 0) for a, b in zip(widths, widths[1:]))
    assert model.count_params() == expected
    assert summary_total(summary_lines(model)) == expected


# -------------------------------------------------------------------- errors
def test_wrong_input_shape_to_a_model():
    model = cl.Sequential([cl.Input((4,)), layers.Dense(2)])
    message = (
        r"Input 0 of model 'sequential' is incompatible: "
        r"expected shape=\(None, 4\), found shape=\(3, 5\)"
    )
    with pytest.raises(ValueError, match=message):
        model.predict(np.ones((3, 5)), verbose=0)
    with pytest.raises(ValueError, match=r"expected shape=\(None, 4\), found shape=\(4,\)"):
        model(np.ones(4))
    with pytest.raises(TypeError, match=r"Model 'sequential'.*numeric array.*dtype <U"):
        model(np.array([["1", "2", "3", "4"]]))


def test_functional_model_errors():
    inputs = cl.Input((3,))
    hidden = layers.Dense(4)(inputs)
    message = (
        r"every input must come from keras.Input\. "
        r"Received: <KerasTensor shape=\(None, 4\)"
    )
    with pytest.raises(ValueError, match=message):
        cl.Model(hidden, layers.Dense(2)(hidden))
    with pytest.raises(TypeError, match=r"every entry of `inputs` must be a symbolic tensor.*Received: ndarray"):
        cl.Model(np.ones((2, 3)), hidden)
    other = cl.Input((3,), name="other")
    message = (
        r"graph disconnected.*input 'other'.*not "
        r"among the model's inputs \['input_layer'\]"
    )
    with pytest.raises(ValueError, match=message):
        cl.Model(inputs, layers.Add()([inputs, other]))
    with pytest.raises(ValueError, match=r"Model: pass both `inputs` and `outputs`"):
        cl.Model(inputs)
    with pytest.raises(TypeError, match=r"when one input is symbolic.*all must be\. Received: ndarray"):
        layers.Add()([inputs, np.ones((1, 3))])


def test_multi_input_model_needs_a_list_or_dict():
    a, b = cl.Input((2,), name="a"), cl.Input((3,), name="b")
    model = cl.Model([a, b], layers.Concatenate()([a, b]))
    x_a, x_b = np.ones((2, 2)), np.zeros((2, 3))
    np.testing.assert_array_equal(model([x_a, x_b]), model({"a": x_a, "b": x_b}))
    with pytest.raises(ValueError, match=r"expected 2 inputs \(\['a', 'b'\]\), received a list of 3"):
        model([x_a, x_b, x_b])
    with pytest.raises(ValueError, match=r"the model has 2 inputs.*pass a list or a dict.*Received: ndarray"):
        model(x_a)
    with pytest.raises(ValueError, match=r"dict of inputs has keys \['a'\], expected keys \['a', 'b'\]"):
        model({"a": x_a})


def test_model_set_weights_with_wrong_count_or_shape():
    model = cl.Sequential([cl.Input((3,)), layers.Dense(4), layers.Dense(2)])
    with pytest.raises(ValueError, match=r"expects 4 weight arrays, but received 3"):
        model.set_weights(model.get_weights()[:3])
    weights = model.get_weights()
    weights[2] = np.ones((5, 2))
    with pytest.raises(ValueError, match=r"weight 'kernel' has shape \(4, 2\), but received a value of shape \(5, 2\)"):
        model.set_weights(weights)


# ------------------------------------------------------------ saving/loading
def _compiled_sequential():
    model = cl.Sequential([cl.Input((4,)), layers.Dense(8, activation="relu"), layers.Dropout(0.2),
                           layers.Dense(3, activation="softmax")])
    model.compile(optimizer=cl.optimizers.SGD(learning_rate=0.05), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    return model


def _compiled_functional():
    a, b = cl.Input((4,), name="a"), cl.Input((2,), name="b")
    hidden = layers.Dense(5, activation="tanh", name="hidden")(layers.Concatenate()([a, b]))
    shared = layers.Dense(5, activation="tanh", name="shared")
    merged = layers.Add()([hidden, shared(shared(hidden))])
    model = cl.Model([a, b], [layers.Dense(3, activation="softmax", name="cls")(merged),
                              layers.Dense(1, name="reg")(merged)])
    model.compile(optimizer=cl.optimizers.SGD(learning_rate=0.05),
                  loss=["sparse_categorical_crossentropy", "mse"], loss_weights=[1.0, 0.5],
                  metrics=[["accuracy"], ["mae"]])
    return model


def _data(seed=0):
    generator = np.random.default_rng(seed)
    x = generator.standard_normal((24, 4)).astype("float32")
    return x, generator.standard_normal((24, 2)).astype("float32"), generator.integers(0, 3, 24), \
        generator.standard_normal((24, 1)).astype("float32")


@pytest.mark.parametrize("kind", ["sequential", "functional"])
def test_save_and_load_model_keeps_predictions_and_compile_settings(tmp_path, kind):
    x, x_b, labels, target = _data()
    if kind == "sequential":
        model, inputs, targets = _compiled_sequential(), x, labels
    else:
        model, inputs, targets = _compiled_functional(), [x, x_b], [labels, target]
    model.fit(inputs, targets, epochs=2, batch_size=8, shuffle=False, verbose=0)
    path = tmp_path / "m.keras"
    model.save(path)
    loaded = cl.models.load_model(path)
    assert type(loaded) is type(model)
    assert [layer.name for layer in loaded.layers] == [layer.name for layer in model.layers]
    expected_outputs, received_outputs = model.predict(inputs, verbose=0), loaded.predict(inputs, verbose=0)
    if kind == "sequential":
        expected_outputs, received_outputs = [expected_outputs], [received_outputs]
    for ours, theirs in zip(expected_outputs, received_outputs, strict=True):
        np.testing.assert_array_equal(ours, theirs)
    assert loaded.compiled and type(loaded.optimizer) is type(model.optimizer)
    assert loaded.optimizer.get_config()["learning_rate"] == pytest.approx(0.05)
    assert loaded.evaluate(inputs, targets, verbose=0) == pytest.approx(model.evaluate(inputs, targets, verbose=0))
    assert loaded.metrics_names == model.metrics_names
    # Plain SGD has no state, so both continue training identically (same dropout masks too).
    cl.utils.set_random_seed(7)
    expected = model.fit(inputs, targets, epochs=2, batch_size=8, shuffle=False, verbose=0).history
    cl.utils.set_random_seed(7)
    received = loaded.fit(inputs, targets, epochs=2, batch_size=8, shuffle=False, verbose=0).history
    assert sorted(received) == sorted(expected)
    for key in expected:
        np.testing.assert_allclose(received[key], expected[key], rtol=1e-6, err_msg=key)


def test_load_model_without_compile(tmp_path):
    model = _compiled_sequential()
    model.save(tmp_path / "m.keras")
    loaded = cl.load_model(tmp_path / "m.keras", compile=False)
    assert not loaded.compiled
    with pytest.raises(ValueError, match=r"You must call `compile\(\)` before using the model \(fit was called\)"):
        loaded.fit(np.ones((2, 4)), np.zeros(2), verbose=0)


def test_save_weights_and_load_weights_round_trip(tmp_path):
    model = _compiled_functional()
    path = tmp_path / "model.weights.h5"
    model.save_weights(path)
    saved = model.get_weights()
    clone = _compiled_functional()
    assert any(not np.array_equal(a, b) for a, b in zip(clone.get_weights(), saved))
    clone.load_weights(path)
    for a, b in zip(clone.get_weights(), saved):
        np.testing.assert_array_equal(a, b)
    smaller = cl.Sequential([cl.Input((4,)), layers.Dense(3)])
    with pytest.raises(ValueError, match=r"load_weights: layer 'dense(_\d+)?' weight 'kernel' has shape \(4, 3\), but the file has"):
        smaller.load_weights(path)


def test_save_with_a_wrong_extension(tmp_path):
    model = _compiled_sequential()
    with pytest.raises(ValueError, match=r"save: the file name must end in `\.keras`, as in Keras 3\. Received: filepath='.*m\.h5'"):
        model.save(tmp_path / "m.h5")
    message = (
        r"save_weights: the file name must end in "
        r"`\.weights\.h5`, as in Keras 3\. Received: filepath='.*w\.h5'"
    )
    with pytest.raises(ValueError, match=message):
        model.save_weights(tmp_path / "w.h5")
    (tmp_path / "plain.keras").write_text("not a zip")
    with pytest.raises(ValueError, match=r"load_model: .*plain\.keras' is not a `\.keras` file"):
        cl.models.load_model(tmp_path / "plain.keras")


def test_functional_config_round_trip_rebuilds_the_same_graph():
    model = shared_fan_out_model()
    clone = cl.Model.from_config(model.get_config())
    clone.set_weights(model.get_weights())
    x = _normal((3, 4)).astype("float32")
    np.testing.assert_array_equal(clone(x), model(x))
    assert sum(node.layer is clone.get_layer("shared") for node in clone._nodes) == 2


def test_layer_output_and_input_are_symbolic_tensors_as_in_keras():
    model = cl.Sequential([cl.Input(shape=(64,)), cl.layers.Dense(3), cl.layers.Dense(2)])
    assert model.layers[0].output.shape == (None, 3)
    assert model.layers[1].input.shape == (None, 3)
    model.pop()
    assert model.output_shape == (None, 3)
    assert len(model.layers[0]._inbound_nodes) == 1  # rebuilding does not pile up graph nodes
    features = cl.Model(model.inputs, model.layers[0].output)  # Keras's feature-extraction idiom
    x = np.ones((4, 64), "float32")
    np.testing.assert_allclose(features.predict(x, verbose=0), model.predict(x, verbose=0))
    with pytest.raises(AttributeError, match=r"'never' has never been called and thus has no defined output"):
        cl.layers.Dense(2, name="never").output


def _siamese(encoder_dtype=None):
    encoder = cl.Sequential([cl.Input((3,)), layers.Dense(4, activation="tanh")], name="encoder")
    left, right = cl.Input((3,), name="left"), cl.Input((3,), name="right")
    joined = layers.Add()([encoder(left), encoder(right)])
    return cl.Model([left, right], layers.Dense(2, name="head")(joined)), encoder


def test_a_model_used_twice_as_a_layer_has_exact_gradients():
    with cl.backend.floatx_scope("float64"):
        model, encoder = _siamese()
    generator = np.random.default_rng(0)
    report = cl.testing.assert_gradients_close(model, [generator.random((4, 3)), generator.random((4, 3))])
    assert "encoder/dense/kernel" in report.entries
    assert model.trainable_weight_names == ["encoder/dense/kernel", "encoder/dense/bias", "head/kernel", "head/bias"]
    assert len(model.trainable_weights) == len(model.grads) == 4


def test_nested_models_train_save_and_load(tmp_path):
    model, encoder = _siamese()
    model.compile("adam", "mse")
    generator = np.random.default_rng(1)
    x = [generator.random((32, 3)).astype("float32"), generator.random((32, 3)).astype("float32")]
    y = generator.random((32, 2)).astype("float32")
    before = encoder.get_weights()[0].copy()
    model.fit(x, y, epochs=2, verbose=0)
    assert not np.allclose(before, encoder.get_weights()[0])  # the shared encoder learned
    stack = cl.Sequential([cl.Input((3,)), encoder, layers.Dense(1)])  # a model inside a Sequential
    assert stack.count_params() == encoder.count_params() + 5
    for original in (model, stack):
        path = tmp_path / f"{original.name}.keras"
        original.save(path)
        restored = cl.models.load_model(path)
        inputs = x if original is model else x[0]
        np.testing.assert_allclose(restored.predict(inputs, verbose=0), original.predict(inputs, verbose=0))


def test_a_direct_model_call_takes_each_layers_training_default():
    """As Keras: model(x) leaves `training` unset, so an augmentation layer augments (its call() default
    is True) while Dropout stays off (False); predict and evaluate pass training=False to both."""
    model = cl.Sequential([cl.Input((6, 6, 1)), cl.layers.RandomFlip("horizontal", seed=2), cl.layers.Dropout(0.5),
                           cl.layers.Flatten()])
    x = np.arange(1, 37, dtype="float32").reshape(1, 6, 6, 1).repeat(12, axis=0)
    direct = model(x)
    assert np.all(direct != 0)  # no dropout
    flipped = [not np.allclose(row, x[0].ravel()) for row in direct]
    assert 0 < sum(flipped) < 12  # about half the images mirrored
    np.testing.assert_array_equal(model.predict(x, verbose=0), x.reshape(12, -1))
    assert np.sum(model(x, training=True) == 0) > 0  # training=True: dropout on
