"""Arithmetic on symbolic tensors: the operations a functional model records for ``x + y``, ``-x``, ``x @ w`` ...

Behaviour (names, ``operations`` vs ``layers``, shapes and dtypes, configs,
errors) and float64 gradient checks of a model through each operator.
"""
import json

import numpy as np
import pytest

import course_lib as cl
from course_lib import backend
from course_lib.layers import operations
from course_lib.testing import assert_gradients_close


def _model_through(expression, shape=(4,), second_shape=None):
    """A float64 model ``Dense -> expression(h, y) -> Dense`` (``y`` a second Input when ``second_shape``)."""
    with backend.floatx_scope("float64"):
        x = cl.Input(shape)
        inputs = [x]
        h = cl.layers.Dense(shape[-1], activation="tanh")(x)
        if second_shape is not None:
            y = cl.Input(second_shape)
            inputs.append(y)
            out = expression(h, y)
        else:
            out = expression(h)
        out = cl.layers.Dense(2)(out)
        return cl.Model(inputs if len(inputs) > 1 else x, out)


GRADIENT_CASES = {
    "add": (lambda h: h + h * 3.0, None),
    "add_two_inputs": (lambda h, y: h + y, (4,)),
    "radd_array": (lambda h: np.arange(4.0) + h, None),
    "subtract": (lambda h, y: h - y, (4,)),
    "rsubtract": (lambda h: 1 - h, None),
    "multiply": (lambda h, y: h * y, (4,)),
    "multiply_broadcast": (lambda h, y: h * y, (1,)),
    "rmultiply": (lambda h: 0.5 * h, None),
    "divide": (lambda h, y: h / (y * y + 1.0), (4,)),
    "rdivide": (lambda h: 1.0 / (h * h + 2.0), None),
    "power_constant": (lambda h: h ** 2, None),
    "power_tensor_exponent": (lambda h, y: (h * h + 1.0) ** y, (4,)),
    "rpower": (lambda h: 2.0 ** h, None),
    "negative": (lambda h: -h, None),
    "absolute": (lambda h: abs(h), None),
    "matmul_constant": (lambda h: h @ np.linspace(-1, 1, 12).reshape(4, 3), None),
    "matmul_two_tensors": (lambda h, y: h @ y, (3, 4, 2)),
    "matmul_vectors": (lambda h, y: (np.linspace(-1, 1, 3) @ h) * (h @ np.linspace(0.5, 2, 4) @ np.ones((3, 4))),
                       (3, 4)),
}


@pytest.mark.parametrize("case", sorted(GRADIENT_CASES))
def test_a_gradient_flows_through_each_operator(case):
    expression, second_shape = GRADIENT_CASES[case]
    if case in ("matmul_two_tensors", "matmul_vectors"):
        # on (batch, 3, 4) tensors: a batch of matrices, or a vector on either side
        shapes = second_shape[:2], second_shape[1:]
        with backend.floatx_scope("float64"):
            x = cl.Input(shapes[0])
            h = cl.layers.Dense(4, activation="tanh")(x)
            if len(second_shape) == 3:
                w = cl.Input(shapes[1])
                model = cl.Model([x, w], cl.layers.Flatten()(expression(h, w)))
            else:
                model = cl.Model(x, expression(h, None))
        rng = np.random.default_rng(0)
        inputs = [rng.standard_normal((3,) + shape) for shape in shapes[:len(model.inputs)]]
        inputs = inputs if len(inputs) > 1 else inputs[0]
    else:
        model = _model_through(expression, second_shape=second_shape)
        rng = np.random.default_rng(0)
        inputs = [rng.standard_normal((5, 4))] + ([rng.uniform(0.5, 1.5, (5,) + second_shape)] if second_shape else [])
        inputs = inputs if second_shape else inputs[0]
    assert any(operations.is_operation(op) for op in model.operations)
    # A step of 1e-5: rounding in the loss (its exp/log differ by an ulp between CPUs' SIMD code) stays below
    # 1e-6 of the smallest checked entries, and the central difference's own error is ~1e-10.
    assert_gradients_close(model, inputs, tolerance=1e-6, epsilon=1e-5)


def test_operators_train_in_fit():
    x = cl.Input((3,))
    h = cl.layers.Dense(3)(x)
    model = cl.Model(x, cl.layers.Dense(1)(h + x * 0.5 - abs(h) / 2))
    model.compile(optimizer=cl.optimizers.SGD(0.1), loss="mse")
    data = np.random.default_rng(0).standard_normal((32, 3)).astype("float32")
    target = data.sum(axis=1, keepdims=True)
    before = model.get_weights()
    history = model.fit(data, target, epochs=5, verbose=0).history["loss"]
    assert history[-1] < history[0]
    assert all(not np.allclose(a, b) for a, b in zip(before, model.get_weights()))


def test_operations_are_not_layers_but_are_operations():
    cl.backend.clear_session()
    x = cl.Input((4,))
    h = cl.layers.Dense(4)(x)
    out = h + x
    model = cl.Model(x, out * 2)
    assert [layer.name for layer in model.layers] == ["input_layer", "dense"]
    assert [op.name for op in model.operations] == ["input_layer", "dense", "add", "multiply"]
    assert model.output_names == ["multiply"]
    assert model.count_params() == 20
    with pytest.raises(ValueError, match="no layer named 'add'"):
        model.get_layer("add")


def test_the_summary_lists_the_operations_with_their_connections():
    cl.backend.clear_session()
    x = cl.Input((4,))
    model = cl.Model(x, cl.layers.Dense(4)(x) + x)
    lines = []
    model.summary(print_fn=lines.append)
    text = lines[0]
    assert "add (Add)" in text and "dense[0][0]," in text and "Connected to" in text


def test_shapes_and_dtypes_follow_keras_promotion():
    i = cl.Input((3,), dtype="int32")
    f = cl.Input((3,))
    d = cl.Input((3,), dtype="float64")
    assert (i + 1).dtype == "int32"
    assert (i + 1.5).dtype == "float32"
    assert (i / 2).dtype == "float32"
    assert (i ** 2).dtype == "int32"
    assert (f + d).dtype == "float64"
    assert (f + np.ones(3)).dtype == "float64"
    assert (f + np.ones(3, "float32")).dtype == "float32"
    assert (f * i).dtype == "float32"
    assert (f @ np.ones((3, 2))).shape == (None, 2)
    assert (f @ np.ones(3, "float32")).shape == (None,)
    assert (cl.Input((None, 1)) + cl.Input((5, 4))).shape == (None, 5, 4)
    assert (cl.Input((2, 3, 4)) @ cl.Input((4, 5))).shape == (None, 2, 3, 5)


def test_integer_arithmetic_computes_in_integers():
    i = cl.Input((3,), dtype="int32")
    model = cl.Model(i, -(i * 2) + 1)
    result = model.predict(np.array([[1, 2, 3]]), verbose=0)
    assert result.dtype == np.int32
    np.testing.assert_array_equal(result, [[-1, -3, -5]])


def test_the_config_records_the_operations_and_their_constants():
    cl.backend.clear_session()
    x = cl.Input((2,))
    model = cl.Model(x, 1 - x * 0.5 @ np.eye(2, dtype="float32"))
    entries = {entry["name"]: entry for entry in model.get_config()["layers"]}
    assert entries["multiply"]["module"] == "keras.src.ops.numpy"
    assert entries["multiply"]["config"] == {"name": "multiply"}
    assert entries["multiply"]["registered_name"] == "Multiply"
    assert "build_config" not in entries["multiply"]
    assert entries["multiply"]["inbound_nodes"][0]["args"][1] == 0.5
    assert entries["subtract"]["inbound_nodes"][0]["args"][0] == 1
    constant = entries["matmul"]["inbound_nodes"][0]["args"][1]
    assert constant == {"class_name": "__numpy__", "config": {"value": [[1.0, 0.0], [0.0, 1.0]], "dtype": "float32"}}
    rebuilt = cl.models.model_from_json(model.to_json())
    data = np.array([[1.0, 2.0]], dtype="float32")
    np.testing.assert_allclose(rebuilt.predict(data, verbose=0), model.predict(data, verbose=0))
    assert [type(op).__name__ for op in rebuilt.operations] == ["InputLayer", "Multiply", "Matmul", "Subtract"]
    assert json.loads(rebuilt.to_json())["config"]["layers"] == json.loads(model.to_json())["config"]["layers"]


def test_a_saved_file_and_a_clone_keep_the_operations(tmp_path):
    x = cl.Input((3,))
    h = cl.layers.Dense(3)(x)
    model = cl.Model(x, h * 2.0 + x)
    data = np.random.default_rng(0).standard_normal((4, 3)).astype("float32")
    model.save(tmp_path / "m.keras")
    loaded = cl.models.load_model(tmp_path / "m.keras")
    np.testing.assert_allclose(loaded.predict(data, verbose=0), model.predict(data, verbose=0))
    clone = cl.models.clone_model(model)
    clone.set_weights(model.get_weights())
    np.testing.assert_allclose(clone.predict(data, verbose=0), model.predict(data, verbose=0))
    assert [type(op).__name__ for op in clone.operations] == [type(op).__name__ for op in model.operations]


def test_a_mask_only_keras_op_is_still_skipped_but_an_output_op_is_kept():
    from course_lib.models import _keras_mask_ops

    def tensor(name):
        return {"class_name": "__keras_tensor__", "config": {"shape": [None, 2], "dtype": "float32",
                                                            "keras_history": [name, 0, 0]}}

    entries = [
        {"name": "x", "class_name": "InputLayer", "module": "keras.layers", "inbound_nodes": []},
        {"name": "not_equal", "class_name": "NotEqual", "module": "keras.src.ops.numpy",
         "inbound_nodes": [{"args": [tensor("x"), 0], "kwargs": {}}]},
        {"name": "mha", "class_name": "MultiHeadAttention", "module": "keras.layers",
         "inbound_nodes": [{"args": [tensor("x"), tensor("x")], "kwargs": {"query_mask": tensor("not_equal")}}]},
        {"name": "add", "class_name": "Add", "module": "keras.src.ops.numpy",
         "inbound_nodes": [{"args": [tensor("mha"), tensor("x")], "kwargs": {}}]},
    ]
    assert _keras_mask_ops(entries, {"add"}) == {"not_equal"}


def test_a_subclassed_model_may_use_operators():
    class Residual(cl.Model):
        def __init__(self):
            super().__init__()
            self.dense = cl.layers.Dense(3)

        def call(self, inputs):
            return inputs + self.dense(inputs)

    model = Residual()
    data = np.ones((2, 3), dtype="float32")
    result = model.predict(data, verbose=0)
    expected = data + data @ model.dense.get_weights()[0] + model.dense.get_weights()[1]
    np.testing.assert_allclose(result, expected, rtol=1e-6)
    assert [layer.name for layer in model.layers] == [model.dense.name]


def test_an_operation_called_on_arrays_computes_at_once():
    np.testing.assert_allclose(operations.Add()(np.array([1.0, 2.0]), 1.0), [2.0, 3.0])
    np.testing.assert_allclose(operations.Matmul()(np.eye(2), np.array([1.0, 2.0])), [1.0, 2.0])


def test_errors_name_the_operation_and_what_it_received():
    x = cl.Input((3,))
    with pytest.raises(TypeError, match=r"Add: an operand must be .* Received: 'a'"):
        x + "a"
    with pytest.raises(TypeError, match="Multiply: an operand must be"):
        x * cl.layers.Dense(2)
    with pytest.raises(ValueError, match=r"Add: cannot broadcast .* size 3 against 4"):
        x + cl.Input((4,))
    with pytest.raises(ValueError, match=r"Matmul: the last axis of the first operand \(3\)"):
        x @ np.ones((4, 2))
    op = operations.Add()
    op(x, 1.0)
    with pytest.raises(ValueError, match="already records a call"):
        op(x, 2.0)


def test_an_unknown_keras_op_is_still_refused_by_name():
    config = {"module": "keras.src.ops.numpy", "class_name": "Cumsum", "config": {"name": "cumsum"},
              "registered_name": "Cumsum"}
    with pytest.raises(ValueError, match=r"'Cumsum' is a keras.ops operation .*'Absolute'"):
        cl.layers.deserialize(config)


def test_deserialize_builds_the_operation_not_the_merging_layer():
    op = cl.layers.deserialize({"module": "keras.src.ops.numpy", "class_name": "Add", "config": {"name": "add_7"},
                                "registered_name": "Add"})
    assert isinstance(op, operations.Add) and op.name == "add_7"
    layer = cl.layers.deserialize({"module": "keras.layers", "class_name": "Add",
                                   "config": {"name": "add_8", "trainable": True, "dtype": "float32"},
                                   "registered_name": None})
    assert isinstance(layer, cl.layers.Add)
