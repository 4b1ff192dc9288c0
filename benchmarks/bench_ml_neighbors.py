"""Speed of course_lib.ml's instance, Bayesian and kernel methods against scikit-learn, in the same run.

Each line is a median over repeats, the two libraries taking turns, of the same
work on the same data; the printed ratio is course_lib's time over scikit-learn's
(below 1.0 means course_lib is faster), with its goal beside it:

1. k-NN prediction on digits (k=5, fit on 1347 images, predict 450), against
   scikit-learn's brute search (goal <= 2) and against its default
   ``algorithm="auto"`` (goal <= 2), uniform and distance weights;
2. for information, no goal: SVC fit on scaled breast_cancer (SMO in Python
   against libsvm in C++), GaussianNB and LDA fit + predict on digits.

On a machine shared with other jobs the libraries' worker threads fight for the
cores; ``--single-thread`` limits BLAS and OpenMP to one thread each (threadpoolctl),
which gives steadier ratios.

Usage: python benchmarks/bench_ml_neighbors.py [--repeats R] [--single-thread]
"""
import argparse
import statistics
import time
import warnings

from sklearn import discriminant_analysis, naive_bayes, neighbors, svm
from sklearn.datasets import load_breast_cancer, load_digits
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from course_lib.ml.discriminant import LinearDiscriminantAnalysis
from course_lib.ml.naive_bayes import GaussianNB
from course_lib.ml.neighbors import KNeighborsClassifier
from course_lib.ml.svm import SVC


def interleaved(runs, repeats, calls):
    """Median seconds per call of each named callable, the callables taking turns."""
    times = {name: [] for name in runs}
    for _ in range(repeats):
        for name, run in runs.items():
            time.sleep(0.05)  # let the other library's worker threads go idle
            start = time.perf_counter()
            for _ in range(calls):
                run()
            times[name].append((time.perf_counter() - start) / calls)
    return {name: statistics.median(values) for name, values in times.items()}


def report(label, ours, theirs, goal):
    ratio = ours / theirs
    goal_text = f"goal <= {goal}" if goal is not None else "no goal"
    verdict = "" if goal is None else ("  ok" if ratio <= goal else "  MISSED")
    print(f"{label}: course_lib {ours * 1e3:.2f} ms, scikit-learn {theirs * 1e3:.2f} ms, "
          f"ratio {ratio:.2f} ({goal_text}){verdict}")
    return ratio


def bench_knn(repeats):
    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, _ = train_test_split(X, y, test_size=0.25, random_state=0)
    for weights in ("uniform", "distance"):
        ours = KNeighborsClassifier(n_neighbors=5, weights=weights).fit(X_train, y_train)
        brute = neighbors.KNeighborsClassifier(n_neighbors=5, weights=weights, algorithm="brute").fit(X_train, y_train)
        default = neighbors.KNeighborsClassifier(n_neighbors=5, weights=weights).fit(X_train, y_train)
        for model in (ours, brute, default):
            model.predict(X_test)  # warm up
        times = interleaved({"ours": lambda: ours.predict(X_test), "brute": lambda: brute.predict(X_test),
                             "default": lambda: default.predict(X_test)}, repeats, calls=10)
        report(f"k-NN predict, digits k=5 {weights:8s} vs brute        ", times["ours"], times["brute"], 2)
        report(f"k-NN predict, digits k=5 {weights:8s} vs default ({default._fit_method})",
               times["ours"], times["default"], 2)


def bench_others(repeats):
    X, y = load_breast_cancer(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    times = interleaved({"ours": lambda: SVC().fit(X, y), "theirs": lambda: svm.SVC().fit(X, y)}, repeats, calls=1)
    report("SVC(rbf) fit, breast_cancer scaled             ", times["ours"], times["theirs"], None)
    X, y = load_digits(return_X_y=True)
    for label, ours, theirs in (
        ("GaussianNB fit + predict, digits               ", GaussianNB(), naive_bayes.GaussianNB()),
        ("LDA (svd) fit + predict, digits                ", LinearDiscriminantAnalysis(),
         discriminant_analysis.LinearDiscriminantAnalysis()),
    ):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # digits has constant pixels: collinear-variables warnings
            times = interleaved({"ours": lambda: ours.fit(X, y).predict(X),
                                 "theirs": lambda: theirs.fit(X, y).predict(X)}, repeats, calls=3)
        report(label, times["ours"], times["theirs"], None)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--single-thread", action="store_true", help="one BLAS / OpenMP thread for both")
    args = parser.parse_args()
    with threadpool_limits(limits=1 if args.single_thread else None):
        bench_knn(args.repeats)
        bench_others(max(3, args.repeats // 3))


if __name__ == "__main__":
    main()
