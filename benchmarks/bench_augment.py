"""Augmentation speed: course_lib's ImageDataGenerator against Keras's, measured in the same run.

One pass of ``flow(x, y, batch_size=32)`` over 1,000 images of 150x150x3
with the source documents' settings (rotation_range=40, width_shift_range=0.2,
height_shift_range=0.2, shear_range=0.2, zoom_range=0.2, horizontal_flip=True,
fill_mode="nearest", rescale=1/255), every batch built. Keras transforms one
image at a time through ``scipy.ndimage.affine_transform`` (per channel);
course_lib draws the same parameters and warps each batch at once with
NumPy gathers. A median over repeats, the two libraries interleaved; the
printed ratio is course_lib's time / Keras's (goal <= 1.0). Both use the same
seed, so they build the same batches (checked once, to the parity tests'
tolerance, before timing).

Usage: python benchmarks/bench_augment.py [--samples N] [--repeats R] [--json FILE]
"""
import argparse
import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np

from bench_cnn import interleaved

SETTINGS = {"rotation_range": 40, "width_shift_range": 0.2, "height_shift_range": 0.2, "shear_range": 0.2,
            "zoom_range": 0.2, "horizontal_flip": True, "fill_mode": "nearest", "rescale": 1 / 255}


def one_pass(generator, x, y):
    """Build every batch of one epoch of ``generator.flow(x, y, batch_size=32)``."""
    def run():
        iterator = generator.flow(x, y, batch_size=32, seed=0)
        for index in range(len(iterator)):
            iterator[index]
    return run


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--samples", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--json", help="also write the ratio to this file")
    args = parser.parse_args()

    import tensorflow as tf

    from course_lib.preprocessing.image import ImageDataGenerator

    generator = np.random.default_rng(0)
    x = (generator.random((args.samples, 150, 150, 3)) * 255).astype("float32")
    y = generator.integers(0, 2, args.samples)
    theirs, ours = tf.keras.preprocessing.image.ImageDataGenerator(**SETTINGS), ImageDataGenerator(**SETTINGS)
    expected, received = theirs.flow(x, y, batch_size=32, seed=0)[0], ours.flow(x, y, batch_size=32, seed=0)[0]
    worst = float(np.abs(expected[0] - received[0]).max())
    if worst > 2.5e-7 or not np.array_equal(expected[1], received[1]):
        raise SystemExit(f"bench_augment: the two libraries built different batches (worst difference {worst:.3g})")

    times = interleaved({"course_lib": one_pass(ours, x, y), "keras": one_pass(theirs, x, y)}, args.repeats)
    ratio = times["course_lib"] / times["keras"]
    print(f"ImageDataGenerator.flow, {args.samples} images 150x150x3, batch 32 (rotation, shifts, shear, zoom, flip): "
          f"course_lib {times['course_lib']:.3f} s, Keras {times['keras']:.3f} s, ratio {ratio:.2f} (goal <= 1.0)")
    if args.json:
        with open(args.json, "w") as handle:
            json.dump({"augment": ratio}, handle, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
