"""A small CNN with BatchNormalization and L2 regularization trains as in tf.keras.

Conv2D(+L2) -> BatchNormalization -> ReLU -> MaxPooling2D -> Conv2D (channels of the
first) -> GlobalAveragePooling2D -> Dense(softmax): built in Keras, copied into course_lib
through the bridge, then stepped in both libraries. Compared: the losses of every
train_on_batch step with SGD and with Adam, the weights afterwards (moving statistics
included), a whole fit with shuffle=False and a validation split, evaluate, and summary's
counts. Measured: losses agree to 4e-7 relative, weights to 3e-6 absolute after six Adam
steps (float32 sums in another order, amplified by Adam's division by sqrt(v)), hence
rtol 1e-4 / atol 1e-5 for weights and rtol 1e-5 for losses.
"""
import numpy as np
import pytest

import course_lib as cl

tf = pytest.importorskip("tensorflow")
keras = tf.keras

pytestmark = pytest.mark.parity


def _keras_cnn(data_format="channels_last"):
    keras.utils.set_random_seed(3)
    axis = -1 if data_format == "channels_last" else 1
    shape = (8, 8, 1) if data_format == "channels_last" else (1, 8, 8)
    return keras.Sequential([
        keras.Input(shape),
        keras.layers.Conv2D(6, 3, padding="same", data_format=data_format, use_bias=False,
                            kernel_regularizer=keras.regularizers.L2(1e-3)),
        keras.layers.BatchNormalization(axis=axis),
        keras.layers.Activation("relu"),
        keras.layers.MaxPooling2D(2, data_format=data_format),
        keras.layers.Conv2D(8, 3, activation="relu", data_format=data_format,
                            bias_regularizer=keras.regularizers.L1(1e-3)),
        keras.layers.GlobalAveragePooling2D(data_format=data_format),
        keras.layers.Dense(3, activation="softmax", kernel_regularizer="l2"),
    ])


def _data(data_format="channels_last", count=40):
    generator = np.random.default_rng(0)
    x = generator.standard_normal((count, 8, 8, 1)).astype("float32")
    y = (x[:, :4].mean(axis=(1, 2, 3)) > 0).astype("int64") + (x[:, :, :4].mean(axis=(1, 2, 3)) > 0.2)
    if data_format == "channels_first":
        x = x.transpose(0, 3, 1, 2)
    return x, y


def _pair(optimizer, data_format="channels_last"):
    theirs = _keras_cnn(data_format)
    ours = cl.testing.from_keras(theirs)
    theirs.compile(optimizer=getattr(keras.optimizers, optimizer)(learning_rate=0.05), loss="sparse_categorical_crossentropy",
                   metrics=["accuracy"])
    ours.compile(optimizer=getattr(cl.optimizers, optimizer)(learning_rate=0.05), loss="sparse_categorical_crossentropy",
                 metrics=["accuracy"])
    return ours, theirs


def _assert_same_weights(ours, theirs):
    for layer, reference in zip(ours.layers, theirs.layers):
        for mine, expected in zip(layer.get_weights(), reference.get_weights()):
            np.testing.assert_allclose(mine, expected, rtol=1e-4, atol=1e-5, err_msg=layer.name)


@pytest.mark.parametrize("optimizer", ["SGD", "Adam"])
@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_train_on_batch_steps_and_moving_statistics_match_keras(optimizer, data_format):
    ours, theirs = _pair(optimizer, data_format)
    x, y = _data(data_format)
    for step in range(6):
        batch = slice(8 * (step % 5), 8 * (step % 5) + 8)
        mine = ours.train_on_batch(x[batch], y[batch])
        expected = theirs.train_on_batch(x[batch], y[batch])
        np.testing.assert_allclose(mine, expected, rtol=1e-5, err_msg=f"step {step}")
    _assert_same_weights(ours, theirs)
    bn = ours.get_layer(theirs.layers[1].name)
    assert [w.name for w in bn.non_trainable_weights] == ["moving_mean", "moving_variance"]
    assert not np.allclose(bn.get_weights()[3], 1.0)  # the moving variance did move
    np.testing.assert_allclose(ours.evaluate(x, y, verbose=0), theirs.evaluate(x, y, verbose=0), rtol=1e-5)


def test_a_whole_fit_without_shuffling_matches_keras():
    ours, theirs = _pair("Adam")
    x, y = _data()
    mine = ours.fit(x, y, batch_size=10, epochs=3, shuffle=False, validation_split=0.25, verbose=0).history
    expected = theirs.fit(x, y, batch_size=10, epochs=3, shuffle=False, validation_split=0.25, verbose=0).history
    assert mine.keys() == expected.keys()
    for key in expected:
        np.testing.assert_allclose(mine[key], expected[key], rtol=1e-5, atol=1e-6, err_msg=key)
    _assert_same_weights(ours, theirs)
    np.testing.assert_allclose(ours.predict(x, verbose=0), theirs.predict(x, verbose=0), rtol=1e-4, atol=1e-5)


def test_summary_counts_moving_statistics_as_non_trainable_like_keras():
    ours, theirs = _pair("SGD")
    lines = []
    ours.summary(print_fn=lines.append)
    expected = []
    theirs.summary(print_fn=expected.append)
    def totals(text):
        return [line for line in "\n".join(text).splitlines() if "params" in line]
    assert totals(lines) == totals(expected)
    assert ours.count_params() == theirs.count_params()
    assert sum(w.size for w in ours.non_trainable_weights) == 12  # 6 moving means + 6 moving variances
