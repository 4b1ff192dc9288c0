"""The recurrent layers: gradient checks (float64, central differences, < 1e-6) for every cell
and wrapper option, the step functions of course_lib.ops.recurrent, states, masks and bad input."""
import warnings

import numpy as np
import pytest

import course_lib as cl
from course_lib import backend
from course_lib.ops import recurrent as ops

N, T, F, U = 3, 5, 2, 3


def _mask():
    mask = np.ones((N, T), bool)
    mask[1, 3:] = False   # padded at the end
    mask[2, :2] = False   # padded at the start
    return mask


def _with_fixed_mask(layer, mask):
    """The layer called with ``mask`` every time (check_gradients calls it with the inputs only)."""
    forward = layer.forward

    def masked_forward(inputs, training=False, mask=None):
        return forward(inputs, training=training, mask=fixed)

    fixed = mask

    layer.forward = masked_forward
    return layer


def _check(layer, inputs):
    # A step of 1e-5: the loops' small weight gradients (~1e-5) sit above the rounding noise
    # of the difference quotient, which 1e-6 magnifies tenfold.
    report = cl.testing.assert_gradients_close(layer, inputs, tolerance=1e-6, epsilon=1e-5)
    assert report.max_error < 1e-6
    return report


GRADIENT_CASES = [
    ("SimpleRNN", {}),
    ("SimpleRNN", {"return_sequences": True, "activation": "relu"}),
    ("LSTM", {}),
    ("LSTM", {"return_sequences": True}),
    ("LSTM", {"go_backwards": True, "return_sequences": True}),
    ("LSTM", {"return_state": True}),
    ("LSTM", {"use_bias": False}),
    ("GRU", {}),
    ("GRU", {"reset_after": False, "return_sequences": True}),
    ("GRU", {"return_state": True, "go_backwards": True}),
    ("GRU", {"zero_output_for_mask": True, "return_sequences": True}),
]


@pytest.mark.parametrize("masked", [False, True], ids=["dense", "masked"])
@pytest.mark.parametrize("name,options", GRADIENT_CASES, ids=[f"{n}-{sorted(o)}" for n, o in GRADIENT_CASES])
def test_layer_gradients(name, options, masked):
    with backend.floatx_scope("float64"):
        layer = getattr(cl.layers, name)(U, **options)
        if masked:
            _with_fixed_mask(layer, _mask())
        _check(layer, np.random.default_rng(1).standard_normal((N, T, F)))


@pytest.mark.parametrize("merge_mode", ["concat", "sum", "mul", "ave", None])
@pytest.mark.parametrize("inner", ["LSTM", "GRU"])
@pytest.mark.parametrize("return_sequences", [False, True])
def test_bidirectional_gradients_in_every_merge_mode(merge_mode, inner, return_sequences):
    with backend.floatx_scope("float64"):
        layer = cl.layers.Bidirectional(getattr(cl.layers, inner)(U, return_sequences=return_sequences),
                                        merge_mode=merge_mode)
        _with_fixed_mask(layer, _mask())
        _check(layer, np.random.default_rng(2).standard_normal((N, T, F)))


def test_bidirectional_return_state_gradients():
    with backend.floatx_scope("float64"):
        layer = cl.layers.Bidirectional(cl.layers.LSTM(U, return_state=True, return_sequences=True))
        _check(layer, np.random.default_rng(3).standard_normal((N, T, F)))


def test_initial_state_gradients():
    with backend.floatx_scope("float64"):
        rng = np.random.default_rng(4)
        layer = cl.layers.LSTM(U, return_sequences=True)
        x, h0, c0 = rng.standard_normal((N, T, F)), rng.standard_normal((N, U)), rng.standard_normal((N, U))
        outputs = layer(x, initial_state=[h0, c0])
        dy = rng.standard_normal(outputs.shape)
        dx, dh0, dc0 = layer.backward(dy)

        def loss(h0_):
            return float(np.sum(layer(x, initial_state=[h0_, c0]) * dy))

        eps, i = 1e-6, (1, 2)
        bumped = h0.copy()
        bumped[i] += eps
        lowered = h0.copy()
        lowered[i] -= eps
        numeric = (loss(bumped) - loss(lowered)) / (2 * eps)
        assert abs(numeric - dh0[i]) < 1e-6 * max(1.0, abs(numeric))
        assert dx.shape == x.shape and dc0.shape == c0.shape


def test_stacked_layers_in_a_model_pass_the_gradient_check():
    with backend.floatx_scope("float64"):
        model = cl.Sequential([
            cl.Input(shape=(T, F)),
            cl.layers.GRU(4, return_sequences=True),
            cl.layers.LSTM(3, return_sequences=True),
            cl.layers.SimpleRNN(2),
        ])
        _check(model, np.random.default_rng(5).standard_normal((N, T, F)))


def test_dropout_in_training_passes_the_gradient_check_with_fixed_masks():
    with backend.floatx_scope("float64"):
        layer = cl.layers.LSTM(U, dropout=0.4, recurrent_dropout=0.3, return_sequences=True, seed=1)
        layer(np.zeros((N, T, F)))
        masks = layer.cell.dropout_masks(N, F, "float64")
        layer.cell.dropout_masks = lambda batch, features, dtype: masks
        report = cl.testing.assert_gradients_close(
            layer, np.random.default_rng(6).standard_normal((N, T, F)), training=True, tolerance=1e-6)
    assert report.max_error < 1e-6
    assert len(masks[0]) == 4 and len(masks[1]) == 4  # one per gate, as Keras with recurrent_dropout


@pytest.mark.parametrize("step", ["simple_rnn", "lstm", "gru", "gru_reset_before"])
def test_single_step_functions_against_central_differences(step):
    rng = np.random.default_rng(7)
    gates = {"simple_rnn": 1, "lstm": 4, "gru": 3, "gru_reset_before": 3}[step]
    x, h, c = rng.standard_normal((N, F)), rng.standard_normal((N, U)), rng.standard_normal((N, U))
    kernel, recurrent = rng.standard_normal((F, gates * U)) * 0.5, rng.standard_normal((U, gates * U)) * 0.5
    bias = rng.standard_normal((2, 3 * U)) if step == "gru" else rng.standard_normal(gates * U)
    dh, dc = rng.standard_normal((N, U)), rng.standard_normal((N, U))

    def run():
        if step == "simple_rnn":
            return ops.simple_rnn_step_forward(x, h, kernel, recurrent, bias)
        if step == "lstm":
            return ops.lstm_step_forward(x, h, c, kernel, recurrent, bias)
        return ops.gru_step_forward(x, h, kernel, recurrent, bias, reset_after=step == "gru")

    def objective():
        out = run()
        return float(np.sum(out[0] * dh) + (np.sum(out[1] * dc) if step == "lstm" else 0.0))

    out = run()
    if step == "lstm":
        grads = ops.lstm_step_backward(dh, dc, out[-1])
        arrays = [x, h, c, kernel, recurrent, bias]
    else:
        backward = ops.simple_rnn_step_backward if step == "simple_rnn" else ops.gru_step_backward
        grads = backward(dh, out[-1])
        arrays = [x, h, kernel, recurrent, bias]
    for array, grad in zip(arrays, grads):
        numeric = np.zeros_like(array)
        for index in np.ndindex(array.shape):
            original = array[index]
            array[index] = original + 1e-6
            plus = objective()
            array[index] = original - 1e-6
            minus = objective()
            array[index] = original
            numeric[index] = (plus - minus) / 2e-6
        np.testing.assert_allclose(grad, numeric, rtol=1e-6, atol=1e-7)


# -------------------------------------------------------------------- masks
def test_masked_steps_carry_the_state_and_repeat_the_output():
    rng = np.random.default_rng(8)
    x = rng.standard_normal((2, 4, F)).astype("float32")
    mask = np.array([[True, True, False, False], [False, True, True, True]])
    layer = cl.layers.GRU(U, return_sequences=True, return_state=True)
    outputs, state = layer(x, mask=mask)
    np.testing.assert_array_equal(outputs[0, 2], outputs[0, 1])  # repeats the last real output
    np.testing.assert_array_equal(outputs[0, 3], outputs[0, 1])
    np.testing.assert_array_equal(outputs[1, 0], 0.0)            # nothing before the first real step
    np.testing.assert_array_equal(state[0], outputs[0, 1])
    # The padded sequence ends in the same state as the unpadded one.
    short = cl.layers.GRU(U, return_state=True)
    short(x[:1, :2])
    short.set_weights(layer.get_weights())
    np.testing.assert_allclose(short(x[:1, :2])[1][0], state[0], rtol=1e-6)


def test_a_dropped_mask_warns_once():
    inputs = cl.Input(shape=(T, F))
    masked = cl.layers.LSTM(U, return_sequences=True)
    model = cl.Model(inputs, cl.layers.Flatten()(masked(inputs)))
    model.predict(np.zeros((N, T, F), "float32"), verbose=0)  # no mask anywhere: no warning

    class MaskMaker(cl.layers.Layer):
        supports_masking = True

        def compute_mask(self, inputs, previous_mask=None):
            return np.ones(inputs.shape[:2], bool)

    inputs = cl.Input(shape=(T, F))
    flatten = cl.layers.Flatten()
    model = cl.Model(inputs, flatten(cl.layers.LSTM(U, return_sequences=True)(MaskMaker()(inputs))))
    with pytest.warns(UserWarning, match="does not support masking"):
        model.predict(np.zeros((N, T, F), "float32"), verbose=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model.predict(np.zeros((N, T, F), "float32"), verbose=0)


def test_a_mask_argument_to_a_layer_that_takes_none_is_refused():
    with pytest.raises(TypeError, match="Dense.*takes no `mask` argument"):
        cl.layers.Dense(2)(np.zeros((2, 3)), mask=np.ones((2,), bool))


# ------------------------------------------------------------------- states
def test_stateful_layer_continues_and_resets():
    rng = np.random.default_rng(9)
    x1, x2 = rng.standard_normal((2, N, T, F)).astype("float32")
    layer = cl.layers.LSTM(U, stateful=True, batch_size=N)
    model = cl.Sequential([cl.Input(batch_shape=(N, T, F)), layer])
    model.predict(x1, verbose=0)
    continued = model.predict(x2, verbose=0)
    plain = cl.layers.LSTM(U)
    plain(x1)
    plain.set_weights(layer.get_weights())
    whole = plain(np.concatenate([x1, x2], axis=1))
    np.testing.assert_allclose(continued, whole, rtol=1e-5, atol=1e-6)
    layer.reset_states()
    np.testing.assert_allclose(model.predict(x1, verbose=0), plain(x1), rtol=1e-5, atol=1e-6)
    assert [state.shape for state in layer.states] == [(N, U), (N, U)]
    layer.reset_states()
    assert all(np.all(state == 0) for state in layer.states)


def test_stateful_without_a_fixed_batch_size_is_refused():
    with pytest.raises(ValueError, match="stateful=True.*batch size must be static"):
        cl.Sequential([cl.Input(shape=(T, F)), cl.layers.GRU(U, stateful=True)])


def test_stateful_with_another_batch_size_is_refused():
    model = cl.Sequential([cl.Input(batch_shape=(N, T, F)), cl.layers.SimpleRNN(U, stateful=True)])
    with pytest.raises(ValueError, match="Expected batch size: 3. Received batch size: 2|incompatible"):
        model.layers[0](np.zeros((2, T, F), "float32"))


def test_reset_states_of_a_layer_that_is_not_stateful():
    with pytest.raises(AttributeError, match="not stateful"):
        cl.layers.LSTM(2).reset_states()


# ---------------------------------------------------------------- bad input
def test_two_dimensional_input_is_refused_with_the_layer_name():
    with pytest.raises(ValueError, match="'lstm.*expected ndim=3.*found ndim=2"):
        cl.layers.LSTM(U, name="lstm")(np.zeros((4, 3), "float32"))
    with pytest.raises(ValueError, match="expected ndim=3"):
        cl.Sequential([cl.Input(shape=(7,)), cl.layers.GRU(2)])


def test_initial_state_of_the_wrong_count_or_shape():
    x = np.zeros((N, T, F), "float32")
    with pytest.raises(ValueError, match="expected 2 initial state\\(s\\).*received 1"):
        cl.layers.LSTM(U)(x, initial_state=[np.zeros((N, U), "float32")])
    with pytest.raises(ValueError, match=r"initial_state\[0\] must have shape \(batch, 3\) = \(3, 3\). Received: shape=\(3, 4\)"):
        cl.layers.GRU(U)(x, initial_state=[np.zeros((N, 4), "float32")])


def test_a_cell_without_state_size_is_refused():
    class NoState(cl.layers.Layer):
        def call(self, inputs, states):
            return inputs, states

    with pytest.raises(ValueError, match="has no `state_size`"):
        cl.layers.RNN(NoState())
    with pytest.raises(ValueError, match="should have a `call` method"):
        cl.layers.RNN(object())
    # A list of cells is no error: as in Keras it runs as one StackedRNNCells.
    assert isinstance(cl.layers.RNN([cl.layers.GRUCell(2), cl.layers.GRUCell(2)]).cell, cl.layers.StackedRNNCells)


def test_a_cell_without_backward_step_runs_forward_and_says_why_it_cannot_train():
    class ForwardOnly(cl.layers.RNNCell):
        state_size = 2

        def call(self, inputs, states, training=False):
            h = np.tanh(inputs[:, :2] + states[0])
            return h, [h]

    layer = cl.layers.RNN(ForwardOnly(), return_sequences=True)
    y = layer(np.ones((2, 4, 3), "float32"))
    assert y.shape == (2, 4, 2)
    with pytest.raises(TypeError, match="defines no backward_step"):
        layer.backward(np.ones_like(y))


@pytest.mark.parametrize("kwargs,match", [
    ({"units": 0}, "units must be a positive int"),
    ({"units": 3, "dropout": "a lot"}, "dropout must be a float"),
])
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        cl.layers.LSTM(**kwargs)


def test_bidirectional_bad_arguments():
    with pytest.raises(ValueError, match="recurrent layer"):
        cl.layers.Bidirectional(cl.layers.Dense(2))
    with pytest.raises(ValueError, match="Invalid merge mode|invalid merge mode"):
        cl.layers.Bidirectional(cl.layers.LSTM(2), merge_mode="max")
    with pytest.raises(ValueError, match="different `go_backwards`"):
        cl.layers.Bidirectional(cl.layers.LSTM(2), backward_layer=cl.layers.LSTM(2))


# ------------------------------------------------------------ weights/config
def test_weight_layouts_and_counts_follow_keras():
    model = cl.Sequential([cl.Input(shape=(T, 4)), cl.layers.LSTM(8, return_sequences=True),
                           cl.layers.Bidirectional(cl.layers.GRU(3)), cl.layers.Dense(1)])
    lstm, bidirectional, _ = model.layers
    assert [w.shape for w in lstm.get_weights()] == [(4, 32), (8, 32), (32,)]
    assert [w.shape for w in bidirectional.get_weights()] == [(8, 9), (3, 9), (2, 9)] * 2
    assert lstm.count_params() == 4 * 32 + 8 * 32 + 32
    np.testing.assert_array_equal(lstm.get_weights()[2][8:16], 1.0)  # unit_forget_bias
    np.testing.assert_array_equal(np.delete(lstm.get_weights()[2], np.s_[8:16]), 0.0)
    recurrent = lstm.get_weights()[1]
    np.testing.assert_allclose(recurrent @ recurrent.T, np.eye(8), atol=1e-5)  # orthogonal rows


def test_freezing_a_recurrent_layer_freezes_its_cell():
    layer = cl.layers.Bidirectional(cl.layers.LSTM(2))
    layer(np.zeros((1, 3, 2), "float32"))
    layer.trainable = False
    assert layer.trainable_weights == [] and len(layer.non_trainable_weights) == 6
    assert not layer.forward_layer.cell.trainable


def test_config_round_trip():
    for layer in (cl.layers.GRU(3, reset_after=False, dropout=0.1, go_backwards=True),
                  cl.layers.Bidirectional(cl.layers.LSTM(2, return_sequences=True), merge_mode="mul"),
                  cl.layers.RNN(cl.layers.SimpleRNNCell(4), return_state=True)):
        clone = type(layer).from_config(layer.get_config())
        assert clone.get_config() == layer.get_config()
