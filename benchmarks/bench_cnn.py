"""Convolution speed: course_lib against tf.keras, measured in the same run.

Three measurements, each a median over repeats with the two libraries interleaved
(printed ratio = course_lib's time / tf.keras's; below 1.0 means course_lib is faster):

1. one training epoch of the small CNN of chapter 7 -- Conv2D(32, 3x3) -> MaxPooling2D ->
   Conv2D(64, 3x3) -> MaxPooling2D -> Flatten -> Dense(10) -- on 28x28x1 images, batch 128
   (goal <= 1.5);
2. Conv2D alone, forward and backward (input and kernel gradients), 32x32x64 -> 64
   filters, 3x3 'same', batch 32 (goal <= 1.5), with the GFLOP/s it reaches against
   NumPy's own matrix-product GFLOP/s on this machine, and the floor of an im2col design
   (its three products at that ceiling plus its column copies, each measured alone);
3. VGG16 forward (include_top=True, random weights), batch 8 at 224x224x3 (goal <= 2.0),
   each library in a child process of its own so that its peak resident memory can be
   reported (goal <= 3 GB for course_lib).

Usage: python benchmarks/bench_cnn.py [--samples N] [--repeats R] [--skip-vgg]
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np

import blas


def small_cnn(keras_module, seed):
    keras_module.utils.set_random_seed(seed)
    layers = keras_module.layers
    return keras_module.Sequential([
        keras_module.Input((28, 28, 1)),
        layers.Conv2D(32, 3, activation="relu"), layers.MaxPooling2D(),
        layers.Conv2D(64, 3, activation="relu"), layers.MaxPooling2D(),
        layers.Flatten(), layers.Dense(10, activation="softmax"),
    ])


def interleaved(runs, repeats):
    """Median seconds of each named callable, the callables taking turns."""
    times = {name: [] for name in runs}
    for _ in range(repeats):
        for name, run in runs.items():
            time.sleep(0.3)  # let the other library's spinning worker threads go idle
            start = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in times.items()}


def bench_epoch(samples, repeats):
    import tensorflow as tf
    import course_lib as cl

    generator = np.random.default_rng(0)
    x = generator.random((samples, 28, 28, 1), dtype=np.float32)
    y = generator.integers(0, 10, samples)
    theirs = small_cnn(tf.keras, 0)
    ours = cl.testing.from_keras(theirs)
    for model, optimizer in ((theirs, tf.keras.optimizers.Adam()), (ours, cl.optimizers.Adam())):
        model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy")
        model.fit(x[:256], y[:256], batch_size=128, epochs=1, verbose=0)  # warm up (TF traces)

    def epoch(model):
        return lambda: model.fit(x, y, batch_size=128, epochs=1, shuffle=False, verbose=0)

    times = interleaved({"course_lib": epoch(ours), "tf.keras": epoch(theirs)}, repeats)
    ratio = times["course_lib"] / times["tf.keras"]
    print(f"small CNN epoch ({samples} images 28x28x1, batch 128): course_lib {times['course_lib']:.3f} s, "
          f"tf.keras {times['tf.keras']:.3f} s, ratio {ratio:.2f} (goal <= 1.5)")
    return ratio


def matmul_gflops(repeats):
    """NumPy's GFLOP/s on the convolution's product, the best of two ways to run it.

    The whole (32768, 576) @ (576, 64) product at once, and the same rows in the
    pieces course_lib multiplies (one piece's columns, fresh in the cache, as
    after im2col): the ceiling is the faster of the two.
    """
    from course_lib.ops import conv

    generator = np.random.default_rng(1)
    rows = 32 * 32 * 32
    a = generator.standard_normal((rows, 576), dtype=np.float32)
    b = generator.standard_normal((576, 64), dtype=np.float32)
    pieces = conv._pieces(32, (32, 32), 576 * 4)
    piece_rows = (pieces[0][0].stop - pieces[0][0].start) * (pieces[0][1].stop - pieces[0][1].start) * 32
    piece, out = a[:piece_rows].copy(), np.empty((piece_rows, 64), np.float32)

    def in_pieces():
        for _ in range(rows // piece_rows):
            np.matmul(piece, b, out=out)

    best = {}
    for name, run in (("whole", lambda: a @ b), ("pieces", in_pieces)):
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            run()
            times.append(time.perf_counter() - start)
        best[name] = 2 * rows * 576 * 64 / statistics.median(times) / 1e9
    return max(best.values())


def bench_conv(repeats):
    import tensorflow as tf
    from course_lib.ops import conv_backward, conv_forward

    generator = np.random.default_rng(2)
    x = generator.standard_normal((32, 32, 32, 64), dtype=np.float32)
    kernel = generator.standard_normal((3, 3, 64, 64), dtype=np.float32)
    dy = generator.standard_normal((32, 32, 32, 64), dtype=np.float32)

    def ours():
        _, cache = conv_forward(x, kernel, None, 1, "same")
        conv_backward(dy, cache)

    x_t, kernel_t, dy_t = tf.constant(x), tf.Variable(kernel), tf.constant(dy)

    @tf.function
    def theirs_graph():
        with tf.GradientTape() as tape:
            tape.watch(x_t)
            y = tf.nn.conv2d(x_t, kernel_t, 1, "SAME")
        return tape.gradient(y, [x_t, kernel_t], output_gradients=dy_t)

    def theirs():
        [g.numpy() for g in theirs_graph()]  # the values, not only the launch

    def column_copies():
        """The copies alone, as course_lib makes them: the padded input and upstream gradient, the
        forward's columns, their remake for the kernel gradient, and the upstream gradient's for dx."""
        from course_lib.ops import conv

        x_pad, dy_pad = conv._pad(x, [(1, 1), (1, 1)]), conv._pad(dy, [(1, 1), (1, 1)])
        for source in (x_pad, x_pad, dy_pad):
            for _ in conv._each_piece(source, kernel, (32, 32), (1, 1), (1, 1), 1):
                pass

    ours(), theirs()
    times = interleaved({"course_lib": ours, "tf.keras": theirs, "copies": column_copies}, repeats)
    flops = 3 * 2 * 32 * 32 * 32 * 576 * 64  # forward, kernel gradient, input gradient: one product each
    ceiling = matmul_gflops(repeats)
    reached = flops / times["course_lib"] / 1e9
    ratio = times["course_lib"] / times["tf.keras"]
    products = flops / ceiling / 1e9
    print(f"Conv2D 32x32x64 -> 64, 3x3 same, batch 32, forward + backward: course_lib "
          f"{times['course_lib'] * 1e3:.1f} ms, tf.keras {times['tf.keras'] * 1e3:.1f} ms, ratio {ratio:.2f} "
          f"(goal <= 1.5); course_lib reaches {reached:.0f} GFLOP/s, NumPy's matrix product "
          f"{ceiling:.0f} GFLOP/s on the same product: {100 * reached / ceiling:.0f}% of the ceiling; "
          f"tf.keras reaches {flops / times['tf.keras'] / 1e9:.0f} GFLOP/s. The floor of an im2col design "
          f"on this NumPy: the three products at the ceiling ({products * 1e3:.1f} ms, ratio "
          f"{products / times['tf.keras']:.2f}) plus its column copies alone ({times['copies'] * 1e3:.1f} ms): "
          f"ratio {(products + times['copies']) / times['tf.keras']:.2f}")
    return ratio


_VGG_CHILD = """
import json, os, resource, sys, time
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
import numpy as np
library, repeats = sys.argv[1], int(sys.argv[2])
x = np.random.default_rng(0).uniform(0, 255, (8, 224, 224, 3)).astype("float32")
if library == "course_lib":
    import course_lib as cl
    model = cl.applications.VGG16(weights=None)
else:
    import tensorflow as tf
    model = tf.keras.applications.VGG16(weights=None)
model.predict(x, batch_size=8, verbose=0)
times = []
for _ in range(repeats):
    start = time.perf_counter()
    model.predict(x, batch_size=8, verbose=0)
    times.append(time.perf_counter() - start)
times.sort()
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # kB -> GB
print(json.dumps({"seconds": times[len(times) // 2], "peak_gb": peak}))
"""


def bench_vgg(repeats):
    results = {}
    for library in ("course_lib", "tf.keras"):
        output = subprocess.run([sys.executable, "-c", _VGG_CHILD, library, str(repeats)], check=True,
                                capture_output=True, text=True).stdout
        results[library] = json.loads(output.strip().splitlines()[-1])
    ratio = results["course_lib"]["seconds"] / results["tf.keras"]["seconds"]
    print(f"VGG16 forward, batch 8 at 224x224x3: course_lib {results['course_lib']['seconds']:.2f} s "
          f"(peak resident memory {results['course_lib']['peak_gb']:.2f} GB, goal <= 3), tf.keras "
          f"{results['tf.keras']['seconds']:.2f} s ({results['tf.keras']['peak_gb']:.2f} GB), "
          f"ratio {ratio:.2f} (goal <= 2.0)")
    return ratio


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=2048)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--skip-vgg", action="store_true", help="skip the VGG16 measurement (about a minute)")
    arguments = parser.parse_args()
    bench_epoch(arguments.samples, arguments.repeats)
    bench_conv(arguments.repeats)
    if not arguments.skip_vgg:
        bench_vgg(max(2, arguments.repeats // 2))
    print(blas.describe())


if __name__ == "__main__":
    main()
