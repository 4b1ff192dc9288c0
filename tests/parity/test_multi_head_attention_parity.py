"""MultiHeadAttention gives tf.keras's numbers, computed in the same test.

Each case builds the Keras layer and the course_lib layer, copies Keras's weights
(scaled N(0, 0.5^2) so the softmax is not flat) into both, and compares the output,
the attention scores and the gradients of ``sum(y * dy) (+ sum(scores * ds))``
with respect to every input and weight (``tf.GradientTape``). The masked cases
include a fully masked query row, where Keras's two softmax paths differ (zero
weights with scores or dropout, a uniform row in its fused kernel otherwise).

Measured on tf.keras 3.15 CPU, float32, B=2, Tq=3, Tv=4: outputs and scores agree
within 3e-7, gradients within 3.1e-6 absolute (on entries up to 13, so 3e-7 relative;
the embedding and weight gradients sum B * T products); the key's bias gradient is
zero in exact arithmetic and float32 noise (< 2e-6) in both. Compared with rtol 1e-5,
atol 1e-5; the trained models' weights with atol 2e-5. Dropout in training is compared with the mask injected: the
course_lib layer draws it from its seeded generator, Keras's dropout sublayer is
given the same mask.
"""
import numpy as np
import pytest

import course_lib as cl

tf = pytest.importorskip("tensorflow")
import keras  # noqa: E402  (Keras 3, the library tf.keras is)

pytestmark = pytest.mark.parity

from attention_tape import (  # noqa: E402
    B, DK, DQ, DV, TQ, TV, assert_files_cross, assert_keras_continues_training, attention_mask as _attention_mask,
    compare, dropout_case, embedding_mask_case, inputs as _inputs, normal as _normal, padded_ids as _padded_ids,
    pair,
)


def _pair(options, inputs, seed=3):
    return pair("MultiHeadAttention", options, inputs, seed)


def _compare(options, inputs, call, training=False, before=None, seed=3):
    return compare("MultiHeadAttention", options, inputs, call, training, before, seed)


LAYER_CONFIGS = [
    {"num_heads": 1, "key_dim": 3},
    {"num_heads": 3, "key_dim": 2, "value_dim": 4},
    {"num_heads": 2, "key_dim": 3, "output_shape": 8},
    {"num_heads": 2, "key_dim": 3, "output_shape": (2, 3)},
    {"num_heads": 2, "key_dim": 3, "use_bias": False},
]
LAYER_IDS = ["one-head", "value-dim", "output-shape", "output-shape-2d", "no-bias"]


@pytest.mark.parametrize("options", LAYER_CONFIGS, ids=LAYER_IDS)
@pytest.mark.parametrize("key_given", [False, True], ids=["self-value-as-key", "key-given"])
@pytest.mark.parametrize("scores", [False, True], ids=["output", "with-scores"])
def test_forward_scores_and_gradients_match_keras(options, key_given, scores):
    _compare(options, _inputs(key_given), {"return_attention_scores": scores})


VALUE_MASK = np.array([[True, True, False, True], [False, True, True, True]])
KEY_MASK = np.array([[True, False, True, True], [True, True, True, False]])


@pytest.mark.parametrize("call", [
    {"attention_mask": "mask"},
    {"attention_mask": "mask", "return_attention_scores": True},
    {"use_causal_mask": True},
    {"use_causal_mask": True, "return_attention_scores": True},
    {"attention_mask": "mask", "use_causal_mask": True},
    {"value_mask": VALUE_MASK, "key_mask": KEY_MASK},
    {"value_mask": VALUE_MASK, "use_causal_mask": True, "return_attention_scores": True},
    {"attention_mask": "mask-2d"},
], ids=["attention-mask-fused", "attention-mask-scores", "causal-fused", "causal-scores", "attention-and-causal",
        "value-and-key-masks", "value-causal-scores", "attention-mask-no-batch-axis"])
def test_masks_match_keras_including_a_fully_masked_row(call):
    masks = {"mask": _attention_mask(), "mask-2d": _attention_mask()[0]}
    call = {name: masks[value] if isinstance(value, str) else value for name, value in call.items()}
    _compare({"num_heads": 2, "key_dim": 3, "value_dim": 2}, _inputs(), call)


@pytest.mark.parametrize("scores", [False, True], ids=["output", "with-scores"])
def test_cross_attention_with_tq_other_than_tv_matches_keras(scores):
    inputs = _inputs(tq=2, tv=5)
    _compare({"num_heads": 2, "key_dim": 3}, inputs,
             {"use_causal_mask": True, "attention_mask": _attention_mask(2, 5), "return_attention_scores": scores})


def test_an_explicit_query_mask_is_ignored_by_both():
    _compare({"num_heads": 2, "key_dim": 3}, _inputs(), {"query_mask": np.zeros((B, TQ), bool)})


def test_dropout_in_training_matches_keras_given_the_same_mask():
    scores = dropout_case("MultiHeadAttention", {"num_heads": 2, "key_dim": 3}, heads=2)
    np.testing.assert_allclose(scores.sum(-1)[0, :, 1], 0.0)  # the fully masked row: zeros (Softmax path)


# ------------------------------------------------------------ in a functional model
def _text_model(library, causal, scores):
    ids = library.Input((6,), dtype="int32")
    vectors = library.layers.Embedding(9, 8, mask_zero=True)(ids)
    result = library.layers.MultiHeadAttention(2, 4, name="mha")(vectors, vectors, use_causal_mask=causal,
                                                                  return_attention_scores=scores)
    attended = result[0] if scores else result
    pooled = library.layers.GlobalAveragePooling1D()(attended)  # the mean over the query mask's steps
    outputs = library.layers.Dense(3)(pooled)
    return library.Model(ids, [outputs, result[1]] if scores else outputs)


@pytest.mark.parametrize("causal", [False, True], ids=["full", "causal"])
@pytest.mark.parametrize("scores", [False, True], ids=["output", "with-scores"])
def test_embedding_masks_in_a_functional_model_match_keras(causal, scores):
    our_outputs = embedding_mask_case(_text_model, causal, scores)
    if scores:  # padded query rows are fully masked: zero weights, as Keras's Softmax layer gives
        np.testing.assert_array_equal(our_outputs[1][1, :, 4:], 0.0)


def _densified(optimizer_class):
    """A Keras optimizer fed dense gradients: Keras's TF backend otherwise gives an Embedding a
    sparse IndexedSlices gradient, whose Adam moments differ (see test_embedding_parity.py)."""

    class Dense(optimizer_class):
        def apply(self, grads, trainable_variables=None):
            grads = [tf.convert_to_tensor(g) if isinstance(g, tf.IndexedSlices) else g for g in grads]
            return super().apply(grads, trainable_variables)

    return Dense


def test_a_model_trains_as_in_keras():
    keras.utils.set_random_seed(1)
    theirs = _text_model(keras, causal=True, scores=False)
    ours = _text_model(cl, causal=True, scores=False)
    ours.set_weights(theirs.get_weights())
    theirs.compile(_densified(keras.optimizers.Adam)(0.01), "mse")
    ours.compile(cl.optimizers.Adam(0.01), "mse")
    ids = np.tile(_padded_ids(), (4, 1))
    targets = _normal((16, 3), 5)
    keras_history = theirs.fit(ids, targets, epochs=3, batch_size=8, shuffle=False, verbose=0).history
    our_history = ours.fit(ids, targets, epochs=3, batch_size=8, shuffle=False, verbose=0).history
    np.testing.assert_allclose(our_history["loss"], keras_history["loss"], rtol=1e-5)
    for mine, reference in zip(ours.get_weights(), theirs.get_weights(), strict=True):
        np.testing.assert_allclose(mine, reference, rtol=1e-5, atol=2e-5)


# ------------------------------------------------------------ files both ways
def _cross_model(library):
    """Cross-attention with a key, an attention mask input, causal masking and the scores as an output."""
    query, value = library.Input((TQ, DQ), name="query"), library.Input((TV, DV), name="value")
    key, mask = library.Input((TV, DK), name="key"), library.Input((TQ, TV), dtype="bool", name="mask")
    output, scores = library.layers.MultiHeadAttention(2, 3, value_dim=4, output_shape=6, name="mha")(
        query, value, key=key, attention_mask=mask, use_causal_mask=True, return_attention_scores=True)
    return library.Model([query, value, key, mask], [library.layers.Dense(2, name="head")(output), scores])


def _cross_inputs():
    return [_normal((B, TQ, DQ), 1), _normal((B, TV, DV), 2), _normal((B, TV, DK), 3), _attention_mask()]


def test_keras_and_weights_files_cross_both_ways(tmp_path):
    assert_files_cross(_cross_model, _cross_inputs(), "mha", tmp_path)


def test_a_trained_course_lib_text_model_continues_training_in_keras(tmp_path):
    cl.utils.set_random_seed(3)
    original = _text_model(cl, causal=False, scores=False)
    original.compile(cl.optimizers.SGD(0.1), "mse")  # plain SGD: Keras's sparse embedding step is the same
    assert_keras_continues_training(original, np.tile(_padded_ids(), (4, 1)), _normal((16, 3), 6), tmp_path)



def test_summary_parameter_counts_and_output_shapes_match_keras():
    theirs, ours = _cross_model(keras), _cross_model(cl)
    assert ours.count_params() == theirs.count_params()
    assert ours.get_layer("mha").count_params() == theirs.get_layer("mha").count_params()
    assert ours.output_shape[0] == tuple(theirs.output_shape[0])
    # Keras's compute_output_spec gives the scores (None, H, Tq, Tq) even when Tv != Tq; course_lib the true shape.
    assert tuple(theirs.output_shape[1]) == (None, 2, TQ, TQ)
    assert ours.output_shape[1] == (None, 2, TQ, TV)
    assert tuple(theirs(_cross_inputs())[1].shape) == (B, 2, TQ, TV) == ours(_cross_inputs())[1].shape


def test_two_attention_layers_on_one_masked_tensor_keras_unmasks_one_course_lib_masks_both():
    """A deliberate difference, pinned (chapter 12 says so).

    Keras's MultiHeadAttention.call clears the mask of the tensors it reads
    (``backend.set_keras_mask(query, None)``), so when one masked tensor feeds
    two attention layers one of them no longer sees the padding mask and gives
    padded keys weight. course_lib hands the Embedding's mask to both.
    """
    ids = np.array([[0, 0, 4, 7, 2, 5]])
    padding_weight = {}
    for library in (keras, cl):
        library.utils.set_random_seed(3)
        inputs = library.Input((6,), dtype="int32")
        embedded = library.layers.Embedding(9, 4, mask_zero=True)(inputs)
        first = library.layers.MultiHeadAttention(1, 4)
        second = library.layers.MultiHeadAttention(1, 4)
        _, first_scores = first(embedded, embedded, return_attention_scores=True)
        _, second_scores = second(embedded, embedded, return_attention_scores=True)
        model = library.Model(inputs, [first_scores, second_scores])
        scores = [np.asarray(s) for s in model(ids)]
        # Total weight the real queries (positions 2..5) give to the padded keys (0, 1).
        padding_weight[library.__name__] = [float(s[0, 0, 2:, :2].sum()) for s in scores]
    keras_weights, our_weights = padding_weight[keras.__name__], padding_weight[cl.__name__]
    assert our_weights == [0.0, 0.0]
    assert min(keras_weights) == 0.0 and max(keras_weights) > 0.1  # one Keras layer attends to the padding
