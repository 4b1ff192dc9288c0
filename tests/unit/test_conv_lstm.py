"""ConvLSTM1D/2D/3D and StackedRNNCells: gradient checks (float64, central differences, < 1e-6) for the
input and every weight over the options (paddings, strides, dilation, data formats, return_sequences,
return_state, go_backwards, masks, dropout, initial states, stacked cells), shapes, states, configs
and bad arguments."""
import numpy as np
import pytest

import course_lib as cl
from course_lib import backend


def _check(layer, inputs):
    # A step of 1e-5, as for the other recurrent layers: their small weight gradients sit above the
    # rounding noise of the difference quotient.
    report = cl.testing.assert_gradients_close(layer, inputs, tolerance=1e-6, epsilon=1e-5)
    assert report.max_error < 1e-6
    return report


def _with_fixed_mask(layer, mask):
    """The layer called with ``mask`` every time (check_gradients calls it with the inputs only)."""
    forward = layer.forward

    def masked_forward(inputs, training=False, mask=None):
        return forward(inputs, training=training, mask=fixed)

    fixed = mask
    layer.forward = masked_forward
    return layer


CONV_CASES = [
    ("ConvLSTM1D", (2, 3, 6, 2), {"filters": 2, "kernel_size": 3}),
    ("ConvLSTM1D", (2, 3, 7, 2), {"filters": 2, "kernel_size": 2, "strides": 2, "padding": "same",
                                  "return_sequences": True}),
    ("ConvLSTM2D", (2, 3, 5, 4, 2), {"filters": 2, "kernel_size": (3, 2), "padding": "same",
                                     "go_backwards": True, "return_state": True}),
    ("ConvLSTM2D", (2, 3, 5, 5, 1), {"filters": 2, "kernel_size": 2, "dilation_rate": 2,
                                     "return_sequences": True, "go_backwards": True}),
    ("ConvLSTM2D", (2, 3, 5, 4, 2), {"filters": 2, "kernel_size": 3, "strides": (2, 1), "use_bias": False,
                                     "activation": "softsign", "return_sequences": True, "return_state": True}),
    ("ConvLSTM2D", (2, 3, 2, 5, 4), {"filters": 2, "kernel_size": 3, "padding": "same",
                                     "data_format": "channels_first", "return_sequences": True,
                                     "return_state": True}),
    ("ConvLSTM3D", (2, 2, 3, 4, 3, 1), {"filters": 2, "kernel_size": 2, "padding": "same",
                                        "return_sequences": True}),
]


@pytest.mark.parametrize("name,shape,options", CONV_CASES,
                         ids=[f"{n}-{'-'.join(f'{k}={v}' for k, v in o.items())}" for n, _, o in CONV_CASES])
def test_conv_lstm_gradients(name, shape, options):
    with backend.floatx_scope("float64"):
        layer = getattr(cl.layers, name)(**options)
        report = _check(layer, np.random.default_rng(1).standard_normal(shape))
        assert set(report.entries) == {"input", "kernel", "recurrent_kernel"} | (
            {"bias"} if options.get("use_bias", True) else set())


@pytest.mark.parametrize("return_sequences", [False, True])
def test_conv_lstm_gradients_with_a_mask(return_sequences):
    with backend.floatx_scope("float64"):
        mask = np.ones((3, 4), bool)
        mask[1, 3:] = False
        mask[2, :2] = False
        layer = _with_fixed_mask(cl.layers.ConvLSTM2D(2, 3, padding="same", return_sequences=return_sequences,
                                                      return_state=True), mask)
        _check(layer, np.random.default_rng(2).standard_normal((3, 4, 3, 3, 2)))


def test_conv_lstm_gradients_of_initial_states():
    with backend.floatx_scope("float64"):
        rng = np.random.default_rng(3)
        layer = cl.layers.ConvLSTM1D(2, 3, padding="same", return_sequences=True)
        x, h0, c0 = rng.standard_normal((2, 3, 5, 2)), rng.standard_normal((2, 5, 2)), rng.standard_normal((2, 5, 2))
        report = cl.testing.assert_gradients_close(layer, [x, h0, c0], tolerance=1e-6, epsilon=1e-5)
        assert {"input_0", "input_1", "input_2", "kernel"} <= set(report.entries)


@pytest.mark.parametrize("rates", [(0.3, 0.0), (0.0, 0.4), (0.25, 0.35)])
def test_conv_lstm_gradients_with_dropout_in_training(rates):
    with backend.floatx_scope("float64"):
        layer = cl.layers.ConvLSTM2D(2, 3, padding="same", return_sequences=True, dropout=rates[0],
                                     recurrent_dropout=rates[1], seed=5)
        drawn = layer.cell.dropout_masks
        fixed = {}

        def same_masks(*args):  # the same masks at every forward pass of the finite differences
            if not fixed:
                fixed["masks"] = drawn(*args)
            return fixed["masks"]

        layer.cell.dropout_masks = same_masks
        cl.testing.assert_gradients_close(layer, np.random.default_rng(4).standard_normal((2, 3, 4, 4, 2)),
                                          training=True, tolerance=1e-6, epsilon=1e-5)
        input_masks, recurrent_masks = fixed["masks"]
        assert (input_masks is None) == (rates[0] == 0) and (recurrent_masks is None) == (rates[1] == 0)
        for masks, shape in ((input_masks, (2, 4, 4, 2)), (recurrent_masks, (2, 4, 4, 2))):
            if masks is not None:  # four masks, one per gate, shaped like a step's input / the state
                assert len(masks) == 4 and all(m.shape == shape for m in masks)


def test_conv_lstm_dropout_only_in_training_and_masks_once_per_sequence():
    x = np.random.default_rng(5).standard_normal((2, 4, 5, 2)).astype("float32")
    layer = cl.layers.ConvLSTM1D(3, 3, dropout=0.5, recurrent_dropout=0.5, return_sequences=True, seed=1)
    np.testing.assert_array_equal(layer(x), layer(x, training=False))
    calls = []
    drawn = layer.cell.dropout_masks
    layer.cell.dropout_masks = lambda *args: calls.append(args) or drawn(*args)
    layer(x, training=True)
    assert len(calls) == 1
    assert not np.allclose(layer(x, training=True), layer(x))


def test_conv_lstm_shapes_and_states_symbolic_and_eager():
    x = np.random.default_rng(6).standard_normal((2, 3, 7, 6, 2)).astype("float32")
    layer = cl.layers.ConvLSTM2D(4, 3, strides=2, return_sequences=True, return_state=True)
    inputs = cl.Input(shape=(3, 7, 6, 2))
    outputs = layer(inputs)
    assert [tuple(t.shape) for t in outputs] == [(None, 3, 3, 2, 4), (None, 3, 2, 4), (None, 3, 2, 4)]
    y, h, c = layer(x)
    assert y.shape == (2, 3, 3, 2, 4) and h.shape == c.shape == (2, 3, 2, 4)
    np.testing.assert_array_equal(y[:, -1], h)
    assert [w.shape for w in layer.weights] == [(3, 3, 2, 16), (3, 3, 4, 16), (16,)]
    np.testing.assert_array_equal(layer.cell.bias.numpy(), np.r_[np.zeros(4), np.ones(4), np.zeros(8)])
    first = cl.layers.ConvLSTM2D(2, 3, data_format="channels_first", padding="same")
    assert first(np.zeros((2, 3, 1, 5, 4), "float32")).shape == (2, 2, 5, 4)
    assert first.filters == 2 and first.padding == "same" and first.kernel_size == (3, 3)


def test_conv_lstm_go_backwards_is_the_reversed_sequence():
    x = np.random.default_rng(7).standard_normal((2, 4, 5, 2)).astype("float32")
    forward = cl.layers.ConvLSTM1D(2, 3, return_sequences=True)
    backward = cl.layers.ConvLSTM1D(2, 3, return_sequences=True, go_backwards=True)
    forward(x)
    backward(x)
    backward.set_weights(forward.get_weights())
    np.testing.assert_allclose(backward(x), forward(x[:, ::-1]), rtol=1e-6, atol=1e-6)


def test_conv_lstm_stateful_carries_states_then_resets():
    x = np.random.default_rng(8).standard_normal((2, 3, 5, 2)).astype("float32")
    layer = cl.layers.ConvLSTM1D(2, 3, stateful=True, padding="same")
    model = cl.Sequential([cl.Input(batch_shape=(2, 3, 5, 2)), layer])
    first, second = model.predict(x, verbose=0), model.predict(x, verbose=0)
    assert not np.allclose(first, second)
    layer.reset_states()
    np.testing.assert_allclose(model.predict(x, verbose=0), first, rtol=1e-6, atol=1e-6)


def test_conv_lstm_config_round_trip():
    layer = cl.layers.ConvLSTM3D(2, (1, 2, 3), strides=(1, 1, 2), padding="same", dropout=0.2, seed=4,
                                 return_state=True, unit_forget_bias=False)
    config = layer.get_config()
    assert config["kernel_size"] == (1, 2, 3) and config["seed"] == 4 and "cell" not in config
    again = cl.layers.deserialize(cl.layers.serialize(layer))
    assert type(again) is cl.layers.ConvLSTM3D
    assert {k: v for k, v in again.get_config().items() if k != "name"} == \
        {k: v for k, v in config.items() if k != "name"}


@pytest.mark.parametrize("make,match", [
    (lambda: cl.layers.ConvLSTM2D(0, 3), "filters must be a positive int"),
    (lambda: cl.layers.ConvLSTM2D(2, (3, 3, 3)), "kernel_size must be positive ints"),
    (lambda: cl.layers.ConvLSTM2D(2, 3, padding="causal"), "padding must be 'valid' or 'same'"),
    (lambda: cl.layers.ConvLSTM1D(2, 3, strides=2, dilation_rate=2), "strides > 1.*dilation_rate > 1"),
    (lambda: cl.layers.ConvLSTM1D(2, 3, data_format="NCHW"), "data_format must be"),
    (lambda: cl.layers.ConvLSTM1D(2, 3, dropout="x"), "dropout must be a float"),
])
def test_conv_lstm_bad_arguments(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_conv_lstm_bad_inputs():
    with pytest.raises(ValueError, match="conv_lstm2d.*expected ndim=5.*found ndim=6"):
        cl.layers.ConvLSTM2D(2, 3, name="conv_lstm2d")(cl.Input(shape=(3, 5, 5, 2, 1)))
    with pytest.raises(ValueError, match="too small for the kernel"):
        cl.layers.ConvLSTM2D(2, 5)(np.zeros((1, 2, 3, 3, 1), "float32"))
    with pytest.raises(ValueError, match="static input shapes for the spatial dimension"):
        cl.layers.ConvLSTM1D(2, 3)(cl.Input(shape=(3, None, 2)))
    layer = cl.layers.ConvLSTM1D(2, 3)
    with pytest.raises(ValueError, match=r"initial_state\[0\] must have shape \(2, 3, 2\)"):
        layer(np.zeros((2, 3, 5, 1), "float32"), initial_state=[np.zeros((2, 5, 2)), np.zeros((2, 3, 2))])
    with pytest.raises(TypeError, match="runs this cell only inside its layer"):
        layer.cell.call(np.zeros((2, 5, 1)), [np.zeros((2, 3, 2))] * 2)


# --------------------------------------------------------------- stacked cells
STACKS = {
    "lstm-gru": lambda: [cl.layers.LSTMCell(3), cl.layers.GRUCell(2)],
    "simple-lstm-gru_before": lambda: [cl.layers.SimpleRNNCell(3, activation="relu"), cl.layers.LSTMCell(2),
                                       cl.layers.GRUCell(2, reset_after=False)],
}


@pytest.mark.parametrize("options", [{}, {"return_sequences": True, "return_state": True},
                                     {"return_state": True, "go_backwards": True}], ids=["last", "all", "backwards"])
@pytest.mark.parametrize("stack", sorted(STACKS))
def test_stacked_cells_gradients(stack, options):
    with backend.floatx_scope("float64"):
        layer = cl.layers.RNN(STACKS[stack](), **options)
        report = _check(layer, np.random.default_rng(12).standard_normal((3, 4, 3)))
        assert len(report.entries) == 1 + len(layer.trainable_weights)


def test_stacked_cells_gradients_with_a_mask_dropout_and_initial_states():
    with backend.floatx_scope("float64"):
        rng = np.random.default_rng(10)
        layer = cl.layers.RNN(cl.layers.StackedRNNCells([cl.layers.LSTMCell(3, dropout=0.3, recurrent_dropout=0.2),
                                                         cl.layers.GRUCell(2, dropout=0.4)]),
                              return_sequences=True, return_state=True)
        mask = np.ones((2, 4), bool)
        mask[1, 2:] = False
        _with_fixed_mask(layer, mask)
        fixed = {}
        for index, cell in enumerate(layer.cell.cells):
            def same_masks(*args, drawn=cell.dropout_masks, index=index):
                if index not in fixed:
                    fixed[index] = drawn(*args)
                return fixed[index]
            cell.dropout_masks = same_masks
        inputs = [rng.standard_normal((2, 4, 2)), rng.standard_normal((2, 3)), rng.standard_normal((2, 3)),
                  rng.standard_normal((2, 2))]
        report = cl.testing.assert_gradients_close(layer, inputs, training=True, tolerance=1e-6, epsilon=1e-5)
        assert {"input_1", "input_2", "input_3"} <= set(report.entries)
        assert fixed[0][0] is not None and fixed[1][0] is not None


def test_stacked_cells_state_order_and_the_stack_equals_two_layers():
    rng = np.random.default_rng(11)
    x = rng.standard_normal((2, 4, 3)).astype("float32")
    stacked = cl.layers.RNN([cl.layers.LSTMCell(4), cl.layers.GRUCell(2)], return_sequences=True, return_state=True)
    y, h1, c1, h2 = stacked(x)
    assert stacked.cell.state_size == [[4, 4], 2] and stacked.cell.output_size == 2
    assert isinstance(stacked.cell, cl.layers.StackedRNNCells)
    first, second = cl.layers.LSTM(4, return_sequences=True, return_state=True), \
        cl.layers.GRU(2, return_sequences=True, return_state=True)
    a, ha, ca = first(x)
    b, hb = second(a)
    first.set_weights(stacked.get_weights()[:3])
    second.set_weights(stacked.get_weights()[3:])
    a, ha, ca = first(x)
    b, hb = second(a)
    for mine, theirs in ((y, b), (h1, ha), (c1, ca), (h2, hb)):
        np.testing.assert_allclose(mine, theirs, rtol=1e-6, atol=1e-6)
    # Nested initial states (Keras's form) and flat ones are the same.
    states = [[np.ones((2, 4)), np.zeros((2, 4))], np.ones((2, 2))]
    nested = stacked(x, initial_state=states)
    flat = stacked(x, initial_state=[np.ones((2, 4)), np.zeros((2, 4)), np.ones((2, 2))])
    for n, f in zip(nested, flat):
        np.testing.assert_array_equal(n, f)


def test_stacked_cells_symbolic_shapes_config_and_errors():
    layer = cl.layers.RNN([cl.layers.SimpleRNNCell(3), cl.layers.LSTMCell(2)], return_state=True)
    outputs = layer(cl.Input(shape=(5, 4)))
    assert [tuple(t.shape) for t in outputs] == [(None, 2), (None, 3), (None, 2), (None, 2)]
    assert [w.shape for w in layer.weights] == [(4, 3), (3, 3), (3,), (3, 8), (2, 8), (8,)]
    again = cl.layers.deserialize(cl.layers.serialize(layer))
    assert isinstance(again.cell, cl.layers.StackedRNNCells)
    assert [type(c).__name__ for c in again.cell.cells] == ["SimpleRNNCell", "LSTMCell"]
    assert [name for name, _ in layer.cell.saving_children()] == ["cells/simple_rnn_cell", "cells/lstm_cell"]
    two = cl.layers.StackedRNNCells([cl.layers.GRUCell(2), cl.layers.GRUCell(2)])
    assert [name for name, _ in two.saving_children()] == ["cells/gru_cell", "cells/gru_cell_1"]
    layer.trainable = False
    assert layer.trainable_weights == [] and all(not c.trainable for c in layer.cell.cells)
    with pytest.raises(ValueError, match="StackedRNNCells: all cells must have a `call` method"):
        cl.layers.StackedRNNCells([object()])
    with pytest.raises(ValueError, match="StackedRNNCells: cells must be a non-empty list"):
        cl.layers.StackedRNNCells([])
