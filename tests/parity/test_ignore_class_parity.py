"""SparseCategoricalCrossentropy(ignore_class=...) gives tf.keras's numbers, computed in the same test.

Keras leaves the ignored labels out: their loss is 0, and a mean reduction averages over the
other entries only (the loss's mask is folded into the sample weights). An output's own mask
(``Embedding(mask_zero=True)`` through a recurrent layer) is combined with it before the
folding, once: the fit test below has both. Tolerances as the other loss tests: values
rtol 1e-5, gradients rtol 1e-4 (atol 1e-6).
"""
import numpy as np
import pytest

import course_lib as cl

tf = pytest.importorskip("tensorflow")
import keras  # noqa: E402  (Keras 3, the library tf.keras is)
from keras_tape import assert_same_fit  # noqa: E402

pytestmark = pytest.mark.parity

VALUE_TOL = dict(rtol=1e-5, atol=1e-6)
GRADIENT_TOL = dict(rtol=1e-4, atol=1e-6)


def _labels_and_predictions(generator, shape, from_logits, ignore_class):
    classes = 5
    labels = generator.integers(0, classes, shape)
    labels.flat[::3] = ignore_class if ignore_class is not None else 1  # every third entry ignored
    scores = generator.normal(scale=2.0, size=shape + (classes,)).astype("float32")
    if not from_logits:
        scores = np.exp(scores) / np.exp(scores).sum(axis=-1, keepdims=True)
    return labels.astype("int32"), scores


def _keras_value_and_gradient(loss, y_true, y_pred, sample_weight):
    prediction = tf.constant(y_pred)
    with tf.GradientTape() as tape:
        tape.watch(prediction)
        value = loss(y_true, prediction, sample_weight=sample_weight)
    return value.numpy(), tape.gradient(value, prediction).numpy()


@pytest.mark.parametrize("shape", [(8,), (4, 6)], ids=["samples", "sequences"])
@pytest.mark.parametrize("from_logits", [False, True], ids=["probabilities", "logits"])
@pytest.mark.parametrize("ignore_class", [None, -1, 2])
@pytest.mark.parametrize("reduction", ["sum_over_batch_size", "sum", "mean_with_sample_weight", None])
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
def test_values_and_gradients_match_keras(shape, from_logits, ignore_class, reduction, weighted):
    generator = np.random.default_rng(len(shape) + 3 * from_logits)
    y_true, y_pred = _labels_and_predictions(generator, shape, from_logits, ignore_class)
    sample_weight = generator.uniform(0.5, 2.0, shape).astype("float32") if weighted else None  # per entry
    kwargs = dict(from_logits=from_logits, ignore_class=ignore_class, reduction=reduction)
    ours = cl.losses.SparseCategoricalCrossentropy(**kwargs)
    theirs = keras.losses.SparseCategoricalCrossentropy(**kwargs)
    keras_value, keras_gradient = _keras_value_and_gradient(theirs, y_true, y_pred, sample_weight)
    np.testing.assert_allclose(ours(y_true, y_pred, sample_weight=sample_weight), keras_value, **VALUE_TOL)
    value, gradient = ours.value_and_gradient(y_true, y_pred, sample_weight=sample_weight)
    np.testing.assert_allclose(value, keras_value, **VALUE_TOL)
    np.testing.assert_allclose(gradient, keras_gradient, **GRADIENT_TOL)
    np.testing.assert_allclose(ours.gradient(y_true, y_pred, sample_weight=sample_weight), keras_gradient,
                               **GRADIENT_TOL)
    if ignore_class is not None:  # not vacuous: the ignored entries change the result
        plain = keras.losses.SparseCategoricalCrossentropy(from_logits=from_logits, reduction=reduction)
        cleaned = np.where(y_true == ignore_class, 0, y_true)
        assert not np.allclose(plain(cleaned, y_pred, sample_weight=sample_weight).numpy(), keras_value)


@pytest.mark.parametrize("ignore_class", [None, 255])
def test_the_function_and_the_config_are_keras_s(ignore_class):
    generator = np.random.default_rng(9)
    y_true, y_pred = _labels_and_predictions(generator, (3, 4), False, ignore_class)
    np.testing.assert_allclose(
        cl.losses.sparse_categorical_crossentropy(y_true, y_pred, ignore_class=ignore_class),
        keras.losses.sparse_categorical_crossentropy(y_true, y_pred, ignore_class=ignore_class).numpy(),
        **VALUE_TOL)
    ours = cl.losses.SparseCategoricalCrossentropy(ignore_class=ignore_class)
    theirs = keras.losses.SparseCategoricalCrossentropy(ignore_class=ignore_class)
    assert list(ours.get_config().items()) == list(theirs.get_config().items())
    rebuilt = cl.losses.deserialize({"class_name": "SparseCategoricalCrossentropy", "config": theirs.get_config()})
    assert rebuilt.get_config() == ours.get_config()


def _tagger(library):
    """Token tags with padding: the output's mask (padding) and ignore_class (label -1) both apply."""
    library.utils.set_random_seed(4)
    return library.Sequential([
        library.Input((6,), dtype="int32"),
        library.layers.Embedding(20, 4, mask_zero=True, name="embedding"),
        library.layers.SimpleRNN(5, return_sequences=True, name="rnn"),
        library.layers.Dense(3, activation="softmax", name="tags"),
    ], name="tagger")


def test_fit_with_an_output_mask_and_ignore_class_matches_keras(tmp_path):
    generator = np.random.default_rng(11)
    tokens = generator.integers(1, 20, (16, 6)).astype("int32")
    tokens[:, 4:] = 0  # padding: masked by the embedding
    tags = generator.integers(0, 3, (16, 6)).astype("int32")
    tags[::2, 1] = -1  # tokens without a tag
    theirs = _tagger(keras)
    ours = cl.testing.from_keras(theirs)
    for model, library in ((theirs, keras), (ours, cl)):
        model.compile(optimizer=library.optimizers.SGD(0.1, name="sgd"),
                      loss=library.losses.SparseCategoricalCrossentropy(ignore_class=-1))
    np.testing.assert_allclose(ours.evaluate(tokens, tags, verbose=0), theirs.evaluate(tokens, tags, verbose=0),
                               **VALUE_TOL)
    assert_same_fit(ours, theirs, tokens, tags, 1e-5, 1e-6, epochs=2, batch_size=8, shuffle=False, verbose=0)
    # A compiled Keras file with the loss (its config names ignore_class) opens in course_lib.
    theirs.save(tmp_path / "tagger.keras")
    loaded = cl.models.load_model(tmp_path / "tagger.keras")
    assert loaded.loss.ignore_class == -1
    np.testing.assert_allclose(loaded.evaluate(tokens, tags, verbose=0), theirs.evaluate(tokens, tags, verbose=0),
                               **VALUE_TOL)


def test_a_non_integer_ignore_class_is_refused():
    with pytest.raises(TypeError, match=r"ignore_class must be None or an int label. Received: ignore_class=0.5"):
        cl.losses.SparseCategoricalCrossentropy(ignore_class=0.5)


def test_model_loss_is_what_compile_was_given_as_in_keras():
    models = {name: library.Sequential([library.Input((3,)), library.layers.Dense(2)])
              for name, library in (("keras", keras), ("course_lib", cl))}
    assert models["keras"].loss is None and models["course_lib"].loss is None
    for model in models.values():
        model.compile("sgd", "mse")
    assert models["keras"].loss == models["course_lib"].loss == "mse"
