"""A Transformer encoder block, written once in Keras code, trained by both libraries from the same weights.

The block is the chapter's: MultiHeadAttention, a residual Add and
LayerNormalization, then a two-layer feed-forward network with its own
residual and LayerNormalization. Inputs are real-valued sequences (projected
by a Dense layer) so that Keras's sparse Embedding update, a known deliberate
difference, stays out of the comparison. Several Adam steps must leave the
same weights in both libraries.
"""
import numpy as np
import pytest

import course_lib as cl

tf = pytest.importorskip("tensorflow")
keras = tf.keras

pytestmark = pytest.mark.parity

STEPS, FEATURES, WIDTH, HEADS = 7, 5, 8, 2


def encoder_block(library, x, causal=False, feed_forward=16):
    layers = library.layers
    attended = layers.MultiHeadAttention(HEADS, key_dim=4, value_dim=3)(x, x, use_causal_mask=causal)
    x = layers.LayerNormalization(epsilon=1e-6)(layers.Add()([x, attended]))
    hidden = layers.Dense(feed_forward, activation="relu")(x)
    return layers.LayerNormalization(epsilon=1e-6)(layers.Add()([x, layers.Dense(WIDTH)(hidden)]))


def transformer_classifier(library, causal=False, blocks=1):
    inputs = library.Input((STEPS, FEATURES))
    x = library.layers.Dense(WIDTH)(inputs)
    for _ in range(blocks):
        x = encoder_block(library, x, causal)
    pooled = library.layers.GlobalAveragePooling1D()(x)
    return library.Model(inputs, library.layers.Dense(1, activation="sigmoid")(pooled))


@pytest.mark.parametrize("causal,blocks", [(False, 1), (True, 2)], ids=["one-block", "two-causal-blocks"])
def test_a_transformer_block_trains_as_in_keras(causal, blocks):
    generator = np.random.default_rng(blocks)
    x = generator.standard_normal((40, STEPS, FEATURES)).astype("float32")
    y = (x[:, :, 0].mean(axis=1) > 0).astype("float32")[:, None]
    theirs, ours = transformer_classifier(keras, causal, blocks), transformer_classifier(cl, causal, blocks)
    assert ours.count_params() == theirs.count_params()
    ours.set_weights(theirs.get_weights())
    np.testing.assert_allclose(ours.predict(x, verbose=0), theirs.predict(x, verbose=0), rtol=1e-5, atol=1e-6)
    start = theirs.get_weights()
    histories = []
    for model, library in ((theirs, keras), (ours, cl)):
        model.compile(library.optimizers.Adam(0.01), "binary_crossentropy", metrics=["accuracy"])
        histories.append(model.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0).history)
    np.testing.assert_allclose(histories[1]["loss"], histories[0]["loss"], rtol=1e-5)
    assert histories[1]["accuracy"] == pytest.approx(histories[0]["accuracy"])
    compared = 0
    for variable, mine, expected in zip(ours.weights, ours.get_weights(), theirs.get_weights()):
        if variable.path.endswith("key/bias"):
            # Its gradient is zero in exact arithmetic (q . b_k is the same for every key, and the
            # softmax ignores a constant per row): both libraries feed Adam rounding noise, which
            # Adam's normalisation turns into steps of full size, different in each. Keras's too.
            continue
        np.testing.assert_allclose(mine, expected, rtol=1e-4, atol=2e-5, err_msg=variable.path)
        compared += 1
    assert compared == len(ours.weights) - blocks
    # Ten Adam steps moved every weight: the comparison is not of untouched copies.
    assert all(not np.allclose(first, last) for first, last in zip(start, theirs.get_weights()))
