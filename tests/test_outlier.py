"""AutoregressiveOutlierDetector: thresholds, detection, explanations, persistence."""

import pickle

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import GridSearchCV

from skarm import AutoregressiveDensityEstimator, AutoregressiveOutlierDetector

FAST = dict(max_iter=40, hidden_layer_sizes=(32,), ensemble_size=2, random_state=0)


def sum_structured(n=1500, n_anomalies=0, seed=0):
    """x2 = x0 + x1 + small noise; anomalies break only that relation by 1 to 2 (each of
    their values is ordinary on its own). Returns the rows and the anomaly mask."""
    rng = np.random.RandomState(seed)
    X = rng.normal(size=(n, 3))
    X[:, 2] = X[:, 0] + X[:, 1] + 0.1 * rng.normal(size=n)
    is_anomaly = np.zeros(n, dtype=bool)
    if n_anomalies:
        idx = rng.choice(n, n_anomalies, replace=False)
        shift = rng.choice([-1.0, 1.0], n_anomalies) * rng.uniform(1.0, 2.0, n_anomalies)
        X[idx, 2] += shift
        is_anomaly[idx] = True
    return X, is_anomaly


def test_decision_function_predict_and_float_contamination():
    X, _ = sum_structured(400)
    det = AutoregressiveOutlierDetector(contamination=0.05, **FAST).fit(X)
    scores = det.score_samples(X)
    np.testing.assert_allclose(det.decision_function(X), scores - det.offset_)
    labels = det.predict(X)
    assert labels.dtype.kind == "i" and set(np.unique(labels)) == {-1, 1}
    np.testing.assert_array_equal(labels, np.where(scores >= det.offset_, 1, -1))
    assert (labels == -1).sum() == pytest.approx(0.05 * len(X), abs=1)
    np.testing.assert_array_equal(clone(det).fit_predict(X), labels)
    # The scores are the density's: the same fit (the detector's parameters, its own
    # defaults included) gives the same log-likelihoods.
    shared = AutoregressiveDensityEstimator().get_params()
    params = {k: v for k, v in det.get_params().items() if k in shared}
    density = AutoregressiveDensityEstimator(**params).fit(X)
    np.testing.assert_allclose(scores, density.score_samples(X), rtol=1e-12)


def test_auto_threshold_flags_one_percent_of_rows_from_the_model():
    rng = np.random.RandomState(0)
    cov = np.array([[1.0, 0.8], [0.8, 1.0]])
    X = rng.multivariate_normal([0, 0], cov, size=4000)
    det = AutoregressiveOutlierDetector(random_state=0, hidden_layer_sizes=(512,)).fit(X)
    fresh = rng.multivariate_normal([0, 0], cov, size=20000)
    assert 0.005 < np.mean(det.predict(fresh) == -1) < 0.02
    # The threshold is the model's own 1 % tail: the true density's is near it. For a 2-D
    # Gaussian, -log p is a constant plus an Exp(1) variable, so the 1 % quantile of 10,000
    # draws (what "auto" uses) has a standard error of sqrt(0.01 * 0.99 / 10000) / 0.01 =
    # 0.10 nats: allow four. The model's tail itself, from 20,000 of its draws (standard
    # error 0.07), is held to 0.25.
    true_log_density = -np.log(2 * np.pi) - 0.5 * np.log(np.linalg.det(cov)) + np.log(0.01)
    assert det.offset_ == pytest.approx(true_log_density, abs=4 * 0.10)
    model_tail = np.quantile(det.score_samples(det.sample(20000, random_state=1)), 0.01)
    assert model_tail == pytest.approx(true_log_density, abs=0.25)


def test_detects_rows_that_break_the_dependence_and_explains_them():
    X, is_anomaly = sum_structured(1500, n_anomalies=45)
    det = AutoregressiveOutlierDetector(**{**FAST, "max_iter": 300}).fit(X)
    test, test_anomaly = sum_structured(1000, n_anomalies=50, seed=1)
    assert roc_auc_score(test_anomaly, -det.score_samples(test)) > 0.97
    explanation = det.explain(test, n_top=2)
    assert explanation.surprise.shape == (1000, 3)
    assert explanation.top_features.shape == explanation.top_names.shape == (1000, 2)
    # In the column order, the broken relation is charged to x2, the column it determines.
    assert np.mean(explanation.top_features[test_anomaly, 0] == 2) > 0.95
    assert np.mean(explanation.top_names[test_anomaly, 0] == "x2") > 0.95
    # Typical rows are not surprising: the median surprise of inliers is about zero.
    assert np.abs(np.median(explanation.surprise[~test_anomaly], axis=0)).max() < 0.3


def test_explanations_average_over_orderings_and_do_not_depend_on_units():
    X, _ = sum_structured(800)
    det = AutoregressiveOutlierDetector(order="ensemble", **FAST).fit(X)
    rescaled = AutoregressiveOutlierDetector(order="ensemble", **FAST).fit(X * [1.0, 100.0, 1.0])
    row = np.array([[4.0, 0.0, 0.0]])  # x0 far out, the sum broken as well
    np.testing.assert_allclose(
        rescaled.explain(row * [1.0, 100.0, 1.0]).surprise, det.explain(row).surprise, atol=1e-4
    )
    # The mixture of orders still gives a normalised score: the members' average.
    assert np.isfinite(det.score_samples(row)).all()
    # The broken sum is charged, in each member, to whichever of x0, x1, x2 comes last
    # in its order (x2 in the column order; x1 in an order [0, 2, 1]), and outweighs
    # x0's 4-sigma value on its own.
    explanation = det.explain(row)
    surprise = explanation.surprise[0]
    last = {int(order[-1]) for order in det.order_}
    assert explanation.top_features[0, 0] in last
    assert surprise[sorted(last)].max() > surprise[0] + 5.0


def test_explain_names_dataframe_columns_and_flags_impossible_values():
    rng = np.random.RandomState(0)
    frame = pd.DataFrame({"level": rng.randint(0, 3, 500), "value": rng.normal(size=500)})
    det = AutoregressiveOutlierDetector(**FAST).fit(frame)
    odd = pd.DataFrame({"level": [7], "value": [0.0]})  # a level never seen: impossible
    explanation = det.explain(odd, n_top=1)
    assert explanation.top_names[0, 0] == "level"
    assert explanation.surprise[0, 0] == np.inf
    assert det.score_samples(odd)[0] == -np.inf and det.predict(odd)[0] == -1
    with pytest.raises(ValueError, match="n_top"):
        det.explain(odd, n_top=0)


def test_refit_pickle_and_clone_keep_scores_threshold_and_explanations():
    X, _ = sum_structured(400)
    det = AutoregressiveOutlierDetector(**FAST).fit(X)
    again = clone(det).fit(X)
    restored = pickle.loads(pickle.dumps(det))
    for other in (again, restored):
        np.testing.assert_allclose(other.score_samples(X), det.score_samples(X), rtol=1e-12)
        assert other.offset_ == det.offset_
        np.testing.assert_allclose(other.explain(X).surprise, det.explain(X).surprise)


def test_partial_fit_is_not_offered_and_failed_refit_keeps_the_model():
    X, _ = sum_structured(300)
    det = AutoregressiveOutlierDetector(**FAST).fit(X)
    assert not hasattr(det, "partial_fit")
    offset, scores = det.offset_, det.score_samples(X)
    with pytest.raises(ValueError):
        det.fit(np.full((5, 3), 0.5))  # constant continuous columns have no density
    assert det.offset_ == offset
    np.testing.assert_array_equal(det.score_samples(X), scores)


def test_grid_search_tunes_the_detector_by_held_out_likelihood():
    X, _ = sum_structured(600)
    grid = GridSearchCV(AutoregressiveOutlierDetector(**FAST), {"alpha": [0.1, 1e4]}, cv=2).fit(X)
    assert grid.best_params_ == {"alpha": 0.1}
    assert grid.best_estimator_.predict(X[:5]).shape == (5,)


def test_trim_refits_from_scratch_without_the_least_likely_rows():
    X, _ = sum_structured(300, n_anomalies=15)
    first = AutoregressiveOutlierDetector(**FAST).fit(X)
    keep = np.sort(np.argsort(first.score_samples(X), kind="stable")[30:])
    reference = AutoregressiveOutlierDetector(**FAST).fit(X[keep])
    trimmed = AutoregressiveOutlierDetector(trim=0.1, **FAST).fit(X)
    np.testing.assert_allclose(trimmed.score_samples(X), reference.score_samples(X), rtol=1e-12)
    assert trimmed.n_iter_ == reference.n_iter_
