"""Assignment 7 (recurrent networks): its checkers, their references against tf.keras, and nbgrader on the notebooks.

The checkers must give full points to the references and to the solution
notebook's functions, fewer to each planted bug (gates in another order, the
upstream dc forgotten, time run backwards, a unidirectional model ...) with a
reason that says what is wrong, nothing to the release's stubs; the
references must be tf.keras's numbers; the NumPy exercises must earn nothing
when they hand the work to course_lib (statically or at run time) while the
Bidirectional exercise builds with it; a forged model description must cost
points without the grader building it; and one ``nbgrader autograde`` of a
scratch course must grade raising, looping and test-deleting submissions
without a crash, then export every student.
"""
import json
import textwrap

import numpy as np
import pytest
from graded_notebooks import (
    Assignment, answer_functions, autograded_output, cell, class_grading_tests, full_points_tests, planted,
    planted_bug_tests, release_baseline_test, submission, without,
)

import course_lib as cl
from course_lib.grading import assignment7, harness, registry, trusted

ASSIGNMENT = "assignment7"


class RecurrentAssignment(Assignment):
    """Assignment 7's notebook; a backward checker gets its forward partner from the function's own namespace.

    A planted or a student's backward function was defined next to the forward that makes its cache
    (their layouts agree); a reference backward sits next to the reference forward in the checker module.
    """

    def checker(self, exercise):
        check, partner = registry.checkers(self.name)[exercise]
        if partner is None:
            return check

        def with_partner(function, **options):
            scope = getattr(function, "__globals__", {})
            forward = scope.get(partner) or scope.get(f"reference_{partner}")
            return check(function, forward, **options)

        return with_partner


NOTEBOOK = RecurrentAssignment(ASSIGNMENT)
FULL = NOTEBOOK.full
SOLUTION = answer_functions(NOTEBOOK.solution)


def test_the_points_add_up_to_twenty_and_only_the_model_uses_course_lib():
    assert sum(FULL.values()) == 20
    assert registry.uses_course_lib(ASSIGNMENT) and registry.uses_course_lib(ASSIGNMENT, "train_bidirectional")
    for exercise in FULL:
        forbidden = trusted.forbidden_modules(ASSIGNMENT, exercise)
        assert "course_lib.grading.assignment7" in forbidden and "tensorflow" in forbidden
        assert ("course_lib.ops" in forbidden) == (exercise != "train_bidirectional"), exercise
        assert ("course_lib.layers" in forbidden) == (exercise != "train_bidirectional"), exercise


# --- the references and the solution notebook earn everything -----------------------


test_the_reference_earns_full_points, test_the_solution_notebook_earns_full_points_and_the_release_nothing = (
    full_points_tests(NOTEBOOK))


def test_the_notebook_makes_its_sequences_by_the_graders_rule():
    namespace = {"np": np}
    exec("".join(cell(NOTEBOOK.solution, "bidirectional_data")["source"]), namespace)
    assert (namespace["SEQUENCE_LENGTH"], namespace["VOCABULARY"]) == (assignment7.SEQUENCE_LENGTH,
                                                                       assignment7.VOCABULARY)
    for count, seed in [(50, 0), (7, 1701)]:
        notebook_data = namespace["first_equals_last"](count, seed)
        for mine, theirs in zip(notebook_data, assignment7.first_equals_last(count, seed)):
            np.testing.assert_array_equal(mine, theirs)
    x, y = assignment7.first_equals_last(4000, 3)
    tokens = x.argmax(axis=-1)
    assert x.shape == (4000, 30, 4) and x.dtype == np.float32 and set(np.unique(x)) == {0.0, 1.0}
    np.testing.assert_array_equal(y == 1, tokens[:, 0] == tokens[:, -1])
    assert 0.45 < y.mean() < 0.55
    # The tokens in between say nothing: every token is as frequent in both classes.
    middle = tokens[:, 1:-1]
    for token in range(4):
        assert abs((middle[y == 1] == token).mean() - (middle[y == 0] == token).mean()) < 0.01


def test_a_unidirectional_lstm_stays_near_chance_where_the_bidirectional_one_is_right():
    """What the notebook says of the task: the same model without Bidirectional fails in the same 10 epochs."""
    x_train, y_train = assignment7.first_equals_last(assignment7.TRAIN_SIZE, assignment7.GRADER_SEEDS[0])
    x_test, y_test = assignment7.first_equals_last(assignment7.TEST_SIZE, assignment7.GRADER_SEEDS[1])
    one_way = plant("train_bidirectional", *UNIDIRECTIONAL)(x_train, y_train)
    both_ways = assignment7.reference_train_bidirectional(x_train, y_train)
    accuracy = [np.mean((model.predict(x_test, verbose=0)[:, 0] > 0.5) == (y_test > 0.5)) for model in (one_way,
                                                                                                      both_ways)]
    assert accuracy[0] < 0.65 and accuracy[1] >= 0.99, accuracy


# --- the references against tf.keras -----------------------------------------------------------


def _keras_run(tf, keras, kind, x, states, weights, upstream, return_sequences=False):
    """Keras's outputs and the gradients of sum(output * upstream) w.r.t. x, the states and the weights."""
    layer = getattr(keras.layers, kind)(weights[1].shape[0], return_sequences=return_sequences, return_state=True,
                                        dtype="float64")
    layer(tf.constant(x), initial_state=[tf.constant(s) for s in states])
    layer.set_weights(weights)
    tensors = [tf.constant(x)] + [tf.constant(s) for s in states]
    with tf.GradientTape() as tape:
        for tensor in tensors:
            tape.watch(tensor)
        outputs = layer(tensors[0], initial_state=tensors[1:])
        total = sum(tf.reduce_sum(out * grad) for out, grad in zip(outputs, upstream) if grad is not None)
    grads = tape.gradient(total, tensors + list(layer.trainable_weights))
    return [out.numpy() for out in outputs], [g.numpy() for g in grads]


@pytest.mark.parity
@pytest.mark.parametrize("shapes", assignment7._STEP_SHAPES)
def test_the_step_references_are_keras_s(shapes):
    """One time step of Keras's SimpleRNN, LSTM and GRU, with the checker's own inputs, in float64."""
    tf = pytest.importorskip("tensorflow")
    keras = tf.keras
    close = dict(rtol=1e-10, atol=1e-12)
    rng = np.random.default_rng(5)
    x, h_prev, Wx, Wh, b = assignment7._rnn_step_inputs(rng, *shapes)
    dh = rng.normal(size=h_prev.shape)
    h, cache = assignment7.reference_rnn_step_forward(x, h_prev, Wx, Wh, b)
    (out, _), grads = _keras_run(tf, keras, "SimpleRNN", x[:, None], [h_prev], [Wx, Wh, b], [dh, None])
    np.testing.assert_allclose(h, out, **close)
    dx, *rest = assignment7.reference_rnn_step_backward(dh, cache)
    for mine, theirs in zip([dx[:, None]] + rest, grads):
        np.testing.assert_allclose(mine, theirs, **close)

    x, h_prev, c_prev, Wx, Wh, b = assignment7._lstm_step_inputs(rng, *shapes)
    dh, dc = rng.normal(size=h_prev.shape), rng.normal(size=c_prev.shape)
    h, c, cache = assignment7.reference_lstm_step_forward(x, h_prev, c_prev, Wx, Wh, b)
    (out, _, cell_state), grads = _keras_run(tf, keras, "LSTM", x[:, None], [h_prev, c_prev], [Wx, Wh, b],
                                             [dh, None, dc])
    np.testing.assert_allclose(h, out, **close)
    np.testing.assert_allclose(c, cell_state, **close)
    dx, *rest = assignment7.reference_lstm_step_backward(dh, dc, cache)
    for mine, theirs in zip([dx[:, None]] + rest, grads):
        np.testing.assert_allclose(mine, theirs, **close)

    x, h_prev, Wx, Wh, b = assignment7._gru_step_inputs(rng, *shapes)
    h, _ = assignment7.reference_gru_step_forward(x, h_prev, Wx, Wh, b)
    (out, _), _ = _keras_run(tf, keras, "GRU", x[:, None], [h_prev], [Wx, Wh, b], [np.ones_like(h_prev), None])
    np.testing.assert_allclose(h, out, **close)


@pytest.mark.parity
@pytest.mark.parametrize("batch, steps, features, units, return_sequences", assignment7._SEQUENCE_CASES)
def test_the_sequence_references_are_keras_s(batch, steps, features, units, return_sequences):
    tf = pytest.importorskip("tensorflow")
    rng = np.random.default_rng(6)
    x, h0, Wx, Wh, b = assignment7._sequence_inputs(rng, batch, steps, features, units)
    out, cache = assignment7.reference_rnn_forward(x, h0, Wx, Wh, b, return_sequences)
    dout = rng.normal(size=out.shape)
    (theirs, _), grads = _keras_run(tf, tf.keras, "SimpleRNN", x, [h0], [Wx, Wh, b], [dout, None], return_sequences)
    np.testing.assert_allclose(out, theirs, rtol=1e-10, atol=1e-12)
    for mine, keras_grad in zip(assignment7.reference_rnn_backward(dout, cache), grads):
        np.testing.assert_allclose(mine, keras_grad, rtol=1e-10, atol=1e-12)


# --- planted bugs earn less, with a reason ------------------------------------------------

SIGMOID = """
    def sigmoid(x):
        return 1 / (1 + np.exp(-x))
    """
RNN_STEP_SOURCE = """
    def rnn_step_forward(x, h_prev, Wx, Wh, b):
        h = np.tanh(x @ Wx + h_prev @ Wh + b)
        return h, (x, h_prev, Wx, Wh, h)
    """
RNN_STEP_BACKWARD_SOURCE = """
    def rnn_step_backward(dh, cache):
        x, h_prev, Wx, Wh, h = cache
        da = dh * (1 - h ** 2)
        db = da.sum(axis=0)
        return da @ Wx.T, da @ Wh.T, x.T @ da, h_prev.T @ da, db
    """
LSTM_STEP_SOURCE = """
    def lstm_step_forward(x, h_prev, c_prev, Wx, Wh, b):
        u = h_prev.shape[1]
        z = x @ Wx + h_prev @ Wh + b
        i, f, g, o = sigmoid(z[:, :u]), sigmoid(z[:, u:2 * u]), np.tanh(z[:, 2 * u:3 * u]), sigmoid(z[:, 3 * u:])
        c = f * c_prev + i * g
        h = o * np.tanh(c)
        return h, c, (x, h_prev, c_prev, Wx, Wh, i, f, g, o, c)
    """
LSTM_STEP_BACKWARD_SOURCE = """
    def lstm_step_backward(dh, dc, cache):
        x, h_prev, c_prev, Wx, Wh, i, f, g, o, c = cache
        total = dc + dh * o * (1 - np.tanh(c) ** 2)
        di, df, dg, do = total * g, total * c_prev, total * i, dh * np.tanh(c)
        dz = np.concatenate([di * i * (1 - i), df * f * (1 - f), dg * (1 - g ** 2), do * o * (1 - o)], axis=1)
        dc_prev = total * f
        return dz @ Wx.T, dz @ Wh.T, dc_prev, x.T @ dz, h_prev.T @ dz, dz.sum(axis=0)
    """
GRU_STEP_SOURCE = """
    def gru_step_forward(x, h_prev, Wx, Wh, b):
        u = h_prev.shape[1]
        ax, ah = x @ Wx + b[0], h_prev @ Wh + b[1]
        z = sigmoid(ax[:, :u] + ah[:, :u])
        r = sigmoid(ax[:, u:2 * u] + ah[:, u:2 * u])
        candidate = np.tanh(ax[:, 2 * u:] + r * ah[:, 2 * u:])
        h = z * h_prev + (1 - z) * candidate
        return h, None
    """
RNN_FORWARD_SOURCE = """
    def rnn_forward(x, h0, Wx, Wh, b, return_sequences):
        h, states, caches = h0, [], []
        for t in range(x.shape[1]):
            h, step = rnn_step_forward(x[:, t], h, Wx, Wh, b)
            states.append(h)
            caches.append(step)
        out = np.stack(states, axis=1) if return_sequences else h
        return out, (caches, return_sequences, h0.shape)
    """
RNN_BACKWARD_SOURCE = """
    def rnn_backward(dout, cache):
        caches, return_sequences, state_shape = cache
        steps = len(caches)
        if not return_sequences:
            last = dout
            dout = np.zeros((dout.shape[0], steps, dout.shape[1]))
            dout[:, -1] = last
        carried = np.zeros(state_shape)
        dxs, dWx, dWh, db = [None] * steps, 0, 0, 0
        for t in range(steps - 1, -1, -1):
            dx_t, carried, dWx_t, dWh_t, db_t = rnn_step_backward(dout[:, t] + carried, caches[t])
            dxs[t] = dx_t
            dWx, dWh, db = dWx + dWx_t, dWh + dWh_t, db + db_t
        return np.stack(dxs, axis=1), carried, dWx, dWh, db
    """
TRAIN_SOURCE = """
    def train_bidirectional(x_train, y_train):
        keras.utils.set_random_seed(0)
        inputs = keras.Input(shape=x_train.shape[1:])
        features = keras.layers.Bidirectional(keras.layers.LSTM(16))(inputs)
        hidden = keras.layers.Dense(16, activation="relu")(features)
        outputs = keras.layers.Dense(1, activation="sigmoid")(hidden)
        model = keras.Model(inputs, outputs)
        model.compile(optimizer=keras.optimizers.Adam(learning_rate=0.01), loss="binary_crossentropy")
        model.fit(x_train, y_train, epochs=10, batch_size=64, verbose=0)
        return model
    """
SOURCES = {"rnn_step_forward": RNN_STEP_SOURCE, "rnn_step_backward": RNN_STEP_BACKWARD_SOURCE,
           "lstm_step_forward": LSTM_STEP_SOURCE, "lstm_step_backward": LSTM_STEP_BACKWARD_SOURCE,
           "gru_step_forward": GRU_STEP_SOURCE, "rnn_forward": RNN_FORWARD_SOURCE, "rnn_backward": RNN_BACKWARD_SOURCE,
           "train_bidirectional": TRAIN_SOURCE}
EXTRA = {  # what each planted function calls: the unplanted functions it is written next to
    "rnn_step_backward": RNN_STEP_SOURCE,
    "lstm_step_forward": SIGMOID,
    "lstm_step_backward": SIGMOID + LSTM_STEP_SOURCE,
    "gru_step_forward": SIGMOID,
    "rnn_forward": RNN_STEP_SOURCE,
    "rnn_backward": RNN_STEP_SOURCE + RNN_STEP_BACKWARD_SOURCE + RNN_FORWARD_SOURCE,
    "train_bidirectional": "import course_lib as keras\n",
}
LSTM_ORDER_I_F_O_C = ("i, f, g, o = sigmoid(z[:, :u]), sigmoid(z[:, u:2 * u]), np.tanh(z[:, 2 * u:3 * u]), "
                      "sigmoid(z[:, 3 * u:])",
                      "i, f, o, g = sigmoid(z[:, :u]), sigmoid(z[:, u:2 * u]), sigmoid(z[:, 2 * u:3 * u]), "
                      "np.tanh(z[:, 3 * u:])")
NO_DC = ("total = dc + dh", "total = dh")
GRU_Z_FLIPPED = ("h = z * h_prev + (1 - z) * candidate", "h = (1 - z) * h_prev + z * candidate")
RESET_BEFORE = ("candidate = np.tanh(ax[:, 2 * u:] + r * ah[:, 2 * u:])",
                "candidate = np.tanh(ax[:, 2 * u:] + b[1, 2 * u:] + (r * h_prev) @ Wh[:, 2 * u:])")
TIME_REVERSED = ("for t in range(x.shape[1]):", "for t in range(x.shape[1] - 1, -1, -1):")
NOT_CARRIED = ("rnn_step_backward(dout[:, t] + carried, caches[t])", "rnn_step_backward(dout[:, t], caches[t])")
UNIDIRECTIONAL = ("keras.layers.Bidirectional(keras.layers.LSTM(16))", "keras.layers.LSTM(16)")
BUGS = {
    "rnn_step_forward": {
        "sigmoid instead of tanh": ("np.tanh(x @ Wx + h_prev @ Wh + b)",
                                    "1 / (1 + np.exp(-(x @ Wx + h_prev @ Wh + b)))"),
        "no bias": (" + b)", ")"),
        "h_prev ignored": (" + h_prev @ Wh", ""),
        "the recurrent kernel transposed": ("h_prev @ Wh", "h_prev @ Wh.T"),
    },
    "rnn_step_backward": {
        "the tanh derivative forgotten": ("da = dh * (1 - h ** 2)", "da = dh"),
        "db averaged over the batch": ("db = da.sum(axis=0)", "db = da.mean(axis=0)"),
        "no bias gradient": ("db = da.sum(axis=0)", "db = None"),
        "dWh from the new state": ("h_prev.T @ da", "h.T @ da"),
    },
    "lstm_step_forward": {
        "gates in the order i, f, o, c": LSTM_ORDER_I_F_O_C,
        "i and f swapped": ("c = f * c_prev + i * g", "c = i * c_prev + f * g"),
        "h = o * c, the tanh forgotten": ("h = o * np.tanh(c)", "h = o * c"),
        "a tanh candidate gate read with sigmoid": ("np.tanh(z[:, 2 * u:3 * u])", "sigmoid(z[:, 2 * u:3 * u])"),
    },
    "lstm_step_backward": {
        "the upstream dc forgotten": NO_DC,
        "dc_prev not multiplied by f": ("dc_prev = total * f", "dc_prev = total"),
        "dz in the order i, f, o, c": ("dg * (1 - g ** 2), do * o * (1 - o)", "do * o * (1 - o), dg * (1 - g ** 2)"),
        "no bias gradient": ("dz.sum(axis=0)", "None"),
        "the output gate's gradient from c, not tanh(c)": ("do = total * g, total * c_prev, total * i, dh * np.tanh(c)",
                                                          "do = total * g, total * c_prev, total * i, dh * c"),
    },
    "gru_step_forward": {
        "z and 1 - z swapped": GRU_Z_FLIPPED,
        "the reset gate before the product (reset_after=False)": RESET_BEFORE,
        "the recurrent bias ignored": ("h_prev @ Wh + b[1]", "h_prev @ Wh"),
        "gates in the order r, z, h": ("z = sigmoid(ax[:, :u] + ah[:, :u])\n        r = sigmoid(ax[:, u:2 * u] + "
                                       "ah[:, u:2 * u])", "r = sigmoid(ax[:, :u] + ah[:, :u])\n        z = "
                                       "sigmoid(ax[:, u:2 * u] + ah[:, u:2 * u])"),
    },
    "rnn_forward": {
        "time run backwards": TIME_REVERSED,
        "starts from zeros, not h0": ("h, states, caches = h0, [], []", "h, states, caches = 0 * h0, [], []"),
        "always every state": ("if return_sequences else h", "if True else h"),
        "the first state, not the last": ("if return_sequences else h", "if return_sequences else states[0]"),
    },
    "rnn_backward": {
        "the gradient from later steps not carried back": NOT_CARRIED,
        "the weight gradients of one step only": ("dWx, dWh, db = dWx + dWx_t, dWh + dWh_t, db + db_t",
                                                  "dWx, dWh, db = dWx_t, dWh_t, db_t"),
        "without return_sequences, dout given to every step": ("dout[:, -1] = last", "dout[:, :] = last[:, None]"),
        "no gradient for h0": ("np.stack(dxs, axis=1), carried,", "np.stack(dxs, axis=1), 0 * carried,"),
    },
    "train_bidirectional": {
        "a unidirectional LSTM": UNIDIRECTIONAL,
        "no hidden layer": ("outputs = keras.layers.Dense(1, activation=\"sigmoid\")(hidden)",
                            "outputs = keras.layers.Dense(1, activation=\"sigmoid\")(features)"),
        "trained for one epoch": ("epochs=10", "epochs=1"),
        "two softmax outputs": ('Dense(1, activation="sigmoid")(hidden)\n        model = keras.Model(inputs, outputs)\n'
                                '        model.compile(optimizer=keras.optimizers.Adam(learning_rate=0.01), '
                                'loss="binary_crossentropy")',
                                'Dense(2, activation="softmax")(hidden)\n        model = keras.Model(inputs, outputs)\n'
                                '        model.compile(optimizer=keras.optimizers.Adam(learning_rate=0.01), '
                                'loss="sparse_categorical_crossentropy")'),
    },
}


def plant(name, old="", new=""):
    return planted(SOURCES[name], name, old, new, extra=EXTRA.get(name))


test_the_sources_the_bugs_are_planted_into_earn_full_points, test_each_planted_bug_earns_less_and_says_why = \
    planted_bug_tests(NOTEBOOK, SOURCES, BUGS, plant)


def _printed(capsys, name, *bug):
    points = NOTEBOOK.checker(name)(plant(name, *bug))
    return points, capsys.readouterr().out


def test_gates_in_another_order_are_named(capsys):
    points, printed = _printed(capsys, "lstm_step_forward", *LSTM_ORDER_I_F_O_C)
    assert points == 0.0, printed
    assert "h differs at index" in printed and "expected " in printed and ", received " in printed
    assert "these are the numbers of gates read in the order i, f, o, c; Keras's column blocks are i, f, c, o" \
        in printed
    points, printed = _printed(capsys, "gru_step_forward", *BUGS["gru_step_forward"]["gates in the order r, z, h"])
    assert "gates read in the order r, z, h; Keras's column blocks are z, r, h" in printed, printed
    # In the backward pass, the gradient's columns of the swapped gates are the wrong ones.
    points, printed = _printed(capsys, "lstm_step_backward", *BUGS["lstm_step_backward"]["dz in the order i, f, o, c"])
    assert "dWh differs at index" in printed and "only the columns of gates c, o are wrong (the blocks are i, f, c, o" \
        in printed, printed


def test_the_forgotten_dc_and_the_gru_s_usual_mistakes_are_explained(capsys):
    points, printed = _printed(capsys, "lstm_step_backward", *NO_DC)
    assert points == 0.0, printed  # every gradient depends on the cell state's
    assert "these are the gradients without the upstream dc" in printed, printed
    _, printed = _printed(capsys, "gru_step_forward", *GRU_Z_FLIPPED)
    assert "Keras keeps z of the previous state" in printed, printed
    _, printed = _printed(capsys, "gru_step_forward", *RESET_BEFORE)
    assert "the reset gate multiplies h_prev before the recurrent product (reset_after=False)" in printed, printed
    _, printed = _printed(capsys, "gru_step_forward", *BUGS["gru_step_forward"]["the recurrent bias ignored"])
    assert "the recurrent bias b[1] is missing" in printed, printed
    _, printed = _printed(capsys, "rnn_step_forward", *BUGS["rnn_step_forward"]["no bias"])
    assert "the bias b is missing" in printed, printed


def test_the_loop_s_mistakes_are_explained_step_by_step(capsys):
    points, printed = _printed(capsys, "rnn_forward", *TIME_REVERSED)
    assert "the loop run from the last time step to the first" in printed, printed
    assert points == pytest.approx(2 / 5, abs=0.01)  # only the single-step case is right
    _, printed = _printed(capsys, "rnn_forward", *BUGS["rnn_forward"]["starts from zeros, not h0"])
    assert "a loop that starts from zeros; it starts from h0" in printed, printed
    _, printed = _printed(capsys, "rnn_forward", *BUGS["rnn_forward"]["the first state, not the last"])
    assert "this is the state after the first step" in printed, printed
    _, printed = _printed(capsys, "rnn_backward", *NOT_CARRIED)
    assert "dx is right at time step 4 and wrong at 0, 1, 2, 3: the gradient reaching the earlier steps is wrong " \
        "(each step's dh is its own dout[:, t], nothing without return_sequences, plus the dh_prev the step after " \
        "it sends back)" in printed, printed
    _, printed = _printed(capsys, "rnn_step_backward", *BUGS["rnn_step_backward"]["no bias gradient"])
    assert "db: an array of shape (5,) expected, received None" in printed, printed


def test_the_model_s_reasons(capsys):
    points, printed = _printed(capsys, "train_bidirectional", *UNIDIRECTIONAL)
    assert "the model has no Bidirectional layer (its layers: ['InputLayer', 'LSTM', 'Dense', 'Dense'])" in printed
    assert "held-out accuracy 0." in printed and "expected >= 0.95" in printed
    assert points < 1.0, printed
    points, printed = _printed(capsys, "train_bidirectional", *BUGS["train_bidirectional"]["two softmax outputs"])
    assert "one output of shape (None, 1)" in printed and "could not predict" in printed and points == 0.0, printed


# --- what the grader rebuilds: only the allowed layers, within the size limits --------------------


def described(model):
    return {"model_json": model.to_json(), "weights": model.get_weights()}


def _small_model():
    inputs = cl.Input((assignment7.SEQUENCE_LENGTH, assignment7.VOCABULARY))
    features = cl.layers.Bidirectional(cl.layers.GRU(4))(inputs)
    return cl.Model(inputs, cl.layers.Dense(1, activation="sigmoid")(features))


def _convolutional_model():
    inputs = cl.Input((assignment7.SEQUENCE_LENGTH, assignment7.VOCABULARY))
    return cl.Model(inputs, cl.layers.Conv1D(2, 3)(inputs))


def with_config(edit):
    description = described(_small_model())
    config = json.loads(description["model_json"])
    edit(config["config"]["layers"][1]["config"])
    return dict(description, model_json=json.dumps(config))


def _huge(settings):
    settings["layer"]["config"]["units"] = 100_000


def _wraps_a_dense(settings):
    settings["layer"] = {"module": "keras.layers", "class_name": "Dense", "registered_name": None,
                         "config": {"name": "forward_dense", "units": 4}}


def _wraps_a_model(settings):
    settings["layer"]["registered_name"] = "Functional"


def _huge_backward_layer(settings):
    settings["backward_layer"] = json.loads(json.dumps(settings["layer"]))
    settings["backward_layer"]["config"].update(name="backward_gru", units=10_000, go_backwards=True)


FORGED_MODELS = {
    "a number": (3, "must return a course_lib Model"),
    "a wrapped layer of 100,000 units": (with_config(_huge), "has units=100000; each recurrent layer here has"),
    "a wrapped Dense": (with_config(_wraps_a_dense), "wraps a 'Dense'; a Bidirectional here wraps one of"),
    "a wrapped layer registered as a model": (with_config(_wraps_a_model), "wraps a 'GRU'"),
    "a backward layer of 10,000 units": (with_config(_huge_backward_layer), "(backward_layer) has units=10000"),
    "a Conv1D": (described(_convolutional_model()), "'Conv1D' layer; this exercise accepts"),
}


@pytest.mark.parametrize("forgery", sorted(FORGED_MODELS))
def test_a_forged_model_description_costs_points_and_says_why(forgery, capsys, monkeypatch):
    result, reason = FORGED_MODELS[forgery]
    # Refused before anything is built.
    monkeypatch.setattr(cl.models, "model_from_json", lambda *args: pytest.fail("the model was built"))
    with pytest.raises(harness.StudentCodeError, match=reason.replace("(", r"\(").replace(")", r"\)")):
        assignment7.rebuilt_bidirectional("train_bidirectional", result)
    assert NOTEBOOK.checker("train_bidirectional")(lambda *args: result) == 0.0
    assert reason in capsys.readouterr().out


def test_the_rebuilt_model_is_the_returned_one():
    cl.utils.set_random_seed(3)
    original = _small_model()
    rebuilt = assignment7.rebuilt_bidirectional("train_bidirectional", described(original))
    x, _ = assignment7.first_equals_last(5, 0)
    np.testing.assert_array_equal(original.predict(x, verbose=0), rebuilt.predict(x, verbose=0))
    assert [type(layer).__name__ for layer in rebuilt.layers] == ["InputLayer", "Bidirectional", "Dense"]


# --- the trusted grader: NumPy before the model, course_lib for the model, Keras nowhere ---------------

RELEASED = {grade_id: "".join(cell(NOTEBOOK.release, grade_id)["source"]) for grade_id in (
    "rnn_step_forward_answer", "train_bidirectional_answer")}
FORGERIES = {  # (the answer cell, its source, the exercises that earn nothing)
    "course_lib's kernel": ("lstm_step_forward_answer", (
        "from course_lib.ops import recurrent\n"
        "def lstm_step_forward(x, h_prev, c_prev, Wx, Wh, b):\n"
        "    return recurrent.lstm_step_forward(x, h_prev, c_prev, Wx, Wh, b)\n"),
        ["lstm_step_forward", "lstm_step_backward"]),
    "course_lib's kernel imported at run time": ("gru_step_forward_answer", (
        "import importlib\n"
        "def gru_step_forward(x, h_prev, Wx, Wh, b):\n"
        "    ops = importlib.import_module('course_lib.' + 'ops.recurrent')\n"
        "    return ops.gru_step_forward(x, h_prev, Wx, Wh, b)\n"), ["gru_step_forward"]),
    "course_lib's SimpleRNN": ("rnn_forward_answer", (
        "import course_lib as library\n"
        "def rnn_forward(x, h0, Wx, Wh, b, return_sequences):\n"
        "    layer = library.layers.SimpleRNN(Wh.shape[0], return_sequences=return_sequences, dtype='float64')\n"
        "    layer.build([x.shape, h0.shape])\n"
        "    layer.set_weights([Wx, Wh, b])\n"
        "    return layer(x, initial_state=[h0]), None\n"), ["rnn_forward", "rnn_backward"]),
    "the checker's reference": ("gru_step_forward_answer",
                                "from course_lib.grading.assignment7 import reference_gru_step_forward as "
                                "gru_step_forward\n", ["gru_step_forward"]),
    "the checker's reference model": ("train_bidirectional_answer",
                                      "from course_lib.grading import assignment7\n"
                                      "train_bidirectional = assignment7.reference_train_bidirectional\n",
                                      ["train_bidirectional"]),
    "Keras itself": ("train_bidirectional_answer", "from tensorflow import keras as tf_keras\n" + textwrap.dedent(
        TRAIN_SOURCE).replace("keras.", "tf_keras."), ["train_bidirectional"]),
    "prints a number": ("rnn_step_forward_answer", "print(3.0)\n" + RELEASED["rnn_step_forward_answer"],
                        ["rnn_step_forward", "rnn_step_backward", "rnn_forward", "rnn_backward"]),
}


def test_the_solution_is_graded_in_sandboxes_with_course_lib_for_the_model_only():
    assert NOTEBOOK.trusted_scores(NOTEBOOK.solution) == FULL


@pytest.mark.parametrize("forgery", sorted(FORGERIES))
def test_a_forged_answer_earns_nothing_for_its_exercise(forgery):
    grade_id, source, lost = FORGERIES[forgery]
    forged = submission(NOTEBOOK.solution, **{grade_id: source})
    assert NOTEBOOK.trusted_scores(forged) == dict(FULL, **{name: 0.0 for name in lost})


# --- nbgrader on a class: raising, looping, deleted tests, partial credit, the export ----------------

SOLVED = {grade_id: "".join(cell(NOTEBOOK.solution, grade_id)["source"]) for grade_id in (
    "rnn_step_backward_answer", "lstm_step_forward_answer", "gru_step_forward_answer", "rnn_forward_answer",
    "rnn_backward_answer")}


def _class():
    erin = submission(NOTEBOOK.solution, train_bidirectional_answer=RELEASED["train_bidirectional_answer"])
    return {
        "alice": NOTEBOOK.solution,
        "bob": lambda regenerated: regenerated,
        # rnn_step_backward raises inside; the gru_step_forward cell raises before its def.
        "carol": submission(NOTEBOOK.solution, rnn_step_backward_answer=SOLVED["rnn_step_backward_answer"].replace(
            "    x, h_prev, Wx, Wh, h = cache\n", "    raise ValueError('no gradient yet')\n", 1),
            gru_step_forward_answer="raise RuntimeError('not finished')\n" + SOLVED["gru_step_forward_answer"]),
        # an endless loop before rnn_forward's def: that cell is left out, the rest graded.
        "dave": submission(NOTEBOOK.solution, rnn_forward_answer="while True:\n    pass\n"
                           + SOLVED["rnn_forward_answer"]),
        # deleted two test cells, left train_bidirectional as the release's stub.
        "erin": without(erin, "rnn_step_forward_tests", "train_bidirectional_tests"),
        # LSTM gates read as i, f, o, c (its backward then differentiates another function), GRU's z the
        # other way round, and BPTT that does not carry the gradient back.
        "frank": submission(NOTEBOOK.solution, lstm_step_forward_answer=SOLVED["lstm_step_forward_answer"].replace(
            "g = np.tanh(z[:, 2 * units:3 * units])\n    o = sigmoid(z[:, 3 * units:])",
            "o = sigmoid(z[:, 2 * units:3 * units])\n    g = np.tanh(z[:, 3 * units:])"),
            gru_step_forward_answer=SOLVED["gru_step_forward_answer"].replace(
                "h = z * h_prev + (1 - z) * candidate", "h = (1 - z) * h_prev + z * candidate"),
            rnn_backward_answer=SOLVED["rnn_backward_answer"].replace("upstream[:, t] + carried", "upstream[:, t]")),
        "mallory": submission(NOTEBOOK.solution, **{FORGERIES["course_lib's kernel"][0]:
                                                    FORGERIES["course_lib's kernel"][1]}),
    }


CLASS = _class()
EXPECTED = {
    "alice": FULL,
    "bob": {name: 0.0 for name in FULL},
    "carol": dict(FULL, rnn_step_backward=0.0, rnn_backward=0.0, gru_step_forward=0.0),  # BPTT calls the step
    "dave": dict(FULL, rnn_forward=0.0, rnn_backward=0.0),
    "erin": dict(FULL, train_bidirectional=0.0),
    "frank": None,  # what the checkers give frank's functions in this process
    "mallory": dict(FULL, lstm_step_forward=0.0, lstm_step_backward=0.0),
}


graded_class, scores_of, test_nbgrader_autogrades_every_kind_of_submission, test_the_export_lists_every_student = \
    class_grading_tests(NOTEBOOK, CLASS, EXPECTED)


def graded_cell(graded_class, student, exercise):
    """What the autograded notebook shows in the exercise's graded cell (the checker's reasons)."""
    return autograded_output(graded_class, ASSIGNMENT, student, exercise)


def test_the_planted_student_loses_points_in_the_right_exercises():
    frank = scores_of("frank")
    for name in ("rnn_step_forward", "rnn_step_backward", "rnn_forward", "train_bidirectional"):
        assert frank[name] == FULL[name], frank
    assert frank["lstm_step_forward"] == 0.0 and frank["gru_step_forward"] == 0.0
    assert frank["lstm_step_backward"] < FULL["lstm_step_backward"], frank
    assert 0 < frank["rnn_backward"] < FULL["rnn_backward"], frank


@pytest.mark.slow
def test_errors_loops_and_deleted_tests_are_reported_not_crashed_on(graded_class):
    assert "rnn_step_backward raised ValueError: no gradient yet" in graded_cell(graded_class, "carol",
                                                                                 "rnn_step_backward")
    assert "gru_step_forward is not defined" in graded_cell(graded_class, "carol", "gru_step_forward")
    dave = graded_cell(graded_class, "dave", "rnn_forward")
    assert "cell rnn_forward_answer was left out" in dave and "did not finish" in dave
    assert "Missing grade cell train_bidirectional_tests encountered, adding to notebook" in graded_class["log"]
    assert "train_bidirectional raised NotImplementedError" in graded_cell(graded_class, "erin", "train_bidirectional")
    assert "gates read in the order i, f, o, c" in graded_cell(graded_class, "frank", "lstm_step_forward")
    assert "Keras keeps z of the previous state" in graded_cell(graded_class, "frank", "gru_step_forward")
    assert "plus the dh_prev the step after it sends back" in graded_cell(graded_class, "frank", "rnn_backward")
    assert "does not allow" in graded_cell(graded_class, "mallory", "lstm_step_forward")
    assert "held-out accuracy 1.000" in graded_cell(graded_class, "alice", "train_bidirectional")


test_the_release_baseline_is_zero = release_baseline_test(NOTEBOOK)
