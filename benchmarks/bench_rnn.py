"""Recurrent speed: course_lib against tf.keras, measured in the same run.

One training epoch (Adam, ``fit`` with ``shuffle=False``) of three models, each a
median over repeats with the two libraries interleaved (printed ratio = course_lib's
time / tf.keras's; below 1.0 means course_lib is faster):

1. LSTM(64) -> Dense(1) on sequences of length 100 with 32 features, batch 64 (goal <= 1.0);
2. GRU(64) -> Dense(1), the same data (goal <= 1.0);
3. Embedding(10000, 32) -> LSTM(32) -> Dense(1, sigmoid) on token sequences of length 500,
   batch 64: the source documents' IMDB model (goal <= 1.5).

The two libraries start from the same weights (course_lib's model is made from the
Keras one through the bridge).

Usage: python benchmarks/bench_rnn.py [--samples N] [--repeats R]
"""
import argparse
import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np

import blas
from bench_cnn import interleaved


def sequence_model(keras_module, layer_name, seed):
    keras_module.utils.set_random_seed(seed)
    return keras_module.Sequential([
        keras_module.Input((100, 32)),
        getattr(keras_module.layers, layer_name)(64),
        keras_module.layers.Dense(1),
    ])


def imdb_model(keras_module, seed):
    keras_module.utils.set_random_seed(seed)
    layers = keras_module.layers
    return keras_module.Sequential([
        keras_module.Input((500,), dtype="int32"),
        layers.Embedding(10000, 32), layers.LSTM(32), layers.Dense(1, activation="sigmoid"),
    ])


def bench_epoch(label, make, x, y, loss, repeats, goal):
    import tensorflow as tf

    import course_lib as cl

    theirs = make(tf.keras)
    ours = cl.testing.from_keras(theirs)
    for model, optimizer in ((theirs, tf.keras.optimizers.Adam()), (ours, cl.optimizers.Adam())):
        model.compile(optimizer=optimizer, loss=loss)
        model.fit(x[:128], y[:128], batch_size=64, epochs=1, verbose=0)  # warm up (TF traces)

    def epoch(model):
        return lambda: model.fit(x, y, batch_size=64, epochs=1, shuffle=False, verbose=0)

    times = interleaved({"course_lib": epoch(ours), "tf.keras": epoch(theirs)}, repeats)
    ratio = times["course_lib"] / times["tf.keras"]
    print(f"{label}: course_lib {times['course_lib']:.3f} s, tf.keras {times['tf.keras']:.3f} s, "
          f"ratio {ratio:.2f} (goal <= {goal})")
    return ratio


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--samples", type=int, default=512)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", help="also write the ratios to this file")
    args = parser.parse_args()
    generator = np.random.default_rng(0)
    x = generator.standard_normal((args.samples, 100, 32), dtype=np.float32)
    y = generator.standard_normal((args.samples, 1), dtype=np.float32)
    tokens = generator.integers(1, 10000, (args.samples, 500)).astype("int32")
    labels = generator.integers(0, 2, (args.samples, 1)).astype("float32")
    ratios = {
        "lstm": bench_epoch(f"LSTM(64) epoch ({args.samples} x 100 x 32, batch 64)",
                            lambda k: sequence_model(k, "LSTM", 0), x, y, "mse", args.repeats, 1.0),
        "gru": bench_epoch(f"GRU(64) epoch ({args.samples} x 100 x 32, batch 64)",
                           lambda k: sequence_model(k, "GRU", 0), x, y, "mse", args.repeats, 1.0),
        "imdb": bench_epoch(f"Embedding(10000, 32) + LSTM(32) epoch ({args.samples} x 500 tokens, batch 64)",
                            lambda k: imdb_model(k, 0), tokens, labels, "binary_crossentropy", args.repeats, 1.5),
    }
    print(blas.describe())
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(ratios, handle, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
