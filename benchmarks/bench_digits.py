"""Digits quality: test NLL (nats per image) of skarm against simple references.

Usage::

    python benchmarks/bench_digits.py                 # default estimator + references
    python benchmarks/bench_digits.py --grid          # also the documented small grid search
    python benchmarks/bench_digits.py --config '{"alpha": 3.0}'   # one configuration

Split as in the intro_dgm book code: train on rows 0-1349, test on rows 1350-1796.
"""

import argparse
import json
import time

import numpy as np
from _digits import digits_split
from sklearn.model_selection import GridSearchCV

from skarm import AutoregressiveDensityEstimator

#: Column-major pixel order (top to bottom, then left to right).
COLUMN_MAJOR = np.arange(64).reshape(8, 8).T.ravel().tolist()

#: The documented small grid (3-fold CV on the training rows, by held-out likelihood).
GRID = {
    "alpha": [3.0, 5.0, 10.0],
    "order": [None, COLUMN_MAJOR],
}


def independent_nll(train, test, n_levels=17, pseudo=1.0):
    """Per-pixel categorical with add-one smoothing: the independent baseline."""
    nll = 0.0
    for j in range(train.shape[1]):
        counts = np.bincount(train[:, j].astype(int), minlength=n_levels) + pseudo
        nll -= np.log(counts / counts.sum())[test[:, j].astype(int)].mean()
    return nll


def fit_and_report(name, est, train, test):
    t0 = time.perf_counter()
    est.fit(train)
    seconds = time.perf_counter() - t0
    nll = -est.score(test)
    print(f"| {name} | {nll:.2f} | {est.n_iter_} | {seconds:.1f} |", flush=True)
    return est, nll


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--grid", action="store_true", help="run the small grid search too")
    parser.add_argument("--config", type=json.loads, default=None, help="extra params as JSON")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    train, test = digits_split()
    print("| model | test NLL (nats/image) | epochs | fit time (s) |")
    print("|---|---|---|---|")
    print(f"| uniform over 17 levels | {64 * np.log(17):.2f} | - | - |")
    print(f"| independent per-pixel categorical | {independent_nll(train, test):.2f} | - | - |")
    if args.config is not None:
        est = AutoregressiveDensityEstimator(random_state=args.seed, **args.config)
        fit_and_report(f"skarm {args.config}", est, train, test)
        return
    fit_and_report(
        "skarm default", AutoregressiveDensityEstimator(random_state=args.seed), train, test
    )
    fit_and_report(
        "skarm linear",
        AutoregressiveDensityEstimator(architecture="linear", random_state=args.seed),
        train,
        test,
    )
    if args.grid:
        t0 = time.perf_counter()
        search = GridSearchCV(
            AutoregressiveDensityEstimator(random_state=args.seed), GRID, cv=3, n_jobs=1
        ).fit(train)
        nll = -search.score(test)
        best = {
            k: ("column-major" if k == "order" and v is not None else v)
            for k, v in search.best_params_.items()
        }
        print(
            f"| skarm GridSearchCV best {best} | {nll:.2f} | "
            f"{search.best_estimator_.n_iter_} | {time.perf_counter() - t0:.1f} (whole search) |"
        )


if __name__ == "__main__":
    main()
