"""Fit time of course_lib.ml's linear models against scikit-learn, in the same run.

Each line is a median over repeats, the two libraries taking turns, of the
same fit on the same data; the ratio is course_lib's time over scikit-learn's
(below 1.0 means course_lib is faster), with its goal beside it:

1. LogisticRegression on digits, 10 classes (multinomial), raw pixels, C=1,
   both at their defaults (``tol=1e-4``, ``max_iter=100``): our Newton-CG
   against scikit-learn's default L-BFGS (goal <= 2), and for information
   against its Newton-CG. The objective each one reaches is printed too:
   L-BFGS stops at ``max_iter`` here, short of the optimum;
2. Ridge and Lasso on diabetes at their defaults (``alpha=1``), goal <= 2;
3. for information, no goal: Lasso at smaller alphas (more sweeps of the
   Python coordinate loop), ElasticNet, LinearRegression and a 100-alpha
   lasso path.

Both libraries are held to one BLAS thread (threadpoolctl), so that the
ratio compares the algorithms rather than how each competes for the cores of
a shared machine; ``--threads N`` changes that.

Usage: python benchmarks/bench_ml_linear.py [--repeats R] [--threads N]
"""
import argparse
import statistics
import time
import warnings

import numpy as np
from sklearn import linear_model as sk
from sklearn.datasets import load_diabetes, load_digits
from sklearn.exceptions import ConvergenceWarning
from threadpoolctl import threadpool_limits

from course_lib.ml.linear import (
    ElasticNet,
    Lasso,
    LinearRegression,
    LogisticRegression,
    Ridge,
    lasso_path,
    logistic_loss_gradient,
)


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
    print(f"{label}: course_lib {ours * 1e3:8.2f} ms, scikit-learn {theirs * 1e3:8.2f} ms, "
          f"ratio {ratio:5.2f} ({goal_text}){verdict}")
    return ratio


def softmax_objective(model, X, y):
    """Mean log-loss + ||W||² / (2 C n) of a fitted multinomial model (scikit-learn's scaling)."""
    weights = np.hstack([model.coef_, model.intercept_[:, None]])
    X1 = np.hstack([X, np.ones((len(X), 1))])
    penalised = np.r_[np.ones(X.shape[1]), 0.0]
    return logistic_loss_gradient(weights, X1, np.eye(10)[y], 1.0 / (model.C * len(X)), penalised)[0]


def bench_logistic(repeats):
    X, y = load_digits(return_X_y=True)
    runs = {
        "ours": lambda: LogisticRegression().fit(X, y),
        "lbfgs": lambda: sk.LogisticRegression().fit(X, y),
        "newton-cg": lambda: sk.LogisticRegression(solver="newton-cg").fit(X, y),
    }
    times = interleaved(runs, repeats, calls=1)
    report("LogisticRegression fit, digits multinomial vs lbfgs    ", times["ours"], times["lbfgs"], 2)
    report("LogisticRegression fit, digits multinomial vs newton-cg", times["ours"], times["newton-cg"], None)
    models = {name: run() for name, run in runs.items()}
    print("    objective reached: " + ", ".join(
        f"{name} {softmax_objective(model, X, y):.6f} ({int(model.n_iter_[0])} iterations)"
        for name, model in models.items()))


def bench_regression(repeats):
    X, y = load_diabetes(return_X_y=True)
    cases = [
        ("Ridge fit, diabetes alpha=1                ", Ridge(), sk.Ridge(), 2),
        ("Lasso fit, diabetes alpha=1                ", Lasso(), sk.Lasso(), 2),
        ("Lasso fit, diabetes alpha=0.1              ", Lasso(alpha=0.1), sk.Lasso(alpha=0.1), None),
        ("Lasso fit, diabetes alpha=0.01             ", Lasso(alpha=0.01), sk.Lasso(alpha=0.01), None),
        ("ElasticNet fit, diabetes alpha=0.1         ", ElasticNet(alpha=0.1), sk.ElasticNet(alpha=0.1), None),
        ("LinearRegression fit, diabetes             ", LinearRegression(), sk.LinearRegression(), None),
    ]
    for label, ours, theirs, goal in cases:
        times = interleaved({"ours": lambda: ours.fit(X, y), "theirs": lambda: theirs.fit(X, y)}, repeats, calls=20)
        report(label, times["ours"], times["theirs"], goal)
    times = interleaved({"ours": lambda: lasso_path(X, y), "theirs": lambda: sk.lasso_path(X, y, alphas=100)},
                        repeats, calls=3)
    report("lasso_path, diabetes 100 alphas           ", times["ours"], times["theirs"], None)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    warnings.simplefilter("ignore", ConvergenceWarning)  # L-BFGS stops at max_iter on raw digits
    with threadpool_limits(args.threads):
        bench_logistic(args.repeats)
        bench_regression(args.repeats)


if __name__ == "__main__":
    main()
