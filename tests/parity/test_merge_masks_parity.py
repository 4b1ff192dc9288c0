"""Merge layers pass masks on as Keras's do: the OR of the inputs' masks (Add, Subtract, ...), and
Concatenate's widen-join-any rule; Multiply, Maximum and Minimum also let the masks decide their
values (a masked entry counts as 1, or loses). Checked through a masked GlobalAveragePooling1D and
one SGD step, against tf.keras."""
import numpy as np
import pytest

import course_lib as cl

tf = pytest.importorskip("tensorflow")
keras = tf.keras

pytestmark = pytest.mark.parity

IDS = np.array([[0, 0, 1, 2], [3, 4, 0, 0], [1, 0, 2, 0]])


def _model(library, merge, second_masked, axis=-1):
    ids = library.Input((4,), dtype="int32")
    first = library.layers.Embedding(5, 3, mask_zero=True, name="first")(ids)
    second = library.layers.Embedding(5, 3, mask_zero=second_masked, name="second")(
        ids)
    if merge == "Concatenate":
        merged = library.layers.Concatenate(axis=axis)([first, second])
    else:
        merged = getattr(library.layers, merge)()([first, second])
    return library.Model(ids, library.layers.GlobalAveragePooling1D()(merged))


@pytest.mark.parametrize("second_masked", [True, False], ids=["both-masked", "one-masked"])
@pytest.mark.parametrize("merge,axis", [("Add", -1), ("Subtract", -1), ("Multiply", -1), ("Average", -1),
                                        ("Maximum", -1), ("Minimum", -1), ("Concatenate", -1), ("Concatenate", 1)])
def test_a_merge_layer_passes_the_mask_on_as_keras(merge, axis, second_masked):
    theirs, ours = _model(keras, merge, second_masked, axis), _model(cl, merge, second_masked, axis)
    generator = np.random.default_rng(0)
    weights = [generator.standard_normal(w.shape).astype("float32") for w in theirs.get_weights()]
    theirs.set_weights(weights)
    ours.set_weights(weights)
    ids = IDS if second_masked or merge == "Concatenate" else IDS[:, ::-1].copy()
    np.testing.assert_allclose(ours.predict(ids, verbose=0), theirs.predict(ids, verbose=0), rtol=1e-6, atol=1e-6)
    # The gradients too (Multiply, Maximum and Minimum route them by the masks): one SGD step each.
    target = generator.standard_normal((len(ids), theirs.output_shape[-1])).astype("float32")
    for model, library in ((theirs, keras), (ours, cl)):
        model.compile(library.optimizers.SGD(0.5), "mse")
        model.train_on_batch(ids, target)
    for mine, expected in zip(ours.get_weights(), theirs.get_weights()):
        np.testing.assert_allclose(mine, expected, rtol=1e-5, atol=1e-6)
    assert any(not np.allclose(w, start) for w, start in zip(ours.get_weights(), weights))
