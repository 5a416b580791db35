"""GridSearchCV over a Dask cluster against joblib's local (loky) backend, same grid.

Usage::

    python benchmarks/bench_dask.py [--workers 2]

A grid of 6 candidates x 3 folds (18 fits) of ``AutoregressiveDensityEstimator`` on
sklearn's digits (first 1,000 images, 60 epochs each, one network per fit), run once with
``GridSearchCV(n_jobs=workers)`` on joblib's default process pool and once on a
``distributed.LocalCluster`` of ``workers`` single-threaded worker processes through
``joblib.parallel_backend("dask")`` (the code that scales out to a real cluster by
pointing ``Client`` at its scheduler). Every worker uses one torch thread. Reported: wall
time of each search (cluster start-up excluded, worker imports included) and whether the
two searches agree.
"""

import argparse
import os
import time
import warnings

os.environ.setdefault("OMP_NUM_THREADS", "1")

import joblib  # noqa: E402
import numpy as np  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402
from sklearn.model_selection import GridSearchCV  # noqa: E402

from skarm import AutoregressiveDensityEstimator  # noqa: E402

GRID = {"alpha": [1.0, 5.0, 25.0], "hidden_layer_sizes": [(128,), (256,)]}


def search(n_jobs: int) -> GridSearchCV:
    est = AutoregressiveDensityEstimator(
        n_categories=17, ensemble_size=1, max_iter=60, random_state=0
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return GridSearchCV(est, GRID, cv=3, n_jobs=n_jobs).fit(load_digits().data[:1000])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    from distributed import Client, LocalCluster

    start = time.perf_counter()
    local = search(args.workers)
    t_local = time.perf_counter() - start
    with (
        LocalCluster(
            n_workers=args.workers, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        Client(cluster),
    ):
        start = time.perf_counter()
        with joblib.parallel_backend("dask"):
            on_dask = search(-1)
        t_dask = time.perf_counter() - start
    same = np.allclose(local.cv_results_["mean_test_score"], on_dask.cv_results_["mean_test_score"])
    print("| backend | workers | fits | wall time (s) |")
    print("|---|---|---|---|")
    loky = f"joblib loky (GridSearchCV n_jobs={args.workers})"
    print(f"| {loky} | {args.workers} | 18 | {t_local:.1f} |")
    print(f"| dask LocalCluster (parallel_backend('dask')) | {args.workers} | 18 | {t_dask:.1f} |")
    print(f"\nbest: {local.best_params_} / {on_dask.best_params_}; identical cv scores: {same}")


if __name__ == "__main__":
    main()
