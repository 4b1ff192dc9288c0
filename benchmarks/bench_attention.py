"""MultiHeadAttention speed: course_lib against tf.keras, measured in the same run.

Self-attention ``MultiHeadAttention(num_heads=8, key_dim=64)(x, x)`` on ``x`` of
shape (32, 128, 512), float32: one forward pass and one backward pass (the
gradients of ``sum(y * dy)`` with respect to ``x`` and the eight weights).
tf.keras runs it in a ``tf.function`` around a ``GradientTape`` (traced once in the
warm-up, as ``fit`` runs its steps); the eager tape is printed too. Each time is a
median over repeats with the libraries interleaved (printed ratio = course_lib's
time / tf.keras's; below 1.0 means course_lib is faster). Goal: <= 1.5.

The two layers hold the same weights (course_lib's are copied from Keras's).

Both spend their time in matrix products: course_lib in NumPy's BLAS, tf.keras in oneDNN;
the last line names the kernels NumPy ran (see ``blas.py``).

Usage: python benchmarks/bench_attention.py [--repeats R] [--batch N]
"""
import argparse
import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np

import blas
from bench_cnn import interleaved

HEADS, KEY_DIM, STEPS, MODEL_DIM = 8, 64, 128, 512


def bench_attention(batch, repeats, goal=1.5):
    import tensorflow as tf

    import course_lib as cl

    generator = np.random.default_rng(0)
    x = generator.standard_normal((batch, STEPS, MODEL_DIM), dtype=np.float32)
    dy = generator.standard_normal((batch, STEPS, MODEL_DIM), dtype=np.float32)
    theirs = tf.keras.layers.MultiHeadAttention(HEADS, KEY_DIM)
    ours = cl.layers.MultiHeadAttention(HEADS, KEY_DIM)
    theirs(x, x)
    ours(x, x)
    ours.set_weights(theirs.get_weights())
    x_tensor, dy_tensor = tf.constant(x), tf.constant(dy)

    def keras_step():
        with tf.GradientTape() as tape:
            tape.watch(x_tensor)
            y = theirs(x_tensor, x_tensor)
        return tape.gradient(y, [x_tensor] + theirs.trainable_weights, output_gradients=dy_tensor)

    compiled = tf.function(keras_step)

    def course_step():
        ours(x, x)
        return ours.backward(dy)

    for run in (compiled, keras_step, course_step):  # warm up (TF traces the function)
        run()
    ours_dx, ours_grads = course_step(), dict(ours.grads)
    keras_grads = compiled()
    difference = float(np.abs(ours_dx[0] + ours_dx[1] - keras_grads[0].numpy()).max())

    def timed(run):
        return lambda: [np.asarray(g) for g in run()]  # the arrays really computed

    tokens, value_dim = batch * STEPS, KEY_DIM
    weights = generator.standard_normal((MODEL_DIM, HEADS * KEY_DIM), dtype=np.float32)
    scores = generator.standard_normal((batch, HEADS, STEPS, STEPS), dtype=np.float32)
    per_head = generator.standard_normal((batch, HEADS, STEPS, KEY_DIM), dtype=np.float32)
    times = interleaved({"course_lib": timed(course_step), "tf.keras": timed(compiled),
                         "tf.keras eager": timed(keras_step),
                         # NumPy's own rate on the step's two kinds of product, for the ceiling below.
                         "projection": lambda: x.reshape(tokens, MODEL_DIM) @ weights,
                         "per-head": lambda: scores @ per_head}, repeats)
    ratio = times["course_lib"] / times["tf.keras"]
    eager_ratio = times["course_lib"] / times["tf.keras eager"]
    print(f"MultiHeadAttention({HEADS}, {KEY_DIM}) self-attention forward+backward, x {batch}x{STEPS}x{MODEL_DIM}: "
          f"course_lib {times['course_lib']:.3f} s, tf.keras (tf.function) {times['tf.keras']:.3f} s, "
          f"ratio {ratio:.2f} (goal <= {goal}); tf.keras eager {times['tf.keras eager']:.3f} s, "
          f"ratio {eager_ratio:.2f}; "
          f"max |dx difference| {difference:.1e}, {len(ours_grads)} weight gradients")
    # The step's matrix products: four projections (query, key, value, output) forward and two
    # each backward (weights and input), and per head q.k^T, a.v forward and four backward.
    projection_flops = 2 * tokens * MODEL_DIM * HEADS * KEY_DIM
    per_head_flops = 2 * batch * HEADS * STEPS * STEPS * value_dim
    floor = 12 * times["projection"] + 6 * times["per-head"]
    rate = (12 * projection_flops + 6 * per_head_flops) / times["course_lib"] / 1e9
    print(f"ceiling: NumPy needs {floor:.3f} s for the step's matrix products alone "
          f"({projection_flops / times['projection'] / 1e9:.0f} GFLOP/s on a projection); "
          f"course_lib's step runs at {rate:.0f} GFLOP/s, {floor / times['course_lib']:.0%} of that ceiling")
    return ratio, eager_ratio


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--json", help="also write the ratios to this file")
    args = parser.parse_args()
    ratio, eager_ratio = bench_attention(args.batch, args.repeats)
    print(blas.describe())
    if args.json:
        with open(args.json, "w") as handle:
            json.dump({"mha": ratio, "mha_eager": eager_ratio}, handle, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
