"""CTC gives tf.keras's numbers, computed in the same test.

Per-sample values (keras.losses.ctc) and gradients on the logits
(tf.GradientTape) for several shapes, ragged label lengths, repeated and empty
labels, random and peaked logits, T up to 100, labels too long for the time
axis (TensorFlow's large finite loss), float64 input; the CTC class for every
reduction with sample weights; configs and names; a compile(loss="ctc") / fit
of a Conv1D + Dense model gives Keras's History and weights; a compiled CTC
survives a .keras file both ways. Tolerances are float32's: values rtol 1e-5 /
atol 1e-5 (losses reach ~700); gradients rtol 1e-4 / atol 1e-5 (entries in [-1, 1]), atol 1e-4
without an alignment (float32 near -707).
"""
import numpy as np
import pytest

import course_lib as cl
from course_lib import losses

tf = pytest.importorskip("tensorflow")
import keras  # noqa: E402  (Keras 3, the library tf.keras is)

pytestmark = pytest.mark.parity

VALUE_TOL = dict(rtol=1e-5, atol=1e-5)
GRADIENT_TOL = dict(rtol=1e-4, atol=1e-5)
REDUCTIONS = ["sum_over_batch_size", "sum", "mean", "mean_with_sample_weight", None]


def _labels(rng, batch, max_length, classes, lengths=None):
    lengths = rng.integers(0, max_length + 1, batch) if lengths is None else np.asarray(lengths)
    labels = rng.integers(1, classes, (batch, max_length))
    labels[np.arange(max_length)[None, :] >= lengths[:, None]] = 0
    return labels


CASES = {
    "small ragged": dict(batch=4, steps=8, classes=5, max_length=4),
    "repeats": dict(batch=3, steps=10, classes=3, max_length=5),  # 2 labels: many a a
    "length T/2": dict(batch=2, steps=12, classes=6, max_length=6, lengths=[6, 6]),
    "empty labels": dict(batch=2, steps=5, classes=4, max_length=3, lengths=[0, 0]),
    "T = 100": dict(batch=3, steps=100, classes=8, max_length=30),
    "too long for T": dict(batch=3, steps=4, classes=5, max_length=6, lengths=[6, 5, 2]),
    "peaked": dict(batch=3, steps=20, classes=5, max_length=6, scale=6.0),
}


def _case(name, rng):
    spec = dict(CASES[name])
    scale = spec.pop("scale", 1.0)
    labels = _labels(rng, spec["batch"], spec["max_length"], spec["classes"], spec.get("lengths"))
    logits = (scale * rng.normal(size=(spec["batch"], spec["steps"], spec["classes"]))).astype("float32")
    return labels, logits


def _keras_value_and_gradient(loss, labels, logits, *args):
    x = tf.constant(logits)
    with tf.GradientTape() as tape:
        tape.watch(x)
        value = loss(labels, x, *args)
    return value.numpy(), tape.gradient(value, x).numpy()


@pytest.mark.parametrize("name", list(CASES))
def test_values_and_gradients_match_keras(name, rng):
    labels, logits = _case(name, rng)
    expected, expected_gradient = _keras_value_and_gradient(keras.losses.ctc, labels, logits)
    received = losses.ctc(labels, logits)
    assert received.dtype == expected.dtype == np.float32
    np.testing.assert_allclose(received, expected, **VALUE_TOL)
    if name == "too long for T":
        assert np.all(expected[:2] > 700)  # no alignment: TensorFlow's finite 'log(0)'
    _, cache = cl.ops.ctc.ctc_loss_forward(labels, logits)
    # Without an alignment TensorFlow's float32 log-probabilities sit near -707, where float32 steps by 6e-5:
    # its own gradient is only that accurate (course_lib in float64 differs from it by the same 2e-5).
    tolerance = dict(rtol=0, atol=1e-4) if name == "too long for T" else GRADIENT_TOL
    np.testing.assert_allclose(cl.ops.ctc.ctc_loss_backward(np.ones(len(labels), "float32"), cache),
                               expected_gradient, **tolerance)


def test_float64_input_matches_keras_which_computes_in_float32(rng):
    labels, logits = _case("small ragged", rng)
    logits = logits.astype("float64")
    expected = keras.losses.ctc(labels, tf.constant(logits)).numpy()
    received = losses.ctc(labels, logits)
    assert received.dtype == expected.dtype == np.float64
    np.testing.assert_allclose(received, expected, **VALUE_TOL)


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_loss_class_matches_keras(reduction, weighted, rng):
    labels, logits = _case("small ragged", rng)
    weights = rng.uniform(0.5, 2.0, len(labels)).astype("float32") if weighted else None
    expected, expected_gradient = _keras_value_and_gradient(keras.losses.CTC(reduction=reduction), labels, logits,
                                                            weights)
    ours = losses.CTC(reduction=reduction)
    np.testing.assert_allclose(ours(labels, logits, weights), expected, **VALUE_TOL)
    np.testing.assert_allclose(ours.gradient(labels, logits, weights), expected_gradient, **GRADIENT_TOL)


def test_config_and_names_match_keras():
    for kwargs in ({}, {"reduction": "sum", "name": "speech"}):
        theirs, ours = keras.losses.CTC(**kwargs), losses.CTC(**kwargs)
        assert ours.get_config() == theirs.get_config()
        assert losses.CTC.from_config(theirs.get_config()).get_config() == theirs.get_config()
        assert keras.losses.CTC.from_config(ours.get_config()).get_config() == ours.get_config()
    assert keras.losses.get("ctc") is keras.losses.ctc and type(losses.get("ctc")) is losses.CTC


def _speech_model(library, seed=0):
    library.utils.set_random_seed(seed)
    return library.Sequential([
        library.Input((12, 3)), library.layers.Conv1D(6, 3, padding="same", activation="tanh"),
        library.layers.Dense(5),
    ])


def test_fit_history_and_weights_match_keras():
    keras.utils.clear_session()
    cl.backend.clear_session()
    generator = np.random.default_rng(0)
    x = generator.standard_normal((24, 12, 3)).astype("float32")
    y = _labels(generator, 24, 4, 5)
    theirs = _speech_model(keras)
    ours = cl.testing.from_keras(theirs)
    theirs.compile(keras.optimizers.SGD(learning_rate=0.05), loss="ctc")
    ours.compile(cl.optimizers.SGD(learning_rate=0.05), loss="ctc")
    kwargs = dict(epochs=3, batch_size=8, shuffle=False, verbose=0)
    expected = theirs.fit(x, y, **kwargs).history["loss"]
    received = ours.fit(x, y, **kwargs).history["loss"]
    np.testing.assert_allclose(received, expected, **VALUE_TOL)
    assert expected[-1] < expected[0]
    for mine, reference in zip(ours.get_weights(), theirs.get_weights(), strict=True):
        np.testing.assert_allclose(mine, reference, rtol=1e-4, atol=1e-5)


def test_a_compiled_ctc_survives_keras_files_both_ways(tmp_path):
    theirs = _speech_model(keras)
    theirs.compile("sgd", keras.losses.CTC(reduction="sum"))
    theirs.save(tmp_path / "k.keras")
    ours = cl.models.load_model(tmp_path / "k.keras")
    assert type(ours.loss) is losses.CTC and ours.loss.get_config() == theirs.loss.get_config()
    ours.save(tmp_path / "c.keras")
    back = keras.models.load_model(tmp_path / "c.keras")
    assert type(back.loss) is keras.losses.CTC and back.loss.get_config() == theirs.loss.get_config()
