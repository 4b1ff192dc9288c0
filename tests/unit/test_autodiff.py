"""course_lib.autodiff: every traced operation's gradient against central differences in float64.

Each case runs the same function twice: on plain NumPy arrays (the forward
values and the central differences of ``sum(f(x) * dy)``) and on Traced
arrays (the backward walk). Broadcasting, repeated indices, values used
several times, ties of max/min, constants and the errors are covered too.
"""
import numpy as np
import pytest

import course_lib as cl
from course_lib import autodiff
from course_lib.autodiff import Traced, UnsupportedOperation, VariableInTrace

TOLERANCE = 1e-6


def _normal(shape, seed):
    return np.random.default_rng(seed).standard_normal(shape)


def _positive(shape, seed):
    return np.random.default_rng(seed).uniform(0.5, 2.0, shape)


def _check(function, inputs, seed=0, epsilon=1e-6):
    """Assert that backward through ``function`` matches central differences (relative error < 1e-6)."""
    inputs = [np.array(x, dtype=np.float64) for x in inputs]
    expected = np.asarray(function(*inputs))
    leaves = [Traced(x.copy()) for x in inputs]
    traced_output = function(*leaves)
    assert isinstance(traced_output, Traced), "the result must carry the trace"
    np.testing.assert_allclose(traced_output.value, expected, rtol=0, atol=0)
    dy = np.random.default_rng(seed + 100).standard_normal(expected.shape)
    grads = autodiff.backward([traced_output], [dy], leaves)
    report = cl.testing.GradientReport(TOLERANCE)
    for position, (x, grad) in enumerate(zip(inputs, grads)):
        assert grad.shape == x.shape, f"input {position}: gradient {grad.shape} for an input {x.shape}"
        numeric = np.empty(x.size)
        for k in range(x.size):
            index = np.unravel_index(k, x.shape)
            original = x[index]
            x[index] = original + epsilon
            plus = np.sum(np.asarray(function(*inputs)) * dy)
            x[index] = original - epsilon
            minus = np.sum(np.asarray(function(*inputs)) * dy)
            x[index] = original
            numeric[k] = (plus - minus) / (2 * epsilon)
        report.add(f"input_{position}", np.asarray(grad, np.float64).reshape(-1), numeric,
                   [tuple(int(i) for i in np.unravel_index(k, x.shape)) for k in range(x.size)])
    assert report.passed, str(report)
    return grads


CONSTANT = np.linspace(-1.0, 1.0, 12).reshape(4, 3)

ELEMENTWISE = {
    "add_broadcast": (lambda a, b: a + b, [(4, 3), (3,)], "normal"),
    "add_keepdims_axis": (lambda a, b: a + b, [(4, 1, 3), (2, 3)], "normal"),
    "subtract": (lambda a, b: a - b, [(2, 3), (1, 3)], "normal"),
    "multiply_broadcast": (lambda a, b: a * b, [(3,), (2, 3)], "normal"),
    "divide": (lambda a, b: a / b, [(2, 3), (1, 3)], "positive"),
    "power_both": (lambda a, b: a ** b, [(2, 3), (2, 3)], "positive"),
    "power_constant_exponent": (lambda a: a ** 3, [(2, 3)], "normal"),
    "reflected_subtract": (lambda a: 2.0 - a, [(2, 3)], "normal"),
    "reflected_divide": (lambda a: 3.0 / a, [(2, 3)], "positive"),
    "reflected_power": (lambda a: 2.0 ** a, [(2, 3)], "normal"),
    "reflected_multiply_ndarray": (lambda a: CONSTANT * a, [(4, 3)], "normal"),
    "ndarray_minus_traced": (lambda a: CONSTANT - a, [(3,)], "normal"),
    "numpy_scalar_left": (lambda a: np.float64(1.5) / a, [(3,)], "positive"),
    "negative": (lambda a: -a, [(2, 3)], "normal"),
    "numpy_negative": (lambda a: np.negative(a), [(2, 3)], "normal"),
    "abs": (lambda a: abs(a), [(2, 3)], "normal"),
    "numpy_abs": (lambda a: np.abs(a), [(2, 3)], "normal"),
    "exp": (lambda a: np.exp(a), [(2, 3)], "normal"),
    "expm1": (lambda a: np.expm1(a), [(2, 3)], "normal"),
    "log": (lambda a: np.log(a), [(2, 3)], "positive"),
    "log1p": (lambda a: np.log1p(a), [(2, 3)], "positive"),
    "sqrt": (lambda a: np.sqrt(a), [(2, 3)], "positive"),
    "square": (lambda a: np.square(a), [(2, 3)], "normal"),
    "reciprocal": (lambda a: np.reciprocal(a), [(2, 3)], "positive"),
    "tanh": (lambda a: np.tanh(a), [(2, 3)], "normal"),
    "sin": (lambda a: np.sin(a), [(2, 3)], "normal"),
    "cos": (lambda a: np.cos(a), [(2, 3)], "normal"),
    "maximum_broadcast": (lambda a, b: np.maximum(a, b), [(3, 4), (4,)], "normal"),
    "minimum_broadcast": (lambda a, b: np.minimum(a, b), [(3, 1), (3, 4)], "normal"),
    "maximum_constant": (lambda a: np.maximum(a, 0.1), [(3, 4)], "normal"),
    "value_used_several_times": (lambda a: a * a + np.sin(a) * a - a / (1.0 + a * a), [(3, 4)], "normal"),
    "two_paths_merge": (lambda a, b: np.tanh(a * b) + np.exp(a) * b, [(2, 3), (2, 3)], "normal"),
}

LINEAR_ALGEBRA = {
    "matmul_2d": (lambda a, b: a @ b, [(3, 4), (4, 2)]),
    "matmul_batched": (lambda a, b: np.matmul(a, b), [(2, 3, 4), (4, 5)]),
    "matmul_broadcast_batch": (lambda a, b: a @ b, [(2, 1, 3, 4), (5, 4, 2)]),
    "matmul_vector_matrix": (lambda a, b: a @ b, [(4,), (4, 3)]),
    "matmul_matrix_vector": (lambda a, b: a @ b, [(3, 4), (4,)]),
    "matmul_vector_vector": (lambda a, b: a @ b, [(4,), (4,)]),
    "matmul_batched_vector": (lambda a, b: a @ b, [(2, 3, 4), (4,)]),
    "constant_matmul_traced": (lambda a: CONSTANT @ a, [(3, 2)]),
    "traced_matmul_constant": (lambda a: a @ CONSTANT, [(2, 4)]),
    "dot_2d": (lambda a, b: np.dot(a, b), [(3, 4), (4, 2)]),
    "dot_scalar": (lambda a: np.dot(a, 2.0), [(3,)]),
}

REDUCTIONS_AND_SHAPES = {
    "sum_all": (lambda a: np.sum(a), [(3, 4)]),
    "sum_axis_keepdims": (lambda a: np.sum(a, axis=-1, keepdims=True), [(2, 3, 4)]),
    "sum_tuple_axes": (lambda a: a.sum(axis=(0, 2)), [(2, 3, 4)]),
    "mean_all": (lambda a: np.mean(a), [(3, 4)]),
    "mean_axis": (lambda a: a.mean(axis=1), [(2, 3, 4)]),
    "mean_keepdims": (lambda a: np.mean(a, axis=(0, -1), keepdims=True), [(2, 3, 4)]),
    "max_axis": (lambda a: np.max(a, axis=1), [(3, 4)]),
    "amax_keepdims": (lambda a: np.amax(a, axis=0, keepdims=True), [(3, 4)]),
    "max_method_all": (lambda a: a.max(), [(3, 4)]),
    "min_axis": (lambda a: np.min(a, axis=-1), [(2, 3, 4)]),
    "min_method": (lambda a: a.min(axis=0), [(3, 4)]),
    "reshape_method": (lambda a: a.reshape(4, 3) * CONSTANT, [(2, 6)]),
    "reshape_tuple": (lambda a: np.reshape(a, (-1, 2)), [(2, 3, 2)]),
    "reshape_keyword": (lambda a: np.reshape(a, shape=(6,)), [(2, 3)]),
    "ravel": (lambda a: a.ravel() * np.arange(6.0), [(2, 3)]),
    "transpose_default": (lambda a: np.transpose(a), [(2, 3, 4)]),
    "transpose_axes": (lambda a: np.transpose(a, (1, 2, 0)), [(2, 3, 4)]),
    "transpose_method_args": (lambda a: a.transpose(2, 0, 1), [(2, 3, 4)]),
    "T": (lambda a: a.T @ a, [(3, 2)]),
    "swapaxes": (lambda a: np.swapaxes(a, 0, 2), [(2, 3, 4)]),
    "expand_dims": (lambda a: np.expand_dims(a, 1) * np.ones((3, 2, 4)), [(3, 4)]),
    "squeeze": (lambda a: np.squeeze(a, axis=1), [(3, 1, 4)]),
    "squeeze_method": (lambda a: a.squeeze(), [(3, 1, 4, 1)]),
    "broadcast_to": (lambda a: np.broadcast_to(a, (2, 3, 4)), [(3, 1)]),
    "concatenate_axis": (lambda a, b: np.concatenate([a, b, a], axis=1), [(2, 3), (2, 1)]),
    "concatenate_with_constant": (lambda a: np.concatenate([a, CONSTANT[:2]], axis=0), [(3, 3)]),
    "concatenate_flat": (lambda a, b: np.concatenate([a, b], axis=None), [(2, 3), (4,)]),
    "stack": (lambda a, b: np.stack([a, b, a], axis=-1), [(2, 3), (2, 3)]),
    "stack_axis0": (lambda a, b: np.stack((a, b)), [(2, 3), (2, 3)]),
    "where_constant_condition": (lambda a, b: np.where(CONSTANT > 0, a, b), [(4, 3), (3,)]),
    "where_from_comparison": (lambda a: np.where(a > 0, a, 0.1 * a), [(3, 4)]),
    "where_scalar_branch": (lambda a: np.where(CONSTANT < 0, a, 0.0), [(4, 3)]),
    "astype_float": (lambda a: a.astype("float64") * 2, [(3,)]),
    "copy": (lambda a: a.copy() * a, [(3,)]),
}

INDEXING = {
    "int": (lambda a: a[1], [(3, 4)]),
    "slice": (lambda a: a[:, 1:3], [(3, 4)]),
    "negative_step": (lambda a: a[::-1, ::2], [(3, 4)]),
    "none_and_ellipsis": (lambda a: a[None, ..., 0], [(2, 3, 4)]),
    "ints_and_slices": (lambda a: a[1, :, -1], [(2, 3, 4)]),
    "integer_array_repeated": (lambda a: a[[0, 0, 2, 0]], [(3, 4)]),
    "integer_array_second_axis": (lambda a: a[:, np.array([3, 1, 3])], [(2, 4)]),
    "two_integer_arrays": (lambda a: a[np.array([0, 1, 0]), np.array([2, 2, 2])], [(2, 3)]),
    "integer_array_with_none": (lambda a: a[[1, 1], None, :], [(3, 4)]),
    "boolean_mask": (lambda a: a[CONSTANT > 0], [(4, 3)]),
    "iterate_rows": (lambda a: sum(row * (i + 1.0) for i, row in enumerate(a)), [(3, 2)]),
}


def _inputs(shapes, kind, seed=0):
    make = _positive if kind == "positive" else _normal
    return [make(shape, seed + i) for i, shape in enumerate(shapes)]


@pytest.mark.parametrize("name", sorted(ELEMENTWISE))
def test_elementwise_gradients(name):
    function, shapes, kind = ELEMENTWISE[name]
    _check(function, _inputs(shapes, kind))


@pytest.mark.parametrize("name", sorted(LINEAR_ALGEBRA))
def test_linear_algebra_gradients(name):
    function, shapes = LINEAR_ALGEBRA[name]
    _check(function, _inputs(shapes, "normal"))


@pytest.mark.parametrize("name", sorted(REDUCTIONS_AND_SHAPES))
def test_reduction_and_shape_gradients(name):
    function, shapes = REDUCTIONS_AND_SHAPES[name]
    _check(function, _inputs(shapes, "normal"))


@pytest.mark.parametrize("name", sorted(INDEXING))
def test_indexing_gradients(name):
    function, shapes = INDEXING[name]
    _check(function, _inputs(shapes, "normal"))


def test_clip_gradient_away_from_the_bounds_and_at_them():
    x = np.array([[-2.0, -0.3, 0.2], [0.7, 1.5, -0.9]])
    _check(lambda a: np.clip(a, -0.5, 0.8), [x])
    _check(lambda a: np.clip(a, None, 0.8), [x])
    _check(lambda a: np.clip(a, min=-0.5), [x])
    leaf = Traced(np.array([-0.5, 0.0, 0.8, 1.0]))
    (grad,) = autodiff.backward([np.clip(leaf, -0.5, 0.8)], [np.ones(4)], [leaf])
    np.testing.assert_array_equal(grad, [1.0, 1.0, 1.0, 0.0])  # the bounds pass it, as tf.clip_by_value


def test_repeated_indices_scatter_add_their_gradients():
    leaf = Traced(np.arange(6.0).reshape(3, 2))
    (grad,) = autodiff.backward([leaf[[0, 2, 0, 0]]], [np.ones((4, 2)) * [[1.0], [2.0], [3.0], [4.0]]], [leaf])
    np.testing.assert_array_equal(grad, [[8.0, 8.0], [0.0, 0.0], [2.0, 2.0]])


def test_max_and_min_split_the_gradient_evenly_among_ties():
    leaf = Traced(np.array([[1.0, 3.0, 3.0, 2.0], [5.0, 5.0, 5.0, 0.0]]))
    (grad,) = autodiff.backward([np.max(leaf, axis=1)], [np.array([1.0, 3.0])], [leaf])
    np.testing.assert_allclose(grad, [[0, 0.5, 0.5, 0], [1, 1, 1, 0]])
    (grad,) = autodiff.backward([leaf.max()], [np.array(1.0)], [leaf])
    np.testing.assert_allclose(grad, [[0, 0, 0, 0], [1 / 3, 1 / 3, 1 / 3, 0]])
    leaf = Traced(np.array([2.0, 1.0, 1.0, 4.0]))
    (grad,) = autodiff.backward([np.min(leaf)], [np.array(2.0)], [leaf])
    np.testing.assert_allclose(grad, [0, 1, 1, 0])


def test_maximum_and_minimum_give_a_tie_to_the_first_operand():
    a, b = Traced(np.array([1.0, 2.0, 3.0])), Traced(np.array([1.0, 0.0, 5.0]))
    grad_a, grad_b = autodiff.backward([np.maximum(a, b)], [np.ones(3)], [a, b])
    np.testing.assert_array_equal(grad_a, [1, 1, 0])
    np.testing.assert_array_equal(grad_b, [0, 0, 1])
    grad_a, grad_b = autodiff.backward([np.minimum(a, b)], [np.ones(3)], [a, b])
    np.testing.assert_array_equal(grad_a, [1, 0, 1])
    np.testing.assert_array_equal(grad_b, [0, 1, 0])


def test_abs_has_gradient_zero_at_zero():
    leaf = Traced(np.array([-1.0, 0.0, 2.0]))
    (grad,) = autodiff.backward([abs(leaf)], [np.ones(3)], [leaf])
    np.testing.assert_array_equal(grad, [-1.0, 0.0, 1.0])


def test_constants_get_no_gradient_and_comparisons_are_plain():
    leaf = Traced(np.array([1.0, -2.0]))
    assert not isinstance(leaf > 0, Traced) and (leaf > 0).dtype == bool
    assert not isinstance(leaf.astype("int32"), Traced)
    assert not isinstance(np.zeros_like(leaf), Traced)
    assert np.shape(leaf) == (2,) and leaf.ndim == 1 and leaf.size == 2 and len(leaf) == 2
    unused = Traced(np.ones((2, 2)))
    grads = autodiff.backward([leaf * 2.0], [np.ones(2)], [leaf, unused])
    np.testing.assert_array_equal(grads[0], [2.0, 2.0])
    np.testing.assert_array_equal(grads[1], np.zeros((2, 2)))


def test_several_outputs_and_unused_output_gradients():
    leaf = Traced(np.array([1.0, 2.0, 3.0]))
    first, second = leaf * 2.0, np.sum(leaf ** 2)
    (grad,) = autodiff.backward([first, second], [np.ones(3), np.array(1.0)], [leaf])
    np.testing.assert_allclose(grad, [4.0, 6.0, 8.0])
    (grad,) = autodiff.backward([first, second], [None, np.array(1.0)], [leaf])
    np.testing.assert_allclose(grad, [2.0, 4.0, 6.0])


def test_gradients_are_fresh_writeable_arrays():
    leaf = Traced(np.ones((2, 3)))
    (grad,) = autodiff.backward([np.sum(leaf)], [np.array(1.0)], [leaf])
    grad += 1.0  # a broadcast view would refuse this
    np.testing.assert_array_equal(grad, np.full((2, 3), 2.0))


def test_vjp_returns_plain_outputs_and_a_pullback():
    outputs, pullback = autodiff.vjp(lambda a, b: [a * b, a + b], np.array([1.0, 2.0]), np.array([3.0, 4.0]))
    np.testing.assert_array_equal(outputs[0], [3.0, 8.0])
    grad_a, grad_b = pullback([np.ones(2), np.ones(2)])
    np.testing.assert_array_equal(grad_a, [4.0, 5.0])
    np.testing.assert_array_equal(grad_b, [2.0, 3.0])


def test_long_chains_do_not_hit_the_recursion_limit():
    leaf = Traced(np.array([1.0]))
    value = leaf
    for _ in range(3000):
        value = value * 1.0 + 0.0
    (grad,) = autodiff.backward([value], [np.ones(1)], [leaf])
    np.testing.assert_array_equal(grad, [1.0])


@pytest.mark.parametrize("operation, function", [
    ("numpy.fft.fft", lambda x: np.fft.fft(x)),
    ("numpy.arctan", lambda x: np.arctan(x)),
    ("numpy.add.reduce", lambda x: np.add.reduce(x)),
    ("numpy.cumsum", lambda x: np.cumsum(x)),
    ("numpy.exp with ['out']", lambda x: np.exp(x, out=np.empty(3))),
    ("conversion of a traced array", lambda x: np.asarray(x)),
    ("float()", lambda x: float(x.sum())),
    ("item assignment", lambda x: x.__setitem__(0, 1.0)),
    ("// (numpy.floor_divide)", lambda x: x // 2),
    ("numpy.clip with traced bounds", lambda x: np.clip(x, x, 1.0)),
    ("numpy.where with one argument", lambda x: np.where(x)),
    ("numpy.sum with out=", lambda x: np.sum(x, out=np.empty(()))),
    ("numpy.linalg.norm", lambda x: np.linalg.norm(x)),
])
def test_unsupported_operations_raise_a_type_error_naming_them(operation, function):
    with pytest.raises(UnsupportedOperation) as caught:
        function(Traced(np.array([1.0, 2.0, 3.0])))
    assert isinstance(caught.value, TypeError)
    assert operation in str(caught.value)
    assert caught.value.operation in str(caught.value)
    assert "Supported:" in str(caught.value)


def test_a_variable_met_by_a_traced_operation_raises():
    layer = cl.layers.Dense(2)
    layer.build((None, 3))
    x = Traced(np.ones((1, 3), dtype="float32"))
    with pytest.raises(VariableInTrace, match="kernel.*never receive a gradient"):
        x @ layer.kernel
    with pytest.raises(VariableInTrace, match="add_weight"):
        np.concatenate([x[0], layer.bias])


def test_strict_backend_keeps_every_array_on_the_array_module():
    with cl.backend.backend_scope("strict"):
        xp = cl.backend.xp
        a = Traced(xp.asarray(_normal((3, 4), 1)))
        b = Traced(xp.asarray(_normal((4,), 2)))
        out = np.sum(np.where(a > 0, a * b, np.tanh(a)) @ b[:, None] + a[[0, 0, 2]].max(axis=0).mean()
                     + np.concatenate([a, a], axis=1).sum())
        grads = autodiff.backward([out], [xp.asarray(1.0)], [a, b])
        assert all(type(grad).__name__ == "StrictArray" for grad in grads)
