"""Whole models against tf.keras in the same test: forward, backward, weights order, summary counts.

The same builder function makes each model with ``k = keras`` and with
``k = course_lib`` (the APIs are the same), so the architectures are built
independently; weights are then copied with the bridge.

Measured against tf.keras 3.15 on CPU, float32, with kernels scaled by
1/sqrt(fan_in): model outputs agree to 1.2e-7 absolute at worst and
input/weight gradients to 3.6e-7 (the Flatten/Reshape model); the tolerances
below (rtol 1e-5, atol 1e-6) leave a margin. With unscaled N(0, 0.3) kernels
on the 784-512-256-10 MLP the differences grow to ~3e-6, from float32 sums
of large pre-activations, not from a wrong formula.
"""
import re
import warnings

import numpy as np
import pytest

import course_lib as cl

tf = pytest.importorskip("tensorflow")
keras = tf.keras

pytestmark = pytest.mark.parity

RTOL, ATOL = 1e-5, 1e-6


# ------------------------------------------------------------------ builders
def book_mlp(k):
    """The book's MNIST MLP: 784-512-256-10 with Dropout."""
    return k.Sequential([
        k.Input((784,)),
        k.layers.Dense(512, activation="relu"), k.layers.Dropout(0.2),
        k.layers.Dense(256, activation="relu"), k.layers.Dropout(0.2),
        k.layers.Dense(10, activation="softmax"),
    ])


def flatten_reshape_model(k):
    return k.Sequential([
        k.Input((4, 3, 2)),
        k.layers.Flatten(), k.layers.Dense(12, activation="tanh"), k.layers.Reshape((3, 4)),
        k.layers.Dense(5, activation="sigmoid"), k.layers.Reshape((-1,)), k.layers.Dense(3),
    ])


def seeds_input_dim_stack(k):
    """The seeds' Keras 2 style: the input size given to the first Dense."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return k.Sequential([
            k.layers.Dense(32, input_dim=784), k.layers.Activation("relu"),
            k.layers.Dense(10), k.layers.Activation("softmax"),
        ])


def two_input_model(k):
    a, b = k.Input((6,), name="in_a"), k.Input((4,), name="in_b")
    left = k.layers.Dense(8, activation="relu", name="left")(a)
    right = k.layers.Dense(8, activation="relu", name="right")(b)
    merged = k.layers.Concatenate(name="merge")([left, right])
    return k.Model([a, b], k.layers.Dense(3, activation="softmax", name="head")(merged))


def two_output_model(k):
    inputs = k.Input((5,), name="features")
    hidden = k.layers.Dense(16, activation="tanh", name="trunk")(inputs)
    scores = k.layers.Dense(4, activation="softmax", name="scores")(hidden)
    value = k.layers.Dense(1, name="value")(k.layers.Dropout(0.3, name="drop")(hidden))
    return k.Model(inputs, [scores, value])


def shared_fan_out_model(k):
    inputs = k.Input((4,), name="x")
    hidden = k.layers.Dense(5, activation="tanh", name="hidden")(inputs)
    shared = k.layers.Dense(5, activation="tanh", name="shared")
    once = shared(hidden)
    twice = shared(once)
    summed = k.layers.Add(name="add")([hidden, once, twice])
    joined = k.layers.Concatenate(name="join")([summed, hidden])
    return k.Model(inputs, k.layers.Dense(3, activation="softmax", name="out")(joined))


BUILDERS = {
    "book_mlp": (book_mlp, [(4, 784)]),
    "flatten_reshape": (flatten_reshape_model, [(4, 4, 3, 2)]),
    "seeds_input_dim": (seeds_input_dim_stack, [(4, 784)]),
    "two_inputs": (two_input_model, [(4, 6), (4, 4)]),
    "two_outputs": (two_output_model, [(4, 5)]),
    "shared_fan_out": (shared_fan_out_model, [(4, 4)]),
}


def _random_weights(keras_model, seed=0):
    """Random kernels scaled by 1/sqrt(fan_in) (activations stay of order 1) and non-zero biases."""
    generator = np.random.default_rng(seed)
    keras_model.set_weights([
        (generator.standard_normal(w.shape) / np.sqrt(w.shape[0] if len(w.shape) > 1 else 10)).astype("float32")
        for w in keras_model.get_weights()
    ])


def _inputs(shapes, seed=1):
    generator = np.random.default_rng(seed)
    return [generator.standard_normal(shape).astype("float32") for shape in shapes]


def _as_list(value):
    return list(value) if isinstance(value, (list, tuple)) else [value]


# -------------------------------------------------------- forward / backward
@pytest.mark.parametrize("name", list(BUILDERS))
def test_model_forward_and_gradients_match_keras(name):
    builder, shapes = BUILDERS[name]
    keras_model = builder(keras)
    _random_weights(keras_model)
    ours = cl.testing.from_keras(keras_model)
    xs = _inputs(shapes)
    model_input = xs if len(xs) > 1 else xs[0]

    outputs = _as_list(ours(model_input))
    generator = np.random.default_rng(2)
    dys = [generator.standard_normal(y.shape).astype("float32") for y in outputs]
    dxs = _as_list(ours.backward(dys if len(dys) > 1 else dys[0]))
    weight_grads = [ours.grads[name] for name in ours.trainable_weight_names]

    tensors = [tf.constant(x) for x in xs]
    with tf.GradientTape() as tape:
        for tensor in tensors:
            tape.watch(tensor)
        keras_outputs = _as_list(keras_model(tensors if len(xs) > 1 else tensors[0], training=False))
    expected = tape.gradient(
        keras_outputs, tensors + keras_model.trainable_weights, output_gradients=[tf.constant(d) for d in dys]
    )

    assert len(outputs) == len(keras_outputs)
    for mine, theirs in zip(outputs, keras_outputs):
        np.testing.assert_allclose(mine, theirs.numpy(), rtol=RTOL, atol=ATOL, err_msg="forward")
    received = dxs + weight_grads
    assert len(received) == len(expected)
    for index, (mine, theirs) in enumerate(zip(received, expected)):
        np.testing.assert_allclose(mine, theirs.numpy(), rtol=RTOL, atol=ATOL, err_msg=f"gradient {index}")


def test_pure_backward_of_a_sequential_matches_keras():
    keras_model = flatten_reshape_model(keras)
    ours = cl.testing.from_keras(keras_model)
    x = _inputs([(3, 4, 3, 2)])[0]
    dy = np.ones((3, 3), dtype="float32")
    _, cache = ours.forward(x)
    dx, weight_grads = ours.backward(dy, cache)
    assert set(weight_grads) == set(ours.trainable_weight_names)
    tensor = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(tensor)
        y = keras_model(tensor)
    np.testing.assert_allclose(dx, tape.gradient(y, tensor, output_gradients=tf.constant(dy)).numpy(),
                               rtol=RTOL, atol=ATOL)


# ------------------------------------------------------------- weights order
@pytest.mark.parametrize("name", list(BUILDERS))
def test_weights_order_matches_keras(name):
    builder, _ = BUILDERS[name]
    keras_model = builder(keras)
    _random_weights(keras_model)
    bridged = cl.testing.from_keras(keras_model)
    for mine, theirs in zip(bridged.get_weights(), keras_model.get_weights(), strict=True):
        np.testing.assert_array_equal(mine, theirs)
    # Built independently, our model lists its weights in the same order and shapes.
    independent = builder(cl)
    assert [w.shape for w in independent.get_weights()] == [tuple(w.shape) for w in keras_model.get_weights()]
    independent.set_weights(keras_model.get_weights())
    back = cl.testing.to_keras(independent)
    for mine, theirs in zip(back.get_weights(), keras_model.get_weights(), strict=True):
        np.testing.assert_array_equal(mine, theirs)


# ------------------------------------------------------------------ summary
def _summary(model):
    lines = []
    model.summary(print_fn=lines.append)
    text = "\n".join(lines)  # Keras calls print_fn once with the whole table
    lines = text.splitlines()
    total = int(re.search(r"Total params: ([\d,]+)", text).group(1).replace(",", ""))
    rows = []
    for line in lines:
        cells = [cell.strip() for cell in line.split("│")[1:-1]]
        if len(cells) >= 3 and re.fullmatch(r"[\d,]+", cells[2]):
            rows.append((cells[0].split(" (")[0], int(cells[2].replace(",", ""))))
    return total, rows


@pytest.mark.parametrize("name", list(BUILDERS))
def test_summary_parameter_counts_match_keras(name):
    builder, _ = BUILDERS[name]
    keras_model = builder(keras)
    ours = builder(cl)
    total, rows = _summary(ours)
    assert total == ours.count_params() == keras_model.count_params()
    if isinstance(ours, cl.Sequential):
        # Automatic names differ between the two libraries, so compare by position.
        assert [count for _, count in rows] == [layer.count_params() for layer in keras_model.layers]
    else:
        # Every layer is named explicitly; a layer called twice shows its params once.
        ours_by_name = {}
        for layer_name, count in rows:
            ours_by_name[layer_name] = ours_by_name.get(layer_name, 0) + count
        assert ours_by_name == {layer.name: layer.count_params() for layer in keras_model.layers}


def test_summary_of_the_book_mlp_prints_keras_totals():
    ours = book_mlp(cl)
    lines = []
    ours.summary(print_fn=lines.append)
    keras_lines = []
    book_mlp(keras).summary(print_fn=lambda line, *args, **kwargs: keras_lines.append(line))
    keras_text = "\n".join(keras_lines)
    for label in ("Total params", "Trainable params", "Non-trainable params"):
        expected = re.search(rf"{label}: ([\d,]+ \([\d.]+ [KMG]?B\))", keras_text).group(1)
        assert f"{label}: {expected}" in "\n".join(lines)


def test_functional_layer_order_and_get_weights_follow_keras():
    """Branches, a shared layer and an unused input: Keras lists layers by depth, then by
    first visit from the outputs; get_weights follows that order, so weights copy both ways."""
    a, b, unused = keras.Input((4,), name="a"), keras.Input((2,), name="b"), keras.Input((3,), name="unused")
    joined = keras.layers.Concatenate(name="joined")([a, b])
    short = keras.layers.Dense(3, name="short")(a)
    long = keras.layers.Dense(3, name="long_2")(keras.layers.Dense(3, name="long_1")(joined))
    shared = keras.layers.Dense(3, name="shared")
    total = keras.layers.Add(name="total")([shared(short), shared(long)])
    keras_model = keras.Model([a, b, unused], [total, joined])
    ours = cl.testing.from_keras(keras_model)
    assert [layer.name for layer in ours.layers] == [layer.name for layer in keras_model.layers]
    fresh = cl.testing.from_keras(keras_model)
    fresh.set_weights([np.zeros_like(w) for w in fresh.get_weights()])
    fresh.set_weights(keras_model.get_weights())  # plain positional copy, no name matching
    for ours_w, keras_w in zip(fresh.get_weights(), keras_model.get_weights()):
        np.testing.assert_array_equal(ours_w, keras_w)


def test_nested_model_matches_keras_in_forward_backward_and_fit():
    """A shared Sequential encoder used twice in a functional model (a siamese network)."""
    encoder = keras.Sequential(
        [keras.Input((5,)), keras.layers.Dense(8, activation="tanh"), keras.layers.Dense(4)], name="encoder"
    )
    a, b = keras.Input((5,), name="a"), keras.Input((5,), name="b")
    joined = keras.layers.Concatenate()([encoder(a), encoder(b)])
    keras_model = keras.Model([a, b], keras.layers.Dense(1, activation="sigmoid", name="head")(joined))
    ours = cl.testing.from_keras(keras_model)
    assert [layer.name for layer in ours.layers] == [layer.name for layer in keras_model.layers]
    generator = np.random.default_rng(0)
    xa, xb = (generator.standard_normal((64, 5)).astype("float32") for _ in range(2))
    y = generator.integers(0, 2, 64).astype("float32")

    dy = generator.standard_normal((64, 1)).astype("float32")
    tensors = [tf.constant(xa), tf.constant(xb)]
    with tf.GradientTape() as tape:
        tape.watch(tensors)
        keras_out = keras_model(tensors)
    keras_grads = tape.gradient(keras_out, tensors + keras_model.trainable_weights, output_gradients=dy)
    our_out = ours([xa, xb])
    our_dx = ours.backward(dy)
    np.testing.assert_allclose(our_out, keras_out.numpy(), rtol=1e-5, atol=1e-6)
    for ours_g, keras_g in zip(list(our_dx) + [ours.grads[name] for name in ours.trainable_weight_names], keras_grads):
        np.testing.assert_allclose(ours_g, keras_g.numpy(), rtol=1e-5, atol=1e-6)

    for model in (keras_model, ours):
        model.compile("adam", "binary_crossentropy", metrics=["accuracy"])
    keras_history = keras_model.fit([xa, xb], y, epochs=3, batch_size=16, shuffle=False, verbose=0).history
    our_history = ours.fit([xa, xb], y, epochs=3, batch_size=16, shuffle=False, verbose=0).history
    for key in keras_history:
        np.testing.assert_allclose(our_history[key], keras_history[key], rtol=1e-5, atol=1e-6)
    for ours_w, keras_w in zip(ours.get_weights(), keras_model.get_weights()):
        np.testing.assert_allclose(ours_w, keras_w, rtol=1e-5, atol=1e-6)


def test_weights_are_variables_as_in_keras():
    keras_model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, name="hidden"), keras.layers.Dense(2, name="out")])
    ours = cl.testing.from_keras(keras_model)
    for mine, theirs in zip(ours.weights, keras_model.weights, strict=True):
        assert (mine.name, mine.path, mine.shape, mine.trainable) == (theirs.name, theirs.path, tuple(theirs.shape), theirs.trainable)
        assert mine.dtype == np.dtype(theirs.dtype)
        np.testing.assert_array_equal(mine.numpy(), theirs.numpy())
    layer = ours.get_layer("hidden")
    assert layer.kernel is ours.weights[0]
    layer.kernel.assign(np.ones((4, 3)))
    keras_model.get_layer("hidden").kernel.assign(np.ones((4, 3)))
    np.testing.assert_array_equal(ours.predict(np.ones((2, 4)), verbose=0), keras_model.predict(np.ones((2, 4)), verbose=0))
    layer.trainable = False
    keras_model.get_layer("hidden").trainable = False
    assert [w.trainable for w in ours.weights] == [w.trainable for w in keras_model.weights]
    with pytest.raises(ValueError, match=r"Variable 'sequential(_\d+)?/hidden/bias': assign expects shape \(3,\)"):
        layer.bias.assign(np.zeros(4))


def test_a_custom_training_loop_with_apply_gradients_matches_keras():
    """Keras's loop: gradients for model.trainable_weights, then optimizer.apply_gradients(zip(...))."""
    keras_model = keras.Sequential([keras.Input((5,)), keras.layers.Dense(4, activation="tanh"), keras.layers.Dense(1)])
    ours = cl.testing.from_keras(keras_model)
    keras_optimizer, our_optimizer = keras.optimizers.Adam(0.05), cl.optimizers.Adam(0.05)
    generator = np.random.default_rng(0)
    x = generator.standard_normal((16, 5)).astype("float32")
    y = generator.standard_normal((16, 1)).astype("float32")
    loss_fn = cl.losses.MeanSquaredError()
    for _ in range(4):
        with tf.GradientTape() as tape:
            keras_loss = keras.losses.MeanSquaredError()(y, keras_model(x, training=True))
        keras_optimizer.apply_gradients(zip(tape.gradient(keras_loss, keras_model.trainable_weights),
                                            keras_model.trainable_weights))
        predictions = ours(x, training=True)
        our_loss = loss_fn(y, predictions)
        ours.backward(loss_fn.gradient(y, predictions))
        grads = [ours.grads[name] for name in ours.trainable_weight_names]
        our_optimizer.apply_gradients(zip(grads, ours.trainable_weights))
        assert our_loss == pytest.approx(float(keras_loss), rel=1e-5)
    for mine, theirs in zip(ours.get_weights(), keras_model.get_weights(), strict=True):
        np.testing.assert_allclose(mine, theirs, rtol=1e-5, atol=1e-6)


def _summary_builders(library):
    def sequential():
        return library.Sequential([library.Input((4,)), library.layers.Dense(3, name="d1"),
                                   library.layers.Dense(1, name="d2")], name="seq")

    def linear():
        x = library.Input((4,), name="x")
        return library.Model(x, library.layers.Dense(2, name="o")(library.layers.Dense(3, name="h")(x)), name="linear")

    def branched():
        a, b = library.Input((4,), name="a"), library.Input((4,), name="b")
        shared = library.layers.Dense(2, name="shared")
        added = library.layers.Add(name="add")([shared(a), shared(b)])
        return library.Model([a, b], [added, library.layers.Dense(1, name="head")(added)], name="branched")

    return {"sequential": sequential, "linear": linear, "branched": branched}


@pytest.mark.parametrize("kind", ["sequential", "linear", "branched"])
@pytest.mark.parametrize("line_length", [None, 60, 120])
@pytest.mark.parametrize("trained", [False, True])
def test_summary_prints_what_keras_prints(kind, line_length, trained):
    texts = []
    for library in (keras, cl):
        model = _summary_builders(library)[kind]()
        if trained:
            model.compile("adam", "mse")
            inputs = np.ones((4, 4), "float32") if kind != "branched" else [np.ones((4, 4), "float32")] * 2
            targets = np.ones((4, 1 if kind == "sequential" else 2), "float32")
            if kind == "branched":
                targets = [np.ones((4, 2), "float32"), np.ones((4, 1), "float32")]
            model.fit(inputs, targets, verbose=0)
        lines = []
        model.summary(line_length=line_length, print_fn=lines.append)
        texts.append("\n".join(lines).rstrip())
    assert texts[1] == texts[0]


@pytest.mark.parametrize("graph", ["two_separate_branches", "a_chain_with_two_outputs"])
def test_summary_draws_connections_exactly_where_keras_does(graph):
    """Keras's rule: a model is drawn as a chain when each depth holds one node with one input.

    Two inputs feeding two separate heads break it (two nodes at each depth),
    although no tensor feeds two layers; a chain whose middle is also an output does not.
    """
    texts = []
    for library in (keras, cl):
        if graph == "two_separate_branches":
            a, b = library.Input((4,), name="a"), library.Input((3,), name="b")
            inputs, outputs = [a, b], [library.layers.Dense(2, name="p")(a), library.layers.Dense(1, name="q")(b)]
        else:
            inputs = library.Input((4,), name="x")
            middle = library.layers.Dense(3, name="middle")(inputs)
            outputs = [middle, library.layers.Dense(1, name="last")(middle)]
        lines = []
        library.Model(inputs, outputs, name=graph).summary(line_length=100, print_fn=lines.append)
        texts.append("\n".join(lines).rstrip())
    assert texts[1] == texts[0]


def test_a_shared_layer_reports_its_first_call_as_input_and_output():
    """Keras 3 answers `layer.input` / `layer.output` of a layer called twice with its first call."""
    def shapes(lib):
        shared = lib.layers.Dense(2)
        first, second = lib.Input((3,)), lib.Input((5, 3))
        shared(first), shared(second)
        return tuple(shared.input.shape), tuple(shared.output.shape)

    import tensorflow as tf
    assert shapes(cl) == shapes(tf.keras) == ((None, 3), (None, 2))


@pytest.mark.parametrize("input_shape, array_shape", [
    ((28, 28, 1), (6, 28, 28)),  # MNIST's images into a Conv2D model: Keras adds the channel axis
    ((5,), (6, 5, 1)),  # a trailing axis of 1 too many: Keras drops it
])
def test_an_input_one_axis_of_1_off_is_adjusted_as_keras_does(input_shape, array_shape):
    from course_lib.testing import from_keras

    keras.utils.set_random_seed(0)
    layers = [keras.Input(input_shape)] + ([keras.layers.Conv2D(3, 3), keras.layers.Flatten()]
                                           if len(input_shape) == 3 else []) + [keras.layers.Dense(4)]
    theirs = keras.Sequential(layers)
    ours = from_keras(theirs)
    x = np.random.default_rng(1).random(array_shape).astype("float32")
    np.testing.assert_allclose(ours.predict(x, verbose=0), theirs.predict(x, verbose=0), rtol=1e-5, atol=1e-6)
    y = np.random.default_rng(2).random((6, 4)).astype("float32")
    for model in (theirs, ours):
        model.compile(optimizer="sgd", loss="mse")
    assert ours.evaluate(x, y, verbose=0) == pytest.approx(theirs.evaluate(x, y, verbose=0), rel=1e-5)
    with pytest.raises(ValueError, match="is incompatible"):
        ours.predict(x[..., None, None] if len(input_shape) == 1 else x[:, :, :5], verbose=0)


def _summary_text(model, **options):
    printed = []
    model.summary(print_fn=lambda text, *args, **kwargs: printed.append(text), **options)
    return printed


@pytest.mark.parametrize("options", [
    {}, {"show_trainable": True}, {"expand_nested": True}, {"expand_nested": True, "show_trainable": True},
    {"layer_range": ["inner", "head"]}, {"positions": [0.4, 0.7, 1.0]}, {"line_length": 100},
], ids=lambda options: ",".join(options) or "defaults")
def test_summary_takes_keras_s_arguments_and_prints_the_same_text(options):
    """A nested model with a frozen layer: chapter 8 checks which VGG-16 layers are frozen this way."""
    from course_lib.testing import from_keras

    inner = keras.Sequential([keras.Input((3,)), keras.layers.Dense(4, name="d1"), keras.layers.Dense(2, name="d2")],
                             name="inner")
    x = keras.Input((3,), name="x")
    theirs = keras.Model(x, keras.layers.Dense(1, name="head")(inner(x)), name="outer")
    theirs.get_layer("inner").get_layer("d1").trainable = False
    expected = _summary_text(theirs, **options)
    assert len(expected) == 1 and expected[0].endswith("\n")  # print_fn gets the whole text, its line break too
    assert _summary_text(from_keras(theirs), **options) == expected


def test_the_summary_of_an_unbuilt_model_is_keras_s():
    assert _summary_text(cl.Sequential([cl.layers.Dense(2, name="d")], name="s")) == \
        _summary_text(keras.Sequential([keras.layers.Dense(2, name="d")], name="s"))
