"""Model selection scaled out over a Dask cluster through joblib's dask backend."""

import warnings

import numpy as np
import pytest
from sklearn.model_selection import GridSearchCV

from skarm import AutoregressiveDensityEstimator

distributed = pytest.importorskip("distributed")
joblib = pytest.importorskip("joblib")


def test_grid_search_on_a_local_dask_cluster_matches_the_sequential_search():
    X = np.random.RandomState(0).normal(size=(300, 3))
    X[:, 2] += X[:, 0]
    grid = {"alpha": [0.1, 10.0], "n_components": [1, 3]}
    est = AutoregressiveDensityEstimator(
        max_iter=10, hidden_layer_sizes=(16,), ensemble_size=1, random_state=0
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sequential = GridSearchCV(est, grid, cv=3, n_jobs=1).fit(X)
        with (
            distributed.LocalCluster(
                n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
            ) as cluster,
            distributed.Client(cluster) as client,
        ):
            assert len(client.scheduler_info()["workers"]) == 2
            with joblib.parallel_backend("dask"):
                on_dask = GridSearchCV(est, grid, cv=3, n_jobs=-1).fit(X)
    # Every fit is seeded, so the cluster reproduces the sequential search exactly.
    np.testing.assert_allclose(
        on_dask.cv_results_["mean_test_score"], sequential.cv_results_["mean_test_score"]
    )
    assert on_dask.best_params_ == sequential.best_params_
    np.testing.assert_allclose(on_dask.score(X), sequential.score(X))
