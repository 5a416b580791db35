"""Digits quality: test NLL (nats per image) of skarm against simple references.

Usage::

    python benchmarks/bench_digits.py                 # default estimator + references
    python benchmarks/bench_digits.py --grid          # also the documented small grid search
    python benchmarks/bench_digits.py --config '{"alpha": 3.0}'   # one configuration
    python benchmarks/bench_digits.py --architectures   # one network of each, side by side

Split as in the intro_dgm book code: train on rows 0-1349, test on rows 1350-1796.
"""

import argparse
import json
import time

import numpy as np
from sklearn.model_selection import GridSearchCV

from skarm import AutoregressiveDensityEstimator

from _digits import digits_split

#: The documented small grid (3-fold CV on the training rows, by held-out likelihood),
#: over single networks (``ensemble_size=1``) to keep the search short.
GRID = {
    "architecture": ["made", "pixelcnn"],
    "alpha": [1.0, 5.0],
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
    parser.add_argument("--grid-only", action="store_true", help="run only the grid search")
    parser.add_argument("--config", type=json.loads, default=None, help="extra params as JSON")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--architectures",
        action="store_true",
        help="one network (ensemble_size=1) of every architecture, default widths",
    )
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
    if args.grid_only:
        return run_grid(args.seed, train, test)
    if args.architectures:
        return run_architectures(args.seed, train, test)
    fit_and_report(
        "skarm default", AutoregressiveDensityEstimator(random_state=args.seed), train, test
    )
    fit_and_report(
        "skarm pixelcnn",
        AutoregressiveDensityEstimator(architecture="pixelcnn", random_state=args.seed),
        train,
        test,
    )
    fit_and_report(
        "skarm linear",
        AutoregressiveDensityEstimator(architecture="linear", random_state=args.seed),
        train,
        test,
    )
    if args.grid:
        run_grid(args.seed, train, test)


#: One network of each architecture at its default width; the PixelCNN reads 8 x 8 images.
ARCHITECTURES = {
    "made": {},
    "conv": {},
    "transformer": {},
    "pixelcnn": {"image_shape": (8, 8)},
}


def run_architectures(seed, train, test):
    """Every architecture side by side: one network each, otherwise the defaults."""
    for arch, extra in ARCHITECTURES.items():
        est = AutoregressiveDensityEstimator(
            architecture=arch, ensemble_size=1, random_state=seed, **extra
        )
        fit_and_report(f"skarm architecture={arch!r}, ensemble_size=1", est, train, test)


def run_grid(seed, train, test):
    """The documented small grid search; prints each candidate's CV NLL and the best's test NLL."""
    t0 = time.perf_counter()
    search = GridSearchCV(
        AutoregressiveDensityEstimator(ensemble_size=1, random_state=seed), GRID, cv=3, n_jobs=1
    ).fit(train)
    nll = -search.score(test)
    for params, cv_score in zip(
        search.cv_results_["params"], search.cv_results_["mean_test_score"], strict=True
    ):
        print(f"| CV {params} | {-cv_score:.2f} (3-fold CV NLL) | - | - |")
    print(
        f"| skarm GridSearchCV best {search.best_params_} | {nll:.2f} | "
        f"{search.best_estimator_.n_iter_} | {time.perf_counter() - t0:.1f} (whole search) |",
        flush=True,
    )


if __name__ == "__main__":
    main()
