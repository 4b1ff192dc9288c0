"""Attention and AdditiveAttention: gradient checks (float64, central differences, relative error
< 1e-6, random upstream gradients), the layer contract, the masks (value, query, causal, through the
engine from Embedding(mask_zero=True)), dropout, symbolic calls, the strict backend and bad input.
tests/parity/test_attention_layers_parity.py compares the same layers with tf.keras."""
import numpy as np
import pytest

import course_lib as cl
from course_lib import backend
from course_lib.testing.gradient_check import assert_gradients_close
from course_lib.testing.layer_test import layer_test

B, TQ, TV, DIM, VALUE_DIM = 2, 3, 4, 5, 3

CONFIGS = [
    ("Attention", {}),
    ("Attention", {"use_scale": True}),
    ("Attention", {"score_mode": "concat"}),
    ("Attention", {"score_mode": "concat", "use_scale": True}),
    ("AdditiveAttention", {}),
    ("AdditiveAttention", {"use_scale": False}),
]
CONFIG_IDS = [f"{name}-{sorted(options)}" for name, options in CONFIGS]


def _normal(shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


def _inputs(key_given, value_dim=DIM, seed=0):
    """query (B, Tq, dim), value (B, Tv, value_dim), key (B, Tv, dim): Tq != Tv on purpose."""
    query, value = _normal((B, TQ, DIM), seed), _normal((B, TV, value_dim), seed + 1)
    return [query, value, _normal((B, TV, DIM), seed + 2)] if key_given else [query, value]


def _masks():
    """Every query row keeps at least one value step, even under the causal mask: Keras's
    ``scores - 1e9`` leaves a fully masked row only ~1e-7 of float64 precision, too little for
    central differences (that row is checked on its own below)."""
    query_mask = np.array([[True, True, False], [False, True, True]])
    value_mask = np.array([[True, False, True, False], [True, False, False, True]])
    return query_mask, value_mask


def _fixed_call(layer_class, **call_options):
    """The layer class with its call options fixed, so check_gradients (which calls ``layer(x)``) sees them."""

    class FixedCall(layer_class):
        def __call__(self, inputs, training=None):
            return super().__call__(inputs, training=training, **call_options)

    return FixedCall


def _randomize_weights(layer, seed=3):
    layer.set_weights([_normal(w.shape, seed + i).astype(w.dtype) for i, w in enumerate(layer.get_weights())])


def _checked(name, options, inputs, tolerance=1e-6, training=False, before_forward=None, **call_options):
    with backend.floatx_scope("float64"):
        layer = _fixed_call(getattr(cl.layers, name), **call_options)(**options)
        layer(inputs)
        _randomize_weights(layer)
        # epsilon 1e-5 (as the recurrent checks): with 1e-6 the rounding of the objective, a sum
        # over every output, swamps the smallest gradient entries.
        return layer, assert_gradients_close(layer, inputs, tolerance=tolerance, training=training,
                                             before_forward=before_forward, epsilon=1e-5)


# ------------------------------------------------------------ gradients
@pytest.mark.parametrize("key_given", [False, True], ids=["value-as-key", "key-given"])
@pytest.mark.parametrize("name,options", CONFIGS, ids=CONFIG_IDS)
def test_gradients_of_inputs_and_weights(name, options, key_given):
    layer, report = _checked(name, options, _inputs(key_given))
    inputs = ["input_0", "input_1", "input_2"][:3 if key_given else 2]
    assert list(report.entries) == inputs + layer.trainable_weight_names


@pytest.mark.parametrize("masks", ["value", "query-and-value", "causal", "causal-and-value"])
@pytest.mark.parametrize("name,options", CONFIGS, ids=CONFIG_IDS)
def test_gradients_with_masks(name, options, masks):
    query_mask, value_mask = _masks()
    call = {"use_causal_mask": masks.startswith("causal")}
    if masks != "causal":
        call["mask"] = [query_mask if masks == "query-and-value" else None, value_mask]
    _checked(name, options, _inputs(key_given=True), **call)


@pytest.mark.parametrize("name,options", CONFIGS, ids=CONFIG_IDS)
def test_gradients_through_both_outputs_when_the_scores_are_returned(name, options):
    query_mask, value_mask = _masks()
    _checked(name, options, _inputs(key_given=False), mask=[query_mask, value_mask], use_causal_mask=True,
             return_attention_scores=True)


def test_gradients_with_a_value_dim_other_than_the_query_dim():
    _checked("Attention", {"use_scale": True}, _inputs(key_given=True, value_dim=VALUE_DIM))


@pytest.mark.parametrize("name", ["Attention", "AdditiveAttention"])
def test_gradients_with_dropout_in_training_use_the_forward_mask(name):
    holder = {}

    def reseed():
        holder["layer"]._rng = np.random.default_rng(11)  # the same dropout mask on every pass

    with backend.floatx_scope("float64"):
        layer = _fixed_call(getattr(cl.layers, name), return_attention_scores=True)(dropout=0.4, seed=5)
        holder["layer"] = layer
        inputs = _inputs(key_given=True)
        layer(inputs)
        _randomize_weights(layer)
        assert_gradients_close(layer, inputs, training=True, before_forward=reseed, epsilon=1e-5)
        reseed()
        _, scores = layer(inputs, training=True)
    assert 0 < np.count_nonzero(scores == 0) < scores.size  # something was really dropped


# ------------------------------------------------------------ the layer contract
@pytest.mark.parametrize("key_given", [False, True], ids=["value-as-key", "key-given"])
@pytest.mark.parametrize("name,options", CONFIGS, ids=CONFIG_IDS)
def test_layer_contract(name, options, key_given):
    shapes = [(B, TQ, DIM), (B, TV, VALUE_DIM), (B, TV, DIM)] if key_given else [(B, TQ, DIM), (B, TV, DIM)]
    expected_weights = {"Attention": int(options.get("use_scale", False)) + (options.get("score_mode") == "concat"),
                        "AdditiveAttention": int(options.get("use_scale", True))}[name]
    expected_params = DIM * expected_weights if name == "AdditiveAttention" else expected_weights
    layer_test(getattr(cl.layers, name), options, input_shape=shapes,
               expected_output_shape=(None, TQ, VALUE_DIM if key_given else DIM),
               expected_num_weights=expected_weights, expected_num_params=expected_params)


def test_weights_have_keras_names_shapes_order_and_initial_values():
    layer = cl.layers.Attention(use_scale=True, score_mode="concat")
    layer(_inputs(key_given=False))
    assert layer.weight_names == ["scale", "concat_score_weight"]
    assert [w.shape for w in layer.weights] == [(), ()]
    np.testing.assert_array_equal(layer.get_weights(), [1.0, 1.0])
    additive = cl.layers.AdditiveAttention()
    additive(_inputs(key_given=False))
    assert additive.weight_names == ["scale"] and additive.scale.shape == (DIM,)
    limit = np.sqrt(6 / (DIM + DIM))  # glorot_uniform of a vector: fan_in = fan_out = dim, as Keras counts
    assert np.all(np.abs(additive.get_weights()[0]) <= limit)
    for layer in (cl.layers.Attention(), cl.layers.AdditiveAttention(use_scale=False)):
        layer(_inputs(key_given=False))
        assert layer.weights == [] and layer.scale is None


@pytest.mark.parametrize("name,options", CONFIGS, ids=CONFIG_IDS)
def test_config_round_trips_with_keras_keys(name, options):
    layer = getattr(cl.layers, name)(dropout=0.25, seed=3, **options)
    config = layer.get_config()
    keys = {"use_scale", "dropout", "seed"} | ({"score_mode"} if name == "Attention" else set())
    assert keys <= set(config) and ("score_mode" in config) == (name == "Attention")
    clone = type(layer).from_config(config)
    assert clone.get_config() == config
    entry = cl.layers.serialize(layer)
    assert type(cl.layers.deserialize(entry)) is type(layer)


# ------------------------------------------------------------ semantics
def _softmax(scores):
    shifted = np.exp(scores - scores.max(axis=-1, keepdims=True))
    return shifted / shifted.sum(axis=-1, keepdims=True)


def test_dot_scores_softmax_and_output_follow_the_formula():
    with backend.floatx_scope("float64"):
        query, value, key = _inputs(key_given=True, value_dim=VALUE_DIM)
        layer = cl.layers.Attention(use_scale=True)
        layer([query, value, key])
        layer.set_weights([np.array(0.7)])
        output, scores = layer([query, value, key], return_attention_scores=True)
    expected_weights = _softmax(0.7 * np.einsum("bqd,bvd->bqv", query, key))
    np.testing.assert_allclose(scores, expected_weights, rtol=1e-12)
    np.testing.assert_allclose(output, expected_weights @ value, rtol=1e-12)


def test_concat_and_additive_scores_follow_keras_formulas():
    with backend.floatx_scope("float64"):
        query, value = _inputs(key_given=False)
        pairs = query[:, :, None, :] + value[:, None, :, :]
        concat = cl.layers.Attention(use_scale=True, score_mode="concat")
        concat([query, value])
        concat.set_weights([np.array(0.5), np.array(1.5)])
        additive = cl.layers.AdditiveAttention()
        additive([query, value])
        scale = _normal(DIM, 9)
        additive.set_weights([scale])
        concat_scores = concat([query, value], return_attention_scores=True)[1]
        additive_scores = additive([query, value], return_attention_scores=True)[1]
    np.testing.assert_allclose(concat_scores, _softmax(1.5 * np.tanh(0.5 * pairs).sum(-1)), rtol=1e-12)
    np.testing.assert_allclose(additive_scores, _softmax((scale * np.tanh(pairs)).sum(-1)), rtol=1e-12)


def test_masks_hide_values_zero_masked_queries_and_block_the_future():
    query, value = _inputs(key_given=False)
    query_mask, value_mask = _masks()
    layer = cl.layers.Attention()
    output, scores = layer([query, value], mask=[query_mask, value_mask], return_attention_scores=True,
                           use_causal_mask=True)
    allowed = value_mask[:, None, :] & np.tri(TQ, TV, dtype=bool)[None]
    rows = allowed.any(axis=-1)
    assert np.all(scores[rows[..., None] & ~allowed] < 1e-30)  # exp(-1e9) underflows to 0
    np.testing.assert_allclose(scores.sum(-1), 1.0, rtol=1e-6)
    np.testing.assert_array_equal(output[~query_mask], 0.0)
    assert np.all(np.abs(output[query_mask]).sum(-1) > 0)
    changed = value.copy()
    changed[~value_mask] = 100.0  # what a masked value step holds does not matter
    np.testing.assert_allclose(layer([query, changed], mask=[query_mask, value_mask]),
                               layer([query, value], mask=[query_mask, value_mask]), rtol=1e-6)
    assert layer.compute_mask([query, value], [query_mask, value_mask]) is not None
    np.testing.assert_array_equal(layer.compute_mask([query, value], [query_mask, value_mask]), query_mask)
    assert layer.compute_mask([query, value], [None, value_mask]) is None


def test_a_fully_masked_row_keeps_the_softmax_of_its_scores_as_keras_subtracts_1e9():
    """Keras computes ``where(mask, s, s - 1e9)``: subtracting, not replacing. In float64 a row
    whose every position is masked is then the softmax of its raw scores (in float32 the
    subtraction rounds the scores together and the row comes out uniform)."""
    with backend.floatx_scope("float64"):
        query, value = _inputs(key_given=False)
        value_mask = np.ones((B, TV), bool)
        value_mask[1] = False
        layer = cl.layers.Attention()
        scores = layer([query, value], mask=[None, value_mask], return_attention_scores=True)[1]
    np.testing.assert_allclose(scores[1], _softmax(query[1] @ value[1].T), rtol=1e-6)
    query32, value32 = (x.astype("float32") for x in (query, value))
    uniform = cl.layers.Attention()([query32, value32 * 0.1], mask=[None, value_mask],
                                    return_attention_scores=True)[1]
    np.testing.assert_allclose(uniform[1], 1 / TV, rtol=1e-6)


def test_the_causal_mask_is_the_lower_triangle_for_tq_other_than_tv():
    query, value = _inputs(key_given=False)
    scores = cl.layers.Attention()([query, value], return_attention_scores=True, use_causal_mask=True)[1]
    np.testing.assert_array_equal(scores > 0, np.broadcast_to(np.tri(TQ, TV, dtype=bool), scores.shape))


def test_dropout_drops_weights_only_in_training_and_scales_the_kept_ones():
    inputs = [x.astype("float32") for x in _inputs(key_given=False)]
    layer = cl.layers.Attention(dropout=0.5, seed=4)
    plain = layer(inputs, return_attention_scores=True)[1]
    np.testing.assert_array_equal(layer(inputs, training=False, return_attention_scores=True)[1], plain)
    dropped = layer(inputs, training=True, return_attention_scores=True)[1]
    ratio = dropped / plain
    assert np.all(np.isclose(ratio, 0.0) | np.isclose(ratio, 2.0)) and np.any(ratio == 0)
    again = cl.layers.Attention(dropout=0.5, seed=4)(inputs, training=True, return_attention_scores=True)[1]
    np.testing.assert_array_equal(again, dropped)  # seeded: the same draws from a fresh layer


def test_return_attention_scores_gives_a_list_where_keras_gives_a_tuple():
    result = cl.layers.Attention()(_inputs(key_given=False), return_attention_scores=True)
    assert isinstance(result, list) and [r.shape for r in result] == [(B, TQ, DIM), (B, TQ, TV)]
    output, scores = result
    assert output.dtype == np.float32 and scores.dtype == np.float32


def test_integer_inputs_are_cast_to_the_layer_dtype():
    query = np.arange(B * TQ * DIM).reshape(B, TQ, DIM) % 3
    output = cl.layers.Attention()([query, query])
    assert output.dtype == np.float32


# ------------------------------------------------------------ symbolic calls and the engine
def test_symbolic_call_with_scores_builds_a_two_output_node():
    query, value, key = cl.Input((TQ, DIM)), cl.Input((TV, VALUE_DIM)), cl.Input((TV, DIM))
    layer = cl.layers.Attention(use_scale=True)
    output, scores = layer([query, value, key], return_attention_scores=True, use_causal_mask=True)
    assert output.shape == (None, TQ, VALUE_DIM) and scores.shape == (None, TQ, TV)
    shapes = [(None, TQ, DIM), (None, TV, VALUE_DIM), (None, TV, DIM)]
    assert layer.compute_output_shape(shapes) == (None, TQ, VALUE_DIM)  # Keras's: the output's alone
    model = cl.Model([query, value, key], [output, scores])
    arrays = [x.astype("float32") for x in _inputs(key_given=True, value_dim=VALUE_DIM)]
    model_output, model_scores = model(arrays)
    eager_output, eager_scores = layer(arrays, return_attention_scores=True, use_causal_mask=True)
    np.testing.assert_allclose(model_output, eager_output, rtol=1e-6)
    np.testing.assert_allclose(model_scores, eager_scores, rtol=1e-6)
    # An eager call with other options leaves the graph's options alone.
    assert not isinstance(layer(arrays), list)
    np.testing.assert_allclose(model(arrays)[1], eager_scores, rtol=1e-6)


def _masked_text_model(attention, vocabulary=9, steps=6, **call_options):
    ids = cl.Input((steps,), dtype="int32")
    vectors = cl.layers.Embedding(vocabulary, 4, mask_zero=True)(ids)
    attended = attention([vectors, vectors], **call_options)
    return cl.Model(ids, cl.layers.GlobalAveragePooling1D()(attended))


def _padded(rng, samples=4, steps=6, vocabulary=9):
    ids = rng.integers(1, vocabulary, (samples, steps))
    ids[1, 4:] = 0
    ids[2, :3] = 0
    ids[3, 2] = 0
    return ids


@pytest.mark.parametrize("name,options", CONFIGS, ids=CONFIG_IDS)
@pytest.mark.parametrize("causal", [False, True], ids=["full", "causal"])
def test_masks_from_an_embedding_reach_the_layer_and_the_query_mask_reaches_the_pooling(name, options, causal):
    rng = np.random.default_rng(0)
    attention = getattr(cl.layers, name)(**options)
    model = _masked_text_model(attention, use_causal_mask=causal)
    ids = _padded(rng)
    vectors = model.layers[1](ids)
    mask = ids != 0
    attended = attention([vectors, vectors], mask=[mask, mask], use_causal_mask=causal)
    pooled = attended.sum(1) / mask.sum(1, keepdims=True)  # the mean over the real tokens only
    np.testing.assert_allclose(model(ids), pooled, rtol=1e-5, atol=1e-7)
    model.backward(np.ones((4, 4), "float32"))
    grads = model.grads
    np.testing.assert_array_equal(grads[f"{model.layers[1].name}/embeddings"][0], 0.0)  # padding id: no gradient
    assert set(grads) >= {f"{attention.name}/{weight}" for weight in attention.trainable_weight_names}


def test_a_mask_on_the_key_alone_is_ignored_as_in_keras():
    steps = 6
    ids = cl.Input((steps,), dtype="int32")
    embedding = cl.layers.Embedding(9, 4, mask_zero=True)
    query, value = cl.Input((steps, 4)), cl.Input((steps, 4))
    output = cl.layers.Attention()([query, value, embedding(ids)])
    model = cl.Model([query, value, ids], output)
    arrays = [_normal((4, steps, 4), 1).astype("float32"), _normal((4, steps, 4), 2).astype("float32")]
    padded = _padded(np.random.default_rng(0))
    keys = embedding(padded)
    np.testing.assert_allclose(model(arrays + [padded]), cl.layers.Attention()(arrays + [keys]), rtol=1e-6)


def test_a_model_with_attention_trains_and_saves(tmp_path):
    rng = np.random.default_rng(0)
    ids = cl.Input((6,), dtype="int32")
    vectors = cl.layers.Embedding(9, 4, mask_zero=True)(ids)
    attended = cl.layers.AdditiveAttention(dropout=0.1, seed=1)([vectors, vectors])
    outputs = cl.layers.Dense(1, activation="sigmoid")(cl.layers.GlobalAveragePooling1D()(attended))
    model = cl.Model(ids, outputs)
    model.compile(optimizer="adam", loss="binary_crossentropy")
    x, y = _padded(rng, samples=16), rng.integers(0, 2, (16, 1))
    before = model.get_weights()
    model.fit(x, y, epochs=2, batch_size=8, verbose=0)
    assert any(not np.allclose(a, b) for a, b in zip(before, model.get_weights()))
    model.save(tmp_path / "attention.keras")
    loaded = cl.models.load_model(tmp_path / "attention.keras")
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-6)



def test_a_saved_model_keeps_the_causal_mask(tmp_path):
    model = _masked_text_model(cl.layers.Attention(), use_causal_mask=True)
    ids = _padded(np.random.default_rng(0))
    model.save(tmp_path / "causal.keras")
    loaded = cl.models.load_model(tmp_path / "causal.keras")
    np.testing.assert_allclose(loaded.predict(ids, verbose=0), model.predict(ids, verbose=0), rtol=1e-6)


def test_the_strict_backend_gives_the_numpy_results():
    query_mask, value_mask = _masks()
    results = []
    for name in ("numpy", "strict"):
        backend.clear_session()
        backend.set_seed(7)  # AdditiveAttention's scale starts from the shared generator
        with backend.backend_scope(name):
            found = []
            for layer_name, options in CONFIGS:
                layer = getattr(cl.layers, layer_name)(dropout=0.3, seed=2, **options)
                inputs = [backend.xp.asarray(x.astype("float32")) for x in _inputs(key_given=True)]
                output, scores = layer(inputs, mask=[query_mask, value_mask], training=True,
                                       return_attention_scores=True, use_causal_mask=True)
                grads = layer.backward([output * 0 + 1, scores * 0 + 1])
                found.append([backend.to_numpy(a) for a in [output, scores, *grads]]
                             + [backend.to_numpy(layer.grads[n]) for n in layer.trainable_weight_names])
            results.append(found)
    for numpy_arrays, strict_arrays in zip(*results):
        for a, b in zip(numpy_arrays, strict_arrays):
            np.testing.assert_allclose(b, a, rtol=1e-6, atol=1e-7)


# ------------------------------------------------------------ bad input
@pytest.mark.parametrize("options,message", [
    ({"score_mode": "add"}, r"Attention: invalid value for argument score_mode\. Expected one of "
                            r"\{'dot', 'concat'\}\. Received: score_mode='add'"),
    ({"dropout": 1.0}, r"Attention: dropout must be a float in the range \[0, 1\)\. Received: dropout=1\.0"),
    ({"dropout": -0.1}, r"Received: dropout=-0\.1"),
    ({"dropout": "0.5"}, r"Received: dropout='0\.5'"),
    ({"dropout": True}, r"Received: dropout=True"),
    ({"seed": 1.5}, r"Attention: seed must be an int or None\. Received: seed=1\.5"),
])
def test_bad_arguments_are_refused_at_construction(options, message):
    with pytest.raises(ValueError, match=message):
        cl.layers.Attention(**options)


def test_additive_attention_checks_score_mode_and_drops_it_from_its_config_as_keras_does():
    with pytest.raises(ValueError, match=r"AdditiveAttention: invalid value for argument score_mode"):
        cl.layers.AdditiveAttention(score_mode="general")
    assert "score_mode" not in cl.layers.AdditiveAttention(score_mode="concat").get_config()
    with pytest.raises(ValueError, match=r"AdditiveAttention: dropout must be a float in the range \[0, 1\)"):
        cl.layers.AdditiveAttention(dropout=2)


def _call(layer, inputs, **kwargs):
    return layer([np.zeros(shape, "float32") for shape in inputs], **kwargs)


@pytest.mark.parametrize("inputs,message", [
    ([(2, 3, 5)], r"Attention 'att' accepts a list of 2 or 3 inputs, namely \[query, value\] or "
                  r"\[query, value, key\]\. Received: a list of 1"),
    ([(2, 3, 5)] * 4, r"Received: a list of 4"),
    ([(2, 5), (2, 4, 5)], r"Attention 'att': query must have rank 3, \(batch_size, steps, dim\)\. "
                          r"Received: query shape \(2, 5\)"),
    ([(2, 3, 5), (2, 4, 5, 1)], r"value must have rank 3.*Received: value shape \(2, 4, 5, 1\)"),
    ([(2, 3, 5), (3, 4, 5)], r"Attention 'att': the inputs must have the same batch size\. "
                             r"Received: query shape \(2, 3, 5\), value shape \(3, 4, 5\)"),
    ([(2, 3, 5), (2, 4, 5), (2, 6, 5)], r"key and value must have the same number of steps Tv\. "
                                        r"Received: value shape \(2, 4, 5\), key shape \(2, 6, 5\)"),
    ([(2, 3, 5), (2, 4, 6)], r"query and value \(the key\) must have the same last dimension for score_mode='dot'\. "
                             r"Received: query shape \(2, 3, 5\), value \(the key\) shape \(2, 4, 6\)"),
    ([(2, 3, 5), (2, 4, 3), (2, 4, 6)], r"query and key must have the same last dimension"),
])
def test_bad_input_shapes_name_the_layer_what_it_expected_and_what_it_received(inputs, message):
    with pytest.raises(ValueError, match=message):
        _call(cl.layers.Attention(name="att"), inputs)


def test_inputs_must_be_a_list_as_in_keras():
    with pytest.raises(ValueError, match=r"Attention 'att' must be called on a list of inputs, namely "
                                         r"\[query, value\] or \[query, value, key\]\. Received: a tuple of 2"):
        cl.layers.Attention(name="att")((np.zeros((2, 3, 4)), np.zeros((2, 3, 4))))
    with pytest.raises(ValueError, match=r"Received: a single input of shape \(2, 3, 4\)"):
        cl.layers.Attention(name="att")(np.zeros((2, 3, 4)))


def test_concat_and_additive_scores_need_equal_query_and_key_dims_where_keras_broadcasts_a_one():
    """Keras adds ``query + key`` with broadcasting, so a key dim of 1 passes there; refused here."""
    with pytest.raises(ValueError, match=r"score_mode='concat'\. Received: query shape \(2, 3, 5\)"):
        _call(cl.layers.Attention(score_mode="concat"), [(2, 3, 5), (2, 4, 1)])
    with pytest.raises(ValueError, match=r"same last dimension for additive scores"):
        _call(cl.layers.AdditiveAttention(use_scale=False), [(2, 3, 1), (2, 4, 5)])


def test_a_built_additive_attention_refuses_another_query_dim():
    layer = cl.layers.AdditiveAttention(name="add")
    _call(layer, [(2, 3, 5), (2, 4, 5)])
    with pytest.raises(ValueError, match=r"AdditiveAttention 'add': the query's last dimension must be 5, the size "
                                         r"of the weight 'scale' built for it\. Received: query shape \(2, 3, 4\)"):
        _call(layer, [(2, 3, 4), (2, 4, 4)])
    with pytest.raises(ValueError, match=r"the last dimension of the query must be known"):
        cl.layers.AdditiveAttention()([cl.Input((3, None)), cl.Input((4, None))])


@pytest.mark.parametrize("mask,message", [
    ([np.ones((2, 4), bool), None], r"Attention 'att': query_mask must have shape \(batch_size, Tq\) = \(2, 3\)\. "
                                    r"Received: query_mask shape \(2, 4\)"),
    ([None, np.ones((2, 3), bool)], r"value_mask must have shape \(batch_size, Tv\) = \(2, 4\)\. "
                                    r"Received: value_mask shape \(2, 3\)"),
    ([None, np.ones((1, 4), bool)], r"Received: value_mask shape \(1, 4\)"),
    (np.ones((2, 4), bool), r"Attention 'att': mask must be a list \[query_mask, value_mask\]"),
    ([np.ones((2, 3), bool)], r"mask must be a list \[query_mask, value_mask\]"),
])
def test_bad_masks_are_refused(mask, message):
    with pytest.raises(ValueError, match=message):
        _call(cl.layers.Attention(name="att"), [(2, 3, 5), (2, 4, 5)], mask=mask)


def test_a_symbolic_call_takes_its_masks_from_the_tensors_and_keeps_one_set_of_options():
    query, value = cl.Input((3, 5)), cl.Input((4, 5))
    layer = cl.layers.Attention(name="att")
    with pytest.raises(TypeError, match=r"Attention 'att': in a functional graph the masks come from the input "
                                        r"tensors"):
        layer([query, value], mask=[None, None])
    layer([query, value], use_causal_mask=True)
    with pytest.raises(ValueError, match=r"Attention 'att': course_lib keeps one set of call options per layer in "
                                         r"a graph.*Received: \{'return_attention_scores': True"):
        layer([query, value], use_causal_mask=True, return_attention_scores=True)
    with pytest.raises(TypeError, match=r"unrecognized call arguments: \['causal'\]"):
        layer([query, value], use_causal_mask=True, causal=True)
