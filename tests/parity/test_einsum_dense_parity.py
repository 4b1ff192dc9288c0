"""EinsumDense gives tf.keras's numbers, computed in the same test.

Each case builds the layer in both libraries with Keras's random weights and
compares the symbolic output shape, the weights' names and shapes, the forward
values and the ``tf.GradientTape`` gradients of the input, the kernel and the
bias (``keras_tape.compare_layer``); then the configs (and the bridge both
ways), six Adam steps of a small model from copied weights, and ``.keras`` files
written by one library and opened by the other.

One deliberate difference: with two or more axes elided on the left
(``...b,bc->...c`` on a rank-4 input) Keras 3.15's ``compute_output_shape``
lists them in reverse order (its call does not); course_lib keeps the input's
order, and the test checks both the real outputs and Keras's reversed shape.

Measured against tf.keras 3.15 on CPU in float32 (inputs 2*N(0, 1), weights
N(0, 1), tanh): forwards and gradients within 2.7e-6 absolute (ellipsis-right,
on kernel gradients of size ~30), from a different summation order;
compare_layer's allowance is rtol 1e-5 relative and 1e-5 of the largest value
absolute. The six Adam steps: losses within 2.4e-7 and weights within 6e-8;
compared with rtol 1e-4, atol 1e-5, as the other training parity tests.
"""
import numpy as np
import pytest

import course_lib as cl

tf = pytest.importorskip("tensorflow")
import keras  # noqa: E402  (Keras 3, the library tf.keras is)
from keras_tape import compare_layer  # noqa: E402

pytestmark = pytest.mark.parity

RTOL, ATOL = 1e-5, 1e-6
TRAIN_RTOL, TRAIN_ATOL = 1e-4, 1e-5

CASES = [
    ("dense", "ab,bc->ac", 4, "c", (3, 5)),
    ("dense-no-bias", "ab,bc->ac", 4, None, (3, 5)),
    ("sequence", "abc,cd->abd", (None, 4), "d", (2, 3, 5)),
    ("ellipsis-left", "...x,xy->...y", 4, "y", (2, 3, 5)),
    ("ellipsis-left-rank-2", "...x,xy->...y", 4, None, (2, 5)),
    ("ellipsis-right", "ab...,bc->ac...", (4,), "c", (2, 5, 3)),
    ("ellipsis-right-two", "ab...,bc->ac...", (4,), "c", (2, 5, 3, 2)),
    ("heads", "abc,cde->abde", (3, 2, 4), "de", (2, 3, 5)),
    ("heads-last-bias", "abc,cde->abde", (3, 2, 4), "e", (2, 3, 5)),
    ("summed-input-axis", "abc,cd->ad", 4, "d", (2, 3, 5)),
    ("output-back", "abcd,cde->abe", (3, 4), "be", (2, 3, 5, 6)),
    ("transposed-out", "abc,bd->adc", (4, 5), "dc", (2, 3, 5)),
]


@pytest.mark.parametrize("equation, output_shape, bias_axes, shape", [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])
def test_einsum_dense_matches_keras_forward_gradients_and_config(equation, output_shape, bias_axes, shape):
    generator = np.random.default_rng(0)
    x = (2 * generator.standard_normal(shape)).astype("float32")
    kwargs = {"equation": equation, "output_shape": output_shape, "bias_axes": bias_axes, "activation": "tanh"}
    ours, theirs, _ = compare_layer("EinsumDense", kwargs, x, generator)
    mine, keras_config = ours.get_config(), theirs.get_config()
    mine.pop("name"), keras_config.pop("name")
    assert mine == keras_config
    rebuilt = cl.testing.layer_from_keras(theirs)
    back = cl.testing.layer_to_keras(ours)
    assert type(rebuilt) is cl.layers.EinsumDense and type(back) is keras.layers.EinsumDense
    assert {k: v for k, v in back.get_config().items() if k != "name"} == keras_config
    assert {k: v for k, v in rebuilt.get_config().items() if k != "name"} == keras_config


def test_several_left_elided_axes_keras_reverses_only_its_symbolic_shape():
    generator = np.random.default_rng(1)
    x = (2 * generator.standard_normal((2, 3, 2, 5))).astype("float32")
    theirs = keras.layers.EinsumDense("...b,bc->...c", 4, bias_axes="c")
    theirs(x)
    ours = cl.layers.EinsumDense("...b,bc->...c", 4, bias_axes="c")
    ours(x)
    ours.set_weights([w for w in theirs.get_weights()])
    np.testing.assert_allclose(ours(x), theirs(x).numpy(), rtol=RTOL, atol=ATOL)
    assert theirs(x).shape == (2, 3, 2, 4)
    assert theirs.compute_output_shape((None, 3, 2, 5)) == (None, 2, 3, 4)  # Keras 3.15's order
    assert ours.compute_output_shape((None, 3, 2, 5)) == (None, 3, 2, 4)


def test_the_default_kernel_initializer_draws_with_keras_fans():
    # Statistics only (the draws differ): glorot_uniform's limit from the einsum's axes.
    for library in (keras, cl):
        layer = library.layers.EinsumDense("abc,cde->abde", (3, 8, 16), bias_axes="de")
        layer(np.zeros((2, 3, 32), "float32"))
        kernel = np.asarray(layer.get_weights()[0])
        limit = np.sqrt(6.0 / (32 + 8 * 16))
        assert kernel.shape == (32, 8, 16)
        assert np.abs(kernel).max() <= limit and np.abs(kernel).max() > 0.95 * limit


def _model(library):
    inputs = library.Input((3, 4))
    hidden = library.layers.EinsumDense("abc,cd->abd", (3, 6), bias_axes="d", activation="relu",
                                        name="proj")(inputs)
    hidden = library.layers.EinsumDense("...d,de->...e", 5, bias_axes="e", activation="celu", name="mix")(hidden)
    outputs = library.layers.EinsumDense("abe,bef->af", 3, bias_axes="f", activation="softmax",
                                         name="head")(hidden)
    return library.Model(inputs, outputs)


def test_adam_steps_of_a_small_einsum_model_match_keras():
    keras.utils.set_random_seed(0)
    keras_model = _model(keras)
    generator = np.random.default_rng(4)
    x = (2 * generator.standard_normal((48, 3, 4))).astype("float32")
    y = generator.integers(0, 3, 48)
    ours = cl.testing.from_keras(keras_model)
    initial = [w.copy() for w in ours.get_weights()]
    keras_model.compile(optimizer=keras.optimizers.Adam(0.01), loss="sparse_categorical_crossentropy")
    ours.compile(optimizer=cl.optimizers.Adam(0.01), loss="sparse_categorical_crossentropy")
    for step in range(6):
        batch = slice(8 * step, 8 * step + 8)
        np.testing.assert_allclose(ours.train_on_batch(x[batch], y[batch]),
                                   keras_model.train_on_batch(x[batch], y[batch]),
                                   rtol=TRAIN_RTOL, atol=TRAIN_ATOL)
    names = [w.path for w in keras_model.weights]
    assert [w.path for w in ours.weights] == names
    for name, was, mine, theirs in zip(names, initial, ours.get_weights(), keras_model.get_weights(), strict=True):
        np.testing.assert_allclose(mine, theirs, rtol=TRAIN_RTOL, atol=TRAIN_ATOL, err_msg=name)
        assert not np.allclose(mine, was), name  # every weight moved, in both
    np.testing.assert_allclose(ours.predict(x, verbose=0), keras_model.predict(x, verbose=0),
                               rtol=TRAIN_RTOL, atol=TRAIN_ATOL)


def test_keras_files_with_einsum_dense_open_both_ways(tmp_path):
    x = (2 * np.random.default_rng(5).standard_normal((4, 3, 4))).astype("float32")
    keras.utils.set_random_seed(1)
    original = _model(keras)
    original.save(tmp_path / "from_keras.keras")
    loaded = cl.models.load_model(tmp_path / "from_keras.keras")
    for name in ("proj", "mix", "head"):
        assert loaded.get_layer(name).get_config() == original.get_layer(name).get_config()
    np.testing.assert_allclose(loaded.predict(x, verbose=0), original.predict(x, verbose=0), rtol=RTOL, atol=ATOL)

    cl.utils.set_random_seed(2)
    ours = _model(cl)
    ours.compile(optimizer=cl.optimizers.Adam(0.01), loss="mse")
    ours.train_on_batch(x, np.full((4, 3), 1 / 3, "float32"))  # optimizer state goes into the file too
    ours.save(tmp_path / "from_course_lib.keras")
    opened = keras.models.load_model(tmp_path / "from_course_lib.keras")
    for name in ("proj", "mix", "head"):
        assert opened.get_layer(name).get_config() == ours.get_layer(name).get_config()
    np.testing.assert_allclose(opened.predict(x, verbose=0), ours.predict(x, verbose=0), rtol=RTOL, atol=ATOL)
    again = cl.models.load_model(tmp_path / "from_course_lib.keras")
    np.testing.assert_allclose(again.predict(x, verbose=0), ours.predict(x, verbose=0), rtol=0, atol=0)
