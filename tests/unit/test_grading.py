"""course_lib.grading: the checkers behind assignment 1's hidden tests, and the
nbgrader settings that decide how their output becomes points."""
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pytest

from course_lib import grading, ops
from course_lib.grading.harness import StudentCodeError, call_student, compare, run_cases

REPO = Path(__file__).resolve().parents[2]


# --- correct functions earn every point ----------------------------------------------


@pytest.mark.parametrize(
    "checker, args, points",
    [
        (grading.check_dense_forward, (ops.dense_forward,), 2),
        (grading.check_dense_backward, (ops.dense_backward, ops.dense_forward), 3),
        (grading.check_relu_forward, (ops.relu_forward,), 1),
        (grading.check_relu_backward, (ops.relu_backward, ops.relu_forward), 1),
        (grading.check_softmax_cross_entropy, (ops.softmax_cross_entropy,), 3),
        (grading.check_sgd_step, (ops.sgd_step,), 1),
    ],
)
@pytest.mark.parametrize("seed", [0, 7301])
def test_reference_kernels_get_full_points(capsys, checker, args, points, seed):
    score = checker(*args, seed=seed)
    assert type(score) is float and score == points
    assert f"{points} / {points} points" in capsys.readouterr().out


def reference_train_mlp(x_train, y_train, epochs=20, batch_size=32, learning_rate=0.1, seed=0):
    rng = np.random.default_rng(seed)
    params = {
        "W1": rng.normal(0, np.sqrt(2 / 64), (64, 32)), "b1": np.zeros(32),
        "W2": rng.normal(0, np.sqrt(2 / 32), (32, 10)), "b2": np.zeros(10),
    }
    x_train = x_train.astype("float64")
    for _ in range(epochs):
        order = rng.permutation(len(y_train))
        for start in range(0, len(y_train), batch_size):
            batch = order[start:start + batch_size]
            hidden, first = ops.dense_forward(x_train[batch], params["W1"], params["b1"])
            activated, relu = ops.relu_forward(hidden)
            logits, second = ops.dense_forward(activated, params["W2"], params["b2"])
            _, dlogits = ops.softmax_cross_entropy(logits, y_train[batch])
            dactivated, dW2, db2 = ops.dense_backward(dlogits, second)
            _, dW1, db1 = ops.dense_backward(ops.relu_backward(dactivated, relu), first)
            ops.sgd_step(params, {"W1": dW1, "b1": db1, "W2": dW2, "b2": db2}, learning_rate)
    return params


def test_train_mlp_reference_reaches_target_fast(capsys):
    started = time.perf_counter()
    assert grading.check_train_mlp(reference_train_mlp) == 4.0
    assert time.perf_counter() - started < 10
    out = capsys.readouterr().out
    accuracy = float(out.split("test accuracy ")[1].split()[0])
    assert accuracy >= 0.93  # comfortably above the 0.90 target


# --- wrong functions lose points, with the reason printed ------------------------------------


def test_wrong_shape_loses_points_and_says_why(capsys):
    def transposed(x, W, b):
        return (x @ W + b).T, None

    # Only the 1x1 case (where a transpose changes nothing) passes: 1 of 4 cases.
    assert grading.check_dense_forward(transposed) == 0.5
    out = capsys.readouterr().out
    assert "dense_forward [x (4, 3), W (3, 5), b (5,)]: output shape (4, 5) expected, received (5, 4)" in out
    assert "1 of 4 cases fully passed; 0.5 / 2 points" in out


def test_wrong_gradient_gets_partial_credit_with_index(capsys):
    def wrong_dW(dout, cache):
        x, W, b = cache
        return dout @ W.T, 1.03 * (x.T @ dout), dout.sum(axis=0)

    def forward(x, W, b):
        return x @ W + b, (x, W, b)

    # dx and db are right (2 of 3 parts in every case): 2 of the 3 points.
    assert grading.check_dense_backward(wrong_dW, forward) == 2.0
    out = capsys.readouterr().out
    assert "dW relative error 1.5e-02 at index (0, 1); expected < 1e-06" in out
    assert "dx relative" not in out and "db relative" not in out


def test_raising_function_is_reported_not_raised(capsys):
    def raising(x):
        raise ValueError("operands could not be broadcast")

    assert grading.check_relu_forward(raising) == 0.0
    out = capsys.readouterr().out
    assert "relu_forward raised ValueError: operands could not be broadcast (and 3 more cases)" in out


def test_not_implemented_stub_scores_zero(capsys):
    def stub(logits, labels):
        raise NotImplementedError()

    assert grading.check_softmax_cross_entropy(stub) == 0.0
    assert "softmax_cross_entropy raised NotImplementedError (and 3 more cases)" in capsys.readouterr().out


def test_missing_function_is_reported(capsys):
    assert grading.check_sgd_step(None) == 0.0
    assert "sgd_step is not defined" in capsys.readouterr().out


def test_backward_without_working_forward_explains(capsys):
    def broken_forward(x):
        return np.maximum(x, 0)  # forgot the cache

    assert grading.check_relu_backward(ops.relu_backward, broken_forward) == 0.0
    out = capsys.readouterr().out
    assert "could not get a cache from your relu_forward: relu_forward must return a pair (out, cache)" in out


def test_unstable_softmax_loses_only_the_large_logit_case_and_stays_off_stderr(capsys):
    def naive(logits, labels):
        probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
        batch = len(labels)
        dlogits = probs.copy()
        dlogits[np.arange(batch), labels] -= 1
        return -np.log(probs[np.arange(batch), labels]).mean(), dlogits / batch

    assert grading.check_softmax_cross_entropy(naive) == 2.25
    captured = capsys.readouterr()
    assert "[large logits: logits (6, 10)]: loss is nan; expected finite numbers" in captured.out
    assert "note: softmax_cross_entropy emitted RuntimeWarning: overflow encountered in exp" in captured.out
    # nbgrader zeroes a test cell that writes to stderr: warnings must not get there.
    assert captured.err == ""


def test_per_sample_loss_instead_of_mean_is_explained(capsys):
    def no_mean(logits, labels):
        loss, dlogits = ops.softmax_cross_entropy(logits, labels)
        return np.full(len(labels), loss), dlogits

    assert grading.check_softmax_cross_entropy(no_mean) == 1.5
    assert "loss: a single number (the mean over the batch) expected" in capsys.readouterr().out


def test_sgd_that_rebinds_arrays_gets_half_credit(capsys):
    def rebinding(params, grads, learning_rate):
        for name in params:
            params[name] = params[name] - learning_rate * grads[name]

    assert grading.check_sgd_step(rebinding) == 0.5
    assert "update each array in place" in capsys.readouterr().out


def test_untrained_network_gets_partial_credit(capsys):
    def untrained(x_train, y_train):
        rng = np.random.default_rng(0)
        return {"W1": rng.normal(size=(64, 32)), "b1": np.zeros(32),
                "W2": rng.normal(size=(32, 10)), "b2": np.zeros(10)}

    score = grading.check_train_mlp(untrained)
    assert 1.0 <= score < 4.0  # the shapes quarter plus a share for above-chance accuracy
    assert "expected >= 0.90" in capsys.readouterr().out


def test_train_mlp_wrong_return_type_and_shapes(capsys):
    assert grading.check_train_mlp(lambda x, y: [1, 2]) == 0.0
    assert "train_mlp must return a dict" in capsys.readouterr().out

    def wide(x_train, y_train):
        params = reference_train_mlp(x_train, y_train, epochs=1)
        return {"W1": params["W1"], "b1": params["b1"], "W2": params["W2"]}  # b2 missing

    assert grading.check_train_mlp(wide) == 0.0
    assert "params['b2'] shape (10,) expected, received nothing (missing key)" in capsys.readouterr().out


# --- the harness ------------------------------------------------------------------------


def test_endless_loop_is_stopped_by_the_time_limit():
    def loops(x):
        while True:
            try:
                time.sleep(0.01)
            except Exception:  # a student's blanket except must not swallow the limit
                pass

    started = time.perf_counter()
    with pytest.raises(StudentCodeError, match=r"did not return within 0.3 s") as error:
        call_student("loops", loops, 1, time_limit=0.3)
    assert error.value.fatal
    assert time.perf_counter() - started < 3


def test_run_cases_skips_the_rest_after_a_time_out(capsys):
    calls = []

    def run(notes):
        calls.append(1)
        raise StudentCodeError("f did not return within 1 s", fatal=True)

    assert run_cases("f", 2, [("a", run), ("b", run), ("c", run)]) == 0.0
    assert len(calls) == 1
    assert "skipped (an earlier case ran out of time)" in capsys.readouterr().out


def test_stderr_and_warnings_are_captured_as_notes(capsys):
    def noisy(x):
        print("debugging", file=sys.stderr)
        warnings.warn("careful", UserWarning)
        return x

    notes = []
    assert call_student("noisy", noisy, 3, notes=notes) == 3
    assert capsys.readouterr().err == ""
    assert notes == ["noisy emitted UserWarning: careful", "noisy wrote to stderr: debugging"]


def test_compare_messages():
    assert compare("out", np.ones((2, 3)), np.ones((2, 3))) is None
    assert compare("out", np.ones((2, 3)), np.ones((3, 2))) == "out shape (2, 3) expected, received (3, 2)"
    assert compare("out", np.ones(2), None) == "out: an array of shape (2,) expected, received None"
    assert compare("out", np.ones(2), np.array(["a", "b"])).startswith("out: a numeric array expected")
    assert compare("out", np.ones(2), np.array([1.0, np.inf])) == "out is inf at index (1,); expected finite numbers"
    wrong = np.ones((2, 2))
    wrong[1, 0] = 1.1
    assert compare("dW", np.ones((2, 2)), wrong) == "dW relative error 4.8e-02 at index (1, 0); expected < 1e-06"
    # Values that should be zero but carry round-off are not failures.
    assert compare("dx", np.zeros(3), np.full(3, 1e-17)) is None


def test_score_never_exceeds_points_and_prints_as_plain_float():
    score = run_cases("f", 0.3, [(str(i), lambda notes: [(1, None)]) for i in range(3)], verbose=False)
    assert score == 0.3 and repr(score) == "0.3"


# --- the self-check helper -------------------------------------------------------------------


def test_check_dispatches_by_name(capsys):
    def dense_forward(x, W, b):
        return x @ W + b, None

    assert grading.check(dense_forward) == 2.0
    assert grading.check(ops.relu_backward, forward=ops.relu_forward) == 1.0
    assert "relu_backward: 4 of 4 cases fully passed" in capsys.readouterr().out


def test_check_explains_misuse():
    def mystery(x):
        return x

    with pytest.raises(ValueError, match="check: no checker for a function named 'mystery'"):
        grading.check(mystery)
    with pytest.raises(ValueError, match=r"check: dense_backward needs its forward function"):
        grading.check(ops.dense_backward)
