"""One training epoch of a 784-256-10 MLP (batch 128): course_lib against tf.keras.

Both run in the same process on the same data with the same starting weights;
each is warmed up once (TensorFlow traces its graph), then the two are timed
epoch by epoch, interleaved. The printed ratio is course_lib's median time over tf.keras's: below
1.0 means course_lib is faster.

It also prints the share of the machine's ceiling that course_lib's step
reaches: the time NumPy itself needs for the step's five matrix products
(forward x@W1 and h@W2; backward h.T@d2, d2@W2.T and x.T@dh; the first
layer's input gradient is never needed), measured in the same run, over the
time of course_lib's whole step. The rest of the step is element-wise work
(activations, the loss, Adam) and Python. The same share for the step written
by hand in NumPy shows how much of that rest NumPy itself needs.

Usage: python benchmarks/bench_mlp.py [--samples N] [--repeats R]
"""
import argparse
import os
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np

import blas


def build(keras_module, seed):
    keras_module.utils.set_random_seed(seed)
    return keras_module.Sequential([
        keras_module.Input((784,)),
        keras_module.layers.Dense(256, activation="relu"),
        keras_module.layers.Dense(10, activation="softmax"),
    ])


def time_epoch(model, x, y):
    # Let the other library's worker threads, which spin for a while after
    # their last task, go idle first: otherwise they steal this run's cores.
    time.sleep(0.5)
    start = time.perf_counter()
    model.fit(x, y, batch_size=128, epochs=1, shuffle=False, verbose=0)
    return time.perf_counter() - start


class HandWrittenStep:
    """The same training step written directly in NumPy, as lean as NumPy allows.

    Forward, softmax cross-entropy from the logits, backward (no input
    gradient for the first layer) and Adam with Keras's formula, updated in
    place. It is the floor for any NumPy library on this machine: what is
    left between it and the matrix products is NumPy's own element-wise work.

    It repeats the arithmetic of course_lib's loss, Dense backward and
    ``course_lib.optimizers.Adam`` on purpose instead of calling them: a floor
    must not share code with what it measures, or a slowdown in course_lib
    would lower the floor with it and the printed share would not show it.
    ``check_same_training`` makes sure it does the same work: ten steps from
    the same start end at course_lib's weights.
    """

    def __init__(self, weights, beta_1=0.9, beta_2=0.999, learning_rate=1e-3):
        self.weights = [np.array(w) for w in weights]
        self.moments = [(np.zeros_like(w), np.zeros_like(w)) for w in self.weights]
        self.beta_1, self.beta_2 = np.float32(beta_1), np.float32(beta_2)
        self.learning_rate, self.iterations = np.float32(learning_rate), 0

    def step(self, x, labels):
        w1, b1, w2, b2 = self.weights
        z1 = x @ w1
        z1 += b1
        h = np.maximum(z1, 0)
        z2 = h @ w2
        z2 += b2
        shifted = z2 - z2.max(axis=1, keepdims=True)
        exp = np.exp(shifted)
        d2 = exp / exp.sum(axis=1, keepdims=True)
        rows = np.arange(len(labels))
        loss = float(np.log(exp.sum(axis=1)).mean() - shifted[rows, labels].mean())
        d2[rows, labels] -= 1
        d2 /= len(labels)
        dh = d2 @ w2.T
        dh *= z1 > 0
        grads = [x.T @ dh, dh.sum(axis=0), h.T @ d2, d2.sum(axis=0)]
        self.iterations += 1
        step = np.float32(self.iterations)
        alpha = (self.learning_rate * np.sqrt(1 - self.beta_2 ** step)
                 / (1 - self.beta_1 ** step))
        for g, w, (m, v) in zip(grads, self.weights, self.moments):
            step_m = np.subtract(g, m)
            step_m *= 1 - self.beta_1
            m += step_m
            step_v = np.square(g)
            step_v -= v
            step_v *= 1 - self.beta_2
            v += step_v
            denominator = np.sqrt(v, out=step_v)
            denominator += np.float32(1e-7)
            update = np.multiply(m, alpha, out=step_m)
            update /= denominator
            w -= update
        return loss

    def fit(self, x, y, batch_size=128, epochs=1, **_):
        for start in range(0, len(x), batch_size):
            self.step(x[start:start + batch_size], y[start:start + batch_size])


def check_same_training(model, x, y):
    """Ten steps from the same start: the hand-written step must end at course_lib's weights.

    Short on purpose: on these random labels Adam amplifies float32 rounding
    over a whole epoch (the weights then differ by ~1e-2 for no fault).
    """
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    hand = HandWrittenStep(model.get_weights())
    for trainer in (model, hand):
        trainer.fit(x, y, batch_size=128, epochs=1, shuffle=False, verbose=0)
    gap = max(float(np.max(np.abs(a - b))) for a, b in zip(hand.weights, model.get_weights()))
    if gap > 1e-4:  # float32 rounding leaves ~1e-6; a wrong or skipped update leaves ~1e-2
        raise SystemExit(f"the hand-written step does not train as course_lib does: weights differ by {gap:.1e}")


def matmul_ceiling(batch, repeats, generator):
    """Median seconds NumPy takes for the step's five matrix products, and their FLOPs."""
    def array(*shape):
        return generator.random(shape, dtype=np.float32)

    x, w1, w2 = array(batch, 784), array(784, 256), array(256, 10)
    h, d2, dh = array(batch, 256), array(batch, 10), array(batch, 256)
    products = [(x, w1), (h, w2), (h.T, d2), (d2, w2.T), (x.T, dh)]
    flops = sum(2 * a.shape[0] * a.shape[1] * b.shape[1] for a, b in products)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(50):
            for a, b in products:
                a @ b
        times.append((time.perf_counter() - start) / 50)
    return statistics.median(times), flops


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=12800)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    import tensorflow as tf

    import course_lib as cl
    from course_lib.testing import from_keras

    generator = np.random.default_rng(0)
    x = generator.random((args.samples, 784), dtype=np.float32)
    y = generator.integers(0, 10, args.samples)

    keras_model = build(tf.keras, seed=0)
    ours = from_keras(keras_model)
    keras_model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    ours.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])

    hand = HandWrittenStep(ours.get_weights())

    check_same_training(from_keras(keras_model), x[:1280], y[:1280])
    for model in (ours, keras_model, hand):  # warm-up: TensorFlow traces its graph here
        model.fit(x, y, batch_size=128, epochs=1, shuffle=False, verbose=0)
    our_times, keras_times, hand_times = [], [], []
    for _ in range(args.repeats):  # interleaved, so that load changes hit all alike
        our_times.append(time_epoch(ours, x, y))
        keras_times.append(time_epoch(keras_model, x, y))
        hand_times.append(time_epoch(hand, x, y))
    keras_median, our_median = statistics.median(keras_times), statistics.median(our_times)
    hand_median = statistics.median(hand_times)
    steps = -(-args.samples // 128)
    time.sleep(0.5)
    matmul_seconds, flops = matmul_ceiling(128, args.repeats, generator)
    print(f"MLP 784-256-10, batch 128, {args.samples} samples ({steps} steps), Adam, median of {args.repeats}")
    print(f"  tf.keras   {keras_median * 1000:8.1f} ms/epoch  ({keras_median / steps * 1e3:.2f} ms/step)")
    print(f"  course_lib {our_median * 1000:8.1f} ms/epoch  ({our_median / steps * 1e3:.2f} ms/step)")
    print(f"  ratio course_lib / tf.keras = {our_median / keras_median:.2f}  (target <= 1.0)")
    step = our_median / steps
    print(f"  NumPy matrix products alone: {matmul_seconds * 1e3:.3f} ms/step "
          f"({flops / 1e6:.1f} MFLOP at {flops / matmul_seconds / 1e9:.0f} GFLOP/s)")
    print(f"  share of the ceiling: {matmul_seconds / step:.0%} of course_lib's step is matrix products "
          "(the rest: element-wise work and Python)")
    hand_step = hand_median / steps
    print(f"  hand-written NumPy step: {hand_step * 1e3:.2f} ms/step, {matmul_seconds / hand_step:.0%} "
          f"of the ceiling; course_lib / hand-written = {our_median / hand_median:.2f}")
    print(f"  tensorflow {tf.__version__}, course_lib {cl.__version__}; {blas.describe()}")


if __name__ == "__main__":
    main()
