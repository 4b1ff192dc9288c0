"""Assignment 5 (convolution and pooling): its checkers, their references against tf.keras, and nbgrader on the notebooks.

The checkers must give full points to the references and to the solution
notebook's functions, fewer to each planted bug (with a reason that names the
entry, the stride and the padding), nothing to the release's stubs; the
references must be TensorFlow's numbers (the "same" split, the first maximum
on ties); the trusted grader must give nothing to an answer that delegates to
course_lib.ops; and one ``nbgrader autograde`` of a scratch course must grade
raising, looping and test-deleting submissions without a crash, then export
every student.
"""
import textwrap

import numpy as np
import pytest
from graded_notebooks import (
    Assignment, answer_functions, autograded_output, cell, class_grading_tests, full_points_tests, planted,
    planted_bug_tests, release_baseline_test, submission, without,
)

from course_lib.grading import assignment5

ASSIGNMENT = "assignment5"
NOTEBOOK = Assignment(ASSIGNMENT)
FULL = NOTEBOOK.full
SOLUTION = answer_functions(NOTEBOOK.solution)


# --- the references and the solution notebook earn everything -----------------------


test_the_reference_earns_full_points, test_the_solution_notebook_earns_full_points_and_the_release_nothing = (
    full_points_tests(NOTEBOOK))


def test_the_naive_and_the_vectorised_references_agree_on_every_case():
    rng = np.random.default_rng(3)
    for x_shape, kernel_shape, stride, padding in assignment5._CONV_CASES:
        x, kernel, bias = assignment5._conv_inputs(rng, x_shape, kernel_shape)
        np.testing.assert_allclose(assignment5.reference_conv2d_forward(x, kernel, bias, stride, padding),
                                   assignment5.reference_conv2d_forward_naive(x, kernel, bias, stride, padding),
                                   rtol=1e-12, atol=1e-12)


def test_the_cases_cover_what_they_claim():
    """Odd 'same' totals on both axes, strides that leave pixels unread, overlapping and gapped pools, ties."""
    conv = assignment5.conv
    odd_totals = set()
    for x_shape, kernel_shape, stride, padding in assignment5._CONV_CASES:
        if padding == "same":
            for axis in (1, 2):
                before, after = conv.padding_amounts(x_shape[axis], kernel_shape[axis - 1], stride, 1, "same")
                if after != before:
                    odd_totals.add(axis)
        else:
            span = (conv.conv_output_length(x_shape[1], kernel_shape[0], stride, "valid") - 1) * stride + kernel_shape[0]
            assert span <= x_shape[1]
    assert odd_totals == {1, 2}
    assert any((x[1] - k[0]) % s for x, k, s, p in assignment5._CONV_CASES if p == "valid")
    pools = {(pool, stride) for _, _, pool, stride in assignment5._POOL_CASES}
    assert any(s < p for p, s in pools) and any(s > p for p, s in pools)
    x = assignment5._after_relu(np.random.default_rng(0), (2, 6, 6, 2))
    windows = x.reshape(2, 3, 2, 3, 2, 2).transpose(0, 1, 3, 5, 2, 4).reshape(-1, 4)
    assert ((windows == windows.max(axis=1, keepdims=True)).sum(axis=1) > 1).mean() > 0.3


# --- planted bugs earn less, with a reason ------------------------------------------------

LENGTH_SOURCE = """
    def conv_output_length(size, kernel, stride, padding, dilation=1):
        span = (kernel - 1) * dilation + 1
        if padding == "valid":
            length = (size - span) // stride + 1
        else:
            length = -(-size // stride)
        return length
    """
PAD_SOURCE = """
    def pad_input(x, kh, kw, stride, padding):
        if padding == "valid":
            return x
        pads = []
        for size, kernel in ((x.shape[1], kh), (x.shape[2], kw)):
            out = -(-size // stride)
            total = max((out - 1) * stride + kernel - size, 0)
            pads.append((total // 2, total - total // 2))
        return np.pad(x, ((0, 0), pads[0], pads[1], (0, 0)))
    """
NAIVE_SOURCE = PAD_SOURCE + """
    def conv2d_forward_naive(x, kernel, bias, stride, padding):
        kh, kw, _, filters = kernel.shape
        x_pad = pad_input(x, kh, kw, stride, padding)
        out_h = (x_pad.shape[1] - kh) // stride + 1
        out_w = (x_pad.shape[2] - kw) // stride + 1
        out = np.zeros((x.shape[0], out_h, out_w, filters))
        for i in range(out_h):
            for j in range(out_w):
                window = x_pad[:, i * stride:i * stride + kh, j * stride:j * stride + kw, :]
                for f in range(filters):
                    out[:, i, j, f] = np.sum(window * kernel[:, :, :, f], axis=(1, 2, 3)) + bias[f]
        return out
    """
FORWARD_SOURCE = PAD_SOURCE + """
    def conv2d_forward(x, kernel, bias, stride, padding):
        kh, kw, channels, filters = kernel.shape
        views = np.lib.stride_tricks.sliding_window_view(pad_input(x, kh, kw, stride, padding), (kh, kw), axis=(1, 2))
        views = views[:, ::stride, ::stride]
        n, out_h, out_w = views.shape[:3]
        columns = views.transpose(0, 1, 2, 4, 5, 3).reshape(n * out_h * out_w, kh * kw * channels)
        out = columns @ kernel.reshape(kh * kw * channels, filters) + bias
        return out.reshape(n, out_h, out_w, filters)
    """
PIXEL_LOOP = """out = np.zeros((n, out_h, out_w, filters))
        matrix = kernel.reshape(kh * kw * channels, filters)
        for i in range(out_h):
            for j in range(out_w):
                out[:, i, j] = views[:, i, j].transpose(0, 2, 3, 1).reshape(n, -1) @ matrix + bias
        return out"""
BACKWARD_SOURCE = PAD_SOURCE + """
    def conv2d_backward(dout, x, kernel, stride, padding):
        kh, kw, channels, filters = kernel.shape
        x_pad = pad_input(x, kh, kw, stride, padding)
        n, out_h, out_w, _ = dout.shape
        views = np.lib.stride_tricks.sliding_window_view(x_pad, (kh, kw), axis=(1, 2))[:, ::stride, ::stride]
        columns = views.transpose(0, 1, 2, 4, 5, 3).reshape(n * out_h * out_w, kh * kw * channels)
        gradient = dout.reshape(-1, filters)
        dkernel = (columns.T @ gradient).reshape(kernel.shape)
        dbias = gradient.sum(axis=0)
        dcolumns = (gradient @ kernel.reshape(-1, filters).T).reshape(n, out_h, out_w, kh, kw, channels)
        dx_pad = np.zeros(x_pad.shape)
        for a in range(kh):
            for c in range(kw):
                rows = slice(a, a + stride * (out_h - 1) + 1, stride)
                cols = slice(c, c + stride * (out_w - 1) + 1, stride)
                dx_pad[:, rows, cols, :] += dcolumns[:, :, :, a, c, :]
        top = (x_pad.shape[1] - x.shape[1]) // 2
        left = (x_pad.shape[2] - x.shape[2]) // 2
        dx = dx_pad[:, top:top + x.shape[1], left:left + x.shape[2], :]
        return dx, dkernel, dbias
    """
POOL_SOURCE = """
    def max_pool2d_forward(x, pool, stride):
        views = np.lib.stride_tricks.sliding_window_view(x, (pool, pool), axis=(1, 2))[:, ::stride, ::stride]
        return views.max(axis=(4, 5))
    """
POOL_BACKWARD_SOURCE = """
    def max_pool2d_backward(dout, x, pool, stride):
        dx = np.zeros(x.shape)
        n, out_h, out_w, channels = dout.shape
        for b in range(n):
            for i in range(out_h):
                for j in range(out_w):
                    for c in range(channels):
                        rows, cols = slice(i * stride, i * stride + pool), slice(j * stride, j * stride + pool)
                        window = x[b, rows, cols, c]
                        mask = np.zeros(window.shape)
                        mask[np.unravel_index(np.argmax(window), window.shape)] = 1
                        dx[b, rows, cols, c] += mask * dout[b, i, j, c]
        return dx
    """
SOURCES = {"conv_output_length": LENGTH_SOURCE, "conv2d_forward_naive": NAIVE_SOURCE,
           "conv2d_forward": FORWARD_SOURCE, "conv2d_backward": BACKWARD_SOURCE,
           "max_pool2d_forward": POOL_SOURCE, "max_pool2d_backward": POOL_BACKWARD_SOURCE}
WRONG_SIDE = ("pads.append((total // 2, total - total // 2))", "pads.append((total - total // 2, total // 2))")
TIES_EVERYWHERE = ("mask = np.zeros(window.shape)\n                        "
                   "mask[np.unravel_index(np.argmax(window), window.shape)] = 1",
                   "mask = (window == window.max()) * 1.0")
BUGS = {
    "conv_output_length": {
        "same ignores the stride": ("length = -(-size // stride)", "length = size"),
        "same rounds down": ("-(-size // stride)", "size // stride"),
        "valid forgets the dilation": ("span = (kernel - 1) * dilation + 1", "span = kernel"),
        "valid without the + 1": ("(size - span) // stride + 1", "(size - span) // stride"),
        "a float (np.ceil)": ("length = -(-size // stride)", "length = np.ceil(size / stride)"),
    },
    "conv2d_forward_naive": {
        "same padding split on the wrong side (extra zero on top and left)": WRONG_SIDE,
        "same padding split evenly, the odd zero dropped": (WRONG_SIDE[0], "pads.append((total // 2, total // 2))"),
        "no bias": (" + bias[f]", ""),
        "the kernel flipped (a true convolution)": ("window * kernel[:, :, :, f]", "window * kernel[::-1, ::-1, :, f]"),
        "the stride ignored inside the loops": ("x_pad[:, i * stride:i * stride + kh, j * stride:j * stride + kw, :]",
                                                "x_pad[:, i:i + kh, j:j + kw, :]"),
    },
    "conv2d_forward": {
        "same padding split on the wrong side": WRONG_SIDE,
        "the channels not moved after the window axes": ("views.transpose(0, 1, 2, 4, 5, 3)", "views"),
        "the stride ignored": ("views = views[:, ::stride, ::stride]", "views = views"),
        "returns (out, cache) as in assignment 1": ("return out.reshape(n, out_h, out_w, filters)",
                                                    "return out.reshape(n, out_h, out_w, filters), None"),
        "a Python loop over output pixels": ("""out = columns @ kernel.reshape(kh * kw * channels, filters) + bias
        return out.reshape(n, out_h, out_w, filters)""", PIXEL_LOOP),
    },
    "conv2d_backward": {
        "dx cropped on the wrong side": ("top = (x_pad.shape[1] - x.shape[1]) // 2",
                                         "top = x_pad.shape[1] - x.shape[1] - (x_pad.shape[1] - x.shape[1]) // 2"),
        "overlapping windows overwrite instead of adding": ("dx_pad[:, rows, cols, :] += dcolumns",
                                                            "dx_pad[:, rows, cols, :] = dcolumns"),
        "dbias averaged instead of summed": ("dbias = gradient.sum(axis=0)", "dbias = gradient.mean(axis=0)"),
        "dkernel of the first sample only": ("dkernel = (columns.T @ gradient)",
                                             "dkernel = (columns[:out_h * out_w].T @ gradient[:out_h * out_w])"),
        "dx with the padding left on": ("dx = dx_pad[:, top:top + x.shape[1], left:left + x.shape[2], :]",
                                        "dx = dx_pad"),
    },
    "max_pool2d_forward": {
        "the stride ignored": ("[:, ::stride, ::stride]", ""),
        "average pooling": ("views.max(axis=(4, 5))", "views.mean(axis=(4, 5))"),
        "the windows' first row only": ("views.max(axis=(4, 5))", "views[:, :, :, :, 0].max(axis=4)"),
    },
    "max_pool2d_backward": {
        "the gradient sent to every tied maximum": TIES_EVERYWHERE,
        "the last maximum on ties": ("np.argmax(window)", "window.size - 1 - np.argmax(window.ravel()[::-1])"),
        "overlapping windows overwrite instead of adding": ("dx[b, rows, cols, c] += mask", "dx[b, rows, cols, c] = mask"),
        "the gradient spread over the window (average pooling's)": (
            "mask[np.unravel_index(np.argmax(window), window.shape)] = 1", "mask += 1 / window.size"),
    },
}


def plant(name, old="", new=""):
    return planted(SOURCES[name], name, old, new)


test_the_sources_the_bugs_are_planted_into_earn_full_points, test_each_planted_bug_earns_less_and_says_why = \
    planted_bug_tests(NOTEBOOK, SOURCES, BUGS, plant)


def test_the_padding_on_the_wrong_side_is_named_with_the_entry_stride_and_padding(capsys):
    points = NOTEBOOK.checker("conv2d_forward_naive")(plant("conv2d_forward_naive", *WRONG_SIDE))
    printed = capsys.readouterr().out
    # Only the cases whose 'same' padding total is odd differ: 3 of 7.
    assert points == pytest.approx(3 * 4 / 7, abs=0.01), printed
    assert "output differs at index (" in printed and "for stride 2, padding 'same': expected " in printed
    assert ", received " in printed
    # In the backward pass the windows read the wrongly padded input: dkernel differs (dx does not: the
    # crop that assumes the smaller half on top undoes the same shift), and a wrong crop moves dx.
    NOTEBOOK.checker("conv2d_backward")(planted(BACKWARD_SOURCE, "conv2d_backward", *WRONG_SIDE))
    printed = capsys.readouterr().out
    assert "dkernel differs at index (" in printed and "for stride 2, padding 'same': expected " in printed
    NOTEBOOK.checker("conv2d_backward")(plant("conv2d_backward", *BUGS["conv2d_backward"]["dx cropped on the wrong side"]))
    printed = capsys.readouterr().out
    assert "dx differs at index (" in printed and "for stride 2, padding 'same': expected " in printed


def test_ties_are_the_only_difference_of_every_tied_maximum(capsys):
    points = NOTEBOOK.checker("max_pool2d_backward")(plant("max_pool2d_backward", *TIES_EVERYWHERE))
    printed = capsys.readouterr().out
    assert points == pytest.approx(2 * 6 / 7, abs=0.01), printed
    assert "[ties, after a ReLU: the first maximum in row-major order" in printed
    assert "dx differs at index" in printed


def test_a_loop_over_pixels_loses_the_timed_case_only(capsys):
    points = NOTEBOOK.checker("conv2d_forward")(plant("conv2d_forward", *BUGS["conv2d_forward"][
        "a Python loop over output pixels"]))
    printed = capsys.readouterr().out
    assert points == 2.5, printed
    assert "is there a Python loop over output pixels?" in printed or "vectorise it" in printed, printed


def test_the_reasons_say_what_to_return(capsys):
    NOTEBOOK.checker("conv2d_forward")(plant("conv2d_forward", *BUGS["conv2d_forward"][
        "returns (out, cache) as in assignment 1"]))
    assert "return the array alone (this exercise has no cache)" in capsys.readouterr().out
    NOTEBOOK.checker("conv_output_length")(plant("conv_output_length", *BUGS["conv_output_length"]["a float (np.ceil)"]))
    assert "the integer 4 expected, received a float64 4.0" in capsys.readouterr().out
    NOTEBOOK.checker("conv2d_backward")(lambda *args: args[1])
    assert "must return a triple (dx, dkernel, dbias)" in capsys.readouterr().out


# --- the references against tf.keras ---------------------------------------------------------


@pytest.mark.parity
def test_the_convolution_references_are_tensorflow_s():
    """Forward, dx, dkernel and dbias on every checker case, through tf.nn.conv2d and a gradient tape."""
    tf = pytest.importorskip("tensorflow")
    rng = np.random.default_rng(4)
    for x_shape, kernel_shape, stride, padding in assignment5._CONV_CASES:
        x, kernel, bias = assignment5._conv_inputs(rng, x_shape, kernel_shape)
        ours = assignment5.reference_conv2d_forward(x, kernel, bias, stride, padding)
        dout = rng.normal(size=ours.shape)
        tx, tk, tb = (tf.Variable(value) for value in (x, kernel, bias))
        with tf.GradientTape() as tape:
            theirs = tf.nn.conv2d(tx, tk, stride, padding.upper()) + tb
        grads = tape.gradient(theirs, [tx, tk, tb], output_gradients=tf.constant(dout))
        np.testing.assert_allclose(ours, theirs.numpy(), rtol=1e-10, atol=1e-10)
        for mine, keras_grad in zip(assignment5.reference_conv2d_backward(dout, x, kernel, stride, padding), grads):
            np.testing.assert_allclose(mine, keras_grad.numpy(), rtol=1e-10, atol=1e-10)
        for size, k in zip(x_shape[1:3], kernel_shape[:2]):
            assert assignment5.reference_conv_output_length(size, k, stride, padding) == \
                int(tf.nn.conv2d(tf.zeros((1, size, 1, 1)), tf.zeros((k, 1, 1, 1)), stride, padding.upper()).shape[1])


@pytest.mark.parity
def test_the_pooling_references_are_tensorflow_s_ties_included():
    tf = pytest.importorskip("tensorflow")
    rng = np.random.default_rng(5)
    inputs = [(assignment5._distinct(rng, shape), pool, stride) for _, shape, pool, stride in assignment5._POOL_CASES]
    inputs.append((assignment5._after_relu(rng, (2, 6, 6, 2)), 2, 2))
    for x, pool, stride in inputs:
        ours = assignment5.reference_max_pool2d_forward(x, pool, stride)
        dout = rng.normal(size=ours.shape)
        tx = tf.Variable(x)
        with tf.GradientTape() as tape:
            theirs = tf.nn.max_pool2d(tx, pool, stride, "VALID")
        np.testing.assert_array_equal(ours, theirs.numpy())
        np.testing.assert_allclose(assignment5.reference_max_pool2d_backward(dout, x, pool, stride),
                                   tape.gradient(theirs, tx, output_gradients=tf.constant(dout)).numpy(),
                                   rtol=1e-12, atol=1e-12)


# --- the trusted grader: delegating to course_lib.ops earns nothing ------------------------------

FORGERIES = {
    "course_lib's kernel": ("from course_lib.ops import conv\n"
                            "def conv2d_forward(x, kernel, bias, stride, padding):\n"
                            "    return conv.conv_forward(x, kernel, bias, stride, padding)[0]\n"),
    "the checker's reference": ("from course_lib.grading.assignment5 import reference_conv2d_forward as conv2d_forward\n"),
    "prints a number": "print(3.0)\n" + "".join(cell(NOTEBOOK.release, "conv2d_forward_answer")["source"]),
}


@pytest.mark.parametrize("forgery", sorted(FORGERIES))
def test_a_forged_answer_earns_nothing_for_its_exercise(forgery):
    forged = submission(NOTEBOOK.solution, conv2d_forward_answer=FORGERIES[forgery])
    assert NOTEBOOK.trusted_scores(forged) == dict(FULL, conv2d_forward=0.0)


# --- nbgrader on a class: raising, looping, deleted tests, partial credit, the export ----------------

SOLVED = {grade_id: "".join(cell(NOTEBOOK.solution, grade_id)["source"]) for grade_id in (
    "conv2d_forward_naive_answer", "conv2d_backward_answer", "max_pool2d_forward_answer", "conv2d_forward_answer")}
FRANK_POOL = textwrap.dedent(POOL_BACKWARD_SOURCE.replace(*TIES_EVERYWHERE))


def _class():
    release = NOTEBOOK.release
    frank = submission(NOTEBOOK.solution, conv2d_forward_naive_answer=SOLVED["conv2d_forward_naive_answer"].replace(
        *WRONG_SIDE), max_pool2d_backward_answer=FRANK_POOL)
    erin = submission(NOTEBOOK.solution, max_pool2d_backward_answer="".join(
        cell(release, "max_pool2d_backward_answer")["source"]))
    return {
        "alice": NOTEBOOK.solution,
        "bob": lambda regenerated: regenerated,
        # conv2d_backward raises inside; the max_pool2d_forward cell raises before its def.
        "carol": submission(NOTEBOOK.solution, conv2d_backward_answer=SOLVED["conv2d_backward_answer"].replace(
            "    kh, kw, channels, filters = kernel.shape\n",
            "    raise ValueError('shapes do not match')\n", 1),
            max_pool2d_forward_answer="raise RuntimeError('not finished')\n" + SOLVED["max_pool2d_forward_answer"]),
        # an endless loop before conv2d_forward's def: that cell is left out, the rest graded.
        "dave": submission(NOTEBOOK.solution, conv2d_forward_answer="while True:\n    pass\n"
                           + SOLVED["conv2d_forward_answer"]),
        # deleted two test cells, left max_pool2d_backward as the release's stub.
        "erin": without(erin, "conv_output_length_tests", "max_pool2d_backward_tests"),
        # the 'same' zeros on the wrong side (every convolution exercise) and every tied maximum.
        "frank": frank,
        "mallory": submission(NOTEBOOK.solution, conv2d_forward_answer=FORGERIES["course_lib's kernel"]),
    }


CLASS = _class()
EXPECTED = {
    "alice": FULL,
    "bob": {name: 0.0 for name in FULL},
    "carol": dict(FULL, conv2d_backward=0.0, max_pool2d_forward=0.0),
    "dave": dict(FULL, conv2d_forward=0.0),
    "erin": dict(FULL, max_pool2d_backward=0.0),
    "frank": None,  # what the checkers give frank's functions in this process
    "mallory": dict(FULL, conv2d_forward=0.0),
}


graded_class, scores_of, test_nbgrader_autogrades_every_kind_of_submission, test_the_export_lists_every_student = \
    class_grading_tests(NOTEBOOK, CLASS, EXPECTED)


def graded_cell(graded_class, student, exercise):
    """What the autograded notebook shows in the exercise's graded cell (the checker's reasons)."""
    return autograded_output(graded_class, ASSIGNMENT, student, exercise)


def test_the_planted_student_loses_points_in_the_right_exercises():
    frank = scores_of("frank")
    assert frank["conv_output_length"] == FULL["conv_output_length"]
    assert frank["max_pool2d_forward"] == FULL["max_pool2d_forward"]
    for name in ("conv2d_forward_naive", "conv2d_forward", "conv2d_backward", "max_pool2d_backward"):
        assert 0 < frank[name] < FULL[name], frank


@pytest.mark.slow
def test_errors_loops_and_deleted_tests_are_reported_not_crashed_on(graded_class):
    assert "conv2d_backward raised ValueError: shapes do not match" in graded_cell(graded_class, "carol",
                                                                                   "conv2d_backward")
    dave = graded_cell(graded_class, "dave", "conv2d_forward")
    assert "cell conv2d_forward_answer was left out" in dave and "did not finish" in dave
    assert "Missing grade cell max_pool2d_backward_tests encountered, adding to notebook" in graded_class["log"]
    assert "max_pool2d_backward raised NotImplementedError" in graded_cell(graded_class, "erin", "max_pool2d_backward")
    frank = graded_cell(graded_class, "frank", "conv2d_forward_naive")
    assert "output differs at index" in frank and "for stride 2, padding 'same': expected" in frank
    assert "dkernel differs at index" in graded_cell(graded_class, "frank", "conv2d_backward")
    assert "[ties, after a ReLU" in graded_cell(graded_class, "frank", "max_pool2d_backward")
    assert "does not allow" in graded_cell(graded_class, "mallory", "conv2d_forward")


test_the_release_baseline_is_zero = release_baseline_test(NOTEBOOK)
