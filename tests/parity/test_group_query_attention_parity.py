"""GroupQueryAttention gives tf.keras's numbers, computed in the same test.

Each case builds the Keras layer and the course_lib layer, copies Keras's weights
(scaled N(0, 0.5^2) so the softmax is not flat) into both, and compares the output,
the attention scores and the gradients of ``sum(y * dy) (+ sum(scores * ds))``
with respect to every input and weight (``tf.GradientTape``). The masked cases
include a fully masked query row, where Keras's two softmax paths differ (zero
weights with scores or dropout, a uniform row in its fused kernel otherwise).

Measured on tf.keras 3.15 CPU, float32, B=2, Tq=3, Tv=4: outputs and scores agree
within 6e-7, gradients within 3e-6 absolute (at most 2.8e-6 of each array's largest
entry; the weight gradients sum B * T products); the key's bias gradient is zero in
exact arithmetic and float32 noise in both. Compared with rtol 1e-5, atol 1e-5; the trained models'
weights with atol 2e-5. Dropout in training is compared with the mask injected.
"""
import numpy as np
import pytest

import course_lib as cl

tf = pytest.importorskip("tensorflow")
import keras  # noqa: E402  (Keras 3, the library tf.keras is)

pytestmark = pytest.mark.parity

from attention_tape import (  # noqa: E402
    B, DK, DQ, TQ, TV, assert_files_cross, assert_keras_continues_training, attention_mask as _attention_mask,
    compare, dropout_case, embedding_mask_case, inputs as _inputs, normal as _normal, pair,
)


def _pair(options, inputs, seed=3):
    return pair("GroupQueryAttention", options, inputs, seed)


def _compare(options, inputs, call, training=False, before=None, seed=3):
    return compare("GroupQueryAttention", options, inputs, call, training, before, seed)


LAYER_CONFIGS = [
    {"head_dim": 3, "num_query_heads": 4, "num_key_value_heads": 2},
    {"head_dim": 2, "num_query_heads": 3, "num_key_value_heads": 1},
    {"head_dim": 2, "num_query_heads": 2, "num_key_value_heads": 2},
    {"head_dim": 3, "num_query_heads": 4, "num_key_value_heads": 2, "use_bias": False},
]
LAYER_IDS = ["two-groups", "multi-query", "multi-head", "no-bias"]


@pytest.mark.parametrize("options", LAYER_CONFIGS, ids=LAYER_IDS)
@pytest.mark.parametrize("key_given", [False, True], ids=["self-value-as-key", "key-given"])
@pytest.mark.parametrize("scores", [False, True], ids=["output", "with-scores"])
def test_forward_scores_and_gradients_match_keras(options, key_given, scores):
    _compare(options, _inputs(key_given), {"return_attention_scores": scores})


VALUE_MASK = np.array([[True, True, False, True], [False, True, True, True]])
KEY_MASK = np.array([[True, False, True, True], [True, True, True, False]])
QUERY_MASK = np.array([[True, False, True], [True, True, True]])


@pytest.mark.parametrize("kv_heads", [1, 2], ids=["one-kv-head", "two-kv-heads"])
@pytest.mark.parametrize("call", [
    {"attention_mask": "mask"},
    {"attention_mask": "mask", "return_attention_scores": True},
    {"use_causal_mask": True},
    {"use_causal_mask": True, "return_attention_scores": True},
    {"attention_mask": "mask", "use_causal_mask": True},
    {"value_mask": VALUE_MASK, "key_mask": KEY_MASK},
    {"query_mask": QUERY_MASK},
    {"query_mask": QUERY_MASK, "return_attention_scores": True},
    {"value_mask": VALUE_MASK, "use_causal_mask": True, "return_attention_scores": True},
    {"attention_mask": "mask-2d"},
], ids=["attention-mask-fused", "attention-mask-scores", "causal-fused", "causal-scores", "attention-and-causal",
        "value-and-key-masks", "query-mask-fused", "query-mask-scores", "value-causal-scores",
        "attention-mask-no-batch-axis"])
def test_masks_match_keras_including_a_fully_masked_row(call, kv_heads):
    masks = {"mask": _attention_mask(), "mask-2d": _attention_mask()[0]}
    call = {name: masks[value] if isinstance(value, str) else value for name, value in call.items()}
    _compare({"head_dim": 3, "num_query_heads": 4, "num_key_value_heads": kv_heads}, _inputs(), call)


@pytest.mark.parametrize("scores", [False, True], ids=["output", "with-scores"])
def test_cross_attention_with_tq_other_than_tv_and_a_sliding_window_matches_keras(scores):
    _compare({"head_dim": 3, "num_query_heads": 4, "num_key_value_heads": 2, "sliding_window": 2},
             _inputs(tq=2, tv=5),
             {"use_causal_mask": True, "attention_mask": _attention_mask(2, 5), "return_attention_scores": scores})


def test_dropout_in_training_matches_keras_given_the_same_mask():
    scores = dropout_case("GroupQueryAttention", {"head_dim": 3, "num_query_heads": 4, "num_key_value_heads": 2}, heads=4)
    np.testing.assert_allclose(scores.sum(-1)[0, :, 1], 0.0)  # the fully masked row: zeros (Softmax path)


# ------------------------------------------------------------ in a functional model
def _text_model(library, causal, scores):
    ids = library.Input((6,), dtype="int32", name="ids")
    vectors = library.layers.Embedding(9, 8, mask_zero=True, name="embedding")(ids)
    result = library.layers.GroupQueryAttention(4, 4, 2, name="gqa")(
        vectors, vectors, use_causal_mask=causal, return_attention_scores=scores)
    attended = result[0] if scores else result
    pooled = library.layers.GlobalAveragePooling1D(name="pool")(attended)  # the mean over the query mask's steps
    outputs = library.layers.Dense(3, name="head")(pooled)
    return library.Model(ids, [outputs, result[1]] if scores else outputs)


@pytest.mark.parametrize("causal", [False, True], ids=["full", "causal"])
@pytest.mark.parametrize("scores", [False, True], ids=["output", "with-scores"])
def test_embedding_masks_in_a_functional_model_match_keras(causal, scores):
    our_outputs = embedding_mask_case(_text_model, causal, scores)
    if scores:  # padded query rows are fully masked: zero weights, as Keras's Softmax layer gives
        np.testing.assert_array_equal(our_outputs[1][1, :, 4:], 0.0)


def _dense_model(library):
    inputs = library.Input((TQ, DQ), name="x")
    attended = library.layers.GroupQueryAttention(3, 4, 2, name="gqa")(inputs, inputs, use_causal_mask=True)
    pooled = library.layers.GlobalAveragePooling1D(name="pool")(attended)
    return library.Model(inputs, library.layers.Dense(2, name="head")(pooled), name="gqa_model")


def test_adam_steps_of_a_small_model_match_keras():
    keras.utils.set_random_seed(1)
    theirs, ours = _dense_model(keras), _dense_model(cl)
    ours.set_weights(theirs.get_weights())
    theirs.compile(keras.optimizers.Adam(0.01, name="adam"), "mse")
    ours.compile(cl.optimizers.Adam(0.01, name="adam"), "mse")
    x, targets = _normal((16, TQ, DQ), 7), _normal((16, 2), 8)
    keras_history = theirs.fit(x, targets, epochs=3, batch_size=8, shuffle=False, verbose=0).history
    our_history = ours.fit(x, targets, epochs=3, batch_size=8, shuffle=False, verbose=0).history
    np.testing.assert_allclose(our_history["loss"], keras_history["loss"], rtol=1e-5)
    assert [w.path for w in ours.get_layer("gqa").weights] == [w.path for w in theirs.get_layer("gqa").weights]
    assert ours.optimizer.name == theirs.optimizer.name == "adam"
    for mine, reference in zip(ours.weights, theirs.weights, strict=True):
        if mine.path == "gqa/key/bias":
            # Its gradient is zero in exact arithmetic; Adam's m / sqrt(v) turns each side's float32 noise
            # into steps of its own (1.3e-3 in Keras on one CPU, 1.4e-4 in course_lib), at most the learning
            # rate per step, and they never reach the output: a shift of every score of a row. Both shown.
            steps = 3 * 2
            assert np.abs(mine.numpy()).max() <= steps * 0.01 and np.abs(reference.numpy()).max() <= steps * 0.01
            for model in (ours, theirs):
                before = np.asarray(model.predict(x, verbose=0))
                bias = next(weight for weight in model.weights if weight.path == "gqa/key/bias")
                kept = np.array(bias.numpy())
                bias.assign(np.zeros_like(kept))
                np.testing.assert_allclose(np.asarray(model.predict(x, verbose=0)), before, rtol=1e-5, atol=1e-6)
                bias.assign(kept)
            continue
        np.testing.assert_allclose(mine.numpy(), reference.numpy(), rtol=1e-5, atol=2e-5)


# ------------------------------------------------------------ files both ways
# Keras names a layer's group in its files after its class, GroupedQueryAttention: 'layers/grouped_query_attention'
# (the layer's _keras_saving_name, which course_lib's saving honours).


def _cross_model(library):
    """Cross-attention with a key, an attention mask input, causal masking and the scores as an output."""
    query, value = library.Input((TQ, DQ), name="query"), library.Input((TV, DQ), name="value")
    key, mask = library.Input((TV, DK), name="key"), library.Input((TQ, TV), dtype="bool", name="mask")
    output, scores = library.layers.GroupQueryAttention(3, 4, 2, name="gqa")(
        query, value, key=key, attention_mask=mask, use_causal_mask=True, return_attention_scores=True)
    return library.Model([query, value, key, mask], [library.layers.Dense(2, name="head")(output), scores])


def _cross_inputs():
    return [_normal((B, TQ, DQ), 1), _normal((B, TV, DQ), 2), _normal((B, TV, DK), 3), _attention_mask()]


def test_keras_and_weights_files_cross_both_ways(tmp_path):
    assert_files_cross(_cross_model, _cross_inputs(), "gqa", tmp_path)


def test_a_trained_course_lib_model_continues_training_in_keras(tmp_path):
    cl.utils.set_random_seed(3)
    original = _dense_model(cl)
    original.compile(cl.optimizers.Adam(0.01, name="adam"), "mse")
    assert_keras_continues_training(original, _normal((16, TQ, DQ), 7), _normal((16, 2), 8), tmp_path)



def test_config_shapes_and_parameter_counts_match_keras():
    options = {"head_dim": 3, "num_query_heads": 4, "num_key_value_heads": 2, "dropout": 0.1, "sliding_window": 3,
               "kernel_regularizer": "l2", "bias_constraint": "non_neg", "seed": 4, "name": "gqa"}
    theirs, ours = keras.layers.GroupQueryAttention(**options), cl.layers.GroupQueryAttention(**options)
    assert ours.get_config() == theirs.get_config()
    assert keras.layers.GroupQueryAttention.from_config(ours.get_config()).get_config() == theirs.get_config()
    keras_entry = keras.saving.serialize_keras_object(theirs)
    assert cl.layers.serialize(ours)["class_name"] == keras_entry["class_name"]
    keras_model, our_model = _cross_model(keras), _cross_model(cl)
    assert our_model.count_params() == keras_model.count_params()
    assert our_model.output_shape[0] == tuple(keras_model.output_shape[0])
    assert our_model.output_shape[1] == tuple(keras_model.output_shape[1]) == (None, 4, TQ, TV)
