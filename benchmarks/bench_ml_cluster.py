"""Speed of course_lib.ml's clustering, semi-supervised and neural-network estimators against scikit-learn.

Each line is a median over repeats, the two libraries taking turns, of the same
work on the same data; the printed ratio is course_lib's time over scikit-learn's
(below 1.0 means course_lib is faster), with its goal beside it:

1. KMeans fit on digits, k=10, n_init=10, k-means++, against scikit-learn's
   ``algorithm="lloyd"`` (goal <= 2). The same seed gives both libraries the
   same starts and so the same number of Lloyd iterations: the ratio compares
   equal work. Printed with the default threads, and with both libraries held
   to one thread (scikit-learn's OpenMP loop and both BLAS calls), which is
   steadier on a shared machine.
2. For information, no goal: AgglomerativeClustering (Ward) on digits (a
   Python loop over merges against scipy's C), LabelSpreading on digits, and
   the neural-network classifier against MLPClassifier (30 epochs on digits).

Usage: python benchmarks/bench_ml_cluster.py [--repeats R]
"""
import argparse
import statistics
import time
import warnings

import numpy as np
from sklearn import cluster, neural_network, semi_supervised
from sklearn.datasets import load_digits
from threadpoolctl import threadpool_limits

from course_lib.ml.cluster import AgglomerativeClustering, KMeans
from course_lib.ml.neural_network import NeuralNetworkClassifier
from course_lib.ml.semi_supervised import LabelSpreading


def interleaved(runs, repeats):
    """Median seconds of each named callable, the callables taking turns."""
    times = {name: [] for name in runs}
    for _ in range(repeats):
        for name, run in runs.items():
            time.sleep(0.05)  # let the other library's worker threads go idle
            start = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in times.items()}


def report(label, times, goal):
    ratio = times["ours"] / times["theirs"]
    goal_text = f"goal <= {goal}" if goal is not None else "no goal"
    verdict = "" if goal is None else ("  ok" if ratio <= goal else "  MISSED")
    print(f"{label}: course_lib {times['ours'] * 1e3:8.1f} ms, scikit-learn {times['theirs'] * 1e3:8.1f} ms, "
          f"course_lib / scikit-learn {ratio:5.2f} ({goal_text}){verdict}")
    return ratio


def bench_kmeans(repeats):
    X = load_digits().data
    runs = {
        "ours": lambda: KMeans(10, n_init=10, random_state=0).fit(X),
        "theirs": lambda: cluster.KMeans(10, n_init=10, random_state=0, algorithm="lloyd").fit(X),
    }
    ours, theirs = runs["ours"](), runs["theirs"]()  # warm up, and check the work is the same
    assert np.isclose(ours.inertia_, theirs.inertia_, rtol=1e-8) and ours.n_iter_ == theirs.n_iter_
    report("KMeans fit, digits k=10 n_init=10           ", interleaved(runs, repeats), 2)
    with threadpool_limits(limits=1):
        report("KMeans fit, digits k=10 n_init=10, 1 thread ", interleaved(runs, repeats), 2)


def bench_others(repeats):
    X, y = load_digits(return_X_y=True)
    report("Agglomerative ward fit, digits              ", interleaved({
        "ours": lambda: AgglomerativeClustering(10).fit(X),
        "theirs": lambda: cluster.AgglomerativeClustering(10).fit(X),
    }, max(3, repeats // 3)), None)
    partial = y.copy()
    partial[np.random.RandomState(0).rand(len(y)) < 0.7] = -1
    report("LabelSpreading knn fit, digits 70% hidden   ", interleaved({
        "ours": lambda: LabelSpreading(kernel="knn").fit(X, partial),
        "theirs": lambda: semi_supervised.LabelSpreading(kernel="knn").fit(X, partial),
    }, max(3, repeats // 3)), None)
    X = X / 16.0

    def sklearn_mlp():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            neural_network.MLPClassifier((32,), max_iter=30, batch_size=32, alpha=0.0, n_iter_no_change=30,
                                         random_state=0).fit(X, y)

    report("NN classifier fit, digits 30 epochs         ", interleaved({
        "ours": lambda: NeuralNetworkClassifier((32,), epochs=30, random_state=0).fit(X, y),
        "theirs": sklearn_mlp,
    }, max(3, repeats // 3)), None)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args()
    bench_kmeans(args.repeats)
    bench_others(args.repeats)


if __name__ == "__main__":
    main()
