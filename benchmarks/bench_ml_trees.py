"""Speed of course_lib.ml's trees and ensembles against scikit-learn, measured in the same run.

Each line is a median over repeats of one ``fit``, the two libraries taking
turns on the same data with the same hyper-parameters; the printed ratio is
course_lib's time over scikit-learn's (below 1.0 means course_lib is faster),
with its goal beside it:

1. DecisionTreeClassifier, digits (1797 x 64, 10 classes), grown to purity
   (goal <= 5);
2. RandomForestClassifier, 100 trees, digits, ``n_jobs=None`` for both: one
   core (goal <= 5);
3. for information, no goal: GradientBoostingClassifier (100 stages of depth
   3) on breast_cancer, GradientBoostingRegressor on diabetes, C4.5 on iris
   against scikit-learn's CART.

Wall-clock and process (CPU) time are both printed: on a machine shared with
other work the CPU time is the steadier of the two.

Usage: python benchmarks/bench_ml_trees.py [--repeats R]
"""
import argparse
import statistics
import time

from sklearn import ensemble, tree
from sklearn.datasets import load_breast_cancer, load_diabetes, load_digits, load_iris

from course_lib.ml.ensemble import GradientBoostingClassifier, GradientBoostingRegressor, RandomForestClassifier
from course_lib.ml.tree import C45Classifier, DecisionTreeClassifier


def interleaved(runs, repeats):
    """Median wall and CPU seconds of each named callable, the callables taking turns."""
    wall = {name: [] for name in runs}
    cpu = {name: [] for name in runs}
    for _ in range(repeats):
        for name, run in runs.items():
            start_wall, start_cpu = time.perf_counter(), time.process_time()
            run()
            wall[name].append(time.perf_counter() - start_wall)
            cpu[name].append(time.process_time() - start_cpu)
    return (
        {name: statistics.median(values) for name, values in wall.items()},
        {name: statistics.median(values) for name, values in cpu.items()},
    )


def report(label, runs, repeats, goal):
    for name, run in runs.items():
        run()  # warm up (imports, caches)
    wall, cpu = interleaved(runs, repeats)
    ratio, cpu_ratio = wall["ours"] / wall["theirs"], cpu["ours"] / cpu["theirs"]
    goal_text = f"goal <= {goal}" if goal is not None else "no goal"
    verdict = "" if goal is None else ("  ok" if ratio <= goal else "  MISSED")
    print(
        f"{label}: course_lib {wall['ours'] * 1e3:8.1f} ms, scikit-learn {wall['theirs'] * 1e3:8.1f} ms, "
        f"course_lib / scikit-learn {ratio:5.2f} (CPU time {cpu_ratio:5.2f}) ({goal_text}){verdict}"
    )
    return ratio


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=9)
    repeats = parser.parse_args().repeats

    X, y = load_digits(return_X_y=True)
    ours = DecisionTreeClassifier(random_state=0).fit(X, y)
    theirs = tree.DecisionTreeClassifier(random_state=0).fit(X, y)
    assert ours.score(X, y) == theirs.score(X, y) == 1.0  # the same work: both grown to purity
    report("CART fit, digits                      ", {
        "ours": lambda: DecisionTreeClassifier(random_state=0).fit(X, y),
        "theirs": lambda: tree.DecisionTreeClassifier(random_state=0).fit(X, y),
    }, repeats, 5)
    report("Random forest fit, 100 trees, digits  ", {
        "ours": lambda: RandomForestClassifier(n_estimators=100, random_state=0).fit(X, y),
        "theirs": lambda: ensemble.RandomForestClassifier(n_estimators=100, random_state=0).fit(X, y),
    }, max(3, repeats // 3), 5)

    X, y = load_breast_cancer(return_X_y=True)
    report("Gradient boosting fit, breast_cancer  ", {
        "ours": lambda: GradientBoostingClassifier(random_state=0).fit(X, y),
        "theirs": lambda: ensemble.GradientBoostingClassifier(random_state=0).fit(X, y),
    }, max(3, repeats // 3), None)
    X, y = load_diabetes(return_X_y=True)
    report("Gradient boosting fit, diabetes       ", {
        "ours": lambda: GradientBoostingRegressor(random_state=0).fit(X, y),
        "theirs": lambda: ensemble.GradientBoostingRegressor(random_state=0).fit(X, y),
    }, max(3, repeats // 3), None)
    X, y = load_iris(return_X_y=True)
    report("C4.5 fit vs CART fit, iris            ", {
        "ours": lambda: C45Classifier().fit(X, y),
        "theirs": lambda: tree.DecisionTreeClassifier(random_state=0).fit(X, y),
    }, repeats, None)


if __name__ == "__main__":
    main()
