"""Assignment 10 (attention and GANs): its checkers, their references against tf.keras, and nbgrader.

The checkers must give full points to the references (course_lib.ops.attention
and course_lib.ops.gan), to the solution notebook's functions and to correct
answers written another way; exactly the points a planted bug leaves (the
scale forgotten or taken from the wrong size, -1e9 added instead of filled
in, Keras's zeros in a fully masked row, -inf in a fully masked row, an
unshifted softmax, the softmax's Jacobian reduced to its diagonal, heads and
steps mixed up, the mask without its heads' axis, the biases left out, key
and value swapped, a log of a sigmoid, one mean over both batches, the
saturating generator loss ...) with a reason that says what is wrong, and
nothing to the release's stubs; the references must be tf.keras's numbers
(MultiHeadAttention's fused path, where a fully masked row is uniform, and
BinaryCrossentropy(from_logits=True)); the grader's cases must hold what
their labels say; an answer that hands the work to SciPy, TensorFlow,
course_lib.ops or the checker's own reference must earn nothing; and one
``nbgrader autograde`` of a scratch course must grade raising, looping and
test-deleting submissions without a crash, then export every student.
"""
import warnings

import numpy as np
import pytest
from graded_notebooks import (
    Assignment, answer_functions, autograded_output, cell, class_grading_tests, forgery_tests, full_points_tests,
    planted, planted_bug_tests, release_baseline_test, submission, without,
)

from course_lib.grading import assignment10, registry, trusted
from course_lib.ops import attention

ASSIGNMENT = "assignment10"
NOTEBOOK = Assignment(ASSIGNMENT)
FULL = NOTEBOOK.full
SOLUTION = answer_functions(NOTEBOOK.solution)


def test_the_points_add_up_to_seventeen_and_no_exercise_uses_course_lib():
    assert sum(FULL.values()) == 17
    assert not registry.uses_course_lib(ASSIGNMENT)
    for exercise in FULL:
        forbidden = trusted.forbidden_modules(ASSIGNMENT, exercise)
        for module in ("scipy", "course_lib.ops", "course_lib.layers", "course_lib.grading.assignment10",
                       "tensorflow", "keras", "torch", "jax"):
            assert module in forbidden, (exercise, module)


# --- the references and the solution notebook earn everything -----------------------


test_the_reference_earns_full_points, test_the_solution_notebook_earns_full_points_and_the_release_nothing = (
    full_points_tests(NOTEBOOK))


OTHER_WAYS = {  # correct answers written unlike the solution: the checkers must not depend on how
    "scaled_dot_product_attention": """
        def scaled_dot_product_attention(query, key, value, mask=None):
            scores = np.einsum("...qd,...kd->...qk", query * (1 / np.sqrt(query.shape[-1])), key)
            if mask is not None:
                scores = np.where(mask, scores, -1e4)  # any number far enough below the scores
            log_weights = scores - np.logaddexp.reduce(scores, axis=-1, keepdims=True)
            weights = np.exp(log_weights)
            return np.einsum("...qk,...kv->...qv", weights, value), weights
        """,
    "scaled_dot_product_attention_backward": """
        def scaled_dot_product_attention_backward(d_output, query, key, value, weights, mask=None):
            scale = 1 / np.sqrt(query.shape[-1])
            d_weights = np.einsum("...qv,...kv->...qk", d_output, value)
            jacobian = np.einsum("...qk,kl->...qkl", weights, np.eye(weights.shape[-1])) - np.einsum(
                "...qk,...ql->...qkl", weights, weights)
            d_scores = np.einsum("...qkl,...qk->...ql", jacobian, d_weights)
            if mask is not None:
                d_scores = d_scores * np.broadcast_to(mask, d_scores.shape)
            return (scale * np.einsum("...qk,...kd->...qd", d_scores, key),
                    scale * np.einsum("...qk,...qd->...kd", d_scores, query),
                    np.einsum("...qk,...qv->...kv", weights, d_output))
        """,
    "split_heads": """
        def split_heads(x, num_heads):
            return np.stack(np.split(x, num_heads, axis=-1), axis=1)
        """,
    "merge_heads": """
        def merge_heads(x):
            return np.concatenate([x[:, h] for h in range(x.shape[1])], axis=-1)
        """,
    "multi_head_attention": """
        def multi_head_attention(query, value, key, weights, num_heads, mask=None):
            def project(x, name):
                kernel, bias = weights[name + "_kernel"], weights[name + "_bias"]
                flat = x @ kernel.reshape(kernel.shape[0], -1) + bias.reshape(-1)
                return flat.reshape(x.shape[0], x.shape[1], *kernel.shape[1:]).transpose(0, 2, 1, 3)

            q, k, v = project(query, "query"), project(key, "key"), project(value, "value")
            scores = np.einsum("bhqd,bhkd->bhqk", q, k) / np.sqrt(q.shape[-1])
            if mask is not None:
                scores = np.where(mask[:, None], scores, -1e30)
            scores = np.exp(scores - scores.max(axis=-1, keepdims=True))
            scores /= scores.sum(axis=-1, keepdims=True)
            context = np.einsum("bhqk,bhkv->bqhv", scores, v)
            output = np.einsum("bqhv,hvo->bqo", context, weights["output_kernel"]) + weights["output_bias"]
            return output, scores
        """,
    "discriminator_loss": """
        def discriminator_loss(real_logits, fake_logits):
            def softplus(x):
                return np.maximum(x, 0) + np.log1p(np.exp(-np.abs(x)))

            def sigmoid(x):
                z = np.exp(-np.abs(x))
                return np.where(x >= 0, 1 / (1 + z), z / (1 + z))

            loss = np.mean(softplus(real_logits) - real_logits) + np.mean(softplus(fake_logits))
            return loss, (sigmoid(real_logits) - 1) / real_logits.size, sigmoid(fake_logits) / fake_logits.size
        """,
    "generator_loss": """
        def generator_loss(fake_logits):
            loss = np.mean(np.maximum(-fake_logits, 0) + np.log1p(np.exp(-np.abs(fake_logits))))
            return loss, -0.5 * (1 - np.tanh(fake_logits / 2)) / fake_logits.size  # sigmoid(x) - 1
        """,
}


@pytest.mark.parametrize("name", sorted(OTHER_WAYS))
def test_a_correct_answer_written_another_way_earns_full_points(name):
    """Another fill value, einsum, a logsumexp softmax, the full Jacobian, np.split, another stable softplus ..."""
    assert NOTEBOOK.quiet(name, planted(OTHER_WAYS[name], name)) == FULL[name]


# --- the references are tf.keras's numbers ----------------------------------------------------------------


@pytest.mark.parity
def test_the_multi_head_attention_reference_is_keras_s_fused_path_and_its_scores(rng):
    """Keras's MultiHeadAttention with the checker's weights: the output of its fused path (no scores asked),
    fully masked rows included; the scores of its Softmax path, which zeroes those rows (an odd corner the
    notebook does not follow: it asks for the uniform row, whose output is the fused path's)."""
    tf = pytest.importorskip("tensorflow")
    for label, query, value, key, weights, heads, mask in assignment10._mha_cases(np.random.default_rng(4)):
        key_dim, value_dim = weights["query_kernel"].shape[-1], weights["value_kernel"].shape[-1]
        layer = tf.keras.layers.MultiHeadAttention(num_heads=heads, key_dim=key_dim, value_dim=value_dim,
                                                   output_shape=weights["output_kernel"].shape[-1], dtype="float64")
        layer(query, value, key)
        layer.set_weights([weights[name] for name in assignment10.WEIGHT_NAMES])
        output, scores = assignment10.reference_multi_head_attention(query, value, key, weights, heads, mask)
        fused = layer(query, value, key, attention_mask=mask).numpy()
        np.testing.assert_allclose(output, fused, rtol=1e-6, atol=1e-9, err_msg=label)
        _, keras_scores = layer(query, value, key, attention_mask=mask, return_attention_scores=True)
        fully_masked = assignment10._masked_rows(None if mask is None else mask[:, None], scores.shape)
        np.testing.assert_allclose(np.where(fully_masked[..., None], 0.0, scores), keras_scores.numpy(), rtol=1e-6,
                                   atol=1e-9, err_msg=label)
        assert fully_masked.any() == ("fully masked" in label), label


@pytest.mark.parity
def test_the_attention_reference_is_keras_s_fused_attention():
    """keras.ops.dot_product_attention (a single head) on the checker's cases: the same outputs."""
    pytest.importorskip("tensorflow")
    keras = pytest.importorskip("keras")
    for label, query, key, value, mask in assignment10._attention_cases(np.random.default_rng(0)):
        output, _ = assignment10.reference_scaled_dot_product_attention(query, key, value, mask)
        heads = [array[:, :, None, :] for array in (query, key, value)]  # (batch, T, 1 head, depth)
        batch_mask = None if mask is None else np.broadcast_to(mask, query.shape[:2] + key.shape[1:2])[:, None]
        keras_output = keras.ops.dot_product_attention(*heads, mask=batch_mask)
        np.testing.assert_allclose(output, np.asarray(keras_output)[:, :, 0], rtol=1e-6, atol=1e-9, err_msg=label)


@pytest.mark.parity
def test_the_gan_references_are_keras_s_binary_cross_entropies():
    tf = pytest.importorskip("tensorflow")
    bce = tf.keras.losses.BinaryCrossentropy(from_logits=True, dtype="float64")
    for label, real, fake in assignment10._gan_cases(np.random.default_rng(5)):
        real_tensor, fake_tensor = tf.constant(real), tf.constant(fake)
        with tf.GradientTape(persistent=True) as tape:
            tape.watch([real_tensor, fake_tensor])
            discriminator = bce(tf.ones_like(real_tensor), real_tensor) + bce(tf.zeros_like(fake_tensor), fake_tensor)
            generator = bce(tf.ones_like(fake_tensor), fake_tensor)
        expected = [discriminator.numpy(), *[g.numpy() for g in tape.gradient(discriminator, [real_tensor,
                                                                                            fake_tensor])]]
        for want, got in zip(expected, assignment10.reference_discriminator_loss(real, fake)):
            np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-15, err_msg=label)
        loss, d_fake = assignment10.reference_generator_loss(fake)
        assert loss == pytest.approx(generator.numpy(), rel=1e-12), label
        np.testing.assert_allclose(d_fake, tape.gradient(generator, fake_tensor).numpy(), rtol=1e-12, atol=1e-15)


# --- the grader's cases hold what their labels say -----------------------------------------------------------


def test_the_attention_cases_are_what_their_labels_say():
    cases = assignment10._attention_cases(np.random.default_rng(0))
    assert len(cases) == 7 and len(assignment10._attention_cases(np.random.default_rng(0), False)) == 6
    for label, query, key, value, mask in cases:
        rows = assignment10._masked_rows(mask, query.shape[:2] + key.shape[1:2])
        assert rows.any() == ("fully masked" in label), label
        if "Tq != Tv" in label:
            assert query.shape[1] != key.shape[1], label
        if "causal" in label:
            np.testing.assert_array_equal(mask, np.tril(np.ones((5, 5), bool)))
        if "padding" in label:
            assert mask.shape == (4, 1, 6) and mask[0].all() and not mask.all()
        scores = np.abs(query @ np.swapaxes(key, -1, -2)) / np.sqrt(query.shape[-1])
        assert (scores.max() > 709) == (label == assignment10.LARGE_SCORES), label


def test_the_mha_cases_are_what_their_labels_say():
    for label, query, value, key, weights, heads, mask in assignment10._mha_cases(np.random.default_rng(4)):
        assert weights["query_kernel"].shape[:2] == (query.shape[-1], heads), label
        assert weights["key_kernel"].shape[0] == key.shape[-1] and weights["value_kernel"].shape[0] == value.shape[-1]
        assert tuple(weights) == assignment10.WEIGHT_NAMES
        if "self-attention" in label or "causal" in label or "one head" in label:
            assert query is value is key, label
        if "key and value different" in label:
            assert key.shape == value.shape and not np.array_equal(key, value)
        if "all different" in label:
            assert len({query.shape[-1], key.shape[-1], value.shape[-1]}) == 3
        if mask is not None:
            assert mask.shape == query.shape[:2] + value.shape[1:2], label


def test_the_loss_cases_hold_large_logits_and_batches_of_different_sizes():
    cases = {label: (real, fake) for label, real, fake in assignment10._gan_cases(np.random.default_rng(5))}
    real, fake = cases["6 real and 10 fake logits (batch,): batches of different sizes"]
    assert real.shape == (6,) and fake.shape == (10,)
    real, fake = cases["logits of +-1000 among ordinary ones"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert np.isfinite(assignment10.reference_discriminator_loss(real, fake)[0])
    with np.errstate(divide="ignore", over="ignore"):
        naive = -np.mean(np.log(1 / (1 + np.exp(-real))))
    assert not np.isfinite(naive)  # the case catches a log of a sigmoid
    real, fake = cases["logits of +-40 (sigmoid rounds to 0 or 1 in float64)"]
    assert 1 / (1 + np.exp(-40.0)) == 1.0


# --- planted bugs earn exactly what they should, with a reason ------------------------------------------------

SDPA_SOURCE = """
    def scaled_dot_product_attention(query, key, value, mask=None):
        d = query.shape[-1]
        scores = (query / np.sqrt(d)) @ np.swapaxes(key, -1, -2)
        if mask is not None:
            scores = np.where(mask, scores, -1e9)
        scores = scores - scores.max(axis=-1, keepdims=True)
        weights = np.exp(scores)
        weights = weights / weights.sum(axis=-1, keepdims=True)
        output = weights @ value
        return output, weights
    """
BACKWARD_SOURCE = """
    def scaled_dot_product_attention_backward(d_output, query, key, value, weights, mask=None):
        d = query.shape[-1]
        d_value = np.swapaxes(weights, -1, -2) @ d_output
        d_weights = d_output @ np.swapaxes(value, -1, -2)
        d_scores = weights * (d_weights - (d_weights * weights).sum(axis=-1, keepdims=True))
        if mask is not None:
            d_scores = np.where(mask, d_scores, 0.0)
        d_query = (d_scores @ key) / np.sqrt(d)
        d_key = np.swapaxes(d_scores, -1, -2) @ query / np.sqrt(d)
        return d_query, d_key, d_value
    """
SPLIT_SOURCE = """
    def split_heads(x, num_heads):
        batch, steps, features = x.shape
        return x.reshape(batch, steps, num_heads, features // num_heads).transpose(0, 2, 1, 3)
    """
MERGE_SOURCE = """
    def merge_heads(x):
        batch, heads, steps, depth = x.shape
        return x.transpose(0, 2, 1, 3).reshape(batch, steps, heads * depth)
    """
MHA_SOURCE = """
    def multi_head_attention(query, value, key, weights, num_heads, mask=None):
        q = np.einsum("btd,dhk->bhtk", query, weights["query_kernel"]) + weights["query_bias"][:, None, :]
        k = np.einsum("btd,dhk->bhtk", key, weights["key_kernel"]) + weights["key_bias"][:, None, :]
        v = np.einsum("btd,dhk->bhtk", value, weights["value_kernel"]) + weights["value_bias"][:, None, :]
        if mask is not None:
            mask = mask[:, None]
        context, scores = scaled_dot_product_attention(q, k, v, mask)
        merged = merge_heads(context)
        heads, depth, out_features = weights["output_kernel"].shape
        output = merged @ weights["output_kernel"].reshape(heads * depth, out_features) + weights["output_bias"]
        return output, scores
    """
DISCRIMINATOR_SOURCE = """
    def discriminator_loss(real_logits, fake_logits):
        loss = float(np.mean(np.logaddexp(0.0, -real_logits)) + np.mean(np.logaddexp(0.0, fake_logits)))
        d_real_logits = -np.exp(-np.logaddexp(0.0, real_logits)) / real_logits.size
        d_fake_logits = np.exp(-np.logaddexp(0.0, -fake_logits)) / fake_logits.size
        return loss, d_real_logits, d_fake_logits
    """
GENERATOR_SOURCE = """
    def generator_loss(fake_logits):
        loss = float(np.mean(np.logaddexp(0.0, -fake_logits)))
        d_fake_logits = -np.exp(-np.logaddexp(0.0, fake_logits)) / fake_logits.size
        return loss, d_fake_logits
    """
SOURCES = {"scaled_dot_product_attention": SDPA_SOURCE, "scaled_dot_product_attention_backward": BACKWARD_SOURCE,
           "split_heads": SPLIT_SOURCE, "merge_heads": MERGE_SOURCE, "multi_head_attention": MHA_SOURCE,
           "discriminator_loss": DISCRIMINATOR_SOURCE, "generator_loss": GENERATOR_SOURCE}
EXTRA = {"multi_head_attention": SDPA_SOURCE + MERGE_SOURCE}

ADDED = ("np.where(mask, scores, -1e9)", "scores + np.where(mask, 0.0, -1e9)")
NO_SCALE_IN_D_QUERY = ("(d_scores @ key) / np.sqrt(d)", "d_scores @ key")
SUMS = ("/ real_logits.size", "")
LOG_OF_SIGMOID = ("loss = float(np.mean(np.logaddexp(0.0, -real_logits)) + np.mean(np.logaddexp(0.0, fake_logits)))",
                  "loss = float(-np.mean(np.log(1 / (1 + np.exp(-real_logits))))\n"
                  "                     - np.mean(np.log(1 - 1 / (1 + np.exp(-fake_logits)))))")
BUGS = {
    "scaled_dot_product_attention": {
        "unscaled": ("(query / np.sqrt(d))", "query"),
        "divided by d": ("(query / np.sqrt(d))", "(query / d)"),
        "the mask ignored": ("scores = np.where(mask, scores, -1e9)", "pass"),
        "the mask inverted": ("np.where(mask, scores, -1e9)", "np.where(mask, -1e9, scores)"),
        "-1e9 added": ADDED,
        "Keras's zeros in a fully masked row": (
            "        output = weights @ value",
            "        if mask is not None:\n            weights = np.where(mask, weights, 0.0)\n"
            "        output = weights @ value"),
        "-inf": ("-1e9", "-np.inf"),
        "no maximum subtracted": ("        scores = scores - scores.max(axis=-1, keepdims=True)\n", ""),
        "the softmax over the queries": (
            "scores.max(axis=-1, keepdims=True)\n        weights = np.exp(scores)\n"
            "        weights = weights / weights.sum(axis=-1, keepdims=True)",
            "scores.max(axis=-2, keepdims=True)\n        weights = np.exp(scores)\n"
            "        weights = weights / weights.sum(axis=-2, keepdims=True)"),
    },
    "scaled_dot_product_attention_backward": {
        "the softmax's diagonal only": (
            "weights * (d_weights - (d_weights * weights).sum(axis=-1, keepdims=True))",
            "d_weights * weights * (1 - weights)"),
        "no scale in d_query": NO_SCALE_IN_D_QUERY,
        "no scale in d_key": ("@ query / np.sqrt(d)", "@ query"),
        "no scale at all": ("(d_scores @ key) / np.sqrt(d)\n        d_key = np.swapaxes(d_scores, -1, -2) @ query / "
                            "np.sqrt(d)", "d_scores @ key\n        d_key = np.swapaxes(d_scores, -1, -2) @ query"),
        "d_scores kept in fully masked rows": ("        if mask is not None:\n"
                                               "            d_scores = np.where(mask, d_scores, 0.0)\n", ""),
    },
    "split_heads": {
        "reshaped straight to (batch, H, T, depth)": (
            "x.reshape(batch, steps, num_heads, features // num_heads).transpose(0, 2, 1, 3)",
            "x.reshape(batch, num_heads, steps, features // num_heads)"),
        "no transpose": (".transpose(0, 2, 1, 3)", ""),
        "features split as (depth, H)": (
            "x.reshape(batch, steps, num_heads, features // num_heads).transpose(0, 2, 1, 3)",
            "x.reshape(batch, steps, features // num_heads, num_heads).transpose(0, 3, 1, 2)"),
    },
    "merge_heads": {
        "no transpose": ("x.transpose(0, 2, 1, 3).reshape", "x.reshape"),
        "features laid out as (depth, H)": ("x.transpose(0, 2, 1, 3)", "x.transpose(0, 2, 3, 1)"),
    },
    "multi_head_attention": {
        "scaled by the query's features": (
            "scaled_dot_product_attention(q, k, v, mask)",
            "scaled_dot_product_attention(q * np.sqrt(q.shape[-1] / query.shape[-1]), k, v, mask)"),
        "the mask ignored": ("mask = mask[:, None]", "mask = None"),
        "the mask without a heads' axis": ("mask = mask[:, None]", "pass"),
        "no biases": (
            ' + weights["query_bias"][:, None, :]\n'
            '        k = np.einsum("btd,dhk->bhtk", key, weights["key_kernel"]) + weights["key_bias"][:, None, :]\n'
            '        v = np.einsum("btd,dhk->bhtk", value, weights["value_kernel"])'
            ' + weights["value_bias"][:, None, :]',
            '\n        k = np.einsum("btd,dhk->bhtk", key, weights["key_kernel"])\n'
            '        v = np.einsum("btd,dhk->bhtk", value, weights["value_kernel"])'),
        "no output bias": (' + weights["output_bias"]', ""),
        "key and value swapped": (
            'k = np.einsum("btd,dhk->bhtk", key, weights["key_kernel"]) + weights["key_bias"][:, None, :]\n'
            '        v = np.einsum("btd,dhk->bhtk", value,',
            'k = np.einsum("btd,dhk->bhtk", value, weights["key_kernel"]) + weights["key_bias"][:, None, :]\n'
            '        v = np.einsum("btd,dhk->bhtk", key,'),
    },
    "discriminator_loss": {
        "a log of a sigmoid": LOG_OF_SIGMOID,
        "one mean over both batches": (
            "loss = float(np.mean(np.logaddexp(0.0, -real_logits)) + np.mean(np.logaddexp(0.0, fake_logits)))",
            "loss = float(np.mean(np.concatenate([np.logaddexp(0.0, -real_logits).ravel(), "
            "np.logaddexp(0.0, fake_logits).ravel()])))"),
        "the labels swapped": (
            "loss = float(np.mean(np.logaddexp(0.0, -real_logits)) + np.mean(np.logaddexp(0.0, fake_logits)))\n"
            "        d_real_logits = -np.exp(-np.logaddexp(0.0, real_logits)) / real_logits.size\n"
            "        d_fake_logits = np.exp(-np.logaddexp(0.0, -fake_logits)) / fake_logits.size",
            "loss = float(np.mean(np.logaddexp(0.0, real_logits)) + np.mean(np.logaddexp(0.0, -fake_logits)))\n"
            "        d_real_logits = np.exp(-np.logaddexp(0.0, -real_logits)) / real_logits.size\n"
            "        d_fake_logits = -np.exp(-np.logaddexp(0.0, fake_logits)) / fake_logits.size"),
        "d_real not divided by the batch size": SUMS,
    },
    "generator_loss": {
        "the saturating loss": (
            "loss = float(np.mean(np.logaddexp(0.0, -fake_logits)))\n"
            "        d_fake_logits = -np.exp(-np.logaddexp(0.0, fake_logits)) / fake_logits.size",
            "loss = float(-np.mean(np.logaddexp(0.0, fake_logits)))\n"
            "        d_fake_logits = -np.exp(-np.logaddexp(0.0, -fake_logits)) / fake_logits.size"),
        "the fakes labelled 0": (
            "loss = float(np.mean(np.logaddexp(0.0, -fake_logits)))\n"
            "        d_fake_logits = -np.exp(-np.logaddexp(0.0, fake_logits)) / fake_logits.size",
            "loss = float(np.mean(np.logaddexp(0.0, fake_logits)))\n"
            "        d_fake_logits = np.exp(-np.logaddexp(0.0, -fake_logits)) / fake_logits.size"),
        "a log of a sigmoid": ("loss = float(np.mean(np.logaddexp(0.0, -fake_logits)))",
                               "loss = float(-np.mean(np.log(1 / (1 + np.exp(-fake_logits)))))"),
        "the gradient's sign": ("d_fake_logits = -np.exp", "d_fake_logits = np.exp"),
    },
}


def plant(name, old="", new=""):
    return planted(SOURCES[name], name, old, new, extra=EXTRA.get(name))


test_the_sources_the_bugs_are_planted_into_earn_full_points, test_each_planted_bug_earns_less_and_says_why = \
    planted_bug_tests(NOTEBOOK, SOURCES, BUGS, plant)

EXPECTED_POINTS = {
    # 7 attention cases of 3/7: the output and the weights half each. Three cases have masks, one of them a fully
    # masked row; with a single key every weight is 1 whatever the scores.
    # One key: every weight is 1 whatever the scale. Scores in the hundreds: the weights are one-hot either way
    # but for entries near 1e-7 (which fail), the output moves by less than 1e-6 (which passes).
    ("scaled_dot_product_attention", "unscaled"): 3 * 1.5 / 7,
    ("scaled_dot_product_attention", "the mask ignored"): 3 * 4 / 7,
    ("scaled_dot_product_attention", "-1e9 added"): 3 * 6 / 7,  # only a fully masked row tells
    ("scaled_dot_product_attention", "Keras's zeros in a fully masked row"): 3 * 6 / 7,
    ("scaled_dot_product_attention", "-inf"): 3 * 6 / 7,  # nan in the fully masked row only
    # Without the row maximum, the large scores overflow and a fully masked row is 0 / 0.
    ("scaled_dot_product_attention", "no maximum subtracted"): 3 * 5 / 7,
    # 6 gradient cases of 2/3, each gradient a third: d_value never depends on the softmax's backward; with a
    # single key every d_scores is 0.
    ("scaled_dot_product_attention_backward", "the softmax's diagonal only"): 4 * (5 / 3 + 1) / 6,
    ("scaled_dot_product_attention_backward", "no scale in d_query"): 4 * (5 * 2 / 3 + 1) / 6,
    ("scaled_dot_product_attention_backward", "no scale at all"): 4 * (5 / 3 + 1) / 6,
    ("scaled_dot_product_attention_backward", "d_scores kept in fully masked rows"): 4 * (5 + 1 / 3) / 6,
    # 5 shapes of 1/5: T = 1 or H = 1 cannot tell the steps from the heads.
    ("split_heads", "reshaped straight to (batch, H, T, depth)"): 0.4,
    ("split_heads", "no transpose"): 0.0,  # the wrong shape in every case
    ("split_heads", "features split as (depth, H)"): 0.4,  # depth 1 and H = 1 cannot tell
    ("merge_heads", "no transpose"): 0.4,
    # 6 MHA cases of 2/3: the output two thirds, the scores one third.
    ("multi_head_attention", "scaled by the query's features"): 4 * 2 / 6,  # dq = K in two cases
    ("multi_head_attention", "the mask ignored"): 4 * 4 / 6,
    # (batch, Tq, Tv) against (batch, H, Tq, Tv): batch = H in both masked cases, and the causal mask is the
    # same for every sample, so only the padded case tells.
    ("multi_head_attention", "the mask without a heads' axis"): 4 * 5 / 6,
    ("multi_head_attention", "no output bias"): 4 * 1 / 3,  # the scores stay right
    ("multi_head_attention", "key and value swapped"): 4 * 4 / 6,  # the same array in 4 cases; one cannot run
    # 5 loss cases of 2/5: the loss and the two gradients a third each.
    ("discriminator_loss", "a log of a sigmoid"): 2 * (1 - 2 / 15),  # the loss of the +-1000 and +-40 cases
    ("discriminator_loss", "one mean over both batches"): 2 * 2 / 3,  # the gradients stay right
    ("discriminator_loss", "the labels swapped"): 2 / 15,  # logits of 0 give the same loss
    ("discriminator_loss", "d_real not divided by the batch size"): 2 * 2 / 3,
    # 5 generator cases of 2/5: the loss and the gradient half each.
    ("generator_loss", "the saturating loss"): 0.2,  # at 0 both gradients are -1/(2n)
    ("generator_loss", "the fakes labelled 0"): 0.2,  # at 0 both losses are log 2
    ("generator_loss", "a log of a sigmoid"): 2 * (1 - 1 / 10),  # sigmoid(-40) is 4e-18, not 0: only -1000 tells
    ("generator_loss", "the gradient's sign"): 1.0,
}


@pytest.mark.parametrize("name, bug", sorted(EXPECTED_POINTS), ids=[f"{n}: {b}" for n, b in sorted(EXPECTED_POINTS)])
def test_a_planted_bug_loses_exactly_the_points_of_the_cases_it_breaks(name, bug, capsys):
    points = NOTEBOOK.checker(name)(plant(name, *BUGS[name][bug]))
    assert points == pytest.approx(EXPECTED_POINTS[name, bug], abs=0.006), capsys.readouterr().out


def _printed(capsys, name, bug):
    points = NOTEBOOK.checker(name)(plant(name, *BUGS[name][bug]))
    return points, capsys.readouterr().out


def test_the_attention_mistakes_are_named(capsys):
    name = "scaled_dot_product_attention"
    _, printed = _printed(capsys, name, "unscaled")
    assert "the scores are not scaled: the query is multiplied by 1/sqrt(d)" in printed, printed
    _, printed = _printed(capsys, name, "divided by d")
    assert "the scores are divided by d; the scale is 1/sqrt(d)" in printed, printed
    _, printed = _printed(capsys, name, "the mask ignored")
    assert "the mask is not applied" in printed and "[a causal mask (Tq, Tv)" in printed, printed
    _, printed = _printed(capsys, name, "the mask inverted")
    assert "the mask is inverted: True means the query MAY attend" in printed, printed
    _, printed = _printed(capsys, name, "-1e9 added")
    assert "-1e9 is added to the masked scores instead of replacing them" in printed, printed
    assert "[a mask (batch, Tq, Tv) with a fully masked row" in printed
    _, printed = _printed(capsys, name, "Keras's zeros in a fully masked row")
    assert "as Keras's Softmax layer leaves it; this notebook keeps the softmax of the filled scores" in printed
    _, printed = _printed(capsys, name, "-inf")
    assert "expected finite numbers: a fully masked row gives nan when its scores are filled with -np.inf" in printed
    _, printed = _printed(capsys, name, "no maximum subtracted")
    assert "expected finite numbers: np.exp overflows for scores above 709; subtract each row's maximum" in printed
    assert "or with -1e9 but without the row maximum subtracted (every exp(-1e9) is 0, and 0 / 0 is nan)" in printed
    _, printed = _printed(capsys, name, "the softmax over the queries")
    assert "the softmax runs over the queries (axis -2)" in printed, printed


def test_a_reason_names_the_value_its_error_and_where_but_never_the_inputs(capsys):
    _, printed = _printed(capsys, "scaled_dot_product_attention_backward", "no scale in d_query")
    line = next(line for line in printed.splitlines() if line.startswith("scaled_dot_product_attention_backward [no"))
    assert "d_query relative error " in line and " at index (" in line and "; expected < 1e-06 (" in line, line
    assert "entries differ): the 1/sqrt(d) scale is missing: d_query = (d_scores key) / sqrt(d)" in line, line
    assert "d_key" not in line and "d_value" not in line  # those are right
    query = assignment10._attention_cases(np.random.default_rng(1))[0][1]
    assert f"{query[0, 0, 0]:.4f}"[:6] not in printed  # no input value is shown


def test_the_backward_mistakes_are_named(capsys):
    name = "scaled_dot_product_attention_backward"
    _, printed = _printed(capsys, name, "the softmax's diagonal only")
    assert "uses only the diagonal of its Jacobian" in printed, printed
    _, printed = _printed(capsys, name, "no scale in d_key")
    assert "the 1/sqrt(d) scale is missing: d_key = d_scores^T query / sqrt(d)" in printed, printed
    _, printed = _printed(capsys, name, "no scale at all")
    assert "the 1/sqrt(d) scale is missing: d_key = d_scores^T query / sqrt(d)" in printed, printed
    assert "the 1/sqrt(d) scale is missing: d_query = (d_scores key) / sqrt(d)" in printed, printed
    _, printed = _printed(capsys, name, "d_scores kept in fully masked rows")
    assert "no gradient reaches those scores: set d_scores to 0 where the mask is False" in printed, printed


def test_the_heads_mistakes_are_named(capsys):
    _, printed = _printed(capsys, "split_heads", "reshaped straight to (batch, H, T, depth)")
    assert "x.reshape(batch, H, T, depth) mixes time steps and features" in printed, printed
    _, printed = _printed(capsys, "split_heads", "no transpose")
    assert "this is (batch, T, H, depth); swap the T and H axes" in printed, printed
    _, printed = _printed(capsys, "split_heads", "features split as (depth, H)")
    assert "the features are split as (depth, H)" in printed, printed
    _, printed = _printed(capsys, "merge_heads", "no transpose")
    assert "with the heads' axis still before the steps mixes heads and steps" in printed, printed
    _, printed = _printed(capsys, "merge_heads", "features laid out as (depth, H)")
    assert "the features are laid out as (depth, H)" in printed, printed


def test_the_multi_head_attention_mistakes_are_named(capsys):
    name = "multi_head_attention"
    _, printed = _printed(capsys, name, "scaled by the query's features")
    assert "the query is scaled by 1/sqrt of the query's features; the scale is 1/sqrt(K)" in printed, printed
    _, printed = _printed(capsys, name, "the mask ignored")
    assert "the mask is not applied: it has shape (batch, Tq, Tv)" in printed, printed
    _, printed = _printed(capsys, name, "the mask without a heads' axis")
    assert "NumPy aligns the LAST axes, so the mask's batch axis fell on the heads' axis" in printed, printed
    _, printed = _printed(capsys, name, "no biases")
    assert "the projections' biases are missing" in printed, printed
    _, printed = _printed(capsys, name, "no output bias")
    assert "output_bias is missing" in printed and "scores relative error" not in printed, printed
    _, printed = _printed(capsys, name, "key and value swapped")
    assert "key and value are swapped" in printed, printed


def test_the_gan_mistakes_are_named(capsys):
    _, printed = _printed(capsys, "discriminator_loss", "a log of a sigmoid")
    assert "loss is inf; expected finite numbers: log(sigmoid(x)) is log(0)" in printed, printed
    assert "np.logaddexp(0, -x)" in printed
    _, printed = _printed(capsys, "discriminator_loss", "one mean over both batches")
    assert "this is one mean over the real and fake logits together" in printed, printed
    _, printed = _printed(capsys, "discriminator_loss", "the labels swapped")
    assert "the labels are swapped: the discriminator labels the real samples 1" in printed, printed
    _, printed = _printed(capsys, "discriminator_loss", "d_real not divided by the batch size")
    assert "d_real_logits relative error" in printed and "these are sums over the batch" in printed, printed
    _, printed = _printed(capsys, "generator_loss", "the saturating loss")
    assert "this is the saturating loss of the minimax game" in printed, printed
    _, printed = _printed(capsys, "generator_loss", "the fakes labelled 0")
    assert "the fakes are labelled 0, as the discriminator labels them" in printed, printed
    _, printed = _printed(capsys, "generator_loss", "the gradient's sign")
    assert "the gradient has the wrong sign: d/dx of -log σ(x) is σ(x) - 1" in printed, printed


def test_half_of_two_means_is_named_when_the_batches_have_one_size(capsys):
    halved = plant("discriminator_loss", "loss = float(", "loss = 0.5 * float(")
    points = NOTEBOOK.checker("discriminator_loss")(halved)
    printed = capsys.readouterr().out
    assert points == pytest.approx(2 * 2 / 3, abs=0.006), printed  # at logits of 0: log 2, not 2 log 2
    assert "this is the average of the two batch means; the discriminator's loss is their SUM" in printed, printed


def test_a_loss_returned_per_sample_is_told_to_be_one_number(capsys):
    per_sample = plant("generator_loss", "float(np.mean(np.logaddexp(0.0, -fake_logits)))",
                       "np.logaddexp(0.0, -fake_logits)")
    assert NOTEBOOK.checker("generator_loss")(per_sample) == 1.0
    assert "loss: one number (the mean over the batch) expected, received an array of shape (8, 1)" in (
        capsys.readouterr().out)


# --- the trusted grader: NumPy only ------------------------------------------------------------------------------

SOLVED = {name: "".join(cell(NOTEBOOK.solution, f"{name}_answer")["source"]) for name in FULL}
RELEASED = {name: "".join(cell(NOTEBOOK.release, f"{name}_answer")["source"]) for name in FULL}
FORGERIES = {  # (the answer cell, its source, the exercises that earn nothing)
    "SciPy's softmax": ("scaled_dot_product_attention", SOLVED["scaled_dot_product_attention"].replace(
        "    ### BEGIN SOLUTION\n", "    from scipy.special import softmax\n    ### BEGIN SOLUTION\n"),
        ["scaled_dot_product_attention"]),
    "course_lib.ops.attention's kernel": ("split_heads", "from course_lib.ops.attention import split_heads\n",
                                          ["split_heads"]),
    "course_lib.ops imported at run time": ("generator_loss", (
        "import importlib\n"
        "def generator_loss(fake_logits):\n"
        "    gan = importlib.import_module('course_lib.' + 'ops.gan')\n"
        "    loss, cache = gan.generator_loss_forward(fake_logits)\n"
        "    return float(loss), gan.generator_loss_backward(1.0, cache)\n"), ["generator_loss"]),
    "the checker's reference": ("merge_heads",
                                "from course_lib.grading.assignment10 import reference_merge_heads as merge_heads\n",
                                ["merge_heads"]),
    "TensorFlow's cross-entropy": ("discriminator_loss", (
        "import tensorflow as tf\n"
        "def discriminator_loss(real_logits, fake_logits):\n"
        "    bce = tf.keras.losses.BinaryCrossentropy(from_logits=True)\n"
        "    return float(bce(np.ones_like(real_logits), real_logits) + bce(np.zeros_like(fake_logits), fake_logits)),"
        " 0, 0\n"), ["discriminator_loss"]),
    "patches the checker": ("multi_head_attention",
                            "grading.check_multi_head_attention = lambda *args, **kwargs: 4.0\n"
                            + RELEASED["multi_head_attention"], ["multi_head_attention"]),
    "prints a number": ("scaled_dot_product_attention_backward",
                        "print(4.0)\n" + RELEASED["scaled_dot_product_attention_backward"],
                        ["scaled_dot_product_attention_backward"]),
}
DEPENDS_ON = {"scaled_dot_product_attention": ("multi_head_attention",), "merge_heads": ("multi_head_attention",)}
"""The exercises whose solutions call another exercise's function."""


test_the_solution_is_graded_in_sandboxes, test_a_forged_answer_earns_nothing_for_its_exercise = (
    forgery_tests(NOTEBOOK, FORGERIES, DEPENDS_ON))


# --- nbgrader on a class: raising, looping, deleted tests, partial credit, the export ----------------


def _class():
    erin = submission(NOTEBOOK.solution, discriminator_loss_answer=RELEASED["discriminator_loss"])
    return {
        "alice": NOTEBOOK.solution,
        "bob": lambda regenerated: regenerated,
        # the attention raises inside (and multi-head attention needs it); the merge cell raises before its def.
        "carol": submission(NOTEBOOK.solution, scaled_dot_product_attention_answer=SOLVED[
            "scaled_dot_product_attention"].replace("    d = query.shape[-1]\n",
                                                    "    raise ValueError('not scaled yet')\n", 1),
            merge_heads_answer="raise RuntimeError('not finished')\n" + SOLVED["merge_heads"]),
        # an endless loop before generator_loss's def: that cell is left out, the rest graded.
        "dave": submission(NOTEBOOK.solution,
                           generator_loss_answer="while True:\n    pass\n" + SOLVED["generator_loss"]),
        # deleted two test cells, left discriminator_loss as the release's stub.
        "erin": without(erin, "split_heads_tests", "discriminator_loss_tests"),
        # -1e9 added, no scale in d_query, d_real not divided by the batch size.
        "frank": submission(NOTEBOOK.solution,
                            scaled_dot_product_attention_answer=SOLVED["scaled_dot_product_attention"].replace(
                                "np.where(mask, scores, LARGE_NEGATIVE)",
                                "scores + np.where(mask, 0.0, LARGE_NEGATIVE)"),
                            scaled_dot_product_attention_backward_answer=SOLVED[
                                "scaled_dot_product_attention_backward"].replace(*NO_SCALE_IN_D_QUERY),
                            discriminator_loss_answer=SOLVED["discriminator_loss"].replace(*SUMS)),
        "mallory": submission(NOTEBOOK.solution, scaled_dot_product_attention_answer=FORGERIES["SciPy's softmax"][1]),
    }


CLASS = _class()
EXPECTED = {
    "alice": FULL,
    "bob": {name: 0.0 for name in FULL},
    "carol": dict(FULL, scaled_dot_product_attention=0.0, merge_heads=0.0, multi_head_attention=0.0),
    "dave": dict(FULL, generator_loss=0.0),
    "erin": dict(FULL, discriminator_loss=0.0),
    "frank": None,  # what the checkers give frank's functions in this process
    "mallory": dict(FULL, scaled_dot_product_attention=0.0, multi_head_attention=0.0),
}


graded_class, scores_of, test_nbgrader_autogrades_every_kind_of_submission, test_the_export_lists_every_student = \
    class_grading_tests(NOTEBOOK, CLASS, EXPECTED)


def graded_cell(graded_class, student, exercise):
    """What the autograded notebook shows in the exercise's graded cell (the checker's reasons)."""
    return autograded_output(graded_class, ASSIGNMENT, student, exercise)


def test_the_planted_student_loses_points_in_the_right_exercises():
    frank = scores_of("frank")
    assert frank["scaled_dot_product_attention"] == pytest.approx(3 * 6 / 7, abs=0.006), frank
    assert frank["scaled_dot_product_attention_backward"] == pytest.approx(4 * (5 * 2 / 3 + 1) / 6, abs=0.006)
    assert frank["discriminator_loss"] == pytest.approx(2 * 2 / 3, abs=0.006), frank
    # Frank's multi-head attention calls his attention: the padded queries' fully masked rows cost that case.
    assert frank["multi_head_attention"] == pytest.approx(4 * 5 / 6, abs=0.006), frank
    assert frank["generator_loss"] == FULL["generator_loss"] and frank["split_heads"] == FULL["split_heads"]


@pytest.mark.slow
def test_errors_loops_and_deleted_tests_are_reported_not_crashed_on(graded_class):
    shown = graded_cell(graded_class, "carol", "scaled_dot_product_attention")
    assert "scaled_dot_product_attention raised ValueError: not scaled yet" in shown, shown
    assert "merge_heads is not defined" in graded_cell(graded_class, "carol", "merge_heads")
    dave = graded_cell(graded_class, "dave", "generator_loss")
    assert "cell generator_loss_answer was left out" in dave and "did not finish" in dave
    assert "Missing grade cell discriminator_loss_tests encountered, adding to notebook" in graded_class["log"]
    assert "discriminator_loss raised NotImplementedError" in graded_cell(graded_class, "erin", "discriminator_loss")
    assert "-1e9 is added to the masked scores" in graded_cell(graded_class, "frank", "scaled_dot_product_attention")
    assert "the 1/sqrt(d) scale is missing" in graded_cell(graded_class, "frank",
                                                           "scaled_dot_product_attention_backward")
    assert "does not allow" in graded_cell(graded_class, "mallory", "scaled_dot_product_attention")


test_the_release_baseline_is_zero = release_baseline_test(NOTEBOOK)


def test_the_attention_reference_is_the_library_s_layer_kernel():
    """The checker's attention is course_lib.ops.attention's, with the uniform row of a fully masked row."""
    for _, query, key, value, mask in assignment10._attention_cases(np.random.default_rng(0)):
        output, weights, _ = attention.scaled_dot_product_attention_forward(query, key, value, mask,
                                                                            zero_masked=False)
        expected = assignment10.reference_scaled_dot_product_attention(query, key, value, mask)
        np.testing.assert_array_equal(expected[0], output)
        np.testing.assert_array_equal(expected[1], weights)
        rows = assignment10._masked_rows(mask, weights.shape)
        np.testing.assert_allclose(weights[rows], 1.0 / key.shape[1])
